"""Per-layer redundancy summaries and the paper's MSE-versus-d experiment.

* :func:`redundancy_summary`: from a C×C channel similarity matrix, each map's most similar
  partner, the fraction of maps with a partner above a threshold, and the top-k pairs.
* :func:`fit_depthwise_filter` / :func:`mse_vs_d`: the GhostNet paper's toy experiment (its
  Table 2): for a pair of maps (input, target), fit one d×d filter that maps the input map to the
  target map by least squares over all positions and all images (zero padding, no bias by
  default), for d = 1, 3, 5, 7, and report the MSE. Larger kernels contain smaller ones (the d×d
  patch contains the (d−2)×(d−2) patch at its centre), so the least-squares MSE cannot increase
  with d.

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

__all__ = ["RedundancySummary", "redundancy_summary", "fit_depthwise_filter", "mse_vs_d", "mse_table_markdown",
           "DEFAULT_DS"]

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


def fit_depthwise_filter(src: torch.Tensor, dst: torch.Tensor, d: int, bias: bool = False
                         ) -> tuple[torch.Tensor, Optional[float], float]:
    """Least-squares d×d filter ``w`` (and optional bias) with ``conv2d(src, w, padding=d//2) ≈ dst``.

    Args:
        src, dst: Maps of the same shape: N×H×W (or H×W); the fit pools every position of every
            image. Computed in float64.
        d: Odd kernel size.
        bias: Also fit a constant offset.

    Returns:
        ``(filter d×d, bias or None, MSE)``, MSE = mean squared residual over N·H·W values.
    """
    if not isinstance(d, int) or d < 1 or d % 2 == 0:
        raise ValueError(f"d must be an odd positive integer, got {d!r}")
    src = torch.as_tensor(src).to(torch.float64)
    dst = torch.as_tensor(dst).to(torch.float64)
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
             labels: Optional[Sequence[str]] = None) -> pd.DataFrame:
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
        rows.append([fit_depthwise_filter(maps[:, i], tgt[:, j], d, bias)[2] for d in ds])
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
