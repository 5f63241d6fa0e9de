"""``vaelab reproduce TABLE --out DIR``: train a published table's rows from their presets,
resumably, score each finished row with the paper's protocol, and put vaelab's number beside
the paper's::

    DIR/<row>/                 a complete run directory (``vaelab train --preset TABLE/<row>``)
    DIR/<row>/reproduce.json   the row's score: NLL (K = 5000, all test images) with both
                               errors, and each image's L_K, its Monte Carlo error and its
                               position in the test split (to recompute or pair rows)
    DIR/<row>-seed<s>/         with ``seeds`` > 1: the row again with seed s (the preset's seed
                               + 1, + 2, ...), each a complete run with its reproduce.json
    DIR/speed.json             measured seconds per step and epoch, per row and setting
    DIR/table.json             the table: one object per row (also printed, and in
                               ``vaelab report DIR``); a call writes the rows it was asked
                               for and keeps the others' last state

A row is *done* once its schedule has finished (every epoch, or early stopping) and it has been
scored; until then the table says how far it got and never shows a number for it. With
``seeds`` > 1 a row is done once every seed is: its number is the mean over seeds, with a third
error bar, the standard error of that mean over seeds. The seeds train one after another: a
stack of runs trains all its runs to the last epoch, and early stopping ends seeds at different
epochs. A row whose projected training time (all its seeds) exceeds ``max_hours`` is not
trained: it says how long it needs and the command that trains it. Each call trains for
``time_limit`` minutes in all (stopping at the end of the epoch that passes it, so at least one
epoch), checkpointed every epoch, and the same command continues. A row folder that keeps a
finished run's whole score but not its checkpoints (the score files committed under
``benchmarks/results/``) is done as scored: never trained or scored again, and another
protocol (``eval_k``, ``eval_examples``) for it is refused.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from vaelab.errors import ConfigError
from vaelab.reproduce.presets import Preset, Table, get_table
from vaelab.reproduce.speed import (
    COMPILE_CHOICES,
    Timing,
    candidate_settings,
    fastest,
    time_setting,
)
from vaelab.stats import stderr
from vaelab.training.config import MAX_SEED, RESUMABLE, RunConfig
from vaelab.training.rundir import RunDir

# No GPU has run these rows yet: the GPU estimate assumes a compiled step (CUDA graphs) of about
# 1 ms for these small MLPs, and says it is an assumption wherever it is shown.
ASSUMED_GPU_STEP_MS = 1.0


def machine() -> str:
    """The CPU's model and core count, or the GPU's name; torch's version."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores (torch {torch.__version__})"


@dataclass
class Status:
    epoch: int
    epochs: int
    finished: bool
    why: str  # "schedule", "early stopping", or "" (not finished)


def row_config(preset: Preset, overrides: dict) -> RunConfig:
    return RunConfig.from_options({**preset.options, **overrides})


def defining(cfg: RunConfig) -> dict:
    """The options that define a run (a resumed run may change the others)."""
    return {k: v for k, v in cfg.effective().items() if k not in RESUMABLE}


def row_status(run: RunDir, cfg: RunConfig) -> Status:
    """How far the run in ``run`` got: its last checkpoint's epoch, and whether its schedule
    ended (all epochs, or early stopping's patience used up). A folder that keeps a finished
    run's whole score but not its checkpoints (``benchmarks/results/``) is finished at the
    epoch it was scored at."""
    from vaelab.training.checkpoint import load_latest

    if not run.has_checkpoint:
        score = _whole_score(run.path / SCORE_FILE)
        if score is None:
            return Status(0, cfg.optim.epochs, False, "")
        epoch = int(score["protocol"]["epoch"])
        return Status(epoch, cfg.optim.epochs, True,
                      "schedule" if epoch >= cfg.optim.epochs else "early stopping")
    _, header, _ = load_latest(run.last)
    meta = header["meta"]
    epoch = int(meta["epoch"])
    if epoch >= cfg.optim.epochs:
        return Status(epoch, cfg.optim.epochs, True, "schedule")
    if cfg.eval.patience and meta.get("bad_evals", 0) >= cfg.eval.patience:
        return Status(epoch, cfg.optim.epochs, True, "early stopping")
    return Status(epoch, cfg.optim.epochs, False, "")


def epochs_left(statuses: list[Status]) -> int:
    """Epochs a row's seeds have still to train (an early-stopped seed: none)."""
    return sum(0 if st.finished else st.epochs - st.epoch for st in statuses)


SCORE_FILE = "reproduce.json"
MAX_EVAL_K = 1_000_000  # `vaelab eval --k`'s ceiling too
MAX_SEEDS = 100
MIN_MINUTES = 1e-6  # the time limit given to a row trained after the deadline: one epoch


def check_row_dir(run: RunDir, cfg: RunConfig, preset: Preset) -> None:
    """A row directory that holds a run must hold this row's run (same defining options)."""
    if not run.config.is_file():
        return
    stored = RunConfig.load(run.path)
    a, b = defining(stored), defining(cfg)
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if diff:
        k = diff[0]
        raise ConfigError(f"{run.path} holds a run that is not row {preset.name} as asked "
                          f"(--{k.replace('_', '-')} {a.get(k)!r}, the row: {b.get(k)!r}); "
                          "give another --out, or the same --set options as before")


def command(table: str, row: str, out: Path, overrides: dict, seeds: int = 1) -> str:
    sets = " ".join(f"{k}={v}" for k, v in overrides.items())
    return (f"vaelab reproduce {table} --out {out} --rows {row}" +
            (f" --seeds {seeds}" if seeds > 1 else "") + (f" --set {sets}" if sets else ""))


@dataclass(frozen=True)
class Member:
    """One seed of a row: its run directory and the options over the preset that make it."""
    seed: int
    path: Path
    overrides: dict


def members(preset: Preset, out: Path, overrides: dict, seeds: int) -> list[Member]:
    """The row's seeds: the preset's (or --set's) seed in ``out/<row>``, the next ``seeds`` - 1
    in ``out/<row>-seed<s>``."""
    base = row_config(preset, overrides).runtime.seed
    return [Member(base + i, out / (preset.row_name if not i else f"{preset.row_name}-seed"
                                    f"{base + i}"),
                   overrides if not i else {**overrides, "seed": base + i})
            for i in range(seeds)]


def seed_mean_per_image(scores: list[dict]) -> torch.Tensor:
    """Each test image's L_K ``[N]`` averaged over a row's seeds (their scores, all of the
    same images with the same K)."""
    k = str(scores[0]["nll_k"])
    return torch.tensor([s["per_example"][k] for s in scores], dtype=torch.float64).mean(0)


def seed_summary(published: float, scores: list[dict]) -> dict:
    """A row's number from its seeds' scores (each scored on the same test images): the mean
    NLL; ± test images: the standard error over images of each image's mean over seeds; ± Monte
    Carlo: sqrt(sum of squares) / n (independent draws); with two or more seeds, the standard
    deviation over seeds and the standard error of the mean over seeds (sd / sqrt(n))."""
    n = len(scores)
    nlls = [s["nll"] for s in scores]
    mean = sum(nlls) / n
    out = {"nll": mean, "diff": mean - published,
           "nll_stderr": stderr(seed_mean_per_image(scores)),
           "nll_mc_stderr": math.sqrt(sum(s["nll_mc_stderr"] ** 2 for s in scores)) / n}
    if n > 1:
        sd = math.sqrt(sum((v - mean) ** 2 for v in nlls) / (n - 1))
        out.update(nll_seed_sd=sd, nll_seed_stderr=sd / math.sqrt(n))
    return out


def projected_hours(t: Timing, epochs: int) -> float:
    """Training hours for ``epochs`` at the measured rate, plus one compile (about 30 s on a
    CPU) for a compiled step: a KL warm-up's weight is an input of the graph, not a new one."""
    compile_s = 30.0 if t.setting.compile else 0.0
    return (epochs * t.epoch_seconds + compile_s) / 3600


def gpu_minutes(cfg: RunConfig, n_train: int) -> float:
    steps = cfg.optim.epochs * math.ceil(n_train / cfg.optim.batch_size)
    return steps * ASSUMED_GPU_STEP_MS / 60000


@dataclass
class Reproduction:
    table: Table
    out: Path
    overrides: dict
    eval_examples: int = 0       # 0: the whole test split (the papers' protocol)
    eval_k: int | None = None    # None: the preset's (5000)
    max_hours: float = 12.0
    max_threads: int | None = None
    compile: str = "auto"
    progress: bool = False
    seeds: int = 1

    def members(self, preset: Preset) -> list[Member]:
        return members(preset, self.out, self.overrides, self.seeds)

    def __post_init__(self) -> None:
        self.speed_path = self.out / "speed.json"
        self.speed: dict = (json.loads(self.speed_path.read_text())
                            if self.speed_path.is_file() else {})

    # ---- one row ------------------------------------------------------------------------
    def timings(self, preset: Preset, cfg: RunConfig, data) -> list[Timing]:
        key = preset.row_name
        wanted = candidate_settings(self.max_threads, self.compile)
        stored = {(d["threads"], d["compile"]): d
                  for d in self.speed.get(key, {}).get("settings", [])}
        missing = [s for s in wanted if (s.threads, s.compile) not in stored]
        if missing:  # measure what this call may use and has not measured yet
            for s in missing:
                stored[(s.threads, s.compile)] = time_setting(cfg, s, data).to_dict()
            self.out.mkdir(parents=True, exist_ok=True)
            # another call may train other rows of this table beside this one (one a core):
            # its rows' timings, written since this call started, are kept
            on_disk = (json.loads(self.speed_path.read_text())
                       if self.speed_path.is_file() else {})
            self.speed = {**self.speed, **on_disk,
                          key: {"machine": machine(), "settings": list(stored.values())}}
            _write(self.speed_path, self.speed)
        return [Timing.from_dict(stored[(s.threads, s.compile)]) for s in wanted]

    def statuses(self, preset: Preset, cfg: RunConfig) -> list[Status]:
        return [row_status(RunDir(m.path), cfg) for m in self.members(preset)]

    def train_row(self, preset: Preset, cfg: RunConfig, member: Member,
                  minutes: float) -> bool:
        """Train one seed of a row for ``minutes`` (0: to its end); False if the row's
        projected hours exceed ``max_hours`` and nothing was trained."""
        from vaelab.data.registry import load_data
        from vaelab.training.trainer import resume_config, train

        run = RunDir(member.path)
        data, _ = load_data(cfg.data)
        best = fastest(self.timings(preset, cfg, data))
        hours = projected_hours(best, epochs_left(self.statuses(preset, cfg)))
        if hours > self.max_hours:
            return False  # the table reports it as not run, with what it needs
        if self.progress:
            st = row_status(run, cfg)
            seed = f" (seed {member.seed})" if self.seeds > 1 else ""
            limit = ("" if not minutes else
                     "; one epoch (the time limit has passed), rerun to go on"
                     if minutes <= MIN_MINUTES else
                     f"; stops at an epoch's end after {minutes:.3g} min, rerun to go on")
            print(f"reproduce {preset.name}{seed}: epoch {st.epoch} of {st.epochs} done; "
                  f"training with {best.setting.label} ({best.epoch_seconds:.1f} s an epoch "
                  f"measured here, up to {hours:.1f} h for the rest of the row's schedule)"
                  f"{limit}", file=sys.stderr, flush=True)
        # the row's length comes from the row (preset and --set), not from an earlier call's
        changes = {"compile": best.setting.compile, "time_limit": minutes,
                   "epochs": cfg.optim.epochs}
        torch.set_num_threads(best.setting.threads)
        if run.has_checkpoint:
            train(resume_config(RunConfig.load(run.path), changes), run.path, resume=True,
                  progress=self.progress)
        else:
            start = RunConfig.from_options({**preset.options, **member.overrides, **changes})
            train(start, run.path, progress=self.progress,
                  preset={"name": preset.name, "overrides": member.overrides,
                          "published_nll": preset.published, "citation": preset.citation})
        return True

    def protocol(self, preset: Preset, status: Status) -> dict:
        """How a finished seed is scored: its checkpoint, K, test images, epoch."""
        return {"checkpoint": preset.checkpoint, "k": self.eval_k or preset.eval_k,
                "examples": self.eval_examples, "epoch": status.epoch}

    def score_row(self, preset: Preset, run_dir: Path, status: Status) -> dict:
        """A seed's reproduce.json: scored once per finished run and protocol."""
        from vaelab.eval import evaluate
        from vaelab.eval.recipes import subset_index
        from vaelab.training import load_run

        path = run_dir / SCORE_FILE
        protocol = self.protocol(preset, status)
        k = protocol["k"]
        if path.is_file():
            old = _reusable_score(path, protocol)
            if old is not None:
                return old
        run = load_run(run_dir, preset.checkpoint, "auto")
        test = run.split("test")
        index = subset_index(len(test), self.eval_examples, 0)
        ev = evaluate(run.model, test[index], (1, k), seed=0,
                      binarize=run.data.dynamic_binarize, progress=self.progress)
        score = {"protocol": protocol, "machine": machine(), "data": run.data.name,
                 "split": "test", **ev, "per_example_index": index.tolist()}
        _write(path, score)
        return score

    # ---- the table ----------------------------------------------------------------------
    def row(self, preset: Preset) -> dict:
        cfg = row_config(preset, self.overrides)
        ms = self.members(preset)
        statuses = self.statuses(preset, cfg)
        hours = [sum(rec.get("epoch_seconds", 0.0) for rec in RunDir(m.path).read_metrics())
                 / 3600 for m in ms]
        paper_protocol = not self.eval_examples and self.eval_k in (None, preset.eval_k)
        whys = {st.why for st in statuses}
        r = {"row": preset.row_name, "label": preset.row, "published": preset.published,
             "citation": preset.citation, "data_note": preset.data_note,
             "epochs": min(st.epoch for st in statuses), "schedule_epochs": cfg.optim.epochs,
             "stopped": whys.pop() if len(whys) == 1 else "", "paper_protocol": paper_protocol,
             "command": command(self.table.name, preset.row_name, self.out, self.overrides,
                                self.seeds),
             "train_hours": sum(hours)}
        if self.seeds > 1:
            r["seeds"] = [{"seed": m.seed, "run": str(m.path), "epochs": st.epoch,
                           "stopped": st.why, "train_hours": h}
                          for m, st, h in zip(ms, statuses, hours)]
        if all(st.finished for st in statuses):
            scores = [self.score_row(preset, m.path, st) for m, st in zip(ms, statuses)]
            s = scores[0]
            r.update(status="done", **seed_summary(preset.published, scores),
                     eval_k=s["nll_k"], eval_examples=s["n_examples"],
                     eval_seconds=sum(x["seconds"] for x in scores), machine=s["machine"])
            if self.seeds > 1:
                for entry, x in zip(r["seeds"], scores):
                    entry.update(nll=x["nll"], nll_stderr=x["nll_stderr"],
                                 nll_mc_stderr=x["nll_mc_stderr"],
                                 active_units=x.get("active_units"))
            else:
                r["active_units"] = s.get("active_units")
            return r
        speed = self.speed.get(preset.row_name)
        projected = 0.0
        if speed:
            wanted = {(s.threads, s.compile)
                      for s in candidate_settings(self.max_threads, self.compile)}
            stored = [Timing.from_dict(d) for d in speed["settings"]]
            # the settings this call may train with, as train_row chooses (all, if unmeasured)
            best = fastest([t for t in stored if (t.setting.threads, t.setting.compile)
                            in wanted] or stored)
            projected = projected_hours(best, epochs_left(statuses))
            r.update(setting=best.setting.label, epoch_seconds=best.epoch_seconds,
                     projected_hours=projected, machine=speed["machine"])
            if projected > self.max_hours and not any(st.epoch for st in statuses):
                from vaelab.data.registry import load_data

                n = len(load_data(cfg.data)[0].train)
                r["status"] = (f"not run: needs about {projected:.0f} CPU-hours here, or about "
                               f"{self.seeds * gpu_minutes(cfg, n):.0f} GPU-minutes (assumed "
                               f"{ASSUMED_GPU_STEP_MS:g} ms a compiled step)")
                return r
        if self.seeds == 1:
            st = statuses[0]
            r["status"] = (f"training: epoch {st.epoch} of {st.epochs}" if st.epoch
                           else "not started")
        elif not any(st.epoch for st in statuses):
            r["status"] = "not started"
        else:
            i = next(i for i, st in enumerate(statuses) if not st.finished)
            done = sum(st.finished for st in statuses)
            r["status"] = (f"training: {done} of {self.seeds} seeds done; seed {ms[i].seed}: "
                           f"epoch {statuses[i].epoch} of {statuses[i].epochs}")
        if projected > self.max_hours:  # started, but no call with this limit trains it on
            r["status"] += (f"; the rest needs about {projected:.1f} CPU-hours here, more than "
                            f"--max-hours {self.max_hours:g}: give a larger one to go on")
        return r

    def run(self, rows: list[str] | None, time_limit: float, train: bool = True) -> list[dict]:
        presets = [self.table.row(n) for n in rows] if rows else list(self.table.rows)
        for p in presets:  # validate every row's every seed before anything is written
            for m in self.members(p):
                run, cfg = RunDir(m.path), row_config(p, m.overrides)
                check_row_dir(run, cfg, p)
                if not run.has_checkpoint and (score := _whole_score(run.path / SCORE_FILE)):
                    asked = self.protocol(p, row_status(run, cfg))
                    if score["protocol"] != asked:
                        raise ConfigError(
                            f"{run.path} keeps the score of a finished run but not its "
                            f"checkpoints, so it cannot be scored again: it was scored with "
                            f"K = {score['protocol']['k']} on "
                            f"{score['protocol']['examples'] or 'all'} test images; give "
                            "those (--eval-k, --eval-examples), or the folder with the "
                            "run's checkpoints")
        deadline = time.monotonic() + 60 * time_limit if time_limit else math.inf
        table, trained = [], False
        for p in presets:  # each row's seeds trained (while time is left), then scored at once
            for m in self.members(p):
                cfg = row_config(p, m.overrides)
                left = (deadline - time.monotonic()) / 60
                # like `vaelab train --time-limit`, a call trains at least one epoch: however
                # small the limit or busy the machine, each call moves the table on
                if (train and (left > 0 or not trained)
                        and not row_status(RunDir(m.path), cfg).finished):
                    trained |= self.train_row(p, cfg, m,
                                              max(left, MIN_MINUTES) if time_limit else 0.0)
            table.append(self.row(p))
        self.out.mkdir(parents=True, exist_ok=True)
        _write(self.out / "table.json", {"table": self.table.name, "title": self.table.title,
                                         "rows": self._merged(table)})
        return table

    def _merged(self, rows: list[dict]) -> list[dict]:
        """The table's rows in its order: this call's, and the rows another call (or an earlier
        one) wrote that this call was not asked for, as they were written."""
        earlier: dict = {}
        try:
            doc = json.loads((self.out / "table.json").read_text())
            if doc.get("table") == self.table.name:
                earlier = {r["row"]: r for r in doc["rows"]}
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none yet, or damaged: this call's rows only
        now = {r["row"]: r for r in rows}
        return [now.get(p.row_name) or earlier[p.row_name] for p in self.table.rows
                if p.row_name in now or p.row_name in earlier]


def _reusable_score(path: Path, protocol: dict) -> dict | None:
    """The score in ``path`` if it was made with ``protocol`` and is whole; None (score again)
    for a damaged file, another protocol, or a score from before the per-image values were
    kept (the same seed gives the same number again, now with the values behind it)."""
    old = _whole_score(path)
    return old if old is not None and old["protocol"] == protocol else None


def _whole_score(path: Path) -> dict | None:
    """The score in ``path`` if it is whole (its protocol, numbers and every image's finite
    L_K), else None: missing, damaged, or from before the per-image values were kept."""
    try:
        old = json.loads(path.read_text())
        protocol = old["protocol"]
        int(protocol["epoch"])
        each = torch.tensor(old["per_example"][str(protocol["k"])], dtype=torch.float64)
        float(old["nll"]), float(old["nll_stderr"]), float(old["nll_mc_stderr"])
        ok = (each.shape == (old["n_examples"],) == (len(old["per_example_index"]),)
              and bool(torch.isfinite(each).all()))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError, KeyError,
            TypeError, ValueError, RuntimeError):
        return None
    return old if ok else None


def _write(path: Path, obj) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # calls side by side: one each
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def reproduce(table: str, out: str | Path, rows: list[str] | None = None, *,
              time_limit: float = 0.0, overrides: dict | None = None, eval_examples: int = 0,
              eval_k: int | None = None, max_hours: float = 12.0, train: bool = True,
              max_threads: int | None = None, compile: str = "auto",
              progress: bool = False, seeds: int = 1) -> list[dict]:
    """Train (for at most ``time_limit`` minutes; 0: no limit) and score the rows of ``table``
    into ``out``; return the table, one dict per row (see the module docstring). Each row
    trains with the fastest of the settings ``max_threads`` and ``compile`` allow, measured
    here (``vaelab.reproduce.speed``). ``seeds``: train and score each row with this many
    seeds, one after another (see the module docstring)."""
    if time_limit < 0 or not math.isfinite(time_limit):
        raise ConfigError(f"--time-limit must be >= 0 minutes, got {time_limit}")
    if not max_hours > 0:  # NaN fails this too; inf means no limit
        raise ConfigError(f"--max-hours must be > 0 (inf: no limit), got {max_hours}")
    if eval_examples < 0:
        raise ConfigError(f"--eval-examples must be >= 0 (0: all test images), got "
                          f"{eval_examples}")
    if eval_k is not None and not 1 <= eval_k <= MAX_EVAL_K:
        raise ConfigError(f"--eval-k must be from 1 to {MAX_EVAL_K:,}, got {eval_k}")
    t = get_table(table)
    if Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the table's runs")
    rows = list(dict.fromkeys(rows)) if rows else rows  # a row named twice runs once
    overrides = dict(overrides or {})
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"--seeds must be from 1 to {MAX_SEEDS}, got {seeds}")
    for p in ([t.row(r) for r in rows] if rows else t.rows):
        base = row_config(p, overrides).runtime.seed  # every override is valid for every row
        if base + seeds - 1 > MAX_SEED:
            raise ConfigError(f"--seeds {seeds} from seed {base} passes 2^63 - 1; give a "
                              "smaller seed with --set seed=N")
    if max_threads is not None and max_threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {max_threads}")
    if compile not in COMPILE_CHOICES:
        raise ConfigError(f"--compile must be one of {', '.join(COMPILE_CHOICES)}, not "
                          f"{compile!r}")
    rep = Reproduction(t, Path(out), overrides, eval_examples, eval_k, max_hours, max_threads,
                       compile, progress, seeds)
    return rep.run(rows, time_limit, train)


def project(table: str, out: str | Path, rows: list[str] | None = None, *,
            overrides: dict | None = None, max_threads: int | None = None,
            compile: str = "auto") -> list[dict]:
    """Measure every setting of every row (``OUT/speed.json``) and project each full schedule:
    seconds per epoch by setting, and the training hours at the fastest."""
    from vaelab.data.registry import load_data

    t = get_table(table)
    if Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the table's runs")
    rep = Reproduction(t, Path(out), dict(overrides or {}), max_threads=max_threads,
                       compile=compile)
    result = []
    for p in ([t.row(r) for r in rows] if rows else t.rows):
        cfg = row_config(p, rep.overrides)
        data, _ = load_data(cfg.data)
        timings = rep.timings(p, cfg, data)
        best = fastest(timings)
        result.append({"row": p.row_name, "epochs": cfg.optim.epochs,
                       "settings": [t_.to_dict() for t_ in timings],
                       "fastest": best.setting.label,
                       "projected_hours": projected_hours(best, cfg.optim.epochs),
                       "gpu_minutes_assumed": gpu_minutes(cfg, len(data.train)),
                       "machine": rep.speed[p.row_name]["machine"]})
    return result


def format_projection(rows: list[dict]) -> str:
    labels = [s["label"] for s in rows[0]["settings"]]
    lines = [f"{'row':<16} {'epochs':>6} " + " ".join(f"{lb:>26}" for lb in labels) +
             f" {'full schedule':>14}", f"{'':<16} {'':>6} " +
             " ".join(f"{'s/epoch':>26}" for _ in labels) + f" {'hours (fastest)':>14}"]
    for r in rows:
        lines.append(f"{r['row']:<16} {r['epochs']:>6} " +
                     " ".join(f"{s['epoch_seconds']:26.2f}" for s in r["settings"]) +
                     f" {r['projected_hours']:14.1f}")
    lines.append(f"machine: {rows[0]['machine']}; an epoch = its training steps + one "
                 "validation pass per eval_every epochs")
    return "\n".join(lines)


def format_table(title: str, rows: list[dict]) -> str:
    """The table as text: paper, vaelab, difference and both errors for done rows; the status
    for the others (never a number for an unfinished row)."""
    head = (f"{title}\n{'row':<16} {'paper':>7} {'vaelab':>8} {'diff':>7} {'±images':>8} "
            f"{'±MC':>6} {'±seeds':>7} {'epochs':>11} {'hours':>6}  status")
    lines = [head]
    for r in rows:
        ep = f"{r['epochs']}/{r['schedule_epochs']}"
        if r.get("status") == "done":
            flag = "" if r["paper_protocol"] else (f" (K={r['eval_k']}, {r['eval_examples']} "
                                                   "images: not the paper's protocol)")
            seeds = r.get("nll_seed_stderr")
            lines.append(f"{r['row']:<16} {r['published']:7.2f} {r['nll']:8.2f} "
                         f"{r['diff']:+7.2f} {r['nll_stderr']:8.2f} {r['nll_mc_stderr']:6.3f} "
                         f"{'-' if seeds is None else f'{seeds:.2f}':>7} "
                         f"{ep:>11} {r['train_hours']:6.2f}  {done_status(r)}{flag}")
        else:
            lines.append(f"{r['row']:<16} {r['published']:7.2f} {'-':>8} {'-':>7} {'-':>8} "
                         f"{'-':>6} {'-':>7} {ep:>11} {r['train_hours']:6.2f}  {r['status']}")
    machines = sorted({r["machine"] for r in rows if r.get("machine")})
    lines.append("NLL in nats (lower is better); ±images: standard error over test images; ±MC: "
                 "Monte Carlo error of the K-sample estimate; ±seeds: standard error of the "
                 "mean over seeds (with several seeds: the row is their mean, ±images over the "
                 "images' means over seeds); epochs: done by every seed")
    if machines:
        lines.append("machine: " + "; ".join(machines))
    return "\n".join(lines)


def done_status(r: dict) -> str:
    """``done``, how the schedule ended, and each seed's NLL when there are several."""
    text = "done" + (" (early stopping)" if r.get("stopped") == "early stopping" else "")
    if r.get("seeds"):
        text += (f"; {len(r['seeds'])} seeds: " +
                 ", ".join(f"{s['nll']:.2f} (seed {s['seed']}, {s['epochs']} epochs"
                           f"{', early stopping' if s['stopped'] == 'early stopping' else ''})"
                           for s in r["seeds"]))
    return text
