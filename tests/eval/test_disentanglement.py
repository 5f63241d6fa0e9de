"""Metrics on synthetic codes where the answer is known."""

import numpy as np
import torch

from vaelab.data.shapes import all_factors, factor_sizes
from vaelab.eval.disentanglement import beta_vae_metric, mig

SIZES = factor_sizes()
G = torch.Generator().manual_seed(0)
ROT = torch.linalg.qr(torch.randn(10, 10, generator=G, dtype=torch.float64)).Q


def code(v, rot=None, noise=0.05):
    """Perfectly disentangled: dimension k is factor k (plus noise); 5 nuisance dimensions."""
    z = torch.as_tensor(np.asarray(v), dtype=torch.float64) / torch.tensor(SIZES,
                                                                           dtype=torch.float64)
    z = torch.cat([z, torch.zeros(len(z), 5, dtype=torch.float64)], 1)
    z = z + noise * torch.randn(z.shape, generator=G, dtype=torch.float64)
    return z if rot is None else z @ ROT


def test_mig_rewards_disentangled_and_punishes_rotated_codes():
    f = torch.as_tensor(all_factors(SIZES))
    good, rotated = mig(code(f), f), mig(code(f, ROT), f)
    assert good["mig"] > 0.8 and rotated["mig"] < 0.3
    mi = torch.tensor(good["mi_matrix"])
    assert (mi.argmax(0) == torch.arange(5)).all()  # factor k lives in dimension k


def test_beta_vae_metric():
    good = beta_vae_metric(code, SIZES)["accuracy"]
    noise = beta_vae_metric(
        lambda v: torch.randn(len(v), 10, generator=G, dtype=torch.float64), SIZES)["accuracy"]
    assert good > 0.95 and noise < 0.35  # chance is 0.2
    # known property (Kim & Mnih 2018): a linear classifier sees through a rotation
    assert beta_vae_metric(lambda v: code(v, ROT), SIZES)["accuracy"] > 0.9
