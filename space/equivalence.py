"""What a :class:`~ghostnas.space.SearchSpace` really contains: equivalent choices (merged), the
number of distinct architectures, and its costliest architecture.

* :func:`merge_equivalent`: two choices of a ``ghostnet`` stage axis are equivalent when they build
  the same block rows at every depth choice of the stage (e.g. ``se_ratio`` ``"table"`` and ``0``
  in a stage whose rows have no SE). A stage axis only sets its own field of the stage's rows
  (kernel, exp, out, SE ratio, s, d), so comparing the rows with the other axes at their defaults
  decides it for every point. The default (else the first) choice is kept; the others become
  aliases, which build the same config and so the same architecture id.
* :func:`distinct_count`: the cardinality (``docs/spaces.md``).
* :func:`costliest`: the largest analytic MACs / params (the hypervolume reference default).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

from .spec import STAGE_AXES, Axis

if TYPE_CHECKING:
    from .space import SearchSpace

__all__ = ["merge_equivalent", "distinct_count", "costliest", "COST_METRICS"]

COST_METRICS = ("macs", "params")


def _stage_rows(space: SearchSpace, i: int, name: str, value: Any, depth: int) -> tuple:
    """The block rows of stage ``i`` at ``depth`` with axis ``name`` at ``value``, the rest default."""
    p = dict(space._default)
    p[name] = value
    p[f"stage{i}.depth"] = depth
    return tuple(space._row(p, f"stage{i}", space.stages[i], b) for b in range(depth))


def merge_equivalent(space: SearchSpace, merge: bool = True) -> None:
    """Merge equivalent choices of every stage axis (module docs), in place.

    Sets ``space._aliases`` (``{axis: {dropped: kept}}``) and ``space._n_distinct`` (distinct rows
    per (axis, depth), for :func:`distinct_count`) and replaces merged axes by ones whose
    ``merged`` / ``original`` say what was merged. ``merge=False`` only counts.
    """
    space._aliases = {}
    space._n_distinct = {}
    if space.family != "ghostnet":
        return
    for i, st in enumerate(space.stages):
        depths = st["axes"]["depth"]
        for kind in STAGE_AXES:
            if kind == "depth" or kind in st["per_block"]:
                continue
            name = f"stage{i}.{kind}"
            axis = space._axis[name]
            groups: dict[tuple, list[int]] = {}
            for j, v in enumerate(axis.choices):
                groups.setdefault(tuple(_stage_rows(space, i, name, v, d) for d in depths), []).append(j)
            dflt = next(j for j, v in enumerate(axis.choices) if v == space._default[name])
            keep, merged = set(), []
            for members in groups.values():
                rep = dflt if dflt in members else members[0]
                keep.add(rep)
                merged += [(axis.choices[j], axis.choices[rep]) for j in members if j != rep]
            kept = tuple(v for j, v in enumerate(axis.choices) if j in keep)
            for d in depths:
                space._n_distinct[(name, d)] = len({_stage_rows(space, i, name, v, d) for v in kept})
            if merged and merge:
                space._aliases[name] = dict(merged)
                space._axis[name] = Axis(name, kept, tuple(merged), axis.choices)
    space.axes = [space._axis[a.name] for a in space.axes]


def distinct_count(space: SearchSpace) -> int:
    """Distinct architectures (model config + resolution) of ``space``.

    ``cifar``: the product of the axes' choice counts. ``ghostnet``: the product of the ``width``
    and ``resolution`` choice counts and, per stage, the sum over its depth choices ``d`` of
    (distinct rows each stage axis gives at depth ``d``, multiplied) x (choices of each per-block
    axis)^d -- per-block axes past a stage's depth are not counted, equivalent choices count once.
    """
    if space.family != "ghostnet":
        return math.prod(len(a.choices) for a in space.axes)
    n = len(space._axis["width"].choices) * len(space._axis["resolution"].choices)
    for i, st in enumerate(space.stages):
        total = 0
        for d in st["axes"]["depth"]:
            k = 1
            for kind in STAGE_AXES:
                if kind != "depth" and kind not in st["per_block"]:
                    k *= space._n_distinct[(f"stage{i}.{kind}", d)]
            for kind in st["per_block"]:
                k *= len(space._axis[f"stage{i}.block0.{kind}"].choices) ** d
            total += k
        n *= total
    return n


def costliest(space: SearchSpace, metric: str) -> tuple[int, dict]:
    """The largest analytic ``metric`` of ``space`` and a point that has it, by a fixed search.

    Start from the costliest corner (every axis at its largest choice: width, resolution, ``d``,
    numeric kernels and SE ratios, multipliers, depth), then, one axis at a time, give each ``s``
    axis and each axis with a ``"table"`` choice the choice that costs most. For a ``cifar`` space
    that is exact: channel counts do not depend on ``s`` or ``d``, so the cost is a sum of
    per-layer terms, each maximised on its own (``s`` is not monotone: with a large ``d`` a larger
    ``s`` can cost more). For a ``ghostnet`` space, width, ``out_mult``, depth and kernel also
    interact through the shortcuts (a stage narrower than the next gets a costly projection
    shortcut), so those axes join a coordinate ascent that repeats until no single change costs
    more: a deterministic local maximum, checked against brute force on small spaces by the tests.
    """
    from .counts import analytic_counts

    if metric not in COST_METRICS:
        raise ValueError(f"space {space.name}: no analytic maximum for {metric!r}; choose from "
                         f"{', '.join(COST_METRICS)}")

    def cost(params: Mapping[str, Any]) -> int:
        return int(getattr(analytic_counts(space.config_from_params(params)), metric))

    p, per_block, coupled = {}, [], []
    for a in space.axes:
        numeric = [v for v in a.choices if v != "table"]
        p[a.name] = max(numeric) if numeric else a.choices[0]
        kind = a.name.split(".")[-1]
        if a.fixed:
            continue
        if kind == "ratio" or len(numeric) < len(a.choices):
            per_block.append(a)
        if space.family == "ghostnet" and kind in ("width", "out_mult", "depth", "kernel"):
            coupled.append(a)
    best = cost(p)
    for _ in range(8):
        changed = False
        for a in per_block + coupled:
            for v in a.choices:
                if v != p[a.name]:
                    c = cost({**p, a.name: v})
                    if c > best:
                        p, best, changed = {**p, a.name: v}, c, True
        if not changed or not coupled:
            break
    return best, p
