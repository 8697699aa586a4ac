"""Benchmark of the per-layer latency predictor (ghostnas.space.latency_predictor) and of the backends.

Draws random architectures from the shipped ``ghostnet`` space (at 224x224) and ``ghostnet_cifar``
(32x32), measures each whole network on every backend (torch deploy path, onnxruntime, openvino; one
thread) and predicts it from a per-layer table, then writes into this folder:

* ``results.csv`` -- one row per architecture and backend: ``arch, space, backend, measured_ms,
  predicted_ms`` plus the IQR, the calibration flag, the layer sum and the seconds spent;
* ``summary.json`` -- share within +-10 %, RMSPE, Kendall tau, table build time, prediction vs
  measurement time, test-retest noise of the measurements, per backend (and per space);
* ``scatter_<backend>.png`` -- measured vs predicted;
* ``backends.md`` / ``backends.json`` -- registry models and space points on every backend against
  timm's eager model, the fraction of the fp32 compute bound, Kendall tau between backends;
* ``tables.md`` -- the accuracy tables of README.md (phase ``tables`` alone rewrites both .md files).

The first ``--calibrate`` architectures of each space are the calibration networks of the fitted
correction; the accuracy is reported on the others (held out) and on all. Run (one thread):

    OMP_NUM_THREADS=1 nohup python experiments/bench/latency_predictor/bench_latency_predictor.py &
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from ghostnas.ghostnet import build_model, fuse_for_inference, model_config  # noqa: E402
from ghostnas.space import ArchConfig, analytic_counts, build_arch, load_space  # noqa: E402
from ghostnas.space.backends import backend_version, prepare_runner  # noqa: E402
from ghostnas.space.latency import measure_runner  # noqa: E402
from ghostnas.space.latency_predictor import (LatencyPredictor, LatencyTable, config_signatures,  # noqa: E402
                                              cpu_model, fit_calibration, measure_layers, network_features)
from ghostnas.space.onnx_export import export_module_onnx  # noqa: E402

HERE = Path(__file__).resolve().parent
BACKENDS = ("torch", "onnxruntime", "openvino")
SPACES = (("ghostnet", 224), ("ghostnet_cifar", None))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sample_archs(n_ghostnet: int, n_cifar: int, seed: int) -> list[tuple[str, ArchConfig]]:
    out = []
    for (name, res), n in zip(SPACES, (n_ghostnet, n_cifar)):
        space = load_space(name)
        rng = random.Random(seed)
        seen = set()
        while len(seen) < n:
            a = space.sample(rng)
            if res is not None:
                a = ArchConfig(a.model, res)
            if a.id not in seen:
                seen.add(a.id)
                out.append((name, a))
    return out


def measure_network(arch: ArchConfig, args: argparse.Namespace) -> dict[str, dict]:
    """Every backend's measurement of one network; seconds include building, export and compiling."""
    out = {}
    t0 = time.perf_counter()
    model = build_arch(arch).eval()
    fused = fuse_for_inference(model)
    build_s = time.perf_counter() - t0
    shape = [(1, arch.model.in_chans, arch.resolution, arch.resolution)]
    t0 = time.perf_counter()
    onnx = export_module_onnx(fused, shape)
    export_s = time.perf_counter() - t0
    for b in BACKENDS:
        t0 = time.perf_counter()
        runner = prepare_runner(fused, shape, backend=b, threads=1, channels_last=True, fold_bn=False,
                                onnx=None if b == "torch" else onnx)
        prep_s = time.perf_counter() - t0
        r = measure_runner(runner, warmup=args.warmup, min_run_time=args.net_min_run_time, clock=args.clock)
        total = time.perf_counter() - t0 + build_s + (export_s if b != "torch" else 0.0)
        out[b] = {"ms": r.median * 1e3, "iqr_ms": r.iqr * 1e3, "noisy": r.noisy, "prep_s": prep_s,
                  "measure_s": total, "version": r.backend_version, "precision": r.precision}
        del runner
    return out


def metrics(meas: np.ndarray, pred: np.ndarray) -> dict:
    from scipy.stats import kendalltau

    err = (pred - meas) / meas
    tau = kendalltau(meas, pred).statistic if len(meas) > 1 else float("nan")
    return {"n": int(len(meas)), "within_10pct": float(np.mean(np.abs(err) <= 0.10)),
            "within_5pct": float(np.mean(np.abs(err) <= 0.05)), "within_20pct": float(np.mean(np.abs(err) <= 0.20)),
            "rmspe_pct": float(np.sqrt(np.mean(err ** 2)) * 100), "mean_error_pct": float(np.mean(err) * 100),
            "max_abs_error_pct": float(np.max(np.abs(err)) * 100), "kendall_tau": float(tau)}


def scatter(rows: list[dict], backend: str, summary: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 5.2))
    colors = {"ghostnet": "#0072B2", "ghostnet_cifar": "#E69F00"}
    mine = [r for r in rows if r["backend"] == backend]
    for sp in colors:
        for calib, marker in ((False, "o"), (True, "x")):
            pts = [r for r in mine if r["space"] == sp and r["calibration"] == calib]
            if pts:
                ax.scatter([r["measured_ms"] for r in pts], [r["predicted_ms"] for r in pts], s=14 if not calib else 22,
                           marker=marker, c=colors[sp], alpha=0.75, linewidths=1.0,
                           label=f"{sp}{' (calibration)' if calib else ''}")
    lo = min(min(r["measured_ms"], r["predicted_ms"]) for r in mine) * 0.8
    hi = max(max(r["measured_ms"], r["predicted_ms"]) for r in mine) * 1.25
    xs = np.array([lo, hi])
    ax.plot(xs, xs, "k-", lw=0.8)
    ax.fill_between(xs, xs * 0.9, xs * 1.1, color="0.85", zorder=0, label="+-10 %")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured latency (ms, batch 1, 1 thread)")
    ax.set_ylabel("predicted latency (ms)")
    h = summary["held_out"]
    ax.set_title(f"{backend}: held-out {h['within_10pct'] * 100:.0f}% within +-10%, RMSPE {h['rmspe_pct']:.1f}%, "
                 f"tau {h['kendall_tau']:.3f}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------


def run_predictor(args: argparse.Namespace) -> dict:
    import tempfile

    cache = Path(args.cache or Path(tempfile.gettempdir()) / "ghostnas-bench-latency-cache")
    archs = sample_archs(args.n_ghostnet, args.n_cifar, args.seed)
    log(f"{len(archs)} architectures; cpu {cpu_model()}; clock {args.clock}; load {os.getloadavg()[0]:.1f}")
    tables = {b: LatencyTable.load(b, 1, "f32", args.clock, cache) for b in BACKENDS}
    for t in tables.values():
        t.timing = {"warmup": args.layer_warmup, "min_run_time": args.layer_min_run_time}
        t.points = {}  # calibration comes from this run only
    sigs = {sp: [s for name, a in archs if name == sp for s in config_signatures(a)] for sp, _ in SPACES}
    build = {}
    for sp, _ in SPACES:
        secs: dict[str, float] = {}
        distinct = len({s.key for s in sigs[sp]})
        log(f"table {sp}: {distinct} distinct layers")
        t0 = time.perf_counter()
        measure_layers(sigs[sp], list(tables.values()),
                       lambda i, n: log(f"  layers {i}/{n}") if i % 250 == 0 or i == n else None, seconds=secs)
        build[sp] = {"distinct_layers": distinct, "seconds_by_backend": secs, "seconds": time.perf_counter() - t0}
        for t in tables.values():
            t.save()
    log("measuring whole networks")
    measured = {}
    for i, (sp, a) in enumerate(archs):
        measured[(sp, a.id)] = measure_network(a, args)
        if (i + 1) % 10 == 0:
            log(f"  networks {i + 1}/{len(archs)} (load {os.getloadavg()[0]:.1f})")
    # test-retest: re-measure a subset at the end (the measurement noise floor)
    retest = {}
    subset = [x for sp, _ in SPACES for x in [y for y in archs if y[0] == sp][: args.retest]]
    log(f"re-measuring {len(subset)} networks (test-retest)")
    for sp, a in subset:
        retest[(sp, a.id)] = measure_network(a, args)
    # predictions: features from the table (timed), calibration on the first --calibrate of each space
    rows = []
    summary: dict = {"setup": {"cpu": cpu_model(), "machine": platform.machine(), "clock": args.clock, "threads": 1,
                               "torch": torch.__version__,
                               "versions": {b: backend_version(b) for b in BACKENDS},
                               "layer_timing": tables["torch"].timing,
                               "network_timing": {"warmup": args.warmup, "min_run_time": args.net_min_run_time},
                               "n_ghostnet": args.n_ghostnet, "n_cifar": args.n_cifar,
                               "calibration_per_space": args.calibrate, "seed": args.seed,
                               "load_avg_end": os.getloadavg()[0]},
                     "table_build": build, "backends": {}}
    for b in BACKENDS:
        pred = LatencyPredictor(tables[b], missing="error")
        feats, pred_s = {}, []
        for sp, a in archs:
            t0 = time.perf_counter()
            fam, f, _ = pred.features(a)
            pred_s.append(time.perf_counter() - t0)
            feats[(sp, a.id)] = (fam, f)
        fits = {}
        for sp, _ in SPACES:
            pts = [{**feats[(s2, a.id)][1], "measured_ms": measured[(s2, a.id)][b]["ms"]}
                   for s2, a in archs if s2 == sp][: args.calibrate]
            fits[sp] = fit_calibration(pts, "linear")
        # timed full predictions (lookup + calibration), as the search objective does them
        t0 = time.perf_counter()
        for sp, a in archs:
            fits[sp].apply(network_features(config_signatures(a), tables[b].layer_ms))
        predict_s = (time.perf_counter() - t0) / len(archs)
        out_rows = []
        for sp, a in archs:
            idx = [x for x in archs if x[0] == sp].index((sp, a))
            m = measured[(sp, a.id)][b]
            f = feats[(sp, a.id)][1]
            row = {"arch": a.id, "space": sp, "backend": b, "measured_ms": m["ms"],
                   "predicted_ms": fits[sp].apply(f), "measured_iqr_ms": m["iqr_ms"], "measured_noisy": m["noisy"],
                   "sum_ms": f["sum_ms"], "n_layers": int(f["n_layers"]), "calibration": idx < args.calibrate,
                   "measure_s": m["measure_s"], "resolution": a.resolution,
                   "macs": analytic_counts(a).macs,
                   "retest_ms": retest[(sp, a.id)][b]["ms"] if (sp, a.id) in retest else None}
            out_rows.append(row)
        rows += out_rows
        held = [r for r in out_rows if not r["calibration"]]
        s_b = {"version": backend_version(b), "precision": measured[(archs[0][0], archs[0][1].id)][b]["precision"],
               "calibration": {sp: fits[sp].to_dict() for sp in fits},
               "held_out": metrics(np.array([r["measured_ms"] for r in held]), np.array([r["predicted_ms"] for r in held])),
               "all": metrics(np.array([r["measured_ms"] for r in out_rows]),
                              np.array([r["predicted_ms"] for r in out_rows])),
               "by_space_held_out": {sp: metrics(np.array([r["measured_ms"] for r in held if r["space"] == sp]),
                                                 np.array([r["predicted_ms"] for r in held if r["space"] == sp]))
                                     for sp, _ in SPACES},
               "plain_sum_all": metrics(np.array([r["measured_ms"] for r in out_rows]),
                                        np.array([r["sum_ms"] for r in out_rows])),
               "table_build_s": sum(build[sp]["seconds_by_backend"].get(b, 0.0) for sp, _ in SPACES),
               "predict_s_per_arch": predict_s,
               "feature_lookup_s_per_arch_median": float(np.median(pred_s)),
               "measure_s_per_arch_mean": float(np.mean([r["measure_s"] for r in out_rows])),
               "measure_s_per_arch_by_space": {sp: float(np.mean([r["measure_s"] for r in out_rows if r["space"] == sp]))
                                               for sp, _ in SPACES}}
        s_b["speedup_measure_over_predict"] = s_b["measure_s_per_arch_mean"] / predict_s
        rt = [r for r in out_rows if r["retest_ms"] is not None]
        if rt:
            s_b["retest_noise"] = metrics(np.array([r["measured_ms"] for r in rt]), np.array([r["retest_ms"] for r in rt]))
            s_b["retest_noise"]["note"] = "second measurement of the same network vs the first (the noise floor)"
        summary["backends"][b] = s_b
        scatter(rows, b, s_b, HERE / f"scatter_{b}.png")
        log(f"{b}: held-out {s_b['held_out']}")
    with open(HERE / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    # Kendall tau between backends over all architectures (measured)
    from scipy.stats import kendalltau

    taus = {}
    for i, b1 in enumerate(BACKENDS):
        for b2 in BACKENDS[i + 1:]:
            for sp, _ in SPACES:
                x = [r["measured_ms"] for r in rows if r["backend"] == b1 and r["space"] == sp]
                y = [r["measured_ms"] for r in rows if r["backend"] == b2 and r["space"] == sp]
                taus[f"{b1}~{b2}@{sp}"] = float(kendalltau(x, y).statistic)
            x = [r["measured_ms"] for r in rows if r["backend"] == b1]
            y = [r["measured_ms"] for r in rows if r["backend"] == b2]
            taus[f"{b1}~{b2}@all"] = float(kendalltau(x, y).statistic)
    summary["kendall_tau_between_backends_measured"] = taus
    with open(HERE / "summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    return summary


# ---------------------------------------------------------------------------------------------


def peak_flops() -> dict:
    """fp32 peak of one core: nominal (FMA units x SIMD width x clock) and a measured big SGEMM."""
    mhz = None
    flags = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":")[1])
            if line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    simd = 16 if " avx512f" in flags else 8 if " avx2" in flags else 4
    fma_units = 2
    nominal = 2 * fma_units * simd * (mhz or 0) * 1e6
    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    best = math.inf
    for _ in range(15):
        t0 = time.process_time()
        a @ b
        best = min(best, time.process_time() - t0)
    return {"nominal_gflops": nominal / 1e9, "clock_mhz": mhz, "simd_fp32_lanes": simd, "fma_units": fma_units,
            "sgemm_1024_gflops": 2 * 1024 ** 3 / best / 1e9}


def run_backends(args: argparse.Namespace) -> dict:
    import timm

    peak = peak_flops()
    log(f"peak: {peak}")
    targets = [(n, model_config(n), 224, n) for n in ("ghostnet_050", "ghostnet_100", "ghostnet_130", "ghostnetv2_100")]
    archs = sample_archs(3, 2, args.seed + 1)
    targets += [(f"{sp}:{a.id}", a.model, a.resolution, None) for sp, a in archs]
    out = []
    for label, cfg, res, timm_name in targets:
        model = build_model(cfg).eval()
        shape = [(1, 3, res, res)]
        row = {"model": label, "resolution": res, "macs": analytic_counts(cfg, res).macs}
        tm = timm.create_model(timm_name if timm_name else "ghostnet_100", pretrained=False).eval() if timm_name \
            else model
        # timm's eager model (for space points: our eager, unfused model -- timm has no such network)
        x = torch.randn(*shape[0])
        r = measure_runner(_eager_runner(tm, x), warmup=args.warmup, min_run_time=args.bk_min_run_time,
                           clock=args.clock)
        row["timm_eager_ms"] = r.median * 1e3
        row["timm_eager_iqr_ms"] = r.iqr * 1e3
        row["reference"] = "timm eager" if timm_name else "ghostnas eager (unfused)"
        onnx = export_module_onnx(fuse_for_inference(model), shape)
        for b in BACKENDS:
            runner = prepare_runner(model, shape, backend=b, threads=1, onnx=None if b == "torch" else onnx)
            r = measure_runner(runner, warmup=args.warmup, min_run_time=args.bk_min_run_time, clock=args.clock)
            row[f"{b}_ms"] = r.median * 1e3
            row[f"{b}_iqr_ms"] = r.iqr * 1e3
            row[f"{b}_precision"] = r.precision
            row[f"{b}_vs_reference"] = row[f"{b}_ms"] / row["timm_eager_ms"]
        fastest = min(BACKENDS, key=lambda b: row[f"{b}_ms"])
        row["fastest"] = fastest
        row["fastest_gflops"] = 2 * row["macs"] / (row[f"{fastest}_ms"] / 1e3) / 1e9
        row["fraction_of_nominal_peak"] = row["fastest_gflops"] / peak["nominal_gflops"] if peak["nominal_gflops"] else None
        row["fraction_of_sgemm"] = row["fastest_gflops"] / peak["sgemm_1024_gflops"]
        out.append(row)
        log(f"{label}: " + ", ".join(f"{b} {row[f'{b}_ms']:.2f}" for b in BACKENDS) + f", ref {row['timm_eager_ms']:.2f}")
    res = {"peak": peak, "rows": out, "clock": args.clock, "threads": 1,
           "versions": {b: backend_version(b) for b in BACKENDS}, "timm": timm.__version__, "cpu": cpu_model()}
    summ = HERE / "summary.json"
    if summ.exists():
        res["kendall_tau_between_backends_measured"] = json.loads(summ.read_text()).get(
            "kendall_tau_between_backends_measured")
    with open(HERE / "backends.json", "w") as f:
        json.dump(res, f, indent=2)
    return res


def _eager_runner(model: torch.nn.Module, x: torch.Tensor):
    from ghostnas.space.latency import Runner

    return Runner(run=lambda: model(x), backend="torch", version=torch.__version__, threads=1, batch=1,
                  input_size=tuple(x.shape[1:]))


def write_tables(args: argparse.Namespace) -> None:
    """``tables.md`` (predictor accuracy per backend) and ``backends.md`` from the JSON outputs."""
    summ = json.loads((HERE / "summary.json").read_text())
    lines = ["| backend | held-out within +-10 % | within +-20 % | RMSPE | Kendall tau | all 200: within +-10 % | "
             "plain layer sum: within +-10 % / RMSPE | test-retest within +-10 % / RMSPE | table build | "
             "predict / arch | measure / arch | speed-up |", "|" + "---|" * 12]
    for b, r in summ["backends"].items():
        h, a, ps, rt = r["held_out"], r["all"], r["plain_sum_all"], r.get("retest_noise", {})
        lines.append(f"| {b} {r['version']} ({r['precision']}) | {h['within_10pct'] * 100:.1f} % | "
                     f"{h['within_20pct'] * 100:.1f} % | {h['rmspe_pct']:.1f} % | {h['kendall_tau']:.3f} | "
                     f"{a['within_10pct'] * 100:.1f} % | {ps['within_10pct'] * 100:.0f} % / {ps['rmspe_pct']:.0f} % | "
                     f"{rt.get('within_10pct', float('nan')) * 100:.0f} % / {rt.get('rmspe_pct', float('nan')):.1f} % | "
                     f"{r['table_build_s']:.0f} s | {r['predict_s_per_arch'] * 1e3:.2f} ms | "
                     f"{r['measure_s_per_arch_mean']:.2f} s | {r['speedup_measure_over_predict']:.0f}x |")
    lines += ["", "| backend | space | held-out n | within +-10 % | RMSPE | Kendall tau | calibration (a, b us/layer, "
              "d ms/Melem, c ms) |", "|" + "---|" * 7]
    for b, r in summ["backends"].items():
        for sp, m in r["by_space_held_out"].items():
            c = r["calibration"][sp]
            lines.append(f"| {b} | {sp} | {m['n']} | {m['within_10pct'] * 100:.1f} % | {m['rmspe_pct']:.1f} % | "
                         f"{m['kendall_tau']:.3f} | {c['a']:.3f}, {c['b'] * 1e3:.1f}, {c['d']:.3f}, {c['c']:.3f} |")
    (HERE / "tables.md").write_text("\n".join(lines) + "\n")
    bk_path = HERE / "backends.json"
    if not bk_path.exists():
        return
    bkd = json.loads(bk_path.read_text())
    pk = bkd["peak"]
    out = [f"# Backends compared: batch-1 latency, 1 thread, {bkd['clock']} clock, {bkd['cpu']}", "",
           "Generated by `bench_latency_predictor.py` (phase `backends`); every number is the median of one "
           "measurement with the shared protocol (`ghostnas.space.latency.measure_runner`), same run, same process.",
           f"Versions: torch {bkd['versions']['torch']}, onnxruntime {bkd['versions']['onnxruntime']}, "
           f"openvino {bkd['versions']['openvino']}, timm {bkd['timm']}. All f32 (this CPU has no bf16: OpenVINO "
           "asked for bf16 runs f32).", "",
           "| model | MACs (M) | reference (ms) | torch deploy (ms, x ref) | onnxruntime (ms, x ref) | "
           "openvino (ms, x ref) | fastest | GFLOP/s | of nominal peak | of SGEMM |", "|" + "---|" * 10]
    for r in bkd["rows"]:
        cells = [f"{r[f'{b}_ms']:.2f} ({r[f'{b}_vs_reference']:.2f}x)" for b in BACKENDS]
        out.append(f"| {r['model']} @{r['resolution']} | {r['macs'] / 1e6:.1f} | {r['timm_eager_ms']:.2f} "
                   f"({r['reference']}) | " + " | ".join(cells) + f" | {r['fastest']} | {r['fastest_gflops']:.1f} | "
                   f"{(r['fraction_of_nominal_peak'] or 0) * 100:.1f} % | {r['fraction_of_sgemm'] * 100:.1f} % |")
    out += ["", f"Compute bound (fp32, one core): nominal {pk['nominal_gflops']:.1f} GFLOP/s = 2 FMA units x "
            f"{pk['simd_fp32_lanes']} fp32 lanes x 2 FLOP x {pk['clock_mhz']:.0f} MHz (the clock /proc/cpuinfo "
            f"reports; boost clocks are higher); measured: {pk['sgemm_1024_gflops']:.1f} GFLOP/s for a 1024^3 SGEMM "
            "(torch, one thread, best of 15). GFLOP/s = 2 x analytic MACs / latency of the fastest backend."]
    taus = bkd.get("kendall_tau_between_backends_measured") or {}
    if taus:
        out += ["", "Kendall tau between backends' measured latencies over the benchmark's architectures:", "",
                "| pair | ghostnet @224 | ghostnet_cifar | all |", "|---|---|---|---|"]
        for pair in sorted({k.split("@")[0] for k in taus}):
            out.append(f"| {pair.replace('~', ' vs ')} | {taus[pair + '@ghostnet']:.3f} | "
                       f"{taus[pair + '@ghostnet_cifar']:.3f} | {taus[pair + '@all']:.3f} |")
    (HERE / "backends.md").write_text("\n".join(out) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-ghostnet", type=int, default=70)
    p.add_argument("--n-cifar", type=int, default=130)
    p.add_argument("--calibrate", type=int, default=15, help="calibration networks per space")
    p.add_argument("--retest", type=int, default=15, help="networks per space measured a second time")
    p.add_argument("--clock", default="cpu")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--net-min-run-time", type=float, default=0.15)
    p.add_argument("--bk-min-run-time", type=float, default=0.5)
    p.add_argument("--layer-warmup", type=int, default=2)
    p.add_argument("--layer-min-run-time", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--cache", default=None, help="table cache folder (default: a folder in the temp dir)")
    p.add_argument("--phases", default="predictor,backends")
    args = p.parse_args()
    t0 = time.perf_counter()
    c0 = time.process_time()
    if "predictor" in args.phases:
        run_predictor(args)
    if "backends" in args.phases:
        run_backends(args)
    write_tables(args)
    log(f"done in {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
