"""Figures: the GhostNet paper's Figure 1 and Figure 4, similarity heatmaps, MSE versus d.

Every plot function returns a matplotlib ``Figure``; :func:`ghostnas.analysis.style.save_figure`
writes it as PNG and SVG. Maps use perceptually uniform, colour-blind-safe colour maps
(``cividis`` for feature maps, ``viridis`` for similarity); outlines and lines use the Okabe-Ito
palette (:mod:`ghostnas.analysis.style`), and matched pairs also carry a letter so the pairing
does not rely on colour alone. Feature maps are shown each with its
own min–max scaling (as in the paper's figures).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch
from matplotlib.patches import Rectangle

from .style import MAP_CMAP, OKABE_ITO_CYCLE, SIM_CMAP, pyplot

plt = pyplot()

_Array = Union[torch.Tensor, np.ndarray]

__all__ = ["plot_feature_grid", "plot_ghost_maps", "plot_similarity_heatmap", "plot_mse_vs_d",
           "plot_partner_histogram"]


def _colour(k: int) -> str:
    """The ``k``-th Okabe-Ito colour, cycling."""
    return OKABE_ITO_CYCLE[k % len(OKABE_ITO_CYCLE)]


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _show_map(ax, m: np.ndarray, cmap: str = MAP_CMAP) -> None:
    lo, hi = float(m.min()), float(m.max())
    ax.imshow(m, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _image_hwc(image) -> np.ndarray:
    img = _np(image)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = img.transpose(1, 2, 0)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    lo, hi = img.min(), img.max()
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def _outline(ax, color: str, lw: float = 3.5) -> None:
    for s in ax.spines.values():
        s.set_visible(True)
        s.set_edgecolor(color)
        s.set_linewidth(lw)


def plot_feature_grid(maps: torch.Tensor, pairs: Sequence[Sequence] = (), title: str = "",
                      max_maps: int = 64, ncols: Optional[int] = None, image: Optional[_Array] = None,
                      pair_label: str = "cos") -> plt.Figure:
    """The paper's Figure 1: a grid of one image's feature maps, similar pairs outlined.

    Args:
        maps: C×H×W maps of one image.
        pairs: ``(i, j[, similarity])`` channel pairs; pair ``k`` is outlined in Okabe-Ito colour
            ``k`` and both maps carry the letter ``A``, ``B``, ... .
        title: Figure title.
        max_maps: At most this many maps are drawn: the paired channels plus the lowest other
            indices, in channel order.
        image: Optional input image (C×H×W or H×W×C) drawn first.
        ncols: Grid columns (default: a square grid).
        pair_label: Name of the similarity in the legend.

    Returns:
        The figure.
    """
    m = _np(maps)
    if m.ndim != 3:
        raise ValueError(f"maps must be C×H×W (one image), got shape {m.shape}")
    c = m.shape[0]
    marked = {}
    for k, p in enumerate(pairs):
        for ch in p[:2]:
            if not 0 <= int(ch) < c:
                raise ValueError(f"pair channel {ch} out of range 0..{c - 1}")
            marked.setdefault(int(ch), []).append(k)
    show = sorted(marked)
    for ch in range(c):
        if len(show) >= max_maps:
            break
        if ch not in marked:
            show.append(ch)
    show = sorted(show)
    cells = len(show) + (1 if image is not None else 0)
    ncols = ncols or int(math.ceil(math.sqrt(cells)))
    nrows = int(math.ceil(cells / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.15 * ncols + 0.6, 1.15 * nrows + 1.3), squeeze=False)
    flat = list(axes.ravel())
    pos = 0
    if image is not None:
        flat[0].imshow(_image_hwc(image), cmap="gray" if _np(image).ndim == 2 else None)
        flat[0].set_title("input", fontsize=7)
        flat[0].set_xticks([])
        flat[0].set_yticks([])
        pos = 1
    for ch in show:
        ax = flat[pos]
        pos += 1
        _show_map(ax, m[ch])
        label = f"ch {ch}"
        if ch in marked:
            ks = marked[ch]
            _outline(ax, _colour(ks[0]))
            label += " " + "".join(chr(ord("A") + k) for k in ks)
            ax.set_title(label, fontsize=7, color=_colour(ks[0]), fontweight="bold")
        else:
            ax.set_title(label, fontsize=6)
            for s in ax.spines.values():
                s.set_visible(False)
    for ax in flat[pos:]:
        ax.axis("off")
    handles = []
    for k, p in enumerate(pairs):
        sim = f", {pair_label} {float(p[2]):.3f}" if len(p) > 2 else ""
        handles.append(Rectangle((0, 0), 1, 1, fill=False, edgecolor=_colour(k), linewidth=2.5,
                                 label=f"{chr(ord('A') + k)}: ch {int(p[0])} & ch {int(p[1])}{sim}"))
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(3, len(handles)), fontsize=8, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
    note = (f"{len(show)} of {c} maps shown (each min–max scaled, {MAP_CMAP}); "
            "channel index in each panel title")
    fig.suptitle(f"{title}\n{note}" if title else note, fontsize=9)
    fig.tight_layout(rect=(0, 0.06 if handles else 0, 1, 1))
    return fig


def plot_ghost_maps(intrinsic: torch.Tensor, ghost: torch.Tensor, ratio: int, image: Optional[_Array] = None,
                    n: int = 16, indices: Optional[Sequence[int]] = None, ghost_index: int = 0, title: str = "",
                    dw_size: Optional[int] = None) -> plt.Figure:
    """The paper's Figure 4: intrinsic maps (left box) next to their ghost maps (right box).

    Args:
        intrinsic: m×H×W intrinsic maps of one image (``primary_conv`` output).
        ghost: g×H×W ghost maps of that image (the ones the module uses).
        ratio: Ghost ratio ``s``; ghost ``i*(s-1)+ghost_index`` is drawn at the place of intrinsic ``i``.
        image: The input image, drawn on the left.
        n: Number of intrinsic maps (first ``n`` unless ``indices``).
        indices: Intrinsic maps to draw (default: the first ``n`` with a ghost).
        ghost_index: Which of each intrinsic map's ``s - 1`` ghosts to draw.
        title: Figure title.
        dw_size: The cheap op's kernel ``d`` (for the label only).

    Returns:
        The figure.
    """
    a, g = _np(intrinsic), _np(ghost)
    if a.ndim != 3 or g.ndim != 3:
        raise ValueError("intrinsic and ghost maps must be C×H×W (one image)")
    if ratio < 2:
        raise ValueError("a Ghost module with ratio 1 has no ghost maps")
    r = ratio - 1
    if indices is None:
        indices = [i for i in range(a.shape[0]) if i * r + ghost_index < g.shape[0]][:n]
    indices = list(indices)
    if not indices:
        raise ValueError("no intrinsic map with a ghost to show")
    side = int(math.ceil(math.sqrt(len(indices))))
    rows = int(math.ceil(len(indices) / side))
    op = f"{dw_size}×{dw_size} depthwise" if dw_size else "depthwise"
    note = "ghost i·(s−1)+k (k < s−1) is made from intrinsic i; same grid position; each map min–max scaled"
    heading = f"{title}\n{note}" if title else note
    cell, width = 0.95, 0.95 * (2 * max(side, 2) + 4) + 0.6
    # Space above the grid, in inches: heading lines, box header (up to two lines), panel titles.
    top_in = 0.15 + 0.19 * (heading.count("\n") + 1) + 0.36 + 0.2
    height = cell * rows * 1.25 + top_in + 0.2
    for _ in range(3):  # lay out; grow the figure if the heading and the box headers still touch
        fig = plt.figure(figsize=(width, height))
        overlap = _ghost_layout(fig, a, g, r, indices, side, rows, image, ghost_index, op, heading, top_in, height)
        if overlap <= 0:
            break
        plt.close(fig)
        top_in += overlap + 0.08
        height += overlap + 0.08
    return fig


def _ghost_layout(fig, a: np.ndarray, g: np.ndarray, r: int, indices: list[int], side: int, rows: int, image,
                  ghost_index: int, op: str, heading: str, top_in: float, height: float) -> float:
    """Draw Figure 4 on ``fig``; returns how far (inches) the box headers reach into the heading (<= 0: clear)."""
    cols = 2 * side + 4
    gs = fig.add_gridspec(rows, cols, width_ratios=[2.2, 0.35] + [1] * side + [0.35] + [1] * side + [0.05],
                          wspace=0.08, hspace=0.32, left=0.02, right=0.98, top=1 - top_in / height,
                          bottom=0.2 / height)
    if image is not None:
        axi = fig.add_subplot(gs[:min(rows, 2), 0])
        img = _image_hwc(image)
        axi.imshow(img, cmap="gray" if img.ndim == 2 else None)
        axi.set_title("input image", fontsize=8)
        axi.set_xticks([])
        axi.set_yticks([])
    boxes = []
    for b, (maps, color, name) in enumerate(((a, OKABE_ITO_CYCLE[0], "intrinsic maps (primary conv)"),
                                             (g, OKABE_ITO_CYCLE[2], f"ghost maps (cheap {op} op)"))):
        col0 = 2 if b == 0 else side + 3
        axs = []
        for k, i in enumerate(indices):
            ch = i if b == 0 else i * r + ghost_index
            ax = fig.add_subplot(gs[k // side, col0 + k % side])
            _show_map(ax, maps[ch])
            ax.set_title(f"{'int' if b == 0 else 'ghost'} {ch}" + (f" ← {i}" if b == 1 else ""), fontsize=6, pad=2)
            for sp in ax.spines.values():
                sp.set_visible(False)
            axs.append(ax)
        boxes.append((axs, color, name))
    sup = fig.suptitle(heading, fontsize=9, y=1 - 0.1 / height, va="top")
    fig.canvas.draw()
    rend = fig.canvas.get_renderer()
    to_fig = fig.transFigure.inverted()
    header_top = 0.0
    for axs, color, name in boxes:
        # the box holds the panels *and their titles*; the header sits above it, fitted to its width
        ext = [to_fig.transform(ax.get_tightbbox(rend).get_points()) for ax in axs]
        x0 = min(e[0][0] for e in ext) - 0.006
        x1 = max(e[1][0] for e in ext) + 0.006
        y0 = min(e[0][1] for e in ext) - 0.008
        y1 = max(e[1][1] for e in ext) + 0.008
        fig.add_artist(Rectangle((x0, y0), x1 - x0, y1 - y0, transform=fig.transFigure, fill=False,
                                 edgecolor=color, linewidth=3))
        text = fig.text((x0 + x1) / 2, y1 + 0.06 / height, name, ha="center", va="bottom", fontsize=9, color=color,
                        fontweight="bold")
        _fit_text(text, rend, (x1 - x0) * fig.bbox.width)
        header_top = max(header_top, fig.transFigure.inverted().transform(text.get_window_extent(rend))[1][1])
    sup_bottom = to_fig.transform(sup.get_window_extent(rend).get_points())[0][1]
    return (header_top - sup_bottom) * height + 0.04


def _fit_text(text, renderer, max_px: float) -> None:
    """Wrap ``text`` at its opening bracket and shrink it (down to 6.5 pt) until it is at most ``max_px`` wide."""
    if text.get_window_extent(renderer).width > max_px and " (" in text.get_text():
        text.set_text(text.get_text().replace(" (", "\n(", 1))
        text.set_linespacing(1.1)
    size = text.get_fontsize()
    while text.get_window_extent(renderer).width > max_px and size > 6.5:
        size -= 0.5
        text.set_fontsize(size)


def plot_similarity_heatmap(mat: _Array, labels: Optional[Sequence[str]] = None, title: str = "",
                            vmin: float = 0.0, vmax: float = 1.0, cmap: str = SIM_CMAP,
                            annotate: Optional[bool] = None, cbar_label: str = "similarity",
                            xlabel: str = "channel", ylabel: str = "channel",
                            mask_upper: bool = False) -> plt.Figure:
    """A square heatmap with a fixed colour scale (default [0, 1]); the diagonal stays visible.

    Args:
        mat: k×k matrix (tensor or array).
        labels: Tick labels (default: every few indices).
        title: Figure title.
        vmin, vmax: Colour scale.
        cmap: Colour map.
        annotate: Values in the cells (default: for matrices up to 12×12).
        cbar_label, xlabel, ylabel: Axis texts.
        mask_upper: Hide the upper triangle.

    Returns:
        The figure.
    """
    m = _np(mat)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"heatmap needs a square matrix, got shape {m.shape}")
    k = m.shape[0]
    if annotate is None:
        annotate = k <= 12
    size = min(9.0, max(4.2, 0.55 * k + 2.0)) if annotate else 6.2
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    shown = np.where(np.triu(np.ones_like(m, dtype=bool), 1), np.nan, m) if mask_upper else m
    im = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cb.set_label(cbar_label)
    if labels is not None:
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
        ax.set_yticklabels(labels, fontsize=8)
    else:
        step = max(1, int(math.ceil(k / 16)))
        ax.set_xticks(range(0, k, step))
        ax.set_yticks(range(0, k, step))
        ax.tick_params(labelsize=7)
    if annotate:
        for i in range(k):
            for j in range(k):
                if mask_upper and j > i:
                    continue
                v = m[i, j]
                frac = (v - vmin) / (vmax - vmin) if vmax > vmin else 0
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if frac > 0.6 else "white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_mse_vs_d(df: pd.DataFrame, paper: Optional[pd.DataFrame] = None, title: str = "",
                  logy: bool = True) -> plt.Figure:
    """MSE of the least-squares d×d filter against d, one line per pair.

    Args:
        df: :func:`ghostnas.analysis.redundancy.mse_vs_d` output.
        paper: The paper's Table 2 rows, which are *recalled, UNVERIFIED* values
            (:data:`ghostnas.analysis.paper.PAPER_TABLE2_UNVERIFIED`); default None: not drawn.
            Callers pass them only on an explicit request (``ghostnas similarity
            --paper-unverified``); they are then drawn grey, dashed, with hollow markers, marked
            UNVERIFIED in the legend and in a note under the axes -- never as a fact.
        title: Figure title.
        logy: Logarithmic MSE axis.

    Returns:
        The figure.
    """
    fig, ax = plt.subplots(figsize=(10.5, 5.0))
    markers = "osD^v<>p"
    styles = ["-", "-.", ":"]
    for k, (name, row) in enumerate(df.iterrows()):
        ax.plot([int(d) for d in row.index], row.values, marker=markers[k % len(markers)],
                linestyle=styles[(k // 7) % len(styles)], color=OKABE_ITO_CYCLE[k % 7], label=str(name), linewidth=1.8)
    if paper is not None and len(paper):
        for k, (name, row) in enumerate(paper.iterrows()):
            pair = str(name).split(" (")[0].replace("paper ", "")
            ax.plot([int(d) for d in row.index], row.values, linestyle="--", marker="osD"[k % 3],
                    markerfacecolor="none", color="0.55", linewidth=1.0,
                    label=f"UNVERIFIED paper Table 2, {pair} (recalled, not checked)")
        fig.text(0.01, 0.01, "Grey dashed lines: the paper's Table 2 as recalled, UNVERIFIED against the paper "
                 "(pretrained ResNet-50, normalisation unknown) - compare orders of magnitude, not digits.",
                 fontsize=7.5, color="#7a3e00", va="bottom")
    ds = sorted({int(d) for d in df.columns})
    ax.set_xticks(ds)
    ax.set_xlabel("kernel size d of the single fitted filter (d×d)")
    ax.set_ylabel("MSE (maps min–max scaled to [0, 1])")
    if logy:
        ax.set_yscale("log")
    ax.set_xlim(min(ds) - 0.5, max(ds) + 0.5)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.04 if paper is not None else 0, 1, 1))
    return fig


def plot_partner_histogram(partner_similarity: Sequence[float], threshold: Optional[float] = None,
                           title: str = "", xlabel: str = "cosine similarity to most similar other map") -> plt.Figure:
    """Histogram of each map's best-partner similarity, threshold marked.

    Args:
        partner_similarity: One value per map (:attr:`RedundancySummary.partner_similarity`).
        threshold: Marked as a dashed line with the share of maps above it.
        title, xlabel: Texts.

    Returns:
        The figure.
    """
    v = _np(partner_similarity)
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    ax.hist(v, bins=min(30, max(5, len(v) // 2)), range=(min(0.0, float(v.min())), 1.0),
            color=OKABE_ITO_CYCLE[1], edgecolor="white")
    if threshold is not None:
        ax.axvline(threshold, color=OKABE_ITO_CYCLE[0], linestyle="--", label=f"threshold {threshold:g}: "
                   f"{(v >= threshold).mean():.0%} of maps above")
        ax.legend(fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("number of maps")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
