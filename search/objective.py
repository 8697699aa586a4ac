"""One trial of a study: suggest an architecture, count it, check the budgets, measure latency, train.

Trial accounting: the study runs until it has ``n_trials`` COMPLETE trials in total. A trial is
*surplus* when, at the moment it started, enough earlier trials were already complete, running or
waiting; it is then recorded as failed with reason "surplus" and never trained, so concurrent
workers stop at exactly ``n_trials`` finished trials. An architecture already finished in the study at
the same training setup is not retrained: its values are reused, the trial notes ``reused_from`` and
it does not count toward ``n_trials`` (so a study holds ``n_trials`` distinct architectures).
"""
from __future__ import annotations

import logging
import math
import os
import time
from typing import Any, Optional, Sequence

import optuna
import torch
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import TrialState

from ghostnas.space import ArchConfig, build_arch

from .data import load_dataset, train_val_split
from .early_stop import make_stopper
from .files import atomic_write_json, file_lock
from .recovery import worker_gone
from .prefilter import make_prefilter
from .study_config import REMEASURE_NOISY, StudyConfig
from .train import TrainingDiverged, train_proxy

__all__ = ["TrialObjective", "SurplusTrial", "prepare_data", "latency_setup", "latency_record"]
log = logging.getLogger("ghostnas.search")

_DATA_CACHE: dict[Any, Any] = {}
_PREDICTORS: dict[Any, Any] = {}  # one latency predictor (its table loaded or built) per worker and setup


def latency_record(attempts: Sequence[Any]) -> dict[str, Any]:
    """The stored latency of a trial: the least noisy of its measurement ``attempts`` (smallest IQR
    relative to the median), with ``attempts`` (how many were made) and ``noisy`` (still noisy after
    them) so that ``results`` and the report can flag it.

    Args:
        attempts: :class:`~ghostnas.space.LatencyResult` objects, in the order measured.

    Returns:
        The chosen measurement's ``to_dict()`` plus ``attempts`` and ``attempt_medians_ms``.
    """
    if not attempts:
        raise ValueError("latency_record: no measurement")
    best = min(attempts, key=lambda r: (r.iqr / r.median) if r.median else float("inf"))
    return {**best.to_dict(), "attempts": len(attempts),
            "attempt_medians_ms": [round(r.median * 1e3, 4) for r in attempts]}


def latency_setup(cfg: StudyConfig, study: optuna.Study) -> dict[str, Any]:
    """The latency backend setup of a study, recorded in its user attrs as ``ghostnas_latency``.

    ``[latency] backend`` if the config names one; else the backend the study already recorded; else
    ``torch`` for a study whose trials were measured before backends existed; else (a new study)
    :func:`ghostnas.space.backends.default_backend` (onnxruntime where installed).
    """
    from ghostnas.space.backends import backend_version, check_backend, default_backend

    lat = cfg.latency
    recorded = study.user_attrs.get("ghostnas_latency") or {}
    if "backend" in lat:
        backend = lat["backend"]
    elif recorded.get("backend"):
        backend = recorded["backend"]
    elif any("latency" in t.user_attrs for t in study.get_trials(deepcopy=False)):
        backend = "torch"
    else:
        backend = default_backend()
    precision = lat.get("precision", "f32")
    check_backend(backend, precision)
    setup = {"backend": backend, "version": backend_version(backend), "threads": lat.get("threads", 1),
             "precision": precision, "clock": lat.get("clock", "wall")}
    if recorded != setup:
        study.set_user_attr("ghostnas_latency", setup)
    return setup


def prepare_data(cfg: StudyConfig) -> tuple[Any, Any, int]:
    """``(train, val, num_classes)`` of a study: loaded and split once per process, and before the
    study is created, so a missing or bad data set leaves the storage untouched."""
    spec = cfg.data["dataset"]
    kind, _, arg = str(spec).partition(":")
    stamp = None
    if kind in ("npz", "imagefolder") and arg:
        try:
            st = os.stat(arg)
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            pass
    f = cfg.fidelity
    key = (spec, cfg.data.get("data_dir"), bool(cfg.data.get("download", False)), stamp, f.val_fraction,
           f.val_size, f.fraction, cfg.seed)
    if key not in _DATA_CACHE:
        full = load_dataset(spec, cfg.data.get("data_dir"), cfg.data.get("download", False))
        train, val = train_val_split(full, f.val_fraction, seed=cfg.seed, fraction=f.fraction, val_size=f.val_size)
        cfg.space(num_classes=full.num_classes)  # the space must fit the data's classes
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = (train, val, full.num_classes)
    return _DATA_CACHE[key]


class TrialObjective:
    """Evaluates one trial: suggest → analytic counts → constraints → (latency) → train."""

    def __init__(self, cfg: StudyConfig, study: optuna.Study) -> None:
        self.cfg = cfg
        self.study = study
        self.train, self.val, num_classes = prepare_data(cfg)
        self.space = cfg.space(num_classes=num_classes)
        self.trials_dir = cfg.run_dir / "trials"
        self.latency_setup: Optional[dict[str, Any]] = None
        if {"latency", "latency_pred"} & set(cfg.objectives) or \
                {"latency_ms_max", "latency_pred_ms_max"} & set(cfg.constraints):
            self.latency_setup = latency_setup(cfg, study)
        self.prefilter = make_prefilter(cfg, study, self.space, self.train)  # [prefilter], else None
        self.stopper = make_stopper(cfg, study)  # [early_stopping], else None

    def _surplus(self, trial: optuna.Trial) -> bool:
        earlier = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING))
        return sum(t.number < trial.number and t.user_attrs.get("reused_from") is None
                   for t in earlier) >= self.cfg.n_trials

    def _reuse(self, arch_id: str, number: int) -> Optional[optuna.trial.FrozenTrial]:
        """An earlier trained trial of the same architecture at the same training setup, if any."""
        setups = self.study.user_attrs.get("ghostnas_setups") or [{"hash": self.cfg.setup_hash}]
        first = setups[0]["hash"]  # trials from before setups were recorded ran at the first one
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.user_attrs.get("arch_id") == arch_id and t.number != number and t.user_attrs.get("reused_from") is None \
                    and not t.user_attrs.get("rejected") and t.user_attrs.get("setup_hash", first) == self.cfg.setup_hash:
                return t
        return None

    def _wait_for_twin(self, trial: optuna.Trial, arch_id: str) -> bool:
        """If an earlier trial of a live worker is training the same architecture right now, wait
        for it (so each architecture is trained once, even by concurrent workers). Returns whether
        it waited. Only earlier trials are waited for, so two trials never wait for each other; a
        twin whose worker dies stops the wait (heartbeat / dead pid), and this trial trains."""
        storage = self.study._storage
        waited = False
        while True:
            twins = [t for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                     if t.number < trial.number and t.user_attrs.get("arch_id") == arch_id]
            if twins and is_heartbeat_enabled(storage):
                stale = set(storage._get_stale_trial_ids(self.study._study_id))
                twins = [t for t in twins if t._trial_id not in stale]
            elif twins:
                twins = [t for t in twins if worker_gone(t.user_attrs.get("worker")) is False]
            if not twins:
                return waited
            if not waited:
                log.info("trial %d: trial %d is training the same architecture; waiting to reuse it",
                         trial.number, twins[0].number)
                trial.set_user_attr("waited_for", twins[0].number)
                waited = True
            time.sleep(0.5)

    def _latency_ms(self, arch: ArchConfig) -> dict[str, Any]:
        from ghostnas.space import measure_deploy_latency

        lat = self.cfg.latency
        setup = self.latency_setup or latency_setup(self.cfg, self.study)
        attempts = []
        # One measurement at a time on this machine, whatever the number of worker processes. A noisy
        # measurement (IQR > 10% of the median) is repeated up to `remeasure` times; the least noisy
        # one is kept and, if even that one is noisy, it stays flagged.
        with file_lock(self.cfg.run_dir / "latency.lock"):
            for _ in range(1 + int(lat.get("remeasure", REMEASURE_NOISY))):
                res = measure_deploy_latency(arch, batch=lat.get("batch", 1),
                                             device=lat.get("device", "cpu"), threads=lat.get("threads", 1),
                                             channels_last=lat.get("channels_last", True),
                                             min_run_time=lat.get("min_run_time", 0.3), backend=setup["backend"],
                                             precision=setup["precision"], clock=setup["clock"])
                attempts.append(res)
                if not res.noisy:
                    break
        return latency_record(attempts)

    def _predictor(self) -> Any:
        """The study's latency predictor: its table loaded from the cache, or built for the study's
        space on first use (once per worker process and setup, under the latency lock)."""
        import hashlib
        import json

        from ghostnas.space.latency_predictor import LatencyPredictor, LatencyTable, build_table

        setup = self.latency_setup or latency_setup(self.cfg, self.study)
        spec_hash = hashlib.sha256(json.dumps(self.cfg.space_spec, sort_keys=True).encode()).hexdigest()[:8]
        space_key = f"{self.space.name}-{spec_hash}"
        key = (setup["backend"], setup["threads"], setup["precision"], setup["clock"], space_key)
        if key not in _PREDICTORS:
            with file_lock(self.cfg.run_dir / "latency.lock"):
                table = LatencyTable.load(setup["backend"], setup["threads"], setup["precision"], setup["clock"])
                if space_key not in table.spaces:
                    samples = self.cfg.latency.get("predictor_samples", 10)
                    net_s = self.cfg.latency.get("min_run_time", 0.3)  # layers: a quarter of it, <= 0.05 s
                    table, stats = build_table(self.space, setup["backend"], samples, threads=setup["threads"],
                                               precision=setup["precision"], clock=setup["clock"],
                                               calibrate=samples, seed=self.cfg.seed, name=space_key,
                                               min_run_time=min(0.05, net_s / 4), network_min_run_time=net_s)
                    log.info("latency table for %s on %s: %s", space_key, setup["backend"], stats)
            _PREDICTORS[key] = LatencyPredictor(table, space=space_key)
        return _PREDICTORS[key]

    def _latency_pred(self, arch: ArchConfig) -> dict[str, Any]:
        predictor = self._predictor()
        with file_lock(self.cfg.run_dir / "latency.lock"):  # a layer missing from the table is measured
            t0 = time.perf_counter()
            pred = predictor.predict(arch)
            us = (time.perf_counter() - t0) * 1e6
        return {**pred.to_dict(), "predict_us": round(us, 1)}

    def __call__(self, trial: optuna.Trial) -> Any:
        from ghostnas.space import analytic_counts

        cfg = self.cfg
        arch = self.prefilter.suggest(trial) if self.prefilter else self.space.suggest(trial)
        if self._surplus(trial):
            trial.set_user_attr("fail_reason", f"surplus: the study already had {cfg.n_trials} trials")
            raise SurplusTrial()
        counts = analytic_counts(arch)
        trial.set_user_attr("arch_id", arch.id)
        trial.set_user_attr("setup_hash", cfg.setup_hash)
        trial.set_user_attr("arch", arch.to_json())
        trial.set_user_attr("macs", counts.macs)
        trial.set_user_attr("params", counts.params)
        metrics: dict[str, Any] = {"macs": counts.macs, "params": counts.params}
        values: dict[str, float] = {"macs": float(counts.macs), "params": float(counts.params)}
        if "latency_pred" in cfg.objectives or "latency_pred_ms_max" in cfg.constraints:
            pred = self._latency_pred(arch)
            trial.set_user_attr("latency_pred", pred)
            values["latency_pred"] = metrics["latency_pred"] = pred["predicted_ms"]
        over = self._set_count_constraints(trial, values)
        self._write_trial_file(trial, "config.json", {"arch_id": arch.id, "arch": arch.to_dict(),
                                                     "params": trial.params})
        if over:
            return self._reject(trial, over, metrics, values)
        prior = self._reuse(arch.id, trial.number)
        if prior is None and self._wait_for_twin(trial, arch.id):
            prior = self._reuse(arch.id, trial.number)
        if prior is not None:
            return self._copy_prior(trial, prior, metrics)
        if self.stopper is not None:
            self.stopper.replay(trial, arch.id)  # PRUNED at once if this architecture was stopped before
        if "latency" in cfg.objectives or "latency_ms_max" in cfg.constraints:
            lat = self._latency_ms(arch)
            trial.set_user_attr("latency", lat)
            trial.set_user_attr("latency_ms", lat["median_ms"])
            values["latency"] = lat["median_ms"]
            metrics["latency"] = lat
            if "latency_ms_max" in cfg.constraints:
                trial.set_constraint("latency", lat["median_ms"] - cfg.constraints["latency_ms_max"])
        torch.manual_seed(cfg.seed)
        model = build_arch(arch)
        single = len(cfg.objectives) == 1

        def report(epoch: int, acc: float) -> None:
            trial.set_user_attr("curve", trial.user_attrs.get("curve", []) + [acc])
            if single:
                trial.report(acc, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} at accuracy {acc:.4f}")
            if self.stopper is not None:  # MO-ASHA: raises TrialPruned when the trial stops at a rung
                self.stopper.check(trial, epoch + 1, acc, values, t0, c0)

        t0, c0 = time.perf_counter(), time.process_time()
        try:
            res = train_proxy(model, self.train, self.val, cfg.fidelity, seed=cfg.seed, device=cfg.device,
                              report=report)
        except TrainingDiverged as e:
            trial.set_user_attr("fail_reason", f"diverged: {e}")
            raise
        trial.set_user_attr("train_s", round(time.perf_counter() - t0, 3))
        trial.set_user_attr("train_cpu_s", round(time.process_time() - c0, 3))  # core-seconds, all threads
        trial.set_user_attr("compute_s", round(res.compute_s, 3))
        trial.set_user_attr("device", res.device)
        values["accuracy"] = res.val_acc
        metrics.update(res.to_dict())
        self._write_trial_file(trial, "metrics.json", metrics)
        return self._values(values)

    def _set_count_constraints(self, trial: optuna.Trial, values: dict[str, float]) -> list[str]:
        """Set the constraints known before training (MACs, params, predicted latency) on ``trial``;
        returns the names of those over budget."""
        budget = self.cfg.constraints
        constraints = {}
        if "latency_pred_ms_max" in budget:
            constraints["latency_pred"] = values["latency_pred"] - budget["latency_pred_ms_max"]
        if "macs_max" in budget:
            constraints["macs"] = values["macs"] - budget["macs_max"]
        if "params_max" in budget:
            constraints["params"] = values["params"] - budget["params_max"]
        for name, v in constraints.items():
            trial.set_constraint(name, float(v))
        return [n for n, v in constraints.items() if v > 0]

    def _reject(self, trial: optuna.Trial, over: list[str], metrics: dict[str, Any], values: dict[str, float]) -> Any:
        """Rejected by the analytical count: never trained. Feasibility is in the constraints."""
        budget = self.cfg.constraints
        reason = ", ".join(f"{n} {metrics[n]:,} > budget {budget[n + '_max']:,}" if n != "latency_pred"
                           else f"latency_pred {metrics[n]:.3f} ms > budget {budget[n + '_ms_max']} ms"
                           for n in over)
        trial.set_user_attr("rejected", reason)
        values["accuracy"] = 0.0
        values["latency"] = math.inf if "latency" in self.cfg.objectives else 0.0
        self._write_trial_file(trial, "metrics.json", {**metrics, "rejected": reason})
        return self._values(values)

    def _copy_prior(self, trial: optuna.Trial, prior: optuna.trial.FrozenTrial, metrics: dict[str, Any]) -> Any:
        """The values of an earlier trial of the same architecture, with its measurements."""
        trial.set_user_attr("reused_from", prior.number)
        for k in ("curve", "latency_ms", "latency", "latency_pred", "train_s", "device"):
            if k in prior.user_attrs:
                trial.set_user_attr(k, prior.user_attrs[k])
        self._write_trial_file(trial, "metrics.json", {**metrics, "reused_from": prior.number})
        return prior.values if len(prior.values) > 1 else prior.values[0]

    def _values(self, values: dict[str, float]) -> Any:
        out = [values[o] for o in self.cfg.objectives]
        return out if len(out) > 1 else out[0]

    def _write_trial_file(self, trial: optuna.Trial, name: str, obj: dict) -> None:
        atomic_write_json(self.trials_dir / f"{trial.number:05d}" / name, obj)


class SurplusTrial(Exception):
    """Another worker already started the last trial the study needed."""
