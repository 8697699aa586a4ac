"""Pareto-front figures for studies."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

__all__ = ["plot_front"]

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
OKABE_ITO = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
             "sky": "#56B4E9", "purple": "#CC79A7", "yellow": "#F0E442", "grey": "#999999"}


def _front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated for (minimise x, maximise y)."""
    out = []
    for i, (x, y) in enumerate(points):
        if not any((x2 <= x and y2 >= y) and (x2 < x or y2 > y) for j, (x2, y2) in enumerate(points) if j != i):
            out.append(i)
    return sorted(out, key=lambda i: points[i][0])


def plot_front(frame: Any, path: str | Path, x: str = "macs", y: str = "accuracy", title: Optional[str] = None,
               references: Optional[Sequence[dict]] = None, x_scale: float = 1e-6, x_label: str = "MACs (M)",
               y_label: str = "validation accuracy") -> list[Path]:
    """Scatter of all trained trials with the (min x, max y) Pareto front; PNG and SVG.

    Args:
        frame: :func:`ghostnas.search.study.trials_frame` output.
        path: Output path; the suffix is replaced by ``.png`` and ``.svg``.
        references: Optional extra points ``{"label", x, y}`` (e.g. the paper's models).

    Returns:
        The written files.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = frame[(frame["state"] == "COMPLETE") & frame["rejected"].isna() & frame[x].notna() & frame[y].notna()]
    df = df[df["reused_from"].isna()]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=130)
    feas = df[df["feasible"]]
    infeas = df[~df["feasible"]]
    if len(infeas):
        ax.scatter(infeas[x] * x_scale, infeas[y], marker="x", color=OKABE_ITO["vermillion"], label="infeasible")
    ax.scatter(feas[x] * x_scale, feas[y], color=OKABE_ITO["grey"], alpha=0.8, label="trials")
    pts = list(zip(feas[x] * x_scale, feas[y]))
    idx = _front(pts)
    if idx:
        fx = [pts[i][0] for i in idx]
        fy = [pts[i][1] for i in idx]
        ax.step(fx, fy, where="post", color=OKABE_ITO["blue"], lw=1.5)
        ax.scatter(fx, fy, color=OKABE_ITO["blue"], zorder=3, label="Pareto front")
        for i in idx:
            ax.annotate(f"#{int(feas.iloc[i]['number'])}", pts[i], textcoords="offset points", xytext=(4, -10), fontsize=7)
    for r in references or ():
        ax.scatter([r[x] * x_scale], [r[y]], marker="*", s=120, color=OKABE_ITO["orange"], zorder=4)
        ax.annotate(r["label"], (r[x] * x_scale, r[y]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title or f"{y} vs {x}: {len(df)} trained trials")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    out = []
    for ext in (".png", ".svg"):
        p = path.with_suffix(ext)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p)
        out.append(p)
    plt.close(fig)
    return out
