"""Ghost-VGG-16 s-ablation (paper Table 4) at the largest fidelity that fits a GPU time budget.

Measures each network's training throughput on this device, picks the number of epochs of the paper
recipe (He et al.: SGD 0.1, momentum 0.9, wd 1e-4 off BN/bias, batch 128, lr /10 at 50% and 75%)
that lets every point x seed finish within the budget when the runs share the GPU, runs them as
parallel `ghostnas ablate` processes over one run cache, then writes the ablation table. Everything
it writes goes under --out (log, plan.json, run cache, table, summary, figure).

    python experiments/gpu/plan_and_run.py --out $OUT --data ../shared/data/cifar10/train.npz
    python experiments/gpu/plan_and_run.py --out runs/gpu-dry --dry-run   # tiny CPU check of the pipeline
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ghostnas.ghostnet import CifarNetConfig, build_model
from ghostnas.search.config import load_config
from ghostnas.search.data import load_dataset
from ghostnas.search.train import Fidelity, train_proxy

POINTS = [None, 2, 3, 4, 5]  # None: plain VGG-16


def measure_images_per_s(ratio, data, fid: Fidelity, device: str, steps: int) -> float:
    cfg = CifarNetConfig.uniform("vgg16", ratio, 3 if ratio else None, num_classes=10, width=fid.width)
    model = build_model(cfg)
    n = steps * fid.batch_size
    probe = Fidelity.from_dict({**fid.to_dict(), "epochs": 1, "eval_every": 1})
    sub = data.subset(torch.arange(min(n, len(data))))
    res = train_proxy(model, sub, sub.subset(torch.arange(min(256, len(sub)))), probe, device=device)
    return res.images_seen / max(res.compute_s, 1e-9)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default="../shared/data/cifar10/train.npz", help="CIFAR-10 train arrays (npz)")
    ap.add_argument("--minutes", type=float, default=10.0, help="total wall-clock budget")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--parallel", type=int, default=5, help="runs sharing the GPU at once")
    ap.add_argument("--dry-run", action="store_true", help="tiny CPU run of the whole pipeline")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "log.txt", "a")

    def say(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    t_start = time.time()
    seeds = [int(s) for s in args.seeds.split(",")]
    device = "cpu" if args.dry_run else ("cuda" if torch.cuda.is_available() else "cpu")
    base = load_config("vgg16_ratio")["fidelities"]["paper"]
    overrides = {}
    if args.dry_run:
        seeds = seeds[:1]
        overrides = {"width": 0.125, "fraction": 0.02, "batch_size": 32}
        data_spec = "digits-as-cifar"
        rng = np.random.default_rng(0)
        npz = out / "tiny.npz"
        np.savez(npz, x=rng.integers(0, 256, (600, 32, 32, 3), dtype=np.uint8), y=np.repeat(np.arange(10), 60))
        data_spec = f"npz:{npz}"
    else:
        data_spec = f"npz:{args.data}"
    fid = Fidelity.from_dict({**base, **overrides})
    data = load_dataset(data_spec)
    say(f"device {device} ({torch.cuda.get_device_name(0) if device == 'cuda' else 'cpu'}), data {data_spec}, "
        f"{len(data)} images; recipe {fid.to_dict()}")
    steps = 3 if args.dry_run else 60
    rates = {str(r): measure_images_per_s(r, data, fid, device, steps) for r in POINTS}
    say("training throughput alone (images/s): " + ", ".join(f"{k}: {v:,.0f}" for k, v in rates.items()))
    # Training images per epoch after the 10% held-out validation split, times the fraction.
    per_epoch = len(data) * 0.9 * fid.fraction
    # Sequential GPU-seconds per epoch of every run; sharing the GPU is assumed to give no speed-up
    # (conservative), and a quarter of the budget is kept for start-up, evaluation and the report.
    epoch_s = sum(per_epoch / rates[str(r)] for r in POINTS) * len(seeds)
    budget_s = args.minutes * 60 * 0.75 - (time.time() - t_start)
    epochs = 1 if args.dry_run else max(1, min(164, math.floor(budget_s / epoch_s)))
    plan = {"device": device, "images_per_s": rates, "epoch_gpu_s_all_runs": epoch_s, "budget_s": budget_s,
            "epochs": epochs, "seeds": seeds, "fidelity": {**fid.to_dict(), "epochs": epochs}, "data": data_spec}
    (out / "plan.json").write_text(json.dumps(plan, indent=2))
    say(f"plan: {epochs} epochs of the paper recipe for {len(POINTS)} networks x {len(seeds)} seeds "
        f"(all runs: {epoch_s:.1f} GPU-s per epoch, budget {budget_s:.0f} s)")

    common = ["--config", "vgg16_ratio", "--set", "fidelity=paper", "--set", f"fidelities.paper.epochs={epochs}",
              "--set", f"data.dataset={data_spec}", "--set", f"seeds={json.dumps(seeds)}",
              "--set", f"output.dir={out / 'vgg16_ratio'}", "--set", f"output.runs_dir={out / 'runs'}",
              "--set", f"study.device={device}"]
    common += [a for k, v in overrides.items() for a in ("--set", f"fidelities.paper.{k}={v}")]
    jobs = []
    for r in POINTS:
        point = (["--set", "values=[]", "--set", "baseline=true", "--set", "study.name=gpu-baseline"] if r is None
                 else ["--set", f"values=[{r}]", "--set", "baseline=false", "--set", f"study.name=gpu-s{r}"])
        jobs.append([sys.executable, "-m", "ghostnas.cli", "ablate", *common, *point, "--no-report"])
    running: list[subprocess.Popen] = []
    for cmd in jobs:
        while len([p for p in running if p.poll() is None]) >= args.parallel:
            time.sleep(1)
        running.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
    codes = [p.wait() for p in running]
    say(f"training processes exited with {codes}")
    report = subprocess.run([sys.executable, "-m", "ghostnas.cli", "ablate", *common, "--no-latency"],
                            stdout=log, stderr=subprocess.STDOUT)
    say(f"report exit {report.returncode}; total {time.time() - t_start:.0f} s")
    return 0 if report.returncode == 0 and not any(codes) else 1


if __name__ == "__main__":
    sys.exit(main())
