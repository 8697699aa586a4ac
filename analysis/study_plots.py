"""Study figures other than fronts: the three-objective view, the hypervolume history (one study or
several against one reference), the best-accuracy history and parameter importances; PNG and SVG.

Fronts are in :mod:`ghostnas.analysis.pareto_plots`; :func:`ghostnas.analysis.study_analysis.analyze_study`
makes all of them for ``ghostnas pareto`` / ``ghostnas report``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .fronts import AXES, trained_mask
from .hypervolume import reference_text
from .pareto_plots import _STUDY_COLOURS, _STUDY_MARKERS, _finish_with_note, _save, _wrap
from .style import OKABE_ITO, pyplot

__all__ = ["plot_three_objectives", "plot_hypervolume", "plot_compare_hypervolume", "plot_best_history",
           "plot_importances"]


def plot_three_objectives(frame: Any, objectives: Sequence[str], pareto: set[int], path: str | Path,
                          name: str) -> list[Path]:
    """Accuracy against the first cost objective, coloured by the second; all-objective front ringed.

    Args:
        frame: :func:`ghostnas.search.readers.trials_frame` output.
        objectives: The study's objectives (accuracy and at least two costs; a fourth is not shown).
        pareto: Numbers of the Pareto-optimal trials over all objectives.
        path: Output stem (``.png`` / ``.svg`` appended).
        name: Study name, for the title.

    Returns:
        The written files.
    """
    plt = pyplot()
    costs = [o for o in objectives if o != "accuracy"]
    xo, co = costs[0], costs[1]
    xl, xcol, xs = AXES.get(xo, (xo, xo, 1.0))
    cl, ccol, cs = AXES.get(co, (co, co, 1.0))
    df = frame[trained_mask(frame) & frame[xcol].notna() & frame[ccol].notna() & frame["accuracy"].notna()]
    feas = df[df["feasible"].astype(bool)]
    infeas = df[~df["feasible"].astype(bool)]
    fig, ax = plt.subplots(figsize=(6.8, 4.6), dpi=130)
    sc = ax.scatter(feas[xcol] * xs, feas["accuracy"], c=feas[ccol] * cs, cmap="cividis", s=36,
                    edgecolors="none", label="trials (feasible)")
    if len(infeas):
        ax.scatter(infeas[xcol] * xs, infeas["accuracy"], marker="x", color=OKABE_ITO["vermillion"],
                   label="trained, infeasible")
    hl = feas[feas["number"].isin(list(pareto))]
    if len(hl):
        ax.scatter(hl[xcol] * xs, hl["accuracy"], s=110, facecolors="none", edgecolors=OKABE_ITO["vermillion"],
                   lw=1.2, label=f"Pareto-optimal ({len(objectives)} objectives)")
        for _, r in hl.iterrows():
            ax.annotate(f"#{int(r['number'])}", (r[xcol] * xs, r["accuracy"]), textcoords="offset points",
                        xytext=(5, -10), fontsize=7)
    fig.colorbar(sc, ax=ax).set_label(cl)
    ax.set_xlabel(xl)
    ax.set_ylabel("validation accuracy")
    extra = f"; 4th objective {costs[2]} not shown" if len(costs) > 2 else ""
    ax.set_title(f"{name}: accuracy vs {xo}, colour = {co}{extra}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7, framealpha=0.85)
    fig.tight_layout()
    return _save(fig, path)


def plot_hypervolume(numbers: Sequence[int], hv: Sequence[float], ref: Any, objectives: Sequence[str],
                     name: str, path: str | Path, outside: Sequence[int] = ()) -> list[Path]:
    """The hypervolume history (:func:`~ghostnas.analysis.hypervolume.hypervolume_history`) as steps.

    Args:
        numbers, hv, ref: :func:`~ghostnas.analysis.hypervolume.hypervolume_history` output (``ref``
            a :class:`~ghostnas.analysis.hypervolume.Reference` or a dict).
        objectives: The study's objectives, for the title.
        name: Study name, for the title.
        path: Output stem (``.png`` / ``.svg`` appended).
        outside: Feasible trained trials beyond the reference (they add no volume; noted).

    Returns:
        The written files.
    """
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6.8, 4.2), dpi=130)
    if numbers:
        ax.step(numbers, hv, where="post", color=OKABE_ITO["blue"], lw=1.6)
        ax.scatter(numbers, hv, s=14, color=OKABE_ITO["blue"], zorder=3)
        ax.set_ylim(0, max(max(hv) * 1.1, 1e-3))
    else:
        ax.text(0.5, 0.5, "no feasible trained trial yet", ha="center", va="center", transform=ax.transAxes)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial number")
    ax.set_ylabel("normalised hypervolume")
    ax.set_title(f"{name}: hypervolume history ({', '.join(objectives)})", fontsize=10)
    ax.grid(alpha=0.3)
    note = ("Reference point (fixed, not from the trials): " + reference_text(ref)
            + ". Accuracy as (1 - acc) / (1 - ref), costs divided by their reference.")
    if outside:
        note += (f"\n{len(outside)} feasible trial(s) beyond the reference add no volume: "
                 + ", ".join(f"#{n}" for n in outside[:20]) + (" ..." if len(outside) > 20 else ""))
    _finish_with_note(fig, note)
    return _save(fig, path)


def plot_best_history(frame: Any, name: str, path: str | Path) -> list[Path]:
    """Best accuracy so far over trial numbers (single-objective studies).

    Args:
        frame: :func:`ghostnas.search.readers.trials_frame` output.
        name: Study name, for the title.
        path: Output stem (``.png`` / ``.svg`` appended).

    Returns:
        The written files.
    """
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    df = frame[trained_mask(frame) & frame["feasible"].astype(bool) & frame["accuracy"].notna()].sort_values("number")
    fig, ax = plt.subplots(figsize=(6.8, 4.2), dpi=130)
    ax.scatter(df["number"], df["accuracy"], color=OKABE_ITO["grey"], label="trials")
    ax.step(df["number"], df["accuracy"].cummax(), where="post", color=OKABE_ITO["blue"], label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial number")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"{name}: best accuracy history", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _importance_panel(ax: Any, objective: str, result: dict, colour: str) -> None:
    text = result.get("warning") or result.get("note")
    if "importances" not in result or "warning" in result:
        ax.text(0.5, 0.5, "\n".join(_wrap(text, 38)), ha="center", va="center", fontsize=8,
                transform=ax.transAxes, color="#7a3e00" if "warning" in result else "black")
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_title(f"target: {objective}", fontsize=9)
        return
    sd = result.get("sd") or {}
    items = sorted(result["importances"].items(), key=lambda kv: kv[1])
    errs = [sd.get(k, 0.0) for k, _ in items]
    ax.barh([kv[0] for kv in items], [kv[1] for kv in items], xerr=errs, color=colour,
            error_kw=dict(ecolor="#333333", capsize=2, lw=0.8))
    for yy, ((_, v), e) in enumerate(zip(items, errs)):
        ax.text(v + e, yy, f" {v:.2f}±{e:.2f}", va="center", fontsize=6.5)
    ax.set_xlim(0, max((v + e) for (_, v), e in zip(items, errs)) * 1.45 or 1)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel(f"importance (fANOVA; mean ± sd, {result.get('repeats', 1)} bootstrap resamples)", fontsize=7)
    ax.set_title(f"target: {objective} ({result.get('n_trials', '?')} trials)", fontsize=9)


def plot_importances(imps: dict[str, dict], name: str, path: str | Path) -> list[Path]:
    """One panel per objective of :func:`~ghostnas.analysis.importances.param_importances`.

    Args:
        imps: :func:`~ghostnas.analysis.importances.param_importances` output; an objective with a
            note or a warning (too few trials for a chart) shows that text instead of bars.
        name: Study name, for the title.
        path: Output stem (``.png`` / ``.svg`` appended).

    Returns:
        The written files.
    """
    plt = pyplot()
    n = len(imps)
    charted = [r for r in imps.values() if "importances" in r and "warning" not in r]
    nparams = max((len(r["importances"]) for r in charted), default=1)
    fig, axes = plt.subplots(1, n, figsize=(4.4 * n + 0.8, 1.2 + 0.32 * max(nparams, 5)), dpi=130, squeeze=False)
    colours = [OKABE_ITO[c] for c in ("blue", "orange", "green", "purple")]
    for k, (ax, (o, r)) in enumerate(zip(axes[0], imps.items())):
        _importance_panel(ax, o, r, colours[k % len(colours)])
    fig.suptitle(f"{name}: parameter importances", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_compare_hypervolume(histories: Sequence[tuple[str, Sequence[int], Sequence[float]]], reference: Any,
                             objectives: Sequence[str], path: str | Path, title: str = "") -> list[Path]:
    """Hypervolume histories of several studies against one reference point, as steps.

    Args:
        histories: ``(label, trial numbers, hypervolumes)`` per study.
        reference: The shared :class:`~ghostnas.analysis.hypervolume.Reference`.
        objectives: The objectives (title).
        path: Output stem.
        title: Figure title.

    Returns:
        The written files.
    """
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6.8, 4.2), dpi=130)
    top = 1e-3
    for k, (label, numbers, hv) in enumerate(histories):
        colour = _STUDY_COLOURS[k % len(_STUDY_COLOURS)]
        if numbers:
            ax.step(numbers, hv, where="post", color=colour, lw=1.6,
                    label=f"{label}: {hv[-1]:.4f} after {len(numbers)} trials")
            ax.scatter(numbers, hv, s=12, color=colour, marker=_STUDY_MARKERS[k % len(_STUDY_MARKERS)], zorder=3)
            top = max(top, max(hv))
        else:
            ax.plot([], [], color=colour, label=f"{label}: no feasible trained trial")
    ax.set_ylim(0, top * 1.12)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial number")
    ax.set_ylabel("normalised hypervolume")
    ax.set_title(title or f"hypervolume histories ({', '.join(objectives)})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7, framealpha=0.85)
    _finish_with_note(fig, "Same fixed reference point for every study: " + reference_text(reference))
    return _save(fig, path)
