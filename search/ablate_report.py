"""Tables and figures of an ablation, with the paper's numbers side by side.

For every grid point: params and MACs of the paper-size network (analytic, plus fvcore's and
thop's totals), params/MACs of the trained proxy network, CPU latency (batch 1) and batch-128
throughput of the paper-size network (BN folded, channels-last), and the proxy accuracy as mean
± std over seeds with the split it was measured on. Writes ``table.csv``, ``table.md``,
``summary.json`` and ``figure.png``/``.svg`` into the ablation's output folder.
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import optuna

from ghostnas.ghostnet import build_model
from ghostnas.ghostnet.fuse import fuse_for_inference

from .ablate import AblationConfig, collect_runs
from .files import atomic_write_json, atomic_write_text

__all__ = ["write_report", "paper_rows", "kendall_tau"]


def paper_rows(table: Optional[int], arch: str) -> list[dict[str, Any]]:
    """The paper's rows for ``table`` and ``arch`` from ``analysis/data/paper_cifar.csv``."""
    if table is None:
        return []
    text = resources.files("ghostnas.analysis").joinpath("data/paper_cifar.csv").read_text(encoding="utf-8")
    out = []
    for r in csv.DictReader(io.StringIO(text)):
        if int(r["table"]) == int(table) and r["arch"] == arch:
            out.append({"model": r["model"], "ratio": int(r["ratio"]) if r["ratio"] else None,
                        "dw_size": int(r["dw_size"]) if r["dw_size"] else None, "params_m": float(r["params_m"]),
                        "flops_m": float(r["flops_m"]), "acc": float(r["acc"]), "source": r["source"]})
    return out


def kendall_tau(a: list[float], b: list[float]) -> Optional[float]:
    """Kendall's tau-b of two equally long sequences (None for fewer than 2 items)."""
    if len(a) < 2:
        return None
    from scipy.stats import kendalltau

    tau = kendalltau(a, b).statistic
    return None if tau is None or math.isnan(tau) else float(tau)


def _measure(point, cfg: AblationConfig, num_classes: int, latency: bool, min_run_time: float) -> dict[str, Any]:
    from ghostnas.space.measure import analytic_counts, count_flops, measure_latency

    full = point.model_config(cfg.arch, num_classes, 1.0)
    proxy = point.model_config(cfg.arch, num_classes, cfg.fidelity.width)
    res = cfg.fidelity.resolution or 32
    ca, cp = analytic_counts(full, res), analytic_counts(proxy, res)
    model = build_model(full).eval()
    rep = count_flops(model, res, analytic_config=full)
    m = {"params": ca.params, "macs": ca.macs, "proxy_params": cp.params, "proxy_macs": cp.macs,
         "fvcore_macs": rep.result("fvcore").total, "thop_macs": rep.result("thop").total,
         "flop_counter_macs": rep.result("flop_counter_mode").macs}
    if latency:
        fused = fuse_for_inference(model)
        threads = int(cfg.threads or 1)
        b1 = measure_latency(fused, res, batch=1, threads=threads, channels_last=True, min_run_time=min_run_time)
        b128 = measure_latency(fused, res, batch=128, threads=threads, channels_last=True, min_run_time=min_run_time)
        m.update({"latency_b1_ms": b1.median * 1e3, "latency_b1_iqr_ms": b1.iqr * 1e3, "latency_b1_noisy": b1.noisy,
                  "throughput_b128": 128 / b128.median, "latency_threads": threads})
    return m


def _fmt(v: Any, nd: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def write_report(study: optuna.Study, cfg: AblationConfig, latency: bool = True,
                 min_run_time: float = 1.0, command: Optional[str] = None) -> list[Path]:
    """Measure every point, aggregate the seeds and write the table, summary and figure."""
    runs = collect_runs(study, cfg)
    if not runs:
        raise ValueError(f"ablation {cfg.name}: no finished runs in study {cfg.study_name!r} yet")
    paper = paper_rows(cfg.paper_table, cfg.arch)
    num_classes = 10
    rows = []
    for p in cfg.points():
        accs = [r["acc"] for r in runs if r["point"] == p.label]
        times = [r["train_s"] for r in runs if r["point"] == p.label and r["train_s"] is not None]
        splits = {r["eval_split"] for r in runs if r["point"] == p.label}
        ref = next((q for q in paper if q["ratio"] == p.ratio and q["dw_size"] == p.dw_size), None)
        row = {"point": p.label, "ratio": p.ratio, "dw_size": p.dw_size, **_measure(p, cfg, num_classes, latency, min_run_time),
               "acc_mean": statistics.fmean(accs) if accs else None,
               "acc_std": statistics.stdev(accs) if len(accs) > 1 else None, "n_seeds": len(accs),
               "accs": accs, "train_s_mean": statistics.fmean(times) if times else None,
               "eval_split": "; ".join(sorted(s for s in splits if s)),
               "paper_params_m": ref["params_m"] if ref else None, "paper_flops_m": ref["flops_m"] if ref else None,
               "paper_acc": ref["acc"] if ref else None}
        rows.append(row)
    out = cfg.out_dir
    written = []
    cols = ["point", "ratio", "dw_size", "params", "macs", "fvcore_macs", "thop_macs", "flop_counter_macs",
            "proxy_params", "proxy_macs", "latency_b1_ms", "latency_b1_iqr_ms", "latency_b1_noisy",
            "throughput_b128", "acc_mean", "acc_std", "n_seeds", "train_s_mean", "eval_split",
            "paper_params_m", "paper_flops_m", "paper_acc"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    atomic_write_text(out / "table.csv", buf.getvalue())
    written.append(out / "table.csv")

    ghost = [r for r in rows if r["ratio"] is not None and r["acc_mean"] is not None]
    axis_key = cfg.axis
    ghost_sorted = sorted(ghost, key=lambda r: r[axis_key])
    with_paper = [r for r in rows if r["paper_acc"] is not None and r["acc_mean"] is not None]
    summary = {
        "ablation": cfg.name, "title": cfg.title, "fidelity": cfg.fidelity_name, "fidelity_knobs": cfg.fidelity.to_dict(),
        "dataset": cfg.data["dataset"], "eval_split": rows[0]["eval_split"], "seeds": list(cfg.seeds),
        "kendall_tau_vs_paper": kendall_tau([r["acc_mean"] for r in with_paper], [r["paper_acc"] for r in with_paper]),
        "kendall_tau_points": [r["point"] for r in with_paper],
        "proxy_acc_by_axis": {str(r[axis_key]): r["acc_mean"] for r in ghost_sorted},
        "non_increasing_in_axis": all(a["acc_mean"] >= b["acc_mean"] for a, b in zip(ghost_sorted, ghost_sorted[1:])),
        "best_point": max(ghost, key=lambda r: r["acc_mean"])["point"] if ghost else None,
        "command": command,
    }
    if ghost:
        best = max(ghost, key=lambda r: r["acc_mean"])
        d3 = next((r for r in ghost if r["dw_size"] == 3 and r["ratio"] == 2), None)
        if d3 is not None:
            noise = math.sqrt((best["acc_std"] or 0) ** 2 + (d3["acc_std"] or 0) ** 2)
            summary["s2d3_gap_to_best"] = best["acc_mean"] - d3["acc_mean"]
            summary["s2d3_within_noise_of_best"] = best["acc_mean"] - d3["acc_mean"] <= noise
    atomic_write_json(out / "summary.json", summary)
    written.append(out / "summary.json")

    lines = [f"# {cfg.title}", "",
             f"Proxy fidelity `{cfg.fidelity_name}` on `{cfg.data['dataset']}`; accuracy measured on the "
             f"{rows[0]['eval_split']}; mean ± std over seeds {list(cfg.seeds)}. Params/MACs are for the "
             "paper-size network at 32×32 (analytic conv+linear MACs; fvcore and thop MACs also count "
             f"BN/activations); the trained proxy network has width {cfg.fidelity.width}. "
             "Paper columns: GhostNet paper via the Paperspace blog (see analysis/data/paper_cifar.csv).", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines.append("| point | params (M) | MACs (M) | fvcore MACs (M) | thop MACs (M) | proxy MACs (M) | "
                 "CPU b1 (ms) | b128 (img/s) | proxy acc (%) | train (s) | paper params (M) | paper FLOPs (M) | paper acc (%) |")
    lines.append("|" + "---|" * 13)
    for r in rows:
        acc = "–" if r["acc_mean"] is None else (f"{100 * r['acc_mean']:.2f} ± {100 * r['acc_std']:.2f}"
                                                  if r["acc_std"] is not None else f"{100 * r['acc_mean']:.2f}")
        lines.append(
            f"| {r['point']} | {r['params'] / 1e6:.3f} | {r['macs'] / 1e6:.1f} | "
            f"{_fmt(r['fvcore_macs'] / 1e6 if r['fvcore_macs'] else None, 1)} | "
            f"{_fmt(r['thop_macs'] / 1e6 if r['thop_macs'] else None, 1)} | {r['proxy_macs'] / 1e6:.1f} | "
            f"{_fmt(r.get('latency_b1_ms'))}{' (noisy)' if r.get('latency_b1_noisy') else ''} | "
            f"{_fmt(r.get('throughput_b128'), 0)} | {acc} | {_fmt(r['train_s_mean'], 0)} | "
            f"{_fmt(r['paper_params_m'], 1)} | {_fmt(r['paper_flops_m'], 0)} | {_fmt(r['paper_acc'], 1)} |")
    tau = summary["kendall_tau_vs_paper"]
    lines += ["", f"Kendall's τ between the proxy's and the paper's accuracy ordering over "
                  f"{len(with_paper)} points: {_fmt(tau, 3)}.",
              f"Proxy accuracy non-increasing in {cfg.axis}: {summary['non_increasing_in_axis']}."]
    atomic_write_text(out / "table.md", "\n".join(lines) + "\n")
    written.append(out / "table.md")
    written += _figure(rows, cfg, out)
    return written


def _figure(rows: list[dict], cfg: AblationConfig, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ghostnas.analysis.pareto import OKABE_ITO

    axis_label = {"ratio": "Ghost ratio s", "dw_size": "cheap-op kernel d"}[cfg.axis]
    ghost = sorted([r for r in rows if r["ratio"] is not None and r["acc_mean"] is not None], key=lambda r: r[cfg.axis])
    base = next((r for r in rows if r["ratio"] is None and r["acc_mean"] is not None), None)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 5.0), dpi=130)
    xs = [r[cfg.axis] for r in ghost]
    a1.errorbar(xs, [100 * r["acc_mean"] for r in ghost], yerr=[100 * (r["acc_std"] or 0) for r in ghost],
                marker="o", capsize=4, color=OKABE_ITO["blue"], label=f"proxy ({cfg.fidelity_name}), mean ± std")
    for r in ghost:
        a1.scatter([r[cfg.axis]] * len(r["accs"]), [100 * a for a in r["accs"]], s=10, color=OKABE_ITO["sky"], zorder=3)
    if base:
        a1.axhline(100 * base["acc_mean"], color=OKABE_ITO["grey"], ls="--", label="proxy plain baseline")
    a1.set_xlabel(axis_label)
    a1.set_ylabel("proxy accuracy (%)", color=OKABE_ITO["blue"])
    a1.set_xticks(xs)
    paper = [r for r in ghost if r["paper_acc"] is not None]
    handles, labels = a1.get_legend_handles_labels()
    if paper:
        t1 = a1.twinx()
        t1.plot([r[cfg.axis] for r in paper], [r["paper_acc"] for r in paper], marker="s", ls=":",
                color=OKABE_ITO["vermillion"], label="paper (full training)")
        if base and base["paper_acc"] is not None:
            t1.axhline(base["paper_acc"], color=OKABE_ITO["vermillion"], ls="-.", lw=0.8, label="paper plain baseline")
        t1.set_ylabel("paper accuracy (%)", color=OKABE_ITO["vermillion"])
        h2, l2 = t1.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    a1.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    a1.set_title(f"accuracy vs {axis_label}")
    a1.grid(alpha=0.3)

    pts = [r for r in rows if r["acc_mean"] is not None]
    a2.errorbar([r["macs"] / 1e6 for r in pts], [100 * r["acc_mean"] for r in pts],
                yerr=[100 * (r["acc_std"] or 0) for r in pts], fmt="o", capsize=4, color=OKABE_ITO["blue"],
                label="proxy (x: paper-size MACs)")
    for i, r in enumerate(pts):
        short = "plain" if r["ratio"] is None else (f"s={r['ratio']}" if cfg.axis == "ratio" else f"d={r['dw_size']}")
        a2.annotate(short, (r["macs"] / 1e6, 100 * r["acc_mean"]), textcoords="offset points",
                    xytext=(4, 4 + 9 * (i % 3)), fontsize=7)
    a2.set_xscale("log")
    a2.set_xlabel("MACs at 32×32 (M, log scale)")
    a2.set_ylabel("proxy accuracy (%)", color=OKABE_ITO["blue"])
    pp = [r for r in rows if r["paper_acc"] is not None]
    h, l = a2.get_legend_handles_labels()
    if pp:
        t2 = a2.twinx()
        t2.scatter([r["paper_flops_m"] for r in pp], [r["paper_acc"] for r in pp], marker="s",
                   color=OKABE_ITO["vermillion"], label="paper (its FLOPs)")
        t2.set_ylabel("paper accuracy (%)", color=OKABE_ITO["vermillion"])
        h2, l2 = t2.get_legend_handles_labels()
        h, l = h + h2, l + l2
    a2.legend(h, l, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    a2.set_title("accuracy vs MACs")
    a2.grid(alpha=0.3, which="both")
    fig.suptitle(cfg.title, fontsize=11)
    fig.tight_layout()
    paths = []
    for ext in ("png", "svg"):
        p = out / f"figure.{ext}"
        fig.savefig(p)
        paths.append(p)
    plt.close(fig)
    return paths
