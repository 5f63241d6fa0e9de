"""The inference gap and its two parts (Cremer, Li & Duvenaud 2018), per example:

    log p(x) - ELBO_amortized  =  [log p(x) - ELBO*]        approximation gap (the family)
                               +  [ELBO* - ELBO_amortized]  amortization gap (the encoder)

ELBO_amortized is the encoder's ELBO, ELBO* the best ELBO within the same Gaussian family found
by local variational inference, log p(x) the best available estimate (AIS when it was run and
is higher on average, else IS with K draws). Each term is estimated per example, so the two
parts add up to the total exactly.

The local family is a Gaussian over the whole latent vector. For a one-layer model with a
diagonal-Gaussian encoder that is the encoder's own family, as in Cremer et al.; for a
hierarchy (a chain of Gaussians) it is a different family, and the "amortization gap" then also
contains the difference between the two families.
"""

from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from vaelab.errors import ConfigError
from vaelab.eval.ais import AISConfig, anneal, summarize
from vaelab.eval.likelihood import stream_bounds
from vaelab.eval.local_vi import LocalVIConfig, elbo_estimate, local_vi
from vaelab.models.base import Model

ROW_LABELS = {"ais": "AIS log p(x)", "elbo_amortized": "ELBO of the encoder (amortized)",
              "elbo_star": "ELBO* (best q per example)",
              "approximation_gap": "approximation gap (log p(x) - ELBO*)",
              "amortization_gap": "amortization gap (ELBO* - ELBO)",
              "total_gap": "inference gap (log p(x) - ELBO)"}


def row_label(name: str) -> str:
    """Words for a row of the gap table (``is_k5000`` -> ``IS log p(x), K = 5000``)."""
    return ROW_LABELS.get(name, name.replace("is_k", "IS log p(x), K = "))


def decompose(log_px: torch.Tensor, log_px_err: torch.Tensor, elbo_star: torch.Tensor,
              elbo_star_err: torch.Tensor, elbo_amortized: torch.Tensor,
              elbo_amortized_err: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-example gaps ``[N]`` and their Monte Carlo errors (independent estimates: errors add
    in quadrature): ``{"approximation", "amortization", "total": (gap, err)}``; approximation
    + amortization = total exactly."""
    def q(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a.double() ** 2 + b.double() ** 2).sqrt()

    return {"approximation": (log_px - elbo_star, q(log_px_err, elbo_star_err)),
            "amortization": (elbo_star - elbo_amortized, q(elbo_star_err, elbo_amortized_err)),
            "total": (log_px - elbo_amortized, q(log_px_err, elbo_amortized_err))}


def inference_gaps(model: Model, data: torch.Tensor, is_k: int = 5000,
                   ais_config: AISConfig | None = None, vi_config: LocalVIConfig | None = None,
                   batch_size: int = 100, max_samples: int = 1 << 14,
                   progress: bool = False) -> dict:
    """The gap table over ``data`` ``[N, *x_shape]``: IS with K = ``is_k``, AIS (when
    ``ais_config`` is given), ELBO_amortized, ELBO*, and the approximation, amortization and
    total gaps, each as a mean over examples with its standard error over examples and its
    Monte Carlo error; ``log_px_source`` says which estimate log p(x) came from. Local VI is
    certified per example (``local_vi_not_converged`` counts the examples whose ELBO* had not
    plateaued). Where the log p(x) estimate lies below ELBO* on average, the approximation
    and total gaps are marked ``measured: False`` with a ``warning``: the estimate, not the
    model, is what is negative there."""
    vi_config = vi_config or LocalVIConfig()
    if len(data) == 0:
        raise ConfigError("no examples to evaluate")
    if is_k < 1 or batch_size < 1:
        raise ConfigError(f"gaps need K >= 1 and a batch size >= 1, got {is_k} and {batch_size}")
    model.eval()
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    cols: dict[str, list] = {k: [] for k in ("is", "is_err", "ais", "ais_err", "amortized",
                                              "amortized_err", "star", "star_err", "vi_steps",
                                              "converged")}
    bar = tqdm(total=len(data), desc="gaps", unit="example", mininterval=1,
               disable=None if progress else True)
    for i in range(0, len(data), batch_size):
        x = data[i:i + batch_size].to(device)
        r = stream_bounds(model, x, [is_k], max_samples)
        cols["is"].append(r[is_k].cpu())
        cols["is_err"].append(r["mc_var"].sqrt().cpu())
        if ais_config is not None:
            a = anneal(model, x, ais_config)
            cols["ais"].append(a.log_px.cpu())
            cols["ais_err"].append(a.stderr.cpu())
        with torch.no_grad():
            e, se = elbo_estimate(model, x, model.posterior(x), vi_config.eval_samples)
        cols["amortized"].append(e.cpu())
        cols["amortized_err"].append(se.cpu())
        v = local_vi(model, x, vi_config)
        cols["star"].append(v.elbo.cpu())
        cols["star_err"].append(v.elbo_stderr.cpu())
        cols["vi_steps"].append(v.steps.double())
        cols["converged"].append(v.converged.double())
        bar.update(len(x))
    bar.close()
    c = {k: torch.cat(v).double() for k, v in cols.items() if v}
    source = "is"
    if "ais" in c and c["ais"].mean() > c["is"].mean():
        source = "ais"
    log_px, log_px_err = c[source], c[source + "_err"]
    gaps = decompose(log_px, log_px_err, c["star"], c["star_err"], c["amortized"],
                     c["amortized_err"])
    rows = {f"is_k{is_k}": summarize(c["is"], c["is_err"])}
    if "ais" in c:
        rows["ais"] = summarize(c["ais"], c["ais_err"])
    rows["elbo_amortized"] = summarize(c["amortized"], c["amortized_err"])
    rows["elbo_star"] = summarize(c["star"], c["star_err"])
    for name, (g, err) in gaps.items():
        rows[f"{name}_gap"] = summarize(g, err)
    # log p(x) >= ELBO* always: an estimate below it says the estimate is too loose there
    below = int((log_px < c["star"]).sum())
    loose = rows["approximation_gap"]["mean"] < 0
    warning = None
    if loose:
        for k in ("approximation_gap", "total_gap"):
            rows[k]["measured"] = False
        warning = (f"log p(x) from {source.upper()} is below ELBO* on {below} of {len(data)} "
                   f"examples and on average: the estimate is too loose to measure the "
                   f"approximation gap; raise --k or add --ais-steps (AIS)")
    return {"n_examples": len(data), "log_px_source": f"is_k{is_k}" if source == "is" else "ais",
            "rows": rows, "family": vi_config.family, "local_vi": vars(vi_config).copy(),
            "local_vi_mean_steps": float(c["vi_steps"].mean()),
            "local_vi_not_converged": int((c["converged"] == 0).sum()),
            "examples_log_px_below_elbo_star": below, "warning": warning,
            "ais": vars(ais_config).copy() if ais_config is not None else None,
            "seconds": time.perf_counter() - t0, "device": str(device)}
