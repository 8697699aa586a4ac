#!/usr/bin/env bash
# Remakes experiments/results/similarity/ from the ablation run cache. Run from the repository root:
#
#   bash experiments/results/similarity/make_figures.sh
#
# Inputs, all optional environment variables (no absolute path is written into the results):
#   CIFAR_DIR      CIFAR-10 arrays train.npz / test.npz          default ../shared/data/cifar10
#   RUNS_DIR       ablation run cache: <key>.json + <key>.pt     default experiments/results/ablation_runs
#   CKPT_DIR       where missing checkpoints are trained          default runs/similarity/ablation_runs (git-ignored)
#   TRAIN_MISSING  1: train a missing checkpoint with `ghostnas ablate` (CPU, 1 thread: ~12 min for the plain
#                  ResNet-56; the VGG-16 grid point trains the plain VGG-16 and its s=2 Ghost twin, longer)
#   RESNET50       0: skip the untrained torchvision ResNet-50 (ImageNet-scale) figures   default 1
#   ABLATE_SET     extra `--set K=V` arguments for the ablation (e.g. a cheaper fidelity for a smoke test)
#
# The run-cache key hashes the model, the fidelity, the seed and the dataset string, so keep
# DATA (npz:$CIFAR_DIR/train.npz) spelled as the ablations were trained (npz:../shared/data/cifar10/train.npz).
# Given the checkpoints, every output is deterministic (seeded image subset, seeded random weights,
# float64 statistics, seeded bootstrap, figures without dates).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
CIFAR_DIR=${CIFAR_DIR:-../shared/data/cifar10}
RUNS_DIR=${RUNS_DIR:-experiments/results/ablation_runs}
CKPT_DIR=${CKPT_DIR:-runs/similarity/ablation_runs}
OUT=${OUT:-experiments/results/similarity}
DATA=npz:$CIFAR_DIR/train.npz
TEST=npz:$CIFAR_DIR/test.npz
# shellcheck disable=SC2206
EXTRA=(${ABLATE_SET:-})

# record CONFIG POINT SEED: the run record (<key>.json) whose <key>.pt exists, looking in RUNS_DIR then CKPT_DIR;
# trains it into CKPT_DIR when TRAIN_MISSING=1; prints nothing when it is missing.
record() {
  local config=$1 point=$2 seed=$3 dir rec
  for dir in "$RUNS_DIR" "$CKPT_DIR"; do
    rec=$(ghostnas redundancy --ablation "$config" --point "$point" --run-seed "$seed" --print-run \
      --set "data.dataset=$DATA" --set "output.runs_dir=$dir" "${EXTRA[@]}")
    if [ -f "${rec%.json}.pt" ]; then echo "$rec"; return 0; fi
  done
  if [ "${TRAIN_MISSING:-0}" = 1 ]; then
    # The grid needs one Ghost value; `values=[2]` trains the plain baseline and s=2 (d=3) for this seed.
    ghostnas ablate --config "$config" --set "values=[2]" --set "seeds=[$seed]" --set output.save_checkpoints=true \
      --set "data.dataset=$DATA" --set "output.runs_dir=$CKPT_DIR" --set "output.dir=runs/similarity/$config" \
      --set study.threads=1 "${EXTRA[@]}" --no-report >&2
    rec=$(ghostnas redundancy --ablation "$config" --point "$point" --run-seed "$seed" --print-run \
      --set "data.dataset=$DATA" --set "output.runs_dir=$CKPT_DIR" "${EXTRA[@]}")
    if [ -f "${rec%.json}.pt" ]; then echo "$rec"; return 0; fi
  fi
  echo "skipping $config $point seed $seed: no checkpoint (rerun with TRAIN_MISSING=1 to train it)" >&2
}

# plain NAME CONFIG SEED ARGS...: per-image redundancy, Figure-1 panels and MSE vs d of a plain baseline.
plain() {
  local name=$1 config=$2 seed=$3 rec
  shift 3
  rec=$(record "$config" baseline "$seed")
  [ -n "$rec" ] || return 0
  rm -rf "${OUT:?}/$name"
  ghostnas redundancy --model "$rec" --data "$TEST" --norm-data "$DATA" --n 1000 --seed 0 "$@" --out "$OUT/$name"
}

# Plain ResNet-56 (width 0.5, cpu-proxy, seed 1): the stem, then residual-block outputs spread over the 3 stages.
plain plain_resnet56_cifar10 resnet56_ratio 1 \
  --layer stem --layer layers.4 --layer layers.8 --layer layers.13 --layer layers.17 --layer layers.26 \
  --figure-layer layers.8 --figure-layer layers.17
# Plain VGG-16 (width 0.5, cpu-proxy, seed 2): the first two convs, then the last conv of each later stage.
plain plain_vgg16_cifar10 vgg16_ratio 2 \
  --layer features.0 --layer features.1 --layer features.4 --layer features.8 --layer features.12 \
  --layer features.16 --figure-layer features.1 --figure-layer features.4

# Its Ghost twin (s=2, d=3, same fidelity and seed), when that checkpoint exists: the paper's Figure 4,
# CKA, and the same per-image redundancy statistics (a Ghost module's output holds its intrinsic and ghost maps).
rec=$(record vgg16_ratio "s=2 d=3" 2)
if [ -n "$rec" ]; then
  rm -rf "${OUT:?}/ghost_vgg16_cifar10"
  mkdir -p runs/similarity
  python -c 'import json, sys; r = json.load(open(sys.argv[1])); json.dump({"family": "cifar", **r["model"]}, open(sys.argv[2], "w"))' \
    "$rec" runs/similarity/ghost_vgg16_s2d3.json
  ghostnas similarity --model runs/similarity/ghost_vgg16_s2d3.json --weights "${rec%.json}.pt" \
    --layer features.0 --layer features.1 --cka-layer features.4 --cka-layer features.8 --cka-layer features.12 \
    --cka-layer features.16 --data "$TEST" --n 64 --top-k 3 \
    --label "cpu-proxy run $(basename "${rec%.json}"), seed 2" --out "$OUT/ghost_vgg16_cifar10"
  ghostnas redundancy --model "$rec" --data "$TEST" --norm-data "$DATA" --n 1000 --seed 0 \
    --layer features.0 --layer features.1 --layer features.4 --layer features.8 --layer features.12 \
    --layer features.16 --figure-layer features.1 --out "$OUT/ghost_vgg16_cifar10/redundancy"
fi

# ResNet-50 `layer1` (paper Figure 1's layer) at ImageNet scale, with RANDOM weights: none can be downloaded here.
if [ "${RESNET50:-1}" = 1 ]; then
  rm -rf "$OUT/resnet50_layer1_untrained"
  ghostnas similarity --model torchvision:resnet50 --layer layer1 --data "$TEST" --n 16 --resize 224 --top-k 3 \
    --max-maps 64 --label "UNTRAINED, random init" --out "$OUT/resnet50_layer1_untrained"
fi
