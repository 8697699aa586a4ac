"""Tables, statistics and figures of a paper ablation or budget study (``ghostnas ablate``).

For every grid point: params and MACs of the paper-size network (analytic, plus fvcore's and
thop's totals), params/MACs of the trained proxy network, CPU latency (batch 1) and batch-128
throughput of the paper-size network (BN folded, channels-last), and the proxy accuracy as mean
with a 95% t-interval over seeds, its difference to the paper's default point (s=2, d=3) with
Welch's interval and p-value, tests of each adjacent pair along the axis and of the plain
baseline against s=2, and Kendall's tau-b against the paper's order with an exact p-value and a
bootstrap-over-seeds interval (:mod:`.ablation_stats`). The results are read from the run cache
by key (:func:`ghostnas.search.ablate.cached_runs`), so a report works on whatever runs exist
and names the missing ones and the command that trains them.

* :func:`write_ablation_report` writes ``table.csv``, ``table.md``, ``summary.json`` and
  ``figure.png``/``.svg`` for one grid.
* :func:`write_budget_report` writes ``table.md``, ``summary.json`` and ``figure.png``/``.svg``
  for a config with ``budgets`` (accuracy against training epochs, and the plain − Ghost gap).
* :func:`run_and_report` trains what is missing (every budget) and writes the right report:
  the one function ``ghostnas ablate`` calls.
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ghostnas.ghostnet import build_model, default_resolution
from ghostnas.search.ablate import AblationConfig, AblationPoint, cached_runs, run_all_budgets
from ghostnas.search.files import atomic_write_json, atomic_write_text, ensure_writable_dir

from .ablation_stats import (CI_METHOD, RANK_METHOD, REFERENCE, UNITS, VERDICT_RULE, ablation_statistics, fmt_acc,
                             fmt_diff, fmt_p, fmt_pts, missing_runs_markdown, short_dataset, short_name)
from .budget_report import write_budget_report
from .paper import paper_rows
from .stats import kendall
from .style import OKABE_ITO, pyplot, save_with_footer

__all__ = ["write_ablation_report", "write_budget_report", "run_and_report", "AblationOutcome", "kendall_tau"]

_NUM_CLASSES = 10
_CSV_COLUMNS = ["point", "ratio", "dw_size", "params", "macs", "fvcore_macs", "thop_macs", "flop_counter_macs",
                "proxy_params", "proxy_macs", "latency_b1_ms", "latency_b1_iqr_ms", "latency_b1_noisy",
                "throughput_b128", "acc_mean_pct", "acc_sd_pct", "acc_ci95_lo_pct", "acc_ci95_hi_pct", "n_seeds",
                "seeds", "diff_vs_reference_pct", "diff_vs_reference_ci95_lo_pct", "diff_vs_reference_ci95_hi_pct",
                "diff_vs_reference_p_value", "train_s_mean", "eval_split", "paper_params_m", "paper_flops_m",
                "paper_acc"]


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> Optional[float]:
    """Kendall's tau-b of two equally long sequences (:func:`ghostnas.analysis.stats.kendall`), JSON-ready.

    Args:
        a, b: The two orderings' values.

    Returns:
        tau-b, or None for fewer than 2 items or an undefined tau (a constant sequence).
    """
    tau, _ = kendall(a, b)
    return None if math.isnan(tau) else tau


@dataclass
class AblationOutcome:
    """What :func:`run_and_report` did: the files written, the runs still missing and the
    command that trains them (None when nothing is missing), and the summary."""

    paths: list[Path] = field(default_factory=list)
    missing_runs: list[dict[str, Any]] = field(default_factory=list)
    complete_command: Optional[str] = None
    summary: Optional[dict[str, Any]] = None


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
        # torch (the deploy path), onnxruntime or openvino: the ablation config's latency_backend once it has one
        backend = getattr(cfg, "latency_backend", None) or "torch"
        b1 = measure_deploy_latency(model, res, batch=1, threads=threads, min_run_time=min_run_time, backend=backend)
        b128 = measure_deploy_latency(model, res, batch=128, threads=threads, min_run_time=min_run_time,
                                      backend=backend)
        m.update({"latency_b1_ms": b1.median * 1e3, "latency_b1_iqr_ms": b1.iqr * 1e3, "latency_b1_noisy": b1.noisy,
                  "throughput_b128": 128 / b128.median, "latency_threads": threads, "latency_backend": backend,
                  "latency_backend_version": b1.backend_version, "latency_precision": b1.precision})
    return m


def _seed_runs(point: AblationPoint, runs: Sequence[dict]) -> dict[str, Any]:
    """The point's per-seed accuracies (percent), seeds, mean training time and evaluation split."""
    mine = sorted((r for r in runs if r["point"] == point.label), key=lambda r: r["seed"])
    times = [r["train_s"] for r in mine if r["train_s"] is not None]
    return {"accs": [100.0 * r["acc"] for r in mine], "seeds": [r["seed"] for r in mine],
            "train_s_mean": statistics.fmean(times) if times else None,
            "eval_split": "; ".join(sorted({r["eval_split"] for r in mine if r["eval_split"]}))}


def _paper_columns(point: AblationPoint, paper: Sequence[dict]) -> dict[str, Any]:
    ref = next((q for q in paper if q["ratio"] == point.ratio and q["dw_size"] == point.dw_size), None)
    return {"paper_params_m": ref["params_m"] if ref else None, "paper_flops_m": ref["flops_m"] if ref else None,
            "paper_acc": ref["acc"] if ref else None}


def _rows(runs: Sequence[dict], cfg: AblationConfig, latency: bool, min_run_time: float) -> list[dict[str, Any]]:
    paper = paper_rows(cfg.paper_table, cfg.arch)
    return [{"point": p.label, "ratio": p.ratio, "dw_size": p.dw_size, **_measure(p, cfg, latency, min_run_time),
             **_seed_runs(p, runs), **_paper_columns(p, paper)} for p in cfg.points()]


def _budget_context(cfg: AblationConfig) -> str:
    return f"at {cfg.fidelity.epochs} epochs"


# ---------------------------------------------------------------------------------------------
# table.csv, summary.json, table.md


def _write_csv(rows: Sequence[dict], path: Path) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_CSV_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        lo, hi = r["acc_ci95"]
        dlo, dhi = r["diff_vs_reference_ci95"]
        w.writerow({**r, "acc_mean_pct": r["acc_mean"], "acc_sd_pct": r["acc_sd"], "acc_ci95_lo_pct": lo,
                    "acc_ci95_hi_pct": hi, "n_seeds": r["n"], "seeds": " ".join(str(s) for s in r["seeds"]),
                    "diff_vs_reference_pct": r["diff_vs_reference"], "diff_vs_reference_ci95_lo_pct": dlo,
                    "diff_vs_reference_ci95_hi_pct": dhi})
    atomic_write_text(path, buf.getvalue())
    return path


def _notes(stats: dict[str, Any], min_n: int) -> list[str]:
    notes = [f"{stats['n_comparisons']} pairwise tests; p-values are per test, not corrected for multiplicity."]
    if 0 < min_n <= 2:
        notes.append("With 2 seeds a point's t-interval uses t(0.975, 1) = 12.7 and a Welch difference has about "
                     "1–2 degrees of freedom: only large, steady differences can be told apart. The bootstrap of τ "
                     "sees at most 3 distinct means per point and understates the uncertainty.")
    if min_n == 1:
        notes.append("Some points have one seed: no interval and no test for them.")
    return notes


def _summary(rows: Sequence[dict], stats: dict[str, Any], cfg: AblationConfig, missing: Sequence[dict],
             command: Optional[str]) -> dict[str, Any]:
    keep = ("params", "macs", "proxy_params", "proxy_macs", "fvcore_macs", "thop_macs", "latency_b1_ms",
            "latency_b1_noisy", "throughput_b128", "train_s_mean", "eval_split", "paper_params_m", "paper_flops_m")
    by = {r["point"]: r for r in rows}
    points = [{**p, **{k: by[p["point"]].get(k) for k in keep}} for p in stats["points"]]
    splits = sorted({r["eval_split"] for r in rows if r["eval_split"]})
    min_n = min((p["n"] for p in points if p["n"]), default=0)
    return {
        "kind": "ablation", "ablation": cfg.name, "title": cfg.title, "arch": cfg.arch, "axis": cfg.axis,
        "fidelity": cfg.fidelity_name, "fidelity_knobs": cfg.fidelity.to_dict(), "dataset": cfg.data["dataset"],
        "eval_split": "; ".join(splits), "seeds": list(cfg.seeds), "paper_table": cfg.paper_table,
        "command": command, "units": UNITS, "ci_method": CI_METHOD, "rank_method": RANK_METHOD,
        "verdict_rule": VERDICT_RULE, "complete": not missing, "missing_runs": list(missing),
        "complete_command": command if missing else None,
        **{**stats, "points": points},
        "notes": _notes(stats, min_n),
    }


def _fmt(v: Any, nd: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _md_row(r: dict) -> str:
    return (f"| {r['point']} | {r['params'] / 1e6:.3f} | {r['macs'] / 1e6:.1f} | "
            f"{_fmt(r['fvcore_macs'] / 1e6 if r['fvcore_macs'] else None, 1)} | "
            f"{_fmt(r['thop_macs'] / 1e6 if r['thop_macs'] else None, 1)} | {r['proxy_macs'] / 1e6:.1f} | "
            f"{_fmt(r.get('latency_b1_ms'))}{' (noisy)' if r.get('latency_b1_noisy') else ''} | "
            f"{_fmt(r.get('throughput_b128'), 0)} | {fmt_acc(r['acc_mean'], r['acc_ci95_half'], r['n'])} | "
            f"{fmt_diff(r['diff_vs_reference'], r['diff_vs_reference_ci95'], r['diff_vs_reference_p_value'])} | "
            f"{_fmt(r['train_s_mean'], 0)} | {_fmt(r['paper_params_m'], 1)} | {_fmt(r['paper_flops_m'], 0)} | "
            f"{_fmt(r['paper_acc'], 1)} |")


def _markdown(rows: Sequence[dict], summary: dict, cfg: AblationConfig, command: Optional[str]) -> str:
    ref = summary["reference_point"] or REFERENCE
    lines = [f"# {cfg.title}", "",
             f"Proxy fidelity `{cfg.fidelity_name}` ({cfg.fidelity.epochs} epochs) on `{cfg.data['dataset']}`; "
             f"accuracy (%) measured on the {summary['eval_split'] or 'unknown split'}; mean ± half-width of the 95% "
             f"t-interval over the n seeds of {list(cfg.seeds)} that exist. Δ: difference to {ref} in points, "
             "Welch 95% interval and p-value. Params/MACs are for the paper-size network at 32×32 (analytic "
             "conv+linear MACs; fvcore and thop MACs also count BN/activations); the trained proxy network has "
             f"width {cfg.fidelity.width}. Paper columns: GhostNet paper via the Paperspace blog (see "
             "analysis/data/paper_cifar.csv).", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += ["| point | params (M) | MACs (M) | fvcore MACs (M) | thop MACs (M) | proxy MACs (M) | CPU b1 (ms) | "
              f"b128 (img/s) | proxy acc (%) ± 95% CI (n) | Δ vs {ref} (points) [95% CI], p | train (s) | "
              "paper params (M) | paper FLOPs (M) | paper acc (%) |", "|" + "---|" * 14]
    lines += [_md_row(r) for r in rows]
    lines += ["", "## Tested statements", ""] + [f"- {c}." for c in summary["claims"]]
    lines += ["", "## Method", "", f"- Intervals: {CI_METHOD}.", f"- Verdicts: {VERDICT_RULE}",
              f"- Ranks: {RANK_METHOD}"] + [f"- {n}" for n in summary["notes"]]
    lines += missing_runs_markdown(summary["missing_runs"], command)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# figure.png / figure.svg


def _tick_label(cfg: AblationConfig, v: int) -> str:
    return f"s={v}" if cfg.axis == "ratio" else f"d={v}"


def _plot_proxy(ax: Any, rows: Sequence[dict], cfg: AblationConfig) -> None:
    """(a) proxy accuracy along the axis: mean with its 95% t-interval, every seed, the plain baseline's band."""
    ghost = sorted((r for r in rows if r["ratio"] is not None and r["acc_mean"] is not None), key=lambda r: r[cfg.axis])
    base = next((r for r in rows if r["ratio"] is None and r["acc_mean"] is not None), None)
    blue, sky = OKABE_ITO["blue"], OKABE_ITO["sky"]
    with_ci = [r for r in ghost if r["acc_ci95"][0] is not None]
    if with_ci:
        ax.errorbar([r[cfg.axis] for r in with_ci], [r["acc_mean"] for r in with_ci],
                    yerr=[[r["acc_mean"] - r["acc_ci95"][0] for r in with_ci],
                          [r["acc_ci95"][1] - r["acc_mean"] for r in with_ci]],
                    fmt="o", ms=6, capsize=5, color=blue, label="mean, 95% CI", zorder=3)
    one = [r for r in ghost if r["acc_ci95"][0] is None]
    if one:
        ax.plot([r[cfg.axis] for r in one], [r["acc_mean"] for r in one], "o", mfc="white", color=blue, ms=6,
                label="one seed (no CI)", zorder=3)
    ax.plot([r[cfg.axis] for r in ghost], [r["acc_mean"] for r in ghost], "-", color=blue, lw=1, alpha=0.5)
    for r in ghost:
        ax.scatter([r[cfg.axis] + 0.08] * len(r["accs"]), r["accs"], s=12, color=sky, zorder=4, lw=0,
                   label="single seed" if r is ghost[0] else None)
    if base:
        name = short_name("baseline", cfg.arch, cfg.axis)
        ax.axhline(base["acc_mean"], color=OKABE_ITO["grey"], ls="--", lw=1.2,
                   label=f"{name} (plain) mean" + (", 95% CI band" if base["acc_ci95"][0] is not None else ""))
        if base["acc_ci95"][0] is not None:
            ax.axhspan(base["acc_ci95"][0], base["acc_ci95"][1], color=OKABE_ITO["grey"], alpha=0.18, lw=0)
    ns = sorted({r["n"] for r in rows if r["n"]})
    ax.set_title(f"(a) proxy accuracy, {cfg.fidelity.epochs} epochs (n = {'/'.join(map(str, ns))} seeds)",
                 fontsize=10)
    ax.set_ylabel("proxy accuracy (%)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)


def _plot_paper(ax: Any, rows: Sequence[dict], cfg: AblationConfig) -> None:
    """(b) the paper's accuracy along the axis, on its own scale."""
    pp = sorted((r for r in rows if r["ratio"] is not None and r["paper_acc"] is not None), key=lambda r: r[cfg.axis])
    base = next((r for r in rows if r["ratio"] is None and r["paper_acc"] is not None), None)
    ver = OKABE_ITO["vermillion"]
    if pp:
        ax.plot([r[cfg.axis] for r in pp], [r["paper_acc"] for r in pp], "s-", color=ver, ms=6, lw=1,
                label="Ghost (paper)")
    if base:
        ax.axhline(base["paper_acc"], color=OKABE_ITO["grey"], ls="--", lw=1.2,
                   label=f"{short_name('baseline', cfg.arch, cfg.axis)} (plain, paper)")
    if not pp and not base:
        ax.text(0.5, 0.5, "no paper numbers for this grid", transform=ax.transAxes, ha="center", fontsize=9)
    else:
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
        lo = min([r["paper_acc"] for r in pp] + ([base["paper_acc"]] if base else []))
        hi = max([r["paper_acc"] for r in pp] + ([base["paper_acc"]] if base else []))
        pad = max(0.2, 0.25 * (hi - lo))
        ax.set_ylim(lo - pad, hi + pad)
    table = f", Table {cfg.paper_table}" if cfg.paper_table else ""
    ax.set_title(f"(b) paper: test accuracy after full training{table}", fontsize=10)
    ax.set_ylabel("paper accuracy (%), its own scale")


def _plot_macs(ax: Any, rows: Sequence[dict], cfg: AblationConfig) -> None:
    """(c) MACs of the paper-size network along the axis, bars with their values; the plain baseline as a line."""
    ghost = sorted((r for r in rows if r["ratio"] is not None), key=lambda r: r[cfg.axis])
    base = next((r for r in rows if r["ratio"] is None), None)
    xs = [r[cfg.axis] for r in ghost]
    step = min((b - a for a, b in zip(xs, xs[1:])), default=1)
    bars = ax.bar(xs, [r["macs"] / 1e6 for r in ghost], width=0.6 * step, color=OKABE_ITO["green"], alpha=0.85,
                  label="Ghost")
    for b, r in zip(bars, ghost):
        ax.annotate(f"{r['macs'] / 1e6:.1f}", (b.get_x() + b.get_width() / 2, b.get_height()),
                    textcoords="offset points", xytext=(0, 2), ha="center", fontsize=8)
    top = max([r["macs"] / 1e6 for r in ghost] + ([base["macs"] / 1e6] if base else [0]))
    if base:
        ax.axhline(base["macs"] / 1e6, color=OKABE_ITO["grey"], ls="--", lw=1.2)
        ax.annotate(f"{short_name('baseline', cfg.arch, cfg.axis)} (plain): {base['macs'] / 1e6:.1f}",
                    (0.98, base["macs"] / 1e6), xycoords=("axes fraction", "data"), textcoords="offset points",
                    xytext=(0, 3), ha="right", fontsize=8, color="#555555")
    ax.set_ylim(0, top * 1.15)
    ax.set_title("(c) MACs of the paper-size network, 32×32", fontsize=10)
    ax.set_ylabel("MACs (millions)")


def _figure(rows: Sequence[dict], summary: dict, cfg: AblationConfig, out: Path) -> list[Path]:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 5.5), dpi=130)
    _plot_proxy(axes[0], rows, cfg)
    _plot_paper(axes[1], rows, cfg)
    _plot_macs(axes[2], rows, cfg)
    xs = sorted(r[cfg.axis] for r in rows if r["ratio"] is not None)
    axis_label = {"ratio": "Ghost ratio s", "dw_size": "cheap-op kernel d"}[cfg.axis]
    for ax in axes:
        ax.set_xticks(xs, [_tick_label(cfg, v) for v in xs])
        ax.set_xlabel(axis_label + (" (d = 3)" if cfg.axis == "ratio" else " (s = 2)"))
        ax.grid(alpha=0.3, axis="y")
        if xs:
            ax.set_xlim(xs[0] - 0.6 * (xs[-1] - xs[0] or 1) / max(len(xs) - 1, 1),
                        xs[-1] + 0.6 * (xs[-1] - xs[0] or 1) / max(len(xs) - 1, 1))
    t = summary["kendall_tau_vs_paper"]
    foot = f"Proxy: {cfg.fidelity_name} on {short_dataset(cfg.data['dataset'])}, width {cfg.fidelity.width}. "
    if t["tau"] is not None:
        lo, hi = t["tau_ci95"]
        ci = f", bootstrap-over-seeds 95% CI {fmt_pts(lo)} to {fmt_pts(hi)}" if lo is not None else ""
        foot += (f"Kendall τ-b of proxy means vs paper over {t['n_points']} points: {fmt_pts(t['tau'])} "
                 f"(exact {fmt_p(t['tau_p_value'])}{ci}).")
    return save_with_footer(fig, cfg.title, foot, out / "figure", summary["missing_runs"])


# ---------------------------------------------------------------------------------------------
# ablation report


def _write_ablation(cfg: AblationConfig, latency: bool, min_run_time: float, command: Optional[str],
                    num_classes: Optional[int] = None) -> tuple[list[Path], dict[str, Any]]:
    runs, missing = cached_runs(cfg, num_classes)
    if not runs:
        raise ValueError(f"ablation {cfg.name}: no finished runs in the run cache {cfg.runs_dir} for this grid yet"
                         + (f"; train them with: {command}" if command else ""))
    rows = _rows(runs, cfg, latency, min_run_time)
    stats = ablation_statistics(rows, cfg.arch, cfg.axis, REFERENCE, context=_budget_context(cfg))
    by = {p["point"]: p for p in stats["points"]}
    rows = [{**r, **by[r["point"]]} for r in rows]
    out = cfg.out_dir
    ensure_writable_dir(out)
    summary = _summary(rows, stats, cfg, missing, command)
    written = [_write_csv(rows, out / "table.csv")]
    atomic_write_json(out / "summary.json", summary)
    written.append(out / "summary.json")
    atomic_write_text(out / "table.md", _markdown(rows, summary, cfg, command))
    written.append(out / "table.md")
    written += _figure(rows, summary, cfg, out)
    return written, summary


def write_ablation_report(study: Any, cfg: AblationConfig, latency: bool = True, min_run_time: float = 1.0,
                          command: Optional[str] = None) -> list[Path]:
    """Measure every point, test the differences and write the table, summary and figure.

    The runs are read from the run cache by key (:func:`~ghostnas.search.ablate.cached_runs`):
    every point × seed of ``cfg`` that some study trained counts, whatever study it was.

    Args:
        study: The ablation's Optuna study, or None; accepted for compatibility, not read.
        cfg: The ablation config (points, seeds, fidelity, paper table, output folder).
        latency: Also measure CPU latency (batch 1) and throughput (batch 128).
        min_run_time: Seconds of timing per latency measurement.
        command: The command line that trains the ablation, recorded in the table and summary
            and named as the way to train missing runs.

    Returns:
        The written files: ``table.csv``, ``summary.json``, ``table.md``, ``figure.png``, ``figure.svg``.

    Raises:
        ValueError: no run of the grid is finished yet.
    """
    return _write_ablation(cfg, latency, min_run_time, command)[0]


# ---------------------------------------------------------------------------------------------
# everything


def run_and_report(cfg: AblationConfig, train: bool = True, report: bool = True, latency: bool = True,
                   min_run_time: float = 1.0, command: Optional[str] = None) -> AblationOutcome:
    """Train what is missing (every budget of a budget study) and write the study's report.

    Args:
        cfg: The ablation config; with ``budgets`` it is a budget study
            (:func:`write_budget_report`), else one grid (:func:`write_ablation_report`).
        train: Run the grid(s) first (finished runs are reused from the run cache); False
            reports on the runs that exist.
        report: Write the report.
        latency: Measure CPU latency in an ablation report (budget reports do not).
        min_run_time: Seconds of timing per latency measurement.
        command: The command that trains the study; recorded, and named for missing runs.

    Returns:
        :class:`AblationOutcome`.

    Raises:
        ValueError: nothing to report on (no finished run).
    """
    if train:
        run_all_budgets(cfg)
    if not report:
        return AblationOutcome()
    if cfg.budgets:
        paths, summary = write_budget_report(cfg, command=command)
    else:
        paths, summary = _write_ablation(cfg, latency, min_run_time, command)
    return AblationOutcome(paths=paths, missing_runs=summary["missing_runs"],
                           complete_command=summary["complete_command"], summary=summary)
