"""Zero-cost pre-filtering of a trial's architecture: score K candidates at initialisation, train the best.

``[prefilter] proxy = "synflow", candidates = 8`` (optional: ``batch_size``, ``select``).

**Candidates.** Candidate 0 is what the study's sampler proposes for this trial; candidates 1..K-1 are
drawn uniformly from the space with a ``random.Random`` seeded from ``(seed, trial number, k)``, so a
trial's candidates are reproducible whatever the worker.

**The sampler sees the trained architecture.** Candidate 0 is asked from the sampler without recording
anything (:class:`SamplerProbe` repeats Optuna's ``Trial._suggest`` order: fixed, relative, then
``sampler.sample_independent`` per axis). The chosen candidate's parameters are then pinned as the
trial's ``fixed_params`` (the mechanism of ``study.enqueue_trial``) and ``space.suggest(trial)`` records
them through the normal ``trial.suggest_categorical`` path. So ``trial.params`` is always the trained
architecture, with the space's full distributions, and TPE / NSGA-II learn from what was trained;
the unchosen candidates leave no trace in the sampler's history, only in ``user_attrs["prefilter"]``.
Why not all K from the sampler: a trial can suggest each parameter once, so the other K-1 would need
throwaway trials (which every sampler would then count as evaluated). An enqueued trial (fixed
parameters) or a retried one (a WAITING copy that already holds its parameters) is not pre-filtered
again: ``prefilter`` then says ``skipped`` (a retry keeps the original choice as ``retry_of_choice``).

**Scoring.** Every candidate is built with ``torch.manual_seed(seed)`` (the initialisation it would be
trained from) and scored by :func:`ghostnas.search.zero_cost.compute_proxy` on one fixed minibatch:
``batch_size`` training images picked by a permutation seeded with the study's seed, prepared as in
training. Candidates over the study's MAC/parameter budgets and architectures already evaluated (or
being evaluated) at this setup are not scored, unless no candidate is left. A non-finite score ranks
last.

**Selection** (``select``): ``"max"`` (default) trains the highest score; ``"within_cost"`` the highest
score among the candidates no costlier (MACs and params, those among the objectives, else MACs) than
the sampler's candidate, so the sampler keeps choosing where on the cost axis to look and the proxy
only picks the most promising network at that cost or below (costlier candidates are not even scored).
Ties go to the lower index (the sampler's candidate first). Use ``within_cost`` for multi-objective
studies: zero-cost proxies grow with network size (synflow's Spearman correlation with MACs is 0.81
over 60 random points of ``ghostnet_cifar``), so ``max`` mostly picks the largest candidate and leaves
the cheap end of the front unexplored. Scoring time is recorded (``prefilter.seconds``, ``prefilter.cpu_s``): it is compute
the search spends.
"""
from __future__ import annotations

import copy
import hashlib
import math
import random
import time
from typing import TYPE_CHECKING, Any, Optional, Sequence

import optuna
import torch
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from ghostnas.space import ArchConfig, SearchSpace, analytic_counts, build_arch

from .config import ConfigError, check_choice, check_keys
from .zero_cost import PROXIES, compute_proxy

if TYPE_CHECKING:  # pragma: no cover
    from .study_config import StudyConfig

__all__ = ["SELECT_RULES", "check_prefilter", "candidate_seed", "choose", "SamplerProbe", "RandomProbe",
           "Prefilter", "make_prefilter"]

SELECT_RULES = ("max", "within_cost")
_KEYS = {"proxy", "candidates", "batch_size", "select"}


def check_prefilter(raw: Any, sampler: dict, fidelity: Any) -> dict:
    """The validated ``[prefilter]`` table (``{}`` when absent).

    Raises:
        ConfigError: unknown keys, an unknown proxy or rule, candidates < 2, a bad batch size, or the
            grid sampler (whose grid bookkeeping cannot follow a replaced architecture).
    """
    if raw is None:
        return {}
    check_keys(raw, _KEYS, "[prefilter]")
    proxy = check_choice(raw.get("proxy", "synflow"), PROXIES, "[prefilter] proxy")
    k = raw.get("candidates", 8)
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise ConfigError(f"[prefilter] candidates = {k!r} is not allowed; expected an integer >= 2 "
                          "(1 would be no pre-filter: drop the [prefilter] table)")
    batch = raw.get("batch_size", fidelity.batch_size)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 2:
        raise ConfigError(f"[prefilter] batch_size = {batch!r} is not allowed; expected an integer >= 2")
    select = check_choice(raw.get("select", "max"), SELECT_RULES, "[prefilter] select")
    if sampler.get("name") == "grid":
        raise ConfigError("[prefilter] cannot be used with sampler 'grid': the grid sampler tracks its own "
                          "points and would not see the architecture the pre-filter trains")
    return {"proxy": proxy, "candidates": k, "batch_size": batch, "select": select}


def candidate_seed(seed: int, number: int, k: int) -> int:
    """Seed of trial ``number``'s ``k``-th random candidate (stable across processes and machines)."""
    return int.from_bytes(hashlib.sha256(f"prefilter:{seed}:{number}:{k}".encode()).digest()[:8], "little")


def choose(scores: Sequence[Optional[float]], costs: Optional[Sequence[Sequence[float]]] = None,
           select: str = "max") -> int:
    """Index of the candidate to train.

    Args:
        scores: Proxy score per candidate (higher = better); None for a candidate not scored.
        costs: Per candidate, its cost vector (for ``within_cost``); candidate 0 is the reference.
        select: ``max`` or ``within_cost`` (module docs).

    Returns:
        The index of the best eligible score; ties and all-non-finite scores go to the lowest index.
    """
    idx = [i for i, s in enumerate(scores) if s is not None]
    if not idx:
        return 0
    if select == "within_cost" and costs is not None:
        ref = costs[0]
        within = [i for i in idx if all(c <= r for c, r in zip(costs[i], ref))]
        idx = within or idx

    def key(i: int) -> tuple[float, int]:
        s = float(scores[i])  # type: ignore[arg-type]
        return (s if math.isfinite(s) else -math.inf, -i)

    return max(idx, key=key)


class RandomProbe:
    """A trial stand-in for ``space.suggest``: uniform choices from a seeded RNG (as ``space.sample``)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.params: dict[str, Any] = {}

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        self.params[name] = self.rng.choice(list(choices))
        return self.params[name]


class SamplerProbe:
    """A trial stand-in for ``space.suggest`` that asks the study's sampler what ``trial`` would get,
    recording nothing: the same order as Optuna's ``Trial._suggest`` (fixed, single-valued, relative,
    independent). Uses Optuna 5 trial internals (``_fixed_params``, ``_is_relative_param``)."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.params: dict[str, Any] = {}
        self.dists: dict[str, CategoricalDistribution] = {}

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        t = self.trial
        dist = CategoricalDistribution(list(choices))
        if name in t._fixed_params:  # noqa: SLF001
            value = t._fixed_params[name]  # noqa: SLF001
        elif dist.single():
            value = dist.choices[0]
        elif t._is_relative_param(name, dist):  # noqa: SLF001
            value = t.relative_params[name]
        else:
            frozen = copy.copy(t._cached_frozen_trial)  # noqa: SLF001 - as Optuna passes it, plus the probe's params
            frozen.params = {**frozen.params, **self.params}
            frozen.distributions = {**frozen.distributions, **self.dists}
            value = t.study.sampler.sample_independent(t.study, frozen, name, dist)
        self.params[name] = value
        self.dists[name] = dist
        return value


def _minibatch(train: Any, fidelity: Any, batch: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    from .train import _prepare

    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(train), generator=g)[:min(batch, len(train))]
    x = _prepare(train.x[idx].to(device), train, fidelity.resolution, False)
    return x, train.y[idx].to(device)


class Prefilter:
    """The ``[prefilter]`` of one study (module docs): :meth:`suggest` replaces ``space.suggest(trial)``."""

    def __init__(self, cfg: "StudyConfig", study: optuna.Study, space: SearchSpace, train: Any,
                 device: str = "cpu") -> None:
        from .train import resolve_device

        self.cfg = cfg
        self.study = study
        self.space = space
        self.opts = cfg.prefilter
        self.device = resolve_device(device)
        self.x, self.y = _minibatch(train, cfg.fidelity, self.opts["batch_size"], cfg.seed, self.device)
        costs = [o for o in cfg.objectives if o in ("macs", "params")]
        self.cost_keys = costs or ["macs"]

    def _feasible(self, counts: Any) -> bool:
        c = self.cfg.constraints
        return counts.macs <= c.get("macs_max", math.inf) and counts.params <= c.get("params_max", math.inf)

    def _taken(self, number: int) -> set[str]:
        """Architectures already evaluated, or being evaluated, at this setup."""
        out = set()
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                               TrialState.RUNNING)):
            if t.number != number and t.user_attrs.get("setup_hash", self.cfg.setup_hash) == self.cfg.setup_hash \
                    and t.user_attrs.get("arch_id"):
                out.add(t.user_attrs["arch_id"])
        return out

    def score(self, arch: ArchConfig, macs: float) -> tuple[float, float]:
        """``(proxy value, seconds)`` of ``arch`` at its training initialisation."""
        t0 = time.perf_counter()
        torch.manual_seed(self.cfg.seed)
        model = build_arch(arch).to(self.device)
        s = compute_proxy(self.opts["proxy"], model, self.x, self.y, seed=self.cfg.seed, macs=macs)
        return s.value, time.perf_counter() - t0

    def suggest(self, trial: optuna.Trial) -> ArchConfig:
        """Choose this trial's architecture among K candidates, pin it, and return it."""
        if trial._fixed_params or trial.params:  # noqa: SLF001 - enqueued or retried: already decided
            arch = self.space.suggest(trial)
            earlier = trial.user_attrs.get("prefilter") or {}
            trial.set_user_attr("prefilter", {
                "proxy": self.opts["proxy"], "skipped": "parameters fixed (enqueued or retried trial)",
                **({"retry_of_choice": {k: earlier[k] for k in ("chosen", "chosen_source", "candidates")}}
                   if "chosen" in earlier else {})})
            return arch
        w0, c0 = time.perf_counter(), time.process_time()
        k = self.opts["candidates"]
        probe = SamplerProbe(trial)
        cands: list[tuple[ArchConfig, dict, str]] = [(self.space.suggest(probe), dict(probe.params), "sampler")]
        for j in range(1, k):
            rp = RandomProbe(random.Random(candidate_seed(self.cfg.seed, trial.number, j)))
            cands.append((self.space.suggest(rp), dict(rp.params), "random"))
        taken = self._taken(trial.number)
        rows: list[dict[str, Any]] = []
        counts = [analytic_counts(a) for a, _, _ in cands]
        feasible = [self._feasible(c) for c in counts]
        fresh = [f and a.id not in taken for f, (a, _, _) in zip(feasible, cands)]
        eligible = fresh if any(fresh) else feasible if any(feasible) else [i == 0 for i in range(k)]
        cost_vec = [[float(getattr(c, key)) for key in self.cost_keys] for c in counts]
        costlier = [any(x > r for x, r in zip(v, cost_vec[0])) for v in cost_vec]
        if self.opts["select"] == "within_cost" and any(e and not c for e, c in zip(eligible, costlier)):
            # candidates costlier than the sampler's cannot be chosen: not worth scoring
            eligible = [e and not c for e, c in zip(eligible, costlier)]
        scores: list[Optional[float]] = []
        cache: dict[str, float] = {}
        for i, ((arch, _, source), c) in enumerate(zip(cands, counts)):
            row: dict[str, Any] = {"arch_id": arch.id, "source": source, "macs": c.macs, "params": c.params}
            if not eligible[i]:
                row["skip"] = ("over budget" if not feasible[i] else "already evaluated" if not fresh[i] and any(fresh)
                               else "costlier than the sampler's candidate")
                scores.append(None)
            else:
                if arch.id not in cache:
                    cache[arch.id], row["seconds"] = self.score(arch, c.macs)
                v = cache[arch.id]
                row["score"] = v if math.isfinite(v) else str(v)
                scores.append(v)
            rows.append(row)
        best = choose(scores, cost_vec, self.opts["select"])
        arch, params, _ = cands[best]
        # Pin the chosen parameters (what enqueue_trial does) and record them the normal way.
        trial.study._storage.set_trial_system_attr(trial._trial_id, "fixed_params", params)  # noqa: SLF001
        trial._fixed_params = dict(params)  # noqa: SLF001
        pinned = self.space.suggest(trial)
        if pinned.id != arch.id:  # pragma: no cover - would mean the probe and suggest disagree
            raise RuntimeError(f"prefilter: pinned architecture {pinned.id} differs from the chosen {arch.id}")
        trial.set_user_attr("prefilter", {
            "proxy": self.opts["proxy"], "candidates": k, "select": self.opts["select"], "chosen": best,
            "chosen_source": cands[best][2], "chosen_arch_id": arch.id, "scores": rows,
            "seconds": round(time.perf_counter() - w0, 4), "cpu_s": round(time.process_time() - c0, 4)})
        return pinned


def make_prefilter(cfg: "StudyConfig", study: optuna.Study, space: SearchSpace, train: Any) -> Optional[Prefilter]:
    """The study's pre-filter, or None without ``[prefilter]``."""
    if not cfg.prefilter:
        return None
    return Prefilter(cfg, study, space, train, cfg.device)
