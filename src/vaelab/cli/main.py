"""``vaelab`` command line: one sub-command per task.

Errors are one line on stderr: bad input or an unusable environment (a full disk, a read-only
folder) exit with 2, an interrupt (Ctrl-C) with 130, an internal error with 1; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings

from vaelab.errors import VaelabError


class Help(argparse.HelpFormatter):
    """Every option's help ends with its default (unless it has none, or says it already)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (action.option_strings and "default" not in text and default is not None and
                default is not False and default is not argparse.SUPPRESS and default != ""):
            shown = " ".join(map(str, default)) if isinstance(default, list) else default
            text += f" (default: {shown})"
        return text


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where the help is, exit code 2."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        print(f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)",
              file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from vaelab import __version__
    from vaelab.cli import commands

    p = Parser(prog="vaelab", description="Variational autoencoders with tight bounds: train, "
               "evaluate, sample, diagnose.")
    p.add_argument("--version", action="version", version=f"vaelab {__version__}")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, (add_args, _run, help_) in commands.COMMANDS.items():
        add_args(sub.add_parser(name, help=help_, description=help_))
    return p


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _hold_interrupts() -> bool:
    """Keep Ctrl-C pending while the libraries import (an interrupt inside an import can leave a
    half-initialized module behind); True if it was held."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        return True
    return False


def _release_interrupts(held: bool) -> None:
    if held:  # a pending Ctrl-C is delivered here, inside main's handler
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def main(argv: list[str] | None = None) -> int:
    args = None
    held = _hold_interrupts()
    try:
        try:
            parser = build_parser()  # imports torch and the rest
        finally:
            _release_interrupts(held)
        args = parser.parse_args(argv)
        from vaelab.cli import commands

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.formatwarning = lambda m, c, *a, **k: f"vaelab: warning: {_one_line(m)}\n"
            code = commands.COMMANDS[args.command][1](args) or 0
            sys.stdout.flush()  # inside the try: a closed pipe is caught below
            return code
    except SystemExit:
        raise
    except BrokenPipeError:
        # the reader of our output went away (`vaelab datasets --json | head`): stop quietly
        # and exit as a Unix tool stopped by SIGPIPE does (128 + 13)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(f"vaelab{_name(args)}: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130
    except (VaelabError, FloatingPointError, OSError, MemoryError) as e:
        if args is not None and args.debug:
            raise
        what = f"{type(e).__name__}: " if isinstance(e, (OSError, MemoryError)) else ""
        print(f"vaelab{_name(args)}: error: {what}{_one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: still one line, with the way to see more
        if args is not None and args.debug:
            raise
        print(f"vaelab{_name(args)}: internal error: {type(e).__name__}: {_one_line(e)[:300]} "
              "(rerun with --debug for the traceback, and please report it)", file=sys.stderr)
        return 1


def _name(args) -> str:
    return f" {args.command}" if args is not None and getattr(args, "command", None) else ""


if __name__ == "__main__":
    sys.exit(main())
