"""Early stopping for (multi-objective) studies: MO-ASHA as a stopping rule whose state lives in the storage.

``[early_stopping] method = "mo-asha", min_epochs = 1, eta = 3`` (Schmucker et al. 2021, "Multi-objective
multi-fidelity hyperparameter optimization with application to fairness"; Salinas et al. 2021; the
stopping variant of Syne Tune's ``MOASHA``).

**Rungs** are at ``min_epochs * eta**k`` completed epochs, below ``fidelity.epochs`` (the last epoch is
the end of the trial, never a decision). With ``epochs = 3, min_epochs = 1, eta = 3`` there is one rung,
at epoch 1; with ``epochs = 9``, rungs at 1 and 3.

**Promotion rule** (:func:`decide`), evaluated when a trial has validated at a rung epoch:

1. The rung table holds one point per architecture that reached this rung in this study at the same
   training setup (every trial state: running, complete, stopped, or failed after recording), as
   minimisation vectors (``-accuracy``, costs) — the costs are the study's other objectives (MACs,
   params, latency), known before training. Repeated architectures (retries of a killed trial,
   re-proposals) count once; the trial's own architecture counts once, as the new point.
2. The points are ordered by non-dominated sorting (fronts 0, 1, ...), and within a front by an
   epsilon-net (Salinas et al. 2021; Syne Tune's ``NonDominatedPriority``): first the front's most
   accurate point, then repeatedly the point farthest (Euclidean, objectives min-max normalised over
   the table) from those already taken. Ties go to the earlier trial, the new point last.
3. With ``n`` points in the table (the new one included), the first ``keep = ceil(n / eta)``
   positions continue; the trial stops if its 0-based position is ``>= keep``. The first trial at a
   rung always continues (``keep >= 1``).

Syne Tune stops when ``position / n > 1 / eta``, which keeps ``floor(n / eta) + 1`` positions: one more
than ``ceil(n / eta)`` when ``eta`` divides ``n`` (with 3 points and ``eta = 3`` it keeps 2, this keeps 1
= the top third). Its code also reads the position of the item sorted last instead of the new item's;
this module ranks the new item.

**State in the storage.** A trial writes its point at a rung (``user_attrs["rungs"][str(epoch)]``)
before it reads the table, so concurrent workers see each other, and a worker killed with ``kill -9``
leaves its recorded points behind: nothing is held in memory between trials.

**A stopped trial is PRUNED**, with ``stopped_at_epoch``, ``early_stop`` (rung, rank, position, reason)
and its accuracy so far in ``curve``. Not COMPLETE, because its accuracy was measured after fewer
epochs than every other trial's: as a COMPLETE trial it would sit in Optuna's ``best_trials``, the
Pareto front and the hypervolume beside fully trained trials, mixing fidelities (the front of a study
would then partly show 1-epoch accuracies). PRUNED keeps ``best_trials``, ``pareto``, ``report`` and
the hypervolume to fully trained trials, whatever reads them. The samplers still learn: TPE puts
pruned trials in its "bad" group (multi-objective TPE ranks them after complete ones); NSGA-II builds
generations from complete trials only. Pruned trials do not count toward ``n_trials``: a study still
ends with ``n_trials`` fully trained architectures, plus the stopped ones.

An architecture proposed again after it was stopped is not retrained blindly: its recorded rung points
are judged again against the current tables (training is seeded, so they are what retraining would
give) and, if still stopped, the trial is PRUNED at once with ``reused_from``; otherwise it trains.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

import optuna
from optuna.trial import TrialState

from .config import ConfigError, check_choice, check_keys

if TYPE_CHECKING:  # pragma: no cover
    from .study_config import StudyConfig

__all__ = ["EARLY_STOPPING_METHODS", "check_early_stopping", "rung_epochs", "nondominated_ranks",
           "priority_order", "RungDecision", "decide", "MOASHA", "make_stopper"]

EARLY_STOPPING_METHODS = ("none", "mo-asha")
_KEYS = {"method", "min_epochs", "eta"}


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def rung_epochs(min_epochs: int, eta: int, max_epochs: int) -> list[int]:
    """Decision epochs ``min_epochs * eta**k`` below ``max_epochs`` (e.g. 1, 3 for 1, 3, 9)."""
    out, m = [], min_epochs
    while m < max_epochs:
        out.append(m)
        m *= eta
    return out


def check_early_stopping(raw: Any, objectives: Sequence[str], fidelity: Any, pruner: dict) -> dict:
    """The validated ``[early_stopping]`` table (``{}`` when absent or ``method = "none"``).

    Raises:
        ConfigError: unknown keys, a bad method/min_epochs/eta, no rung before the last epoch, a rung
            epoch without validation (``fidelity.eval_every``), or a pruner configured as well.
    """
    if raw is None:
        return {}
    check_keys(raw, _KEYS, "[early_stopping]")
    method = check_choice(raw.get("method", "mo-asha"), EARLY_STOPPING_METHODS, "[early_stopping] method")
    if method == "none":
        return {}
    min_epochs = raw.get("min_epochs", 1)
    if not _int(min_epochs) or min_epochs < 1:
        raise ConfigError(f"[early_stopping] min_epochs = {min_epochs!r} is not allowed; expected an integer >= 1")
    eta = raw.get("eta", 3)
    if not _int(eta) or eta < 2:
        raise ConfigError(f"[early_stopping] eta = {eta!r} is not allowed; expected an integer >= 2")
    if pruner.get("name", "none") != "none":
        raise ConfigError(f"study config: [early_stopping] and pruner {pruner['name']!r} both stop trials; "
                          "choose one (pruner = {name = \"none\"} with early stopping)")
    rungs = rung_epochs(min_epochs, eta, fidelity.epochs)
    if not rungs:
        raise ConfigError(f"[early_stopping] min_epochs = {min_epochs} leaves no decision before the last epoch "
                          f"(fidelity.epochs = {fidelity.epochs}); use min_epochs < epochs")
    unvalidated = [m for m in rungs if m % fidelity.eval_every]
    if unvalidated:
        raise ConfigError(f"[early_stopping] rung epoch(s) {unvalidated} are not validated with fidelity.eval_every "
                          f"= {fidelity.eval_every}; rungs are at {rungs}: set eval_every = 1 (or a divisor of "
                          "every rung epoch)")
    if "accuracy" not in objectives:  # pragma: no cover - StudyConfig already requires it
        raise ConfigError("[early_stopping] needs the accuracy objective")
    return {"method": method, "min_epochs": min_epochs, "eta": eta, "rungs": rungs}


# ------------------------------------------------------------------ the promotion rule (pure)

def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def nondominated_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Front index of each point (0 = non-dominated), every objective minimised."""
    n = len(points)
    rank = [-1] * n
    left = set(range(n))
    front = 0
    while left:
        cur = [i for i in left if not any(_dominates(points[j], points[i]) for j in left if j != i)]
        for i in cur:
            rank[i] = front
        left -= set(cur)
        front += 1
    return rank


def _normalised(points: Sequence[Sequence[float]]) -> list[list[float]]:
    cols = list(zip(*points))
    lo = [min(c) for c in cols]
    span = [max(c) - min(c) for c in cols]
    return [[(v - l) / s if s > 0 else 0.0 for v, l, s in zip(p, lo, span)] for p in points]


def priority_order(points: Sequence[Sequence[float]], seed_dim: int = 0) -> list[int]:
    """Indices of ``points`` (minimised) best first: by front, and within a front by an epsilon-net
    seeded with the front's best point in ``seed_dim`` (normalised Euclidean distances; ties go to
    the lower index)."""
    if not points:
        return []
    ranks = nondominated_ranks(points)
    norm = _normalised(points)
    order: list[int] = []
    for f in range(max(ranks) + 1):
        members = [i for i in range(len(points)) if ranks[i] == f]
        first = min(members, key=lambda i: (points[i][seed_dim], i))
        taken = [first]
        rest = [i for i in members if i != first]
        while rest:
            def gap(i: int) -> float:
                return min(math.dist(norm[i], norm[j]) for j in taken)
            nxt = max(rest, key=lambda i: (gap(i), -i))
            taken.append(nxt)
            rest.remove(nxt)
        order += taken
    return order


@dataclass(frozen=True)
class RungDecision:
    """The rule's verdict on the newest point of a rung table."""

    rung: int          # epochs completed at this rung
    n: int             # points in the rung table, the new one included
    rank: int          # its non-dominated front (0 = on the front)
    position: int      # its 0-based place in the priority order
    keep: int          # positions that continue: ceil(n / eta)
    promote: bool      # position < keep

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(table: Sequence[Sequence[float]], new: Sequence[float], eta: int, rung: int = 0,
           seed_dim: int = 0) -> RungDecision:
    """The MO-ASHA verdict (module docs) for ``new`` against the points ``table`` already at the rung.

    Args:
        table: Minimisation vectors of the other architectures at this rung.
        new: The new point (same objectives).
        eta: Reduction factor: the top ``ceil(n / eta)`` of ``n`` points continue.
        rung: The rung's epoch (recorded only).
        seed_dim: The objective whose best point starts each front's epsilon-net (accuracy).
    """
    pts = [list(map(float, p)) for p in table] + [list(map(float, new))]
    n = len(pts)
    order = priority_order(pts, seed_dim)
    position = order.index(n - 1)
    keep = max(1, math.ceil(n / eta))
    return RungDecision(rung=rung, n=n, rank=nondominated_ranks(pts)[n - 1], position=position, keep=keep,
                        promote=position < keep)


# ------------------------------------------------------------------ the rule bound to a study

class MOASHA:
    """MO-ASHA stopping rule of one study (module docs): call :meth:`check` from the training's
    ``report`` callback and :meth:`replay` before training an architecture already stopped."""

    def __init__(self, cfg: "StudyConfig", study: optuna.Study) -> None:
        es = cfg.early_stopping
        self.cfg = cfg
        self.study = study
        self.eta = int(es["eta"])
        self.rungs = list(es["rungs"])
        self.signs = [-1.0 if d == "maximize" else 1.0 for d in cfg.directions]
        self.seed_dim = list(cfg.objectives).index("accuracy")

    def _loss(self, values: dict[str, float]) -> list[float]:
        return [s * float(values[o]) for s, o in zip(self.signs, self.cfg.objectives)]

    def table(self, rung: int, arch_id: str, exclude_number: int) -> list[list[float]]:
        """Points of the other architectures recorded at ``rung`` (same setup; one per architecture,
        from its earliest trial), as minimisation vectors in trial order."""
        seen: set[str] = {arch_id}
        out = []
        for t in sorted(self.study.get_trials(deepcopy=False), key=lambda t: t.number):
            ua = t.user_attrs
            rec = (ua.get("rungs") or {}).get(str(rung))
            if t.number == exclude_number or rec is None or ua.get("setup_hash") != self.cfg.setup_hash:
                continue
            aid = ua.get("arch_id")
            if aid in seen:
                continue
            seen.add(aid)
            try:
                out.append(self._loss(rec["values"]))
            except (KeyError, TypeError, ValueError):
                continue  # written by another objective set: not comparable
        return out

    def check(self, trial: optuna.Trial, epochs_done: int, accuracy: float, costs: dict[str, float],
              wall0: Optional[float] = None, cpu0: Optional[float] = None) -> Optional[RungDecision]:
        """At a rung epoch: record the trial's point in the storage, judge it, and raise
        ``optuna.TrialPruned`` if it stops (after recording ``early_stop``, ``stopped_at_epoch`` and,
        given the training's start times, ``train_s``/``train_cpu_s``). None off the rungs."""
        if epochs_done not in self.rungs:
            return None
        values = {**{o: costs[o] for o in self.cfg.objectives if o != "accuracy"}, "accuracy": float(accuracy)}
        rungs = dict(trial.user_attrs.get("rungs") or {})
        rungs[str(epochs_done)] = {"values": values}
        trial.set_user_attr("rungs", rungs)  # visible to other workers before this one reads the table
        arch_id = trial.user_attrs.get("arch_id", "")
        d = decide(self.table(epochs_done, arch_id, trial.number), self._loss(values), self.eta, epochs_done,
                   self.seed_dim)
        rungs[str(epochs_done)] = {"values": values, **{k: v for k, v in d.to_dict().items() if k != "rung"}}
        trial.set_user_attr("rungs", rungs)
        if not d.promote:
            if wall0 is not None:
                trial.set_user_attr("train_s", round(time.perf_counter() - wall0, 3))
            if cpu0 is not None:
                trial.set_user_attr("train_cpu_s", round(time.process_time() - cpu0, 3))
            self._stop(trial, d, accuracy)
        return d

    def _stop(self, trial: optuna.Trial, d: RungDecision, accuracy: float, replay_of: Optional[int] = None) -> None:
        reason = (f"mo-asha: at epoch {d.rung}, accuracy {accuracy:.4f} is position {d.position + 1} of {d.n} "
                  f"(front {d.rank}); only the top {d.keep} (1/{self.eta}) continue")
        if replay_of is not None:
            reason += f" (recorded by trial {replay_of}, judged again)"
        trial.set_user_attr("early_stop", {"method": "mo-asha", "eta": self.eta, "reason": reason,
                                           "replay_of": replay_of, **d.to_dict()})
        trial.set_user_attr("stopped_at_epoch", d.rung)
        raise optuna.TrialPruned(reason)

    def replay(self, trial: optuna.Trial, arch_id: str) -> None:
        """If this architecture was stopped before at this setup, judge its recorded rung points again
        against the current tables; PRUNED at once (``reused_from``) if it still stops, else return."""
        prior = None
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)):
            ua = t.user_attrs
            if ua.get("arch_id") == arch_id and t.number != trial.number and ua.get("early_stop") \
                    and ua.get("reused_from") is None and ua.get("setup_hash") == self.cfg.setup_hash \
                    and (prior is None or t.number < prior.number):
                prior = t
        if prior is None:
            return
        for key in sorted(prior.user_attrs.get("rungs") or {}, key=int):
            rung = int(key)
            values = prior.user_attrs["rungs"][key]["values"]
            d = decide(self.table(rung, arch_id, trial.number), self._loss(values), self.eta, rung, self.seed_dim)
            if not d.promote:
                trial.set_user_attr("reused_from", prior.number)
                if "curve" in prior.user_attrs:
                    trial.set_user_attr("curve", prior.user_attrs["curve"])
                self._stop(trial, d, float(values["accuracy"]), replay_of=prior.number)


def make_stopper(cfg: "StudyConfig", study: optuna.Study) -> Optional[MOASHA]:
    """The study's stopping rule, or None without ``[early_stopping]``."""
    if cfg.early_stopping.get("method") == "mo-asha":
        return MOASHA(cfg, study)
    return None
