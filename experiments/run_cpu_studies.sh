#!/usr/bin/env bash
# The small CPU versions of the studies reported in BENCHMARKS.md (one thread each, in sequence).
# GPU machines: raise --epochs and use --dataset binarized_mnist / shapes at full size.
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/cpu_studies}
$PY experiments/decoder_expressivity.py --dataset embedded --layers 0 1 2 --epochs 3 \
  --eval-n 300 --eval-k 20 --out $OUT/expressivity
$PY experiments/decoder_expressivity.py --dataset embedded --layers 0 2 --free-bits 0.25 \
  --epochs 3 --eval-n 300 --eval-k 20 --out $OUT/expressivity
$PY experiments/beta_sweep.py --betas 1 2 4 8 --epochs 10 --points 500 --out $OUT/beta_sweep10
$PY -m vaelab train --model vqvae --dataset embedded --epochs 5 --eval-k 1 --no-progress \
  --out $OUT/vqvae --overwrite
$PY -m vaelab prior $OUT/vqvae --epochs 3 --pixel-layers 4 --pixel-channels 32 --no-progress
$PY experiments/figure6_autoencoders.py --minutes 5 --mse-epochs 5 --out $OUT/figure6
