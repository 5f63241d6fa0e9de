"""Registries of named components (models, estimators, objectives, data sets), each with a
config dataclass whose field docs become the command line's help text.

    @MODELS.register("vae", help="MLP VAE ...")
    class VAE(Model): Config = VAEConfig

A field documents itself with ``option(default, "help text with its unit")``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vaelab.errors import ConfigError


def option(default: Any, help: str, choices: tuple | None = None, cli: bool = True,
           flag: str | None = None) -> Any:
    """A dataclass field with its help text (units included) and, optionally, its choices.
    ``cli=False`` keeps a field out of the command line (it is set from the data, say);
    ``flag``: its command-line name where the field's own would be ambiguous
    (``steps`` -> ``--ais-steps``)."""
    meta = {"help": help, "choices": choices, "cli": cli, "flag": flag}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def field_default(f: dataclasses.Field) -> Any:
    """A dataclass field's default value (None if it has none)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def field_help(f: dataclasses.Field) -> str:
    return f.metadata.get("help", "")


@dataclass(frozen=True)
class Entry:
    """A registered component: how to build it, its options and what it is."""

    name: str
    target: Any
    config: type | None
    help: str

    def options(self) -> list[dataclasses.Field]:
        """The config dataclass's fields shown on the command line."""
        if self.config is None:
            return []
        return [f for f in dataclasses.fields(self.config) if f.metadata.get("cli", True)]


class Registry:
    """Named components of one kind; ``get`` fails with the list of choices."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, config: type | None = None, help: str = "") -> Callable:
        def deco(target):
            self.add(name, target, config, help)
            return target
        return deco

    def add(self, name: str, target: Any, config: type | None = None, help: str = "") -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = Entry(name, target, config, help)

    def get(self, name: str) -> Entry:
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} '{name}': choose one of "
                              f"{', '.join(self._entries)}")
        return self._entries[name]

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
          tuple: "a list", dict: "an object"}


def _checked(name: str, value: Any, default: Any, what: str) -> Any:
    """``value`` as the type of ``default`` (an int for a float, a list for a tuple), or a
    one-line error."""
    t = type(default)
    if t not in _KINDS:
        return value
    if t is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif t is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif t is tuple:
        ok = isinstance(value, (list, tuple))
    else:
        ok = isinstance(value, t)
    if not ok:
        raise ConfigError(f"{what}: --{name.replace('_', '-')} must be {_KINDS[t]}, got "
                          f"{value!r}")
    return float(value) if t is float else tuple(value) if t is tuple else value


def build_config(config: type | None, args: dict, what: str) -> Any:
    """``config(**args)``, with unknown keys and values of the wrong type reported as one-line
    errors; None for an entry registered without options (and no args)."""
    if not isinstance(args, dict):
        raise ConfigError(f"{what}: options must be an object of name: value, got {args!r}")
    if config is None:
        if args:
            raise ConfigError(f"{what} takes no options, got {', '.join(sorted(args))}")
        return None
    fields = {f.name: f for f in dataclasses.fields(config)}
    unknown = sorted(set(args) - set(fields))
    if unknown:
        raise ConfigError(f"{what} has no option {', '.join(unknown)}; its options are "
                          f"{', '.join(sorted(fields)) or 'none'}")
    values = {}
    for name, value in args.items():
        default = field_default(fields[name])
        values[name] = _checked(name, value, default, what) if default is not None else value
    try:
        return config(**values)
    except TypeError as e:
        raise ConfigError(f"{what}: {e}") from None
