"""The memory probe: activation bytes per (sample, example) pair and once per pass. What a
pass computes once whatever its size (a VampPrior's encoding of its pseudo-inputs) is counted
once, so such a model is evaluated in chunks as large as its standard-prior twin's."""

import torch

from vaelab.memory import CPU_CHUNK_BYTES, activation_bytes, eval_chunk
from vaelab.models import build_model


def gated(prior: str):
    torch.manual_seed(0)
    return build_model("gatedvae", {"levels": 1, "prior": prior, "hidden": 32, "latent": 8,
                                    "components": 300}, (1, 28, 28), "bernoulli")


def test_a_once_per_pass_cost_is_not_counted_per_pair():
    x = torch.bernoulli(torch.full((3, 1, 28, 28), 0.3))
    per_std, once_std = activation_bytes(gated("standard"), x)
    per_vamp, once_vamp = activation_bytes(gated("vamp"), x)
    # the pseudo-inputs' activations (300 x 784 inputs at least) are paid once per pass ...
    assert once_vamp >= 300 * 784 * 4 and once_std < per_std
    # ... and a pair costs what it costs under the standard prior (its mixture term aside:
    # one log-density per component and sample)
    assert per_std <= per_vamp <= per_std + 4 * 300 * 4
    cpu = torch.device("cpu")
    chunk_vamp = eval_chunk(gated("vamp"), x, cpu, 4096)
    assert chunk_vamp * per_vamp + once_vamp <= CPU_CHUNK_BYTES or chunk_vamp == 1
    assert chunk_vamp >= eval_chunk(gated("standard"), x, cpu, 4096) // 2
    # counted per pair, the old probe's figure would have cut the chunk by two orders
    assert (per_vamp * 2 + once_vamp) / 2 > 50 * per_std
