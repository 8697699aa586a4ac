"""Hypervolume of a ghostnas study's feasible trained trials, and its history over trials.

**Reference point** (:func:`reference_point`): accuracy 0 for accuracy (the worst possible value),
and 1.1 x the largest value among the feasible trained trials for each cost objective (MACs,
params, latency). Cost objectives are divided by their reference value, so the hypervolume is the
dominated fraction of the box [0, 1] accuracy x [0, reference] cost: a number in [0, 1] whatever
the units. Only feasible trained trials (:func:`~ghostnas.analysis.fronts.trained_mask`) add volume.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from .fronts import front_indices, trained_mask

__all__ = ["hypervolume", "reference_point", "hypervolume_history", "reference_text"]


def _hv_2d(pts: list[list[float]], ref: list[float]) -> float:
    pts.sort(key=lambda p: (p[0], p[1]))
    vol, best_y = 0.0, ref[1]
    for i, p in enumerate(pts):
        nxt = pts[i + 1][0] if i + 1 < len(pts) else ref[0]
        best_y = min(best_y, p[1])
        vol += (nxt - p[0]) * (ref[1] - best_y)
    return vol


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Exact hypervolume dominated by ``points`` (all objectives minimised) up to ``reference``.

    Slicing along the last objective, recursively; meant for fronts of up to a few hundred points
    and 2-4 objectives. Agrees with ``optuna._hypervolume.compute_hypervolume`` (tested).

    Args:
        points: One row of objective values per point; points that do not strictly dominate the
            reference add nothing.
        reference: The reference point, one value per objective.

    Returns:
        The dominated volume (0.0 for no point).
    """
    ref = [float(r) for r in reference]
    pts = [[float(a) for a in p] for p in points if all(float(a) < r for a, r in zip(p, ref))]
    if not pts:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in pts)
    pts = [pts[i] for i in front_indices(pts)]
    if len(ref) == 2:
        return _hv_2d(pts, ref)
    pts.sort(key=lambda p: p[-1])
    vol = 0.0
    for i, p in enumerate(pts):
        upper = pts[i + 1][-1] if i + 1 < len(pts) else ref[-1]
        if upper > p[-1]:
            vol += (upper - p[-1]) * hypervolume([q[:-1] for q in pts[: i + 1]], ref[:-1])
    return vol


def _loss_rows(frame: Any, objectives: Sequence[str], directions: Sequence[str],
               reference: dict[str, float]) -> list[list[float]]:
    """Normalised minimisation vectors: -accuracy (reference 0), cost / reference (reference 1)."""
    rows = []
    for _, r in frame.iterrows():
        v = []
        for o, d in zip(objectives, directions):
            val = float(r[o])
            v.append(-(val - reference[o]) if d == "maximize" else val / reference[o])
        rows.append(v)
    return rows


def _hv_trials(frame: Any, objectives: Sequence[str]) -> Any:
    df = frame[trained_mask(frame) & frame["feasible"].astype(bool)]
    for o in objectives:
        df = df[df[o].notna()]
        df = df[df[o].map(lambda v: math.isfinite(float(v)))]
    return df.sort_values("number")


def reference_point(frame: Any, objectives: Sequence[str], directions: Sequence[str]) -> dict[str, float]:
    """The hypervolume reference point (module docs).

    Args:
        frame: :func:`ghostnas.search.readers.trials_frame` output.
        objectives: Objective names (columns of ``frame``).
        directions: ``"maximize"`` / ``"minimize"`` per objective.

    Returns:
        ``{objective: value}``: 0 for maximised objectives whose values are fractions (accuracy),
        else the worst value; 1.1 x the largest feasible trained value for costs (1.0 without any).
    """
    df = _hv_trials(frame, objectives)
    ref = {}
    for o, d in zip(objectives, directions):
        vals = [float(v) for v in df[o]] if len(df) else []
        if d == "maximize":
            ref[o] = 0.0 if (not vals or min(vals) >= 0) else min(vals)
        else:
            top = max(vals) if vals else 1.0
            ref[o] = 1.1 * top if top > 0 else 1.0
    return ref


def hypervolume_history(frame: Any, objectives: Sequence[str], directions: Sequence[str],
                        reference: Optional[dict[str, float]] = None) -> tuple[list[int], list[float], dict[str, float]]:
    """The normalised hypervolume after each feasible trained trial, in trial order.

    Args:
        frame: :func:`ghostnas.search.readers.trials_frame` output.
        objectives: Objective names (columns of ``frame``).
        directions: ``"maximize"`` / ``"minimize"`` per objective.
        reference: Reference point; default :func:`reference_point`.

    Returns:
        ``(trial numbers, hypervolume after each, reference point)``.
    """
    reference = reference or reference_point(frame, objectives, directions)
    df = _hv_trials(frame, objectives)
    rows = _loss_rows(df, objectives, directions, reference)
    ref = [0.0 if d == "maximize" else 1.0 for d in directions]
    numbers, hv, front = [], [], []
    for n, p in zip(df["number"], rows):
        if not any(all(a <= b for a, b in zip(q, p)) for q in front):  # not (weakly) dominated: new volume
            front = [q for q in front if not all(a <= b for a, b in zip(p, q))] + [p]
        numbers.append(int(n))
        hv.append(hypervolume(front, ref))
    return numbers, hv, reference


def reference_text(ref: dict[str, float]) -> str:
    """A reference point as text: ``accuracy 0, macs 2.53M, latency 4.1 ms``.

    Args:
        ref: :func:`reference_point` output.

    Returns:
        One comma-separated line.
    """
    parts = []
    for o, v in ref.items():
        if o in ("macs", "params"):
            parts.append(f"{o} {v / 1e6:.3g}M")
        elif o == "latency":
            parts.append(f"latency {v:.3g} ms")
        else:
            parts.append(f"{o} {v:.3g}")
    return ", ".join(parts)
