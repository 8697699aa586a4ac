"""Front figures of ghostnas studies: accuracy against a cost, one study or several overlaid; PNG and
SVG each (the other study figures: :mod:`ghostnas.analysis.study_plots`).

Fronts: by default the study's own trials fill the axes (``xlim`` / ``ylim`` override); the
paper's models (``references``) inside the axes are numbered stars, those outside are arrows at
the edge (and listed in :class:`FrontInfo`, for the caption). Trial labels (``#12``) are placed
where they overlap no other label, front point, star or the legend, else left out (listed);
``labels=False`` hides them. The drawn front is the ``Line2D`` with gid ``pareto-front``.

:func:`plot_front` is also used by ``ghostnas search``; :func:`ghostnas.analysis.study_analysis.analyze_study`
makes all of them for ``ghostnas pareto`` / ``ghostnas report``.
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from .fronts import front_2d, trained_mask
from .style import OKABE_ITO, pyplot, save_figure

__all__ = ["FrontInfo", "front_figure", "plot_front", "compare_fronts_figure", "plot_compare_fronts",
           "place_labels"]

# Label positions tried round a point, in points: (dx, dy, ha, va), nearest first.
_LABEL_SPOTS = [(5, 4, "left", "bottom"), (5, -4, "left", "top"), (-5, 4, "right", "bottom"),
                (-5, -4, "right", "top"), (0, 8, "center", "bottom"), (0, -8, "center", "top"),
                (9, 0, "left", "center"), (-9, 0, "right", "center"), (12, 12, "left", "bottom"),
                (12, -12, "left", "top"), (-12, 12, "right", "bottom"), (-12, -12, "right", "top"),
                (0, 16, "center", "bottom"), (0, -16, "center", "top")]
_STUDY_MARKERS = "osD^vP*X"
_STUDY_COLOURS = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "orange", "purple", "sky", "black")]


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width) or [""]


def _save(fig: Any, path: str | Path) -> list[Path]:
    return save_figure(fig, path, dpi=130, bbox_inches=None)


@dataclass
class FrontInfo:
    """What a front figure shows beyond its pixels (for captions and tests).

    Attributes:
        front: Trial numbers on the drawn 2-D front (feasible trained trials), by x.
        paper_key: ``"Paper models: 1 VGG-16 (313, 93.6%); ..."`` (empty without paper points).
        outside: Paper models outside the axes (drawn as arrows at the edge).
        hidden_labels: Trial labels left out because every spot overlapped something.
        clipped: Trained trials of the study outside the axis limits (explicit limits only).
        xlim, ylim: The axis limits used (display units).
    """

    front: list[int] = field(default_factory=list)
    paper_key: str = ""
    outside: list[str] = field(default_factory=list)
    hidden_labels: list[str] = field(default_factory=list)
    clipped: int = 0
    xlim: tuple[float, float] = (0.0, 1.0)
    ylim: tuple[float, float] = (0.0, 1.0)

    def caption(self) -> str:
        """The sentences a caption adds: paper models outside the axes, hidden labels, clipped trials."""
        parts = []
        if self.outside:
            parts.append("Paper models outside the axes (arrows at the edge): " + "; ".join(self.outside) + ".")
        if self.hidden_labels:
            parts.append(f"Labels of {len(self.hidden_labels)} front trial(s) left out to avoid overlap: "
                         + ", ".join(self.hidden_labels) + ".")
        if self.clipped:
            parts.append(f"{self.clipped} trained trial(s) lie outside the axis limits.")
        return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# labels


def place_labels(fig: Any, ax: Any, items: Sequence[tuple[str, tuple[float, float], dict]],
                 avoid: Sequence[tuple[float, float]] = (), force: int = 0) -> list[str]:
    """Annotate points so that no two labels overlap, nor a label an avoided point or the legend.

    Call after the figure's layout is final. Each label tries :data:`_LABEL_SPOTS` in order and
    takes the first spot inside the axes that overlaps nothing placed so far; a label without a
    spot is left out (the first ``force`` labels take their first spot anyway).

    Args:
        fig: The figure.
        ax: The axes the points are in (data coordinates).
        items: ``(text, (x, y), annotate kwargs)`` per label, in priority order.
        avoid: Data points (markers) no label may cover.
        force: How many leading items are always drawn.

    Returns:
        The texts left out.
    """
    from matplotlib.transforms import Bbox

    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    frame = ax.get_window_extent(r)
    taken = [Bbox.from_bounds(px - 3.5, py - 3.5, 7, 7) for px, py in
             (ax.transData.transform(p) for p in avoid)]
    leg = ax.get_legend()
    if leg is not None:
        taken.append(leg.get_window_extent(r))
    left_out = []
    for k, (text, xy, kw) in enumerate(items):
        px, py = ax.transData.transform(xy)
        own = Bbox.from_bounds(px - 3.5, py - 3.5, 7, 7)
        placed = None
        for dx, dy, ha, va in _LABEL_SPOTS:
            ann = ax.annotate(text, xy, xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                              annotation_clip=False, **kw)
            bb = ann.get_window_extent(r).expanded(1.04, 1.08)
            inside = frame.x0 <= bb.x0 and bb.x1 <= frame.x1 and frame.y0 <= bb.y0 and bb.y1 <= frame.y1
            if inside and not any(bb.overlaps(t) for t in taken if t is not own and not _same(t, own)):
                placed = bb
                break
            ann.remove()
        if placed is None and k < force:
            dx, dy, ha, va = _LABEL_SPOTS[0]
            ann = ax.annotate(text, xy, xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                              annotation_clip=False, **kw)
            placed = ann.get_window_extent(r)
        if placed is None:
            left_out.append(text)
        else:
            taken.append(placed)
    return left_out


def _same(a: Any, b: Any) -> bool:
    return abs(a.x0 - b.x0) < 1e-6 and abs(a.y0 - b.y0) < 1e-6 and abs(a.x1 - b.x1) < 1e-6


# ---------------------------------------------------------------------------------------------
# plot_front and its parts


def _draw_trials(ax: Any, df: Any, x: str, y: str, x_scale: float) -> tuple[list[int], list[tuple[float, float]]]:
    """Trained trials (feasible grey, infeasible crosses) and the 2-D front of the feasible ones.

    Returns:
        (front trial numbers by x, their points in display units).
    """
    feas = df[df["feasible"].astype(bool)]
    infeas = df[~df["feasible"].astype(bool)]
    if len(infeas):
        ax.scatter(infeas[x] * x_scale, infeas[y], marker="x", color=OKABE_ITO["vermillion"],
                   label="trained, infeasible (constraint)")
    ax.scatter(feas[x] * x_scale, feas[y], color=OKABE_ITO["grey"], alpha=0.8, label="trials (feasible)")
    pts = [(float(a), float(b)) for a, b in zip(feas[x] * x_scale, feas[y])]
    idx = front_2d(pts)
    if not idx:
        return [], []
    fx = [pts[i][0] for i in idx]
    fy = [pts[i][1] for i in idx]
    ax.step(fx, fy, where="post", color=OKABE_ITO["blue"], lw=1.5, gid="pareto-front",
            label="Pareto front (2-D, feasible)")
    ax.scatter(fx, fy, color=OKABE_ITO["blue"], zorder=3)
    return [int(feas.iloc[i]["number"]) for i in idx], [pts[i] for i in idx]


def _draw_highlight(ax: Any, df: Any, x: str, y: str, x_scale: float, highlight: Optional[Sequence[int]]) -> None:
    if not highlight:
        return
    hl = df[df["number"].isin(list(highlight))]
    if len(hl):
        ax.scatter(hl[x] * x_scale, hl[y], s=110, facecolors="none", edgecolors=OKABE_ITO["black"], lw=1.0,
                   zorder=4, label="Pareto-optimal (all objectives)")


def _rejected_rows(frame: Any, x: str, show: bool) -> Any:
    if show and "rejected" in frame and x in frame:
        return frame[(frame["state"] == "COMPLETE") & frame["rejected"].notna() & frame[x].notna()]
    return frame.iloc[:0]


def _draw_rejected(ax: Any, rej: Any, x: str, x_scale: float) -> None:
    """Ticks on the x axis for trials rejected before training."""
    from matplotlib.transforms import blended_transform_factory

    if len(rej):
        tr = blended_transform_factory(ax.transData, ax.transAxes)
        ax.scatter(rej[x] * x_scale, [0.02] * len(rej), marker="|", s=160, color=OKABE_ITO["vermillion"],
                   transform=tr, clip_on=False, label=f"rejected by budget, not trained ({len(rej)})")


def _span(values: Sequence[float], log: bool) -> tuple[float, float]:
    """Limits that hold ``values`` with a 5 % margin (a factor on a log axis)."""
    vals = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if not vals:
        return (0.1, 10.0) if log else (0.0, 1.0)
    lo, hi = min(vals), max(vals)
    if log:
        return (lo / 1.25, hi * 1.25) if hi > lo else (lo / 2, hi * 2)
    pad = 0.05 * (hi - lo) if hi > lo else (0.05 * abs(hi) or 0.5)
    return lo - pad, hi + pad


def _draw_references(ax: Any, refs: Sequence[dict], x: str, y: str, x_scale: float,
                     xlim: tuple[float, float], ylim: tuple[float, float], x_log: bool
                     ) -> tuple[list[tuple[str, tuple[float, float], dict]], list[str]]:
    """Stars inside the limits; one arrow per side for those outside (numbers next to it).

    Returns:
        (label items, outside descriptions ``"1 VGG-16 (313, 93.6%)"``).
    """
    items, outside = [], []
    style = dict(fontsize=7, fontweight="bold", color="#7a4a00")
    sides: dict[str, list[tuple[int, float, float]]] = {}
    first = True
    for k, r in enumerate(refs):
        rx, ry = r[x] * x_scale, r[y]
        if xlim[0] <= rx <= xlim[1] and ylim[0] <= ry <= ylim[1]:
            ax.scatter([rx], [ry], marker="*", s=130, color=OKABE_ITO["orange"], edgecolors="black",
                       linewidths=0.4, zorder=5, label="paper's hand-made models (numbered)" if first else None)
            first = False
            items.append((str(k + 1), (rx, ry), style))
            continue
        fx, fy = _fraction(rx, xlim, x_log), _fraction(ry, ylim, False)
        side = ">" if fx > 1 else "<" if fx < 0 else "^" if fy > 1 else "v"
        sides.setdefault(side, []).append((k + 1, fx, fy))
        outside.append(f"{k + 1} {r['label']} ({r[x] * x_scale:.4g}, {r[y]:.1%})")
    for n, (side, members) in enumerate(sides.items()):
        # clamp into the axes (fractions); several models beyond one side share one arrow
        fx = min(max(sorted(m[1] for m in members)[len(members) // 2], 0.025), 0.975)
        fy = min(max(sorted(m[2] for m in members)[len(members) // 2], 0.04), 0.96)
        ax.scatter([fx], [fy], marker=side, s=80, color=OKABE_ITO["orange"], edgecolors="black", linewidths=0.4,
                   zorder=5, transform=ax.transAxes, clip_on=False,
                   label="paper model(s) beyond the axes (arrow at the edge)" if n == 0 else None)
        nums = [m[0] for m in members]
        text = (f"{nums[0]}–{nums[-1]}" if len(nums) > 2 and nums == list(range(nums[0], nums[-1] + 1))
                else ",".join(map(str, nums)))
        items.append((text, _from_fraction(ax, fx, fy), style))
    return items, outside


def _fraction(v: float, lim: tuple[float, float], log: bool) -> float:
    if log:
        v, lim = math.log10(max(v, 1e-300)), (math.log10(lim[0]), math.log10(lim[1]))
    return (v - lim[0]) / (lim[1] - lim[0])


def _from_fraction(ax: Any, fx: float, fy: float) -> tuple[float, float]:
    return tuple(ax.transData.inverted().transform(ax.transAxes.transform((fx, fy))))


def _finish_with_note(fig: Any, note: Optional[str]) -> None:
    """Put ``note`` under the axes (wrapped, the figure made taller) and lay the figure out."""
    if not note:
        fig.tight_layout(rect=(0, 0, 1, 1))
        return
    lines = [w for part in note.split("\n") for w in _wrap(part, 125)]
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=6.5, color="#333333", ha="left", va="bottom")
    fig.set_figheight(fig.get_figheight() + 0.11 * len(lines))
    fig.tight_layout(rect=(0, 0.012 + 0.11 * len(lines) / fig.get_figheight(), 1, 1))


def front_figure(frame: Any, x: str = "macs", y: str = "accuracy", *, title: Optional[str] = None,
                 references: Optional[Sequence[dict]] = None, x_scale: float = 1e-6, x_label: str = "MACs (M)",
                 y_label: str = "validation accuracy", x_log: bool = False, budget: Optional[float] = None,
                 note: Optional[str] = None, highlight: Optional[Sequence[int]] = None,
                 show_rejected: bool = True, xlim: Optional[Sequence[float]] = None,
                 ylim: Optional[Sequence[float]] = None, labels: bool = True) -> tuple[Any, FrontInfo]:
    """Scatter of all trained trials with the (min x, max y) Pareto front, as a figure.

    Args:
        frame: :func:`ghostnas.search.readers.trials_frame` output.
        x, y: Columns of ``frame`` for the axes (x minimised, y maximised).
        title: Figure title (default: ``y vs x`` and the number of trained trials).
        references: Optional extra points ``{"label", x, y}`` (e.g. the paper's models), in the
            same units as the frame (``x`` before ``x_scale``); never widen the axes.
        x_scale, x_label, y_label: Axis scale factor and labels.
        x_log: Logarithmic x axis.
        budget: A constraint on ``x`` (same units as the frame), drawn as a dashed line.
        note: Text under the axes (e.g. why no reference is drawn).
        highlight: Trial numbers to ring (e.g. Pareto-optimal in all objectives).
        show_rejected: Mark trials rejected before training (never trained) on the x axis.
        xlim, ylim: Axis limits in display units (x after ``x_scale``); default: the study's own
            trials (trained, rejected ticks, budget line) with a margin.
        labels: Label the front's trials (``#12``) where they fit.

    Returns:
        ``(figure, FrontInfo)``.
    """
    plt = pyplot()
    has = frame[x].notna() & frame[y].notna() if x in frame and y in frame else frame["state"] != frame["state"]
    df = frame[trained_mask(frame) & has]
    fig, ax = plt.subplots(figsize=(6.8, 4.6), dpi=130)
    info = FrontInfo()
    info.front, front_pts = _draw_trials(ax, df, x, y, x_scale)
    _draw_highlight(ax, df, x, y, x_scale, highlight)
    if budget is not None:
        ax.axvline(budget * x_scale, color=OKABE_ITO["vermillion"], ls="--", lw=1.0, label="budget (constraint)")
    rej = _rejected_rows(frame, x, show_rejected)
    _draw_rejected(ax, rej, x, x_scale)
    if x_log:
        ax.set_xscale("log")
    xs = [float(v) * x_scale for v in df[x]] + [float(v) * x_scale for v in rej[x]] \
        + ([budget * x_scale] if budget else [])
    info.xlim = tuple(float(v) for v in xlim) if xlim else _span(xs, x_log)
    info.ylim = tuple(float(v) for v in ylim) if ylim else _span([float(v) for v in df[y]], False)
    ax.set_xlim(*info.xlim)
    ax.set_ylim(*info.ylim)
    if xlim or ylim:
        info.clipped = int(sum(not (info.xlim[0] <= float(a) * x_scale <= info.xlim[1]
                                    and info.ylim[0] <= float(b) <= info.ylim[1]) for a, b in zip(df[x], df[y])))
    refs = sorted(references or (), key=lambda r: r[x])
    star_items, info.outside = _draw_references(ax, refs, x, y, x_scale, info.xlim, info.ylim, x_log)
    if refs:
        info.paper_key = "Paper models: " + "; ".join(f"{k + 1} {r['label']} ({r[x] * x_scale:.4g}, {r[y]:.1%})"
                                                      for k, r in enumerate(refs))
        note = (note + "\n" if note else "") + info.paper_key
    ax.set_xlabel(x_label + (" (log scale)" if x_log else ""))
    ax.set_ylabel(y_label)
    ax.set_title(title or f"{y} vs {x}: {len(df)} trained trials", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7, framealpha=0.85)
    _finish_with_note(fig, note)
    inside = [(n, p) for n, p in zip(info.front, front_pts)
              if info.xlim[0] <= p[0] <= info.xlim[1] and info.ylim[0] <= p[1] <= info.ylim[1]]
    trial_items = [(f"#{n}", p, dict(fontsize=7)) for n, p in inside] if labels else []
    hidden = place_labels(fig, ax, star_items + trial_items, avoid=front_pts + [i[1] for i in star_items],
                          force=len(star_items))
    info.hidden_labels = [h for h in hidden if h.startswith("#")]
    return fig, info


def plot_front(frame: Any, path: str | Path, x: str = "macs", y: str = "accuracy", title: Optional[str] = None,
               references: Optional[Sequence[dict]] = None, x_scale: float = 1e-6, x_label: str = "MACs (M)",
               y_label: str = "validation accuracy", x_log: bool = False, budget: Optional[float] = None,
               note: Optional[str] = None, highlight: Optional[Sequence[int]] = None,
               show_rejected: bool = True, xlim: Optional[Sequence[float]] = None,
               ylim: Optional[Sequence[float]] = None, labels: bool = True) -> list[Path]:
    """:func:`front_figure` written as PNG and SVG (``path``'s suffix is replaced).

    Returns:
        The written files.
    """
    fig, _ = front_figure(frame, x, y, title=title, references=references, x_scale=x_scale, x_label=x_label,
                          y_label=y_label, x_log=x_log, budget=budget, note=note, highlight=highlight,
                          show_rejected=show_rejected, xlim=xlim, ylim=ylim, labels=labels)
    return _save(fig, Path(path).with_suffix(""))


# ---------------------------------------------------------------------------------------------
# several studies on one axes


def compare_fronts_figure(studies: Sequence[tuple[str, Any]], x: str = "macs", y: str = "accuracy", *,
                          x_scale: float = 1e-6, x_label: str = "MACs (M)", y_label: str = "validation accuracy",
                          title: str = "", xlim: Optional[Sequence[float]] = None,
                          ylim: Optional[Sequence[float]] = None, note: Optional[str] = None) -> tuple[Any, dict]:
    """The 2-D fronts of several studies on one axes (feasible trained trials faint, fronts bold).

    Args:
        studies: ``(label, trials frame)`` per study, in legend order.
        x, y, x_scale, x_label, y_label: As for :func:`front_figure`.
        title: Figure title.
        xlim, ylim: Axis limits (display units); default: all studies' feasible trained trials.
        note: Text under the axes.

    Returns:
        ``(figure, {label: front trial numbers by x})``; each front is the ``Line2D`` with gid
        ``pareto-front:<label>``.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 4.6), dpi=130)
    fronts, xs, ys = {}, [], []
    for k, (label, frame) in enumerate(studies):
        colour, marker = _STUDY_COLOURS[k % len(_STUDY_COLOURS)], _STUDY_MARKERS[k % len(_STUDY_MARKERS)]
        ok = frame[x].notna() & frame[y].notna() if x in frame and y in frame else frame["state"] != frame["state"]
        feas = frame[trained_mask(frame) & ok & frame["feasible"].astype(bool)]
        pts = [(float(a) * x_scale, float(b)) for a, b in zip(feas[x], feas[y])]
        xs += [p[0] for p in pts]
        ys += [p[1] for p in pts]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=16, marker=marker, facecolors="none",
                   edgecolors=colour, alpha=0.45, lw=0.8)
        idx = front_2d(pts)
        fronts[label] = [int(feas.iloc[i]["number"]) for i in idx]
        if idx:
            fx, fy = [pts[i][0] for i in idx], [pts[i][1] for i in idx]
            ax.step(fx, fy, where="post", color=colour, lw=1.6, gid=f"pareto-front:{label}",
                    label=f"{label}: front of {len(idx)} of {len(pts)} feasible trained trials")
            ax.scatter(fx, fy, marker=marker, s=34, color=colour, zorder=3, edgecolors="white", linewidths=0.5)
        else:
            ax.plot([], [], color=colour, label=f"{label}: no feasible trained trial")
    ax.set_xlim(*(xlim or _span(xs, False)))
    ax.set_ylim(*(ylim or _span(ys, False)))
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title or f"{y} vs {x}: {len(studies)} studies", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7, framealpha=0.85)
    _finish_with_note(fig, note)
    return fig, fronts


def plot_compare_fronts(studies: Sequence[tuple[str, Any]], path: str | Path, **kwargs: Any) -> tuple[list[Path], dict]:
    """:func:`compare_fronts_figure` written as PNG and SVG; returns (files, fronts)."""
    fig, fronts = compare_fronts_figure(studies, **kwargs)
    return _save(fig, path), fronts
