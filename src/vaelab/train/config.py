"""Training configuration: one dataclass, validated; the CLI maps onto it one to one."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from vaelab.errors import ConfigError

MODELS = ("vae", "iwae", "pixelcnn", "pixelvae", "betavae", "vqvae", "vqvae2")


@dataclass
class TrainConfig:
    model: str = "iwae"          # vae | iwae | pixelcnn | pixelvae | betavae | vqvae | vqvae2
    objective: str = "auto"      # auto (iwae: L_K, else ELBO) | elbo | iwae
    k: int = 5                   # samples per example
    layers: int = 1              # stochastic layers (Burda et al. architectures)
    dataset: str = "embedded"
    epochs: int = 50
    batch_size: int = 100
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    estimator: str = "reparam"
    baseline: str = "none"
    schedule: str = "constant"   # constant | burda (3^i passes at lr * 10^(-i/7)) | cosine
    burda_stages: int = 8
    eval_every: int = 1          # epochs between validation bounds
    eval_k: int = 100            # samples for the validation bound L_k
    patience: int = 0            # early stopping after this many evals without gain (0: off)
    likelihood: str = "auto"     # auto | bernoulli | gaussian
    binarize: str = "auto"       # for grey-level data sets: auto | dynamic | static | none
    activation: str = "tanh"
    hidden: int = 0              # 0: Burda's sizes; else width of every deterministic layer
    latent: int = 0              # 0: Burda's sizes; else size of the top stochastic layer
    beta: float = 1.0            # KL weight (ELBO only; 1 is the ELBO)
    kl_warmup: int = 0           # epochs over which the KL weight grows linearly to beta
    free_bits: float = 0.0       # nats per latent dimension (Kingma et al. 2016); 0: off
    pixel_layers: int = 4        # gated PixelCNN layers (pixelcnn, pixelvae); 0: factorized
    pixel_channels: int = 32
    num_codes: int = 128         # VQ codebook size
    code_dim: int = 32
    commitment: float = 0.25
    ema: bool = False            # EMA codebook updates instead of the codebook loss
    time_limit: float = 0.0      # minutes: stop cleanly after the epoch that passes it (0: off)
    compile: str = ""            # torch.compile the training step: default | reduce-overhead
                                 # (CUDA graphs) | max-autotune; "": eager

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"unknown model '{self.model}': choose one of {', '.join(MODELS)}")
        for name in ("k", "epochs", "batch_size", "eval_every", "eval_k", "burda_stages"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got "
                                  f"{getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr must be a positive number, got {self.lr}")
        if self.schedule not in ("constant", "burda", "cosine"):
            raise ConfigError(f"--schedule must be constant, burda or cosine, not "
                              f"{self.schedule}")
        if not (self.time_limit >= 0 and math.isfinite(self.time_limit)):
            raise ConfigError(f"--time-limit must be >= 0 minutes, got {self.time_limit}")
        if self.likelihood not in ("auto", "bernoulli", "gaussian"):
            raise ConfigError(f"--likelihood must be auto, bernoulli or gaussian, not "
                              f"{self.likelihood}")
        if self.schedule == "burda":
            self.epochs = sum(3 ** i for i in range(self.burda_stages))
        if self.objective == "auto":
            self.objective = "iwae" if self.model == "iwae" else "elbo"
        if self.objective not in ("elbo", "iwae"):
            raise ConfigError(f"--objective must be auto, elbo or iwae, not {self.objective}")
        if self.model in ("pixelcnn", "vqvae", "vqvae2"):
            self.k, self.estimator = 1, "reparam"  # deterministic: log w has no randomness
        if self.beta < 0 or self.free_bits < 0 or self.kl_warmup < 0:
            raise ConfigError("--beta, --free-bits and --kl-warmup must be >= 0")
        if (self.beta != 1 or self.free_bits or self.kl_warmup) and (
                self.objective != "elbo" or self.estimator not in ("reparam", "stl")):
            raise ConfigError("--beta, --kl-warmup and --free-bits reweight the ELBO's KL term: "
                              "use them with the ELBO objective and the reparam or stl estimator")
        if self.free_bits and self.layers != 1:
            raise ConfigError("--free-bits needs one stochastic layer (a N(0, I) prior per unit)")
        if self.compile not in ("", "default", "reduce-overhead", "max-autotune"):
            raise ConfigError(f"--compile must be default, reduce-overhead or max-autotune, not "
                              f"'{self.compile}'")
        if self.pixel_layers < 0:
            raise ConfigError("--pixel-layers must be >= 0")

    def kl_weight(self, epoch: int) -> float:
        """beta, ramped linearly from beta/kl_warmup to beta over the first kl_warmup epochs."""
        if self.kl_warmup:
            return self.beta * min(1.0, (epoch + 1) / self.kl_warmup)
        return self.beta

    def lr_at(self, epoch: int) -> float:
        """Burda et al.: stage i lasts 3^i passes at lr * 10^(-i/7); cosine: lr * (1 + cos(pi *
        epoch / epochs)) / 2, from lr to ~0 over the run; else constant."""
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))
        i, end = 0, 1
        while epoch >= end:
            i += 1
            end += 3 ** i
        return self.lr * 10 ** (-i / 7)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def load(cls, run_dir: Path) -> TrainConfig:
        p = Path(run_dir) / "config.json"
        try:
            return cls.from_dict(json.loads(p.read_text())["train"])
        except FileNotFoundError:
            raise ConfigError(f"{run_dir} is not a vaelab run directory (no config.json); "
                              "give the --out directory of a `vaelab train` run") from None
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ConfigError(f"{p} is corrupt ({e}); restore it or retrain") from None
