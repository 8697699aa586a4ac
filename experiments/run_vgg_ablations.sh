#!/usr/bin/env bash
# The committed CPU-proxy VGG-16 ablations on the real CIFAR-10 arrays (about 1.5 h on one CPU thread).
# Resumable: rerun the same script after an interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=npz:../shared/data/cifar10/train.npz
for name in vgg16_ratio vgg16_kernel; do
  ghostnas ablate --config $name --set data.dataset=$DATA \
    --set output.save_checkpoints=true --set study.threads=1 --no-report
done
