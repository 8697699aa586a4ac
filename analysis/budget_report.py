"""The budget study of a config with ``budgets`` (``ghostnas ablate --config vgg16_budget``).

Every network of the grid (plain VGG-16, Ghost s=2, s=4...) trains at each budget (the config's
fidelity, then one per entry of ``budgets``, each from scratch with its own schedule); the
report asks the paper's headline question under a growing budget: is the plain network's lead
over Ghost s=2 (the paper: equal, 93.6 vs 93.7) shrinking?

* :func:`budget_statistics` – per budget, every network's mean with its 95% t-interval, the gap
  plain − s=2 with Welch's interval and p-value, and the trend of the gap in log2(epochs): least
  squares of the per-budget gaps (primary; df = budgets − 2, weak with 3 budgets, and said so)
  and the network × log2(epochs) interaction fitted to every run (more df, more assumptions).
* :func:`write_budget_report` – ``summary.json``, ``table.md`` and ``figure.png``/``.svg``
  (accuracy against epochs on a log2 axis per network with 95% intervals; the gap with its
  intervals, the fitted trend and a zero line), on the runs that exist, naming the missing ones.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Sequence

from ghostnas.ghostnet import default_resolution
from ghostnas.search.ablate import AblationConfig, budget_configs, cached_runs, dataset_num_classes
from ghostnas.search.files import atomic_write_json, atomic_write_text, ensure_writable_dir

from .ablation_stats import (ALPHA, CI_METHOD, REFERENCE, UNITS, VERDICT_RULE, _ci, _f, compare, comparison_sentence,
                             fmt_acc, fmt_diff, fmt_p, fmt_pts, missing_runs_markdown, point_stats, short_dataset,
                             short_name)
from .paper import paper_rows
from .stats import ols_ci95
from .style import OKABE_ITO, OKABE_ITO_CYCLE, pyplot, save_with_footer

__all__ = ["budget_statistics", "write_budget_report"]

_NUM_CLASSES = 10


def _trend_verdict(slope: Optional[float], ci: Sequence[Optional[float]], p: Optional[float]) -> str:
    if slope is None or ci[0] is None or p is None:
        return "no interval"
    if p < ALPHA and ci[1] < 0:
        return "shrinks"
    if p < ALPHA and ci[0] > 0:
        return "grows"
    return "no detectable trend"


def budget_statistics(budgets: Sequence[dict[str, Any]], arch: str, axis: str = "ratio",
                      plain: str = "baseline", ghost: str = "s=2 d=3",
                      paper_gap: Optional[float] = None) -> dict[str, Any]:
    """Per-budget accuracies, the gap ``plain − ghost`` and its trend in log2(epochs).

    Args:
        budgets: One dict per budget in order: ``epochs``, ``fraction``, ``networks`` =
            ``{label: {"accs": [...percent], "seeds": [...]}}`` (labels in grid order).
        arch, axis: For the names in prose.
        plain, ghost: The two networks whose gap is tested (the paper: equal accuracy).
        paper_gap: The paper's ``plain − ghost`` after full training, for the sentences.

    Returns:
        ``{"budgets": [...], "gap_trend", "gap_trend_runs", "gap_trend_statement", "claims"}``.
        Each budget gets ``networks`` (label → ``name``, ``mean``, ``ci95``, ``sd``, ``n``,
        ``seeds``, ``accs``) and ``gap``, ``gap_ci95``, ``gap_p_value``, ``gap_n``,
        ``gap_verdict``. ``gap_trend``: least squares of the per-budget gaps on log2(epochs)
        (``slope_per_doubling`` with ``_ci95``/``_p_value``, df = budgets − 2);
        ``gap_trend_runs``: the same slope as the network × log2(epochs) interaction of a least
        squares fit to every run (df = runs − 4; assumes equal seed noise everywhere and a gap
        linear in log2(epochs)).
    """
    pn, gn = short_name(plain, arch, axis), short_name(ghost, arch, axis)
    out_b, claims = [], []
    xs, gaps = [], []                  # one gap per budget that has one
    runs: list[tuple[float, float, float]] = []  # (log2 epochs, 1 = plain / 0 = ghost, accuracy) per run
    for b in budgets:
        entry, c = _budget_entry(b, arch, axis, plain, ghost)
        out_b.append(entry)
        x = entry["log2_epochs"]
        if entry["gap_verdict"] != "no data":
            claims.append(f"{b['epochs']} epochs: " + comparison_sentence(pn, gn, c, ""))
            xs.append(x)
            gaps.append(entry["gap"])
        for g, label in ((1.0, plain), (0.0, ghost)):
            runs += [(x, g, float(a)) for a in b["networks"].get(label, {}).get("accs", [])]
    trend = _gap_trend(xs, gaps)
    runs_trend = _runs_trend(runs)
    statement = _trend_statement(trend, runs_trend, pn, gn, out_b, paper_gap)
    claims.append(statement)
    return {"budgets": out_b, "gap_trend": trend, "gap_trend_runs": runs_trend, "gap_trend_statement": statement,
            "claims": claims}


def _budget_entry(b: dict[str, Any], arch: str, axis: str, plain: str,
                  ghost: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One budget: each network's statistics and the gap ``plain − ghost`` (Welch), and that
    comparison as :func:`compare` returns it."""
    nets = {}
    for label, net in b["networks"].items():
        st = point_stats(net["accs"])
        nets[label] = {"name": short_name(label, arch, axis), "mean": st["acc_mean"], "ci95": st["acc_ci95"],
                       "ci95_half": st["acc_ci95_half"], "sd": st["acc_sd"], "n": st["n"],
                       "seeds": list(net.get("seeds", [])), "accs": [float(a) for a in net["accs"]]}
    c = compare(b["networks"].get(plain, {}).get("accs", []), b["networks"].get(ghost, {}).get("accs", []))
    return {"epochs": b["epochs"], "fraction": b.get("fraction"), "log2_epochs": math.log2(b["epochs"]),
            "overrides": b.get("overrides", {}), "networks": nets, "gap": c["diff"], "gap_ci95": c["diff_ci95"],
            "gap_p_value": c["diff_p_value"], "gap_n": c["n"], "gap_verdict": c["verdict"]}, c


def _gap_trend(xs: Sequence[float], gaps: Sequence[float]) -> dict[str, Any]:
    """Least squares of the per-budget gaps on log2(epochs): the slope per doubling, df = budgets − 2."""
    trend: dict[str, Any] = {"method": "least squares of the per-budget gap on log2(epochs)",
                             "n_budgets": len(xs), "df": max(len(xs) - 2, 0), "slope_per_doubling": None,
                             "slope_per_doubling_ci95": [None, None], "slope_per_doubling_p_value": None}
    if len(xs) >= 2 and len(set(xs)) >= 2:
        fit = ols_ci95([[1.0, x] for x in xs], gaps, ["intercept", "slope"])
        s = fit["coef"]["slope"]
        trend.update({"slope_per_doubling": _f(s["estimate"]), "slope_per_doubling_ci95": _ci(s["ci95"]),
                      "slope_per_doubling_p_value": _f(s["p_value"]),
                      "intercept": _f(fit["coef"]["intercept"]["estimate"])})
    trend["verdict"] = _trend_verdict(trend["slope_per_doubling"], trend["slope_per_doubling_ci95"],
                                      trend["slope_per_doubling_p_value"])
    if trend["df"] >= 1:
        from scipy import stats as _st
        trend["note"] = (f"{len(xs)} budgets leave {trend['df']} degree(s) of freedom: the interval uses "
                         f"t(0.975, {trend['df']}) = {_st.t.ppf(0.975, trend['df']):.1f}, so only a very steady, "
                         "large trend can be told from none; the per-budget gaps' own seed noise enters only "
                         "through the scatter around the line")
    else:
        trend["note"] = f"{len(xs)} budget(s) with a gap: a slope needs 2 and an interval needs 3 or more"
    return trend


def _runs_trend(runs: Sequence[tuple[float, float, float]]) -> dict[str, Any]:
    """The gap's slope per doubling as the network × log2(epochs) interaction of a fit to every run."""
    runs_trend: dict[str, Any] = {"method": "least squares on every run: acc ~ 1 + log2(epochs) + plain + "
                                            "plain·log2(epochs); the gap's slope is the interaction",
                                  "n_runs": len(runs), "df": None, "slope_per_doubling": None,
                                  "slope_per_doubling_ci95": [None, None], "slope_per_doubling_p_value": None}
    if len({x for x, _, _ in runs}) >= 2 and len({g for _, g, _ in runs}) == 2:
        fit = ols_ci95([[1.0, x, g, g * x] for x, g, _ in runs], [y for _, _, y in runs],
                       ["b0", "log2_epochs", "plain", "interaction"])
        s = fit["coef"]["interaction"]
        runs_trend.update({"df": fit["df"], "slope_per_doubling": _f(s["estimate"]),
                           "slope_per_doubling_ci95": _ci(s["ci95"]), "slope_per_doubling_p_value": _f(s["p_value"])})
    runs_trend["verdict"] = _trend_verdict(runs_trend["slope_per_doubling"], runs_trend["slope_per_doubling_ci95"],
                                           runs_trend["slope_per_doubling_p_value"])
    runs_trend["note"] = ("more degrees of freedom than the per-budget fit, bought with two assumptions: the same "
                          "seed noise at every budget and network, and a gap that is a straight line in "
                          "log2(epochs)")
    return runs_trend


def _trend_statement(trend: dict, runs_trend: dict, pn: str, gn: str, budgets: Sequence[dict],
                     paper_gap: Optional[float]) -> str:
    what = f"the gap {pn} − {gn}"
    if trend["slope_per_doubling"] is None:
        s = f"Whether {what} shrinks with the budget cannot be said: {trend['note']}"
    else:
        lo, hi = trend["slope_per_doubling_ci95"]
        per = (f"{fmt_pts(trend['slope_per_doubling'], signed=True)} points per doubling of the epochs "
               f"(95% CI {fmt_pts(lo)} to {fmt_pts(hi)}, {fmt_p(trend['slope_per_doubling_p_value'])}, "
               f"{trend['n_budgets']} budgets, df={trend['df']})")
        if trend["verdict"] == "shrinks":
            s = f"{what[0].upper() + what[1:]} shrinks as the budget grows: {per}"
        elif trend["verdict"] == "grows":
            s = f"{what[0].upper() + what[1:]} grows with the budget: {per}"
        else:
            s = f"A trend of {what} with the budget is not established: {per}"
        if trend["df"] <= 2:
            s += f" — weak evidence by construction ({trend['note']})"
    if runs_trend["slope_per_doubling"] is not None and runs_trend["df"]:
        lo, hi = runs_trend["slope_per_doubling_ci95"]
        s += (f". Fitted to the {runs_trend['n_runs']} runs (network × log2 epochs, df={runs_trend['df']}): "
              f"{fmt_pts(runs_trend['slope_per_doubling'], signed=True)} per doubling (95% CI {fmt_pts(lo)} to "
              f"{fmt_pts(hi)}, {fmt_p(runs_trend['slope_per_doubling_p_value'])}; {runs_trend['verdict']})")
    last = next((b for b in reversed(budgets) if b["gap"] is not None), None)
    if last is not None:
        s += f". At {last['epochs']} epochs the gap is {fmt_pts(last['gap'], signed=True)} points ({last['gap_verdict']})"
    if paper_gap is not None:
        s += f"; the paper reports {fmt_pts(paper_gap, 1, signed=True)} after full training"
    return s + "."


# ---------------------------------------------------------------------------------------------
# report


def _budget_fig(summary: dict, cfg: AblationConfig, out: Path) -> list[Path]:
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 5.6), dpi=130)
    budgets = summary["budgets"]
    labels = [p.label for p in cfg.points()]
    k = len(labels)
    colours = {lab: OKABE_ITO_CYCLE[i % len(OKABE_ITO_CYCLE)] for i, lab in enumerate(labels)}
    for i, lab in enumerate(labels):
        dodge = 2 ** (0.05 * (i - (k - 1) / 2))
        pts = [(b["epochs"], b["networks"][lab]) for b in budgets if b["networks"][lab]["n"]]
        if not pts:
            continue
        name = pts[0][1]["name"]
        xs = [e * dodge for e, _ in pts]
        a1.plot(xs, [n["mean"] for _, n in pts], "-", color=colours[lab], lw=1, alpha=0.6)
        ci = [(x, n) for x, (_, n) in zip(xs, pts) if n["ci95"][0] is not None]
        if ci:
            a1.errorbar([x for x, _ in ci], [n["mean"] for _, n in ci],
                        yerr=[[n["mean"] - n["ci95"][0] for _, n in ci], [n["ci95"][1] - n["mean"] for _, n in ci]],
                        fmt="o", capsize=4, color=colours[lab], label=f"{name}: mean, 95% CI")
        one = [(x, n) for x, (_, n) in zip(xs, pts) if n["ci95"][0] is None]
        if one:
            a1.plot([x for x, _ in one], [n["mean"] for _, n in one], "o", mfc="white", color=colours[lab],
                    label=f"{name}: one seed (no CI)")
        for x, (_, n) in zip(xs, pts):
            a1.scatter([x] * len(n["accs"]), n["accs"], s=9, color=colours[lab], alpha=0.45, lw=0)
    a1.set_title("(a) proxy accuracy against training budget", fontsize=10)
    a1.set_ylabel("proxy accuracy (%)")
    a1.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)

    gp = [b for b in budgets if b["gap"] is not None]
    pn = short_name("baseline", cfg.arch, cfg.axis)
    gn = short_name(REFERENCE, cfg.arch, cfg.axis)
    a2.axhline(0, color="black", lw=1)
    with_ci = [b for b in gp if b["gap_ci95"][0] is not None]
    if with_ci:
        a2.errorbar([b["epochs"] for b in with_ci], [b["gap"] for b in with_ci],
                    yerr=[[b["gap"] - b["gap_ci95"][0] for b in with_ci], [b["gap_ci95"][1] - b["gap"] for b in with_ci]],
                    fmt="o", capsize=5, color=OKABE_ITO["blue"], label="gap, Welch 95% CI")
    no_ci = [b for b in gp if b["gap_ci95"][0] is None]
    if no_ci:
        a2.plot([b["epochs"] for b in no_ci], [b["gap"] for b in no_ci], "o", mfc="white", color=OKABE_ITO["blue"],
                label="gap, one seed (no CI)")
    tr = summary["gap_trend"]
    if tr["slope_per_doubling"] is not None and gp:
        es = [b["epochs"] for b in gp]
        xs = [min(es), max(es)]
        lo, hi = tr["slope_per_doubling_ci95"]
        ci = f", 95% CI {fmt_pts(lo)} to {fmt_pts(hi)}" if lo is not None else ""
        a2.plot(xs, [tr["intercept"] + tr["slope_per_doubling"] * math.log2(x) for x in xs], "--",
                color=OKABE_ITO["orange"], lw=1.2,
                label=f"fit: {fmt_pts(tr['slope_per_doubling'], signed=True)}/doubling{ci} (df={tr['df']})")
    pg = summary.get("paper_gap")
    if pg is not None:
        a2.axhline(pg, color=OKABE_ITO["vermillion"], ls=":", lw=1.2, label=f"paper, full training: {fmt_pts(pg, 1, signed=True)}")
    a2.set_title(f"(b) gap {pn} − {gn} (points)", fontsize=10)
    a2.set_ylabel(f"{pn} − {gn} accuracy (points)")
    a2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    epochs = [b["epochs"] for b in budgets]
    for b in budgets:
        if not any(n["n"] for n in b["networks"].values()):
            for ax in (a1, a2):
                ax.annotate("no runs yet", (b["epochs"], 0.5), xycoords=("data", "axes fraction"), ha="center",
                            fontsize=8, color="#777777", rotation=90)
    for ax in (a1, a2):
        ax.set_xscale("log", base=2)
        ax.set_xticks(epochs, [str(e) for e in epochs])
        ax.minorticks_off()
        ax.set_xlim(min(epochs) / 2 ** 0.4, max(epochs) * 2 ** 0.4)
        ax.set_xlabel("training epochs (log2 scale)")
        ax.grid(alpha=0.3)
    foot = (f"Proxy: {cfg.fidelity_name} recipe on {short_dataset(cfg.data['dataset'])}, width {cfg.fidelity.width}, "
            f"fraction {cfg.fidelity.fraction}; each budget trains from scratch.")
    return save_with_footer(fig, cfg.title, foot, out / "figure", summary["missing_runs"])


def _budget_markdown(summary: dict, cfg: AblationConfig, command: Optional[str]) -> str:
    labels = [p.label for p in cfg.points()]
    first = summary["budgets"][0]["networks"]
    names = [first[lab]["name"] for lab in labels]
    pn = short_name("baseline", cfg.arch, cfg.axis)
    gn = short_name(REFERENCE, cfg.arch, cfg.axis)
    lines = [f"# {cfg.title}", "",
             f"The `{cfg.fidelity_name}` recipe on `{cfg.data['dataset']}` at "
             f"{', '.join(str(b['epochs']) for b in summary['budgets'])} epochs, each budget trained from scratch "
             f"(its own schedule); accuracy (%) on the {summary['eval_split'] or 'unknown split'}; mean ± half-width of the "
             f"95% t-interval over the n seeds of {list(cfg.seeds)} that exist. Gap: {pn} − {gn} in points with "
             "Welch's 95% interval and p-value.", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += ["| epochs | fraction | " + " | ".join(f"{n} (%)" for n in names) + f" | gap {pn} − {gn} [95% CI], p | verdict |",
              "|" + "---|" * (4 + len(names))]
    for b in summary["budgets"]:
        cells = [fmt_acc(b["networks"][lab]["mean"], b["networks"][lab]["ci95_half"], b["networks"][lab]["n"])
                 for lab in labels]
        lines.append(f"| {b['epochs']} | {b['fraction']} | " + " | ".join(cells) + " | "
                     f"{fmt_diff(b['gap'], b['gap_ci95'], b['gap_p_value'])} | {b['gap_verdict']} |")
    macs = summary.get("network_macs", {})
    if macs:
        lines += ["", "MACs of the paper-size networks at 32×32: "
                  + ", ".join(f"{first[lab]['name']} {macs[lab] / 1e6:.1f}M" for lab in labels if lab in macs) + "."]
    lines += ["", "## Does the gap shrink as the budget grows?", "", summary["gap_trend_statement"], "",
              "## Tested statements", ""] + [f"- {c}." for c in summary["claims"][:-1]]
    lines += ["", "## Method", "", f"- Intervals: {CI_METHOD}.", f"- Verdicts: {VERDICT_RULE}",
              f"- Trend (primary): {summary['gap_trend']['method']}; {summary['gap_trend']['note']}.",
              f"- Trend (all runs): {summary['gap_trend_runs']['method']}; {summary['gap_trend_runs']['note']}."]
    lines += missing_runs_markdown(summary["missing_runs"], command)
    return "\n".join(lines) + "\n"


def write_budget_report(cfg: AblationConfig, command: Optional[str] = None,
                        num_classes: Optional[int] = None) -> tuple[list[Path], dict[str, Any]]:
    """The budget study of a config with ``budgets``: every network's accuracy at every budget,
    the gap plain − s=2 with its interval and p-value, and whether it shrinks with the budget.

    Works on the runs that exist; the summary and table name the missing ones and ``command``.

    Args:
        cfg: The config (its ``budgets`` are expanded with :func:`~ghostnas.search.ablate.budget_configs`).
        command: The command that trains the study (recorded, and named for missing runs).
        num_classes: Classes of the data (default: counted from the config's dataset).

    Returns:
        ``(paths, summary)``: ``summary.json``, ``table.md``, ``figure.png``, ``figure.svg``, and
        the summary written.

    Raises:
        ValueError: no run of any budget is finished yet.
    """
    from ghostnas.space import analytic_counts

    k = dataset_num_classes(cfg) if num_classes is None else num_classes
    budgets, missing, splits, n_runs = [], [], set(), 0
    for c, over in zip(budget_configs(cfg), [{}] + [dict(b) for b in cfg.budgets]):
        runs, miss = cached_runs(c, k)
        n_runs += len(runs)
        missing += [{"epochs": c.fidelity.epochs, "fraction": c.fidelity.fraction, **m} for m in miss]
        splits |= {r["eval_split"] for r in runs if r["eval_split"]}
        nets = {}
        for p in c.points():
            mine = sorted((r for r in runs if r["point"] == p.label), key=lambda r: r["seed"])
            nets[p.label] = {"accs": [100.0 * r["acc"] for r in mine], "seeds": [r["seed"] for r in mine]}
        budgets.append({"epochs": c.fidelity.epochs, "fraction": c.fidelity.fraction, "overrides": over,
                        "study": c.study_name, "networks": nets})
    if not n_runs:
        raise ValueError(f"budget study {cfg.name}: no finished runs in the run cache {cfg.runs_dir} yet"
                         + (f"; train them with: {command}" if command else ""))
    paper = {(r["ratio"], r["dw_size"]): r["acc"] for r in paper_rows(cfg.paper_table, cfg.arch)}
    paper_gap = (paper[(None, None)] - paper[(2, 3)]) if (None, None) in paper and (2, 3) in paper else None
    stats = budget_statistics(budgets, cfg.arch, cfg.axis, "baseline", REFERENCE, paper_gap)
    for b, raw in zip(stats["budgets"], budgets):
        b["study"] = raw["study"]
    res = cfg.fidelity.resolution
    macs = {}
    for p in cfg.points():
        full = p.model_config(cfg.arch, _NUM_CLASSES, 1.0)
        macs[p.label] = analytic_counts(full, res or default_resolution(full)).macs
    summary = {
        "kind": "budget", "ablation": cfg.name, "title": cfg.title, "arch": cfg.arch, "axis": cfg.axis,
        "fidelity": cfg.fidelity_name, "fidelity_knobs": cfg.fidelity.to_dict(), "dataset": cfg.data["dataset"],
        "eval_split": "; ".join(sorted(splits)), "seeds": list(cfg.seeds), "paper_table": cfg.paper_table,
        "command": command, "units": UNITS, "ci_method": CI_METHOD, "verdict_rule": VERDICT_RULE,
        "plain_point": "baseline", "reference_point": REFERENCE, "paper_gap": paper_gap, "network_macs": macs,
        **stats,
        "complete": not missing, "missing_runs": missing, "complete_command": command if missing else None,
    }
    out = cfg.out_dir
    ensure_writable_dir(out)
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "table.md", _budget_markdown(summary, cfg, command))
    paths = [out / "summary.json", out / "table.md", *_budget_fig(summary, cfg, out)]
    return paths, summary
