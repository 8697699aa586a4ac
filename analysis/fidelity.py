"""Can the proxy be trusted? Rank agreement of short trainings and zero-cost proxies with longer training.

From a finished fidelity ladder (:mod:`ghostnas.search.ladder`): for every rung below the top, the
Kendall τ and Spearman ρ between the rung's validation accuracies and the reference (the mean
top-rung accuracy over its seeds), each with a percentile-bootstrap 95% interval over
architectures, the top-25% overlap, the regret of picking the rung's best architecture, and the
rung's cost in core-seconds; the same correlations for each zero-cost proxy; and the noise ceiling,
the τ between two seeds of the top rung (how well one full run ranks like another).

:func:`run_fidelity` is what ``ghostnas fidelity`` calls: run (or resume) the ladder, then
:func:`summarize_ladder` and :func:`write_fidelity_report` (``summary.json``, ``table.md``,
``archs.csv``, ``fidelity.png`` / ``.svg``).
"""
from __future__ import annotations

import csv
import io
import itertools
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from ghostnas.search.files import atomic_write_json, atomic_write_text
from ghostnas.search.ladder import LadderResult, load_ladder, load_ladder_config, run_ladder

from .stats import bootstrap_ci, kendall, kendall_p_method, kendall_tau_b, spearman, spearman_rho, topk_overlap

__all__ = ["FidelityReport", "summarize_ladder", "write_fidelity_report", "plot_fidelity", "run_fidelity",
           "fidelity_command"]

TOPK_FRAC = 0.25
REGRET = ("reference accuracy of the best architecture minus the reference accuracy of the rung's best "
          "architecture (mean over ties); 0 = the rung picks the reference's best, in accuracy units (0-1)")


def _f(x: Any) -> Optional[float]:
    """A JSON-safe float: NaN/inf become None."""
    x = float(x)
    return x if math.isfinite(x) else None


def _ci(lo_hi: tuple[float, float]) -> list[Optional[float]]:
    return [_f(lo_hi[0]), _f(lo_hi[1])]


def _dataset_label(spec: str) -> str:
    """The dataset spec without folders (``npz:../x/train.npz`` → ``npz:train.npz``)."""
    kind, sep, arg = spec.partition(":")
    return f"{kind}:{Path(arg).name}" if sep and arg else spec


def _rank_stats(x: np.ndarray, ref: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    tau, p = kendall(x, ref)
    rho, _ = spearman(x, ref)
    return {"kendall_tau": _f(tau), "kendall_p": _f(p), "kendall_p_method": kendall_p_method(x, ref),
            "kendall_ci95": _ci(bootstrap_ci(kendall_tau_b, x, ref, n_boot=n_boot, seed=seed, vectorized=True)),
            "spearman_rho": _f(rho),
            "spearman_ci95": _ci(bootstrap_ci(spearman_rho, x, ref, n_boot=n_boot, seed=seed, vectorized=True))}


def _regret(x: np.ndarray, ref: np.ndarray) -> float:
    picks = np.flatnonzero(x == np.max(x))
    return float(np.max(ref) - np.mean(ref[picks]))


def _mean_pairwise_tau(*seeds: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean([kendall_tau_b(a, b, axis=axis) for a, b in itertools.combinations(seeds, 2)], axis=0)


def summarize_ladder(result: LadderResult, command: str = "", n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The statistics of a complete ladder, as a JSON-ready dict (see the module docs).

    Args:
        result: A complete :class:`~ghostnas.search.ladder.LadderResult`.
        command: The command line that produced it (recorded in the summary).
        n_boot: Bootstrap resamples for every interval.
        seed: Seed of the bootstrap (the same seed gives the same intervals).

    Raises:
        ValueError: the ladder has missing runs.
    """
    cfg = result.config
    if not result.complete:
        raise ValueError(f"ladder {cfg.name} is incomplete: {len(result.missing)} of "
                         f"{len(result.missing) + len(result.runs)} runs are missing; run it to finish them")
    top = len(cfg.rungs) - 1
    ref = result.mean_acc(top)
    n = len(result.archs)
    p = float(np.mean([result.acc(top, s) for s in cfg.top_seeds]))
    top_cpu = result.cpu_seconds(top)
    rungs = []
    for i, rung in enumerate(cfg.rungs[:-1]):
        acc = result.mean_acc(i)
        cpu = result.cpu_seconds(i)
        rungs.append({"epochs": rung.epochs, "fraction": rung.fraction, "label": rung.label,
                      "seeds": list(cfg.rung_seeds(i)), "train_size": result.train_sizes[i],
                      "mean_acc": _f(acc.mean()), **_rank_stats(acc, ref, n_boot, seed),
                      "topk_overlap": _f(topk_overlap(acc, ref, TOPK_FRAC)), "regret": _f(_regret(acc, ref)),
                      "core_seconds": _f(np.sum(cpu)), "core_seconds_per_arch": _f(np.mean(cpu))})
    if len(cfg.top_seeds) >= 2:
        per_seed = [result.acc(top, s) for s in cfg.top_seeds]
        tau = float(_mean_pairwise_tau(*per_seed))
        ceiling = {"kendall_tau": _f(tau),
                   "kendall_ci95": _ci(bootstrap_ci(_mean_pairwise_tau, *per_seed, n_boot=n_boot, seed=seed,
                                                    vectorized=True)),
                   "spearman_rho": _f(np.mean([spearman(a, b)[0] for a, b in itertools.combinations(per_seed, 2)])),
                   "seeds": list(cfg.top_seeds),
                   "definition": "Kendall τ between the top-rung accuracies of two training seeds (mean over seed "
                                 "pairs): how well one full-budget run ranks like another. Rungs are compared with the mean of the "
                                 "top seeds, which is less noisy than one seed, so a rung can reach slightly above it"}
    else:
        ceiling = {"kendall_tau": None, "kendall_ci95": [None, None], "spearman_rho": None,
                   "seeds": list(cfg.top_seeds), "definition": "needs at least two top-rung seeds ([ladder] top_seeds)"}
    proxies = []
    for name in cfg.proxy_names:
        v = result.proxy_values(name)
        ok = ~np.isnan(v)
        vv = v[ok]
        finite = vv[np.isfinite(vv)]
        if finite.size:  # naswot gives -inf for a singular kernel: rank it below every finite value
            vv = np.clip(vv, finite.min() - 1.0, finite.max() + 1.0)
        secs = [result.proxies[a.id][name].get("seconds", math.nan) for a in result.archs if name in result.proxies[a.id]]
        cpus = [result.proxies[a.id][name].get("cpu_s", math.nan) for a in result.archs if name in result.proxies[a.id]]
        entry = {"name": name, "n": int(ok.sum()), **_rank_stats(vv, ref[ok], n_boot, seed),
                 "topk_overlap": _f(topk_overlap(vv, ref[ok], TOPK_FRAC)) if ok.sum() else None,
                 "seconds_per_arch": _f(np.nanmean(secs)) if secs else None,
                 "core_seconds_per_arch": _f(np.nanmean(cpus)) if cpus else None}
        proxies.append(entry)
    val_n = result.val_size
    return {
        "name": cfg.name, "command": command, "dataset": cfg.data["dataset"], "space": cfg.space_label,
        "n_archs": n, "sample_seed": cfg.sample_seed,
        "seeds": sorted(set(cfg.seeds) | set(cfg.top_seeds)), "rung_seeds": list(cfg.seeds),
        "top_seeds": list(cfg.top_seeds), "arch_ids": [a.id for a in result.archs],
        "reference": (f"mean validation accuracy over the top rung's seeds {list(cfg.top_seeds)} "
                      f"({cfg.top.label}); every rung and proxy is correlated with it"),
        "top_rung": {"epochs": cfg.top.epochs, "fraction": cfg.top.fraction, "label": cfg.top.label,
                     "seeds": list(cfg.top_seeds), "train_size": result.train_sizes[top], "mean_acc": _f(ref.mean()),
                     "best_acc": _f(ref.max()), "core_seconds": _f(np.sum(top_cpu)),
                     "core_seconds_per_arch": _f(np.mean(top_cpu))},
        "rungs": rungs, "noise_ceiling": ceiling, "proxies": proxies,
        "val_size": val_n, "split_seed": cfg.split_seed,
        "val_resolution_95": _f(1.96 * math.sqrt(2 * p * (1 - p) / val_n)),
        "val_resolution_note": (f"95% half-width of a difference of two accuracies near the observed mean {p:.3f} "
                                f"on {val_n} validation images (binomial, 1.96·sqrt(2p(1-p)/n)): accuracy gaps "
                                "smaller than this are not resolved by the validation split"),
        "ci_method": f"percentile bootstrap over architectures, {n_boot} resamples, seed {seed}",
        "topk_frac": TOPK_FRAC, "regret_definition": REGRET,
        "core_seconds_definition": ("process CPU time (all threads) of training and validating one architecture, "
                                    "mean over the rung's seeds; core_seconds sums it over the architectures"),
        "proxy_batch": {"batch_size": cfg.proxy_batch, "seed": cfg.proxy_seed},
        "recipe": cfg.recipe, "train_sizes": list(result.train_sizes), "failed_runs": result.failed_runs(),
    }


def _fmt(x: Optional[float], nd: int = 2) -> str:
    return "–" if x is None else f"{x:.{nd}f}"


def _fmt_ci(v: Optional[float], ci: list, nd: int = 2) -> str:
    return f"{_fmt(v, nd)} [{_fmt(ci[0], nd)}, {_fmt(ci[1], nd)}]"


def _secs(x: Optional[float]) -> str:
    if x is None:
        return "–"
    return f"{x * 1000:.2g} ms" if x < 0.1 else f"{x:.3g} s" if x < 1000 else f"{x:,.0f} s"


def _table_md(s: dict[str, Any]) -> str:
    nc, tr = s["noise_ceiling"], s["top_rung"]
    lines = [f"# Fidelity ladder: {s['name']}", "",
             f"Command: `{s['command']}`", "",
             f"Space `{s['space']}`, dataset `{_dataset_label(s['dataset'])}`, {s['n_archs']} architectures "
             f"(sample seed {s['sample_seed']}). Lower rungs trained with seed(s) {s['rung_seeds']}.",
             f"Reference: {s['reference']}.",
             f"Validation: {s['val_size']} held-out training images (split seed {s['split_seed']}); "
             f"accuracy differences below ±{s['val_resolution_95']:.3f} are not resolved (95%, binomial, "
             f"near the mean accuracy).", "",
             "## Rungs against the reference", "",
             "| rung | train images | core-s / arch | mean acc | Kendall τ [95% CI] | Spearman ρ [95% CI] "
             f"| top-{int(s['topk_frac'] * 100)}% overlap | regret |",
             "|---|---:|---:|---:|---|---|---:|---:|"]
    for r in s["rungs"]:
        lines.append(f"| {r['label']} | {r['train_size']:,} | {_secs(r['core_seconds_per_arch'])} | "
                     f"{_fmt(r['mean_acc'], 3)} | {_fmt_ci(r['kendall_tau'], r['kendall_ci95'])} | "
                     f"{_fmt_ci(r['spearman_rho'], r['spearman_ci95'])} | {_fmt(r['topk_overlap'])} | "
                     f"{_fmt(r['regret'], 3)} |")
    lines.append(f"| **reference** {tr['label']} × {len(tr['seeds'])} seeds | {tr['train_size']:,} | "
                 f"{_secs(tr['core_seconds_per_arch'])} per seed | {_fmt(tr['mean_acc'], 3)} | | | | |")
    lines += ["", f"**Noise ceiling** (seed against seed at {tr['label']}, seeds {nc['seeds']}): "
                  f"Kendall τ = {_fmt_ci(nc['kendall_tau'], nc['kendall_ci95'])}. No rung or proxy can be "
                  "judged better than this: a second run of the reference itself ranks only this well.", "",
              f"## Zero-cost proxies (at initialisation, one seeded training minibatch of "
              f"{s['proxy_batch']['batch_size']})", "",
              "| proxy | core-s / arch | Kendall τ [95% CI] | Spearman ρ [95% CI] | top-25% overlap |",
              "|---|---:|---|---|---:|"]
    for p in sorted(s["proxies"], key=lambda p: -(p["kendall_tau"] if p["kendall_tau"] is not None else -9)):
        lines.append(f"| {p['name']} | {_secs(p['core_seconds_per_arch'])} | {_fmt_ci(p['kendall_tau'], p['kendall_ci95'])} "
                     f"| {_fmt_ci(p['spearman_rho'], p['spearman_ci95'])} | {_fmt(p['topk_overlap'])} |")
    lines += ["", "## Notes", "",
              f"- Intervals: {s['ci_method']}. Kendall τ is tau-b; p-values are in `summary.json`.",
              f"- Regret: {s['regret_definition']}.",
              f"- Core-seconds: {s['core_seconds_definition']}.",
              "- Each rung trains from scratch with its own schedule; all rungs validate on the same images.",
              "- `params` and `macs` are the size baselines: a proxy that does not beat them adds nothing."]
    if s["failed_runs"]:
        lines.append(f"- {len(s['failed_runs'])} run(s) diverged and count at chance accuracy: "
                     + ", ".join(f"{f['arch_id']} rung {f['rung'] + 1} seed {f['seed']}" for f in s["failed_runs"]))
    return "\n".join(lines) + "\n"


def _archs_csv(result: LadderResult) -> str:
    cfg = result.config
    cols = ["arch_id", "params", "reference_acc"]
    for i, r in enumerate(cfg.rungs):
        cols += [f"acc_e{r.epochs}_f{r.fraction:g}_s{s}" for s in cfg.rung_seeds(i)]
    cols += list(cfg.proxy_names)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    ref = result.mean_acc(len(cfg.rungs) - 1)
    for j, a in enumerate(result.archs):
        any_run = next(r for (aid, _, _), r in result.runs.items() if aid == a.id)
        row = [a.id, any_run.get("params"), f"{ref[j]:.6g}"]
        for i in range(len(cfg.rungs)):
            row += [f"{result.acc(i, s)[j]:.6g}" for s in cfg.rung_seeds(i)]
        row += [f"{v:.6g}" for v in (result.proxy_values(n)[j] for n in cfg.proxy_names)]
        w.writerow(row)
    return buf.getvalue()


def _short_label(rung: dict[str, Any], rungs: Sequence[dict[str, Any]]) -> str:
    """``4 ep`` when every rung trains on the same data fraction (the axis then says it), else the full label."""
    same = len({r["fraction"] for r in rungs}) == 1
    return f"{rung['epochs']} ep" if same and rung.get("epochs") is not None else rung["label"]


def plot_fidelity(summary: dict[str, Any], result: LadderResult) -> Any:
    """The fidelity figure: τ against cost per architecture (rungs with their CI band, zero-cost
    proxies as points, the noise ceiling as a band) and rank-vs-rank scatters of the lowest and a
    middle rung against the reference. Returns the matplotlib Figure."""
    from scipy.stats import rankdata

    from .style import OKABE_ITO, pyplot

    plt = pyplot()
    rc = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 9.5}
    rungs = summary["rungs"]
    show = sorted({0, len(rungs) // 2}) if len(rungs) > 1 else [0]
    with plt.rc_context(rc):
        fig = plt.figure(figsize=(6.8 + 3.6 * len(show), 5.0), layout="constrained")
        gs = fig.add_gridspec(1, 1 + len(show), width_ratios=[1.9] + [1] * len(show))
        ax = fig.add_subplot(gs[0, 0])
        x = np.array([r["core_seconds_per_arch"] for r in rungs], dtype=float)
        y = np.array([r["kendall_tau"] if r["kendall_tau"] is not None else np.nan for r in rungs])
        lo = np.array([r["kendall_ci95"][0] if r["kendall_ci95"][0] is not None else np.nan for r in rungs])
        hi = np.array([r["kendall_ci95"][1] if r["kendall_ci95"][1] is not None else np.nan for r in rungs])
        nc = summary["noise_ceiling"]
        if nc["kendall_tau"] is not None:
            ax.axhspan(nc["kendall_ci95"][0], nc["kendall_ci95"][1], color=OKABE_ITO["grey"], alpha=0.25, lw=0,
                       label="noise ceiling (seed vs seed, 95% CI)")
            ax.axhline(nc["kendall_tau"], color=OKABE_ITO["grey"], lw=1.2)
        ax.fill_between(x, lo, hi, color=OKABE_ITO["blue"], alpha=0.18, lw=0, label="short training, 95% CI")
        ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt="o-", color=OKABE_ITO["blue"], lw=2, ms=6, capsize=3,
                    elinewidth=1, label="short training (rungs)")
        same_data = len({r["fraction"] for r in rungs}) == 1
        for xi, r in zip(x, rungs):  # rung names along the top edge, above each rung's x: they never meet the bars
            ax.annotate(str(r["epochs"]) if same_data else r["label"], (xi, 0.985), xycoords=("data", "axes fraction"),
                        ha="center", va="top", color=OKABE_ITO["blue"], fontsize=9.5)
        if same_data:
            ax.annotate("rung epochs:", (x[0], 0.985), xycoords=("data", "axes fraction"), xytext=(-10, 0),
                        textcoords="offset points", ha="right", va="top", color=OKABE_ITO["blue"], fontsize=9.5)
        tr = summary["top_rung"]
        ax.axvline(tr["core_seconds_per_arch"], color=OKABE_ITO["black"], ls=":", lw=1.2)
        ax.annotate(f"reference\n{tr['label']}", (tr["core_seconds_per_arch"], 0.02), xycoords=("data", "axes fraction"),
                    ha="right", va="bottom", fontsize=9.5, xytext=(-4, 0), textcoords="offset points")
        floor = 1e-3
        markers = itertools.cycle(["s", "D", "^", "v", "P", "X", "*", "h"])
        colours = itertools.cycle([OKABE_ITO[c] for c in ("vermillion", "green", "orange", "purple", "sky",
                                                          "black", "grey")])
        for p in summary["proxies"]:
            if p["kendall_tau"] is None or p["seconds_per_arch"] is None:
                continue
            px = max(p["core_seconds_per_arch"] or p["seconds_per_arch"], floor)
            err = None
            if None not in p["kendall_ci95"]:
                err = [[p["kendall_tau"] - p["kendall_ci95"][0]], [p["kendall_ci95"][1] - p["kendall_tau"]]]
            ax.errorbar([px], [p["kendall_tau"]], yerr=err, fmt=next(markers), color=next(colours), ms=7,
                        capsize=3, lw=1, label=p["name"])
        ax.set_xscale("log")
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xlabel("cost per architecture (core-seconds, log scale)")
        ax.set_ylabel("Kendall τ with the reference ranking")
        ax.set_ylim(min(-0.35, np.nanmin(np.r_[lo, [q["kendall_ci95"][0] for q in summary["proxies"]
                                                    if q["kendall_ci95"][0] is not None]]) - 0.05), 1.12)
        ax.set_title("Rank agreement against cost")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=4, frameon=False)
        if any((q["core_seconds_per_arch"] or 1) < floor for q in summary["proxies"]):
            ax.text(0.99, 0.01, "proxies cheaper than 1 ms are drawn at 1 ms", transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=9, color="0.35")
        ax.grid(True, which="major", alpha=0.3)

        ref = result.mean_acc(len(result.config.rungs) - 1)
        ref_rank = rankdata(-ref, method="average")
        n = len(ref)
        for k, i in enumerate(show):
            a2 = fig.add_subplot(gs[0, 1 + k])
            rr = rankdata(-result.mean_acc(i), method="average")
            a2.plot([1, n], [1, n], color="0.6", lw=1, ls="--")
            a2.scatter(ref_rank, rr, s=30, color=OKABE_ITO["blue"], alpha=0.8, edgecolor="white", lw=0.5)
            r = rungs[i]
            a2.set_title(f"{r['label']} against the reference\nτ = {_fmt_ci(r['kendall_tau'], r['kendall_ci95'])}")
            a2.set_xlabel("rank at the reference (1 = best)")
            a2.set_ylabel(f"rank after {_short_label(r, rungs)} (1 = best)")
            a2.set_xlim(0, n + 1)
            a2.set_ylim(0, n + 1)
            a2.set_aspect("equal")
            a2.grid(True, alpha=0.3)
        fig.suptitle(f"Does short training rank architectures like longer training? {summary['space']} on "
                     f"{_dataset_label(summary['dataset'])}, {n} architectures", fontsize=13)
    return fig


def write_fidelity_report(summary: dict[str, Any], result: LadderResult, out_dir: str | Path) -> list[Path]:
    """Write ``summary.json``, ``table.md``, ``archs.csv`` and ``fidelity.png`` / ``.svg`` into ``out_dir``.

    Returns:
        The written files.
    """
    from .style import save_figure

    out = Path(out_dir)
    paths = [out / "summary.json", out / "table.md", out / "archs.csv"]
    atomic_write_json(paths[0], summary)
    atomic_write_text(paths[1], _table_md(summary))
    atomic_write_text(paths[2], _archs_csv(result))
    paths += save_figure(plot_fidelity(summary, result), out / "fidelity")
    return paths


def fidelity_command(config: str, overrides: Iterable[str] = (), out: Optional[str | Path] = None) -> str:
    """The ``ghostnas fidelity`` command line for these arguments (recorded in the report)."""
    parts = ["ghostnas", "fidelity", "--config", shlex.quote(str(config))]
    for o in overrides:
        parts += ["--set", shlex.quote(o)]
    if out is not None:
        parts += ["--out", shlex.quote(str(out))]
    return " ".join(parts)


@dataclass
class FidelityReport:
    """What :func:`run_fidelity` produced: the summary dict, the written files and the ladder."""

    summary: dict[str, Any]
    paths: list[Path]
    result: LadderResult


def run_fidelity(config: str | Path, overrides: Iterable[str] = (), out: Optional[str | Path] = None,
                 train: bool = True, n_boot: int = 2000, command: Optional[str] = None) -> FidelityReport:
    """Run (or resume) a fidelity ladder and write its report; what ``ghostnas fidelity`` calls.

    Args:
        config: A ladder config by shipped name (``fidelity_quickstart``) or path.
        overrides: ``--set KEY=VALUE`` strings.
        out: Output folder (default: the config's ``[output] dir``).
        train: False: only rebuild the report from the cached runs (ValueError if any is missing).
        n_boot: Bootstrap resamples per interval.
        command: Command line to record (default: rebuilt from the arguments).

    Raises:
        ValueError: a bad config (one line naming the key), a dataset that cannot be loaded, or,
            with ``train=False``, an unfinished ladder.
    """
    overrides = list(overrides)
    cfg = load_ladder_config(config, overrides, out)
    result = run_ladder(cfg) if train else load_ladder(cfg)
    summary = summarize_ladder(result, command or fidelity_command(str(config), overrides, out), n_boot=n_boot)
    return FidelityReport(summary, write_fidelity_report(summary, result, cfg.out_dir), result)
