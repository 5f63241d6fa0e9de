"""A run directory, what it holds, and the rules that keep it whole::

    RUN/config.json            {"vaelab": version, "train": RunConfig, "model": spec,
                                "data": summary with identity and image shape}
    RUN/model.py               a copy of a user's model file (so the run loads anywhere)
    RUN/checkpoints/{last,best}.safetensors (+ last.prev.safetensors, the one before)
    RUN/metrics.jsonl          one JSON object per epoch, exactly the epochs of the checkpoint
    RUN/tb/                    TensorBoard logs
    RUN/.lock                  held (flock) by the one process training in this directory
    RUN/.previous/             a replaced run, kept until the new one's first checkpoint

A run that was killed before its first checkpoint holds no training yet: starting it again
needs no ``--overwrite``. A crash can cost at most the epoch in progress: the checkpoint carries
its epoch's metrics record, and metrics.jsonl is rebuilt from it on resume.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

from vaelab.errors import ConfigError, storage_error

try:  # POSIX; elsewhere the lock degrades to a PID file checked for liveness
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

RUN_FILES = ("config.json", "checkpoints", "metrics.jsonl", "tb", "model.py")


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
        self.lock_file = self.path / ".lock"
        self.aside = self.path / ".previous"
        self._lock_fd: int | None = None

    # ---- state ------------------------------------------------------------------------------
    @property
    def has_checkpoint(self) -> bool:
        """At least one checkpoint here (the latest, or the one before it)."""
        from vaelab.training.checkpoint import previous

        return self.last.is_file() or previous(self.last).is_file()

    @property
    def holds_run(self) -> bool:
        """A trained run is here, or set aside by an ``--overwrite`` that has not finished."""
        from vaelab.training.checkpoint import previous

        old = self.aside / "checkpoints" / "last.safetensors"
        return self.has_checkpoint or old.is_file() or previous(old).is_file()

    def check(self, resume: bool, overwrite: bool) -> None:
        """Refuse, before anything is written, what the directory's state does not allow."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--out {self.path} is a file; give a directory for the run")
        parent = self.path if self.path.exists() else _existing_parent(self.path)
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"--out {self.path}: {parent} is not writable; choose a directory "
                              "you can write to")
        if (self.path / "stack.json").is_file():
            raise ConfigError(f"{self.path} holds a stack of runs (`vaelab train-stack`); "
                              "continue it with `vaelab train-stack --resume`, train one of its "
                              "runs with --out STACK/RUN, or give another --out")
        if resume:
            if not self.holds_run:
                raise ConfigError(f"--resume: no checkpoint in {self.checkpoints}; start the run "
                                  "without --resume")
        elif self.holds_run and not overwrite:
            raise ConfigError(f"{self.path} already holds a run; use --resume to continue it, "
                              "--overwrite to replace it, or another --out")

    # ---- one writer -------------------------------------------------------------------------
    def lock(self) -> None:
        """Take the directory for this process, or fail with who holds it. A lock is released
        by the OS when its process dies, so a dead writer's lock never blocks. A lock file
        removed by its holder (``unlock(discard=True)``) is not a lock: taken again anew."""
        self._created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 200).decode(errors="replace").strip()
                os.close(fd)
                who = holder or "no details"
                raise ConfigError(f"{self.path} is being trained by another process ({who}); "
                                  "wait for it, or give another --out") from None
            try:  # the file we locked is still the lock file (not unlinked meanwhile)
                same = os.fstat(fd).st_ino == os.stat(self.lock_file).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        self._lock_fd = fd

    def unlock(self, discard: bool = False) -> None:
        """Release the lock; ``discard``: the run never started (no checkpoint), so its lock
        file goes too, and the directory if this process created it and it is empty."""
        if self._lock_fd is None:
            return
        if discard and not self.holds_run:
            self.lock_file.unlink(missing_ok=True)  # still held: no one else has it
        os.close(self._lock_fd)  # releases the flock
        self._lock_fd = None
        if discard and getattr(self, "_created", False):
            try:
                self.path.rmdir()
            except OSError:  # not empty: something else lives there
                pass

    # ---- what a crash leaves ------------------------------------------------------------------
    def settle(self) -> None:
        """Finish what an interrupted writer left (temp files; a run set aside by an
        ``--overwrite`` killed before the new run's first checkpoint comes back), under the
        lock: a later read sees one whole run."""
        if not self.path.is_dir() or not (self.aside.is_dir() or
                                          any(self.checkpoints.glob("*.tmp"))):
            return
        self.lock()
        try:
            self.clean_stale()
        finally:
            self.unlock()

    def clean_stale(self) -> None:
        """Remove temp files of interrupted writes, and settle a replaced run: restored if the
        new run never wrote a checkpoint, deleted if it did."""
        for tmp in [*self.checkpoints.glob("*.tmp"), self.path / "config.json.tmp",
                    self.path / "metrics.jsonl.tmp"]:
            tmp.unlink(missing_ok=True)
        if self.aside.is_dir():
            if self.has_checkpoint:
                shutil.rmtree(self.aside, ignore_errors=True)
            else:
                self.restore_aside()

    def clear_unstarted(self) -> None:
        """Remove what a run that never wrote a checkpoint left (config, logs)."""
        for sub in (self.checkpoints, self.tb):
            shutil.rmtree(sub, ignore_errors=True)
        for f in (self.metrics, self.model_source, self.config):
            f.unlink(missing_ok=True)

    def set_aside(self) -> None:
        """``--overwrite``: move the old run out of the way (restored if the new run fails
        before its first checkpoint, deleted after it)."""
        shutil.rmtree(self.aside, ignore_errors=True)
        self.aside.mkdir()
        for name in RUN_FILES:
            if (self.path / name).exists():
                os.replace(self.path / name, self.aside / name)

    def restore_aside(self) -> None:
        if not self.aside.is_dir():
            return
        for name in RUN_FILES:
            if (self.aside / name).exists():
                target = self.path / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
                os.replace(self.aside / name, target)
        shutil.rmtree(self.aside, ignore_errors=True)

    def drop_aside(self) -> None:
        if self.aside.is_dir():
            shutil.rmtree(self.aside, ignore_errors=True)

    # ---- files ------------------------------------------------------------------------------
    def write_config(self, doc: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.config, json.dumps(doc, indent=2))

    def read_doc(self) -> dict:
        try:
            doc = json.loads(self.config.read_text())
        except FileNotFoundError:
            if (self.aside / "config.json").is_file():
                raise ConfigError(f"{self.path} holds the run an interrupted --overwrite set "
                                  f"aside (in {self.aside}): `vaelab train --resume --out "
                                  f"{self.path}` restores and continues it") from None
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
            tmp = self.model_source.with_name("model.py.tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, self.model_source)

    def append_metrics(self, record: dict) -> None:
        line = json.dumps(record) + "\n"
        size = self.metrics.stat().st_size if self.metrics.is_file() else 0
        try:
            with open(self.metrics, "a") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:  # leave no half line: the file is as it was (and the checkpoint
            with open(self.metrics, "a") as f:  # holds this record for the resume)
                f.truncate(size)
            raise storage_error(self.metrics, e) from None

    def read_metrics(self) -> list[dict]:
        """The records that parse (a line cut short by a crash, or damaged, is skipped; the
        others are kept)."""
        if not self.metrics.is_file():
            return []
        rows = []
        for line in self.metrics.read_text(errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("epoch"), int):
                rows.append(row)
        return rows

    def reconcile_metrics(self, epoch: int, record: dict | None) -> None:
        """Make metrics.jsonl hold epochs 1..epoch: the earlier rows as written, and the
        checkpoint's own record for its epoch (written before a crash could lose it). Nothing
        is dropped silently: a file whose rows do not all parse is kept beside it
        (``metrics.jsonl.damaged``), and epochs without a record are named in a warning."""
        text = self.metrics.read_text(errors="replace") if self.metrics.is_file() else None
        rows = {r["epoch"]: r for r in self.read_metrics() if r["epoch"] < epoch}
        if record is not None:
            rows[epoch] = record
        lines = [json.dumps(rows[e]) + "\n" for e in sorted(rows)]
        if text is not None and not all(_parses(line) for line in text.splitlines()[:-1]):
            # damaged lines (not a last line cut short by a crash): keep the file as it was
            _atomic_write(self.path / "metrics.jsonl.damaged", text)
        missing = [e for e in range(1, epoch + 1) if e not in rows]
        if missing:
            import warnings

            where = "is missing" if text is None else "has lost their lines"
            warnings.warn(f"{self.metrics} {where}: epochs {_ranges(missing)} have no record "
                          "(the weights are intact; the checkpoint keeps its own epoch's)"
                          + ("; the damaged file is kept as metrics.jsonl.damaged"
                             if text is not None else ""), stacklevel=2)
        _atomic_write(self.metrics, "".join(lines))


def _parses(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def _ranges(nums: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    out, start = [], None
    for i, n in enumerate(nums):
        if start is None:
            start = n
        if i + 1 == len(nums) or nums[i + 1] != n + 1:
            out.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(out)


def _existing_parent(path: Path) -> Path:
    p = path.absolute()
    while not p.exists():
        p = p.parent
    return p


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise storage_error(path, e) from None
    os.replace(tmp, path)
