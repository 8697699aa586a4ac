"""Small, general statistics for experiment tables: intervals, tests, rank correlations, bootstrap.

Used by the fidelity ladder (``ghostnas fidelity``) and meant for the ablation tables as well.
Every function takes plain sequences (lists, tuples, 1-D arrays) and returns plain floats, so the
results go straight into JSON. Undefined results are NaN, never an exception: a t-interval of one
value, a rank correlation of constant data.

* :func:`mean_ci95` – mean with its 95% Student-t interval.
* :func:`diff_ci95` – difference of two means, Welch's 95% interval and two-sided p-value.
* :func:`holm_adjust` – Holm's step-down adjustment of a family of p-values.
* :func:`kendall`, :func:`spearman` – rank correlations with p-values (scipy).
* :func:`kendall_tau_b`, :func:`spearman_rho` – the same statistics, vectorised over resamples.
* :func:`bootstrap_ci` – seeded percentile bootstrap, resampling rows of paired arrays jointly.
* :func:`topk_overlap` – share of the top-k items two scores agree on.
* :func:`kendall_exact` – Kendall's tau-b with the exact permutation p-value, ties allowed.
* :func:`group_bootstrap_ci` – percentile bootstrap of a statistic of group means, resampling
  within each group (seeds within each grid point).
* :func:`ols_ci95` – least-squares coefficients with 95% t-intervals and p-values.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, Optional, Sequence

import numpy as np
from scipy import stats as _st

__all__ = ["mean_ci95", "diff_ci95", "holm_adjust", "kendall", "kendall_p_method", "spearman", "kendall_tau_b", "spearman_rho",
           "bootstrap_ci", "topk_overlap", "kendall_exact", "group_bootstrap_ci", "ols_ci95"]

_NAN = float("nan")


def _vec(values: Sequence[float], what: str = "values") -> np.ndarray:
    a = np.asarray(values, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {a.shape}")
    return a


def _pair(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = _vec(x, "x"), _vec(y, "y")
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same length, got {a.size} and {b.size}")
    return a, b


def mean_ci95(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and its two-sided 95% Student-t confidence interval.

    ``mean ± t(0.975, n-1) · s / sqrt(n)`` with the sample standard deviation ``s`` (ddof=1).
    Example: ``[1, 2, 3]`` gives ``(2, 2 - 4.303/sqrt(3), 2 + 4.303/sqrt(3))``.

    Returns:
        ``(mean, lo, hi)``; for one value ``(value, nan, nan)``, for none ``(nan, nan, nan)``.
    """
    a = _vec(values)
    n = a.size
    if n == 0:
        return _NAN, _NAN, _NAN
    m = float(a.mean())
    if n == 1:
        return m, _NAN, _NAN
    half = float(_st.t.ppf(0.975, n - 1) * a.std(ddof=1) / math.sqrt(n))
    return m, m - half, m + half


def diff_ci95(a: Sequence[float], b: Sequence[float]) -> dict:
    """Difference of means ``mean(a) - mean(b)`` with Welch's 95% interval and p-value.

    Welch's unequal-variance t-test (``scipy.stats.ttest_ind(equal_var=False)``, two-sided), whose
    interval uses the Welch–Satterthwaite degrees of freedom.

    Returns:
        ``{"diff": float, "ci95": [lo, hi], "p_value": float}``; the interval and p-value are NaN
        when either sample has fewer than two values.
    """
    x, y = _vec(a, "a"), _vec(b, "b")
    diff = float(x.mean() - y.mean()) if x.size and y.size else _NAN
    if x.size < 2 or y.size < 2:
        return {"diff": diff, "ci95": [_NAN, _NAN], "p_value": _NAN}
    res = _st.ttest_ind(x, y, equal_var=False)
    ci = res.confidence_interval(0.95)
    return {"diff": diff, "ci95": [float(ci.low), float(ci.high)], "p_value": float(res.pvalue)}


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values for a family of tests (family-wise error control).

    The k-th smallest of m p-values is multiplied by m - k + 1, the results are made non-decreasing
    in that order and capped at 1; an adjusted value below 0.05 rejects at family-wise level 0.05.
    NaN p-values (undefined tests) stay NaN and do not count towards m.

    Args:
        p_values: the raw p-values, in any order.

    Returns:
        The adjusted p-values, in the order given.
    """
    p = np.asarray([float(v) for v in p_values], dtype=float)
    out = np.full(p.shape, _NAN)
    idx = np.flatnonzero(~np.isnan(p))
    m = idx.size
    running = 0.0
    for k, i in enumerate(idx[np.argsort(p[idx], kind="stable")]):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return [float(v) for v in out]


def kendall_p_method(x: Sequence[float], y: Sequence[float]) -> str:
    """Which p-value :func:`kendall` gives for these data: ``"exact"`` or ``"asymptotic"``.

    scipy's rule (``method="auto"``): exact when neither ``x`` nor ``y`` has ties and ``n <= 33``
    (or at most one pair is discordant), else the normal approximation with the tie correction.
    """
    a, b = _pair(x, y)
    ties = np.unique(a).size < a.size or np.unique(b).size < b.size
    if ties:
        return "asymptotic"
    n = a.size
    if n <= 33:
        return "exact"
    i, j = np.triu_indices(n, 1)
    dis = int(np.sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) < 0))
    return "exact" if min(dis, i.size - dis) <= 1 else "asymptotic"


def kendall(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Kendall's tau-b and its two-sided p-value (``scipy.stats.kendalltau``, ``method="auto"``).

    The p-value is exact (the permutation distribution of tau) when there are no ties and
    ``n <= 33``, else asymptotic; :func:`kendall_p_method` says which. For ``n = 4`` and a perfect
    ranking ``tau = 1`` and ``p = 2/24`` (the identity and the reversal among 4! orders).

    Returns:
        ``(tau, p_value)``; NaN for fewer than two items or constant data.
    """
    a, b = _pair(x, y)
    if a.size < 2:
        return _NAN, _NAN
    res = _st.kendalltau(a, b)
    return float(res.statistic), float(res.pvalue)


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman's rho (Pearson correlation of average ranks) and its two-sided p-value
    (``scipy.stats.spearmanr``: t-distribution approximation).

    Returns:
        ``(rho, p_value)``; NaN for fewer than two items or constant data.
    """
    a, b = _pair(x, y)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return _NAN, _NAN
    res = _st.spearmanr(a, b)
    return float(res.statistic), float(res.pvalue)


def kendall_tau_b(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Kendall's tau-b along ``axis`` (vectorised; equals ``scipy.stats.kendalltau`` per row).

    ``sum sign(dx)·sign(dy) / sqrt(#pairs untied in x · #pairs untied in y)`` over all pairs;
    O(n²) memory per row, meant for the tens of items of an architecture sample. NaN where x or y
    is constant.
    """
    x, y = np.moveaxis(np.asarray(x, float), axis, -1), np.moveaxis(np.asarray(y, float), axis, -1)
    sx = np.sign(x[..., :, None] - x[..., None, :])
    sy = np.sign(y[..., :, None] - y[..., None, :])
    num = (sx * sy).sum(axis=(-2, -1))
    den = np.sqrt(np.abs(sx).sum(axis=(-2, -1)) * np.abs(sy).sum(axis=(-2, -1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def spearman_rho(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rho along ``axis`` (vectorised; average ranks for ties). NaN where x or y is constant."""
    rx = _st.rankdata(np.asarray(x, float), axis=axis)
    ry = _st.rankdata(np.asarray(y, float), axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=axis) * (ry * ry).sum(axis=axis))
    num = (rx * ry).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def bootstrap_ci(statistic: Callable[..., float], *paired_arrays: Sequence[float], n_boot: int = 2000,
                 seed: int = 0, vectorized: bool = False, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*paired_arrays)``, resampling rows jointly.

    Row ``i`` of every array stays together (``x[i]`` with ``y[i]``): for a correlation between two
    scores of the same architectures this resamples architectures. ``n_boot`` index vectors are
    drawn with ``numpy.random.default_rng(seed)``, so a seed gives the same interval every time.

    A seeded numpy loop rather than ``scipy.stats.bootstrap(paired=True)``: scipy's interval is NaN
    as soon as one resample's statistic is undefined, which happens for rank correlations of small
    samples (a resample of 4 items that repeats one item 4 times is constant), and unvectorised
    statistics cost scipy ~1 ms per resample. Here undefined (non-finite) resamples are dropped.

    Args:
        statistic: ``statistic(*arrays) -> float``; with ``vectorized=True`` it is called once as
            ``statistic(*arrays_2d, axis=-1)`` on ``n_boot × n`` arrays and returns ``n_boot`` values
            (e.g. :func:`kendall_tau_b`, :func:`spearman_rho`).
        *paired_arrays: One or more equally long 1-D arrays.
        n_boot: Number of resamples.
        seed: Seed of the resampling.
        vectorized: See ``statistic``.
        level: Coverage of the interval (0.95: the 2.5th and 97.5th percentiles).

    Returns:
        ``(lo, hi)``; ``(nan, nan)`` for fewer than two rows or when fewer than half of the
        resamples give a finite statistic.
    """
    if not paired_arrays:
        raise ValueError("bootstrap_ci needs at least one array")
    arrays = [_vec(a, "paired array") for a in paired_arrays]
    n = arrays[0].size
    if any(a.size != n for a in arrays):
        raise ValueError(f"bootstrap_ci: paired arrays must have equal lengths, got {[a.size for a in arrays]}")
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_ci: level must be in (0, 1), got {level!r}")
    if n < 2 or n_boot < 1:
        return _NAN, _NAN
    idx = np.random.default_rng(seed).integers(0, n, size=(int(n_boot), n))
    if vectorized:
        values = np.asarray(statistic(*(a[idx] for a in arrays), axis=-1), dtype=float).reshape(-1)
    else:
        values = np.array([statistic(*(a[i] for a in arrays)) for i in idx], dtype=float)
    return _percentile_interval(values, n_boot, level)


def topk_overlap(x: Sequence[float], y: Sequence[float], frac: float = 0.25) -> float:
    """Share of the top ``k = max(1, round(frac · n))`` items by ``x`` that are also top-k by ``y``.

    Higher values are better in both. Ties are broken by position (a stable sort), so tied scores
    at the boundary count as ranked in their given order. 1.0 = the same top set, ``k/n`` ≈ chance.
    """
    a, b = _pair(x, y)
    if not 0 < frac <= 1:
        raise ValueError(f"topk_overlap: frac must be in (0, 1], got {frac!r}")
    n = a.size
    if n == 0:
        return _NAN
    k = max(1, int(round(frac * n)))
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return len(top_a & top_b) / k


def kendall_exact(x: Sequence[float], y: Sequence[float], max_n: int = 9) -> tuple[float, float]:
    """Kendall's tau-b and its exact two-sided permutation p-value, also when there are ties.

    ``p`` is the share of the ``n!`` orderings of ``y`` against ``x`` whose ``|tau_b|`` is at least
    the observed one. Without ties this is scipy's exact p-value (``n = 4``, perfect order:
    ``2/24``); with ties it is exact conditional on both tie patterns (tied items stay tied in
    every ordering), where scipy falls back to the normal approximation. The smallest p-value
    ``n`` untied items can reach is ``2/n!``.

    Args:
        x, y: Equally long sequences.
        max_n: Refuse longer sequences (``n!`` orderings are enumerated; 9! = 362,880).

    Returns:
        ``(tau, p_value)``; NaN for fewer than two items or constant data.

    Raises:
        ValueError: more than ``max_n`` items.
    """
    a, b = _pair(x, y)
    n = a.size
    if n < 2:
        return _NAN, _NAN
    if n > max_n:
        raise ValueError(f"kendall_exact: {n} items is more than max_n={max_n} (n! orderings); use kendall()")
    tau = float(kendall_tau_b(a, b))
    if not math.isfinite(tau):
        return _NAN, _NAN
    perms = np.array(list(itertools.permutations(range(n))), dtype=np.intp)
    hits = 0
    for start in range(0, len(perms), 40320):
        block = perms[start:start + 40320]
        taus = kendall_tau_b(np.broadcast_to(a, block.shape), b[block])
        hits += int(np.sum(np.abs(taus) >= abs(tau) - 1e-12))
    return tau, hits / len(perms)


def group_bootstrap_ci(statistic: Callable[[np.ndarray], np.ndarray], groups: Sequence[Sequence[float]],
                       n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic of group means, resampling within each group.

    Each resample draws ``len(g)`` values with replacement from every group ``g`` independently
    (e.g. the seeds of each grid point), takes each group's mean, and evaluates ``statistic`` on
    the ``n_boot × k`` matrix of means (one row per resample, one column per group). A group of
    one value contributes that value every time (no variability), and a group of ``m`` values
    has at most ``C(2m-1, m)`` distinct resampled means (3 for ``m = 2``), so with few values per
    group the interval understates the uncertainty. Non-finite statistics are dropped.

    Args:
        statistic: Maps the ``n_boot × k`` means to ``n_boot`` values, e.g.
            ``lambda m: kendall_tau_b(m, np.broadcast_to(ref, m.shape))``.
        groups: ``k`` non-empty sequences.
        n_boot: Number of resamples.
        seed: Seed of ``numpy.random.default_rng`` (the same seed gives the same interval).
        level: Coverage of the interval.

    Returns:
        ``(lo, hi)``; ``(nan, nan)`` with no groups or fewer than half the resamples finite.

    Raises:
        ValueError: an empty group or a level outside (0, 1).
    """
    if not 0 < level < 1:
        raise ValueError(f"group_bootstrap_ci: level must be in (0, 1), got {level!r}")
    arrays = [_vec(g, "group") for g in groups]
    if any(g.size == 0 for g in arrays):
        raise ValueError("group_bootstrap_ci: every group needs at least one value")
    if not arrays or n_boot < 1:
        return _NAN, _NAN
    rng = np.random.default_rng(seed)
    means = np.stack([g[rng.integers(0, g.size, size=(int(n_boot), g.size))].mean(axis=1) for g in arrays], axis=1)
    values = np.asarray(statistic(means), dtype=float).reshape(-1)
    return _percentile_interval(values, n_boot, level)


def ols_ci95(design: Sequence[Sequence[float]], y: Sequence[float],
             names: Optional[Sequence[str]] = None) -> dict:
    """Ordinary least squares ``y ~ design`` with 95% Student-t intervals and two-sided p-values.

    ``coef = lstsq(X, y)``, ``cov = s² (XᵀX)⁻¹`` with ``s² = RSS / (n - p)`` and ``df = n - p``;
    the design needs its own intercept column. Example: ``X = [[1, x] ...]`` gives the slope of a
    straight line with the same interval and p-value as ``scipy.stats.linregress``.

    Args:
        design: ``n × p`` matrix (rows: observations).
        y: ``n`` responses.
        names: Names of the ``p`` columns (default ``b0``, ``b1``, ...).

    Returns:
        ``{"df": int, "coef": {name: {"estimate", "ci95": [lo, hi], "p_value"}}}``; intervals and
        p-values are NaN when ``df < 1`` or the design is rank-deficient (estimates then NaN too).
    """
    X = np.asarray(design, dtype=float)
    yy = _vec(y, "y")
    if X.ndim != 2 or X.shape[0] != yy.size:
        raise ValueError(f"ols_ci95: design must be n x p with n = len(y) = {yy.size}, got shape {X.shape}")
    n, p = X.shape
    names = list(names) if names is not None else [f"b{i}" for i in range(p)]
    if len(names) != p:
        raise ValueError(f"ols_ci95: {len(names)} names for {p} columns")
    df = n - p
    if n == 0 or np.linalg.matrix_rank(X) < p:
        return {"df": int(df), "coef": {k: {"estimate": _NAN, "ci95": [_NAN, _NAN], "p_value": _NAN} for k in names}}
    coef, *_ = np.linalg.lstsq(X, yy, rcond=None)
    out = {}
    if df >= 1:
        resid = yy - X @ coef
        s2 = float(resid @ resid) / df
        se = np.sqrt(np.diag(s2 * np.linalg.inv(X.T @ X)))
        t = float(_st.t.ppf(0.975, df))
    for i, k in enumerate(names):
        if df < 1:
            out[k] = {"estimate": float(coef[i]), "ci95": [_NAN, _NAN], "p_value": _NAN}
            continue
        half = t * float(se[i])
        with np.errstate(divide="ignore", invalid="ignore"):
            p_val = float(2 * _st.t.sf(abs(coef[i]) / se[i], df)) if se[i] > 0 else (0.0 if coef[i] != 0 else 1.0)
        out[k] = {"estimate": float(coef[i]), "ci95": [float(coef[i] - half), float(coef[i] + half)], "p_value": p_val}
    return {"df": int(df), "coef": out}


def _percentile_interval(values: np.ndarray, n_boot: int, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of the finite bootstrap ``values``; NaNs when
    fewer than half of the ``n_boot`` resamples gave a finite statistic."""
    values = values[np.isfinite(values)]
    if values.size < max(1, n_boot // 2):
        return _NAN, _NAN
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(values, [tail, 100.0 - tail])
    return float(lo), float(hi)
