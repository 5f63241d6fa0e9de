"""``vaelab presets`` and ``vaelab reproduce``: paper configurations and published tables."""

from __future__ import annotations

import argparse
import json

from vaelab.errors import ConfigError


def add_presets(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", nargs="?", help="only this table's rows")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run_presets(args: argparse.Namespace) -> int:
    from vaelab.reproduce.presets import TABLES, get_table

    tables = [get_table(args.table)] if args.table else list(TABLES.values())
    if args.json:
        print(json.dumps({t.name: [{"name": p.name, "row": p.row, "published_nll": p.published,
                                    "citation": p.citation, "data_note": p.data_note,
                                    "eval_k": p.eval_k, "checkpoint": p.checkpoint,
                                    "options": p.options} for p in t.rows] for t in tables}))
        return 0
    for t in tables:
        print(f"{t.name}: {t.title}")
        for p in t.rows:
            print(f"  {p.name:<28} {p.published:6.2f} nats  {p.row}")
        print(f"  source: {t.rows[0].citation}\n  data: {t.rows[0].data_note}")
    print("train one: vaelab train --preset TABLE/ROW --out DIR; a whole table: vaelab "
          "reproduce TABLE --out DIR")
    return 0


def parse_sets(items: list[str]) -> dict:
    """``["epochs=1", "dataset=embedded"]`` -> options of their catalogue types."""
    from vaelab.training.config import option_value, split_assignment

    out: dict = {}
    for item in items:
        name, text = split_assignment(item, "--set", "NAME=VALUE (e.g. epochs=10)")
        if name in out:
            raise ConfigError(f"--set gives {name} twice ({out[name]!r} and {text!r}); give it "
                              "once")
        out[name] = option_value(name, text, "--set")
    return out


def add_reproduce(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", help="the published table: burda2015 or tomczak2018 (`vaelab "
                   "presets` lists their rows)")
    p.add_argument("--out", required=True, help="folder of the table's runs, one run "
                   "directory a row; the same command continues them")
    p.add_argument("--rows", nargs="+", metavar="ROW", help="only these rows (default: all)")
    p.add_argument("--time-limit", type=float, default=0.0, metavar="MIN", help="minutes of "
                   "training in this call, all rows together, ending with the epoch that passes "
                   "them (so at least one epoch; 0: no limit); every epoch is checkpointed")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="NAME=VALUE",
                   help="options over "
                   "every row's preset (e.g. epochs=1 dataset=embedded for a quick trial); "
                   "recorded in each run")
    p.add_argument("--seeds", type=int, default=1, help="train and score each row with this "
                   "many seeds (the preset's, then the next ones), one after another; the row's "
                   "number is their mean, with the standard error over seeds")
    p.add_argument("--eval-examples", type=int, default=0, help="score on this many test "
                   "images, a fixed random subset (0: all, the papers' protocol)")
    p.add_argument("--eval-k", type=int, default=None, help="importance samples for the NLL "
                   "(default: the paper's, 5000)")
    p.add_argument("--max-hours", type=float, default=12.0, help="do not start a row whose "
                   "projected training on this machine exceeds this")
    p.add_argument("--threads", type=int, default=None, help="threads at most (default: "
                   "torch's); each row trains with the fastest measured of 1 and this many")
    p.add_argument("--compile", default="auto", choices=("auto", "off", "default"),
                   help="auto: measure eager and compiled steps and train with the faster")
    p.add_argument("--project", action="store_true", help="only measure seconds per epoch of "
                   "every row and setting and project each full schedule (no training)")
    p.add_argument("--no-train", action="store_true", help="only score finished rows and print "
                   "the table")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the table as one JSON object")


def run_reproduce(args: argparse.Namespace) -> int:
    from vaelab.reproduce.presets import get_table
    from vaelab.reproduce.table import format_projection, format_table, project, reproduce

    if args.project:
        rows = project(args.table, args.out, args.rows, overrides=parse_sets(args.set),
                       max_threads=args.threads, compile=args.compile)
        print(json.dumps({"table": args.table, "projection": rows}) if args.json else
              format_projection(rows))
        return 0
    rows = reproduce(args.table, args.out, args.rows, time_limit=args.time_limit,
                     overrides=parse_sets(args.set), eval_examples=args.eval_examples,
                     eval_k=args.eval_k, max_hours=args.max_hours, train=not args.no_train,
                     max_threads=args.threads, compile=args.compile,
                     progress=not args.no_progress, seeds=args.seeds)
    if args.json:
        print(json.dumps({"table": args.table, "rows": rows}))
    else:
        print(format_table(get_table(args.table).title, rows))
    return 0
