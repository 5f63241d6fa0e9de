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


def option(default: Any, help: str, choices: tuple | None = None, cli: bool = True) -> Any:
    """A dataclass field with its help text (units included) and, optionally, its choices.
    ``cli=False`` keeps a field out of the command line (it is set from the data, say)."""
    meta = {"help": help, "choices": choices, "cli": cli}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


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


def build_config(config: type, args: dict, what: str) -> Any:
    """``config(**args)``, with unknown keys reported as a one-line error."""
    known = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(args) - known)
    if unknown:
        raise ConfigError(f"{what} has no option {', '.join(unknown)}; its options are "
                          f"{', '.join(sorted(known)) or 'none'}")
    try:
        return config(**args)
    except TypeError as e:
        raise ConfigError(f"{what}: {e}") from None
