"""Train a small Ghost-VGG-16 (s=2, d=3) proxy on real CIFAR-10 arrays, on CPU, 1 thread.

Only to have a model trained on real data for the feature-map figures; not an accuracy run.
Usage: python experiments/results/similarity/train_proxy.py OUT.pt [--n-train 5000] [--epochs 3]
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from ghostnas.ghostnet import create_model

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def norm(x):
    return (x.float() / 255.0 - MEAN) / STD


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--data", default="/work/shared/data/cifar10/train.npz")
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-val", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-minutes", type=float, default=10.0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    d = np.load(a.data)
    x = torch.from_numpy(d["x"]).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(d["y"])
    # train on the first n-train images, hold out the last n-val images of the train set
    xtr, ytr = x[:a.n_train], y[:a.n_train]
    xva, yva = x[-a.n_val:], y[-a.n_val:]
    model = create_model("ghost_vgg16_cifar", ratio=2, dw_size=3, num_classes=10)
    steps = a.epochs * ((a.n_train + a.batch - 1) // a.batch)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps, pct_start=0.2)
    t0 = time.time()
    step = 0
    for ep in range(a.epochs):
        model.train()
        perm = torch.randperm(a.n_train)
        tot = 0.0
        for i in range(0, a.n_train, a.batch):
            idx = perm[i:i + a.batch]
            xb = xtr[idx]
            flip = torch.rand(len(idx)) < 0.5
            xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(3), xb)
            loss = F.cross_entropy(model(norm(xb)), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step < steps - 1:
                sched.step()
            step += 1
            tot += loss.item() * len(idx)
        print(f"epoch {ep + 1}: train loss {tot / a.n_train:.3f}, {time.time() - t0:.0f}s", flush=True)
        if (time.time() - t0) / 60 > a.max_minutes:
            print("time budget reached", flush=True)
            break
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, a.n_val, 250):
            correct += (model(norm(xva[i:i + 250])).argmax(1) == yva[i:i + 250]).sum().item()
    acc = correct / a.n_val
    print(f"held-out accuracy (last {a.n_val} train images): {acc:.4f}", flush=True)
    torch.save(model.state_dict(), a.out)
    info = dict(vars(a), heldout_accuracy=acc, seconds=round(time.time() - t0), epochs_done=ep + 1)
    with open(a.out + ".json", "w") as f:
        json.dump(info, f, indent=2)


if __name__ == "__main__":
    main()
