"""Checkpoints: one safetensors file holding weights, optimizer state and RNG states.

Written atomically (temp file, fsync, rename), so a crash never leaves a half-written file under
the checkpoint's name. The header carries a sha256 of every tensor's bytes and of the metadata,
verified on load: a flipped byte is a corrupt checkpoint, not altered weights. ``save_checkpoint``
keeps the previous file as ``<name>.prev.safetensors``; ``load_latest`` falls back to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from vaelab.errors import CheckpointError, storage_error

FORMAT = "vaelab-checkpoint-2"


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for key, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{pid}.{key}"] = v.detach().contiguous().cpu()
            else:
                scalars[f"{pid}.{key}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict, meta: dict) -> dict:
    state: dict = {}
    for name, v in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = v
    for name, v in meta["scalars"].items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def payload_digest(tensors: dict[str, torch.Tensor], body: str) -> str:
    """sha256 over the tensors (name, dtype, shape, bytes; sorted by name) and the header body."""
    h = hashlib.sha256(body.encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}|{t.dtype}|{list(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def previous(path: Path) -> Path:
    """Where the checkpoint before ``path`` is kept."""
    return path.with_name(path.name.replace(".safetensors", "") + ".prev.safetensors")


def save_checkpoint(path: Path, modules: dict[str, torch.nn.Module],
                    optimizer: torch.optim.Optimizer | None, meta: dict,
                    rng: dict[str, torch.Tensor] | None = None, keep_previous: bool = False
                    ) -> None:
    """Write ``modules``' state dicts (prefixed by their key), the optimizer and ``meta``;
    ``keep_previous`` moves the existing file to ``previous(path)`` first."""
    tensors: dict[str, torch.Tensor] = {}
    for prefix, m in modules.items():
        for k, v in m.state_dict().items():
            tensors[f"{prefix}.{k}"] = v.detach().contiguous().cpu().clone()
    opt_meta = None
    if optimizer is not None:
        t, opt_meta = _flatten_optimizer(optimizer)
        tensors.update(t)
    for k, v in (rng or {}).items():
        tensors[f"rng.{k}"] = v.contiguous().cpu()
    body = json.dumps({"format": FORMAT, "meta": meta, "optimizer": opt_meta})
    header = {"body": body, "sha256": payload_digest(tensors, body)}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(tmp), metadata={"vaelab": json.dumps(header)})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    except (OSError, SafetensorError) as e:  # a full disk: the old files stay as they were
        tmp.unlink(missing_ok=True)
        raise storage_error(path, e) from None
    if keep_previous and path.is_file():
        os.replace(path, previous(path))
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Return ``(tensors, header)``; raise CheckpointError for a missing, corrupt or altered
    file (the stored sha256 of the payload must match)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; train first, or give the run "
                              "directory of a finished `vaelab train`")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), "pt") as f:
            outer = json.loads((f.metadata() or {})["vaelab"])
        body = outer["body"]
        if payload_digest(tensors, body) != outer["sha256"]:
            raise ValueError("its contents do not match the checksum written with it")
        header = json.loads(body)
        if header.get("format") != FORMAT:
            raise ValueError(f"unknown format {header.get('format')!r}")
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, json.JSONDecodeError,
            RuntimeError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or not a vaelab 0.2 checkpoint "
                              f"({e}); use the other checkpoint in its folder or retrain"
                              ) from None
    return tensors, header


def load_latest(path: Path) -> tuple[dict[str, torch.Tensor], dict, Path]:
    """``load_checkpoint(path)``, falling back (with a warning) to the previous checkpoint
    when ``path`` is missing or corrupt. Returns the file actually used as well."""
    try:
        return (*load_checkpoint(path), Path(path))
    except CheckpointError as first:
        prev = previous(Path(path))
        if not prev.is_file():
            raise
        tensors, header = load_checkpoint(prev)
        reason = str(first).split("(", 1)[-1].split(")", 1)[0] if Path(path).is_file() else \
            "it is missing"
        warnings.warn(f"checkpoint {path} is damaged ({reason}); using the previous checkpoint "
                      f"{prev.name} (epoch {header['meta'].get('epoch')}) instead", stacklevel=2)
        return tensors, header, prev


def restore(tensors: dict, header: dict, modules: dict[str, torch.nn.Module],
            optimizer: torch.optim.Optimizer | None = None) -> dict[str, torch.Tensor]:
    """Load the state into ``modules`` (and ``optimizer``); return the RNG states."""
    for prefix, m in modules.items():
        sd = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        try:
            m.load_state_dict(sd)
        except RuntimeError as e:
            raise CheckpointError(f"checkpoint does not match the model ({str(e)[:200]}); was it "
                                  "written by a different configuration?") from None
    if optimizer is not None and header.get("optimizer"):
        try:
            optimizer.load_state_dict(_unflatten_optimizer(tensors, header["optimizer"]))
        except (KeyError, ValueError, TypeError, AttributeError, RuntimeError) as e:
            raise CheckpointError(f"the checkpoint's optimizer state is damaged ({type(e).__name__}"
                                  f": {str(e)[:120]}); resume from the other checkpoint or "
                                  "retrain") from None
    return {k[4:]: v for k, v in tensors.items() if k.startswith("rng.")}
