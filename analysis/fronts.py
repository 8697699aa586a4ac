"""Pareto fronts of a ghostnas study: which trials count, objective senses, non-dominated sorting,
and the trial table.

**Which trials count.** Fronts, hypervolume and importances use *trained* trials
(:func:`trained_mask`): state COMPLETE, not rejected by the analytic budget (those were never
trained; their accuracy of 0 is a placeholder) and not a reuse of an earlier trial's architecture
(same values twice). Feasibility comes from the trial's Optuna constraints (all values <= 0).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

__all__ = ["AXES", "OBJECTIVE_SENSES", "study_objectives", "study_directions", "objective_direction",
           "check_senses", "trained_mask", "front_indices", "front_2d", "pareto_rows", "markdown_table",
           "trial_table_rows"]

# How each objective is shown: label, column in trials_frame, scale for the axis.
AXES: dict[str, tuple[str, str, float]] = {
    "macs": ("MACs (M)", "macs", 1e-6), "params": ("parameters (M)", "params", 1e-6),
    "latency": ("latency (ms)", "latency_ms", 1.0), "accuracy": ("validation accuracy", "accuracy", 1.0)}

#: The sense of every ghostnas objective (a study that says otherwise was not made by ghostnas).
OBJECTIVE_SENSES = {"accuracy": "maximize", "macs": "minimize", "params": "minimize", "latency": "minimize",
                    "latency_pred": "minimize"}


# ---------------------------------------------------------------------------------------------
# objectives


def study_objectives(study: Any) -> list[str]:
    """The study's objective names.

    Args:
        study: An Optuna study.

    Returns:
        ``user_attrs["objectives"]``, else the study's metric names, else ``value_0``, ``value_1``...
    """
    objs = study.user_attrs.get("objectives") or getattr(study, "metric_names", None)
    return list(objs) if objs else [f"value_{i}" for i in range(len(study.directions))]


def objective_direction(direction: Any) -> str:
    """``"maximize"`` or ``"minimize"`` for an Optuna ``StudyDirection`` (or its name).

    Args:
        direction: A ``StudyDirection`` or a string such as ``"MAXIMIZE"``.

    Returns:
        ``"maximize"`` or ``"minimize"``.
    """
    name = getattr(direction, "name", str(direction))  # StudyDirection is an IntEnum: str() gives "2" on 3.11
    return "maximize" if "MAXIMIZE" in name.upper() else "minimize"


def study_directions(study: Any) -> list[str]:
    """The study's directions as ``"maximize"`` / ``"minimize"``, one per objective.

    Args:
        study: An Optuna study.

    Returns:
        One direction per objective, in objective order.
    """
    return [objective_direction(d) for d in study.directions]


def check_senses(objectives: Sequence[str], directions: Sequence[str]) -> None:
    """Refuse a study whose directions contradict the objectives' senses (:data:`OBJECTIVE_SENSES`).

    Args:
        objectives: Objective names.
        directions: ``"maximize"`` / ``"minimize"`` per objective.

    Raises:
        ValueError: a known objective optimised the wrong way, or a count mismatch.
    """
    if len(objectives) != len(directions):
        raise ValueError(f"{len(objectives)} objective name(s) {list(objectives)} for {len(directions)} "
                         "direction(s); the study's 'objectives' attribute does not match it")
    for o, d in zip(objectives, directions):
        want = OBJECTIVE_SENSES.get(o)
        if want is not None and d != want:
            raise ValueError(f"objective {o} is set to {d} in the study; ghostnas always {want}s {o}, so its fronts "
                             "and hypervolume would be wrong")


# ---------------------------------------------------------------------------------------------
# fronts


def trained_mask(frame: Any) -> Any:
    """Rows of a trials frame that were really trained: COMPLETE, not rejected, not reused.

    Args:
        frame: :func:`ghostnas.search.readers.trials_frame` output.

    Returns:
        A boolean Series aligned with ``frame``.
    """
    m = frame["state"] == "COMPLETE"
    if "rejected" in frame:
        m &= frame["rejected"].isna()
    if "reused_from" in frame:
        m &= frame["reused_from"].isna()
    return m


def front_indices(loss: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated rows of ``loss`` (every column minimised).

    Args:
        loss: One row of objective values per point.

    Returns:
        The indices of the rows no other row dominates, in input order.
    """
    out = []
    for i, p in enumerate(loss):
        dominated = any(all(a <= b for a, b in zip(q, p)) and any(a < b for a, b in zip(q, p))
                        for j, q in enumerate(loss) if j != i)
        if not dominated:
            out.append(i)
    return out


def front_2d(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated for (minimise x, maximise y).

    Args:
        points: ``(x, y)`` pairs, e.g. (MACs, accuracy).

    Returns:
        The non-dominated indices, sorted by x.
    """
    out = []
    for i, (x, y) in enumerate(points):
        if not any((x2 <= x and y2 >= y) and (x2 < x or y2 > y) for j, (x2, y2) in enumerate(points) if j != i):
            out.append(i)
    return sorted(out, key=lambda i: points[i][0])


def pareto_rows(front: Sequence[Any], objectives: Sequence[str]) -> list[dict]:
    """One row per Pareto-optimal trial: number, objective values, costs, architecture, parameters.

    Args:
        front: Frozen trials, e.g. :func:`ghostnas.search.readers.pareto_trials` output.
        objectives: The study's objective names (in the order of ``trial.values``).

    Returns:
        ``{"number", <objective>..., "macs", "params", "latency_ms", "latency_noisy", "arch_id",
        "params_suggested"}``
        per trial.
    """
    return [{"number": t.number, **{o: t.values[i] for i, o in enumerate(objectives)},
             "macs": t.user_attrs.get("macs"), "params": t.user_attrs.get("params"),
             "latency_ms": t.user_attrs.get("latency_ms"), "latency_noisy": _noisy(t.user_attrs),
             "arch_id": t.user_attrs.get("arch_id"), "params_suggested": dict(t.params)} for t in front]


def _noisy(ua: dict) -> Any:
    """The trial's latency ``noisy`` flag (still noisy after re-measuring), None without a measured latency."""
    lat = ua.get("latency")
    return bool(lat["noisy"]) if isinstance(lat, dict) and "noisy" in lat else None


# ---------------------------------------------------------------------------------------------
# the trial table


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _cell(v: Any) -> str:
    if _missing(v):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """A GitHub-markdown table of ``rows`` restricted to ``columns``.

    Args:
        rows: One dict per row; missing keys and NaN give empty cells, floats 4 significant digits.
        columns: Column names, in order.

    Returns:
        The table, ending with a newline.
    """
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _trial_note(r: Any) -> str:
    note = []
    for k, label in (("rejected", "rejected: "), ("reused_from", "reuses #"), ("fail_reason", "")):
        v = r.get(k)
        if not _missing(v):
            note.append(f"{label}{int(v) if k == 'reused_from' else v}")
    return "; ".join(note)


def _table_row(r: Any, cols: Sequence[str], objectives: Sequence[str], pareto: set[int]) -> dict:
    d = {c: (None if c not in r else r[c]) for c in cols}
    d["number"] = int(r["number"])
    for c in ("macs", "params"):
        if c in d and not _missing(d[c]):
            d[c] = int(d[c])
    d["pareto"] = "yes" if int(r["number"]) in pareto else ""
    d["note"] = _trial_note(r)
    if r["state"] == "COMPLETE" and r.get("rejected") is not None and not isinstance(r.get("rejected"), float):
        for o in objectives:  # placeholder values of never-trained trials are not results
            if o not in ("macs", "params"):
                d[o] = None
    return d


def trial_table_rows(frame: Any, objectives: Sequence[str], pareto: set[int]) -> tuple[list[dict], list[str]]:
    """The rows and columns of the trial table (``trials.md``, the report's "All trials").

    Args:
        frame: :func:`ghostnas.search.readers.trials_frame` output.
        objectives: The study's objective names.
        pareto: Numbers of the Pareto-optimal trials (marked ``yes``).

    Returns:
        ``(rows, columns)``: one dict per trial, by trial number; placeholder objective values of
        trials rejected before training are blanked, and a ``note`` column says why.
    """
    cols = ["number", "state", *objectives]
    cols += [c for c in ("macs", "params", "latency_ms") if c not in cols and c in frame and frame[c].notna().any()]
    if "latency_noisy" in frame and frame["latency_noisy"].eq(True).any():
        cols.append("latency_noisy")
    cols += ["feasible", "pareto", "arch_id", "note"]
    rows = [_table_row(r, cols, objectives, pareto) for _, r in frame.sort_values("number").iterrows()]
    return rows, cols
