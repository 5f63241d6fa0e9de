"""The reinforcement-learning analogy: the likelihood-ratio gradient maximizes E_q[f] for a
black-box reward that autograd cannot see, and its estimate is unbiased (checked against the
exact gradient, available here by enumerating 2^4 outcomes)."""

import itertools
import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent

from vaelab.errors import ConfigError
from vaelab.estimators.black_box import likelihood_ratio_surrogate

TARGET = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1]


def reward(z: torch.Tensor) -> torch.Tensor:
    """Matches with a hidden pattern, counted in Python: no gradient exists."""
    rows = z.long().tolist()
    return torch.tensor([float(sum(a == b for a, b in zip(r, TARGET))) for r in rows])


def test_a_black_box_reward_is_maximized():
    torch.manual_seed(0)
    logits = torch.zeros(len(TARGET), requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    for _ in range(300):
        q = Independent(Bernoulli(logits=logits), 1)
        z = q.sample((16,))
        loss = -likelihood_ratio_surrogate(reward(z), q.log_prob(z), "loo")
        opt.zero_grad()
        loss.backward()
        opt.step()
    probs = torch.sigmoid(logits.detach())
    expected = float((probs * torch.tensor(TARGET) + (1 - probs) * (1 - torch.tensor(TARGET)))
                     .sum())
    assert expected > 9.5, expected  # out of 10; 5 at the start


@pytest.mark.parametrize("baseline", ["none", "loo"])
def test_the_estimate_is_unbiased_and_loo_cuts_its_variance(baseline):
    """Mean of 4000 estimates (n = 8 draws each) within 5 standard errors of the exact gradient
    of E_q[f], f(z) = (number of ones)^2 over 4 bits, by enumeration."""
    torch.manual_seed(1)
    logits = torch.tensor([0.3, -1.0, 0.5, 2.0], requires_grad=True)

    def f(z):
        return z.sum(-1) ** 2

    support = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)))
    q = Independent(Bernoulli(logits=logits), 1)
    (exact,) = torch.autograd.grad((q.log_prob(support).exp() * f(support)).sum(), logits)
    grads = []
    for _ in range(4000):
        z = q.sample((8,))
        (g,) = torch.autograd.grad(likelihood_ratio_surrogate(f(z), q.log_prob(z), baseline),
                                   logits)
        grads.append(g)
    g = torch.stack(grads)
    se = g.std(0) / math.sqrt(len(g))
    assert ((g.mean(0) - exact).abs() < 5 * se).all()
    if baseline == "loo":
        torch.manual_seed(1)
        plain = torch.stack([torch.autograd.grad(likelihood_ratio_surrogate(
            f(z), q.log_prob(z), "none"), logits)[0] for z in q.sample((500, 8))])
        assert g.var(0).sum() < 0.5 * plain.var(0).sum()


def test_bad_baselines():
    with pytest.raises(ConfigError):
        likelihood_ratio_surrogate(torch.ones(3), torch.zeros(3), "optimal")
    with pytest.raises(ConfigError):
        likelihood_ratio_surrogate(torch.ones(1), torch.zeros(1), "loo")
