"""Tomczak & Welling's own code (github.com/jmtomczak/vae_vampprior) on our static-MNIST arrays,
for an equal-budget comparison with ``vaelab train --preset tomczak2018/...``.

    python benchmarks/peer_vampprior.py --peer /path/to/vae_vampprior --model vae \
        --prior vampprior --epochs 100 --work /tmp/peer-vamp --out runs/equal_budget/peer-vae-vamp

None of the authors' code is in this repository. The script copies their checkout into
``--work`` and makes the smallest edits that let it run on current PyTorch on a CPU (each listed
in ``EDITS``: ``.data[0]`` -> ``.item()``, ``scipy.misc`` -> ``scipy.special``, Adam's old
``add_(alpha, tensor)`` signatures, ``torch.load(weights_only=False)``, matplotlib's ``normed``,
a no-grad evaluation), writes ``binarized_mnist_{train,valid,test}.amat`` from
``binarized_mnist.npz`` (the same arrays vaelab trains on), runs their ``experiment.py`` with
their defaults except the ones given here, and parses its log: seconds per epoch (training +
validation, as their code prints it), the validation curve and their final test NLL
(K = 5000, their ``calculate_likelihood``).

Their code prints no error bar. ``--rescore`` loads their best model into vaelab's
``gatedvae`` (the same architecture, parameter for parameter) and scores it with vaelab's
evaluator on all 10,000 test images: the NLL with its standard error over images and the
Monte Carlo error of the estimator, and a check that the two implementations agree.
``--check-translation`` checks the translation itself, before any training: their freshly built
model and its ``gatedvae`` translation give the same log-weight on the same draws (all four
rows: within 3e-4 nats on 64 images, float32).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# (file, old, new): the only changes made to the authors' code, all for current PyTorch/CPU
EDITS = [
    ("models/VAE.py", "from scipy.misc import logsumexp", "from scipy.special import logsumexp"),
    ("models/HVAE_2level.py", "from scipy.misc import logsumexp",
     "from scipy.special import logsumexp"),
    ("models/HVAE_2level.py", "from Model import Model", "from models.Model import Model"),
    ("models/VAE.py", ".cpu().data[0]", ".cpu().item()"),
    ("models/HVAE_2level.py", ".cpu().data[0]", ".cpu().item()"),
    ("utils/training.py", ".data[0]", ".item()"),
    ("utils/evaluation.py", ".data[0]", ".item()"),
    ("utils/evaluation.py", "Variable(data, volatile=True)", "Variable(data)"),
    ("utils/evaluation.py", "def evaluate_vae(", "@torch.no_grad()\ndef evaluate_vae("),
    ("utils/optimizer.py", "exp_avg.mul_(beta1).add_(1 - beta1, grad)",
     "exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)"),
    ("utils/optimizer.py", "exp_avg_sq.mul_(beta2).addcmul_(1 - beta2, grad, grad)",
     "exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)"),
    ("utils/optimizer.py", "p.data.addcdiv_(-step_size, exp_avg, denom)",
     "p.data.addcdiv_(exp_avg, denom, value=-step_size)"),
    ("utils/perform_experiment.py", "torch.load(dir + args.model_name + '.model')",
     "torch.load(dir + args.model_name + '.model', weights_only=False)"),
    ("utils/visual_evaluation.py", "normed=True", "density=True"),
]


def test_subset(x: np.ndarray, n: int) -> np.ndarray:
    """The test images ``vaelab eval --examples n --seed 0`` scores: both sides see the same."""
    import torch

    from vaelab.eval import random_subset

    return random_subset(torch.from_numpy(x), n, seed=0).numpy()


def prepare(peer: Path, work: Path, data: Path, test_examples: int = 0) -> None:
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(peer, work, ignore=shutil.ignore_patterns(".git"))
    for name, old, new in EDITS:
        p = work / name
        text = p.read_text()
        if old not in text:
            raise SystemExit(f"{name}: expected text not found ({old!r}); another version of "
                             "the authors' code?")
        p.write_text(text.replace(old, new))
    arrays = np.load(data)
    folder = work / "datasets" / "MNIST_static"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        x = arrays[split] if split != "test" else test_subset(arrays["test"], test_examples)
        with open(folder / f"binarized_mnist_{split}.amat", "w") as f:
            f.writelines(" ".join(map(str, row)) + "\n" for row in x)


EPOCH = re.compile(r"Epoch: (\d+)/\d+, Time elapsed: ([\d.]+)s")
VAL = re.compile(r"o Val\.\s+loss: ([\d.\-naninf]+)")
FINAL = re.compile(r"LogL \(TEST\): ([\d.\-]+)")


def parse(log: str) -> dict:
    epochs = [(int(e), float(t)) for e, t in EPOCH.findall(log)]
    vals = [float(v) for v in VAL.findall(log)]
    final = FINAL.findall(log)
    return {"epochs": len(epochs), "epoch_seconds": [t for _, t in epochs],
            "valid_loss": vals, "test_nll": float(final[-1]) if final else None}


def their_model(snapshot: Path, model: str, prior: str):
    """Their saved model (``snapshots/*/MODEL.model``) as vaelab's ``gatedvae``: the same
    architecture, parameter for parameter, in eval mode."""
    import torch

    from vaelab.models import build_model

    work = str(snapshot.parents[2])  # their pickled model imports their own modules
    if work not in sys.path:
        sys.path.insert(0, work)
    theirs = torch.load(snapshot, weights_only=False, map_location="cpu").state_dict()
    ours = build_model("gatedvae", {"levels": 1 if model == "vae" else 2,
                                    "prior": "vamp" if prior == "vampprior" else "standard"},
                       (1, 28, 28), "bernoulli")
    ours.load_state_dict(translate(theirs, model), strict=True)
    return ours.eval()


def rescore(snapshot: Path, model: str, prior: str, data: Path, k: int, n: int) -> dict:
    """Their best model scored by vaelab's evaluator."""
    import torch

    from vaelab.eval import evaluate

    x = torch.from_numpy(test_subset(np.load(data)["test"], n)).float()
    ev = evaluate(their_model(snapshot, model, prior), x.view(-1, 1, 28, 28), (k,), seed=0)
    return {k_: ev[k_] for k_ in ("nll", "nll_stderr", "nll_mc_stderr")}


def translate(sd: dict, model: str) -> dict:
    """Their parameter names -> gatedvae's (the same tensors; the pseudo-inputs transposed)."""
    out = {}

    def gated(src: str, dst: str) -> None:
        for part in ("h", "g"):
            for w in ("weight", "bias"):
                out[f"{dst}.{part}.{w}"] = sd[f"{src}.{part}.{w}"]

    def head(mean: str, logvar: str, dst: str) -> None:
        for w in ("weight", "bias"):
            out[f"{dst}.mean.{w}"] = sd[f"{mean}.{w}"]
            out[f"{dst}.logvar.{w}"] = sd[f"{logvar}.linear.{w}"]

    if model == "vae":
        gated("q_z_layers.0", "encoder.0.net.0")
        gated("q_z_layers.1", "encoder.0.net.1")
        head("q_z_mean", "q_z_logvar", "encoder.0.head")
        gated("p_x_layers.0", "decoder.0.0")
        gated("p_x_layers.1", "decoder.0.1")
        last = "decoder.1"
    else:
        gated("q_z2_layers.0", "encoder.0.net.0")
        gated("q_z2_layers.1", "encoder.0.net.1")
        head("q_z2_mean", "q_z2_logvar", "encoder.0.head")
        gated("q_z1_layers_x.0", "encoder.1.a")
        gated("q_z1_layers_z2.0", "encoder.1.b")
        gated("q_z1_layers_joint.0", "encoder.1.joint")
        head("q_z1_mean", "q_z1_logvar", "encoder.2")
        gated("p_x_layers_z1.0", "decoder.0.a")
        gated("p_x_layers_z2.0", "decoder.0.b")
        gated("p_x_layers_joint.0", "decoder.0.joint")
        gated("p_z1_layers.0", "decoder.1.net.0")
        gated("p_z1_layers.1", "decoder.1.net.1")
        head("p_z1_mean", "p_z1_logvar", "decoder.1.head")
        last = "decoder.2"
    # their sigmoid output layer: the same linear map, read as Bernoulli logits
    out[f"{last}.weight"] = sd["p_x_mean.linear.weight"]
    out[f"{last}.bias"] = sd["p_x_mean.linear.bias"]
    if "means.linear.weight" in sd:  # pseudo-inputs: a bias-free linear map of one-hot codes
        out["vamp.pseudo_inputs"] = sd["means.linear.weight"].T.reshape(-1, 1, 28, 28)
    return out


def check_translation(work: Path, model: str, prior: str, data: Path, n: int = 64) -> dict:
    """Their freshly initialised model and its translation into ``gatedvae``, compared on the
    same draws: their single-sample ELBO terms, -calculate_loss(x) (log p(x|z) + log p(z) -
    log q(z|x) at their z), against vaelab's log-weight at that z, on ``n`` training images.
    The pseudo-inputs are spread over [0, 1] first, so that every component differs. Their
    Gaussian log-densities leave out -log(2 pi)/2 per dimension; it cancels in the weight."""
    import types

    import torch

    from vaelab.models import build_model

    if str(work) not in sys.path:
        sys.path.insert(0, str(work))
    module = {"vae": "models.VAE", "hvae_2level": "models.HVAE_2level"}[model]
    their_cls = __import__(module, fromlist=["VAE"]).VAE
    torch.manual_seed(0)
    args = types.SimpleNamespace(
        input_size=[1, 28, 28], z1_size=40, z2_size=40, input_type="binary", prior=prior,
        number_components=500, pseudoinputs_mean=0.05, pseudoinputs_std=0.01,
        use_training_data_init=False, cuda=False)
    theirs = their_cls(args)
    if prior == "vampprior":
        with torch.no_grad():
            theirs.means.linear.weight.uniform_(0.0, 1.0)
    ours = build_model("gatedvae", {"levels": 1 if model == "vae" else 2,
                                    "prior": "vamp" if prior == "vampprior" else "standard"},
                       (1, 28, 28), "bernoulli")
    ours.load_state_dict(translate(theirs.state_dict(), model), strict=True)
    x = torch.from_numpy(np.load(data)["train"][:n]).float().view(n, -1)
    with torch.no_grad():
        torch.manual_seed(1)
        loss, _, _ = theirs.calculate_loss(x)  # per image: -(log p(x|z) + log p(z) - log q)
        torch.manual_seed(1)  # the same draws again, to read their z
        out = theirs.forward(x)
        z = torch.cat([out[2], out[5]], -1) if model == "hvae_2level" else out[2]
        xi = x.view(n, 1, 28, 28)
        log_w = (ours.decode(z).log_prob(xi) + ours.prior.log_prob(z)
                 - ours.posterior(xi).log_prob(z))
    diff = (log_w + loss).abs()
    return {"model": model, "prior": prior, "images": n,
            "their_elbo": float(-loss.mean()), "vaelab_elbo": float(log_w.mean()),
            "max_abs_difference": float(diff.max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", required=True, type=Path, help="checkout of vae_vampprior")
    ap.add_argument("--model", default="vae", choices=("vae", "hvae_2level"))
    ap.add_argument("--prior", default="vampprior", choices=("standard", "vampprior"))
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get(
        "VAELAB_DATA", "../shared/data")) / "binarized_mnist.npz")
    ap.add_argument("--work", type=Path, required=True, help="scratch copy of their code")
    ap.add_argument("--out", type=Path, required=True, help="folder for result.json and log")
    ap.add_argument("--mb", type=int, default=500, help="their evaluation chunk (samples per "
                    "pass; the estimator is the same for any chunk)")
    ap.add_argument("--test-examples", type=int, default=0, help="score both sides on the "
                    "random subset of this many test images that `vaelab eval --examples N` "
                    "takes (0: all 10,000)")
    ap.add_argument("--rescore", action="store_true", help="also score their model with "
                    "vaelab's evaluator (standard errors)")
    ap.add_argument("--skip-run", action="store_true", help="parse an existing --work log")
    ap.add_argument("--check-translation", action="store_true", help="only check that their "
                    "model, translated into vaelab's gatedvae, gives the same log-weights on "
                    "the same draws (prints JSON; exit 1 beyond 1e-3 nats)")
    args = ap.parse_args()
    if args.check_translation:
        if not (args.work / "models").is_dir():
            prepare(args.peer.resolve(), args.work, args.data)
        res = check_translation(args.work, args.model, args.prior, args.data)
        print(json.dumps(res, indent=1))
        sys.exit(0 if res["max_abs_difference"] < 1e-3 else 1)
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "log.txt"
    if not args.skip_run:
        prepare(args.peer.resolve(), args.work, args.data, args.test_examples)
        cmd = [sys.executable, "experiment.py", "--no-cuda", "--dataset_name", "static_mnist",
               "--model_name", args.model, "--prior", args.prior, "--epochs", str(args.epochs),
               "--seed", str(args.seed), "--MB", str(args.mb)]
        t0 = time.time()
        with open(log_path, "w") as f:
            subprocess.run(cmd, cwd=args.work, stdout=f, stderr=subprocess.STDOUT, check=True)
        wall = time.time() - t0
    else:  # an earlier run's log (and its wall time, when its result.json kept it)
        old = args.out / "result.json"
        wall = json.loads(old.read_text()).get("wall_seconds") if old.is_file() else None
    res = {"peer": "jmtomczak/vae_vampprior", "model": args.model, "prior": args.prior,
           "epochs_budget": args.epochs, "seed": args.seed,
           "test_examples": args.test_examples or 10000, "wall_seconds": wall,
           "threads": os.environ.get("OMP_NUM_THREADS"), **parse(log_path.read_text())}
    if args.rescore:
        snap = next((args.work / "snapshots").glob(f"*/{args.model}.model"))
        res["vaelab_rescore"] = rescore(snap, args.model, args.prior, args.data, 5000,
                                         args.test_examples)
    (args.out / "result.json").write_text(json.dumps(res, indent=1))
    t = res["epoch_seconds"]
    print(f"{args.model} {args.prior}: {res['epochs']} epochs, median "
          f"{np.median(t) if t else float('nan'):.2f} s/epoch, test NLL {res['test_nll']}")


if __name__ == "__main__":
    main()
