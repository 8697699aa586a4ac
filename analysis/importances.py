"""Parameter importances of a ghostnas study.

Optuna's fANOVA evaluator (seed 0) on the trained feasible trials, once per objective
(``target=`` the objective's value). With fewer than :data:`MIN_IMPORTANCE_TRIALS` trials, no
varying parameter, or a constant objective, no importance is computed and a note says why.
"""
from __future__ import annotations

import json
import math
import warnings
from typing import Any, Optional, Sequence

from .fronts import study_objectives

__all__ = ["MIN_IMPORTANCE_TRIALS", "param_importances"]

MIN_IMPORTANCE_TRIALS = 5


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


def _fanova(copy: Any, i: int) -> dict:
    """``{"importances": ...}`` or ``{"note": ...}`` for objective ``i`` of the copied study."""
    import optuna

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            imp = optuna.importance.get_param_importances(
                copy, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
                target=lambda t, i=i: t.values[i])
        msgs = [str(w.message) for w in caught if "too small" in str(w.message).lower()]
        if msgs:
            return {"note": f"too few trials for parameter importances ({msgs[0]})"}
        if not imp:
            return {"note": "Optuna returned no importances (no parameter shared by all trained trials)"}
        return {"importances": {k: float(v) for k, v in imp.items()}}
    except (ValueError, RuntimeError, ZeroDivisionError) as e:
        return {"note": f"parameter importances failed: {' '.join(str(e).split())[:200]}"}


def param_importances(study: Any, objectives: Optional[Sequence[str]] = None,
                      min_trials: int = MIN_IMPORTANCE_TRIALS) -> dict[str, dict]:
    """fANOVA parameter importances per objective over the trained feasible trials.

    Runs on an in-memory copy of the study holding only those trials (rejected trials carry a
    placeholder accuracy of 0 and would measure the budget instead).

    Args:
        study: An Optuna study made by ghostnas.
        objectives: Objective names; default :func:`~ghostnas.analysis.fronts.study_objectives`.
        min_trials: Fewer trained feasible trials than this give a note instead of importances.

    Returns:
        Per objective: ``{"importances": {param: share}}`` (shares sum to 1) or ``{"note": why none}``.
    """
    objectives = list(objectives or study_objectives(study))
    keep = _trained_feasible(study)
    if len(keep) < min_trials:
        note = (f"too few trials for parameter importances: {len(keep)} trained feasible trial(s), "
                f"at least {min_trials} needed")
        return {o: {"note": note} for o in objectives}
    if not _varying_params(keep):
        return {o: {"note": "no parameter varies among the trained trials"} for o in objectives}
    copy = _in_memory_copy(study, keep)
    out: dict[str, dict] = {}
    for i, o in enumerate(objectives):
        if len({t.values[i] for t in keep}) < 2:
            out[o] = {"note": f"{o} is the same for every trained trial; nothing to attribute"}
        else:
            out[o] = _fanova(copy, i)
    return out
