"""Progress of a training loop: a live bar on a terminal, plain lines anywhere else.

A bar redrawn in a log file (CI, ``nohup``, ``> log``) floods it; when stderr is not a terminal
the loop writes one line per epoch instead, at most one every ``every`` seconds, and always the
last epoch's."""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm


class EpochProgress:
    """``update(epoch, record)`` after each epoch (1-based); ``close()`` at the end."""

    def __init__(self, start: int, total: int, enabled: bool, desc: str = "train",
                 every: float = 30.0, speak: bool = True) -> None:
        self.total, self.desc, self.every, self.speak = total, desc, every, speak
        self.live = enabled and sys.stderr.isatty()
        self.lines = enabled and not self.live
        self.bar = tqdm(total=total, initial=start, desc=desc, unit="epoch", mininterval=2,
                        disable=not self.live)
        self.last_line = -float("inf")

    def update(self, epoch: int, record: dict) -> None:
        shown = {k: v for k, v in record.items() if k.startswith(("train_", "valid_"))
                 and isinstance(v, float)}
        if self.live:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.2f}" for k, v in shown.items()})
        elif self.lines:
            now = time.monotonic()
            if now - self.last_line >= self.every or epoch == self.total:
                self.last_line = now
                text = ", ".join(f"{k} {v:.3f}" for k, v in shown.items())
                print(f"{self.desc}: epoch {epoch}/{self.total}" + (f": {text}" if text else ""),
                      file=sys.stderr, flush=True)

    def write(self, message: str) -> None:
        """A notice that does not break the bar (shown even without the bar, unless this
        process does not ``speak``: a DDP worker other than the first)."""
        if self.speak:
            tqdm.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()
