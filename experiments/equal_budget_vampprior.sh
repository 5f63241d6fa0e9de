#!/usr/bin/env bash
# Equal budget beside the authors' code (issue 24): Tomczak & Welling's VAE (L = 1) with the
# standard prior and with the VampPrior, EPOCHS epochs each, vaelab and jmtomczak/vae_vampprior on
# the same static-MNIST arrays, one thread each, one after the other on one core. Each model is
# scored with K = 5000 on the same test images: all 10,000, or the random subset of EXAMPLES that
# `vaelab eval --examples EXAMPLES --seed 0` takes (the authors' evaluator sees that subset too,
# and their weights are also rescored by vaelab's evaluator). SEED S trains both with seed 14+S
# (14: the authors' default and the preset's); S > 0 suffixes the run folders with -seedS. Usage:
#   bash experiments/equal_budget_vampprior.sh PEER_CHECKOUT [OUT=runs/equal_budget] \
#        [EPOCHS=100] [EXAMPLES=0] [PRIORS="standard vamp"] [SEED=0]
set -euo pipefail
peer=${1:?give the path of a vae_vampprior checkout}
out=${2:-runs/equal_budget}
epochs=${3:-100}
examples=${4:-0}
priors=${5:-standard vamp}
seed=${6:-0}
suffix=$([ "$seed" = 0 ] || echo "-seed$seed")
export OMP_NUM_THREADS=1 VAELAB_DATA=${VAELAB_DATA:-../shared/data}
vaelab=${VAELAB:-.venv/bin/vaelab}
py=${PYTHON:-.venv/bin/python}
for prior in $priors; do
  run=$out/vaelab-vae-$prior$suffix
  if [ ! -f "$run/eval-k5000.json" ]; then
    if [ -f "$run/config.json" ]; then
      $vaelab train --resume --out "$run" --no-progress
    else
      $vaelab train --preset tomczak2018/vae-$prior --epochs "$epochs" --seed $((14 + seed)) \
        --out "$run" --no-progress
    fi
    $vaelab eval "$run" --k 1 5000 --examples "$examples" --seed 0 --no-progress --json \
      > "$run/eval-k5000.json.part"
    mv "$run/eval-k5000.json.part" "$run/eval-k5000.json"
  fi
  theirs=$([ "$prior" = vamp ] && echo vampprior || echo standard)
  if [ ! -f "$out/peer-vae-$prior$suffix/result.json" ]; then
    skip=$(grep -q "LogL (TEST)" "$out/peer-vae-$prior$suffix/log.txt" 2>/dev/null && echo --skip-run \
           || true)
    $py benchmarks/peer_vampprior.py --peer "$peer" --model vae --prior "$theirs" \
      --epochs "$epochs" --seed $((14 + seed)) --work "$out/peer-work-$prior$suffix" \
      --out "$out/peer-vae-$prior$suffix" \
      --test-examples "$examples" --rescore $skip
  fi
done
