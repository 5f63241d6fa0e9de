"""Training configuration: one dataclass, validated; the CLI maps onto it one to one."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from vaelab.errors import ConfigError

MODELS = ("vae", "iwae")


@dataclass
class TrainConfig:
    model: str = "iwae"          # vae: ELBO objective; iwae: L_K objective
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
    schedule: str = "constant"   # constant | burda (3^i passes at lr 1e-3 * 10^(-i/7))
    burda_stages: int = 8
    eval_every: int = 1          # epochs between validation bounds
    eval_k: int = 100            # samples for the validation bound L_k
    patience: int = 0            # early stopping after this many evals without gain (0: off)
    likelihood: str = "auto"     # auto | bernoulli | gaussian
    binarize: str = "auto"       # for grey-level data sets: auto | dynamic | static | none
    activation: str = "tanh"
    hidden: int = 0              # 0: Burda's sizes; else width of every deterministic layer
    latent: int = 0              # 0: Burda's sizes; else size of the top stochastic layer

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"unknown model '{self.model}': choose one of {', '.join(MODELS)}")
        for name in ("k", "epochs", "batch_size", "eval_every", "eval_k", "burda_stages"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got "
                                  f"{getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr must be a positive number, got {self.lr}")
        if self.schedule not in ("constant", "burda"):
            raise ConfigError(f"--schedule must be constant or burda, not {self.schedule}")
        if self.likelihood not in ("auto", "bernoulli", "gaussian"):
            raise ConfigError(f"--likelihood must be auto, bernoulli or gaussian, not "
                              f"{self.likelihood}")
        if self.schedule == "burda":
            self.epochs = sum(3 ** i for i in range(self.burda_stages))

    @property
    def objective(self) -> str:
        return "elbo" if self.model == "vae" else "iwae"

    def lr_at(self, epoch: int) -> float:
        """Burda et al.: stage i lasts 3^i passes at lr 1e-3 * 10^(-i/7); else constant."""
        if self.schedule == "constant":
            return self.lr
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
