"""``vaelab train``: flags generated from the option catalogue (sections and every registered
component's config dataclass), merged over ``--config FILE``; only given flags count."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vaelab.errors import ConfigError
from vaelab.registry import field_default
from vaelab.training.config import RESUMABLE, option_catalogue


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("give a JSON object, e.g. '{\"latent\": 16}'")
    return value


def _defaults_text(opt) -> str:
    if opt.component is None:
        return f"default: {opt.default!r}" if opt.default not in ("", (), {}) else ""
    from vaelab.training.config import COMPONENTS

    reg = COMPONENTS[opt.component][2]
    parts = []
    for owner in opt.owners:
        for f in reg.get(owner).options():
            if f.name == opt.name:
                parts.append(f"{owner}: {field_default(f)!r}")
    return f"{opt.component} option; default " + ", ".join(parts)


def add_train(p: argparse.ArgumentParser, stack: bool = False) -> None:
    from vaelab.training.config import COMPONENTS

    what = "stack" if stack else "run"
    p.add_argument("--out", required=True, help=f"{what} directory to write")
    p.add_argument("--config", help="a JSON or YAML file of options (nested sections as in a "
                   "run's config.json, or flat options); flags override it")
    if not stack:
        p.add_argument("--preset", metavar="TABLE/ROW", help="start from a paper's "
                       "configuration (`vaelab presets` lists them); flags override it and "
                       "config.json records both")
    p.add_argument("--resume", action="store_true", help=f"continue the {what} in --out "
                   "exactly where it stopped; may change only " +
                   ", ".join(_flag(r) for r in RESUMABLE))
    if stack:
        p.add_argument("--grid", nargs="+", metavar="NAME=V1,V2", help="the runs: every "
                       "combination of these values, e.g. seed=0,1,2 lr=1e-3,3e-4 k=1,5,50 "
                       "objective=elbo,iwae layers=1,2 (seed, lr, schedule and any model, "
                       "objective or estimator option)")
    else:
        p.add_argument("--overwrite", action="store_true", help="replace an existing run in "
                       "--out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object: the run "
                   "directory and the last epoch's metrics")
    groups = {s: p.add_argument_group(f"{s} options") for s in
              ("model", "data", "objective", "estimator", "optim", "eval", "runtime")}
    for name, opt in option_catalogue().items():
        if name in ("objective_args", "estimator_args"):
            continue
        g = groups[opt.section or opt.component or "runtime"]
        text = " ".join(t for t in (opt.help, f"({_defaults_text(opt)})" if _defaults_text(opt)
                                    else "") if t)
        if name in COMPONENTS and name != "model":
            reg = COMPONENTS[name][2]
            text += ". " + "; ".join(f"{e.name}: {e.help}" for e in reg.entries())
        if name == "model":
            text += ". Registered: " + "; ".join(f"{e.name}: {e.help}"
                                                 for e in COMPONENTS["model"][2].entries())
        text = text.replace("%", "%%")
        kw: dict = {"default": argparse.SUPPRESS, "help": text, "dest": name}
        if isinstance(opt.default, bool):
            g.add_argument(_flag(name), action="store_true", **kw)
        elif isinstance(opt.default, dict):
            g.add_argument(_flag(name), type=_json_object, metavar="JSON", **kw)
        elif isinstance(opt.default, tuple):
            g.add_argument(_flag(name), nargs="+", choices=opt.choices, **kw)
        else:
            g.add_argument(_flag(name), type=type(opt.default), choices=opt.choices, **kw)


def given_options(args: argparse.Namespace) -> dict:
    cat = option_catalogue()
    return {k: (tuple(v) if isinstance(cat[k].default, tuple) else v)
            for k, v in vars(args).items() if k in cat}


def _summary(rec: dict) -> str:
    """``epoch 5: train_iwae_k5 -95.123, valid_L100 -93.456``"""
    shown = ", ".join(f"{k} {v:.3f}" for k, v in rec.items() if k.startswith(("train_", "valid_")))
    return f"epoch {rec['epoch']}: {shown}"


def run_train(args: argparse.Namespace) -> int:
    from vaelab.training.config import RunConfig, config_from_file
    from vaelab.training.trainer import resume_config, train

    options = given_options(args)
    preset = None
    if args.resume:
        if args.config or args.preset:
            raise ConfigError("--resume continues the stored configuration; drop "
                              f"{'--config' if args.config else '--preset'}")
        from vaelab.training.rundir import RunDir

        RunDir(args.out).settle()  # an interrupted --overwrite: the old run comes back first
        cfg = resume_config(RunConfig.load(args.out), options)
    elif args.preset:
        from vaelab.reproduce.presets import get_preset

        if args.config:
            raise ConfigError("give --preset or --config, not both (flags override either)")
        p = get_preset(args.preset)
        cfg = RunConfig.from_options({**p.options, **options})
        preset = {"name": p.name, "overrides": options, "published_nll": p.published,
                  "citation": p.citation}
    else:
        base = config_from_file(args.config) if args.config else None
        cfg = RunConfig.from_options(options, base)
    rec = train(cfg, args.out, resume=args.resume, overwrite=args.overwrite,
                progress=not args.no_progress, preset=preset)
    if args.json:
        print(json.dumps({"run": str(args.out), **rec}))
        return 0
    if rec:
        print(_summary(rec))
    print(f"run written to {args.out} (config.json, checkpoints/, metrics.jsonl, tb/)")
    return 0


def add_train_stack(p: argparse.ArgumentParser) -> None:
    add_train(p, stack=True)


def run_train_stack(args: argparse.Namespace) -> int:
    from vaelab.training.config import RunConfig, config_from_file
    from vaelab.training.stack_trainer import parse_grid, train_stack

    options = given_options(args)
    if args.resume:
        if args.config or args.grid:
            raise ConfigError("--resume continues the stored stack; drop --config and --grid")
        recs = train_stack(None, args.out, resume=True, changes=options,
                           progress=not args.no_progress)
    else:
        if not args.grid:
            raise ConfigError("a stack needs --grid, e.g. --grid seed=0,1,2 lr=1e-3,3e-4")
        grid = parse_grid(args.grid)
        both = sorted(set(grid) & set(options))
        if both:
            raise ConfigError(f"--{both[0].replace('_', '-')} is given and in --grid; give it "
                              "once")
        base = config_from_file(args.config) if args.config else None
        cfg = RunConfig.from_options(options, base)
        recs = train_stack(cfg, args.out, grid, progress=not args.no_progress)
    if args.json:
        print(json.dumps({"stack": str(args.out),
                          "runs": [{"run": str(Path(args.out) / n), **r}
                                   for n, r in recs.items()]}))
        return 0
    for n, rec in recs.items():
        if rec:
            print(f"{n}: {_summary(rec)}")
    print(f"{len(recs)} runs written under {args.out} (one run directory each)")
    return 0
