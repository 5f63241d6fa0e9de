"""RELAX beside REBAR and the plain score function on the small discrete models of the tests
(a one-layer SBN with 3 units, and 2 categorical variables of 3 categories, on 4 examples of 6
pixels): the total variance of the encoder's gradient estimate after each estimator has adapted
on the same 300 batches (REBAR: its moving-average eta; RELAX: eta and the surrogate r on their
own Adam group, the model held fixed).

    python benchmarks/relax_variance.py

Variance: the sum over encoder parameters of the variance of the gradient over 30 estimates,
each the mean of 100 replicas of the 4 examples (the model's gradient is the same for all).
"""

from __future__ import annotations

import torch
from common import machine

from vaelab.estimators import make_estimator
from vaelab.models import build_model
from vaelab.objectives import make_objective

MODELS = {"sbn (1 layer, 3 units)": ("sbn", {"units": 3, "bernoulli_layers": 1}),
          "categorical (2 x 3)": ("categorical", {"variables": 2, "categories": 3})}


def encoder_variance(m, x, est, obj, repeats: int = 30) -> float:
    phi = m.inference_parameters()
    torch.manual_seed(5)
    xr = x.repeat(100, 1, 1, 1)
    g = torch.stack([torch.cat([t.flatten() for t in torch.autograd.grad(
        est(m, xr, obj).surrogate.mean(), phi)]) for _ in range(repeats)])
    return float(g.var(0).sum())


def adapt(m, x, est, obj, steps: int = 300) -> None:
    """REBAR adapts eta inside its training-mode forward; RELAX's eta and r take Adam steps on
    their side loss (as the engine's auxiliary group does)."""
    est.train()
    aux = est.auxiliary_objectives()
    opt = torch.optim.Adam(aux[0].parameters, lr=aux[0].lr) if aux else None
    torch.manual_seed(6)
    for _ in range(steps):
        out = est(m, x.repeat(25, 1, 1, 1), obj)
        if opt is not None:
            grads = torch.autograd.grad(out.side_losses[aux[0].name], aux[0].parameters,
                                        allow_unused=True)
            for p, g in zip(aux[0].parameters, grads):
                p.grad = g
            opt.step()
    est.eval()


def main() -> None:
    print("| model | score function | REBAR (eta adapted) | RELAX at the start (r = 0, eta = 1) "
          "| RELAX trained | RELAX / REBAR |")
    print("|---|---|---|---|---|---|")
    obj = make_objective("elbo")
    for label, (kind, opts) in MODELS.items():
        torch.manual_seed(0)
        m = build_model(kind, opts, (1, 2, 3), "bernoulli")
        x = torch.bernoulli(torch.full((4, 1, 2, 3), 0.4),
                            generator=torch.Generator().manual_seed(1))
        sf = encoder_variance(m, x, make_estimator("score_function", 1, 6), obj)
        rebar = make_estimator("rebar", 1, 6)
        rebar.check(m, obj)
        adapt(m, x, rebar, obj)
        relax = make_estimator("relax", 1, 6, surrogate_lr=0.01)
        relax.check(m, obj)
        start = encoder_variance(m, x, relax.eval(), obj)
        adapt(m, x, relax, obj)
        rv, lv = encoder_variance(m, x, rebar, obj), encoder_variance(m, x, relax, obj)
        print(f"| {label} | {sf:.3g} | {rv:.3g} (eta {float(rebar.eta):.2f}) | {start:.3g} | "
              f"{lv:.3g} (eta {float(relax.eta.detach()):.2f}) | {lv / rv:.2f} |")
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main()
