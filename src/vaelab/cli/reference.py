"""The command-line reference, generated from the parsers themselves (the docs build writes it
to ``docs/cli.md``): every command with its options, defaults and help, and one table of option
names with the commands that take each, so that one meaning has one name."""

from __future__ import annotations

import argparse


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def option_table(parser: argparse.ArgumentParser | None = None) -> dict[str, list[str]]:
    """Each option name -> the commands that take it (help and common flags excluded)."""
    from vaelab.cli.main import build_parser

    parser = parser or build_parser()
    names: dict[str, list[str]] = {}
    for cmd, sub in _subcommands(parser).items():
        for a in sub._actions:
            for opt in a.option_strings:
                if opt.startswith("--") and opt != "--help":
                    names.setdefault(opt, []).append(cmd)
    return dict(sorted(names.items()))


def markdown() -> str:
    """The reference page (MyST markdown)."""
    from vaelab.cli.main import build_parser

    parser = build_parser()
    lines = ["# Command-line reference", "",
             "Generated from the parsers when the documentation is built: every command, every "
             "option, its default and its meaning. `vaelab COMMAND --help` prints the same.",
             ""]
    subs = _subcommands(parser)
    lines += ["| command | what it does |", "| --- | --- |"]
    lines += [f"| [`{c}`](#vaelab-{c}) | {_cell(s.description or '')} |" for c, s in subs.items()]
    for cmd, sub in subs.items():
        lines += ["", f"## vaelab {cmd}", "", _cell(sub.description or ""), "", "```text",
                  sub.format_usage().strip(), "```", "", "| option | default | meaning |",
                  "| --- | --- | --- |"]
        for a in sub._actions:
            if "--help" in a.option_strings:
                continue
            name = ", ".join(a.option_strings) or a.dest
            default = "" if a.default in (None, argparse.SUPPRESS, False, "") else a.default
            if isinstance(default, list):
                default = " ".join(map(str, default))
            options = list(a.choices or ())
            choices = f" Choices: {', '.join(map(str, options))}." if 0 < len(options) < 12 \
                else ""
            meaning = (a.help or "").replace("%%", "%")
            lines.append(f"| `{name}` | {_cell(default)} | {_cell(meaning)}{_cell(choices)} |")
    lines += ["", "## Option names", "",
              "Each option name has one meaning, whichever command takes it.", "",
              "| option | commands |", "| --- | --- |"]
    lines += [f"| `{o}` | {', '.join(cmds)} |" for o, cmds in option_table(parser).items()]
    return "\n".join(lines) + "\n"
