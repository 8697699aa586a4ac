"""Search-efficiency benchmark (issue "Can the proxy be trusted?", item 5): hypervolume against training compute.

Methods (seeds 0-4; each a real Optuna study through ghostnas.search.objective.TrialObjective):
  random, tpe (4 random start-up trials), nsga2 (population sized to the study: 4), and the suite's
  cheaper searches on that TPE:
  prefilter (synflow, 8 candidates, select = within_cost), mo-asha (min_epochs 1, eta 3),
  prefilter+mo-asha, and on digits also prefilter-max (the plain argmax rule).
Every method runs until N architectures are fully trained (the study's n_trials); MO-ASHA's stopped
trials come on top, and the compute axis says what each method spent.

Compute = core-seconds: per trial, the CPU time of its training epochs (1 torch thread), of the
validations the method needs (after the last epoch; MO-ASHA also at each rung), and of the
pre-filter's scoring (``prefilter.cpu_s``). Sampler time is not counted. The machine's 2 cores are
shared with other jobs, which inflates CPU time several-fold and unevenly over a run's hours, so each
measured time is scaled by a contention probe timed around it (:func:`probe_cpu_s`): the summary is
in unloaded-equivalent core-seconds (raw CPU seconds are kept too).

Training cache. Training is deterministic on CPU for a fixed seed, thread count and setup, and the
methods of one seed share many architectures (random, TPE, MO-ASHA and NSGA-II start from the same
seeded random points). Each (dataset, seed, architecture) is therefore trained once, epoch by epoch
with per-epoch CPU times, in ``train_cache.jsonl``; a later trial of the same architecture replays the
recorded epochs through the trial's ``report`` callback (so MO-ASHA decides on the same numbers) and
is charged the recorded CPU time of the epochs it needed. A stopped trial caches only the epochs it
ran; a later trial that needs more retrains from scratch. Charges are thus what each method would
have spent, whatever the cache saved.

Hypervolume: of the feasible, fully trained trials (COMPLETE, not rejected, not reused; early-stopped
trials are PRUNED and add nothing), points (1 - accuracy, MACs/1e6) minimised against the fixed
reference point (1, macs_max/1e6), divided by the reference box's area (a number in [0, 1]).

Run from the repository root (resumable: finished runs are read back from trials.jsonl):
    nohup nice -n 5 python experiments/bench/search_efficiency/bench_search_efficiency.py run &
    python experiments/bench/search_efficiency/bench_search_efficiency.py summarize
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
RUNS = HERE / "runs"              # journals (git-ignored)
TRIALS = HERE / "trials.jsonl"    # one line per finished run: every trial's record
CACHE = HERE / "train_cache.jsonl"
THREADS = 1
SEEDS = (0, 1, 2, 3, 4)
GRID = 200                        # points of the common compute grid

# The quick-start recipe (search/configs/quickstart.toml) on digits.
DIGITS = {
    "space": "ghostnet_cifar", "objectives": ["accuracy", "macs"], "data": {"dataset": "digits"},
    "fidelity": {"epochs": 3, "fraction": 1.0, "val_fraction": 0.2, "batch_size": 64, "optimizer": "adamw",
                 "lr": 0.004, "weight_decay": 0.01, "schedule": "onecycle", "label_smoothing": 0.05, "eval_every": 1},
    "constraints": {"macs_max": 1_000_000},
}
# CIFAR-10 subset: 2,450 training images (5% of the 49,000 left after 1,000 validation images), width 0.25.
CIFAR = {
    "space": "ghostnet_cifar@width=0.25", "objectives": ["accuracy", "macs"],
    "data": {"dataset": "npz:../shared/data/cifar10/train.npz"},  # relative to the repository root (cwd)
    "fidelity": {"epochs": 3, "fraction": 0.05, "val_size": 1000, "batch_size": 128, "optimizer": "sgd", "lr": 0.05,
                 "nesterov": True, "weight_decay": 5e-4, "schedule": "onecycle", "eval_every": 1},
    "constraints": {"macs_max": 700_000},
}
# Fully trained architectures per run (n_trials). Every run validates each epoch (eval_every = 1, one
# training setup, so one cache); a method that validates only after the last epoch is charged only that.
DATASETS = {"digits": {"base": DIGITS, "n_trials": 12}, "cifar10": {"base": CIFAR, "n_trials": 12}}
# TPE's random start sized to the study like NSGA-II's population (Optuna's default, 10, would leave
# TPE identical to random search for 10 of the 12 trials).
TPE_STARTUP = 4
# select = "within_cost": the sampler picks where on the MACs axis to look, synflow the best-scored candidate
# no costlier than that (synflow alone tracks size: Spearman 0.81 with MACs over this space).
PREFILTER = {"proxy": "synflow", "candidates": 8, "select": "within_cost"}
EARLY = {"method": "mo-asha", "min_epochs": 1, "eta": 3}
METHODS = ("random", "tpe", "nsga2", "prefilter", "mo-asha", "prefilter+mo-asha")
EXTRA = ("prefilter-max",)  # the plain argmax rule, for comparison (digits only)


def space_spec(name: str) -> dict:
    from ghostnas.space import load_space

    base, _, width = name.partition("@width=")
    spec = copy.deepcopy(load_space(base).spec)
    if width:
        spec["global"] = {**spec["global"], "width": [float(width)]}
    return spec


def method_config(dataset: str, method: str, seed: int, run_dir: Path) -> dict:
    d = DATASETS[dataset]
    raw = copy.deepcopy(d["base"])
    raw["space"] = space_spec(raw["space"])
    raw.update({"name": f"{dataset}-{method}-s{seed}", "seed": seed})
    sampler = {"random": "random", "nsga2": "nsga2"}.get(method, "tpe")
    raw["sampler"] = {"name": sampler}  # nsga2: population = n_trials // 4 (>= 4), search.samplers
    if sampler == "tpe":
        raw["sampler"]["n_startup_trials"] = TPE_STARTUP
    if "prefilter" in method:
        raw["prefilter"] = dict(PREFILTER, select="max") if method == "prefilter-max" else dict(PREFILTER)
    if "mo-asha" in method:
        raw["early_stopping"] = dict(EARLY)
    raw["study"] = {"n_trials": d["n_trials"], "run_dir": str(run_dir), "threads": THREADS, "device": "cpu"}
    return raw


# ------------------------------------------------------------------ contention probe

_PROBE: dict = {}


def probe_cpu_s(reps: int = 1) -> float:
    """CPU seconds of a fixed workload (forward + backward of a fixed GhostNet on one 32-image batch,
    best of ``reps``; about 0.05 s unloaded, not charged to any method). The machine's 2 cores are shared: contention inflates CPU time several-fold
    (cold caches after every preemption), differently over the hours a benchmark runs. Every measured
    time is scaled by ``min probe / probe at that time`` (summary: "unloaded-equivalent" seconds)."""
    import torch
    import torch.nn.functional as F

    from ghostnas.space import SearchSpace, build_arch

    if not _PROBE:
        torch.manual_seed(0)
        spec = space_spec("ghostnet_cifar")
        _PROBE["model"] = build_arch(SearchSpace(spec, 10).default()).train()
        _PROBE["x"] = torch.randn(32, 3, 32, 32)
        _PROBE["y"] = torch.randint(0, 10, (32,))
        F.cross_entropy(_PROBE["model"](_PROBE["x"]), _PROBE["y"]).backward()  # warm-up, untimed
    m, x, y = _PROBE["model"], _PROBE["x"], _PROBE["y"]
    best = math.inf
    for _ in range(reps):
        c0 = time.process_time()
        m.zero_grad(set_to_none=True)
        F.cross_entropy(m(x), y).backward()
        best = min(best, time.process_time() - c0)
    return best


# ------------------------------------------------------------------ the training cache

class TrainCache:
    """Per (dataset, seed, architecture): the validation curve and per-epoch CPU seconds (training
    steps, validation), persisted in CACHE. Installed by patching the objective's ``train_proxy``."""

    def __init__(self) -> None:
        self.entries: dict[str, dict] = {}
        if CACHE.is_file():
            for line in CACHE.read_text().splitlines():
                if line.strip():
                    e = json.loads(line)
                    if len(e["curve"]) >= len(self.entries.get(e["key"], {}).get("curve", [])):
                        self.entries[e["key"]] = e
        self.arch = None          # the architecture the objective built last
        self.key_prefix = ""      # dataset:seed of the running study
        self.eval_at: set[int] = set()
        self.charged = {"train_cpu_s": 0.0, "eval_cpu_s": 0.0, "epochs": 0, "evals": 0, "trained_s": 0.0}
        self._eval_cpu = 0.0

    def install(self) -> None:
        import ghostnas.search.objective as obj
        import ghostnas.search.train as tr

        real_build, real_train, real_eval = obj.build_arch, obj.train_proxy, tr.evaluate

        def build(arch):
            self.arch = arch
            return real_build(arch)

        def evaluate(*a, **k):
            c0 = time.process_time()
            try:
                return real_eval(*a, **k)
            finally:
                self._eval_cpu += time.process_time() - c0

        def train(model, train_data, val, fidelity, seed=0, device="auto", report=None):
            return self.train(real_train, model, train_data, val, fidelity, seed, device, report)

        obj.build_arch, obj.train_proxy, tr.evaluate = build, train, evaluate

    def _charge(self, entry: dict, epoch: int) -> None:
        self.charged["train_cpu_s"] += entry["train_cpu"][epoch]
        self.charged["epochs"] += 1
        if epoch in self.eval_at:
            self.charged["eval_cpu_s"] += entry["eval_cpu"][epoch]
            self.charged["evals"] += 1
        self.charged["keys"] = sorted(set(self.charged.get("keys", [])) | {entry["key"]})

    def train(self, real_train, model, train_data, val, fidelity, seed, device, report):
        from ghostnas.search.train import TrainResult

        key = f"{self.key_prefix}:{self.arch.id}"
        entry = self.entries.get(key)
        done = 0
        if entry is not None:
            for e, acc in enumerate(entry["curve"]):
                self._charge(entry, e)
                if report is not None:
                    report(e, acc)          # may raise TrialPruned: MO-ASHA decides on the recorded numbers
                done = e + 1
            if done == fidelity.epochs:
                return TrainResult(val_acc=entry["curve"][-1], curve=list(entry["curve"]), epochs=done,
                                   device="cpu (cached)")
        new = {"key": key, "arch_id": self.arch.id, "curve": [], "train_cpu": [], "eval_cpu": []}
        probe0 = probe_cpu_s()
        last = [time.process_time(), self._eval_cpu]
        t0 = time.process_time()

        def recording(e: int, acc: float) -> None:
            now, ev = time.process_time(), self._eval_cpu
            new["curve"].append(acc)
            new["eval_cpu"].append(round(ev - last[1], 4))
            new["train_cpu"].append(round(now - last[0] - (ev - last[1]), 4))
            last[0], last[1] = now, ev
            if e >= done:               # epochs already replayed from the cache were charged there
                self._charge(new, e)
                if report is not None:
                    report(e, acc)

        try:
            return real_train(model, train_data, val, fidelity, seed=seed, device=device, report=recording)
        finally:
            self.charged["trained_s"] += time.process_time() - t0
            new["probe_cpu_s"] = round((probe0 + probe_cpu_s()) / 2, 5)  # contention around this training
            if len(new["curve"]) > len((entry or {}).get("curve", [])):
                self.entries[key] = new
                with CACHE.open("a") as f:
                    f.write(json.dumps(new) + "\n")


def run_one(dataset: str, method: str, seed: int, cache: TrainCache) -> dict:
    import optuna
    import torch

    from ghostnas.search.objective import TrialObjective, prepare_data
    from ghostnas.search.study import _counts, open_study
    from ghostnas.search.study_config import StudyConfig

    torch.set_num_threads(THREADS)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_dir = RUNS / dataset / method / f"seed{seed}"
    if run_dir.exists():  # an unfinished earlier attempt: start over
        import shutil
        shutil.rmtree(run_dir)
    cfg = StudyConfig.from_dict(method_config(dataset, method, seed, run_dir))
    train, val, _ = prepare_data(cfg)
    study = open_study(cfg)
    objective = TrialObjective(cfg, study)
    cache.key_prefix = f"{dataset}:{seed}:{cfg.setup_hash}"
    epochs = cfg.fidelity.epochs
    cache.eval_at = set(range(epochs)) if cfg.early_stopping else {epochs - 1}
    spent, w0, c0 = 0.0, time.perf_counter(), time.process_time()
    records = []
    while _counts(study)["complete"] < cfg.n_trials and len(records) < 10 * cfg.n_trials:
        cache.charged = {k: 0.0 for k in ("train_cpu_s", "eval_cpu_s", "epochs", "evals", "trained_s")}
        probe = probe_cpu_s()  # contention at this trial's pre-filter scoring (not charged)
        study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
        t = study.trials[-1]
        ua = t.user_attrs
        pf = ua.get("prefilter") or {}
        ch = dict(cache.charged)
        keys = ch.pop("keys", [])
        ch["probe_cpu_s"] = cache.entries[keys[0]]["probe_cpu_s"] if keys else None
        compute = ch["train_cpu_s"] + ch["eval_cpu_s"] + float(pf.get("cpu_s", 0.0))
        spent += compute
        records.append({"number": t.number, "state": t.state.name, "values": t.values, "macs": ua.get("macs"),
                        "arch_id": ua.get("arch_id"), "rejected": bool(ua.get("rejected")),
                        "reused": ua.get("reused_from") is not None, "charged": ch,
                        "prefilter_cpu_s": pf.get("cpu_s"), "prefilter_probe_cpu_s": round(probe, 5),
                        "prefilter_chosen": pf.get("chosen"),
                        "prefilter_candidates_scored": sum("score" in r for r in pf.get("scores", [])),
                        "stopped_at_epoch": ua.get("stopped_at_epoch"), "curve": ua.get("curve"),
                        "fail_reason": ua.get("fail_reason"), "compute_s": compute, "cum_compute_s": spent})
    states = [r["state"] for r in records]
    return {"dataset": dataset, "method": method, "seed": seed, "compute_s": spent,
            "wall_s": time.perf_counter() - w0, "process_cpu_s": time.process_time() - c0,
            "n_trials": len(records), "n_complete": states.count("COMPLETE"), "n_pruned": states.count("PRUNED"),
            "n_failed": states.count("FAIL"), "macs_max": cfg.constraints["macs_max"],
            "train_images": len(train), "val_images": len(val), "trials": records,
            "load_avg": os.getloadavg()[0], "torch": torch.__version__, "python": platform.python_version()}


def done_runs() -> dict:
    out = {}
    if TRIALS.is_file():
        for line in TRIALS.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[(r["dataset"], r["method"], r["seed"])] = r
    return out


def cmd_run(args: argparse.Namespace) -> None:
    done = done_runs()
    cache = TrainCache()
    cache.install()
    datasets = args.datasets or list(DATASETS)
    methods = args.methods or list(METHODS) + list(EXTRA)
    seeds = args.seeds or list(SEEDS)
    for seed in seeds:  # seeds outermost: a partial run still has every method of both datasets
        for ds in datasets:
            for m in methods:
                if (ds, m, seed) in done or (m in EXTRA and ds != "digits"):
                    continue
                t0 = time.time()
                try:
                    r = run_one(ds, m, seed, cache)
                except Exception as e:  # noqa: BLE001 - log it, go on with the other runs
                    print(f"{ds} {m} seed {seed}: FAILED {type(e).__name__}: {e}", flush=True)
                    continue
                with TRIALS.open("a") as f:
                    f.write(json.dumps(r) + "\n")
                print(f"{ds} {m} seed {seed}: {r['n_trials']} trials ({r['n_complete']} complete, {r['n_pruned']} "
                      f"stopped), {r['compute_s']:.0f} core-s, {time.time() - t0:.0f} s wall", flush=True)


# ------------------------------------------------------------------ analysis

def min_probe(runs: dict) -> float:
    """The least-contended probe time seen anywhere in the benchmark (the unit of compute)."""
    ps = [p for r in runs.values() for t in r["trials"]
          for p in (t["charged"].get("probe_cpu_s"), t.get("prefilter_probe_cpu_s")) if p]
    return min(ps) if ps else 1.0


def trial_cost(t: dict, p0: float) -> float:
    """A trial's compute in unloaded-equivalent core-seconds: each measured time scaled by the
    contention probe taken when it was measured (``p0 / probe``)."""
    ch = t["charged"]
    cost = (ch["train_cpu_s"] + ch["eval_cpu_s"]) * (p0 / ch["probe_cpu_s"] if ch.get("probe_cpu_s") else 1.0)
    if t.get("prefilter_cpu_s"):
        cost += t["prefilter_cpu_s"] * p0 / t["prefilter_probe_cpu_s"]
    return cost


def hv_curve(run: dict, p0: float = 1.0) -> tuple[list[float], list[float]]:
    """(cumulative compute after each trial, normalised hypervolume after it)."""
    from ghostnas.analysis.hypervolume import hypervolume

    ref = [1.0, run["macs_max"] / 1e6]
    area = ref[0] * ref[1]
    pts, xs, ys, spent = [], [0.0], [0.0], 0.0
    for r in run["trials"]:
        if r["state"] == "COMPLETE" and not r["rejected"] and not r["reused"] and r["values"] is not None \
                and r["macs"] <= run["macs_max"]:
            pts.append([1.0 - r["values"][0], r["macs"] / 1e6])
        spent += trial_cost(r, p0)
        xs.append(spent)
        ys.append(hypervolume(pts, ref) / area if pts else 0.0)
    return xs, ys


def on_grid(xs: list[float], ys: list[float], grid):
    import numpy as np

    idx = np.searchsorted(np.asarray(xs), grid, side="right") - 1  # last trial finished by each grid point
    return np.asarray(ys)[np.clip(idx, 0, len(ys) - 1)]


def first_reach(curve, grid, target: float):
    import numpy as np

    hit = np.nonzero(curve >= target - 1e-12)[0]
    return float(grid[hit[0]]) if hit.size else None


def summarize(runs: dict) -> dict:
    import numpy as np

    from ghostnas.analysis.stats import diff_ci95, holm_adjust, mean_ci95

    p0 = min_probe(runs)
    out = {"probe_min_cpu_s": p0, "reference_point": "(1 - accuracy, MACs/1e6) minimised against (1, macs_max/1e6); hypervolume divided "
                              "by the box area 1 x macs_max/1e6",
           "compute": "unloaded-equivalent core-seconds: CPU time (1 torch thread) of each trial's training epochs "
                      "and the validations its method needs, plus its pre-filter scoring, each scaled by "
                      "probe_min_cpu_s / (contention probe when it was measured); sampler time excluded",
           "datasets": {}}
    for ds in DATASETS:
        by = {}
        for (d, m, s), r in runs.items():
            if d == ds:
                by.setdefault(m, []).append(r)
        if "random" not in by:
            continue
        total = {id(r): hv_curve(r, p0)[0][-1] for rs in by.values() for r in rs}
        rand_total = float(np.mean([total[id(r)] for r in by["random"]]))
        grid = np.linspace(0.0, rand_total, GRID + 1)
        curves = {m: np.array([on_grid(*hv_curve(r, p0), grid) for r in sorted(rs, key=lambda r: r["seed"])])
                  for m, rs in by.items()}
        finals = {m: np.array([hv_curve(r, p0)[1][-1] for r in sorted(rs, key=lambda r: r["seed"])]) for m, rs in by.items()}
        target = float(finals["random"].mean())
        rng = np.random.default_rng(0)
        dsout = {"macs_max": by["random"][0]["macs_max"], "n_trials": DATASETS[ds]["n_trials"],
                 "train_images": by["random"][0]["train_images"], "val_images": by["random"][0]["val_images"],
                 "random_total_compute_s": rand_total, "random_final_hv_mean": target,
                 "grid_fraction_of_random_compute": (grid / rand_total).round(4).tolist(), "methods": {}}
        for m in METHODS + EXTRA:
            if m not in curves:
                continue
            c = curves[m]
            stats = [mean_ci95(c[:, j]) for j in range(c.shape[1])]
            mean = np.array([s[0] for s in stats])
            reach = first_reach(mean, grid, target)
            boots = []
            for _ in range(2000):  # seeds resampled, for the method and for random's target
                cm = c[rng.integers(0, len(c), len(c))].mean(0)
                tr = finals["random"][rng.integers(0, len(finals["random"]), len(finals["random"]))].mean()
                v = first_reach(cm, grid, tr)
                boots.append(np.inf if v is None else v / rand_total)
            lo, hi = np.percentile(boots, [2.5, 97.5])
            rs = by[m]
            fm = mean_ci95(finals[m])
            dsout["methods"][m] = {
                "n_seeds": len(rs),
                "hv_curve": {"mean": mean.round(5).tolist(),
                             "ci95_lo": [None if math.isnan(s[1]) else round(s[1], 5) for s in stats],
                             "ci95_hi": [None if math.isnan(s[2]) else round(s[2], 5) for s in stats]},
                "compute_to_random_final_hv": None if reach is None else round(reach / rand_total, 4),
                "compute_to_random_final_hv_ci95": [None if not math.isfinite(lo) else round(float(lo), 4),
                                                    None if not math.isfinite(hi) else round(float(hi), 4)],
                "final_hv": {"mean": fm[0], "ci95": [fm[1], fm[2]]},
                "total_compute_s": float(np.mean([total[id(r)] for r in rs])),
                "measured_cpu_s_per_run": float(np.mean([r["compute_s"] for r in rs])),
                "trials_per_run": float(np.mean([r["n_trials"] for r in rs])),
                "fully_trained_per_run": float(np.mean([sum(t["state"] == "COMPLETE" and not t["rejected"]
                                                             and not t["reused"] for t in r["trials"]) for r in rs])),
                "stopped_per_run": float(np.mean([r["n_pruned"] for r in rs])),
                "prefilter_share_of_compute": float(np.mean([
                    sum(t["prefilter_cpu_s"] * p0 / t["prefilter_probe_cpu_s"] for t in r["trials"]
                        if t.get("prefilter_cpu_s")) / max(total[id(r)], 1e-9) for r in rs])),
                "wall_s_per_run": float(np.mean([r["wall_s"] for r in rs])),
                "process_cpu_s_per_run": float(np.mean([r["process_cpu_s"] for r in rs])),
            }
        # Final hypervolume against random's (Welch), Holm-adjusted over this dataset's methods.
        others = [m for m in dsout["methods"] if m != "random"]
        diffs = {m: diff_ci95(finals[m], finals["random"]) for m in others}
        for m, p_holm in zip(others, holm_adjust([diffs[m]["p_value"] for m in others])):
            dsout["methods"][m]["final_hv_minus_random"] = {**diffs[m], "p_value_holm": p_holm}
        dsout["whole_part_process_cpu_minutes"] = sum(r["process_cpu_s"] for rs in by.values() for r in rs) / 60
        out["datasets"][ds] = dsout
    return out


def figure(summary: dict, path: Path) -> None:
    """Per dataset two panels (the samplers; the cheaper searches beside random), mean hypervolume
    against compute with the 95% t-band over seeds, clipped to [0, 1] (a hypervolume's range)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    dss = list(summary["datasets"])
    groups = [("samplers", ["random", "tpe", "nsga2"]),
              ("cheaper searches (TPE based) vs random", ["random"] + [m for m in METHODS + EXTRA
                                                                       if m not in ("random", "tpe", "nsga2")])]
    fig, axes = plt.subplots(len(dss), 2, figsize=(12.4, 4.6 * len(dss)), squeeze=False)
    colors = dict(zip(METHODS + EXTRA, ["#444444", "#0072B2", "#009E73", "#E69F00", "#CC79A7", "#D55E00", "#56B4E9"]))
    for row, ds in zip(axes, dss):
        d = summary["datasets"][ds]
        x = np.array(d["grid_fraction_of_random_compute"])
        tops = []
        for ax, (gname, members) in zip(row, groups):
            for m in members:
                v = d["methods"].get(m)
                if v is None:
                    continue
                mean = np.array(v["hv_curve"]["mean"], dtype=float)
                lo = np.clip(np.array([np.nan if a is None else a for a in v["hv_curve"]["ci95_lo"]], dtype=float), 0, 1)
                hi = np.clip(np.array([np.nan if a is None else a for a in v["hv_curve"]["ci95_hi"]], dtype=float), 0, 1)
                ax.plot(x, mean, color=colors[m], lw=1.8, label=f"{m} (n={v['n_seeds']})")
                ax.fill_between(x, lo, hi, color=colors[m], alpha=0.12, lw=0)
                tops.append(max(np.nanmax(mean), np.nanmax(hi) if np.isfinite(hi).any() else 0.0))
            ax.axhline(d["random_final_hv_mean"], color="#444444", ls=":", lw=1, label="random's final mean")
            ax.axvline(1 / 3, color="#999999", ls="--", lw=0.8, label="1/3 of random's compute")
            ax.set_title(f"{ds}: {gname}", fontsize=10)
            ax.set_xlabel("training compute, fraction of random search's total "
                          f"({d['random_total_compute_s']:.0f} core-s per run)")
            ax.set_ylabel("hypervolume (normalised, fixed reference)")
            ax.set_xlim(0, 1)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="lower right")
        for ax in row:
            ax.set_ylim(0, min(1.0, 1.08 * max(tops)))  # the highest band on scale, per dataset
    fig.suptitle("Hypervolume against training compute: mean over seeds, band = 95% t-interval (clipped to [0, 1])",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130, bbox_inches="tight")


def readme(summary: dict, runs: dict) -> str:
    def frac(v, c) -> str:
        lo, hi = c
        if v is None:
            return "never" + (f" (CI [{lo:.2f}, never])" if lo is not None else "")
        return f"**{v:.2f}** [{'—' if lo is None else f'{lo:.2f}'}, {'never' if hi is None else f'{hi:.2f}'}]"

    lines = ["# Search efficiency: hypervolume vs training compute", "",
             "Issue \"Can the proxy be trusted?\", item 5. Script: `bench_search_efficiency.py` (its docstring has the "
             "full protocol). Outputs: `summary.json`, `hypervolume_vs_compute.png`, `trials.jsonl` (every trial of "
             "every run), `train_cache.jsonl` (per-architecture curves and per-epoch CPU times).", "",
             "Command (repository root; resumable, runs already in `trials.jsonl` are skipped):", "",
             "```bash",
             "nohup nice -n 5 python experiments/bench/search_efficiency/bench_search_efficiency.py run &",
             "python experiments/bench/search_efficiency/bench_search_efficiency.py summarize  # summary.json + figure",
             "```", "",
             "* **Hypervolume**: feasible, fully trained trials only, points (1 − accuracy, MACs/1e6) against the fixed "
             "reference point (1, macs_max/1e6), divided by the box's area. Early-stopped trials are PRUNED and add "
             "nothing.",
             "* **Compute**: core-seconds (1 torch thread) of the training epochs and the validations each method "
             "needs, plus pre-filter scoring; sampler time excluded. Each (dataset, seed, architecture) is trained once "
             "and replayed from a cache for the other methods of that seed, each charged its recorded CPU time. The "
             "2 shared cores inflate CPU time several-fold, unevenly over the hours of a run: every measured time is "
             "scaled by a contention probe (a fixed forward+backward timed around it) to unloaded-equivalent "
             "core-seconds.",
             "* **compute_to_random_final_hv**: the fraction of random search's mean total compute at which the "
             "method's mean hypervolume curve (on a 200-point grid) first reaches random's final mean hypervolume; "
             "brackets: 95% bootstrap interval over seeds (method and random resampled; \"never\" = not reached in "
             "more than 2.5% of resamples).",
             "* **final HV − random**: Welch's difference of the final hypervolumes over seeds, with its 95% interval and "
             "p-value; in brackets the p-value Holm-adjusted over the dataset's methods. The figure's x axis ends at "
             "random's total compute: runs that spend more (the MO-ASHA ones) are cut there, their final value is in "
             "the table.", ""]
    for ds, d in summary["datasets"].items():
        lines += [f"## {ds}", "",
                  f"{d['train_images']:,} training / {d['val_images']:,} validation images, macs_max "
                  f"{d['macs_max'] / 1e6:.2f}M, {d['n_trials']} fully trained architectures per run; random search: "
                  f"{d['random_total_compute_s']:.0f} core-s per run, final hypervolume "
                  f"{d['random_final_hv_mean']:.4f}.", "",
                  "| method | seeds | compute to random's final HV (fraction) | final HV (95% CI) | final HV − random "
                  "[95% CI], p (Holm) | core-s per run | trials per run (stopped) | pre-filter share |",
                  "|---|---|---|---|---|---|---|---|"]
        for m, v in d["methods"].items():
            f = v["final_hv"]
            g = v.get("final_hv_minus_random")
            vs = "–" if g is None else (f"{g['diff']:+.4f} [{g['ci95'][0]:+.4f}, {g['ci95'][1]:+.4f}], "
                                        f"p={g['p_value']:.2g} ({g['p_value_holm']:.2g})")
            lines.append(f"| {m} | {v['n_seeds']} | {frac(v['compute_to_random_final_hv'], v['compute_to_random_final_hv_ci95'])} "
                         f"| {f['mean']:.4f} [{f['ci95'][0]:.4f}, {f['ci95'][1]:.4f}] | {vs} | {v['total_compute_s']:.0f} | "
                         f"{v['trials_per_run']:.1f} ({v['stopped_per_run']:.1f}) | "
                         f"{100 * v['prefilter_share_of_compute']:.0f}% |")
        lines.append("")
    lines += ["![hypervolume vs compute](hypervolume_vs_compute.png)", ""]
    return "\n".join(lines)


def cmd_summarize(args: argparse.Namespace) -> None:
    runs = done_runs()
    s = summarize(runs)
    (HERE / "summary.json").write_text(json.dumps(s, indent=1))
    figure(s, HERE / "hypervolume_vs_compute.png")
    if args.readme:
        (HERE / "README.md").write_text(readme(s, runs))
    for ds, d in s["datasets"].items():
        print(f"== {ds}: random final HV {d['random_final_hv_mean']:.4f}, random compute "
              f"{d['random_total_compute_s']:.0f} core-s, whole part {d['whole_part_process_cpu_minutes']:.1f} CPU-min")
        for m, v in d["methods"].items():
            print(f"  {m:18s} n={v['n_seeds']} reach={v['compute_to_random_final_hv']} ci={v['compute_to_random_final_hv_ci95']} "
                  f"final={v['final_hv']['mean']:.4f} [{v['final_hv']['ci95'][0]:.4f},{v['final_hv']['ci95'][1]:.4f}] "
                  f"trials={v['trials_per_run']:.1f} full={v['fully_trained_per_run']:.1f} "
                  f"stopped={v['stopped_per_run']:.1f} pf={v['prefilter_share_of_compute']:.2f}"
                  + ("" if "final_hv_minus_random" not in v else
                     f" vs random {v['final_hv_minus_random']['diff']:+.4f} p={v['final_hv_minus_random']['p_value']:.3g}"
                     f" holm={v['final_hv_minus_random']['p_value_holm']:.3g}"))


def main() -> None:
    sys.path.insert(0, str(ROOT))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--datasets", nargs="*", choices=list(DATASETS))
    r.add_argument("--methods", nargs="*", choices=list(METHODS) + list(EXTRA))
    r.add_argument("--seeds", nargs="*", type=int)
    sm = sub.add_parser("summarize")
    sm.add_argument("--readme", action="store_true", help="also (re)write README.md from the results")
    args = p.parse_args()
    os.chdir(ROOT)
    {"run": cmd_run, "summarize": cmd_summarize}[args.cmd](args)


if __name__ == "__main__":
    main()
