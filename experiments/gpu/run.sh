#!/usr/bin/env bash
# One prepared GPU job: the Ghost-VGG-16 s-ablation at the largest paper-recipe fidelity that fits
# 10 minutes of one H100/H200, results and log under $OUT (default runs/gpu).
#   bash experiments/gpu/run.sh              # on the GPU machine, from the repository root
#   bash experiments/gpu/run.sh --dry-run    # tiny CPU check of the same pipeline
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-runs/gpu}"
python experiments/gpu/plan_and_run.py --out "$OUT" --data ../shared/data/cifar10/train.npz --minutes 10 "$@"
