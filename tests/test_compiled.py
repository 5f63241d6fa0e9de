"""``with_own_code``: one compiled function per instance, each with its own dynamo cache."""

import pytest
import torch
import torch._dynamo

from vaelab.compiled import with_own_code


class Scale(torch.nn.Module):
    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c  # a float: dynamo specializes on it, one graph per instance

    def scaled(self, x: torch.Tensor, *, shift: float = 0.0) -> torch.Tensor:
        return x * self.c + shift


def test_each_instance_compiles_against_its_own_limit():
    """With dynamo's limit at one graph per code object, three instances of one class compile
    whole, each with its own code; through the shared method the second one fails."""
    x = torch.arange(3.0)
    mods = [Scale(c) for c in (1.0, 2.0, 3.0)]
    with torch._dynamo.config.patch(recompile_limit=1):
        for m in mods:
            f = torch.compile(with_own_code(m.scaled), fullgraph=True, dynamic=False)
            assert torch.equal(f(x), m.scaled(x))
            assert torch.equal(with_own_code(m.scaled)(x, shift=1.0), x * m.c + 1.0)
        torch._dynamo.reset()
        shared = [torch.compile(m.scaled, fullgraph=True, dynamic=False) for m in mods[:2]]
        shared[0](x)
        with pytest.raises(torch._dynamo.exc.FailOnRecompileLimitHit):
            shared[1](x)


def test_functions_are_copied_and_other_callables_pass_through():
    def f(x, *, k=2):
        return x * k

    g = with_own_code(f)
    assert g is not f and g.__code__ is not f.__code__ and g(3) == 6 and g(3, k=3) == 9
    m = Scale(2.0)
    assert with_own_code(m) is m  # a module: compiled as torch.compile compiles modules
