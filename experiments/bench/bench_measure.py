#!/usr/bin/env python
"""Benchmark for issue 3 (measurement): writes experiments/bench/measure.md and measure.json.

1. Exactness: analytic params/MACs vs the built model (``sum(p.numel())`` and FlopCounterMode / 2)
   for every registry model and N configs sampled from every shipped search space.
2. Speed: analytic count vs fvcore ``FlopCountAnalysis`` per config (fvcore timed on an already
   built model, so the ratio is conservative; model build time reported separately).
3. Latency of GhostNet 1.0x, batch 1, 224x224, 2 threads, CPU: timm ``ghostnet_100`` eager vs ours
   (eager, fused + channels_last, and the deploy path = fused + channels_last + frozen TorchScript),
   interleaved over R rounds; ratio per round and medians.
   Plus a paired check: many short timm/deploy measurements alternating ABBA, median of ratios.
4. Repeatability: two back-to-back measurements of the same model in every round.

Usage (from the repository root):
    python experiments/bench/bench_measure.py [--configs 200] [--timed 20] [--rounds 7] [--min-run-time 1]

``OMP_WAIT_POLICY`` defaults to PASSIVE (set before torch loads): on a CPU shared with other jobs,
libgomp's spin-waiting makes 2-thread batch-1 inference up to ~150x slower. Export it to override.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from ghostnas.ghostnet import (build_model, create_model, deploy_model, fuse_for_inference,  # noqa: E402
                               list_models, model_config)
from ghostnas.space import analytic_counts, built_counts, measure_latency  # noqa: E402

HERE = Path(__file__).resolve().parent


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def exactness(n_configs: int, seed: int) -> dict:
    rows = []
    for name in list_models():
        cfg = model_config(name)
        res = 32 if name.endswith("_cifar") else 224
        c = analytic_counts(cfg, res)
        p, m = built_counts(cfg, res, device="cpu")
        rows.append({"source": "registry", "name": name, "res": res, "params_diff": c.params - p, "macs_diff": c.macs - m})
    spaces = {}
    try:
        from ghostnas.space import list_spaces, load_space
        for space_name in list_spaces():
            space = load_space(space_name)
            rng = random.Random(seed)
            diffs = []
            for _ in range(n_configs):
                arch = space.sample(rng)
                c = analytic_counts(arch)
                p, m = built_counts(arch.model, arch.resolution)
                diffs.append((c.params - p, c.macs - m))
            spaces[space_name] = {"configs": n_configs,
                                  "params_mismatches": sum(d[0] != 0 for d in diffs),
                                  "macs_mismatches": sum(d[1] != 0 for d in diffs),
                                  "max_abs_macs_diff": max(abs(d[1]) for d in diffs)}
    except ImportError as e:  # the search-space package is optional here
        spaces["error"] = str(e)
    return {"registry": rows, "spaces": spaces}


def speed(n_timed: int, seed: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

    from ghostnas.space import load_space
    space = load_space("ghostnet")
    rng = random.Random(seed + 1)
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        for i in range(n_timed):
            arch = space.sample(rng) if i else space.default()
            reps = 200
            t0 = time.perf_counter()
            for _ in range(reps):
                c = analytic_counts(arch)
            t_analytic = (time.perf_counter() - t0) / reps
            t0 = time.perf_counter()
            model = build_model(arch.model).eval()
            t_build = time.perf_counter() - t0
            x = torch.zeros(1, arch.model.in_chans, arch.resolution, arch.resolution)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                fca = FlopCountAnalysis(model, x)
                fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
                fv_total = fca.total()
                t_fvcore = time.perf_counter() - t0
            conv_linear = sum(v for k, v in fca.by_operator().items() if k in ("conv", "linear", "addmm"))
            rows.append({"id": getattr(arch, "id", str(i)), "res": arch.resolution, "macs": c.macs,
                         "fvcore_total": int(fv_total), "fvcore_conv_linear": int(conv_linear),
                         "analytic_s": t_analytic, "fvcore_s": t_fvcore, "build_s": t_build,
                         "speedup": t_fvcore / t_analytic})
    finally:
        torch.set_num_threads(prev)
    sp = [r["speedup"] for r in rows]
    return {"rows": rows, "median_analytic_s": statistics.median(r["analytic_s"] for r in rows),
            "median_fvcore_s": statistics.median(r["fvcore_s"] for r in rows),
            "median_speedup": statistics.median(sp), "min_speedup": min(sp),
            "fvcore_conv_linear_equal": all(r["fvcore_conv_linear"] == r["macs"] for r in rows)}


def _randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model


def latency(rounds: int, min_run_time: float, threads: int, warmup_rounds: int = 1, pair_count: int = 40) -> dict:
    import timm

    torch.manual_seed(0)
    timm_model = _randomize_bn(timm.create_model("ghostnet_100"), 1).eval()
    ours = _randomize_bn(create_model("ghostnet_100"), 1).eval()
    fused_cl = fuse_for_inference(ours).to(memory_format=torch.channels_last)
    deployed = deploy_model(ours)
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        ref = ours(x)
        err = {"fused_cl": (fused_cl(x.contiguous(memory_format=torch.channels_last)) - ref).abs().max().item(),
               "deploy": (deployed(x.contiguous(memory_format=torch.channels_last)) - ref).abs().max().item()}
    scale = ref.abs().max().item()
    equal = {k: v <= 1e-5 * scale for k, v in err.items()}

    variants = {  # name: (model, channels_last input)
        "timm_eager": (timm_model, False),
        "ours_eager": (ours, False),
        "ours_fused_cl": (fused_cl, True),
        "ours_deploy": (deployed, True),
    }
    meas: dict[str, list] = {k: [] for k in variants}
    repeat: dict[str, list] = {"timm_eager": [], "ours_deploy": []}
    loads = []
    discarded = []
    for w in range(warmup_rounds):  # settle caches, the JIT profiling executor and CPU frequency first
        discarded.append({name: measure_latency(model, 224, batch=1, threads=threads, channels_last=cl, warmup=10,
                                                min_run_time=min_run_time).median * 1e3
                          for name, (model, cl) in variants.items()})
        print(f"warm-up round {w + 1}/{warmup_rounds} (discarded): "
              + ", ".join(f"{k} {v:.2f} ms" for k, v in discarded[-1].items()), flush=True)
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))  # interleave, alternate order
        for name in order:
            model, cl = variants[name]
            # channels_last models are already converted; measure_latency only converts the input
            # for TorchScript, and copies+converts nn.Modules (a no-op conversion here).
            res = measure_latency(model, 224, batch=1, threads=threads, channels_last=cl,
                                  warmup=10, min_run_time=min_run_time)
            meas[name].append(res.to_dict())
            loads.append(res.load_avg)
            if name in repeat:  # back-to-back second measurement of the same model
                res2 = measure_latency(model, 224, batch=1, threads=threads, channels_last=cl,
                                       warmup=10, min_run_time=min_run_time)
                a, b = res.median, res2.median
                repeat[name].append({"first_ms": a * 1e3, "second_ms": b * 1e3,
                                     "rel_diff": abs(a - b) / min(a, b)})
        t = {k: meas[k][-1]["median_ms"] for k in variants}
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in t.items())
              + f"  deploy/timm {t['ours_deploy'] / t['timm_eager']:.3f}", flush=True)

    # Paired, finely interleaved: short timm / deploy measurements alternate (ABBA), so that load
    # drift on the shared machine hits both sides of each pair alike.
    pairs = []
    for i in range(pair_count):
        order = ("timm_eager", "ours_deploy") if i % 2 == 0 else ("ours_deploy", "timm_eager")
        got = {}
        for name in order:
            model, cl = variants[name]
            got[name] = measure_latency(model, 224, batch=1, threads=threads, channels_last=cl, warmup=3,
                                        min_run_time=0.25).median
        pairs.append({"timm_ms": got["timm_eager"] * 1e3, "deploy_ms": got["ours_deploy"] * 1e3,
                      "ratio": got["ours_deploy"] / got["timm_eager"]})
    pr = sorted(p["ratio"] for p in pairs)
    print(f"paired: median deploy/timm {statistics.median(pr):.3f} over {len(pr)} pairs", flush=True)

    med = {k: statistics.median(m["median_ms"] for m in v) for k, v in meas.items()}
    ratios = [d["median_ms"] / t["median_ms"] for d, t in zip(meas["ours_deploy"], meas["timm_eager"])]
    ratios_fused = [d["median_ms"] / t["median_ms"] for d, t in zip(meas["ours_fused_cl"], meas["timm_eager"])]
    return {
        "threads": threads, "batch": 1, "input": [3, 224, 224], "rounds": rounds, "min_run_time_s": min_run_time,
        "warmup_rounds_discarded_ms": discarded,
        "paired": {"pairs": pairs, "median_ratio": statistics.median(pr),
                   "q25_ratio": pr[len(pr) // 4], "q75_ratio": pr[(3 * len(pr)) // 4],
                   "pairs_at_or_under_0.6": sum(r <= 0.6 for r in pr)},
        "median_of_round_medians_ms": med,
        "deploy_over_timm_per_round": ratios, "deploy_over_timm_median": statistics.median(ratios),
        "deploy_over_timm_ratio_of_medians": med["ours_deploy"] / med["timm_eager"],
        "fused_cl_over_timm_median": statistics.median(ratios_fused),
        "ours_eager_over_timm": med["ours_eager"] / med["timm_eager"],
        "max_abs_err_vs_unfused": err, "rel_tol_1e-5_ok": equal, "output_scale": scale,
        "repeatability": {k: {"pairs": v, "median_rel_diff": statistics.median(p["rel_diff"] for p in v),
                              "max_rel_diff": max(p["rel_diff"] for p in v),
                              "pairs_under_5pct": sum(p["rel_diff"] < 0.05 for p in v)} for k, v in repeat.items()},
        "noisy_measurements": sum(m["noisy"] for v in meas.values() for m in v),
        "measurements": meas, "load_avg_1min": {"min": min(loads), "median": statistics.median(loads),
                                                "max": max(loads)},
    }


_SPIN_CHILD = """
import json, torch
from ghostnas.ghostnet import create_model
from ghostnas.space import measure_latency
r = measure_latency(create_model("ghostnet_100"), 224, threads=2, warmup=5, min_run_time=1.0)
print(json.dumps(r.to_dict()))
"""


def omp_policy_check(timeout: float = 180.0) -> dict:
    """Our eager GhostNet 1.0x at 2 threads in child processes with OMP_WAIT_POLICY ACTIVE vs PASSIVE."""
    import subprocess
    out = {}
    for policy in ("ACTIVE", "PASSIVE"):
        env = {**os.environ, "OMP_WAIT_POLICY": policy}
        try:
            p = subprocess.run([sys.executable, "-c", _SPIN_CHILD], env=env, capture_output=True, text=True,
                               timeout=timeout)
            line = [x for x in p.stdout.splitlines() if x.startswith("{")]
            out[policy] = json.loads(line[-1]) if line else {"error": p.stderr.strip()[-300:]}
        except subprocess.TimeoutExpired:
            out[policy] = {"error": f"timed out after {timeout:.0f} s"}
    return out


def history_row(result: dict) -> dict:
    """Headline numbers of one run, appended to measure_runs.jsonl (every run is kept)."""
    lat, sp = result["latency"], result["speed"]
    return {"started": result["started"], "command": result["command"],
            "load_avg_median": lat["load_avg_1min"]["median"],
            "timm_ms": lat["median_of_round_medians_ms"]["timm_eager"],
            "deploy_ms": lat["median_of_round_medians_ms"]["ours_deploy"],
            "deploy_over_timm": lat["deploy_over_timm_median"],
            "paired_deploy_over_timm": lat.get("paired", {}).get("median_ratio"),
            "repeat_timm_median_pct": 100 * lat["repeatability"]["timm_eager"]["median_rel_diff"],
            "repeat_deploy_median_pct": 100 * lat["repeatability"]["ours_deploy"]["median_rel_diff"],
            "noisy": lat["noisy_measurements"], "fvcore_speedup_median": sp["median_speedup"],
            "mac_mismatches": sum(v.get("macs_mismatches", 0) for v in result["exactness"]["spaces"].values()
                                  if isinstance(v, dict))
            + sum(r["macs_diff"] != 0 for r in result["exactness"]["registry"])}


def write_md(result: dict, path: Path, history: list) -> None:
    env, ex, sp, lat = result["env"], result["exactness"], result["speed"], result["latency"]
    L = ["# Measurement benchmark (issue 3)", "",
         f"Command (repository root): `{result['command']}`  ",
         f"Run: {result['started']} → {result['finished']} UTC. Written by `experiments/bench/bench_measure.py`; "
         "raw numbers in `measure.json`.", "",
         f"Machine: {env['cpu']}, {env['cpus']} CPUs visible, **shared with other developers' jobs** "
         f"(1-min load average during the latency runs: min {lat['load_avg_1min']['min']:.2f}, "
         f"median {lat['load_avg_1min']['median']:.2f}, max {lat['load_avg_1min']['max']:.2f} on "
         f"{env['cpus']} cores). torch {env['torch']}, timm {env['timm']}, fvcore {env['fvcore']}, "
         f"Python {env['python']}, OMP_WAIT_POLICY={env['omp_wait_policy']}.", "",
         "## 1. Analytic counts: exactness", "",
         "Analytic params must equal `sum(p.numel())` of the built model and analytic MACs must equal "
         "`FlopCounterMode` total / 2 (conv + linear), exactly.", "",
         "| source | configs | params mismatches | MAC mismatches |", "|---|---|---|---|"]
    reg = ex["registry"]
    L.append(f"| registry ({', '.join(r['name'] for r in reg)}; 224 / 32 px, real CPU tensors) | {len(reg)} | "
             f"{sum(r['params_diff'] != 0 for r in reg)} | {sum(r['macs_diff'] != 0 for r in reg)} |")
    for name, s in ex["spaces"].items():
        if name == "error":
            L.append(f"| search spaces | - | not run: {s} | |")
            continue
        L.append(f"| space `{name}` (random `space.sample`, meta device) | {s['configs']} | {s['params_mismatches']} | "
                 f"{s['macs_mismatches']} |")
    L += ["", "## 2. Analytic count vs fvcore, per config", "",
          f"{len(sp['rows'])} configs of the `ghostnet` space (the default GhostNet 1.0x first), 1 thread. "
          "fvcore is timed on an already-built model (`FlopCountAnalysis(...).total()`), so the ratio "
          "understates the real saving (building the model costs extra).", "",
          f"- analytic: median **{sp['median_analytic_s'] * 1e6:.0f} µs** per config",
          f"- fvcore: median **{sp['median_fvcore_s'] * 1e3:.0f} ms** per config",
          f"- speed-up: median **{sp['median_speedup']:,.0f}×**, minimum {sp['min_speedup']:,.0f}× (target ≥ 100×)",
          f"- fvcore's conv+linear part equals the analytic MACs on every config: {sp['fvcore_conv_linear_equal']}",
          "", "| config | res | MACs | analytic µs | fvcore ms | build ms | speed-up |", "|---|---|---|---|---|---|---|"]
    for r in sp["rows"]:
        L.append(f"| {r['id']} | {r['res']} | {r['macs']:,} | {r['analytic_s'] * 1e6:.0f} | {r['fvcore_s'] * 1e3:.0f} | "
                 f"{r['build_s'] * 1e3:.0f} | {r['speedup']:,.0f}× |")
    m = lat["median_of_round_medians_ms"]
    L += ["", "## 3. GhostNet 1.0× CPU latency, batch 1, 224×224, 2 threads", "",
          f"`measure_latency` (torch.utils.benchmark `blocked_autorange`, min_run_time {lat['min_run_time_s']} s, "
          f"10 warm-up calls, inference_mode, `num_threads=2`), {lat['rounds']} interleaved rounds (order "
          f"alternating) after {len(lat['warmup_rounds_discarded_ms'])} discarded warm-up round(s) (values: "
          + "; ".join(", ".join(f"{k} {v:.2f} ms" for k, v in d.items()) for d in lat["warmup_rounds_discarded_ms"])
          + "), same process, same random weights/BN stats for ours and timm. Median of the per-round medians:", "",
          "| variant | median ms | / timm eager |", "|---|---|---|"]
    desc = {"timm_eager": "timm `ghostnet_100`, eager, NCHW",
            "ours_eager": "ours `ghostnet_100`, eager, NCHW",
            "ours_fused_cl": "ours, BN folded (`fuse_for_inference`) + channels_last, eager",
            "ours_deploy": "ours, deploy path (`deploy_model`: BN folded + channels_last + frozen TorchScript)"}
    for k, v in m.items():
        L.append(f"| {desc[k]} | {v:.2f} | {v / m['timm_eager']:.3f} |")
    L += ["", f"- **deploy / timm eager: {lat['deploy_over_timm_median']:.3f}** (median of per-round ratios; "
          f"ratio of medians {lat['deploy_over_timm_ratio_of_medians']:.3f}; per round: "
          + ", ".join(f"{x:.3f}" for x in lat["deploy_over_timm_per_round"]) + "). Target ≤ 0.6.",
          f"- **Paired check** ({len(lat['paired']['pairs'])} pairs of 0.25 s measurements, timm and deploy "
          f"alternating ABBA so load drift hits both alike): median deploy/timm **{lat['paired']['median_ratio']:.3f}**, "
          f"quartiles {lat['paired']['q25_ratio']:.3f}–{lat['paired']['q75_ratio']:.3f}, "
          f"{lat['paired']['pairs_at_or_under_0.6']}/{len(lat['paired']['pairs'])} pairs ≤ 0.6.",
          f"- fused + channels_last alone (eager): {lat['fused_cl_over_timm_median']:.3f} of timm; our eager model "
          f"vs timm eager: {lat['ours_eager_over_timm']:.3f} (same architecture, as expected ≈ 1).",
          f"- Outputs vs the unfused eval model (randomised BN stats): max abs error fused+CL "
          f"{lat['max_abs_err_vs_unfused']['fused_cl']:.2e}, deploy {lat['max_abs_err_vs_unfused']['deploy']:.2e} "
          f"on outputs of magnitude {lat['output_scale']:.3f}; within 1e-5 relative: {lat['rel_tol_1e-5_ok']}.",
          f"- Measurements flagged noisy (IQR/median > 10%): {lat['noisy_measurements']} of "
          f"{sum(len(v) for v in lat['measurements'].values())}.",
          "", "## 4. Repeatability (two back-to-back measurements of the same model, every round)", ""]
    for k, v in lat["repeatability"].items():
        L.append(f"- {desc[k]}: median relative difference of the medians **{v['median_rel_diff'] * 100:.2f}%**, "
                 f"max {v['max_rel_diff'] * 100:.2f}%, {v['pairs_under_5pct']}/{len(v['pairs'])} pairs under 5% "
                 "(target < 5%); pairs (ms): "
                 + ", ".join(f"{p['first_ms']:.2f}/{p['second_ms']:.2f}" for p in v["pairs"]))
    omp = result.get("omp_policy_check", {})

    def _omp(policy: str) -> str:
        r = omp.get(policy, {})
        if "median_ms" not in r:
            return f"{policy}: {r.get('error', 'not run')}"
        return (f"{policy}: {r['median_ms']:.1f} ms median ({r['n_runs']} runs, load {r['load_avg_1min']:.2f})")

    L += ["", "## Notes", "",
          "- The machine has 2 cores shared with other developers' jobs (load average above). With libgomp's "
          "spin-waiting (`OMP_WAIT_POLICY=ACTIVE`, or unset) and both cores busy, an OpenMP barrier can wait a "
          "scheduler time slice; during development this made a 2-thread GhostNet forward take ~3.1 s instead of "
          "~20 ms (1 thread: ~17 ms), depending on what the other jobs were doing. This run, our eager "
          f"`ghostnet_100` at 2 threads in a child process (one short measurement each, noisy): {_omp('ACTIVE')}; "
          f"{_omp('PASSIVE')}. The benchmark and "
          "`ghostnas profile` therefore default to `OMP_WAIT_POLICY=PASSIVE` (exported before torch loads; it "
          "applies equally to timm and to our models).",
          "- Where the time goes: batch-1 GhostNet on CPU is dominated by per-op overhead (hundreds of small "
          "ops, mostly 1×1 and depthwise convs on small maps), not by the 141M MACs. Folding BN removes 80 "
          "ops; TorchScript freezing removes the Python/dispatch overhead of the rest and, with channels_last "
          "weights and input, keeps oneDNN in NHWC end to end. In exploration (not this run) the frozen graph "
          "in NCHW was slower (~14 ms) than eager NCHW + BN folding (~12 ms), and "
          "`torch.jit.optimize_for_inference` (~15 ms) slower than plain freezing.",
          "- TorchScript is deprecated in torch 2.14 (a FutureWarning, silenced inside `deploy_model`); "
          "`torch.compile` was not used (compile time on 2 shared cores).",
          ]
    L += ["", "## All recorded runs (`measure_runs.jsonl`; the sections above are the latest run)", "",
          "Every run of the script appends its headline numbers, so noisy runs stay on record.", "",
          "| started (UTC) | command | load (median) | timm ms | deploy ms | deploy/timm (rounds) | deploy/timm (paired) "
          "| repeat. timm | repeat. deploy | noisy | analytic vs fvcore | MAC mismatches |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for h in history:
        tail = h["command"].replace("python experiments/bench/bench_measure.py", "").strip()
        L.append(f"| {h['started']} | {('`' + tail + '`') if tail else '(defaults)'} | "
                 f"{h['load_avg_median']:.2f} | {h['timm_ms']:.2f} | {h['deploy_ms']:.2f} | {h['deploy_over_timm']:.3f} | "
                 f"{'-' if h.get('paired_deploy_over_timm') is None else format(h['paired_deploy_over_timm'], '.3f')} | "
                 f"{h['repeat_timm_median_pct']:.2f}% | {h['repeat_deploy_median_pct']:.2f}% | {h['noisy']} | "
                 f"{h['fvcore_speedup_median']:,.0f}× | {h['mac_mismatches']} |")
    path.write_text("\n".join(L) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", type=int, default=200, help="random configs per search space for exactness")
    ap.add_argument("--timed", type=int, default=20, help="configs timed against fvcore")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved latency rounds")
    ap.add_argument("--min-run-time", type=float, default=1.0, help="seconds per latency measurement")
    ap.add_argument("--warmup-rounds", type=int, default=1, help="discarded latency rounds before the timed ones")
    ap.add_argument("--pairs", type=int, default=40, help="paired, finely interleaved timm/deploy measurements")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    import fvcore
    import timm

    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    cmd = "python experiments/bench/bench_measure.py" + "".join(f" {a}" for a in sys.argv[1:])
    env = {"cpu": _cpu_model(), "cpus": os.cpu_count(), "torch": torch.__version__, "timm": timm.__version__,
           "fvcore": getattr(fvcore, "__version__", "?"), "python": platform.python_version(),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
    print("exactness ...", flush=True)
    ex = exactness(args.configs, args.seed)
    print(json.dumps(ex["spaces"]), flush=True)
    print("speed vs fvcore ...", flush=True)
    sp = speed(args.timed, args.seed)
    print(f"median analytic {sp['median_analytic_s'] * 1e6:.0f} us, fvcore {sp['median_fvcore_s'] * 1e3:.0f} ms, "
          f"speed-up {sp['median_speedup']:.0f}x (min {sp['min_speedup']:.0f}x)", flush=True)
    print("latency ...", flush=True)
    lat = latency(args.rounds, args.min_run_time, args.threads, args.warmup_rounds, args.pairs)
    print("OMP_WAIT_POLICY check ...", flush=True)
    omp = omp_policy_check()
    print(json.dumps({k: v.get("median_ms", v.get("error")) for k, v in omp.items()}), flush=True)
    result = {"command": cmd, "started": started, "finished": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
              "env": env, "exactness": ex, "speed": sp, "latency": lat, "omp_policy_check": omp}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "measure.json").write_text(json.dumps(result, indent=1))
    runs = args.out / "measure_runs.jsonl"
    with runs.open("a") as f:
        f.write(json.dumps(history_row(result)) + "\n")
    history = [json.loads(line) for line in runs.read_text().splitlines() if line.strip()]
    write_md(result, args.out / "measure.md", history)
    print(f"deploy/timm {lat['deploy_over_timm_median']:.3f} (paired {lat['paired']['median_ratio']:.3f}); repeatability "
          + ", ".join(f"{k} {v['median_rel_diff'] * 100:.2f}%" for k, v in lat["repeatability"].items()))
    print(f"wrote {args.out / 'measure.md'} and measure.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
