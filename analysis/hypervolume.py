"""Hypervolume of a ghostnas study's feasible trained trials against a *fixed* reference point.

**Reference point** (:func:`reference_point`), per objective, first that applies:

1. an explicit value (``ghostnas pareto --reference macs=2e6``);
2. the study config's ``[pareto] reference = {macs = 2e6, accuracy = 0.0}``;
3. for a cost, the study's constraint (``macs_max``, ``params_max``, ``latency_ms_max``);
   for accuracy, 0 (the worst possible value);
4. for MACs / params, the search space's maximum
   (:meth:`ghostnas.space.SearchSpace.max_cost`, analytic, from the stored space spec);
   for latency there is no such default: :func:`reference_point` refuses and asks for
   ``[pareto] reference``.

None of these depends on the trials, so the hypervolume of a study does not change meaning as the
study grows, and two studies with the same reference compare. Every hypervolume is reported with
its reference and where each value came from (:class:`Reference`).

**Normalisation**: accuracy enters as ``(1 - accuracy) / (1 - reference)`` and a cost as
``cost / reference``, all minimised, reference point (1, ..., 1). The hypervolume is the dominated
fraction of the box [reference accuracy, 1] x [0, reference cost] ...: a number in [0, 1]
whatever the units. Only feasible trained trials (:func:`~ghostnas.analysis.fronts.trained_mask`)
add volume; one outside the box (worse than the reference in some objective) adds none and is
listed by :func:`outside_reference`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from .fronts import front_indices, trained_mask

__all__ = ["Reference", "hypervolume", "reference_point", "hypervolume_history", "reference_text",
           "outside_reference", "parse_reference", "CONSTRAINT_OF", "HV_DEFINITION"]

#: The constraint that gives a cost objective's reference.
CONSTRAINT_OF = {"macs": "macs_max", "params": "params_max", "latency": "latency_ms_max",
                 "latency_pred": "latency_pred_ms_max"}

HV_DEFINITION = ("fraction of the box [reference accuracy, 1] x [0, reference cost] (per cost objective) dominated "
                 "by the feasible trained trials; accuracy as (1 - accuracy) / (1 - reference), costs divided by "
                 "their reference; the reference is fixed (explicit, [pareto] reference, constraints, or the "
                 "search space's maximum), never taken from the trials")

_UNITS = {"macs": "MACs", "params": "parameters", "latency": "ms"}


@dataclass(frozen=True)
class Reference:
    """A hypervolume reference point and where each value came from.

    Attributes:
        values: ``{objective: value}`` in the objective's own units (accuracy as a fraction).
        sources: ``{objective: source}``, e.g. ``"[pareto] reference"``, ``"constraint macs_max"``.
    """

    values: dict[str, float]
    sources: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    def text(self) -> str:
        """``accuracy 0 (default), macs 1.61M (space maximum ...)``."""
        return reference_text(self.values, self.sources)

    def to_dict(self) -> dict:
        """``{"values": ..., "sources": ...}`` (analysis.json)."""
        return {"values": dict(self.values), "sources": dict(self.sources)}


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
            reference (on or beyond it in some objective) add nothing.
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


# ---------------------------------------------------------------------------------------------
# the reference point


def _checked(o: str, v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise ValueError(f"{where}: reference for {o} must be a number, got {v!r}")
    v = float(v)
    if o == "accuracy" and not 0.0 <= v < 1.0:
        raise ValueError(f"{where}: reference accuracy must be in [0, 1) (a fraction), got {v!r}")
    if o != "accuracy" and v <= 0:
        raise ValueError(f"{where}: reference for {o} must be > 0, got {v!r}")
    return v


def parse_reference(items: Sequence[str]) -> dict[str, float]:
    """``["macs=2e6", "accuracy=0"]`` or ``["macs=2e6,accuracy=0"]`` as ``{"macs": 2e6, "accuracy": 0.0}``.

    Raises:
        ValueError: an item that is not ``OBJECTIVE=NUMBER``.
    """
    out: dict[str, float] = {}
    for item in items or ():
        for part in str(item).split(","):
            key, sep, val = part.partition("=")
            key = key.strip()
            try:
                num = float(val)
            except ValueError:
                num = None
            if not sep or not key or num is None:
                raise ValueError(f"--reference {part!r}: expected OBJECTIVE=NUMBER, e.g. macs=2e6 or accuracy=0")
            out[key] = num
    return out


def _space_max(o: str, config: Mapping[str, Any], num_classes: Optional[int]) -> tuple[float, str]:
    """The space's analytic maximum of ``o`` (macs / params) from the stored space spec."""
    from ghostnas.space import SearchSpace

    spec = config.get("space")
    if not isinstance(spec, Mapping):
        raise ValueError(f"no fixed hypervolume reference for {o}: the study records no search space to take its "
                         f"maximum from and has no {CONSTRAINT_OF[o]} constraint; add [pareto] reference = "
                         f"{{{o} = ...}} to the study config, or pass --reference {o}=VALUE")
    try:
        space = SearchSpace(dict(spec), num_classes)
        value = space.max_cost(o)
    except ValueError as e:
        raise ValueError(f"no fixed hypervolume reference for {o}: the stored search space does not load ({e}); "
                         f"add [pareto] reference = {{{o} = ...}} to the study config, or pass "
                         f"--reference {o}=VALUE") from None
    return float(value), f"space maximum ({space.name}, {num_classes or space.num_classes} classes)"


def reference_point(objectives: Sequence[str], config: Optional[Mapping[str, Any]] = None, *,
                    override: Optional[Mapping[str, float]] = None,
                    num_classes: Optional[int] = None) -> Reference:
    """The fixed hypervolume reference point of a study (module docs for the order of sources).

    Args:
        objectives: The study's objectives (``accuracy``, ``macs``, ``params``, ``latency``).
        config: The stored ghostnas study config (``study.user_attrs["ghostnas_config"]``).
        override: Explicit values that take precedence (``--reference``).
        num_classes: Classes of the study's data (for the space's maximum params / MACs);
            default: the space spec's ``num_classes``.

    Returns:
        The :class:`Reference`.

    Raises:
        ValueError: a bad explicit value, or an objective without a fixed reference (latency
            without ``[pareto] reference`` or ``latency_ms_max``; a study without a stored space).
    """
    config = dict(config or {})
    override = dict(override or {})
    unknown = sorted(set(override) - set(objectives))
    if unknown:
        raise ValueError(f"--reference names {', '.join(unknown)}, not an objective of the study "
                         f"({', '.join(objectives)})")
    pareto = config.get("pareto") or {}
    explicit = dict(pareto.get("reference") or {}) if isinstance(pareto, Mapping) else {}
    constraints = config.get("constraints") or {}
    values, sources = {}, {}
    for o in objectives:
        if o in override:
            values[o], sources[o] = _checked(o, override[o], "--reference"), "--reference"
        elif o in explicit:
            values[o], sources[o] = _checked(o, explicit[o], "[pareto] reference"), "[pareto] reference"
        elif o == "accuracy":
            values[o], sources[o] = 0.0, "default: the worst possible"
        elif o in CONSTRAINT_OF and constraints.get(CONSTRAINT_OF[o]) is not None:
            c = CONSTRAINT_OF[o]
            values[o], sources[o] = _checked(o, constraints[c], f"[constraints] {c}"), f"constraint {c}"
        elif o in ("macs", "params"):
            values[o], sources[o] = _space_max(o, config, num_classes)
        elif o in ("latency", "latency_pred"):
            raise ValueError(f"no fixed hypervolume reference for {o}: latency is measured (or predicted), so no "
                             "analytic maximum exists and one taken from the trials would change as the study grows; "
                             f"add [pareto] reference = {{{o} = MS}} (or [constraints] {CONSTRAINT_OF[o]}) to the "
                             f"study config, or pass --reference {o}=MS")
        else:
            raise ValueError(f"no fixed hypervolume reference for objective {o!r}; pass --reference {o}=VALUE")
    return Reference(values, sources)


def reference_text(ref: Mapping[str, float], sources: Optional[Mapping[str, str]] = None) -> str:
    """A reference point as text: ``accuracy 0, macs 2.53M (constraint macs_max), latency 4.1 ms``.

    Args:
        ref: ``{objective: value}`` (or a :class:`Reference`).
        sources: Where each value came from (added in brackets).

    Returns:
        One comma-separated line.
    """
    if isinstance(ref, Reference):
        ref, sources = ref.values, sources or ref.sources
    sources = sources or {}
    parts = []
    for o, v in ref.items():
        if o in ("macs", "params"):
            txt = f"{o} {v / 1e6:.4g}M"
        elif o in ("latency", "latency_pred"):
            txt = f"{o} {v:.4g} ms"
        else:
            txt = f"{o} {v:.4g}"
        parts.append(txt + (f" ({sources[o]})" if o in sources else ""))
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# history


def _values(reference: Any) -> dict[str, float]:
    return dict(reference.values) if isinstance(reference, Reference) else dict(reference)


def _loss(o: str, d: str, val: float, ref: float) -> float:
    """One objective of one trial, normalised and minimised (module docs)."""
    if d == "maximize":
        return (1.0 - val) / (1.0 - ref) if o == "accuracy" else -(val - ref)
    return val / ref


def _hv_trials(frame: Any, objectives: Sequence[str]) -> Any:
    df = frame[trained_mask(frame) & frame["feasible"].astype(bool)]
    for o in objectives:
        df = df[df[o].notna()]
        df = df[df[o].map(lambda v: math.isfinite(float(v)))]
    return df.sort_values("number")


def _loss_rows(df: Any, objectives: Sequence[str], directions: Sequence[str],
               ref: Mapping[str, float]) -> list[list[float]]:
    return [[_loss(o, d, float(r[o]), ref[o]) for o, d in zip(objectives, directions)] for _, r in df.iterrows()]


def _unit_reference(objectives: Sequence[str], directions: Sequence[str], ref: Mapping[str, float]) -> list[float]:
    # accuracy and costs normalise to reference 1; another maximised objective keeps -(v - ref) -> 0
    return [1.0 if (d == "minimize" or o == "accuracy") else 0.0 for o, d in zip(objectives, directions)]


def hypervolume_history(frame: Any, objectives: Sequence[str], directions: Sequence[str],
                        reference: Any) -> tuple[list[int], list[float], Any]:
    """The normalised hypervolume after each feasible trained trial, in trial order.

    Args:
        frame: :func:`ghostnas.search.readers.trials_frame` output.
        objectives: Objective names (columns of ``frame``).
        directions: ``"maximize"`` / ``"minimize"`` per objective.
        reference: The fixed reference (:func:`reference_point`; a :class:`Reference` or a dict).

    Returns:
        ``(trial numbers, hypervolume after each, the reference as given)``.
    """
    if reference is None:
        raise ValueError("hypervolume_history needs a fixed reference point (reference_point(...))")
    ref = _values(reference)
    df = _hv_trials(frame, objectives)
    rows = _loss_rows(df, objectives, directions, ref)
    unit = _unit_reference(objectives, directions, ref)
    numbers, hv, front = [], [], []
    for n, p in zip(df["number"], rows):
        if not any(all(a <= b for a, b in zip(q, p)) for q in front):  # not (weakly) dominated: new volume
            front = [q for q in front if not all(a <= b for a, b in zip(p, q))] + [p]
        numbers.append(int(n))
        hv.append(hypervolume(front, unit))
    return numbers, hv, reference


def outside_reference(frame: Any, objectives: Sequence[str], directions: Sequence[str], reference: Any) -> list[int]:
    """Feasible trained trials on or beyond the reference in some objective (they add no volume).

    Args:
        frame, objectives, directions, reference: as for :func:`hypervolume_history`.

    Returns:
        Their trial numbers, ascending.
    """
    ref = _values(reference)
    df = _hv_trials(frame, objectives)
    unit = _unit_reference(objectives, directions, ref)
    return [int(n) for n, p in zip(df["number"], _loss_rows(df, objectives, directions, ref))
            if not all(a < u for a, u in zip(p, unit))]
