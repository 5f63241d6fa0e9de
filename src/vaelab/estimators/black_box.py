"""The likelihood-ratio gradient for a black box: the lecture's reinforcement-learning analogy.

    grad_phi E_{q_phi(z)}[f(z)] = E_q[(f(z) - b) grad_phi log q_phi(z)]

holds for *any* f, one that is not differentiable, not continuous, or only known by calling it
(a reward): only log q must be differentiable. A baseline b that does not depend on the draw
keeps the estimate unbiased and can cut its variance; the leave-one-out baseline
b_i = mean_{j != i} f(z_j) (Kool et al. 2019) needs no state.
"""

from __future__ import annotations

import torch

from vaelab.errors import ConfigError

BASELINES = ("none", "mean", "loo")


def likelihood_ratio_surrogate(f_values: torch.Tensor, log_q: torch.Tensor,
                               baseline: str = "loo") -> torch.Tensor:
    """A scalar whose gradient is the likelihood-ratio estimate of grad E_q[f] from n draws.

    f_values ``[n, ...]`` (treated as constants), log_q ``[n, ...]`` (differentiable in phi);
    baseline "none", "mean" (the sample mean: biased by O(1/n)) or "loo" (leave-one-out:
    unbiased, n >= 2). Its value is not E_q[f]; use ``f_values.mean()`` for that."""
    if baseline not in BASELINES:
        raise ConfigError(f"baseline {baseline!r}: choose one of {', '.join(BASELINES)}")
    f = f_values.detach().to(log_q.dtype)
    n = f.shape[0]
    if baseline == "loo":
        if n < 2:
            raise ConfigError("the leave-one-out baseline needs at least 2 draws")
        b = (f.sum(0, keepdim=True) - f) / (n - 1)
    elif baseline == "mean":
        b = f.mean(0, keepdim=True)
    else:
        b = torch.zeros_like(f)
    return ((f - b) * log_q).mean(0).sum()
