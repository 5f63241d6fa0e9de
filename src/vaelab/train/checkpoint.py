"""Checkpoints: one safetensors file holding weights, optimizer state and RNG states, written
atomically (temp file + rename), so a crash never leaves a half-written checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vaelab.errors import CheckpointError

FORMAT = "vaelab-checkpoint-1"


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


def save_checkpoint(path: Path, modules: dict[str, torch.nn.Module],
                    optimizer: torch.optim.Optimizer | None, meta: dict,
                    rng: dict[str, torch.Tensor] | None = None) -> None:
    """Write ``modules``' state dicts (prefixed by their key), the optimizer and ``meta``."""
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
    header = {"format": FORMAT, "meta": meta, "optimizer": opt_meta}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"vaelab": json.dumps(header)})
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Return ``(tensors, header)``; raise CheckpointError for a missing or corrupt file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; train first, or give the run "
                              "directory of a finished `vaelab train`")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            header = json.loads((f.metadata() or {})["vaelab"])
        if header.get("format") != FORMAT:
            raise ValueError(f"unknown format {header.get('format')!r}")
    except (SafetensorError, OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or not a vaelab checkpoint ({e}); "
                              "use the other checkpoint in its folder (best/last) or retrain"
                              ) from None
    return tensors, header


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
        optimizer.load_state_dict(_unflatten_optimizer(tensors, header["optimizer"]))
    return {k[4:]: v for k, v in tensors.items() if k.startswith("rng.")}
