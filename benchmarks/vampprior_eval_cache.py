"""The VampPrior's components computed once per weights in evaluation, against once per chunk of
samples (as before, and as the authors' code does): K = 5000 on 10 test images of a trained
run, one thread, the same draws and the same number.

    VAELAB_DATA=../shared/data python benchmarks/vampprior_eval_cache.py RUN_DIR
"""

import sys
import time

import torch

import vaelab.models.priors as priors
from vaelab.eval import evaluate_bounds
from vaelab.training import load_run


def main() -> None:
    torch.set_num_threads(1)
    run = load_run(sys.argv[1], "best", "cpu")
    x = run.split("test")[:10]
    cached = priors.VampPrior.forward
    for name, forward in (("per chunk", lambda self, enc: self._mixture(enc)),
                          ("once per weights", cached)):
        priors.VampPrior.forward = forward
        torch.manual_seed(0)
        t = time.perf_counter()
        bound = evaluate_bounds(run.model, x, ks=(5000,))["bounds"][5000]
        print(f"{name}: {time.perf_counter() - t:.1f} s, L_5000 = {bound:.6f}")


if __name__ == "__main__":
    main()
