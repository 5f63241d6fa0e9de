"""Evaluation chunks of a VampPrior run: the memory probe that counted the prior's once-per-pass
work (encoding the pseudo-inputs) once per (sample, example) pair, and so cut a K = 5000
evaluation into chunks of a few pairs, against the probe that counts it once per pass
(``vaelab.memory.activation_bytes``). K = 5000 on the same test images, one thread; the two
differ in which draw goes to which image, so their numbers agree within Monte Carlo error.

    VAELAB_DATA=../shared/data python benchmarks/vampprior_eval_chunk.py RUN_DIR [IMAGES]
"""

import math
import sys
import time

import torch

from vaelab.eval import evaluate
from vaelab.eval.likelihood import default_max_samples
from vaelab.memory import CPU_CHUNK_BYTES, _saved_bytes, eval_chunk
from vaelab.training import load_run


def per_pair_chunk(model, x: torch.Tensor, default: int) -> int:
    """The chunk of the earlier probe: all of one pass's activations counted per pair."""
    model.eval()
    per = max(1, math.ceil(_saved_bytes(model, x[:1], 2)[0] / 2))
    chunk = default
    while chunk > 1 and chunk * per > CPU_CHUNK_BYTES:
        chunk //= 2
    return chunk


def main() -> None:
    torch.set_num_threads(1)
    run = load_run(sys.argv[1], "best", "cpu")
    x = run.split("test")[: int(sys.argv[2]) if len(sys.argv) > 2 else 20]
    cpu = torch.device("cpu")
    default = default_max_samples(cpu)
    for name, chunk in (("per pair (before)", per_pair_chunk(run.model, x, default)),
                        ("once per pass (now)", eval_chunk(run.model, x[:1], cpu, default))):
        t = time.perf_counter()
        ev = evaluate(run.model, x, (1, 5000), seed=0, max_samples=chunk,
                      binarize=run.data.dynamic_binarize)
        print(f"{name}: chunk {chunk} pairs, {time.perf_counter() - t:.1f} s, NLL "
              f"{ev['nll']:.3f} ± {ev['nll_mc_stderr']:.3f} (Monte Carlo) on {len(x)} images")


if __name__ == "__main__":
    main()
