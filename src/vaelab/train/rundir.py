"""A run directory and what it holds:

    RUN/config.json            {"vaelab": version, "train": RunConfig, "model": spec,
                                "data": summary with identity and image shape}
    RUN/model.py               a copy of a user's model file (so the run loads anywhere)
    RUN/checkpoints/{last,best}.safetensors
    RUN/metrics.jsonl          one JSON object per epoch
    RUN/tb/                    TensorBoard logs
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from vaelab.errors import ConfigError


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.checkpoints = self.path / "checkpoints"
        self.last = self.checkpoints / "last.safetensors"
        self.best = self.checkpoints / "best.safetensors"
        self.metrics = self.path / "metrics.jsonl"
        self.tb = self.path / "tb"
        self.model_source = self.path / "model.py"

    def check(self, resume: bool, overwrite: bool) -> None:
        """Refuse, before anything is written, what the directory's state does not allow."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--out {self.path} is a file; give a directory for the run")
        if resume:
            if not self.last.is_file():
                raise ConfigError(f"--resume: no checkpoint at {self.last}; start the run "
                                  "without --resume")
        elif self.config.exists() and not overwrite:
            raise ConfigError(f"{self.path} already holds a run; use --resume to continue it, "
                              "--overwrite to replace it, or another --out")

    def clear(self) -> None:
        """Remove a previous run's checkpoints, metrics and logs (``--overwrite``)."""
        for sub in (self.checkpoints, self.tb):
            shutil.rmtree(sub, ignore_errors=True)
        for f in (self.metrics, self.model_source):
            f.unlink(missing_ok=True)

    def write_config(self, doc: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.config.with_name("config.json.tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        os.replace(tmp, self.config)

    def read_doc(self) -> dict:
        try:
            doc = json.loads(self.config.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{self.path} is not a vaelab run directory (no config.json); "
                              "give the --out directory of a `vaelab train` run") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{self.config} is corrupt ({e}); restore it or retrain") from None
        if isinstance(doc, dict) and "vaelab" not in doc and isinstance(doc.get("train"), dict) \
                and "optim" not in doc["train"]:
            raise ConfigError(f"{self.path} was written by vaelab 0.1, whose runs 0.2 cannot "
                              "load (models and checkpoints changed); retrain it with `vaelab "
                              "train` (0.1's --model iwae is --model vae --objective iwae)")
        if not isinstance(doc, dict) or not isinstance(doc.get("train"), dict) or \
                not isinstance(doc.get("model"), dict):
            raise ConfigError(f"{self.config} lacks its train or model section; restore it or "
                              "retrain")
        return doc

    def copy_model_source(self, source: Path | None) -> None:
        if source is not None and source.resolve() != self.model_source.resolve():
            shutil.copyfile(source, self.model_source)

    def append_metrics(self, record: dict) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict]:
        if not self.metrics.is_file():
            return []
        return [json.loads(line) for line in self.metrics.read_text().splitlines() if line]
