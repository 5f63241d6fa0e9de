"""Importance sampling as the lecture introduces it: E_p[f(z)] with samples from a proposal q.

    plain:            E_p[f] ~= (1/n) sum_i w_i f(z_i),        w_i = p(z_i) / q(z_i), z_i ~ q
    self-normalized:  E_p[f] ~= sum_i w_i f(z_i) / sum_i w_i   (p known up to a constant)

and the evidence, log Z = log E_q[p~(z)/q(z)] for an unnormalized p~ (log p(x) when p~ = p(x, z)).
The effective sample size (sum w)^2 / sum w^2 says how many draws from p the n draws from q are
worth: a proposal far from p (the prior, for a posterior concentrated on a small region) gives
ESS ~ 1 however large n is. Weights are handled in log space throughout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.distributions import Distribution

from vaelab import stats
from vaelab.errors import ConfigError


@dataclass
class ISEstimate:
    """``estimate`` of E_p[f] (shape of one f value), its ``stderr`` (Monte Carlo), the
    effective sample size ``ess`` and the number of draws ``n``."""

    estimate: torch.Tensor
    stderr: torch.Tensor
    ess: float
    n: int


def _weights(log_p: Callable[[torch.Tensor], torch.Tensor], proposal: Distribution, n: int
             ) -> tuple[torch.Tensor, torch.Tensor]:
    if n < 2:
        raise ConfigError(f"importance sampling needs n >= 2 draws for an error bar, got {n}")
    with torch.no_grad():
        z = proposal.sample((n,))
        return z, (log_p(z) - proposal.log_prob(z)).double()


def importance_sampling(f: Callable[[torch.Tensor], torch.Tensor],
                        log_p: Callable[[torch.Tensor], torch.Tensor], proposal: Distribution,
                        n: int, self_normalized: bool = False) -> ISEstimate:
    """E_p[f(z)] from n draws z ~ ``proposal``; ``log_p(z [n, ...]) -> [n]`` is log p (for the
    plain estimator, normalized), ``f(z) -> [n, ...]``.

    Errors: plain, std(w f) / sqrt(n); self-normalized, the delta method
    sqrt(sum_i wn_i^2 (f_i - estimate)^2) with normalized weights wn (Owen 2013, ch. 9)."""
    z, log_w = _weights(log_p, proposal, n)
    fz = f(z).double()
    shape = (n,) + (1,) * (fz.ndim - 1)
    ess = float(stats.ess(log_w, 0))
    if self_normalized:
        wn = torch.softmax(log_w, 0).view(shape)
        est = (wn * fz).sum(0)
        err = (wn.pow(2) * (fz - est).pow(2)).sum(0).sqrt()
    else:
        m = log_w.max()
        wf = torch.exp(log_w - m).view(shape) * fz  # scaled by exp(-m) to stay finite
        est = wf.mean(0) * torch.exp(m)
        err = wf.std(0) / math.sqrt(n) * torch.exp(m)
    return ISEstimate(est, err, ess, n)


def log_evidence(log_p_tilde: Callable[[torch.Tensor], torch.Tensor], proposal: Distribution,
                 n: int, chunk: int = 1 << 14, batch: tuple[int, ...] = ()) -> dict:
    """log Z = log E_q[p~(z) / q(z)] from n draws of ``proposal``, streamed ``chunk`` draws at a
    time so n can be millions. A proposal with batch ``[B]`` (or one drawn with ``batch``
    extra sample dimensions, e.g. the prior for B examples) gives ``[B]`` estimates. Returns
    the estimate ``log_z``, its Monte Carlo error by the delta method sqrt(1/ESS - 1/n) and the
    effective sample size ``ess``."""
    if n < 1 or chunk < 1:
        raise ConfigError(f"log_evidence needs n >= 1 and chunk >= 1, got {n} and {chunk}")
    lse1: torch.Tensor | None = None
    lse2: torch.Tensor | None = None
    with torch.no_grad():
        for s in range(0, n, chunk):
            z = proposal.sample((min(chunk, n - s), *batch))
            lw = (log_p_tilde(z) - proposal.log_prob(z)).double()
            a, b = torch.logsumexp(lw, 0), torch.logsumexp(2 * lw, 0)
            lse1 = a if lse1 is None else torch.logaddexp(lse1, a)
            lse2 = b if lse2 is None else torch.logaddexp(lse2, b)
    assert lse1 is not None and lse2 is not None  # n >= 1
    ess = stats.ess_from_logsumexps(lse1, lse2)
    return {"log_z": lse1 - math.log(n), "mc_stderr": stats.delta_mc_stderr(ess, n),
            "ess": ess, "n": n}


def model_log_evidence(model, x: torch.Tensor, proposal: str = "posterior", n: int = 5000,
                       chunk: int | None = None) -> dict:
    """log p(x) ``[B]`` of a model by importance sampling with the prior p(z) or the encoder
    q(z|x) as proposal: the lecture's comparison (sampling from p(z) is uninformative: almost
    no z from the prior explains a given x, so its ESS stays near 1)."""
    if proposal not in ("prior", "posterior"):
        raise ConfigError(f"proposal {proposal!r}: choose prior or posterior")
    model.check_input(x)
    chunk = chunk or max(1, (1 << 16) // len(x))
    with torch.no_grad():
        if proposal == "prior":
            return log_evidence(lambda z: model.log_joint(x, z), model.prior, n, chunk,
                                (len(x),))
        return log_evidence(lambda z: model.log_joint(x, z), model.posterior(x), n, chunk)
