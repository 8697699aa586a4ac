"""CKA between layers: Gram matrices, biased and unbiased HSIC, linear / RBF / unbiased and
minibatch CKA, and the layer×layer CKA matrix. All computations run in float64.

Degenerate inputs (no NaN is ever returned): if either representation is constant over the batch
(its centred Gram matrix is zero, so HSIC(X, X) = 0), CKA is defined as **0**, also for CKA(X, X)
of a constant X. The unbiased estimator can be slightly negative for unrelated representations;
it is returned as is (not clipped), and a non-positive HSIC(X, X) or HSIC(Y, Y) gives 0.

References: Kornblith et al., ICML 2019 (linear / RBF CKA); Song et al., JMLR 2012 (unbiased
HSIC); Nguyen, Raghu & Kornblith, ICLR 2021 (minibatch CKA from unbiased HSIC).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence, Union

import torch

from .similarity import _EPS

__all__ = ["gram_linear", "gram_rbf", "center_gram", "hsic_biased", "hsic_unbiased", "linear_cka", "rbf_cka",
           "unbiased_cka", "cka", "MinibatchCKA", "minibatch_cka", "cka_matrix"]


def _flat(x: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x).detach().to(torch.float64)
    if x.dim() == 1:
        x = x[:, None]
    return x.reshape(x.shape[0], -1)


def gram_linear(x: torch.Tensor) -> torch.Tensor:
    """n×n linear Gram matrix.

    Args:
        x: n samples, any trailing shape (flattened per sample).

    Returns:
        ``X Xᵀ`` (float64).
    """
    x = _flat(x)
    return x @ x.T


def gram_rbf(x: torch.Tensor, threshold: float = 1.0) -> torch.Tensor:
    """n×n RBF Gram matrix with bandwidth ``threshold`` × the median pairwise distance
    (Kornblith et al.: ``exp(-d² / (2 threshold² median(d²)))``). All-equal rows give all ones.

    Args:
        x: n samples, any trailing shape (flattened per sample).
        threshold: Bandwidth as a multiple of the median distance (> 0).

    Returns:
        The n×n Gram matrix (float64).
    """
    if threshold <= 0:
        raise ValueError(f"RBF threshold must be > 0, got {threshold}")
    x = _flat(x)
    sq = (x * x).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * x @ x.T).clamp_min(0.0)
    med = torch.quantile(d2.reshape(-1), 0.5)  # like np.median: mean of the middle two
    if med <= _EPS * max(1.0, float(sq.max())):
        # Median of all n² entries (zeros on the diagonal) can be 0 for tiny n; fall back to
        # the mean of the off-diagonal distances; all-equal rows → all-ones Gram.
        off = d2[~torch.eye(len(d2), dtype=torch.bool)]
        med = off.mean() if off.numel() else d2.new_tensor(0.0)
        if med <= _EPS * max(1.0, float(sq.max())):
            return torch.ones_like(d2)
    return torch.exp(-d2 / (2 * threshold ** 2 * med))


def center_gram(k: torch.Tensor) -> torch.Tensor:
    """Centre a Gram matrix: ``H K H`` with ``H = I - 11ᵀ/n``.

    Args:
        k: n×n Gram matrix.

    Returns:
        The centred matrix (float64).
    """
    k = k.to(torch.float64)
    k = k - k.mean(0, keepdim=True)
    return k - k.mean(1, keepdim=True)


def hsic_biased(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Biased HSIC up to a constant: ``tr(K H L H) / (n-1)²``.

    Args:
        k, l: n×n Gram matrices of the same samples.

    Returns:
        A 0-d tensor.
    """
    n = k.shape[0]
    return (center_gram(k) * center_gram(l)).sum() / (n - 1) ** 2


def hsic_unbiased(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC estimator (Song et al. 2012).

    Args:
        k, l: n×n Gram matrices of the same n > 3 samples (uncentred).

    Returns:
        A 0-d tensor (may be slightly negative for unrelated representations).
    """
    n = k.shape[0]
    if n <= 3:
        raise ValueError(f"unbiased HSIC/CKA needs a batch of more than 3 samples, got {n}")
    k = k.to(torch.float64).clone()
    l = l.to(torch.float64).clone()
    k.fill_diagonal_(0.0)
    l.fill_diagonal_(0.0)
    kl = k @ l
    one_k = k.sum()
    one_l = l.sum()
    term = torch.trace(kl) + one_k * one_l / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * kl.sum()
    return term / (n * (n - 3))


_REL_TOL = 1e-10


def _scale(k: torch.Tensor) -> float:
    """Size of an (uncentred) Gram matrix, to judge "HSIC(X, X) is zero" relative to it."""
    n = k.shape[0]
    return float((k.to(torch.float64) ** 2).sum()) / max(n - 1, 1) ** 2


def _ratio(xy: torch.Tensor, xx: torch.Tensor, yy: torch.Tensor, sx: float, sy: float) -> float:
    # A representation that is constant over the batch has HSIC(X, X) = 0 (up to rounding,
    # judged relative to its own Gram matrix): CKA with it is defined as 0.
    if float(xx) <= _REL_TOL * sx or float(yy) <= _REL_TOL * sy or float(xx) <= 0 or float(yy) <= 0:
        return 0.0
    return float(xy / torch.sqrt(xx * yy))


def _cka_from_grams(k: torch.Tensor, l: torch.Tensor, unbiased: bool) -> float:
    h = hsic_unbiased if unbiased else hsic_biased
    return _ratio(h(k, l), h(k, k), h(l, l), _scale(k), _scale(l))


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA between two representations of the same samples.

    Args:
        x, y: n×... representations (flattened per sample).

    Returns:
        CKA in [0, 1] (0 when either is constant over the batch).
    """
    _check_n(x, y)
    # ||YᵀX||_F² / (||XᵀX||_F ||YᵀY||_F), computed via n×n Grams (n is small).
    return _cka_from_grams(gram_linear(x), gram_linear(y), unbiased=False)


def rbf_cka(x: torch.Tensor, y: torch.Tensor, threshold: float = 1.0) -> float:
    """RBF-kernel CKA (bandwidth ``threshold`` × median distance, per representation).

    Args:
        x, y: n×... representations of the same samples.
        threshold: Bandwidth as a multiple of the median distance.

    Returns:
        CKA in [0, 1].
    """
    _check_n(x, y)
    return _cka_from_grams(gram_rbf(x, threshold), gram_rbf(y, threshold), unbiased=False)


def unbiased_cka(x: torch.Tensor, y: torch.Tensor, kernel: str = "linear", threshold: float = 1.0) -> float:
    """CKA from the unbiased HSIC estimator (debiased CKA).

    Args:
        x, y: n×... representations of the same n > 3 samples.
        kernel: ``"linear"`` or ``"rbf"``.
        threshold: RBF bandwidth as a multiple of the median distance.

    Returns:
        Debiased CKA (may be slightly negative; not clipped).
    """
    _check_n(x, y)
    g = _gram_fn(kernel, threshold)
    return _cka_from_grams(g(x), g(y), unbiased=True)


def cka(x: torch.Tensor, y: torch.Tensor, kind: str = "linear", threshold: float = 1.0) -> float:
    """CKA of one kind.

    Args:
        x, y: n×... representations of the same samples.
        kind: ``"linear"``, ``"rbf"`` or ``"unbiased"`` (unbiased linear).
        threshold: RBF bandwidth as a multiple of the median distance.

    Returns:
        The CKA value.
    """
    if kind == "linear":
        return linear_cka(x, y)
    if kind == "rbf":
        return rbf_cka(x, y, threshold)
    if kind == "unbiased":
        return unbiased_cka(x, y)
    raise ValueError(f"CKA kind must be 'linear', 'rbf' or 'unbiased', got {kind!r}")


def _gram_fn(kernel: str, threshold: float):
    if kernel == "linear":
        return gram_linear
    if kernel == "rbf":
        return lambda z: gram_rbf(z, threshold)
    raise ValueError(f"kernel must be 'linear' or 'rbf', got {kernel!r}")


def _check_n(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA compares the same samples: got {x.shape[0]} and {y.shape[0]} rows")
    if x.shape[0] < 2:
        raise ValueError("CKA needs at least 2 samples")


class MinibatchCKA:
    """Minibatch CKA (Nguyen et al. 2021): accumulate unbiased HSIC over batches, then
    ``CKA = mean HSIC(X,Y) / sqrt(mean HSIC(X,X) · mean HSIC(Y,Y))``. Memory stays at one batch.

    Example::

        acc = MinibatchCKA(["a", "b"])
        for batch in loader:
            acc.update({"a": fa(batch), "b": fb(batch)})
        acc.matrix()   # 2×2
    """

    def __init__(self, names: Sequence[str], kernel: str = "linear", threshold: float = 1.0) -> None:
        self.names = list(names)
        self._gram = _gram_fn(kernel, threshold)
        k = len(self.names)
        self._hsic = torch.zeros(k, k, dtype=torch.float64)
        self._scale = torch.zeros(k, dtype=torch.float64)
        self.batches = 0

    def update(self, feats: Union[Mapping[str, torch.Tensor], Sequence[torch.Tensor]]) -> None:
        """Add one batch.

        Args:
            feats: ``{name: representation}`` or one representation per name, in order; all of
                the batch's n > 3 samples.
        """
        if isinstance(feats, Mapping):
            missing = [n for n in self.names if n not in feats]
            if missing:
                raise ValueError(f"minibatch CKA update lacks {', '.join(missing)}")
            feats = [feats[n] for n in self.names]
        if len(feats) != len(self.names):
            raise ValueError(f"expected {len(self.names)} representations, got {len(feats)}")
        grams = [self._gram(f) for f in feats]
        n = grams[0].shape[0]
        if any(g.shape[0] != n for g in grams):
            raise ValueError("all representations in a batch must have the same number of samples")
        for i in range(len(grams)):
            self._scale[i] += _scale(grams[i])
            for j in range(i, len(grams)):
                h = hsic_unbiased(grams[i], grams[j])
                self._hsic[i, j] += h
                if i != j:
                    self._hsic[j, i] += h
        self.batches += 1

    def matrix(self) -> torch.Tensor:
        """The CKA matrix over the batches seen so far.

        Returns:
            k×k matrix (float64), in the order of ``names``.
        """
        if not self.batches:
            raise ValueError("minibatch CKA: no batch seen")
        h = self._hsic / self.batches
        sc = self._scale / self.batches
        k = len(self.names)
        out = torch.zeros(k, k, dtype=torch.float64)
        for i in range(k):
            for j in range(k):
                out[i, j] = _ratio(h[i, j], h[i, i], h[j, j], float(sc[i]), float(sc[j]))
        return out


def minibatch_cka(x_batches: Iterable[torch.Tensor], y_batches: Iterable[torch.Tensor],
                  kernel: str = "linear") -> float:
    """Minibatch CKA between two representations given as aligned iterables of batches.

    Args:
        x_batches, y_batches: Batches of the two representations (same samples per batch).
        kernel: ``"linear"`` or ``"rbf"``.

    Returns:
        The minibatch CKA.
    """
    acc = MinibatchCKA(["x", "y"], kernel)
    for xb, yb in zip(x_batches, y_batches):
        acc.update([xb, yb])
    return float(acc.matrix()[0, 1])


def cka_matrix(feats: Mapping[str, torch.Tensor], kind: str = "linear", threshold: float = 1.0) -> torch.Tensor:
    """Layer×layer CKA matrix (float64) over one batch, in the mapping's order.

    Args:
        feats: ``{layer: representation}``; layers may have different shapes (each sample is
            flattened) but must see the same samples.
        kind: As in :func:`cka`.
        threshold: RBF bandwidth as a multiple of the median distance.

    Returns:
        The k×k matrix.
    """
    names = list(feats)
    if kind in ("linear", "unbiased"):
        raw = [gram_linear(feats[n]) for n in names]
    elif kind == "rbf":
        raw = [gram_rbf(feats[n], threshold) for n in names]
    else:
        raise ValueError(f"CKA kind must be 'linear', 'rbf' or 'unbiased', got {kind!r}")
    scales = [_scale(g) for g in raw]
    grams = raw if kind == "unbiased" else [center_gram(g) for g in raw]
    ns = {g.shape[0] for g in grams}
    if len(ns) > 1:
        raise ValueError(f"all layers must see the same samples; got batch sizes {sorted(ns)}")
    k = len(names)
    h = torch.zeros(k, k, dtype=torch.float64)
    for i in range(k):
        for j in range(i, k):
            if kind == "unbiased":
                h[i, j] = h[j, i] = hsic_unbiased(grams[i], grams[j])
            else:
                h[i, j] = h[j, i] = (grams[i] * grams[j]).sum() / (grams[i].shape[0] - 1) ** 2
    out = torch.zeros(k, k, dtype=torch.float64)
    for i in range(k):
        for j in range(k):
            out[i, j] = _ratio(h[i, j], h[i, i], h[j, j], scales[i], scales[j])
    return out
