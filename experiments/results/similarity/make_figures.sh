#!/usr/bin/env bash
# Regenerates everything in experiments/results/similarity/ (run from the repository root).
# Step 1 (~8 min, CPU, 1 thread) trains the Ghost-VGG-16 proxy; its weights stay outside git.
set -euo pipefail
export OMP_NUM_THREADS=1
W=${W:-/tmp/ghostsim/ghost_vgg16_s2d3.pt}
mkdir -p "$(dirname "$W")"
[ -f "$W" ] || python experiments/results/similarity/train_proxy.py "$W" --n-train 10000 --epochs 6 --max-minutes 10

ghostnas similarity --model ghost_vgg16_cifar --weights "$W" \
  --layer features.0 --layer features.1 \
  --cka-layer features.3 --cka-layer features.4 --cka-layer features.6 --cka-layer features.7 \
  --cka-layer features.8 --cka-layer features.10 --cka-layer features.12 --cka-layer features.14 \
  --cka-layer features.16 \
  --data npz:/work/shared/data/cifar10/test.npz --n 64 --top-k 3 \
  --label "trained: 6 epochs, 10k CIFAR-10 images, 73.3% held-out" \
  --out experiments/results/similarity/ghost_vgg16_cifar10

# ResNet-50 first residual group (paper Figure 1's layer), random init: no weights can be downloaded here.
ghostnas similarity --model torchvision:resnet50 --layer layer1 \
  --data npz:/work/shared/data/cifar10/test.npz --n 16 --resize 224 --top-k 3 --max-maps 64 \
  --label "UNTRAINED, random init" \
  --out experiments/results/similarity/resnet50_layer1_untrained
