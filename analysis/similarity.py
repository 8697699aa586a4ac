"""Channel similarity within a layer: cosine, Pearson and MSE between channel maps, and per-map
normalisation. All computations run in float64. CKA between layers is in :mod:`.cka`.

Conventions for degenerate inputs (no NaN is ever returned):

* **Cosine**: a map that is zero everywhere (over the batch) has cosine similarity **0** with
  every map, itself included — a dead map is redundant with nothing. With ``centered=True``
  (Pearson correlation) the same holds for a *constant* map.
* **Per-map normalisation** (for MSE): ``minmax`` scales each H×W map of each image to [0, 1];
  ``zscore`` to mean 0 / std 1. A constant map becomes all zeros.
"""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["normalize_maps", "channel_cosine", "channel_mse", "channel_similarity"]

_EPS = 1e-12


def _as_maps(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 3:  # C×H×W: one image
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"feature maps must be N×C×H×W (or C×H×W), got shape {tuple(x.shape)}")
    return x.detach().to(torch.float64)


def normalize_maps(x: torch.Tensor, mode: Optional[str] = "minmax") -> torch.Tensor:
    """Normalise every H×W map of every image separately (float64).

    Args:
        x: N×C×H×W (or C×H×W, or N×H×W... any tensor whose last two dims are H, W).
        mode: ``"minmax"`` → [0, 1]; ``"zscore"`` → mean 0, std 1; ``None`` → unchanged.
            A constant map becomes zeros.

    Returns:
        The normalised maps (float64, same shape).
    """
    x = x.detach().to(torch.float64)
    if mode is None:
        return x.clone()
    flat = x.reshape(*x.shape[:-2], -1)
    if mode == "minmax":
        lo = flat.amin(-1, keepdim=True)
        rng = flat.amax(-1, keepdim=True) - lo
        out = torch.where(rng > _EPS, (flat - lo) / rng.clamp_min(_EPS), torch.zeros_like(flat))
    elif mode == "zscore":
        mu = flat.mean(-1, keepdim=True)
        sd = flat.std(-1, unbiased=False, keepdim=True)
        out = torch.where(sd > _EPS, (flat - mu) / sd.clamp_min(_EPS), torch.zeros_like(flat))
    else:
        raise ValueError(f"normalisation must be 'minmax', 'zscore' or None, got {mode!r}")
    return out.reshape(x.shape)


def channel_cosine(x: torch.Tensor, centered: bool = False) -> torch.Tensor:
    """C×C cosine similarity between channels, each flattened over batch and space.

    Zero (or, centred, constant) maps get similarity 0 with everything, themselves included.

    Args:
        x: N×C×H×W maps (or C×H×W).
        centered: Subtract each channel's mean first (Pearson correlation).

    Returns:
        The C×C matrix (float64, in [-1, 1]).
    """
    x = _as_maps(x)
    v = x.transpose(0, 1).reshape(x.shape[1], -1)
    if centered:
        v = v - v.mean(1, keepdim=True)
    norm = v.norm(dim=1)
    ok = norm > _EPS * max(1.0, float(norm.max()) if norm.numel() else 1.0)
    u = torch.where(ok[:, None], v / norm.clamp_min(_EPS)[:, None], torch.zeros_like(v))
    return (u @ u.T).clamp(-1.0, 1.0)


def channel_mse(x: torch.Tensor, normalize: Optional[str] = "minmax") -> torch.Tensor:
    """C×C mean squared difference between channel maps, averaged over batch and space.

    Args:
        x: N×C×H×W maps (or C×H×W).
        normalize: Per-map normalisation first (see :func:`normalize_maps`).

    Returns:
        The C×C matrix (float64, >= 0, zero diagonal).
    """
    x = normalize_maps(_as_maps(x), normalize)
    n, c = x.shape[:2]
    v = x.transpose(0, 1).reshape(c, -1)
    sq = (v * v).sum(1)
    d = sq[:, None] + sq[None, :] - 2 * (v @ v.T)
    return (d / v.shape[1]).clamp_min(0.0)


def channel_similarity(x: torch.Tensor, metric: str = "cosine", normalize: Optional[str] = "minmax") -> torch.Tensor:
    """C×C channel-pair matrix.

    Args:
        x: N×C×H×W maps (or C×H×W).
        metric: ``"cosine"``, ``"pearson"`` (centred cosine) or ``"mse"``.
        normalize: Per-map normalisation for ``"mse"``.

    Returns:
        The C×C matrix (float64).
    """
    if metric == "cosine":
        return channel_cosine(x)
    if metric == "pearson":
        return channel_cosine(x, centered=True)
    if metric == "mse":
        return channel_mse(x, normalize)
    raise ValueError(f"channel metric must be 'cosine', 'pearson' or 'mse', got {metric!r}")
