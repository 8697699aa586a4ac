"""Figures of a ghostnas study: accuracy-versus-cost fronts, the three-objective view, the
hypervolume (or best-accuracy) history and parameter importances; PNG and SVG each.

:func:`plot_front` is also used by ``ghostnas search``; :func:`ghostnas.analysis.study_analysis.analyze_study`
makes all of them for ``ghostnas pareto`` / ``ghostnas report``.
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Optional, Sequence

from .fronts import AXES, front_2d, trained_mask
from .hypervolume import reference_text
from .style import OKABE_ITO, pyplot, save_figure

__all__ = ["plot_front", "plot_three_objectives", "plot_hypervolume", "plot_best_history", "plot_importances"]

# Paper models are numbered stars; the labels go round them so close neighbours stay readable.
_STAR_OFFSETS = [(4, 5), (4, -11), (-11, 5), (-11, -11)]


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width) or [""]


def _save(fig: Any, path: str | Path) -> list[Path]:
    return save_figure(fig, path, dpi=130, bbox_inches=None)


# ---------------------------------------------------------------------------------------------
# plot_front and its parts


def _draw_trials(ax: Any, df: Any, x: str, y: str, x_scale: float) -> None:
    """Trained trials (feasible grey, infeasible crosses) and the 2-D front of the feasible ones."""
    feas = df[df["feasible"].astype(bool)]
    infeas = df[~df["feasible"].astype(bool)]
    if len(infeas):
        ax.scatter(infeas[x] * x_scale, infeas[y], marker="x", color=OKABE_ITO["vermillion"],
                   label="trained, infeasible (constraint)")
    ax.scatter(feas[x] * x_scale, feas[y], color=OKABE_ITO["grey"], alpha=0.8, label="trials (feasible)")
    pts = list(zip(feas[x] * x_scale, feas[y]))
    idx = front_2d(pts)
    if idx:
        fx = [pts[i][0] for i in idx]
        fy = [pts[i][1] for i in idx]
        ax.step(fx, fy, where="post", color=OKABE_ITO["blue"], lw=1.5)
        ax.scatter(fx, fy, color=OKABE_ITO["blue"], zorder=3, label="Pareto front")
        for i in idx:
            ax.annotate(f"#{int(feas.iloc[i]['number'])}", pts[i], textcoords="offset points", xytext=(4, -10), fontsize=7)


def _draw_highlight(ax: Any, df: Any, x: str, y: str, x_scale: float, highlight: Optional[Sequence[int]]) -> None:
    if not highlight:
        return
    hl = df[df["number"].isin(list(highlight))]
    if len(hl):
        ax.scatter(hl[x] * x_scale, hl[y], s=110, facecolors="none", edgecolors=OKABE_ITO["black"], lw=1.0,
                   zorder=4, label="Pareto-optimal (all objectives)")


def _draw_references(ax: Any, references: Optional[Sequence[dict]], x: str, y: str, x_scale: float) -> str:
    """Numbered stars for the paper's models; returns their key (empty without references)."""
    refs = sorted(references or (), key=lambda r: r[x])
    for k, r in enumerate(refs):
        ax.scatter([r[x] * x_scale], [r[y]], marker="*", s=130, color=OKABE_ITO["orange"], edgecolors="black",
                   linewidths=0.4, zorder=5, label="paper's hand-made models (numbered)" if k == 0 else None)
        ax.annotate(str(k + 1), (r[x] * x_scale, r[y]), textcoords="offset points",
                    xytext=_STAR_OFFSETS[k % len(_STAR_OFFSETS)], fontsize=7, fontweight="bold")
    if not refs:
        return ""
    return "Paper models: " + "; ".join(f"{k + 1} {r['label']} ({r[x] * x_scale:.4g}, {r[y]:.1%})"
                                        for k, r in enumerate(refs))


def _draw_rejected(ax: Any, frame: Any, x: str, x_scale: float, show: bool) -> Any:
    """Ticks on the x axis for trials rejected before training; returns those rows."""
    from matplotlib.transforms import blended_transform_factory

    rej = frame[(frame["state"] == "COMPLETE") & frame["rejected"].notna() & frame[x].notna()] \
        if show and "rejected" in frame and x in frame else frame.iloc[:0]
    if len(rej):
        tr = blended_transform_factory(ax.transData, ax.transAxes)
        ax.scatter(rej[x] * x_scale, [0.02] * len(rej), marker="|", s=160, color=OKABE_ITO["vermillion"],
                   transform=tr, clip_on=False, label=f"rejected by budget, not trained ({len(rej)})")
    return rej


def _keep_in_view(ax: Any, rej: Any, x: str, x_scale: float, budget: Optional[float], x_log: bool) -> None:
    """Widen the x range to show rejected trials and the budget line (blended markers do not autoscale)."""
    extra = [float(v) * x_scale for v in (rej[x] if len(rej) else [])] + ([budget * x_scale] if budget else [])
    lo, hi = ax.get_xlim()
    if not (extra and (max(extra) >= hi or min(extra) <= lo)):
        return
    top, bottom = max(max(extra), hi), min(min(extra), lo)
    if x_log:
        ax.set_xlim(bottom / 1.15, top * 1.15)
    else:
        pad = 0.04 * (top - bottom)
        ax.set_xlim(bottom - pad, top + pad)


def _finish_with_note(fig: Any, note: Optional[str]) -> None:
    """Put ``note`` under the axes (wrapped, the figure made taller) and lay the figure out."""
    if not note:
        fig.tight_layout(rect=(0, 0, 1, 1))
        return
    lines = [w for part in note.split("\n") for w in _wrap(part, 125)]
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=6.5, color="#333333", ha="left", va="bottom")
    fig.set_figheight(fig.get_figheight() + 0.11 * len(lines))
    fig.tight_layout(rect=(0, 0.012 + 0.11 * len(lines) / fig.get_figheight(), 1, 1))


def plot_front(frame: Any, path: str | Path, x: str = "macs", y: str = "accuracy", title: Optional[str] = None,
               references: Optional[Sequence[dict]] = None, x_scale: float = 1e-6, x_label: str = "MACs (M)",
               y_label: str = "validation accuracy", x_log: bool = False, budget: Optional[float] = None,
               note: Optional[str] = None, highlight: Optional[Sequence[int]] = None,
               show_rejected: bool = True) -> list[Path]:
    """Scatter of all trained trials with the (min x, max y) Pareto front; PNG and SVG.

    Args:
        frame: :func:`ghostnas.search.readers.trials_frame` output.
        path: Output path; the suffix is replaced by ``.png`` and ``.svg``.
        x, y: Columns of ``frame`` for the axes (x minimised, y maximised).
        title: Figure title (default: ``y vs x`` and the number of trained trials).
        references: Optional extra points ``{"label", x, y}`` (e.g. the paper's models), in the
            same units as the frame (``x`` before ``x_scale``).
        x_scale, x_label, y_label: Axis scale factor and labels.
        x_log: Logarithmic x axis (used when paper models lie far from the searched range).
        budget: A constraint on ``x`` (same units as the frame), drawn as a dashed line.
        note: A line of text under the axes (e.g. why no reference is drawn).
        highlight: Trial numbers to ring (e.g. Pareto-optimal in all objectives).
        show_rejected: Mark trials rejected before training (never trained) on the x axis.

    Returns:
        The written files.
    """
    plt = pyplot()
    has = frame[x].notna() & frame[y].notna() if x in frame and y in frame else frame["state"] != frame["state"]
    df = frame[trained_mask(frame) & has]
    fig, ax = plt.subplots(figsize=(6.8, 4.6), dpi=130)
    _draw_trials(ax, df, x, y, x_scale)
    _draw_highlight(ax, df, x, y, x_scale, highlight)
    key = _draw_references(ax, references, x, y, x_scale)
    if key:
        note = (note + "\n" if note else "") + key
    if budget is not None:
        ax.axvline(budget * x_scale, color=OKABE_ITO["vermillion"], ls="--", lw=1.0, label="budget (constraint)")
    rej = _draw_rejected(ax, frame, x, x_scale, show_rejected)
    if x_log:
        ax.set_xscale("log")
    _keep_in_view(ax, rej, x, x_scale, budget, x_log)
    ax.set_xlabel(x_label + (" (log scale)" if x_log else ""))
    ax.set_ylabel(y_label)
    ax.set_title(title or f"{y} vs {x}: {len(df)} trained trials", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7, framealpha=0.85)
    _finish_with_note(fig, note)
    return _save(fig, Path(path).with_suffix(""))


# ---------------------------------------------------------------------------------------------
# other study figures


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


def plot_hypervolume(numbers: Sequence[int], hv: Sequence[float], ref: dict, objectives: Sequence[str],
                     name: str, path: str | Path) -> list[Path]:
    """The hypervolume history (:func:`~ghostnas.analysis.hypervolume.hypervolume_history`) as steps.

    Args:
        numbers, hv, ref: :func:`~ghostnas.analysis.hypervolume.hypervolume_history` output.
        objectives: The study's objectives, for the title.
        name: Study name, for the title.
        path: Output stem (``.png`` / ``.svg`` appended).

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
    fig.text(0.01, 0.01, "reference point: " + reference_text(ref) + " (accuracy 0; 1.1 x max feasible cost); "
             "costs divided by their reference", fontsize=7, color="#333333")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
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
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _importance_panel(ax: Any, objective: str, result: dict, colour: str) -> None:
    if "importances" not in result:
        ax.text(0.5, 0.5, "\n".join(_wrap(result["note"], 38)), ha="center", va="center", fontsize=8,
                transform=ax.transAxes)
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_title(f"target: {objective}", fontsize=9)
        return
    items = sorted(result["importances"].items(), key=lambda kv: kv[1])
    ax.barh([kv[0] for kv in items], [kv[1] for kv in items], color=colour)
    for y, (_, v) in enumerate(items):
        ax.text(v, y, f" {v:.2f}", va="center", fontsize=7)
    ax.set_xlim(0, max(v for _, v in items) * 1.25 or 1)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("importance (fANOVA, sums to 1)")
    ax.set_title(f"target: {objective}", fontsize=9)


def plot_importances(imps: dict[str, dict], name: str, path: str | Path) -> list[Path]:
    """One bar panel per objective of :func:`~ghostnas.analysis.importances.param_importances`.

    Args:
        imps: :func:`~ghostnas.analysis.importances.param_importances` output; an objective with
            a note instead of importances shows the note.
        name: Study name, for the title.
        path: Output stem (``.png`` / ``.svg`` appended).

    Returns:
        The written files.
    """
    plt = pyplot()
    n = len(imps)
    nparams = max((len(r.get("importances", {})) for r in imps.values()), default=1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 0.8, 1.2 + 0.32 * max(nparams, 5)), dpi=130, squeeze=False)
    colours = [OKABE_ITO[c] for c in ("blue", "orange", "green", "purple")]
    for k, (ax, (o, r)) in enumerate(zip(axes[0], imps.items())):
        _importance_panel(ax, o, r, colours[k % len(colours)])
    fig.suptitle(f"{name}: parameter importances", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
