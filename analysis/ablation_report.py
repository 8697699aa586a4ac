"""Tables and figures of a paper ablation (``ghostnas ablate``), with the paper's numbers side by side.

For every grid point: params and MACs of the paper-size network (analytic, plus fvcore's and
thop's totals), params/MACs of the trained proxy network, CPU latency (batch 1) and batch-128
throughput of the paper-size network (BN folded, channels-last), and the proxy accuracy as mean
± std over seeds with the split it was measured on. :func:`write_ablation_report` writes
``table.csv``, ``table.md``, ``summary.json`` and ``figure.png``/``.svg`` into the ablation's
output folder.
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path
from typing import Any, Optional, Sequence

import optuna

from ghostnas.ghostnet import build_model, default_resolution
from ghostnas.search.ablate import AblationConfig, AblationPoint, collect_runs
from ghostnas.search.files import atomic_write_json, atomic_write_text

from .paper import paper_rows
from .stats import kendall
from .style import OKABE_ITO, pyplot, save_figure

__all__ = ["write_ablation_report", "kendall_tau"]

_NUM_CLASSES = 10
_CSV_COLUMNS = ["point", "ratio", "dw_size", "params", "macs", "fvcore_macs", "thop_macs", "flop_counter_macs",
                "proxy_params", "proxy_macs", "latency_b1_ms", "latency_b1_iqr_ms", "latency_b1_noisy",
                "throughput_b128", "acc_mean", "acc_std", "n_seeds", "train_s_mean", "eval_split",
                "paper_params_m", "paper_flops_m", "paper_acc"]
_MD_HEADER = ("| point | params (M) | MACs (M) | fvcore MACs (M) | thop MACs (M) | proxy MACs (M) | "
              "CPU b1 (ms) | b128 (img/s) | proxy acc (%) | train (s) | paper params (M) | paper FLOPs (M) | paper acc (%) |")


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> Optional[float]:
    """Kendall's tau-b of two equally long sequences (:func:`ghostnas.analysis.stats.kendall`), JSON-ready.

    Args:
        a, b: The two orderings' values.

    Returns:
        tau-b, or None for fewer than 2 items or an undefined tau (a constant sequence).
    """
    tau, _ = kendall(a, b)
    return None if math.isnan(tau) else tau


# ---------------------------------------------------------------------------------------------
# rows


def _measure(point: AblationPoint, cfg: AblationConfig, latency: bool, min_run_time: float) -> dict[str, Any]:
    """Counts of the paper-size and proxy networks, and (optionally) CPU latency / throughput."""
    from ghostnas.space import analytic_counts, count_flops, measure_deploy_latency

    full = point.model_config(cfg.arch, _NUM_CLASSES, 1.0)
    proxy = point.model_config(cfg.arch, _NUM_CLASSES, cfg.fidelity.width)
    res = cfg.fidelity.resolution or default_resolution(full)
    ca, cp = analytic_counts(full, res), analytic_counts(proxy, res)
    model = build_model(full).eval()
    rep = count_flops(model, res, analytic_config=full)
    m = {"params": ca.params, "macs": ca.macs, "proxy_params": cp.params, "proxy_macs": cp.macs,
         "fvcore_macs": rep.result("fvcore").total, "thop_macs": rep.result("thop").total,
         "flop_counter_macs": rep.result("flop_counter_mode").macs}
    if latency:
        threads = int(cfg.threads or 1)
        b1 = measure_deploy_latency(model, res, batch=1, threads=threads, min_run_time=min_run_time)
        b128 = measure_deploy_latency(model, res, batch=128, threads=threads, min_run_time=min_run_time)
        m.update({"latency_b1_ms": b1.median * 1e3, "latency_b1_iqr_ms": b1.iqr * 1e3, "latency_b1_noisy": b1.noisy,
                  "throughput_b128": 128 / b128.median, "latency_threads": threads})
    return m


def _seed_stats(point: AblationPoint, runs: Sequence[dict]) -> dict[str, Any]:
    """Accuracy mean ± std over the point's seeds, mean training time and the evaluation split."""
    mine = [r for r in runs if r["point"] == point.label]
    accs = [r["acc"] for r in mine]
    times = [r["train_s"] for r in mine if r["train_s"] is not None]
    splits = {r["eval_split"] for r in mine}
    return {"acc_mean": statistics.fmean(accs) if accs else None,
            "acc_std": statistics.stdev(accs) if len(accs) > 1 else None, "n_seeds": len(accs),
            "accs": accs, "train_s_mean": statistics.fmean(times) if times else None,
            "eval_split": "; ".join(sorted(s for s in splits if s))}


def _paper_columns(point: AblationPoint, paper: Sequence[dict]) -> dict[str, Any]:
    ref = next((q for q in paper if q["ratio"] == point.ratio and q["dw_size"] == point.dw_size), None)
    return {"paper_params_m": ref["params_m"] if ref else None, "paper_flops_m": ref["flops_m"] if ref else None,
            "paper_acc": ref["acc"] if ref else None}


def _rows(runs: Sequence[dict], cfg: AblationConfig, latency: bool, min_run_time: float) -> list[dict[str, Any]]:
    paper = paper_rows(cfg.paper_table, cfg.arch)
    return [{"point": p.label, "ratio": p.ratio, "dw_size": p.dw_size, **_measure(p, cfg, latency, min_run_time),
             **_seed_stats(p, runs), **_paper_columns(p, paper)} for p in cfg.points()]


# ---------------------------------------------------------------------------------------------
# table.csv, summary.json, table.md


def _write_csv(rows: Sequence[dict], path: Path) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_CSV_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    atomic_write_text(path, buf.getvalue())
    return path


def _ghost_rows(rows: Sequence[dict]) -> list[dict]:
    """Ghost points (not the plain baseline) with an accuracy."""
    return [r for r in rows if r["ratio"] is not None and r["acc_mean"] is not None]


def _with_paper(rows: Sequence[dict]) -> list[dict]:
    return [r for r in rows if r["paper_acc"] is not None and r["acc_mean"] is not None]


def _s2d3_gap(ghost: Sequence[dict]) -> dict[str, Any]:
    """How far the paper's default s=2 d=3 is from the best point, and whether within seed noise."""
    if not ghost:
        return {}
    best = max(ghost, key=lambda r: r["acc_mean"])
    d3 = next((r for r in ghost if r["dw_size"] == 3 and r["ratio"] == 2), None)
    if d3 is None:
        return {}
    noise = math.sqrt((best["acc_std"] or 0) ** 2 + (d3["acc_std"] or 0) ** 2)
    return {"s2d3_gap_to_best": best["acc_mean"] - d3["acc_mean"],
            "s2d3_within_noise_of_best": best["acc_mean"] - d3["acc_mean"] <= noise}


def _summary(rows: Sequence[dict], cfg: AblationConfig, command: Optional[str]) -> dict[str, Any]:
    ghost = _ghost_rows(rows)
    ghost_sorted = sorted(ghost, key=lambda r: r[cfg.axis])
    with_paper = _with_paper(rows)
    return {
        "ablation": cfg.name, "title": cfg.title, "fidelity": cfg.fidelity_name, "fidelity_knobs": cfg.fidelity.to_dict(),
        "dataset": cfg.data["dataset"], "eval_split": rows[0]["eval_split"], "seeds": list(cfg.seeds),
        "kendall_tau_vs_paper": kendall_tau([r["acc_mean"] for r in with_paper], [r["paper_acc"] for r in with_paper]),
        "kendall_tau_points": [r["point"] for r in with_paper],
        "proxy_acc_by_axis": {str(r[cfg.axis]): r["acc_mean"] for r in ghost_sorted},
        "non_increasing_in_axis": all(a["acc_mean"] >= b["acc_mean"] for a, b in zip(ghost_sorted, ghost_sorted[1:])),
        "best_point": max(ghost, key=lambda r: r["acc_mean"])["point"] if ghost else None,
        "command": command,
        **_s2d3_gap(ghost),
    }


def _fmt(v: Any, nd: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _md_row(r: dict) -> str:
    acc = "–" if r["acc_mean"] is None else (f"{100 * r['acc_mean']:.2f} ± {100 * r['acc_std']:.2f}"
                                              if r["acc_std"] is not None else f"{100 * r['acc_mean']:.2f}")
    return (f"| {r['point']} | {r['params'] / 1e6:.3f} | {r['macs'] / 1e6:.1f} | "
            f"{_fmt(r['fvcore_macs'] / 1e6 if r['fvcore_macs'] else None, 1)} | "
            f"{_fmt(r['thop_macs'] / 1e6 if r['thop_macs'] else None, 1)} | {r['proxy_macs'] / 1e6:.1f} | "
            f"{_fmt(r.get('latency_b1_ms'))}{' (noisy)' if r.get('latency_b1_noisy') else ''} | "
            f"{_fmt(r.get('throughput_b128'), 0)} | {acc} | {_fmt(r['train_s_mean'], 0)} | "
            f"{_fmt(r['paper_params_m'], 1)} | {_fmt(r['paper_flops_m'], 0)} | {_fmt(r['paper_acc'], 1)} |")


def _markdown(rows: Sequence[dict], summary: dict, cfg: AblationConfig, command: Optional[str]) -> str:
    lines = [f"# {cfg.title}", "",
             f"Proxy fidelity `{cfg.fidelity_name}` on `{cfg.data['dataset']}`; accuracy measured on the "
             f"{rows[0]['eval_split']}; mean ± std over seeds {list(cfg.seeds)}. Params/MACs are for the "
             "paper-size network at 32×32 (analytic conv+linear MACs; fvcore and thop MACs also count "
             f"BN/activations); the trained proxy network has width {cfg.fidelity.width}. "
             "Paper columns: GhostNet paper via the Paperspace blog (see analysis/data/paper_cifar.csv).", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [_MD_HEADER, "|" + "---|" * 13]
    lines += [_md_row(r) for r in rows]
    lines += ["", f"Kendall's τ between the proxy's and the paper's accuracy ordering over "
                  f"{len(_with_paper(rows))} points: {_fmt(summary['kendall_tau_vs_paper'], 3)}.",
              f"Proxy accuracy non-increasing in {cfg.axis}: {summary['non_increasing_in_axis']}."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# figure.png / figure.svg


def _merge_twin_legend(twin: Any, handles: list, labels: list) -> tuple[list, list]:
    h2, l2 = twin.get_legend_handles_labels()
    return handles + h2, labels + l2


def _plot_accuracy_vs_axis(ax: Any, rows: Sequence[dict], cfg: AblationConfig) -> None:
    """Left panel: proxy accuracy (mean ± std, every seed) along the ablated axis; the paper on a twin axis."""
    axis_label = {"ratio": "Ghost ratio s", "dw_size": "cheap-op kernel d"}[cfg.axis]
    ghost = sorted(_ghost_rows(rows), key=lambda r: r[cfg.axis])
    base = next((r for r in rows if r["ratio"] is None and r["acc_mean"] is not None), None)
    xs = [r[cfg.axis] for r in ghost]
    ax.errorbar(xs, [100 * r["acc_mean"] for r in ghost], yerr=[100 * (r["acc_std"] or 0) for r in ghost],
                marker="o", capsize=4, color=OKABE_ITO["blue"], label=f"proxy ({cfg.fidelity_name}), mean ± std")
    for r in ghost:
        ax.scatter([r[cfg.axis]] * len(r["accs"]), [100 * a for a in r["accs"]], s=10, color=OKABE_ITO["sky"], zorder=3)
    if base:
        ax.axhline(100 * base["acc_mean"], color=OKABE_ITO["grey"], ls="--", label="proxy plain baseline")
    ax.set_xlabel(axis_label)
    ax.set_ylabel("proxy accuracy (%)", color=OKABE_ITO["blue"])
    ax.set_xticks(xs)
    paper = [r for r in ghost if r["paper_acc"] is not None]
    handles, labels = ax.get_legend_handles_labels()
    if paper:
        twin = ax.twinx()
        twin.plot([r[cfg.axis] for r in paper], [r["paper_acc"] for r in paper], marker="s", ls=":",
                  color=OKABE_ITO["vermillion"], label="paper (full training)")
        if base and base["paper_acc"] is not None:
            twin.axhline(base["paper_acc"], color=OKABE_ITO["vermillion"], ls="-.", lw=0.8, label="paper plain baseline")
        twin.set_ylabel("paper accuracy (%)", color=OKABE_ITO["vermillion"])
        handles, labels = _merge_twin_legend(twin, handles, labels)
    ax.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    ax.set_title(f"accuracy vs {axis_label}")
    ax.grid(alpha=0.3)


def _plot_accuracy_vs_macs(ax: Any, rows: Sequence[dict], cfg: AblationConfig) -> None:
    """Right panel: proxy accuracy against paper-size MACs; the paper's FLOPs and accuracy on a twin axis."""
    pts = [r for r in rows if r["acc_mean"] is not None]
    ax.errorbar([r["macs"] / 1e6 for r in pts], [100 * r["acc_mean"] for r in pts],
                yerr=[100 * (r["acc_std"] or 0) for r in pts], fmt="o", capsize=4, color=OKABE_ITO["blue"],
                label="proxy (x: paper-size MACs)")
    for i, r in enumerate(pts):
        short = "plain" if r["ratio"] is None else (f"s={r['ratio']}" if cfg.axis == "ratio" else f"d={r['dw_size']}")
        ax.annotate(short, (r["macs"] / 1e6, 100 * r["acc_mean"]), textcoords="offset points",
                    xytext=(4, 4 + 9 * (i % 3)), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("MACs at 32×32 (M, log scale)")
    ax.set_ylabel("proxy accuracy (%)", color=OKABE_ITO["blue"])
    pp = [r for r in rows if r["paper_acc"] is not None]
    handles, labels = ax.get_legend_handles_labels()
    if pp:
        twin = ax.twinx()
        twin.scatter([r["paper_flops_m"] for r in pp], [r["paper_acc"] for r in pp], marker="s",
                     color=OKABE_ITO["vermillion"], label="paper (its FLOPs)")
        twin.set_ylabel("paper accuracy (%)", color=OKABE_ITO["vermillion"])
        handles, labels = _merge_twin_legend(twin, handles, labels)
    ax.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    ax.set_title("accuracy vs MACs")
    ax.grid(alpha=0.3, which="both")


def _figure(rows: Sequence[dict], cfg: AblationConfig, out: Path) -> list[Path]:
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 5.0), dpi=130)
    _plot_accuracy_vs_axis(a1, rows, cfg)
    _plot_accuracy_vs_macs(a2, rows, cfg)
    fig.suptitle(cfg.title, fontsize=11)
    fig.tight_layout()
    return save_figure(fig, out / "figure", dpi=130, bbox_inches=None)


# ---------------------------------------------------------------------------------------------
# everything


def write_ablation_report(study: optuna.Study, cfg: AblationConfig, latency: bool = True,
                          min_run_time: float = 1.0, command: Optional[str] = None) -> list[Path]:
    """Measure every point, aggregate the seeds and write the table, summary and figure.

    Args:
        study: The ablation's Optuna study (finished runs are read from it and the run cache).
        cfg: The ablation config (points, fidelity, paper table, output folder).
        latency: Also measure CPU latency (batch 1) and throughput (batch 128).
        min_run_time: Seconds of timing per latency measurement.
        command: The command line that made the ablation, recorded in the table and summary.

    Returns:
        The written files: ``table.csv``, ``summary.json``, ``table.md``, ``figure.png``, ``figure.svg``.

    Raises:
        ValueError: the study has no finished run yet.
    """
    runs = collect_runs(study, cfg)
    if not runs:
        raise ValueError(f"ablation {cfg.name}: no finished runs in study {cfg.study_name!r} yet")
    rows = _rows(runs, cfg, latency, min_run_time)
    out = cfg.out_dir
    written = [_write_csv(rows, out / "table.csv")]
    summary = _summary(rows, cfg, command)
    atomic_write_json(out / "summary.json", summary)
    written.append(out / "summary.json")
    atomic_write_text(out / "table.md", _markdown(rows, summary, cfg, command))
    written.append(out / "table.md")
    written += _figure(rows, cfg, out)
    return written
