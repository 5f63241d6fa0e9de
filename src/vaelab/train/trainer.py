"""The training loop: data on the device, one estimator, Adam, checkpoints, early stopping,
TensorBoard and metrics.jsonl, NaN guard, exact resume, DDP under torchrun."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm.auto import tqdm

from vaelab.data import TensorBatches
from vaelab.errors import ConfigError, DivergenceError
from vaelab.eval.likelihood import evaluate_bounds
from vaelab.train import distributed
from vaelab.train.checkpoint import load_checkpoint, restore, save_checkpoint
from vaelab.train.config import TrainConfig
from vaelab.train.run import (
    Objective,
    build_data,
    build_estimator,
    build_model,
    resolve_device,
    write_config,
)


def _rng_state(shuffle: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    st = {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()}
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def _set_rng_state(st: dict, shuffle: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(st["torch"])
    shuffle.set_state(st["shuffle"])
    if device.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"], device)


def train(cfg: TrainConfig, out: str | Path, resume: bool = False, overwrite: bool = False,
          progress: bool = True) -> dict:
    """Train per ``cfg`` into run directory ``out``; return the final metrics record."""
    out = Path(out)
    device = resolve_device(cfg.device)
    dinfo = distributed.setup(device)
    if device.type == "cuda" and dinfo.enabled:
        if dinfo.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"process {dinfo.local_rank} of this node has no GPU of its own "
                              f"({torch.cuda.device_count()} visible): start torchrun with "
                              "--nproc_per_node at most the number of GPUs, or use --device cpu")
        device = torch.device("cuda", dinfo.local_rank)
        torch.cuda.set_device(device)
    ckpt_dir = out / "checkpoints"
    if resume:
        if not (ckpt_dir / "last.safetensors").is_file():
            raise ConfigError(f"--resume: no checkpoint at {ckpt_dir / 'last.safetensors'}; "
                              "start the run without --resume")
        # the stored run defines the model and data; how long and how it runs is this call's
        cfg = TrainConfig.from_dict({**TrainConfig.load(out).to_dict(), "epochs": cfg.epochs,
                                     "compile": cfg.compile, "time_limit": cfg.time_limit})
    elif (out / "config.json").exists():
        if not overwrite:
            raise ConfigError(f"{out} already holds a run; use --resume to continue it, "
                              "--overwrite to replace it, or another --out")
        if dinfo.is_main:
            for sub in ("checkpoints", "tb"):
                shutil.rmtree(out / sub, ignore_errors=True)
            (out / "metrics.jsonl").unlink(missing_ok=True)
    torch.manual_seed(cfg.seed)
    shuffle = torch.Generator().manual_seed(cfg.seed)

    data = build_data(cfg)
    model = build_model(cfg, data)
    model.init_output_bias(data.train_mean())
    estimator = build_estimator(cfg, data)
    objective = Objective(model, estimator).to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed image shapes: let cuDNN pick its kernels
    opt = torch.optim.Adam(objective.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-4,
                           fused=device.type == "cuda")
    start_epoch, best, bad_evals, step = 0, -math.inf, 0, 0
    if resume:
        tensors, header = load_checkpoint(ckpt_dir / "last.safetensors")
        rng = restore(tensors, header, {"model": model, "estimator": estimator}, opt)
        _set_rng_state(rng, shuffle, device)
        m = header["meta"]
        start_epoch, best, bad_evals, step = m["epoch"], m["best"], m["bad_evals"], m["step"]
    train_x = data.train.to(device)
    valid_x = data.valid.to(device)
    batches = TensorBatches(train_x, cfg.batch_size, shuffle=True,
                            dynamic_binarize=data.dynamic_binarize, generator=shuffle,
                            rank=dinfo.rank, world_size=dinfo.world_size)
    runner = DDP(objective) if dinfo.enabled else objective
    if cfg.compile:
        # one graph for the estimate; "reduce-overhead" replays it as a CUDA graph, which is what
        # removes the launch overhead of a small MLP at batch 100
        runner = torch.compile(runner, mode=cfg.compile)

    writer = None
    if dinfo.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_config(out, cfg, model, data)
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"))
    record: dict = {}
    t_start = time.perf_counter()
    bar = tqdm(range(start_epoch, cfg.epochs), disable=not (progress and dinfo.is_main),
               desc="train", unit="epoch", initial=start_epoch, total=cfg.epochs, mininterval=2)
    for epoch in bar:
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = cfg.lr_at(epoch)
        estimator.beta = cfg.kl_weight(epoch)
        objective.train()
        loss_sum = torch.zeros((), device=device)
        bound_sum = torch.zeros((), device=device)
        for x in batches:
            loss, bound = runner(x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
            bound_sum += bound.detach()
            step += 1
        n = len(batches)
        train_bound = float(bound_sum) / n
        finite = distributed.all_true(math.isfinite(float(loss_sum)), dinfo, device)
        if not finite:
            raise DivergenceError(
                f"the loss became NaN/Inf in epoch {epoch + 1}; stopped. The last good checkpoint "
                f"is kept at {ckpt_dir / 'last.safetensors'} (if any epoch finished). Try a lower "
                "--lr, or --resume from it")
        record = {"epoch": epoch + 1, "step": step, "lr": cfg.lr_at(epoch),
                  f"train_{cfg.objective}_k{cfg.k}": train_bound,
                  "epoch_seconds": time.perf_counter() - t0,
                  **(model.diagnostics() if hasattr(model, "diagnostics") else {})}
        stop = False
        if dinfo.is_main:
            if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
                v = evaluate_bounds(model, valid_x, ks=(cfg.eval_k,),
                                    binarize=data.dynamic_binarize)["bounds"][cfg.eval_k]
                record[f"valid_L{cfg.eval_k}"] = v
                if v > best:
                    best, bad_evals = v, 0
                    save_checkpoint(ckpt_dir / "best.safetensors", {"model": model}, None,
                                    {"epoch": epoch + 1, "valid_bound": v})
                else:
                    bad_evals += 1
                stop = cfg.patience > 0 and bad_evals >= cfg.patience
            meta = {"epoch": epoch + 1, "step": step, "best": best, "bad_evals": bad_evals}
            save_checkpoint(ckpt_dir / "last.safetensors",
                            {"model": model, "estimator": estimator}, opt, meta,
                            _rng_state(shuffle, device))
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            for key, val in record.items():
                if key != "epoch":
                    writer.add_scalar(key, val, epoch + 1)
            bar.set_postfix({k: f"{v:.2f}" for k, v in record.items()
                             if k.startswith(("train_", "valid_"))})
        if distributed.broadcast_flag(stop, dinfo, device):
            if dinfo.is_main:
                tqdm.write(f"early stopping after epoch {epoch + 1}: no gain in "
                           f"{cfg.patience} evaluations")
            break
        out_of_time = cfg.time_limit > 0 and time.perf_counter() - t_start > 60 * cfg.time_limit
        if epoch + 1 < cfg.epochs and distributed.broadcast_flag(out_of_time, dinfo, device):
            if dinfo.is_main:
                tqdm.write(f"--time-limit of {cfg.time_limit:g} min reached after epoch "
                           f"{epoch + 1} of {cfg.epochs}; checkpoint saved, continue with "
                           f"`vaelab train --resume --out {out} --epochs {cfg.epochs}`")
            record["stopped"] = "time_limit"
            break
    if writer is not None:
        writer.close()
    distributed.teardown(dinfo)
    return record
