"""The sub-commands on trained runs. Each is ``(add_arguments, run, help)``; ``run(args)``
loads the run, calls the library, writes its files and prints (or ``--json``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vaelab.cli.reproduce import add_presets, add_reproduce, run_presets, run_reproduce
from vaelab.cli.train import add_train, add_train_stack, run_train, run_train_stack
from vaelab.errors import ConfigError
from vaelab.training.config import COMPILE_MODES


def add_run_args(p: argparse.ArgumentParser, seed: bool = True, as_json: bool = True) -> None:
    """The arguments every command on a trained run takes."""
    p.add_argument("run_dir", help="a run directory written by `vaelab train`")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"),
                   help="which checkpoint to load")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--data", default=None, metavar="FILE",
                   help="evaluate on this .npy/.npz file instead of the run's data (its test "
                        "split, or the whole array)")
    if seed:
        p.add_argument("--seed", type=seed_arg, default=0, help="random seed (0 .. 2^63 - 1)")
    if as_json:
        p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def seed_arg(text: str) -> int:
    from vaelab.training.config import check_seed

    try:
        return check_seed(int(text))
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2^63 - 1, got "
                                         f"{text!r}") from None


def _load(args):
    from vaelab.training import load_run

    return load_run(args.run_dir, args.checkpoint, args.device, args.data)


def add_out(p: argparse.ArgumentParser, what: str = "the files this command writes") -> None:
    p.add_argument("--out", default=None, metavar="DIR",
                   help=f"folder for {what} (default: the run directory)")


def output_dir(where: str | Path) -> Path:
    """Where the command's files go, checked writable before any work is done."""
    import os

    out = Path(where)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{out} is not writable; give --out DIR for this command's files")
    return out


def write_json(out: Path, name: str, obj) -> Path:
    """Write atomically: a reader (or a killed command) never sees half a file."""
    import os

    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    tmp = path.with_name(f".{name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)
    return path


# the most a count may ask for (memory or a PNG grid is the limit, not patience)
LIMITS = {"samples": 10_000, "dims": 1_000, "values": 100, "examples": 1_000_000,
          "z_samples": 10_000, "points": 1_000_000, "pairs": 100_000, "chains": 10_000,
          "leapfrog": 10_000, "batch_size": 100_000, "k": 1_000_000, "elbo_samples": 1_000_000,
          "local_steps": 10_000_000, "ais_steps": 10_000_000, "local_samples": 100_000,
          "local_window": 10_000_000, "local_stages": 100, "epochs": 100_000,
          "pixel_layers": 100, "pixel_channels": 4_096, "z_dims": 10_000}


def _positive(args, *names: str) -> None:
    """Each count is at least 1 and at most its ``LIMITS`` entry."""
    for n in names:
        v = getattr(args, n)
        for x in (v if isinstance(v, list) else [v]):
            top = LIMITS.get(n)
            if x is not None and (x < 1 or (top is not None and x > top)):
                bound = f"from 1 to {top}" if top else ">= 1"
                raise ConfigError(f"--{n.replace('_', '-')} must be {bound}, got {x}")


# ---- eval --------------------------------------------------------------------------------
def add_eval(p: argparse.ArgumentParser) -> None:
    add_run_args(p)
    p.add_argument("--k", type=int, nargs="+", default=[1, 5, 50, 5000],
                   help="bounds L_k to report; the largest K gives the log-likelihood estimate "
                        "-L_K. Every L_k with k < K reuses the same K draws, averaged over "
                        "floor(K/k) disjoint groups")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"),
                   help="which split of the data")
    p.add_argument("--examples", type=int, default=0,
                   help="evaluate a random subset of this many test examples, fixed by --seed "
                        "(0: all)")
    p.add_argument("--max-samples", type=int, default=0,
                   help="samples x examples per forward pass (memory bound; 0: by device)")
    p.add_argument("--repeats", type=int, default=1,
                   help="evaluate R times with fresh draws and average; the Monte Carlo error is "
                        "then measured across the runs instead of estimated by the delta method")
    p.add_argument("--compile", default="", choices=COMPILE_MODES[1:], metavar="MODE",
                   help="torch.compile the log-weights (default, reduce-overhead or "
                   "max-autotune, as `vaelab train --compile`): the same draws and numbers, "
                   "faster after a few seconds of compilation (a C compiler on the CPU)")
    add_out(p)


def run_eval(args: argparse.Namespace) -> int:
    from vaelab.eval import evaluate
    from vaelab.eval.likelihood import MAX_K
    from vaelab.eval.recipes import subset_index

    if min(args.k) < 1 or max(args.k) > MAX_K:
        raise ConfigError(f"--k values must lie in 1 .. {MAX_K} (K = 5000 is the convention for "
                          "log-likelihoods)")
    if args.examples < 0 or args.max_samples < 0:
        raise ConfigError("--examples and --max-samples must be >= 0 (0: all / by device)")
    if not 1 <= args.repeats <= 1000:
        raise ConfigError(f"--repeats must be from 1 to 1000, got {args.repeats}")
    out_dir = output_dir(args.out or args.run_dir)
    run = _load(args)
    split = run.split(args.split)
    index = subset_index(len(split), args.examples, args.seed)
    out = {"split": args.split, "checkpoint": args.checkpoint,
           "data": args.data or run.data.name,
           **evaluate(run.model, split[index], args.k, seed=args.seed,
                      max_samples=args.max_samples or None, binarize=run.data.dynamic_binarize,
                      progress=not args.no_progress, repeats=args.repeats, compile=args.compile),
           "per_example_index": index.tolist()}
    name = f"eval-{args.split}.json" if args.data is None else f"eval-{Path(args.data).stem}.json"
    path = write_json(out_dir, name, out)
    if args.json:
        print(json.dumps({k: v for k, v in out.items() if not k.startswith("per_example")}))
        return 0
    print(f"{args.run_dir}: {out['data']} {args.split} split, {out['n_examples']} examples "
          f"({out['seconds']:.1f} s); +- is the standard error over examples")
    for k, v in out["bounds"].items():
        print(f"  L_{int(k):<5d} = {v:9.3f} +- {out['bounds_stderr'][k]:.3f} nats")
    line = (f"  NLL (K={out['nll_k']}) = {out['nll']:.3f} +- {out['nll_stderr']:.3f} "
            f"(examples) +- {out['nll_mc_stderr']:.3f} (Monte Carlo, {out['mc_method']}) nats")
    if "bits_per_dim" in out:
        line += f" = {out['bits_per_dim']:.4f} bits/dim"
    print(line)
    if "exact_nll" in out:
        print(f"  exact NLL = {out['exact_nll']:.3f} +- {out['exact_nll_stderr']:.3f} (examples) "
              f"nats, by enumeration of all {out['exact_configurations']} latent values")
    if out["mc_method"] == "delta method" and out["mean_ess"] < 100:
        print(f"  (the weights' effective sample size is {out['mean_ess']:.0f} of {out['nll_k']}: "
              "the delta method's Monte Carlo error is likely low; --repeats 5 measures it)")
    if out.get("active_units_per_layer"):
        print(f"  active units = {out['active_units']} (per layer: "
              f"{out['active_units_per_layer']})")
    print(f"wrote {path}")
    return 0


# ---- sample ------------------------------------------------------------------------------
def add_sample(p: argparse.ArgumentParser) -> None:
    add_run_args(p)
    p.add_argument("--samples", type=int, default=100, help="images to draw (and half as many "
                   "test images to reconstruct)")
    add_out(p)


def run_sample(args: argparse.Namespace) -> int:
    import torch

    from vaelab.viz import save_grid, save_pairs

    _positive(args, "samples")
    out = output_dir(args.out or args.run_dir)
    run = _load(args)
    torch.manual_seed(args.seed)
    model = run.model
    s = save_grid(model.sample(args.samples), None, out / "samples.png")  # its fitted prior's
    if model.capabilities.latent == "none":  # no code to reconstruct from: samples only
        if args.json:
            print(json.dumps({"samples": str(s), "reconstructions": None}))
        else:
            print(f"wrote {s}; no reconstructions: {type(model).__name__} has no latent code "
                  "(its 'reconstruction' would be the input itself)")
        return 0
    x = run.examples("test", max(1, args.samples // 2), args.seed)
    r = save_pairs(x.cpu(), model.reconstruct(x).cpu(), out / "reconstructions.png")
    if args.json:
        print(json.dumps({"samples": str(s), "reconstructions": str(r)}))
    else:
        print(f"wrote {s} and {r} (each original above its reconstruction)")
    return 0


# ---- datasets ----------------------------------------------------------------------------
def add_datasets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


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


def _fmt(v) -> str:
    """Numbers to 4 significant digits for the terminal (the JSON keeps every digit)."""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    return str(v)


def require_latent(model, command: str) -> None:
    if model.capabilities.latent != "continuous":
        raise ConfigError(f"`vaelab {command}` needs a model with a continuous latent; "
                          f"{type(model).__name__} has a {model.capabilities.latent} latent")


# ---- gradients ---------------------------------------------------------------------------
def add_gradients(p: argparse.ArgumentParser) -> None:
    add_run_args(p)
    p.add_argument("--k", type=int, nargs="+", default=[1, 5, 50],
                   help="samples per example to compare")
    p.add_argument("--repeats", type=int, default=100, help="independent estimates per setting")
    p.add_argument("--batch-size", type=int, default=100, help="training images in the batch")
    p.add_argument("--objective", default="iwae", choices=("elbo", "iwae"),
                   help="the bound whose gradient is estimated")
    p.add_argument("--estimators", nargs="+", default=None,
                   help="subset as NAME or NAME+BASELINE (default: all of them)")
    add_out(p)


def run_gradients(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm

    from vaelab.estimators.study import format_table, gradient_study
    from vaelab.viz import save, snr_figure

    _positive(args, "batch_size")
    if args.repeats > 100_000:
        raise ConfigError(f"--repeats must be at most 100000, got {args.repeats}")
    if min(args.k) < 1 or max(args.k) > 100_000:
        raise ConfigError("--k values must lie in 1 .. 100000")
    if args.repeats < 2:
        raise ConfigError("--repeats must be at least 2 to estimate a variance")
    out = output_dir(args.out or args.run_dir)
    run = _load(args)
    torch.manual_seed(args.seed)
    x = run.examples("train", args.batch_size, args.seed)
    variants = None
    if args.estimators:
        variants = [tuple((v.split("+") + ["none"])[:2]) for v in args.estimators]
    rows = gradient_study(run.model, x, sorted(set(args.k)), args.repeats, args.objective,
                          variants, progress=lambda j: tqdm(j, desc="gradients", leave=False,
                                                            disable=args.no_progress))
    written = write_json(out, "gradients.json", rows)
    plot = save(snr_figure(rows), out / "gradients_snr.png")
    if args.json:
        print(json.dumps({"rows": rows, "plot": str(plot)}))
    else:
        print(format_table(rows))
        print(f"wrote {written} and {plot}")
    return 0


# ---- info --------------------------------------------------------------------------------
def add_info(p: argparse.ArgumentParser) -> None:
    add_run_args(p)
    p.add_argument("--split", default="test", choices=("train", "valid", "test"),
                   help="which split of the data")
    p.add_argument("--examples", type=int, default=2000,
                   help="test examples, a seeded random subset (the MI lower bound is at most "
                        "log of this)")
    p.add_argument("--z-samples", type=int, default=4, help="z samples per example")
    add_out(p)


def run_info(args: argparse.Namespace) -> int:
    import torch

    import vaelab.eval
    from vaelab.viz import latent_activity_figure, save

    _positive(args, "examples", "z_samples")
    out = output_dir(args.out or args.run_dir)
    run = _load(args)
    require_latent(run.model, "info")
    torch.manual_seed(args.seed)
    # random: a split's order can be far from random (static MNIST's test split starts with
    # images ~12 nats harder than its average)
    x = run.examples(args.split, args.examples, args.seed)
    info = vaelab.eval.vae_information(run.model, x, args.examples, args.z_samples)
    info["split"] = args.split
    written = write_json(out, f"info-{args.split}.json", info)
    kind = "kl" if "per_dimension_kl" in info else "variance"
    plot = save(latent_activity_figure(info.get("per_dimension_kl",
                                                info["posterior_mean_variance"]),
                                       info["active_dimensions"], kind),
                out / "latent_activity.png")
    if args.json:
        print(json.dumps(info))
        return 0

    def pm(k):
        v = info.get(k) or info.get(k + "_layer1_prior_n01")
        return f"{v['value']:.3f} +- {v['stderr']:.3f}"

    print(f"{args.run_dir}: {args.split} split, {info['n_examples']} examples (nats; +- is the "
          "Monte Carlo standard error)")
    print(f"  I(z;x)  H(z)+E[log q(z|x)]  = {pm('mi_entropy_form')}")
    print(f"  I(z;x)  E_x KL(q(z|x)||q(z)) = {pm('mi_kl_form')}")
    print(f"  I(z;x)  ELBO surgery         = {pm('mi_elbo_surgery')}   (lower bounds, at most "
          f"log n = {info['max_mi_log_n']:.2f})")
    print(f"  I(z;x)  leave-one-out upper bound = {pm('mi_upper')}")
    if "mi_generative_lower" in info:
        print(f"  I(z;x) under the model's joint p(z)p(x|z) >= H(z)+E[log q(z|x)] = "
              f"{pm('mi_generative_lower')}   (Barber-Agakov: the encoder as variational q)")
    print(f"  KL(q(z)||p(z)) = {pm('kl_aggregate_prior')}   average KL (rate) = {pm('rate')}")
    print(f"  distortion -E[log p(x|z)] = {pm('distortion')}   ELBO = {info['elbo']:.3f}")
    print(f"  active units = {info['active_units']}  (per layer {info['active_units_per_layer']}; "
          f"{info['active_units_definition']})")
    print(f"wrote {written} and {plot}")
    return 0


# ---- traverse ----------------------------------------------------------------------------
def add_traverse(p: argparse.ArgumentParser) -> None:
    add_run_args(p)
    p.add_argument("--dims", type=int, default=10, help="the DIMS most informative dimensions "
                   "(largest KL, or variance of the posterior mean where the prior is not "
                   "N(0, I))")
    p.add_argument("--values", type=int, default=9, help="values of z_j (images) per dimension")
    p.add_argument("--span", type=float, default=3.0, help="sweep z_j over [-span, span]")
    p.add_argument("--index", type=int, default=0, help="test image to start from")
    add_out(p)


def run_traverse(args: argparse.Namespace) -> int:
    import torch

    from vaelab.eval.active_units import latent_activity
    from vaelab.eval.traverse import traversal
    from vaelab.viz import save, traversal_figure

    _positive(args, "dims", "values")
    if not (0 < args.span < float("inf")):
        raise ConfigError(f"--span must be a positive number, got {args.span}")
    out = output_dir(args.out or args.run_dir)
    run = _load(args)
    require_latent(run.model, "traverse")
    test = run.split("test")
    if not 0 <= args.index < len(test):
        raise ConfigError(f"--index {args.index}: the test split has {len(test)} examples "
                          f"(0 .. {len(test) - 1})")
    dims = latent_activity(run.model, test[:1000]).ranked()[: args.dims]
    x = test[args.index: args.index + 1].to(run.device)
    torch.manual_seed(args.seed)
    img = traversal(run.model, x, dims, args.values, args.span)
    values = torch.linspace(-args.span, args.span, args.values).tolist()
    path = save(traversal_figure(img.cpu(), dims, values), out / "traverse.png")
    if args.json:
        print(json.dumps({"traverse": str(path), "dims": dims, "values": values}))
    else:
        print(f"wrote {path}: rows = latent dims {dims} (most informative first), columns = "
              f"z_j from {-args.span} to {args.span}")
    return 0


# ---- disentangle -------------------------------------------------------------------------
def add_disentangle(p: argparse.ArgumentParser) -> None:
    add_run_args(p)
    p.add_argument("--points", type=int, default=800,
                   help="beta-VAE and FactorVAE metrics: classifier points (60%% train, 40%% "
                   "test)")
    p.add_argument("--pairs", type=int, default=64, help="beta-VAE metric: pairs per point; "
                   "FactorVAE metric: samples per point")
    add_out(p)


def run_disentangle(args: argparse.Namespace) -> int:
    from vaelab.eval.disentanglement import disentanglement_report

    _positive(args, "points", "pairs")
    if args.points < 10:
        raise ConfigError(f"--points must be at least 10 (train and test the classifier), got "
                          f"{args.points}")
    out_dir = output_dir(args.out or args.run_dir)
    run = _load(args)
    require_latent(run.model, "disentangle")
    out = disentanglement_report(run.model, run.data, args.points, args.pairs, args.seed)
    path = write_json(out_dir, "disentanglement.json", out)
    print(json.dumps(out) if args.json else "\n".join(f"{k}: {_fmt(v)}" for k, v in out.items()))
    if not args.json:
        print(f"wrote {path}")
    return 0


# ---- prior -------------------------------------------------------------------------------
def add_prior(p: argparse.ArgumentParser) -> None:
    add_run_args(p)
    p.add_argument("--epochs", type=int, default=10, help="passes over the training codes")
    p.add_argument("--pixel-layers", type=int, default=6, help="gated PixelCNN layers")
    p.add_argument("--pixel-channels", type=int, default=64, help="PixelCNN channels")
    p.add_argument("--batch-size", type=int, default=64, help="code maps per step")
    p.add_argument("--class-conditional", action="store_true",
                   help="condition on the data's labels: a class (--dataset mnist_test) or "
                   "every factor (--dataset colour_shapes)")
    add_out(p, "prior.json (the fitted prior itself stays in the run: `vaelab sample` uses "
            "it)")


def run_prior(args: argparse.Namespace) -> int:
    from vaelab.training.prior import fit_prior

    _positive(args, "epochs", "pixel_layers", "pixel_channels", "batch_size")
    output_dir(args.run_dir)  # the prior is part of the run: its directory must be writable
    run = _load(args)
    if not run.model.capabilities.code_prior:
        raise ConfigError("`vaelab prior` fits a prior over VQ codes: give a vqvae or vqvae2 run")
    rep = fit_prior(run, Path(args.run_dir), args.epochs, args.class_conditional,
                    args.pixel_layers, args.pixel_channels, args.batch_size,
                    progress=not args.no_progress, seed=args.seed)
    report = write_json(output_dir(args.out or args.run_dir), "prior.json", rep)
    rep["wrote"] = [str(Path(args.run_dir, "prior.safetensors")), str(report)]
    if args.json:
        print(json.dumps(rep))
    else:
        for k in ("uniform", "pixelcnn_prior"):
            r = rep[k]
            print(f"{k:>15}: -log p(x) <= {r['nll_bound']:.2f} +- {r['nll_bound_stderr']:.2f} "
                  f"nats = recon {r['recon_nll']:.2f} + prior {r['prior_nll']:.2f} "
                  f"({r['bits_per_dim']:.3f} bits/dim)")
        print(f"wrote {' and '.join(rep['wrote'])}")
    return 0


# ---- ais, bdmc, gaps ----------------------------------------------------------------------
def add_config_flags(p: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of the settings dataclass ``cls`` (its help, default and choices;
    ``--FLAG`` from the field's ``flag`` or its name), as `train`'s flags come from RunConfig."""
    import dataclasses

    from vaelab.registry import field_default

    for f in dataclasses.fields(cls):
        if f.name in skip or not f.metadata.get("cli", True):
            continue
        default = field_default(f)
        p.add_argument("--" + _dest(f).replace("_", "-"), type=type(default), default=default,
                       choices=f.metadata.get("choices"), help=f.metadata.get("help"))


def _dest(f) -> str:
    return (f.metadata.get("flag") or f.name).replace("-", "_")


def config_from_flags(cls: type, args: argparse.Namespace, **given):
    """``cls`` from the flags ``add_config_flags`` added (and ``given`` fields)."""
    import dataclasses

    return cls(**{f.name: getattr(args, _dest(f)) for f in dataclasses.fields(cls)
                  if hasattr(args, _dest(f)) and f.name not in given}, **given)


def add_ais_options(p: argparse.ArgumentParser, steps: bool = True) -> None:
    """AIS settings shared by ais, bdmc and gaps (``--ais-steps`` where ``steps``)."""
    from vaelab.eval.ais import AISConfig

    add_config_flags(p, AISConfig, skip=() if steps else ("steps",))
    p.add_argument("--batch-size", type=int, default=100, help="examples per batch")


def ais_config(args: argparse.Namespace, steps: int | None = None):
    from vaelab.eval.ais import AISConfig

    return config_from_flags(AISConfig, args, **({} if steps is None else {"steps": steps}))


def add_subset(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", default="test", choices=("train", "valid", "test"),
                   help="which split of the data")
    p.add_argument("--examples", type=int, default=100,
                   help="a seeded random subset of this many examples (0: all)")


def _examples(args, run):
    return run.examples(args.split, args.examples, args.seed)


def add_ais(p: argparse.ArgumentParser) -> None:
    add_run_args(p)
    add_subset(p)
    add_ais_options(p)
    add_out(p)


def run_ais(args: argparse.Namespace) -> int:
    import torch

    from vaelab.eval.ais import ais

    _positive(args, "ais_steps", "chains", "leapfrog", "batch_size")
    if args.examples < 0:
        raise ConfigError(f"--examples must be >= 0 (0: all), got {args.examples}")
    config = ais_config(args)
    out_dir = output_dir(args.out or args.run_dir)
    run = _load(args)
    require_latent(run.model, "ais")
    x = _examples(args, run)
    torch.manual_seed(args.seed)
    res = ais(run.model, x, config, batch_size=args.batch_size, progress=not args.no_progress)
    res.update(split=args.split, data=args.data or run.data.name, checkpoint=args.checkpoint)
    path = write_json(out_dir, f"ais-{args.split}.json", res)
    if args.json:
        print(json.dumps({k: v for k, v in res.items() if not k.startswith("per_example")}))
        return 0
    print(f"{args.run_dir}: AIS from the {args.init}, T={args.ais_steps} steps, {args.chains} "
          f"chains x {args.leapfrog} leapfrog steps, {res['n_examples']} {args.split} examples "
          f"({res['seconds']:.1f} s)")
    print(f"  log p(x) >= {res['mean']:.3f} +- {res['stderr']:.3f} (examples) +- "
          f"{res['mc_stderr']:.3f} (Monte Carlo, across chains) nats  [a stochastic lower "
          "bound]")
    print(f"  NLL = {-res['mean']:.3f} nats; HMC acceptance {res['acceptance']:.2f}, median "
          f"final step size {res['final_step_size_median']:.3g}")
    print(f"wrote {path}")
    return 0


def add_bdmc(p: argparse.ArgumentParser) -> None:
    add_run_args(p)
    p.add_argument("--examples", type=int, default=100,
                   help="examples simulated from the model (x ~ p(x|z), z ~ p(z))")
    p.add_argument("--ais-steps", type=int, nargs="+", default=[10, 100, 1000],
                   help="AIS step counts: one forward/reverse sandwich per count")
    p.add_argument("--k", type=int, default=5000,
                   help="also IS with K encoder draws on the same data (0: skip)")
    add_ais_options(p, steps=False)
    add_out(p)


def run_bdmc(args: argparse.Namespace) -> int:
    import torch

    from vaelab.eval.bdmc import bdmc

    _positive(args, "examples", "chains", "leapfrog", "batch_size", "ais_steps")
    if args.k < 0 or args.k > LIMITS["k"]:
        raise ConfigError(f"--k must be from 0 (no IS) to {LIMITS['k']}, got {args.k}")
    config = ais_config(args, steps=1)
    out_dir = output_dir(args.out or args.run_dir)
    run = _load(args)
    require_latent(run.model, "bdmc")
    torch.manual_seed(args.seed)
    res = bdmc(run.model, args.examples, args.ais_steps, config, args.batch_size, args.k,
               progress=not args.no_progress)
    path = write_json(out_dir, "bdmc.json", res)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{args.run_dir}: BDMC on {args.examples} examples simulated from the model, AIS from "
          f"the {args.init}, {args.chains} chains (nats; +- standard error over examples)")
    print(f"  {'steps':>6}  {'lower (forward)':>18}  {'upper (reverse)':>18}  {'gap':>14}  "
          f"{'seconds':>8}")
    for r in res["rows"]:
        lo, up, g = r["lower"], r["upper"], r["gap"]
        print(f"  {r['steps']:>6}  {lo['mean']:>10.3f} +- {lo['stderr']:.3f}  {up['mean']:>10.3f} "
              f"+- {up['stderr']:.3f}  {g['mean']:>7.3f} +- {g['stderr']:.3f}  "
              f"{r['seconds']:>8.1f}")
    if "is" in res:
        i = res["is"]
        print(f"  IS with K={i['k']}: {i['mean']:.3f}; the true mean log p(x) lies "
              f"{i['below_lower']:.3f} .. {i['below_upper']:.3f} nats above it (the tightest "
              "sandwich)")
    print(f"wrote {path}")
    return 0


def add_gaps(p: argparse.ArgumentParser) -> None:
    from vaelab.eval.local_vi import LocalVIConfig

    add_run_args(p)
    add_subset(p)
    p.add_argument("--k", type=int, default=5000, help="IS draws for log p(x)")
    p.add_argument("--ais-steps", type=int, default=0,
                   help="also AIS with this many steps, used for log p(x) when it is higher on "
                        "average (0: IS only)")
    add_config_flags(p, LocalVIConfig)
    add_ais_options(p, steps=False)
    add_out(p)


def run_gaps(args: argparse.Namespace) -> int:
    import torch

    from vaelab.eval.gaps import inference_gaps, row_label
    from vaelab.eval.local_vi import LocalVIConfig

    _positive(args, "k", "local_steps", "local_samples", "local_window", "elbo_samples",
              "local_stages", "chains", "leapfrog", "batch_size")
    if args.examples < 0 or args.ais_steps < 0:
        raise ConfigError("--examples and --ais-steps must be >= 0")
    vi = config_from_flags(LocalVIConfig, args)
    ais_cfg = ais_config(args, steps=args.ais_steps) if args.ais_steps else None
    out_dir = output_dir(args.out or args.run_dir)
    run = _load(args)
    require_latent(run.model, "gaps")
    x = _examples(args, run)
    torch.manual_seed(args.seed)
    res = inference_gaps(run.model, x, args.k, ais_cfg, vi, args.batch_size,
                         progress=not args.no_progress)
    res["split"] = args.split
    path = write_json(out_dir, f"gaps-{args.split}.json", res)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{args.run_dir}: {res['n_examples']} {args.split} examples, local q "
          f"{args.family}, log p(x) from {res['log_px_source']} (nats; +- standard error over "
          "examples, then Monte Carlo error)")
    for name, r in res["rows"].items():
        label = row_label(name)
        if r.get("measured", True):
            print(f"  {label:<34} {r['mean']:>10.3f} +- {r['stderr']:.3f} +- "
                  f"{r['mc_stderr']:.3f}")
        else:
            print(f"  {label:<34} {'not measured (see below)':>30}")
    if res["local_vi_not_converged"]:
        print(f"  local VI did not converge on {res['local_vi_not_converged']} of "
              f"{res['n_examples']} examples: raise --local-steps")
    if res["warning"]:
        print(f"  warning: {res['warning']}")
    print(f"wrote {path}")
    return 0


# ---- report ------------------------------------------------------------------------------
def add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN", help="one run directory, or several "
                   "to compare; a `vaelab reproduce --out` folder gives its published table "
                   "and its rows' runs")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="the HTML file (default: RUN/report.html for one run, report.html for "
                        "several)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--examples", type=int, default=200,
                   help="test examples for the evaluation when a run has no eval-test.json")
    p.add_argument("--seed", type=seed_arg, default=0, help="random seed (0 .. 2^63 - 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_report(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from vaelab.report import write_report

    out = Path(args.out) if args.out else (Path(args.run_dirs[0]) / "report.html"
                                           if len(args.run_dirs) == 1 else Path("report.html"))
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out {out}: give a .html file")
    output_dir(out.parent)
    path = write_report(args.run_dirs, out, device=args.device, eval_n=args.examples,
                        seed=args.seed, progress=lambda r: tqdm(r, desc="report", leave=False,
                                                                disable=args.no_progress))
    print(json.dumps({"report": str(path)}) if args.json else f"wrote {path} (open it in a "
          "browser)")
    return 0


COMMANDS = {
    "train": (add_train, run_train, "train a model (any registered or your own)"),
    "train-stack": (add_train_stack, run_train_stack, "train a grid of runs (seeds, learning "
                    "rates, K, objectives, models) in one process, runs of one architecture as "
                    "one stacked model; a run directory per run"),
    "eval": (add_eval, run_eval, "importance-sampled log-likelihood, bounds, bits/dim, active "
             "units"),
    "sample": (add_sample, run_sample, "PNG grids of samples and reconstructions"),
    "gradients": (add_gradients, run_gradients,
                  "variance and signal-to-noise ratio of every gradient estimator"),
    "info": (add_info, run_info, "mutual information, KL split, active units, rate/distortion"),
    "traverse": (add_traverse, run_traverse, "latent traversal grid (PNG)"),
    "disentangle": (add_disentangle, run_disentangle,
                    "MIG and beta-VAE metric on the shapes data set"),
    "prior": (add_prior, run_prior,
              "fit a PixelCNN prior over VQ codes and report the likelihood bound"),
    "ais": (add_ais, run_ais, "annealed importance sampling of log p(x) (HMC transitions)"),
    "bdmc": (add_bdmc, run_bdmc, "bidirectional Monte Carlo: a sandwich of log p(x) on data "
             "simulated from the model"),
    "gaps": (add_gaps, run_gaps, "the inference gap split into approximation and amortization "
             "gaps (local variational inference)"),
    "report": (add_report, run_report, "an HTML page about one run, several compared, or "
               "a reproduced table"),
    "datasets": (add_datasets, run_datasets, "list the data sets and where they were found"),
    "presets": (add_presets, run_presets, "paper configurations: `vaelab train --preset "
                "TABLE/ROW`"),
    "reproduce": (add_reproduce, run_reproduce, "train and score a published table's rows "
                  "(resumable), vaelab's numbers beside the paper's"),
}
