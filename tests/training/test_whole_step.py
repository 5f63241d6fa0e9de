"""The compiled whole training step (forward, backward and Adam in one graph) follows the eager
step: same losses and parameters, step by step, through a change of learning rate."""

import pytest
import torch
from torch._dynamo.utils import counters

from vaelab.errors import ConfigError
from vaelab.estimators import make_estimator
from vaelab.models import VAE, VAEConfig
from vaelab.objectives import make_objective
from vaelab.training.loop import EagerUpdate, Step
from vaelab.training.whole_step import WholeStep

CFG = VAEConfig(x_shape=(1, 6, 6), hidden=16, latent=3)


def _step(estimator: str, objective: str) -> Step:
    torch.manual_seed(0)
    return Step(VAE(CFG), make_estimator(estimator, 4, 36), make_objective(objective))


def _batches(n: int = 7):
    g = torch.Generator().manual_seed(7)
    return [torch.bernoulli(torch.full((8, 1, 6, 6), 0.3), generator=g) for _ in range(n)]


def _trajectory(update, lrs):
    torch.manual_seed(123)
    out = []
    for x, lr in zip(_batches(), lrs):
        update.optimizer.param_groups[0]["lr"] = lr
        loss, bound = update(x)
        out.append((loss.clone(), bound.clone()))
    return out


@pytest.mark.parametrize("estimator,objective", [("reparam", "iwae"), ("dreg", "iwae"),
                                                 ("score_function", "elbo")])
def test_compiled_whole_step_follows_the_eager_step(estimator, objective):
    """Seven Adam steps, the learning rate changed twice on the way: every loss and bound and the
    final parameters and Adam moments agree with torch.optim's eager step, and the step compiled
    to one graph (fullgraph, no recompilation when the learning rate moves). DReG's gradient
    goes through a tensor hook; the score function's through a surrogate."""
    lrs = [1e-2] * 3 + [3e-3] * 2 + [1e-3] * 2
    eager_step = _step(estimator, objective)
    eager = EagerUpdate(eager_step, torch.optim.Adam(eager_step.parameters(), lr=1e-2, eps=1e-4))
    compiled_step = _step(estimator, objective)
    opt = torch.optim.Adam(compiled_step.parameters(), lr=1e-2, eps=1e-4, capturable=True)
    whole = WholeStep(compiled_step, opt)
    counters.clear()
    got = _trajectory(whole, lrs)
    assert whole.fullgraph and counters["stats"]["unique_graphs"] == 1
    want = _trajectory(eager, lrs)
    for (lc, bc), (le, be) in zip(got, want):
        assert torch.allclose(lc, le, rtol=1e-5, atol=1e-4)
        assert torch.allclose(bc, be, rtol=1e-5, atol=1e-4)
    for (name, a), b in zip(eager_step.named_parameters(), compiled_step.parameters()):
        assert torch.allclose(a, b, atol=1e-5), name
        sa, sb = eager.optimizer.state[a], opt.state[b]
        assert float(sa["step"]) == float(sb["step"]) == len(lrs)
        assert torch.allclose(sa["exp_avg_sq"], sb["exp_avg_sq"], rtol=1e-4, atol=1e-9), name
    assert not torch.allclose(got[0][0], got[-1][0])  # the step did train


def test_the_compiled_step_needs_a_capturable_adam():
    s = _step("reparam", "iwae")
    with pytest.raises(ConfigError, match="capturable=True"):
        WholeStep(s, torch.optim.Adam(s.parameters()))
    with pytest.raises(ConfigError, match="runs Adam"):
        WholeStep(s, torch.optim.SGD(s.parameters(), lr=0.1))


def test_a_step_that_cannot_be_one_graph_compiles_in_pieces_and_still_follows_eager():
    """NVIL's baseline branches on a tensor's value (is it initialized?), which dynamo cannot
    trace into one graph: the step warns once, compiles in pieces, and follows the eager step
    (inductor told to draw its random numbers as eager PyTorch does, so the draws agree)."""
    from torch._inductor import config as inductor_config

    from vaelab.models import SBN, SBNConfig

    def make():
        torch.manual_seed(0)
        return Step(SBN(SBNConfig(x_shape=(1, 6, 6), units=4)),
                    make_estimator("score_function", 3, 36, baseline="nvil"),
                    make_objective("iwae"))

    eager_step, compiled_step = make(), make()
    eager = EagerUpdate(eager_step, torch.optim.Adam(eager_step.parameters(), lr=1e-2))
    whole = WholeStep(compiled_step, torch.optim.Adam(compiled_step.parameters(), lr=1e-2,
                                                      capturable=True))
    lrs = [1e-2] * 4
    with inductor_config.patch(fallback_random=True), \
            pytest.warns(UserWarning, match="does not compile as one graph"):
        got = _trajectory(whole, lrs)
    assert not whole.fullgraph
    want = _trajectory(eager, lrs)
    for (lc, _), (le, _) in zip(got, want):
        assert torch.allclose(lc, le, rtol=1e-4, atol=1e-3)
    for (name, a), b in zip(eager_step.named_parameters(), compiled_step.parameters()):
        assert torch.allclose(a, b, atol=1e-4), name


def test_each_compiled_step_counts_its_own_graphs():
    """Dynamo counts graphs against its recompile limit per code object. Two steps built in one
    process (a grid, rows of a table, tests) must not share one count: with the limit at one
    graph, the second step still compiles whole (a shared method would fail it outright)."""
    steps = []
    for _ in range(2):
        s = _step("reparam", "iwae")
        whole = WholeStep(s, torch.optim.Adam(s.parameters(), lr=1e-2, capturable=True))
        whole.graphs = 1  # the step's own allowance, lowered to the tightest there is
        steps.append(whole)
    x = _batches(1)[0]
    with torch._dynamo.config.patch(recompile_limit=1):
        for whole in steps:
            loss, _ = whole(x)
            assert whole.fullgraph and torch.isfinite(loss)


def test_a_kl_warmup_keeps_one_compiled_graph_and_follows_eager():
    """The warm-up's weight moves every epoch; the compiled step reads it as a tensor input, so
    four epochs of the schedule run in one graph (not one graph an epoch, as a float weight
    would compile), with the eager step's losses at every step."""
    from vaelab.objectives import ELBO, ELBOConfig

    def run(update, step, device):
        torch.manual_seed(123)
        out, xs = [], _batches(8)
        for epoch in range(4):
            step.objective = schedule.at_epoch(epoch, device)
            out += [update(x)[0].clone() for x in xs[2 * epoch:2 * epoch + 2]]
        return out

    schedule = ELBO(ELBOConfig(kl_warmup=3))
    eager_step, compiled_step = _step("reparam", "elbo"), _step("reparam", "elbo")
    eager = EagerUpdate(eager_step, torch.optim.Adam(eager_step.parameters(), lr=1e-2))
    whole = WholeStep(compiled_step, torch.optim.Adam(compiled_step.parameters(), lr=1e-2,
                                                      capturable=True))
    counters.clear()
    got = run(whole, compiled_step, "cpu")
    assert whole.fullgraph and counters["stats"]["unique_graphs"] == 1
    want = run(eager, eager_step, None)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-4)
