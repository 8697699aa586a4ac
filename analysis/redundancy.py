"""Per-layer redundancy summaries and the paper's MSE-versus-d experiment.

* :func:`redundancy_summary`: from a C×C channel similarity matrix, each map's most similar
  partner, the fraction of maps with a partner above a threshold, and the top-k pairs.
* :func:`fit_depthwise_filter` / :func:`mse_vs_d`: the GhostNet paper's toy experiment (its
  Table 2): for a pair of maps (input, target), fit one d×d filter that maps the input map to the
  target map by least squares over all positions and all images (zero padding, no bias by
  default), for d = 1, 3, 5, 7, and report the MSE. :func:`mse_vs_d` min–max scales the maps by
  default (the old figures); ``scale="none"`` / ``normalize=None`` with ``bias=True`` fits unscaled
  activations with an intercept. Larger kernels contain smaller ones (the d×d patch contains the
  (d−2)×(d−2) patch at its centre), so the least-squares MSE cannot increase with d.
* :func:`per_image_redundancy` / :func:`redundancy_ci`: each map's best partner on each image,
  the share of maps whose best partner reaches a threshold per image, and means over images with
  95% t and bootstrap intervals (the trained-network report, :mod:`.trained_redundancy`).

The paper's values (:data:`ghostnas.analysis.paper.PAPER_TABLE2_UNVERIFIED`) are *recalled, not
verified* against the PDF, and come from pretrained ImageNet ResNet-50 maps whose normalisation is
not known; compare orders of magnitude and the trend with d, not digits.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pandas as pd
import torch
import torch.nn.functional as F

from .paper import PAPER_TABLE2_UNVERIFIED
from .similarity import normalize_maps
from .stats import bootstrap_ci, mean_ci95

__all__ = ["RedundancySummary", "redundancy_summary", "fit_depthwise_filter", "mse_vs_d", "mse_table_markdown",
           "per_image_best_partner", "per_image_redundancy", "redundancy_ci", "DEFAULT_DS"]

DEFAULT_DS = (1, 3, 5, 7)


@dataclass
class RedundancySummary:
    """Redundancy of one layer's maps.

    Attributes:
        partner: For each map, the index of its most similar other map.
        partner_similarity: That similarity.
        threshold: The threshold used for :attr:`fraction_redundant`.
        fraction_redundant: Share of maps whose most similar partner is ≥ threshold.
        top_pairs: The ``top_k`` most similar unordered pairs ``(i, j, sim)``, i < j, best first.
        metric: Name of the similarity metric.
        layer: Name of the layer (may be empty).
        extra: More facts to report with :meth:`as_dict`.
    """

    partner: list[int]
    partner_similarity: list[float]
    threshold: float
    fraction_redundant: float
    top_pairs: list[tuple[int, int, float]]
    metric: str = "cosine"
    layer: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def num_maps(self) -> int:
        """Number of maps (channels) of the layer."""
        return len(self.partner)

    def partners_frame(self) -> pd.DataFrame:
        """Each map's most similar partner.

        Returns:
            Columns ``map``, ``partner``, ``similarity``; one row per map.
        """
        return pd.DataFrame({"map": range(self.num_maps), "partner": self.partner,
                             "similarity": self.partner_similarity})

    def as_dict(self) -> dict:
        """The summary as JSON-able values (top pairs rounded to 6 digits, plus :attr:`extra`).

        Returns:
            ``layer``, ``metric``, ``num_maps``, ``threshold``, ``fraction_redundant``,
            ``median_partner_similarity``, ``top_pairs`` and the ``extra`` entries.
        """
        sims = torch.tensor(self.partner_similarity, dtype=torch.float64)
        return {"layer": self.layer, "metric": self.metric, "num_maps": self.num_maps,
                "threshold": self.threshold, "fraction_redundant": self.fraction_redundant,
                "median_partner_similarity": float(sims.median()) if len(sims) else float("nan"),
                "top_pairs": [[i, j, round(s, 6)] for i, j, s in self.top_pairs], **self.extra}


def redundancy_summary(sim: torch.Tensor, threshold: float = 0.9, top_k: int = 3,
                       higher_is_similar: bool = True, metric: str = "cosine", layer: str = "") -> RedundancySummary:
    """Summarise a C×C channel similarity matrix (the diagonal is ignored).

    Args:
        sim: Symmetric C×C matrix (cosine/Pearson: higher = more similar; MSE: pass
            ``higher_is_similar=False``, then "above the threshold" means "MSE ≤ threshold").
        threshold: Similarity a partner must reach for a map to count as redundant.
        top_k: Number of pairs to return.
        higher_is_similar: False for a distance such as MSE.
        metric: Name of the metric, recorded in the summary.
        layer: Name of the layer, recorded in the summary.

    Returns:
        The :class:`RedundancySummary`.
    """
    sim = torch.as_tensor(sim, dtype=torch.float64)
    if sim.dim() != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f"similarity matrix must be square, got shape {tuple(sim.shape)}")
    c = sim.shape[0]
    if c < 2:
        raise ValueError("a redundancy summary needs at least 2 maps")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    s = sim if higher_is_similar else -sim
    s = s.clone()
    s.fill_diagonal_(float("-inf"))
    best, partner = s.max(1)
    partner_sim = best if higher_is_similar else -best
    redundant = (partner_sim >= threshold) if higher_is_similar else (partner_sim <= threshold)
    iu = torch.triu_indices(c, c, 1)
    vals = s[iu[0], iu[1]]
    order = torch.argsort(vals, descending=True, stable=True)[:top_k]
    pairs = [(int(iu[0, o]), int(iu[1, o]), float(sim[iu[0, o], iu[1, o]])) for o in order]
    return RedundancySummary([int(p) for p in partner], [float(v) for v in partner_sim], float(threshold),
                             float(redundant.double().mean()), pairs, metric, layer)


_SCALES = {"none": None, None: None, "minmax": "minmax", "zscore": "zscore"}


def fit_depthwise_filter(src: torch.Tensor, dst: torch.Tensor, d: int, bias: bool = False,
                         scale: Optional[str] = "none") -> tuple[torch.Tensor, Optional[float], float]:
    """Least-squares d×d filter ``w`` (and optional bias) with ``conv2d(src, w, padding=d//2) ≈ dst``.

    Args:
        src, dst: Maps of the same shape: N×H×W (or H×W); the fit pools every position of every
            image. Computed in float64.
        d: Odd kernel size.
        bias: Also fit a constant offset (intercept).
        scale: ``"none"`` (or None): fit the maps as given (unscaled activations); ``"minmax"``:
            scale each H×W map of each image to [0, 1] first (the old figures' setting, what
            :func:`mse_vs_d` does by default); ``"zscore"``: mean 0, std 1 per map and image.
            The MSE is in the units of the (scaled) target.

    Returns:
        ``(filter d×d, bias or None, MSE)``, MSE = mean squared residual over N·H·W values.
    """
    if not isinstance(d, int) or d < 1 or d % 2 == 0:
        raise ValueError(f"d must be an odd positive integer, got {d!r}")
    if scale not in _SCALES:
        raise ValueError(f"scale must be 'none', 'minmax' or 'zscore', got {scale!r}")
    src = torch.as_tensor(src).to(torch.float64)
    dst = torch.as_tensor(dst).to(torch.float64)
    if _SCALES[scale] is not None:
        src, dst = normalize_maps(src, _SCALES[scale]), normalize_maps(dst, _SCALES[scale])
    if src.shape != dst.shape:
        raise ValueError(f"input and target maps differ in shape: {tuple(src.shape)} vs {tuple(dst.shape)}")
    if src.dim() == 2:
        src, dst = src[None], dst[None]
    if src.dim() != 3:
        raise ValueError(f"maps must be N×H×W or H×W, got shape {tuple(src.shape)}")
    n, h, w = src.shape
    cols = F.unfold(src[:, None], d, padding=d // 2)          # N × d² × HW
    a = cols.transpose(1, 2).reshape(n * h * w, d * d)
    if bias:
        a = torch.cat([a, torch.ones(a.shape[0], 1, dtype=a.dtype)], 1)
    b = dst.reshape(-1, 1)
    sol = torch.linalg.lstsq(a, b, driver="gelsd").solution
    resid = a @ sol - b
    mse = float((resid ** 2).mean())
    filt = sol[:d * d, 0].reshape(d, d)
    return filt, (float(sol[-1, 0]) if bias else None), mse


def mse_vs_d(maps: torch.Tensor, pairs: Sequence[Sequence[int]], ds: Sequence[int] = DEFAULT_DS,
             normalize: Optional[str] = "minmax", bias: bool = False, target_maps: Optional[torch.Tensor] = None,
             labels: Optional[Sequence[str]] = None, relative: bool = False) -> pd.DataFrame:
    """The paper's MSE-versus-d table for map pairs.

    Args:
        maps: N×C×H×W maps of one layer.
        pairs: ``(i, j)`` pairs: map ``i`` is the input, map ``j`` the target (of ``target_maps``
            if given, e.g. the ghost maps of a Ghost module, else of ``maps``).
        ds: Kernel sizes.
        normalize: Per-map normalisation before fitting (see
            :func:`~ghostnas.analysis.similarity.normalize_maps`); ``"minmax"`` puts maps in [0, 1].
        bias: Also fit an offset.
        labels: Row labels (default ``"i→j"``).
        relative: Divide each MSE by the variance of its (normalised) target over all N·H·W
            values, i.e. report 1 − R² (with ``bias=True`` in [0, 1]; the fit of ``w = 0`` plus a
            bias has relative MSE 1). Makes unscaled maps of different magnitude comparable.

    Returns:
        DataFrame, one row per pair, one column per d (MSE), index named ``pair``.
    """
    maps = normalize_maps(maps, normalize)
    tgt = maps if target_maps is None else normalize_maps(target_maps, normalize)
    if maps.dim() != 4 or tgt.dim() != 4:
        raise ValueError("maps must be N×C×H×W")
    rows, names = [], []
    for k, pair in enumerate(pairs):
        i, j = int(pair[0]), int(pair[1])
        if not (0 <= i < maps.shape[1] and 0 <= j < tgt.shape[1]):
            raise ValueError(f"pair ({i}, {j}) out of range for {maps.shape[1]} input / {tgt.shape[1]} target maps")
        var = float(tgt[:, j].var(unbiased=False)) if relative else 1.0
        rows.append([fit_depthwise_filter(maps[:, i], tgt[:, j], d, bias)[2] / (var if var > 0 else float("nan"))
                     for d in ds])
        names.append(labels[k] if labels is not None else f"{i}→{j}")
    df = pd.DataFrame(rows, columns=list(ds), index=pd.Index(names, name="pair"))
    df.columns.name = "d"
    return df


def mse_table_markdown(df: pd.DataFrame, include_paper: bool = True, fmt: str = "{:.3e}") -> str:
    """A markdown table of an MSE-vs-d frame (plus the paper's recalled rows, labelled UNVERIFIED).

    Args:
        df: :func:`mse_vs_d` output (rows: pairs, columns: d).
        include_paper: Append the paper's Table 2 rows for the same d values.
        fmt: Format of each MSE.

    Returns:
        The table, ending with a newline.
    """
    parts = [df]
    if include_paper:
        parts.append(PAPER_TABLE2_UNVERIFIED[[d for d in df.columns if d in PAPER_TABLE2_UNVERIFIED.columns]])
    full = pd.concat(parts)
    cols = list(full.columns)
    lines = ["| pair | " + " | ".join(f"d={d}" for d in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for name, row in full.iterrows():
        lines.append(f"| {name} | " + " | ".join("" if pd.isna(v) else fmt.format(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def per_image_best_partner(maps: torch.Tensor, centered: bool = False, chunk: int = 64) -> torch.Tensor:
    """Each map's best-partner cosine *within each image*: N×C.

    For image ``n`` and map ``c``: ``max_{c' ≠ c} cos(maps[n, c], maps[n, c'])``, the cosine over
    the H·W positions of that image only. A map that is zero on an image (dead after a ReLU) has
    cosine 0 with every map (the convention of :mod:`.similarity`), so it is never redundant and
    is nobody's partner above 0.

    Args:
        maps: N×C×H×W maps of one layer (C ≥ 2).
        centered: Subtract each map's spatial mean first (Pearson correlation; a constant map
            then counts as dead).
        chunk: Images per block (memory: chunk·C² doubles).

    Returns:
        N×C float64 tensor in [-1, 1].
    """
    if maps.dim() != 4:
        raise ValueError(f"maps must be N×C×H×W, got shape {tuple(maps.shape)}")
    n, c = maps.shape[:2]
    if c < 2:
        raise ValueError("per-image redundancy needs at least 2 maps")
    out = []
    for k in range(0, n, max(1, int(chunk))):
        v = maps[k:k + chunk].detach().to(torch.float64).reshape(-1, c, maps.shape[2] * maps.shape[3])
        if centered:
            v = v - v.mean(2, keepdim=True)
        norm = v.norm(dim=2)
        ok = norm > 1e-12 * norm.amax(1, keepdim=True).clamp_min(1.0)
        u = torch.where(ok[..., None], v / norm.clamp_min(1e-300)[..., None], torch.zeros_like(v))
        s = (u @ u.transpose(1, 2)).clamp(-1.0, 1.0)
        s.diagonal(dim1=1, dim2=2).fill_(float("-inf"))
        out.append(s.amax(2))
    return torch.cat(out)


def per_image_redundancy(maps: torch.Tensor, thresholds: Sequence[float] = (0.9, 0.95),
                         centered: bool = False) -> pd.DataFrame:
    """Per-image redundancy statistics of one layer (one row per image).

    Args:
        maps: N×C×H×W maps.
        thresholds: A map is redundant on an image if its best partner's cosine there is ≥ this.
        centered: Pearson instead of cosine (see :func:`per_image_best_partner`).

    Returns:
        Columns ``image``; ``frac_ge_<t>`` per threshold (share of the C maps whose best partner
        reaches ``t``); ``mean_best_cos`` (mean over maps of the best-partner cosine) and
        ``frac_dead`` (share of maps that are zero, or constant if centred, on the image).
    """
    best = per_image_best_partner(maps, centered)
    v = maps.detach().to(torch.float64).flatten(2)
    spread = (v - v.mean(2, keepdim=True)) if centered else v
    dead = spread.abs().amax(2) <= 1e-12 * spread.abs().amax((1, 2)).clamp_min(1.0)[:, None]
    cols: dict = {"image": range(best.shape[0])}
    for t in thresholds:
        cols[f"frac_ge_{t:g}"] = (best >= t).double().mean(1).numpy()
    cols["mean_best_cos"] = best.mean(1).numpy()
    cols["frac_dead"] = dead.double().mean(1).numpy()
    return pd.DataFrame(cols)


def redundancy_ci(per_image: pd.DataFrame, columns: Optional[Sequence[str]] = None, n_boot: int = 2000,
                  seed: int = 0, clip_shares: bool = True) -> pd.DataFrame:
    """Mean over images of each per-image statistic with 95% intervals.

    The images are the sampling unit: the interval says how well the batch pins down the layer's
    mean over images *for this one trained network*, not how much it varies between training runs.

    Args:
        per_image: :func:`per_image_redundancy` output.
        columns: Statistics to summarise (default: every column but ``image``).
        n_boot: Resamples of the percentile bootstrap (images resampled, seeded).
        seed: Seed of the bootstrap.
        clip_shares: Clip the t-interval of ``frac_*`` statistics (shares) to [0, 1].

    Returns:
        One row per statistic: ``statistic``, ``mean``, ``ci_lo``/``ci_hi`` (Student-t,
        :func:`~ghostnas.analysis.stats.mean_ci95`), ``boot_lo``/``boot_hi``
        (:func:`~ghostnas.analysis.stats.bootstrap_ci`), ``n_images``.
    """
    import numpy as np

    columns = [c for c in per_image.columns if c != "image"] if columns is None else list(columns)
    rows = []
    for col in columns:
        vals = per_image[col].to_numpy(dtype=float)
        m, lo, hi = mean_ci95(vals)
        if clip_shares and col.startswith("frac"):
            lo, hi = max(lo, 0.0), min(hi, 1.0)
        blo, bhi = bootstrap_ci(lambda a, axis=-1: np.mean(a, axis=axis), vals, n_boot=n_boot, seed=seed,
                                vectorized=True)
        rows.append({"statistic": col, "mean": m, "ci_lo": lo, "ci_hi": hi, "boot_lo": blo, "boot_hi": bhi,
                     "n_images": int(vals.size)})
    return pd.DataFrame(rows)
