"""Control variates for the score-function estimator.

A baseline b is subtracted from the learning signal s_k; it may depend on x and on the other
samples but not on z_k itself, so E[(s_k - b) grad log q(z_k)] keeps its expectation.
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab.models.layers import mlp


class Baseline(nn.Module):
    """``forward(signal [K,B], x [B,D], log_w [K,B], objective) -> (b broadcastable to [K,B],
    aux_loss)``; ``objective`` gives what a baseline may need of it (its leave-one-out
    signal)."""

    name = "none"

    def forward(self, signal, x, log_w, objective):
        return torch.zeros((), device=signal.device), torch.zeros((), device=signal.device)


class RunningMean(Baseline):
    """b = exponential moving average of the mean learning signal (decay 0.9)."""

    name = "mean"

    def __init__(self, decay: float = 0.9) -> None:
        super().__init__()
        self.decay = decay
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def forward(self, signal, x, log_w, objective):
        m = signal.detach().mean()
        if not bool(self.initialized):
            self.mean.copy_(m)
            self.initialized.fill_(True)
        b = self.mean.clone()
        if self.training:
            self.mean.mul_(self.decay).add_((1 - self.decay) * m)
        return b, torch.zeros((), device=signal.device)


class NVIL(RunningMean):
    """Neural variational inference and learning (Mnih & Gregor 2014): b(x) = c + b_psi(x), a
    running mean plus a small network of x fit by least squares to the centred signal."""

    name = "nvil"

    def __init__(self, x_dim: int, hidden: int = 100, decay: float = 0.9) -> None:
        super().__init__(decay)
        self.net = mlp(x_dim, [hidden], 1, "tanh")

    def forward(self, signal, x, log_w, objective):
        c, _ = super().forward(signal, x, log_w, objective)
        bx = self.net(x).squeeze(-1)  # [B]
        target = signal.detach().mean(0) - c  # [B]
        aux = ((target - bx) ** 2).mean()
        return c + bx.detach(), aux


class LeaveOneOut(Baseline):
    """VIMCO (Mnih & Rezende 2016): for sample k, the signal computed with w_k replaced by the
    geometric mean of the other weights. IWAE: b_k = log((sum_{j!=k} w_j + w^_{-k}) / K);
    ELBO: b_k = mean_{j!=k} log w_j. Needs K > 1."""

    name = "vimco"

    def forward(self, signal, x, log_w, objective):
        lw = log_w.detach()
        if lw.shape[0] < 2:
            raise ValueError("the leave-one-out (VIMCO) baseline needs K >= 2 samples")
        return objective.leave_one_out(lw), torch.zeros((), device=lw.device)


BASELINES = {"none": Baseline, "mean": RunningMean, "nvil": NVIL, "vimco": LeaveOneOut}
