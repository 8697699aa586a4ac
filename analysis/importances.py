"""Parameter importances of a ghostnas study, with their spread.

Optuna's fANOVA evaluator on the trained feasible trials, once per objective (``target=`` the
objective's value), repeated on ``repeats`` bootstrap resamples of those trials (resample ``k``
drawn with a seeded RNG, fANOVA seed ``k``, a forest of :data:`TREES_PER_RESAMPLE` trees): each
parameter's importance is the **mean ± sd** over the resamples, so the spread shows both the
forest's randomness and how much the trials at hand support the ranking. Each resample's shares
sum to 1, so the means do too. Five 16-tree forests cost less than one of Optuna's default 64 trees.

* Fewer than :data:`MIN_IMPORTANCE_TRIALS` trained feasible trials, no varying parameter, or a
  constant objective: no importance, a note says why.
* Fewer than :data:`IMPORTANCE_WARN_TRIALS`: importances are computed but carry a ``warning``;
  the figure then shows the warning instead of a bar chart (numbers in the tables only).
"""
from __future__ import annotations

import json
import math
import random
import statistics
import warnings
from typing import Any, Optional, Sequence

from .fronts import study_objectives

__all__ = ["MIN_IMPORTANCE_TRIALS", "IMPORTANCE_WARN_TRIALS", "IMPORTANCE_REPEATS", "TREES_PER_RESAMPLE",
           "param_importances", "importance_text"]

#: Below this many trained feasible trials no importance is computed.
MIN_IMPORTANCE_TRIALS = 5
#: Below this many, importances are computed with a warning and never charted.
IMPORTANCE_WARN_TRIALS = 20
#: Bootstrap resamples (fANOVA runs) per objective.
IMPORTANCE_REPEATS = 5
#: Trees of each resample's fANOVA forest.
TREES_PER_RESAMPLE = 16


def _trained_feasible(study: Any) -> list[Any]:
    """COMPLETE trials that were trained (not rejected, not reused), feasible, with finite values."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if not t.user_attrs.get("rejected") and t.user_attrs.get("reused_from") is None
            and all(v <= 0 for v in t.constraints.values()) and t.values is not None
            and all(math.isfinite(v) for v in t.values)]


def _varying_params(trials: Sequence[Any]) -> set[str]:
    return {k for k in set().union(*(t.params for t in trials))
            if len({json.dumps(t.params.get(k), default=str) for t in trials}) > 1}


def _in_memory_copy(study: Any, trials: Sequence[Any]) -> Any:
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created in memory" line
    try:
        copy = optuna.create_study(directions=list(study.directions), storage=optuna.storages.InMemoryStorage())
    finally:
        optuna.logging.set_verbosity(verbosity)
    copy.add_trials(trials)
    return copy


def _fanova(copy: Any, i: int, seed: int) -> dict:
    """``{"importances": ...}`` or ``{"note": ...}`` for objective ``i`` of the copied study."""
    import optuna

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            imp = optuna.importance.get_param_importances(
                copy, evaluator=optuna.importance.FanovaImportanceEvaluator(n_trees=TREES_PER_RESAMPLE, seed=seed),
                target=lambda t, i=i: t.values[i])
        msgs = [str(w.message) for w in caught if "too small" in str(w.message).lower()]
        if msgs:
            return {"note": f"too few trials for parameter importances ({msgs[0]})"}
        if not imp:
            return {"note": "Optuna returned no importances (no parameter shared by all trained trials)"}
        return {"importances": {k: float(v) for k, v in imp.items()}}
    except (ValueError, RuntimeError, ZeroDivisionError) as e:
        return {"note": f"parameter importances failed: {' '.join(str(e).split())[:200]}"}


def _bootstrap(study: Any, keep: Sequence[Any], i: int, repeats: int, seed: int) -> dict:
    """Mean ± sd of objective ``i``'s importances over ``repeats`` bootstrap resamples of ``keep``."""
    rng = random.Random(seed)
    runs, notes = [], []
    for k in range(repeats):
        sample = [keep[rng.randrange(len(keep))] for _ in keep]
        if len({t.values[i] for t in sample}) < 2 or not _varying_params(sample):
            notes.append("degenerate resample")
            continue
        r = _fanova(_in_memory_copy(study, sample), i, seed + k)
        if "importances" in r:
            runs.append(r["importances"])
        else:
            notes.append(r["note"])
    if not runs:
        return {"note": notes[0] if notes else "parameter importances failed"}
    params = sorted(set().union(*runs))
    cols = {p: [r.get(p, 0.0) for r in runs] for p in params}  # a parameter constant in a resample: 0
    mean = {p: statistics.fmean(v) for p, v in cols.items()}
    sd = {p: (statistics.stdev(v) if len(v) > 1 else 0.0) for p, v in cols.items()}
    order = sorted(params, key=lambda p: -mean[p])
    return {"importances": {p: mean[p] for p in order}, "sd": {p: sd[p] for p in order}, "repeats": len(runs)}


def param_importances(study: Any, objectives: Optional[Sequence[str]] = None,
                      min_trials: int = MIN_IMPORTANCE_TRIALS, repeats: int = IMPORTANCE_REPEATS,
                      warn_below: int = IMPORTANCE_WARN_TRIALS, seed: int = 0) -> dict[str, dict]:
    """fANOVA parameter importances per objective over the trained feasible trials, mean ± sd.

    Runs on in-memory copies of the study holding only those trials (rejected trials carry a
    placeholder accuracy of 0 and would measure the budget instead), one per bootstrap resample.

    Args:
        study: An Optuna study made by ghostnas.
        objectives: Objective names; default :func:`~ghostnas.analysis.fronts.study_objectives`.
        min_trials: Fewer trained feasible trials than this give a note instead of importances.
        repeats: Bootstrap resamples (fANOVA runs) per objective (>= 1).
        warn_below: Fewer trained feasible trials than this add a ``warning`` (no chart).
        seed: Seed of the resampling (resample ``k`` uses fANOVA seed ``seed + k``).

    Returns:
        Per objective: ``{"importances": {param: mean share}, "sd": {param: sd}, "repeats": k,
        "n_trials": n[, "warning": text]}`` (means sum to 1, most important first) or
        ``{"note": why none}``.
    """
    if repeats < 1:
        raise ValueError(f"importance repeats must be >= 1, got {repeats}")
    objectives = list(objectives or study_objectives(study))
    keep = _trained_feasible(study)
    n = len(keep)
    if n < min_trials:
        note = (f"too few trials for parameter importances: {n} trained feasible trial(s), "
                f"at least {min_trials} needed")
        return {o: {"note": note} for o in objectives}
    if not _varying_params(keep):
        return {o: {"note": "no parameter varies among the trained trials"} for o in objectives}
    out: dict[str, dict] = {}
    for i, o in enumerate(objectives):
        if len({t.values[i] for t in keep}) < 2:
            out[o] = {"note": f"{o} is the same for every trained trial; nothing to attribute"}
            continue
        r = _bootstrap(study, keep, i, repeats, seed)
        if "importances" in r:
            r["n_trials"] = n
            if n < warn_below:
                r["warning"] = (f"only {n} trained feasible trials (< {warn_below}): importances are rough "
                                f"(mean ± sd over {r['repeats']} bootstrap resamples); not charted")
        out[o] = r
    return out


def importance_text(result: dict, param: str) -> Optional[str]:
    """``0.41 ± 0.05`` for one parameter of one objective's result (None when absent)."""
    imp = result.get("importances") or {}
    if param not in imp:
        return None
    sd = (result.get("sd") or {}).get(param)
    return f"{imp[param]:.2f}" + (f" ± {sd:.2f}" if sd is not None else "")
