"""Stacked runs (torch.func): each run of the stack equals its solo run, step by step."""

import pytest
import torch

from vaelab.errors import ConfigError
from vaelab.estimators import make_estimator
from vaelab.models import VAE, VAEConfig
from vaelab.objectives import make_objective
from vaelab.training.loop import Step
from vaelab.training.stacked import StackedRuns

CFG = VAEConfig(x_shape=(1, 6, 6), hidden=16, latent=3)


def _step(seed: int, k: int = 4, objective: str = "iwae", estimator: str = "reparam") -> Step:
    torch.manual_seed(seed)
    return Step(VAE(CFG), make_estimator(estimator, k, 36), make_objective(objective))


def _batches(n: int = 6):
    g = torch.Generator().manual_seed(7)
    return [torch.bernoulli(torch.full((8, 1, 6, 6), 0.3), generator=g) for _ in range(n)]


@pytest.mark.parametrize("estimator,objective", [("reparam", "iwae"), ("reparam", "elbo"),
                                                 ("stl", "elbo"), ("stl", "iwae")])
def test_each_stacked_run_equals_its_solo_run(estimator, objective):
    """Two runs with different initializations and learning rates, shared draws: after six
    Adam steps each run's parameters, losses and bounds match a plain solo loop that starts
    from the same global random state."""
    lrs, seeds = [1e-2, 3e-3], [0, 1]
    stacked = StackedRuns([_step(s, objective=objective, estimator=estimator) for s in seeds],
                          lrs)
    torch.manual_seed(123)
    got = [stacked.step(x) for x in _batches()]
    for i, (seed, lr) in enumerate(zip(seeds, lrs)):
        solo = _step(seed, objective=objective, estimator=estimator)
        opt = torch.optim.Adam(solo.parameters(), lr=lr, eps=1e-4)
        torch.manual_seed(123)
        for x, (losses, bounds) in zip(_batches(), got):
            loss, bound = solo(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            assert torch.allclose(losses[i], loss.detach(), rtol=1e-5, atol=1e-5)
            assert torch.allclose(bounds[i], bound.detach(), rtol=1e-5, atol=1e-5)
        mine = stacked.unstack([_step(99, objective=objective, estimator=estimator)
                                for _ in seeds])[i]
        for (name, a), b in zip(solo.state_dict().items(), mine.state_dict().values()):
            assert torch.allclose(a, b, atol=1e-5), name
    assert not torch.allclose(got[-1][1][0], got[-1][1][1])  # the runs are different runs


def test_runs_share_their_draws():
    """Identical runs stay identical (common random numbers); a different learning rate makes
    them part after the first step."""
    stacked = StackedRuns([_step(0), _step(0), _step(0)], [1e-2, 1e-2, 1e-3])
    for x in _batches(3):
        losses, _ = stacked.step(x)
    assert torch.allclose(losses[0], losses[1]) and not torch.allclose(losses[0], losses[2])


def test_stacked_runs_refuse_mismatched_runs():
    with pytest.raises(ConfigError, match="one architecture"):
        StackedRuns([_step(0), Step(VAE(VAEConfig(x_shape=(1, 6, 6), hidden=8, latent=3)),
                                    make_estimator("reparam", 4, 36), make_objective("iwae"))],
                    [1e-3, 1e-3])
    with pytest.raises(ConfigError, match="one learning rate per run"):
        StackedRuns([_step(0), _step(1)], [1e-3])
    with pytest.raises(ConfigError, match="dreg estimator cannot be stacked"):
        StackedRuns([_step(0, estimator="dreg")], [1e-3])  # stacked, it left its solo run
    with pytest.raises(ConfigError, match="finite and > 0"):
        StackedRuns([_step(0)], [0.0])


def test_the_compiled_stack_follows_the_eager_stack():
    """compile="default": forward, backward, Adam and the per-run scaling as one graph; the
    losses and parameters follow the eager stack (itself checked against solo runs above),
    through a change of the learning rates."""
    stacks = [StackedRuns([_step(0), _step(1)], [1e-2, 3e-3], compile=mode)
              for mode in ("", "default")]
    got = []
    for st in stacks:
        torch.manual_seed(5)
        trace = []
        for j, x in enumerate(_batches()):
            if j == 3:
                st.set_lrs([2e-3, 5e-3])
            trace.append(st.step(x)[0])
        got.append(torch.stack(trace))
    assert torch.allclose(got[0], got[1], rtol=1e-5, atol=1e-4)
    for name, p in stacks[0].params.items():
        assert torch.allclose(p, stacks[1].params[name], atol=1e-5), name


def test_a_run_leaves_and_rejoins_a_stack_with_its_adam_state():
    """optimizer_state gives a solo Adam run i's moments and learning rate: the solo step then
    equals the stack's next step for that run; load_optimizer_states stacks them back."""
    stacked = StackedRuns([_step(0), _step(1)], [1e-2, 3e-3])
    batches = _batches(4)
    for x in batches[:3]:
        stacked.step(x)
    solos = stacked.unstack([_step(9), _step(9)])
    opts = [stacked.optimizer_state(i, torch.optim.Adam(s.parameters(), lr=1.0, eps=1e-4))
            for i, s in enumerate(solos)]
    assert [o.param_groups[0]["lr"] for o in opts] == pytest.approx([1e-2, 3e-3])
    again = StackedRuns(solos, [1e-2, 3e-3])
    again.load_optimizer_states(opts)
    torch.manual_seed(3)
    want = stacked.step(batches[3])[0]
    torch.manual_seed(3)
    got = again.step(batches[3])[0]
    assert torch.allclose(got, want, atol=1e-6)
    for name, p in stacked.params.items():
        assert torch.allclose(p, again.params[name], atol=1e-6), name
    torch.manual_seed(3)
    loss, _ = solos[1](batches[3])
    opts[1].zero_grad()
    loss.backward()
    opts[1].step()  # the solo run, resumed from the stack's state
    assert torch.allclose(loss.detach(), want[1], atol=1e-5)
    assert torch.allclose(solos[1].model.decoder[0][0].weight,
                          stacked.params["model.decoder.0.0.weight"][1], atol=1e-6)
