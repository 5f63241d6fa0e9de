"""The sub-commands. Each is ``(add_arguments, run, help)``; ``run(args)`` returns an exit code."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields
from pathlib import Path

from vaelab.train.config import MODELS, TrainConfig

CHOICES = {"model": MODELS, "objective": ("auto", "elbo", "iwae"), "layers": (1, 2),
           "estimator": ("reparam", "score_function", "stl", "dreg"),
           "baseline": ("none", "mean", "nvil", "vimco"),
           "schedule": ("constant", "burda", "cosine"),
           "likelihood": ("auto", "bernoulli", "gaussian"),
           "binarize": ("auto", "dynamic", "static", "none")}


def add_run_args(p: argparse.ArgumentParser, seed: bool = True, as_json: bool = True) -> None:
    """The arguments every command on a trained run takes."""
    p.add_argument("run_dir")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"))
    p.add_argument("--device", default="auto")
    if seed:
        p.add_argument("--seed", type=int, default=0)
    if as_json:
        p.add_argument("--json", action="store_true", help="print one JSON object")


# ---- train -------------------------------------------------------------------------------
def add_train(p: argparse.ArgumentParser) -> None:
    for f in fields(TrainConfig):
        default = f.default  # the declared default, before __post_init__ resolves 'auto'
        if isinstance(default, bool):
            p.add_argument(f"--{f.name.replace('_', '-')}", action="store_true")
            continue
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(default), default=default,
                       choices=CHOICES.get(f.name), help=f"(default: {default})")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly "
                   "where it stopped (--epochs is the new total)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_train(args: argparse.Namespace) -> int:
    from vaelab.train import train

    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    rec = train(cfg, args.out, resume=args.resume, overwrite=args.overwrite,
                progress=not args.no_progress)
    if rec:
        print(json.dumps(rec))
    return 0


# ---- eval --------------------------------------------------------------------------------
def add_eval(p: argparse.ArgumentParser) -> None:
    add_run_args(p)
    p.add_argument("--k", type=int, nargs="+", default=[1, 5, 50, 5000],
                   help="bounds L_k to report; the largest is the log-likelihood estimate")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--subset", type=int, default=0,
                   help="evaluate a random subset of N examples (fixed by --seed)")
    p.add_argument("--max-samples", type=int, default=0,
                   help="samples x examples per forward pass (memory bound; 0: by device)")


def run_eval(args: argparse.Namespace) -> int:
    import torch

    from vaelab.errors import ConfigError
    from vaelab.eval import active_units, evaluate_bounds, posterior_means
    from vaelab.train import load_run

    if min(args.k) < 1:
        raise ConfigError("--k values must be >= 1")
    run = load_run(args.run_dir, args.checkpoint, args.device)
    x = run.data.split(args.split)
    if args.subset and args.subset < len(x):  # random: test splits may be sorted by class
        g = torch.Generator().manual_seed(args.seed)
        x = x[torch.randperm(len(x), generator=g)[: args.subset]]
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    res = evaluate_bounds(run.model, x, ks=sorted(set(args.k)),
                          max_samples=args.max_samples or None, binarize=run.data.dynamic_binarize,
                          generator=torch.Generator(device=run.device).manual_seed(args.seed))
    seconds = time.perf_counter() - t0
    per_layer = [active_units(m)[0] for m in posterior_means(run.model, x)]
    kmax = max(args.k)
    out = {"split": args.split, "n_examples": len(x), "checkpoint": args.checkpoint,
           "bounds": {str(k): v for k, v in res["bounds"].items()},
           "bounds_stderr": {str(k): v for k, v in res["stderr"].items()},
           "nll": -res["bounds"][kmax], "nll_stderr": res["stderr"][kmax], "nll_k": kmax,
           "active_units": sum(per_layer), "active_units_per_layer": per_layer,
           "seconds": seconds, "device": str(run.device)}
    Path(args.run_dir, f"eval-{args.split}.json").write_text(json.dumps(out, indent=2))
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{args.run_dir}: {args.split} split, {len(x)} examples ({seconds:.1f} s)")
        for k in sorted(res["bounds"]):
            print(f"  L_{k:<5d} = {res['bounds'][k]:9.3f} +- {res['stderr'][k]:.3f} nats")
        print(f"  NLL (K={kmax}) = {out['nll']:.3f} +- {out['nll_stderr']:.3f} nats")
        print(f"  active units = {out['active_units']} (per layer: {per_layer})")
    return 0


# ---- sample ------------------------------------------------------------------------------
def add_sample(p: argparse.ArgumentParser) -> None:
    add_run_args(p, as_json=False)
    p.add_argument("--n", type=int, default=100, help="samples (and reconstructions) to draw")
    p.add_argument("--out", default=None, help="folder for the PNGs (default: the run dir)")


def run_sample(args: argparse.Namespace) -> int:
    import torch

    from vaelab.models.vqvae import VQVAE
    from vaelab.train import load_run
    from vaelab.train.prior import load_prior
    from vaelab.viz import save_grid

    run = load_run(args.run_dir, args.checkpoint, args.device)
    torch.manual_seed(args.seed)
    out = Path(args.out or args.run_dir)
    shape = run.data.image_shape
    if isinstance(run.model, VQVAE):  # codes from the fitted prior (class per column if any)
        samples = run.model.sample(args.n, load_prior(Path(args.run_dir), run.device))
    else:
        samples = run.model.sample(args.n)
    s = save_grid(samples, shape, out / "samples.png")
    pick = torch.randperm(len(run.data.test), generator=torch.Generator().manual_seed(args.seed))
    x = run.data.test[pick[: args.n // 2]].to(run.device)  # test splits may be sorted by class
    pairs = torch.stack([x, run.model.reconstruct(x)], 1).reshape(-1, x.shape[1])
    r = save_grid(pairs, shape, out / "reconstructions.png")
    print(f"wrote {s} and {r} (reconstructions: original | reconstruction pairs)")
    return 0


# ---- datasets ----------------------------------------------------------------------------
def add_datasets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")


def run_datasets(args: argparse.Namespace) -> int:
    from vaelab.data import available
    from vaelab.data.sources import search_dirs

    rows = available()
    if args.json:
        print(json.dumps({"search_dirs": [str(d) for d in search_dirs()], "datasets": rows}))
        return 0
    print("searched: " + ", ".join(str(d) for d in search_dirs()) + " (set VAELAB_DATA)")
    for r in rows:
        where = r["found"] or "not found locally (downloaded on first use)"
        print(f"  {r['name']:<16} {r['description']}\n  {'':<16} -> {where}")
    return 0


COMMANDS = {
    "train": (add_train, run_train, "train a VAE or IWAE"),
    "eval": (add_eval, run_eval, "importance-sampled log-likelihood, bounds, active units"),
    "sample": (add_sample, run_sample, "PNG grids of samples and reconstructions"),
    "datasets": (add_datasets, run_datasets, "list the data sets and where they were found"),
}


def require_latent(model, command: str) -> None:
    from vaelab.errors import ConfigError

    if getattr(model, "n_layers", 1) == 0:
        raise ConfigError(f"`vaelab {command}` needs a model with latent variables; a pixelcnn "
                          "run has none (its log-likelihood is exact: use `vaelab eval`)")


def register(name: str, add, run, help_: str) -> None:
    COMMANDS[name] = (add, run, help_)


# ---- gradients ---------------------------------------------------------------------------
def add_gradients(p: argparse.ArgumentParser) -> None:
    add_run_args(p)
    p.add_argument("--k", type=int, nargs="+", default=[1, 5, 50])
    p.add_argument("--repeats", type=int, default=100, help="independent estimates per setting")
    p.add_argument("--batch-size", type=int, default=100, help="training images in the batch")
    p.add_argument("--objective", default="iwae", choices=("elbo", "iwae"))
    p.add_argument("--estimators", nargs="+", default=None,
                   help="subset as NAME or NAME+BASELINE (default: all)")


def run_gradients(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm

    from vaelab.estimators.study import format_table, gradient_study, plot_snr
    from vaelab.train import load_run

    run = load_run(args.run_dir, args.checkpoint, args.device)
    require_latent(run.model, "gradients")
    torch.manual_seed(args.seed)
    x = run.data.train[: args.batch_size].to(run.device)
    if run.data.dynamic_binarize:
        x = torch.bernoulli(x)
    variants = None
    if args.estimators:
        variants = [tuple((v.split("+") + ["none"])[:2]) for v in args.estimators]
    rows = gradient_study(run.model, x, sorted(set(args.k)), args.repeats, args.objective,
                          variants, progress=lambda j: tqdm(j, desc="gradients", leave=False))
    out = Path(args.run_dir)
    (out / "gradients.json").write_text(json.dumps(rows, indent=2))
    plot = plot_snr(rows, out / "gradients_snr.png")
    if args.json:
        print(json.dumps({"rows": rows, "plot": str(plot)}))
    else:
        print(format_table(rows))
        print(f"wrote {out / 'gradients.json'} and {plot}")
    return 0


register("gradients", add_gradients, run_gradients,
         "variance and signal-to-noise ratio of every gradient estimator")


# ---- info --------------------------------------------------------------------------------
def add_info(p: argparse.ArgumentParser) -> None:
    add_run_args(p)
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--n", type=int, default=2000, help="data points (the MI is at most log n)")
    p.add_argument("--samples", type=int, default=4, help="z samples per data point")


def run_info(args: argparse.Namespace) -> int:
    import torch

    from vaelab.info import vae_information
    from vaelab.train import load_run
    from vaelab.viz.plots import plot_per_dimension_kl

    run = load_run(args.run_dir, args.checkpoint, args.device)
    require_latent(run.model, "info")
    torch.manual_seed(args.seed)
    x = run.data.split(args.split)
    if args.n < len(x):  # random: a split's order can be far from random (static MNIST's test
        # split starts with images ~12 nats harder than its average)
        x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))[:args.n]]
    if run.data.dynamic_binarize:
        x = torch.bernoulli(x)
    info = vae_information(run.model, x, args.n, args.samples)
    info["split"] = args.split
    out = Path(args.run_dir)
    (out / f"info-{args.split}.json").write_text(json.dumps(info, indent=2))
    plot = plot_per_dimension_kl(info["per_dimension_kl"], out / "per_dimension_kl.png")
    if args.json:
        print(json.dumps(info))
        return 0
    def pm(k):
        v = info.get(k) or info.get(k + "_layer1_prior_n01")
        return f"{v['value']:.3f} +- {v['stderr']:.3f}"

    print(f"{args.run_dir}: {args.split} split, {info['n_examples']} examples (nats)")
    print(f"  I(z;x)  H(z)+E[log q(z|x)]  = {pm('mi_entropy_form')}")
    print(f"  I(z;x)  E_x KL(q(z|x)||q(z)) = {pm('mi_kl_form')}")
    print(f"  I(z;x)  ELBO surgery         = {pm('mi_elbo_surgery')}   (lower bounds, at most "
          f"log n = {info['max_mi_log_n']:.2f})")
    print(f"  I(z;x)  leave-one-out upper bound = {pm('mi_upper')}")
    print(f"  KL(q(z)||p(z)) = {pm('kl_aggregate_prior')}   average KL (rate) = {pm('rate')}")
    print(f"  distortion -E[log p(x|z)] = {pm('distortion')}   ELBO = {info['elbo']:.3f}")
    print(f"  active units = {info['active_units']}  (per layer {info['active_units_per_layer']})")
    print(f"wrote {out / f'info-{args.split}.json'} and {plot}")
    return 0


register("info", add_info, run_info, "mutual information, KL split, active units, rate/distortion")


# ---- traverse ----------------------------------------------------------------------------
def add_traverse(p: argparse.ArgumentParser) -> None:
    add_run_args(p, seed=False, as_json=False)
    p.add_argument("--dims", type=int, default=10, help="the DIMS dimensions of largest KL")
    p.add_argument("--steps", type=int, default=9)
    p.add_argument("--span", type=float, default=3.0, help="sweep z_j over [-span, span]")
    p.add_argument("--index", type=int, default=0, help="test image to start from")
    p.add_argument("--out", default=None)


def run_traverse(args: argparse.Namespace) -> int:
    from vaelab.errors import ConfigError
    from vaelab.eval.traverse import traversal
    from vaelab.info.vae import encoder_params, per_dimension_kl
    from vaelab.train import load_run
    from vaelab.viz import save_grid

    run = load_run(args.run_dir, args.checkpoint, args.device)
    require_latent(run.model, "traverse")
    if not hasattr(run.model, "decode") or getattr(run.model, "n_layers", 1) != 1:
        raise ConfigError("traversals need a model with one latent layer and a factorized "
                          "decoder (vae/iwae --layers 1, betavae)")
    kl = per_dimension_kl(*encoder_params(run.model, run.data.test[:1000]))
    dims = kl.argsort(descending=True)[: args.dims].tolist()
    x = run.data.test[args.index: args.index + 1].to(run.device)
    img = traversal(run.model, x, dims, args.steps, args.span)
    path = save_grid(img, run.data.image_shape, Path(args.out or args.run_dir) / "traverse.png",
                     nrow=args.steps, scale=2)
    print(f"wrote {path}: rows = latent dims {dims} (largest KL first), columns = "
          f"z_j from {-args.span} to {args.span}")
    return 0


# ---- disentangle -------------------------------------------------------------------------
def add_disentangle(p: argparse.ArgumentParser) -> None:
    add_run_args(p, seed=False)
    p.add_argument("--points", type=int, default=800,
                   help="beta-VAE metric: classifier points (60%% train, 40%% test)")
    p.add_argument("--pairs", type=int, default=64, help="beta-VAE metric: pairs per point")


def run_disentangle(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from vaelab.data import shapes as S
    from vaelab.errors import ConfigError
    from vaelab.eval.disentanglement import beta_vae_metric, mig
    from vaelab.info.vae import encoder_params
    from vaelab.train import load_run

    run = load_run(args.run_dir, args.checkpoint, args.device)
    if not run.data.name.startswith("shapes"):
        raise ConfigError("disentanglement metrics need known factors: train on --dataset "
                          "shapes or shapes_small")
    sizes = S.factor_sizes(run.data.name == "shapes_small")
    loc, _ = encoder_params(run.model, run.data.test)
    m = mig(loc.cpu().double(), run.data.labels["test"])

    def encode(v: np.ndarray) -> torch.Tensor:
        imgs = S.render(*S.factor_values(v, sizes), size=run.data.image_shape[0])
        x = torch.as_tensor(imgs.reshape(len(v), -1), dtype=torch.float32, device=run.device)
        return run.model.encode(x).loc.detach().cpu().double()

    n_train = int(0.6 * args.points)
    b = beta_vae_metric(encode, sizes, n_train, args.points - n_train, args.pairs)
    out = {"mig": m["mig"], "mig_per_factor": dict(zip(S.FACTORS, m["per_factor"])),
           "beta_vae_metric": b["accuracy"], "chance": b["chance"]}
    Path(args.run_dir, "disentanglement.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


register("traverse", add_traverse, run_traverse, "latent traversal grid (PNG)")
register("disentangle", add_disentangle, run_disentangle,
         "MIG and beta-VAE metric on the shapes data set")


# ---- prior -------------------------------------------------------------------------------
def add_prior(p: argparse.ArgumentParser) -> None:
    add_run_args(p, seed=False)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--class-conditional", action="store_true")
    p.add_argument("--no-progress", action="store_true")


def run_prior(args: argparse.Namespace) -> int:
    from vaelab.train import load_run
    from vaelab.train.prior import fit_prior

    run = load_run(args.run_dir, args.checkpoint, args.device)
    rep = fit_prior(run, Path(args.run_dir), args.epochs, args.class_conditional, args.layers,
                    args.channels, args.batch_size, progress=not args.no_progress)
    if args.json:
        print(json.dumps(rep))
    else:
        for k in ("uniform", "pixelcnn_prior"):
            r = rep[k]
            print(f"{k:>15}: -log p(x) <= {r['nll_bound']:.2f} +- {r['nll_bound_stderr']:.2f} "
                  f"nats = recon {r['recon_nll']:.2f} + prior {r['prior_nll']:.2f} "
                  f"({r['bits_per_dim']:.3f} bits/dim)")
    return 0


register("prior", add_prior, run_prior,
         "fit a PixelCNN prior over VQ codes and report the likelihood bound")
