"""What every ``torch.compile`` of vaelab shares."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any


def with_own_code(method: Callable[..., Any]) -> Callable[..., Any]:
    """The bound ``method`` over a copy of its function's code object.

    Dynamo keeps its graphs, and counts them against its recompile limits, on the code object:
    the copy gives one compiled step (or one model's compiled evaluation) a cache and a count
    of its own, freed with it. Otherwise every instance of a class compiles one shared method,
    and a process's earlier instances use up a later instance's limit."""
    fn = method.__func__  # type: ignore[attr-defined]
    own = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__,
                             fn.__defaults__, fn.__closure__)
    own.__kwdefaults__ = fn.__kwdefaults__
    return types.MethodType(own, method.__self__)  # type: ignore[attr-defined]
