"""Differential entropy and KL for continuous distributions: closed forms through
``torch.distributions`` where they exist, Monte Carlo with a standard error otherwise."""

from __future__ import annotations

import math

import torch
from torch.distributions import Distribution, Normal, kl_divergence

from vaelab.stats import Estimate, mean_se


def entropy(d: Distribution, n: int = 0) -> torch.Tensor | Estimate:
    """H(d) in nats: closed form when ``n == 0`` (``d.entropy()``), else MC E[-log d(x)] with
    ``n`` samples (summed over the event dimensions)."""
    if n == 0:
        return d.entropy()
    return mc_entropy(d, n)


def mc_entropy(d: Distribution, n: int) -> Estimate:
    x = d.sample((n,))
    lp = d.log_prob(x)
    return mean_se(-lp.reshape(n, -1).sum(-1))


def kl(p: Distribution, q: Distribution, n: int = 0) -> torch.Tensor | Estimate:
    """KL(p || q) in nats: closed form (``torch.distributions.kl_divergence``) when registered
    and ``n == 0``; else Monte Carlo E_p[log p(x) - log q(x)] with ``n`` samples."""
    if n == 0:
        try:
            return kl_divergence(p, q)
        except NotImplementedError:
            n = 10000
    return mc_kl(p, q, n)


def mc_kl(p: Distribution, q: Distribution, n: int) -> Estimate:
    x = p.sample((n,))
    return mean_se((p.log_prob(x) - q.log_prob(x)).reshape(n, -1).sum(-1))


# ---- mutual information from a Gaussian encoder's posteriors (no model needed) ----------
def log_aggregate_posterior(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor,
                            exclude_self: bool = False, chunk: int = 2048) -> torch.Tensor:
    """log q(z_i) = log (1/M) sum_j N(z_i; loc_j, diag scale_j^2), ``z`` ``[N, d]``, params
    ``[M, d]``. With ``exclude_self`` (N == M), z_i came from component i, which is left out."""
    N, M = len(z), len(loc)
    if exclude_self and N != M:
        raise ValueError("exclude_self needs one sample per mixture component")
    # log N(z; m, diag s^2) summed over d, expanded in z so that the [N, M] table is three matrix
    # products instead of an [N, M, d] tensor: 100x faster for N = M = 5000 on a CPU
    prec = scale.pow(-2)
    const = (-0.5 * (loc.pow(2) * prec).sum(-1) - scale.log().sum(-1)
             - 0.5 * loc.shape[-1] * math.log(2 * math.pi))  # [M]
    out = []
    for s in range(0, N, chunk):
        zc = z[s:s + chunk]
        lp = -0.5 * zc.pow(2) @ prec.T + zc @ (loc * prec).T + const  # [c, M]
        if exclude_self:
            idx = torch.arange(len(zc), device=z.device)
            lp[idx, idx + s] = -math.inf
        out.append(torch.logsumexp(lp, 1) - math.log(M - int(exclude_self)))
    return torch.cat(out)


def mutual_information(loc: torch.Tensor, scale: torch.Tensor, samples: int = 1,
                       log_prior=None) -> dict:
    """I(z; x) three ways from the posterior parameters of N data points (``[N, d]`` each).
    ``log_prior(z [N, d]) -> [N]`` is the model's log p(z) (default N(0, I), where the KL per
    example is in closed form; otherwise it is estimated from the same draws)."""
    q = Normal(loc.double(), scale.double())
    h_cond = q.entropy().sum(-1)  # H(q(z|x_i)), closed form, [N]
    if log_prior is None:
        prior = Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale))
        kl_i = kl_divergence(q, prior).sum(-1)  # [N]

        def log_prior(z):
            return prior.log_prob(z).sum(-1)
    else:  # E_q[log q - log p] per example, from `samples` draws
        zs = q.sample((max(samples, 16),))
        kl_i = (q.log_prob(zs).sum(-1) - log_prior(zs).double()).mean(0)
    v1, v2, v3, kagg, hz, up = [], [], [], [], [], []
    for _ in range(samples):
        z = q.sample()
        log_qz = log_aggregate_posterior(z, q.loc, q.scale, exclude_self=False)
        log_qz_loo = log_aggregate_posterior(z, q.loc, q.scale, exclude_self=True)
        log_qzx = q.log_prob(z).sum(-1)
        up.append(log_qzx - log_qz_loo)
        log_pz = log_prior(z).double()
        hz.append(-log_qz)
        v1.append(-log_qz - h_cond)
        v2.append(log_qzx - log_qz)
        v3.append(kl_i - (log_qz - log_pz))
        kagg.append(log_qz - log_pz)
    cat = torch.cat
    return {
        "mi_entropy_form": mean_se(cat(v1)), "mi_kl_form": mean_se(cat(v2)),
        "mi_elbo_surgery": mean_se(cat(v3)), "aggregate_entropy": mean_se(cat(hz)),
        "kl_aggregate_prior": mean_se(cat(kagg)), "average_kl": mean_se(kl_i),
        "mi_upper": mean_se(cat(up)),
        "conditional_entropy": float(h_cond.mean()), "max_mi_log_n": math.log(len(loc)),
    }


def variational_mi_bound(entropy_z: float, log_q: torch.Tensor) -> Estimate:
    """The lecture's bound I(z;x) >= H(z) + E_{p(z,x)}[log q(z|x)], from samples (z, x) of a joint
    p and any q(z|x); tight iff q(z|x) = p(z|x)."""
    e = mean_se(log_q)
    return Estimate(entropy_z + e.value, e.stderr)
