"""``vaelab`` command line: one sub-command per task; errors as one line and exit code 2."""

from __future__ import annotations

import argparse
import sys

from vaelab.errors import VaelabError


def build_parser() -> argparse.ArgumentParser:
    from vaelab import __version__
    from vaelab.cli import commands

    p = argparse.ArgumentParser(prog="vaelab", description="Variational autoencoders with tight "
                                "bounds: train, evaluate, sample, diagnose.")
    p.add_argument("--version", action="version", version=f"vaelab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, (add_args, _run, help_) in commands.COMMANDS.items():
        add_args(sub.add_parser(name, help=help_, description=help_))
    return p


def main(argv: list[str] | None = None) -> int:
    from vaelab.cli import commands

    args = build_parser().parse_args(argv)
    try:
        return commands.COMMANDS[args.command][1](args) or 0
    except (VaelabError, FloatingPointError) as e:
        print(f"vaelab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vaelab {args.command}: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
