"""What every ``torch.compile`` of vaelab shares."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any


def with_own_code(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a function, or a bound method) over a copy of its code object.

    Dynamo keeps its graphs, and counts them against its recompile limits, on the code object:
    the copy gives one compiled step (or one model's compiled evaluation) a cache and a count
    of its own, freed with it. Otherwise every instance of a class compiles one shared method,
    and a process's earlier instances use up a later instance's limit. Any other callable (a
    module, a partial) is returned as it is."""
    if isinstance(fn, types.MethodType):
        return types.MethodType(with_own_code(fn.__func__), fn.__self__)
    if not isinstance(fn, types.FunctionType):
        return fn
    own = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__,
                             fn.__defaults__, fn.__closure__)
    own.__kwdefaults__ = fn.__kwdefaults__
    return own
