"""Figures of the trained-network redundancy report (:mod:`.trained_redundancy`).

* :func:`plot_redundancy_bars`: per-layer bars of the per-image redundancy statistics (share of
  maps whose best partner reaches a cosine threshold, mean best-partner cosine), trained network
  next to its untrained control, with 95% confidence intervals over images as error bars.
* :func:`plot_similar_pairs`: the paper's Figure 1 reduced to its point: a few highly similar
  pairs of maps of one layer, side by side on several images.
* :func:`plot_fit_mse`: MSE of the least-squares d×d filter against d, one panel per fit variant
  (each panel one quantity on its y axis).

Colours are Okabe-Ito (:mod:`.style`); maps use ``cividis``, each map min–max scaled on its own.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import FuncFormatter, NullFormatter

from .style import MAP_CMAP, OKABE_ITO, OKABE_ITO_CYCLE, pyplot

plt = pyplot()

__all__ = ["plot_redundancy_bars", "plot_similar_pairs", "plot_fit_mse", "STAT_LABELS"]

STAT_LABELS = {"mean_best_cos": "mean best-partner cosine per map",
               "frac_dead": "share of maps that are zero on the image"}


def stat_label(stat: str) -> str:
    """Axis label of a per-image statistic (``frac_ge_0.9`` → share of maps with a partner ≥ 0.9)."""
    if stat.startswith("frac_ge_"):
        return f"share of maps with a partner ≥ {stat[len('frac_ge_'):]}"
    return STAT_LABELS.get(stat, stat)


def plot_redundancy_bars(table: pd.DataFrame, stats: Sequence[str], title: str = "",
                         layer_notes: Optional[dict] = None) -> "plt.Figure":
    """One panel per statistic; per layer one bar per model, with 95% CI error bars.

    Args:
        table: Rows with ``model`` (e.g. ``trained``, ``untrained control``), ``layer``,
            ``statistic``, ``mean``, ``ci_lo``, ``ci_hi``.
        stats: Statistics to draw, one panel each, in this order.
        title: Figure title.
        layer_notes: Second line of each layer's tick label (e.g. ``"32 maps, 32×32"``).

    Returns:
        The figure.
    """
    layers = list(dict.fromkeys(table["layer"]))
    models = list(dict.fromkeys(table["model"]))
    colours = [OKABE_ITO["blue"], OKABE_ITO["grey"], OKABE_ITO["orange"], OKABE_ITO["green"]]
    hatches = ["", "//", "..", "xx"]
    width = 0.8 / max(1, len(models))
    fig, axes = plt.subplots(len(stats), 1, figsize=(max(6.5, 1.25 * len(layers) + 2.5), 2.7 * len(stats) + 0.9),
                             squeeze=False, sharex=True)
    x = np.arange(len(layers))
    for ax, stat in zip(axes[:, 0], stats):
        sub = table[table["statistic"] == stat]
        for k, model in enumerate(models):
            rows = sub[sub["model"] == model].set_index("layer").reindex(layers)
            mean = rows["mean"].to_numpy(float)
            err = np.vstack([mean - rows["ci_lo"].to_numpy(float), rows["ci_hi"].to_numpy(float) - mean])
            err = np.where(np.isfinite(err), err, 0.0)
            pos = x + (k - (len(models) - 1) / 2) * width
            ax.bar(pos, mean, width, color=colours[k % len(colours)], hatch=hatches[k % len(hatches)],
                   edgecolor="white" if k == 0 else "0.3", linewidth=0.6, label=model)
            ax.errorbar(pos, mean, yerr=err, fmt="none", ecolor="black", elinewidth=1.0, capsize=3)
        lo = min(0.0, float(np.nanmin(sub["ci_lo"]))) if len(sub) else 0.0
        top = float(np.nanmax(sub["ci_hi"])) if len(sub) else 1.0
        # Shares get a zoomed axis (most are far below 1); a cosine keeps its full [0, 1] range.
        hi = min(1.0, max(0.1, math.ceil(top * 1.15 / 0.05) * 0.05)) if stat.startswith("frac") else 1.0
        ax.set_ylim(lo, hi)
        ax.set_ylabel(stat_label(stat), fontsize=8.5)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0, 0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
                      title="error bars: 95% CI over images", title_fontsize=7)
    notes = layer_notes or {}
    axes[-1, 0].set_xticks(x)
    axes[-1, 0].set_xticklabels([f"{n}\n{notes[n]}" if n in notes else n for n in layers], fontsize=8)
    axes[-1, 0].set_xlabel("layer (depth increases to the right)")
    fig.suptitle(title, fontsize=9.5)
    fig.tight_layout()
    return fig


def _img(u8: torch.Tensor) -> np.ndarray:
    a = u8.detach().to(torch.float64).cpu().numpy()
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a.transpose(1, 2, 0)
    lo, hi = a.min(), a.max()
    a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a


def _map(ax, m: np.ndarray) -> None:
    lo, hi = float(m.min()), float(m.max())
    ax.imshow(m, cmap=MAP_CMAP, vmin=lo, vmax=hi if hi > lo else lo + 1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_similar_pairs(maps: torch.Tensor, images: torch.Tensor, pairs: Sequence[Sequence], title: str = "",
                       per_image_cos: Optional[np.ndarray] = None) -> "plt.Figure":
    """Figure-1-style panels: for each pair (a row), the two maps side by side on each image (columns).

    Args:
        maps: m×C×H×W maps of the images shown.
        images: m×3×h×w input images (0–255) drawn in the top row.
        pairs: ``(i, j, cosine over the batch)`` channel pairs, best first; pair ``k`` is lettered
            ``A``, ``B``, ... and outlined in Okabe-Ito colour ``k``.
        title: Figure title.
        per_image_cos: Optional pairs×m cosine of each pair on each shown image (printed under
            the maps).

    Returns:
        The figure.
    """
    m = maps.shape[0]
    if images.shape[0] != m:
        raise ValueError(f"{m} map sets but {images.shape[0]} images")
    if not pairs:
        raise ValueError("no pair to show")
    cols = 2 * m + (m - 1)  # a thin spacer column between images
    ratios = [1 if c % 3 != 2 else 0.25 for c in range(cols)]
    fig = plt.figure(figsize=(1.05 * (2 * m) + 0.3 * (m - 1) + 1.6, 1.2 * (len(pairs) + 1) + 1.2))
    gs = fig.add_gridspec(len(pairs) + 1, cols, width_ratios=ratios, hspace=0.45, wspace=0.06)
    for t in range(m):
        ax = fig.add_subplot(gs[0, 3 * t:3 * t + 2])
        ax.imshow(_img(images[t]), interpolation="nearest")
        ax.set_title(f"input image {t + 1}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for k, p in enumerate(pairs):
        i, j = int(p[0]), int(p[1])
        colour = OKABE_ITO_CYCLE[k % len(OKABE_ITO_CYCLE)]
        letter = chr(ord("A") + k)
        for t in range(m):
            for side, ch in enumerate((i, j)):
                ax = fig.add_subplot(gs[k + 1, 3 * t + side])
                _map(ax, maps[t, ch].detach().to(torch.float64).cpu().numpy())
                for s in ax.spines.values():
                    s.set_edgecolor(colour)
                    s.set_linewidth(2.5)
                ax.set_title(f"{letter}: ch {ch}", fontsize=7, color=colour, fontweight="bold")
                if side == 0 and per_image_cos is not None:
                    ax.set_xlabel(f"cos on this image {float(per_image_cos[k][t]):.2f}", fontsize=6.5)
                    ax.xaxis.set_label_coords(1.03, -0.08)
            if t == 0:
                fig.axes[-2].set_ylabel(f"pair {letter}\ncos {float(p[2]):.3f}", fontsize=8, color=colour,
                                        rotation=0, ha="right", va="center", labelpad=8)
    note = ("each row: one pair of maps of the same layer (cosine over the whole batch at left); "
            "each map min–max scaled on its own")
    fig.suptitle(f"{title}\n{note}" if title else note, fontsize=9)
    return fig


def _decades(values: pd.Series) -> float:
    v = values.to_numpy(float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.log10(v.max() / v.min())) if v.size else 0.0


def plot_fit_mse(df: pd.DataFrame, panels: Sequence[tuple[str, str, str]], title: str = "") -> "plt.Figure":
    """MSE of the fitted d×d filter against d: one panel per ``(variant, column, y label)``.

    Args:
        df: Long table with ``pair``, ``variant``, ``d`` and the value columns.
        panels: ``(variant, value column, y-axis label)`` per panel.
        title: Figure title.

    Returns:
        The figure.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels) + 3.0, 4.4), squeeze=False)
    pairs = list(dict.fromkeys(df["pair"]))
    markers = "osD^v<>p"
    for ax, (variant, col, ylabel) in zip(axes[0], panels):
        sub = df[df["variant"] == variant]
        for k, name in enumerate(pairs):
            rows = sub[sub["pair"] == name].sort_values("d")
            ax.plot(rows["d"], rows[col], marker=markers[k % len(markers)], color=OKABE_ITO_CYCLE[k % 7],
                    linestyle=["-", "--", ":"][(k // 7) % 3], linewidth=1.6, label=str(name))
        ds = sorted({int(d) for d in sub["d"]})
        ax.set_xticks(ds)
        ax.set_xlabel("kernel size d of the single fitted filter (d×d)")
        ax.set_ylabel(ylabel, fontsize=8.5)
        ax.set_yscale("log")
        # Plain-text tick labels: mathtext labels (the log default) are slow to lay out in SVG.
        plain = FuncFormatter(lambda v, _: f"{v:.3g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain if _decades(sub[col]) < 1.0 else NullFormatter())
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(variant, fontsize=9)
    axes[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.suptitle(title, fontsize=9.5)
    fig.tight_layout()
    return fig

