"""Fit a PixelCNN prior over the codes of a trained VQ-VAE / VQ-VAE-2 run, and report the
likelihood bound  -log p(x) <= -log p(x | z_q) - log p(c)  on the test split."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch

from vaelab.errors import ConfigError
from vaelab.models.code_prior import CodePrior, PriorConfig
from vaelab.training.checkpoint import load_checkpoint, restore, save_checkpoint
from vaelab.training.progress import EpochProgress
from vaelab.training.session import epoch_loop

if TYPE_CHECKING:
    from vaelab.models.vqvae import VQVAE
    from vaelab.training.run import Run


@torch.no_grad()
def encode_codes(model: VQVAE, x: torch.Tensor, batch: int = 500) -> list[torch.Tensor]:
    dev = next(model.parameters()).device
    parts = [[q.indices.cpu() for q in model.quantize(x[i:i + batch].to(dev))]
             for i in range(0, len(x), batch)]
    return [torch.cat(level) for level in zip(*parts)]


@torch.no_grad()
def vq_bound(model: VQVAE, prior: CodePrior | None, x: torch.Tensor, labels=None,
             batch: int = 500) -> dict:
    """Per-example -log p(x|z_q), -log p(c) under the prior (uniform if None), in nats."""
    dev = next(model.parameters()).device
    rec, pri = [], []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch].to(dev)
        qs = model.quantize(xb)
        rec.append(-model.decode_codes([q.z_q for q in qs]).log_prob(xb).cpu())
        if prior is None:
            n = sum(h * w for h, w in model.code_shapes())
            pri.append(torch.full((len(xb),), n * math.log(model.config.num_codes)))
        else:
            lab = labels[i:i + batch].to(dev) if labels is not None else None
            pri.append(-prior.log_prob([q.indices for q in qs], lab).cpu())
    r, p = torch.cat(rec).double(), torch.cat(pri).double()
    tot = r + p
    dim = x[0].numel()
    return {"recon_nll": float(r.mean()), "prior_nll": float(p.mean()),
            "nll_bound": float(tot.mean()), "nll_bound_stderr": float(tot.std() / len(x) ** 0.5),
            "bits_per_dim": float(tot.mean() / (dim * math.log(2)))}


def fit_prior(run: Run, run_dir: Path, epochs: int = 10, class_conditional: bool = False,
              layers: int = 6, channels: int = 64, batch_size: int = 64, lr: float = 1e-3,
              progress: bool = True, seed: int = 0) -> dict:
    if not run.model.capabilities.code_prior:
        raise ConfigError("`vaelab prior` fits a prior over VQ codes: give a vqvae or vqvae2 run")
    model = cast("VQVAE", run.model)  # the models with a code prior
    labels = run.data.labels if class_conditional else {}
    if class_conditional and "train" not in labels:
        raise ConfigError(f"--class-conditional needs labels for the training split; "
                          f"{run.data.name} has none (use --dataset mnist_test, or "
                          "colour_shapes for its factors)")
    sizes: tuple = ()
    if class_conditional:  # values per label column (a class, or each factor), over all splits
        every = torch.cat([v if v.ndim == 2 else v[:, None] for v in labels.values()])
        sizes = tuple(int(m) + 1 for m in every.max(0).values)
    cfg = PriorConfig(model.config.num_codes, tuple(model.code_shapes()), sizes, layers,
                      channels)
    torch.manual_seed(seed)
    prior = CodePrior(cfg).to(run.device)
    codes = encode_codes(model, run.data.train)
    opt = torch.optim.Adam(prior.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)

    def one_epoch(epoch: int) -> tuple[dict, bool]:
        perm, total = torch.randperm(len(codes[0]), generator=g), torch.zeros((), device=run.device)
        for i in range(0, len(perm), batch_size):
            b = perm[i:i + batch_size]
            lab = labels["train"][b].to(run.device) if class_conditional else None
            loss = -prior.log_prob([c[b].to(run.device) for c in codes], lab).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.detach() * len(b)
        return {"train_prior_nll": float(total) / len(perm)}, False

    bar = EpochProgress(0, epochs, progress, desc="prior")
    epoch_loop(0, epochs, one_epoch, time_limit=0, bar=bar, resume="", patience=0)
    bar.close()
    prior.eval()
    test_labels = labels.get("test") if class_conditional else None
    report = {"uniform": vq_bound(model, None, run.data.test),
              "pixelcnn_prior": vq_bound(model, prior, run.data.test, test_labels),
              "class_conditional": class_conditional, "epochs": epochs, "split": "test"}
    save_checkpoint(run_dir / "prior.safetensors", {"prior": prior}, None,
                    {"config": cfg.__dict__ | {"code_shapes": [list(s) for s in cfg.code_shapes],
                                               "label_sizes": list(cfg.label_sizes)}})
    (run_dir / "prior.json").write_text(json.dumps(report, indent=2))
    return report


def load_prior(run_dir: Path, device) -> CodePrior | None:
    path = Path(run_dir) / "prior.safetensors"
    if not path.is_file():
        return None
    tensors, header = load_checkpoint(path)
    c = dict(header["meta"]["config"])
    n_classes = c.pop("num_classes", 0)  # priors saved before factor labels
    sizes = tuple(c.pop("label_sizes", ())) or ((n_classes,) if n_classes else ())
    prior = CodePrior(PriorConfig(**{**c, "label_sizes": sizes,
                                     "code_shapes": tuple(tuple(s) for s in c["code_shapes"])}))
    restore(tensors, header, {"prior": prior})
    return prior.to(device).eval()
