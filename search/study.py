"""Optuna studies over a search space: config, objective, workers, resume, results.

A study config (TOML) names the space, data, fidelity, objectives, constraints, sampler,
pruner, number of trials, seed and storage. The resolved config is stored on the study
(``study.user_attrs["ghostnas_config"]``), so ``ghostnas worker --storage URL --study NAME``
can join from any machine with nothing but the storage URL, and a resume with different
objectives or a different space is refused instead of silently mixing results.

Trial accounting: the study runs until it has ``n_trials`` COMPLETE trials in total (a rerun
continues, it does not add ``n_trials`` more). A trial is *surplus* when, at the moment it
started, enough earlier trials were already complete, running or waiting; it is then recorded as
failed with reason "surplus" and never trained, so concurrent workers stop at exactly
``n_trials`` finished trials. An architecture already finished in the study is not retrained:
its values are reused and the trial notes ``reused_from``.

Crashed workers: a trial records the worker that runs it (``user_attrs["worker"]``: host, pid).
On a database (heartbeat), a trial whose worker stopped beating is failed after the grace period
and queued again with the same parameters (``retry_of``). On a journal file (no heartbeat), a
RUNNING trial whose worker process is provably gone (same host, pid dead) is failed and retried
the same way when a worker starts or waits; other RUNNING trials of unknown fate are reported, and
``ghostnas fail-stale`` (:func:`fail_stale`) fails them.
"""
from __future__ import annotations

import copy
import datetime
import fcntl
import gc
import hashlib
import json
import logging
import math
import os
import socket
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import optuna
import torch
from optuna.trial import TrialState

from ghostnas.space import ArchConfig, SearchSpace, build_model, load_space

from .config import ConfigError, check_keys
from .data import load_dataset, train_val_split
from .files import atomic_write_json, ensure_writable_dir
from .storage import MAX_RETRY, open_storage, redact, retry_trial
from .train import Fidelity, TrainingDiverged, train_proxy

__all__ = ["StudyConfig", "open_study", "trials_frame", "pareto_trials", "OBJECTIVES",
           "SAMPLERS", "PRUNERS", "run_worker", "fail_stale", "stale_trials", "prepare_data"]
log = logging.getLogger("ghostnas.search")

OBJECTIVES = {"accuracy": "maximize", "macs": "minimize", "params": "minimize", "latency": "minimize"}
SAMPLERS = ("tpe", "nsga2", "nsga3", "random", "gp", "grid")
PRUNERS = ("none", "median", "hyperband")
_TOP = {"name", "space", "seed", "objectives", "data", "fidelity", "constraints", "sampler", "pruner",
        "study", "latency", "description"}
_DATA = {"dataset", "data_dir", "download"}
_STUDY = {"name", "n_trials", "storage", "run_dir", "workers", "device", "threads", "heartbeat_interval",
          "grace_period"}
_CONSTRAINTS = {"macs_max", "params_max", "latency_ms_max"}
_LATENCY = {"batch", "threads", "device", "channels_last", "min_run_time"}


@dataclass(frozen=True)
class StudyConfig:
    """A validated study config (see module docs); ``raw`` keeps the resolved TOML dict."""

    name: str
    space_spec: dict
    seed: int
    objectives: tuple[str, ...]
    data: dict
    fidelity: Fidelity
    constraints: dict
    sampler: dict
    pruner: dict
    n_trials: int
    storage: Optional[str]
    run_dir: Path
    workers: int
    device: str
    threads: Optional[int]
    latency: dict
    raw: dict = field(compare=False)
    heartbeat_interval: Optional[int] = None
    grace_period: Optional[int] = None

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[o] for o in self.objectives]

    def space(self, num_classes: Optional[int] = None) -> SearchSpace:
        return SearchSpace(copy.deepcopy(self.space_spec), num_classes)

    @property
    def signature(self) -> dict[str, Any]:
        """What must not change when a study is resumed."""
        spec_hash = hashlib.sha256(json.dumps(self.space_spec, sort_keys=True).encode()).hexdigest()[:12]
        return {"objectives": list(self.objectives), "space": spec_hash}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base_dir: Path = Path(".")) -> "StudyConfig":
        check_keys(raw, _TOP, "the study config")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError("study config: 'name' must be a non-empty string")
        if "space" not in raw:
            raise ConfigError("study config: missing key 'space' (a shipped space name or a .toml path)")
        space_ref = raw["space"]
        if isinstance(space_ref, dict):
            spec = space_ref
        else:
            p = Path(space_ref)
            if p.suffix == ".toml" and not p.is_absolute():
                p = base_dir / p
            spec = load_space(p if p.suffix else space_ref).spec
        SearchSpace(copy.deepcopy(spec))  # validate now: nothing half-built
        objectives = raw.get("objectives", ["accuracy", "macs"])
        if not isinstance(objectives, list) or not objectives:
            raise ConfigError("study config: objectives must be a non-empty list, e.g. [\"accuracy\", \"macs\"]")
        for o in objectives:
            if o not in OBJECTIVES:
                raise ConfigError(f"study config: unknown objective {o!r}; choose from {', '.join(OBJECTIVES)}")
        if len(set(objectives)) != len(objectives):
            raise ConfigError(f"study config: duplicate objectives {objectives}")
        if "accuracy" not in objectives:
            raise ConfigError("study config: objectives must include 'accuracy'")
        data = dict(raw.get("data", {"dataset": "digits"}))
        check_keys(data, _DATA, "[data]")
        data.setdefault("dataset", "digits")
        fidelity = Fidelity.from_dict(dict(raw.get("fidelity", {})))
        constraints = dict(raw.get("constraints", {}))
        check_keys(constraints, _CONSTRAINTS, "[constraints]")
        for k, v in constraints.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"[constraints] {k} = {v!r} is not allowed; expected a number > 0")
        if "latency_ms_max" in constraints and "latency" not in objectives:
            pass  # latency is then measured for the constraint only
        sampler = dict(raw.get("sampler", {}))
        sampler.setdefault("name", "tpe")
        if sampler["name"] not in SAMPLERS:
            raise ConfigError(f"study config: unknown sampler {sampler['name']!r}; choose from {', '.join(SAMPLERS)}")
        pruner = dict(raw.get("pruner", {}))
        pruner.setdefault("name", "none")
        if pruner["name"] not in PRUNERS:
            raise ConfigError(f"study config: unknown pruner {pruner['name']!r}; choose from {', '.join(PRUNERS)}")
        if pruner["name"] != "none" and len(objectives) > 1:
            raise ConfigError(f"study config: pruner {pruner['name']!r} cannot be used with {len(objectives)} "
                              "objectives: Optuna does not support pruning in multi-objective studies "
                              "(use one objective, or pruner = {name = \"none\"})")
        if sampler["name"] == "nsga3" and len(objectives) < 2:
            raise ConfigError("study config: sampler 'nsga3' needs at least 2 objectives")
        study = dict(raw.get("study", {}))
        check_keys(study, _STUDY, "[study]")
        n_trials = study.get("n_trials", 20)
        if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
            raise ConfigError(f"[study] n_trials = {n_trials!r} is not allowed; expected an integer >= 1")
        workers = study.get("workers", 1)
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ConfigError(f"[study] workers = {workers!r} is not allowed; expected an integer >= 1")
        seed = raw.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(f"study config: seed = {seed!r} is not allowed; expected an integer")
        for k in ("heartbeat_interval", "grace_period", "threads"):
            v = study.get(k)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ConfigError(f"[study] {k} = {v!r} is not allowed; expected an integer >= 1")
        latency = dict(raw.get("latency", {}))
        check_keys(latency, _LATENCY, "[latency]")
        run_dir = Path(study.get("run_dir", f"runs/{name}"))
        if not run_dir.is_absolute():
            run_dir = base_dir / run_dir
        resolved = copy.deepcopy(raw)
        resolved["space"] = spec
        return cls(name=study.get("name", name), space_spec=spec, seed=seed, objectives=tuple(objectives),
                   data=data, fidelity=fidelity, constraints=constraints, sampler=sampler, pruner=pruner,
                   n_trials=n_trials, storage=study.get("storage"), run_dir=run_dir, workers=workers,
                   device=study.get("device", "auto"), threads=study.get("threads"), latency=latency, raw=resolved,
                   heartbeat_interval=study.get("heartbeat_interval"), grace_period=study.get("grace_period"))


def make_sampler(cfg: StudyConfig, space: SearchSpace, seed: Optional[int] = None) -> optuna.samplers.BaseSampler:
    """The configured Optuna sampler (seeded; workers pass their own seed offset)."""
    opts = {k: v for k, v in cfg.sampler.items() if k != "name"}
    s = cfg.seed if seed is None else seed
    name = cfg.sampler["name"]
    try:
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=s, **opts)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=s, **opts)
        if name == "nsga3":
            return optuna.samplers.NSGAIIISampler(seed=s, **opts)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=s, **opts)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=s, **opts)
        grid = {a.name: list(a.choices) for a in space.axes if not a.fixed}
        if space.cardinality > 100_000:
            raise ConfigError(f"sampler 'grid': space {space.name} has {space.cardinality:,} points; "
                              "fix most axes (scalars) for a grid")
        return optuna.samplers.GridSampler(grid, seed=s)
    except TypeError as e:
        raise ConfigError(f"sampler {name!r}: bad option: {e}") from None


def make_pruner(cfg: StudyConfig) -> optuna.pruners.BasePruner:
    opts = {k: v for k, v in cfg.pruner.items() if k != "name"}
    try:
        if cfg.pruner["name"] == "median":
            return optuna.pruners.MedianPruner(**opts)
        if cfg.pruner["name"] == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=cfg.fidelity.epochs, **opts)
    except TypeError as e:
        raise ConfigError(f"pruner {cfg.pruner['name']!r}: bad option: {e}") from None
    return optuna.pruners.NopPruner()


def _config_to_storage_dict(cfg: StudyConfig) -> dict[str, Any]:
    return json.loads(json.dumps(cfg.raw, default=str))


def open_study(cfg: StudyConfig, create: bool = True, sampler_seed: Optional[int] = None) -> optuna.Study:
    """Create or load the study; refuse a resume whose objectives or space differ."""
    ensure_writable_dir(cfg.run_dir, "run folder")
    storage = open_storage(cfg.storage, cfg.run_dir, heartbeat_interval=cfg.heartbeat_interval,
                           grace_period=cfg.grace_period)
    space = cfg.space()
    sampler = make_sampler(cfg, space, sampler_seed)
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    if cfg.name in existing:
        study = optuna.load_study(study_name=cfg.name, storage=storage, sampler=sampler, pruner=make_pruner(cfg))
        stored = study.user_attrs.get("ghostnas_signature")
        if stored is not None and stored != cfg.signature:
            diff = [k for k in cfg.signature if stored.get(k) != cfg.signature[k]]
            what = " and ".join("objectives " + str(stored["objectives"]) if k == "objectives" else "a different search space"
                                for k in diff)
            raise ConfigError(f"study {cfg.name!r} already exists with {what}; this config asks for "
                              f"{'objectives ' + str(list(cfg.objectives)) if 'objectives' in diff else 'another space'}"
                              "; use a new study name (--set study.name=...) or the original config")
        if stored is None:
            raise ConfigError(f"study {cfg.name!r} exists in this storage but was not created by ghostnas; "
                              "use another study name")
        return study
    if not create:
        raise ConfigError(f"study {cfg.name!r} not found in {redact(cfg.storage or str(cfg.run_dir / 'study.journal'))}")
    study = optuna.create_study(study_name=cfg.name, storage=storage, sampler=sampler, pruner=make_pruner(cfg),
                                directions=cfg.directions)
    study.set_user_attr("ghostnas_signature", cfg.signature)
    study.set_user_attr("ghostnas_config", _config_to_storage_dict(cfg))
    study.set_user_attr("objectives", list(cfg.objectives))
    with warnings.catch_warnings():  # experimental since 3.2, stable in practice; the dashboard shows the names
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(cfg.objectives))
    return study


def load_stored_config(storage_url: str, study_name: str) -> StudyConfig:
    """Rebuild a study's config from its storage (for ``ghostnas worker``)."""
    storage = open_storage(storage_url, None, must_exist=True)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if study_name not in names:
        raise ConfigError(f"study {study_name!r} not found in {redact(storage_url)}; "
                          f"studies there: {', '.join(names) or 'none'}")
    study = optuna.load_study(study_name=study_name, storage=storage)
    raw = study.user_attrs.get("ghostnas_config")
    if raw is None:
        raise ConfigError(f"study {study_name!r} was not created by ghostnas (no stored config)")
    raw = copy.deepcopy(raw)
    raw.setdefault("study", {})["storage"] = storage_url
    raw["study"]["name"] = study_name
    return StudyConfig.from_dict(raw)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


_DATA_CACHE: dict[Any, Any] = {}


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


class _Objective:
    """Evaluates one trial: suggest → analytic counts → constraints → (latency) → train."""

    def __init__(self, cfg: StudyConfig, study: optuna.Study) -> None:
        self.cfg = cfg
        self.study = study
        self.train, self.val, num_classes = prepare_data(cfg)
        self.space = cfg.space(num_classes=num_classes)
        self.trials_dir = cfg.run_dir / "trials"

    def _surplus(self, trial: optuna.Trial) -> bool:
        earlier = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING))
        return sum(t.number < trial.number for t in earlier) >= self.cfg.n_trials

    def _reuse(self, arch_id: str, number: int) -> Optional[optuna.trial.FrozenTrial]:
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.user_attrs.get("arch_id") == arch_id and t.number != number and not t.user_attrs.get("reused_from") \
                    and not t.user_attrs.get("rejected"):
                return t
        return None

    def _wait_for_twin(self, trial: optuna.Trial, arch_id: str) -> bool:
        """If an earlier trial of a live worker is training the same architecture right now, wait
        for it (so each architecture is trained once, even by concurrent workers). Returns whether
        it waited. Only earlier trials are waited for, so two trials never wait for each other; a
        twin whose worker dies stops the wait (heartbeat / dead pid), and this trial trains."""
        from optuna.storages._heartbeat import is_heartbeat_enabled

        storage = self.study._storage
        waited = False
        while True:
            twins = [t for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                     if t.number < trial.number and t.user_attrs.get("arch_id") == arch_id]
            if twins and is_heartbeat_enabled(storage):
                stale = set(storage._get_stale_trial_ids(self.study._study_id))
                twins = [t for t in twins if t._trial_id not in stale]
            elif twins:
                twins = [t for t in twins if _worker_gone(t.user_attrs.get("worker")) is False]
            if not twins:
                return waited
            if not waited:
                log.info("trial %d: trial %d is training the same architecture; waiting to reuse it",
                         trial.number, twins[0].number)
                trial.set_user_attr("waited_for", twins[0].number)
                waited = True
            time.sleep(0.5)

    def _latency_ms(self, arch: ArchConfig) -> dict[str, Any]:
        from ghostnas.space.measure import measure_latency
        from ghostnas.ghostnet.fuse import fuse_for_inference

        lat = self.cfg.latency
        # One measurement at a time on this machine, whatever the number of worker processes.
        with _file_lock(self.cfg.run_dir / "latency.lock"):
            model = fuse_for_inference(build_model(arch).eval())
            res = measure_latency(model, arch.resolution, batch=lat.get("batch", 1),
                                  device=lat.get("device", "cpu"), threads=lat.get("threads", 1),
                                  channels_last=lat.get("channels_last", True),
                                  min_run_time=lat.get("min_run_time", 0.3))
        return res.to_dict()

    def __call__(self, trial: optuna.Trial) -> Any:
        from ghostnas.space.measure import analytic_counts

        cfg = self.cfg
        arch = self.space.suggest(trial)
        if self._surplus(trial):
            trial.set_user_attr("fail_reason", f"surplus: the study already had {cfg.n_trials} trials")
            raise _Surplus()
        counts = analytic_counts(arch)
        trial.set_user_attr("arch_id", arch.id)
        trial.set_user_attr("arch", arch.to_json())
        trial.set_user_attr("macs", counts.macs)
        trial.set_user_attr("params", counts.params)
        metrics: dict[str, Any] = {"macs": counts.macs, "params": counts.params}
        values: dict[str, float] = {"macs": float(counts.macs), "params": float(counts.params)}
        constraints = {}
        if "macs_max" in cfg.constraints:
            constraints["macs"] = counts.macs - cfg.constraints["macs_max"]
        if "params_max" in cfg.constraints:
            constraints["params"] = counts.params - cfg.constraints["params_max"]
        for name, v in constraints.items():
            trial.set_constraint(name, float(v))
        over = [n for n, v in constraints.items() if v > 0]
        self._write_trial_file(trial, "config.json", {"arch_id": arch.id, "arch": arch.to_dict(),
                                                     "params": trial.params})
        if over:
            # Rejected by the analytical count: never trained. Feasibility is in the constraints.
            reason = ", ".join(f"{n} {metrics[n]:,} > budget {cfg.constraints[n + '_max']:,}" for n in over)
            trial.set_user_attr("rejected", reason)
            values["accuracy"] = 0.0
            values["latency"] = math.inf if "latency" in cfg.objectives else 0.0
            self._write_trial_file(trial, "metrics.json", {**metrics, "rejected": reason})
            return self._values(values)
        prior = self._reuse(arch.id, trial.number)
        if prior is None and self._wait_for_twin(trial, arch.id):
            prior = self._reuse(arch.id, trial.number)
        if prior is not None:
            trial.set_user_attr("reused_from", prior.number)
            for k in ("curve", "latency_ms", "latency", "train_s", "device"):
                if k in prior.user_attrs:
                    trial.set_user_attr(k, prior.user_attrs[k])
            self._write_trial_file(trial, "metrics.json", {**metrics, "reused_from": prior.number})
            return prior.values if len(prior.values) > 1 else prior.values[0]
        if "latency" in cfg.objectives or "latency_ms_max" in cfg.constraints:
            lat = self._latency_ms(arch)
            trial.set_user_attr("latency", lat)
            trial.set_user_attr("latency_ms", lat["median_ms"])
            values["latency"] = lat["median_ms"]
            metrics["latency"] = lat
            if "latency_ms_max" in cfg.constraints:
                trial.set_constraint("latency", lat["median_ms"] - cfg.constraints["latency_ms_max"])
        torch.manual_seed(cfg.seed + trial.number if cfg.raw.get("seed_per_trial") else cfg.seed)
        model = build_model(arch)
        single = len(cfg.objectives) == 1

        def report(epoch: int, acc: float) -> None:
            trial.set_user_attr("curve", trial.user_attrs.get("curve", []) + [acc])
            if single:
                trial.report(acc, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} at accuracy {acc:.4f}")

        t0 = time.perf_counter()
        try:
            res = train_proxy(model, self.train, self.val, cfg.fidelity, seed=cfg.seed, device=cfg.device,
                              report=report)
        except TrainingDiverged as e:
            trial.set_user_attr("fail_reason", f"diverged: {e}")
            raise
        trial.set_user_attr("train_s", round(time.perf_counter() - t0, 3))
        trial.set_user_attr("compute_s", round(res.compute_s, 3))
        trial.set_user_attr("device", res.device)
        values["accuracy"] = res.val_acc
        metrics.update(res.to_dict())
        self._write_trial_file(trial, "metrics.json", metrics)
        return self._values(values)

    def _values(self, values: dict[str, float]) -> Any:
        out = [values[o] for o in self.cfg.objectives]
        return out if len(out) > 1 else out[0]

    def _write_trial_file(self, trial: optuna.Trial, name: str, obj: dict) -> None:
        atomic_write_json(self.trials_dir / f"{trial.number:05d}" / name, obj)


class _Surplus(Exception):
    """Another worker already started the last trial the study needed."""


def _counts(study: optuna.Study) -> dict[str, int]:
    c = {"complete": 0, "running": 0, "failed": 0, "pruned": 0, "waiting": 0}
    for t in study.get_trials(deepcopy=False):
        key = {TrialState.COMPLETE: "complete", TrialState.RUNNING: "running", TrialState.FAIL: "failed",
               TrialState.PRUNED: "pruned", TrialState.WAITING: "waiting"}[t.state]
        if key == "failed" and str(t.user_attrs.get("fail_reason", "")).startswith("surplus"):
            continue
        c[key] += 1
    return c


# --- which worker runs a trial, and is it still alive? -------------------------------------------

def _proc_stat(pid: int) -> Optional[tuple[str, int]]:
    """(state letter, start time in clock ticks) of a process, from /proc; None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def worker_identity() -> dict[str, Any]:
    """What a trial records about the process that runs it (``user_attrs["worker"]``)."""
    st = _proc_stat(os.getpid())
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": st[1] if st else None, "ns": _pid_namespace()}


def _worker_gone(worker: Any) -> Optional[bool]:
    """True if the recorded worker process is provably gone (same host and pid namespace, and the
    pid is dead, a zombie or another process); False if it runs; None if this cannot be known here
    (another machine, or no record)."""
    if not isinstance(worker, dict) or worker.get("host") != socket.gethostname() \
            or worker.get("ns", "") != _pid_namespace() or not isinstance(worker.get("pid"), int):
        return None
    st = _proc_stat(worker["pid"])
    if st is None:
        if not os.path.isdir("/proc"):  # no procfs: fall back to a signal-0 probe
            try:
                os.kill(worker["pid"], 0)
            except ProcessLookupError:
                return True
            except OSError:
                return False
            return False
        return True
    state, start = st
    return state in ("Z", "X") or (worker.get("start") is not None and start != worker["start"])


def _describe_worker(worker: Any) -> str:
    if not isinstance(worker, dict):
        return "worker unknown"
    here = worker.get("host") == socket.gethostname()
    return f"pid {worker.get('pid')} on {'this host' if here else worker.get('host')}"


def _age_s(t: optuna.trial.FrozenTrial) -> Optional[float]:
    if t.datetime_start is None:
        return None
    return (datetime.datetime.now() - t.datetime_start).total_seconds()


def stale_trials(study: optuna.Study, older_than: Optional[float] = None, check_pid: bool = True
                 ) -> tuple[list[tuple[optuna.trial.FrozenTrial, str]], list[tuple[optuna.trial.FrozenTrial, str]]]:
    """Split the study's RUNNING trials into ``(stale, unknown)``, each a list of ``(trial, why)``.

    Stale: the worker process is provably gone (same host), the heartbeat stopped for longer than
    the grace period (database storages), or, with ``older_than``, the trial has run more than
    that many seconds and its worker cannot be checked from here. Unknown: running trials whose
    worker cannot be checked from here (another machine, no heartbeat). Trials whose worker is
    provably alive are in neither list. ``check_pid=False`` ignores dead pids (workers leave
    database storages to the heartbeat).
    """
    from optuna.storages._heartbeat import is_heartbeat_enabled

    storage = study._storage
    hb_stale: set[int] = set()
    if is_heartbeat_enabled(storage):
        hb_stale = set(storage._get_stale_trial_ids(study._study_id))
    stale, unknown = [], []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        gone = _worker_gone(worker)
        age = _age_s(t)
        if t._trial_id in hb_stale:
            stale.append((t, f"no heartbeat for the grace period ({_describe_worker(worker)})"))
        elif gone and check_pid:
            stale.append((t, f"its worker ({_describe_worker(worker)}) is gone"))
        elif gone is False:
            continue
        elif is_heartbeat_enabled(storage):
            continue  # heartbeat is fresh: alive on another machine
        elif older_than is not None and age is not None and age > older_than:
            stale.append((t, f"running for {age:.0f}s > {older_than:g}s ({_describe_worker(worker)})"))
        else:
            unknown.append((t, f"{_describe_worker(worker)}, running for {age or 0:.0f}s"))
    return stale, unknown


def fail_stale(study: optuna.Study, older_than: Optional[float] = None, retry: bool = True,
               check_pid: bool = True) -> tuple[list[tuple[int, str, bool]], list[tuple[int, str]]]:
    """Fail the study's stale RUNNING trials (see :func:`stale_trials`), each with a ``fail_reason``
    starting ``stale:``, and (``retry``) queue each again with the same parameters.

    Returns:
        ``([(number, why, retried), ...], [(number, why) of trials left RUNNING], ...)``.
    """
    with _reap_lock(study):
        return _fail_stale_locked(study, older_than, retry, check_pid)


@contextmanager
def _reap_lock(study: optuna.Study) -> Iterator[None]:
    """Serialise reaping between the processes that share a journal file (one machine), so a dead
    worker's trial is failed and retried once, not once per live worker."""
    backend = getattr(study._storage, "_backend", None)
    path = getattr(backend, "_file_path", None)
    if path is None:
        yield
        return
    with _file_lock(Path(str(path) + ".ghostnas-reap.lock")):
        yield


def _fail_stale_locked(study: optuna.Study, older_than: Optional[float], retry: bool, check_pid: bool
                       ) -> tuple[list[tuple[int, str, bool]], list[tuple[int, str]]]:
    stale, unknown = stale_trials(study, older_than, check_pid)
    storage = study._storage
    done = []
    for t, why in stale:
        try:
            storage.set_trial_user_attr(t._trial_id, "fail_reason", f"stale: {why}")
            if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # finished (or failed by another worker) meanwhile
        frozen = storage.get_trial(t._trial_id)
        done.append((t.number, why, bool(retry and retry_trial(study, frozen, MAX_RETRY))))
    return done, [(t.number, why) for t, why in unknown]


def _stale_hint(cfg: StudyConfig) -> str:
    url = redact(cfg.storage or str((cfg.run_dir / "study.journal").resolve()))
    return f"ghostnas fail-stale --storage {url} --study {cfg.name} --older-than SECONDS"


def _reap(study: optuna.Study, cfg: StudyConfig, at_start: bool) -> None:
    """Fail (and retry) trials of dead workers; at start, report RUNNING trials of unknown fate.
    On database storages the heartbeat decides (same rule for every machine)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    done, unknown = fail_stale(study, check_pid=not is_heartbeat_enabled(study._storage))
    for number, why, retried in done:
        log.warning("trial %d was still RUNNING but %s: failed it%s", number, why,
                    ", queued a retry with the same parameters" if retried
                    else f" (not retried: already retried {MAX_RETRY} times)")
    if at_start and unknown:
        n = len(unknown)
        log.warning("%d trial%s still RUNNING from a previous run or another worker (%s); if no worker runs "
                    "%s any more, fail %s with: %s", n, " is" if n == 1 else "s are",
                    "; ".join(f"#{num}: {why}" for num, why in unknown), "it" if n == 1 else "them",
                    "it" if n == 1 else "them", _stale_hint(cfg))


class _QuietOptunaFailures(logging.Filter):
    """Drop Optuna's 'Trial N failed ...' records (with their tracebacks) for trials that the
    guarded objective already reported in one line; GHOSTNAS_DEBUG=1 keeps them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if os.environ.get("GHOSTNAS_DEBUG"):
            return True
        msg = str(record.msg)
        return not (msg.startswith("Trial ") and " failed with " in msg)


class _Progress:
    """One status line per finished trial on a terminal; quiet otherwise (logging still works)."""

    def __init__(self, cfg: StudyConfig, stream: Any = None) -> None:
        self.cfg = cfg
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.time()
        self.done0: Optional[int] = None

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        c = _counts(study)
        if self.done0 is None:
            self.done0 = c["complete"] - 1
        best = ""
        acc_i = self.cfg.objectives.index("accuracy")
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if not t.user_attrs.get("rejected")]
        if done:
            best = f", best accuracy {max(t.values[acc_i] for t in done):.4f}"
        rate = (c["complete"] - self.done0) / max(time.time() - self.t0, 1e-9)
        left = self.cfg.n_trials - c["complete"]
        eta = f", ETA {left / rate:.0f}s" if rate > 0 and left > 0 else ""
        line = (f"[{self.cfg.name}] {c['complete']}/{self.cfg.n_trials} done, {c['running']} running, "
                f"{c['failed']} failed, {c['pruned']} pruned{best}{eta}")
        log.info(line)
        if self.enabled:
            print(line, file=self.stream, flush=True)


def run_worker(cfg: StudyConfig, worker_index: int = 0, create: bool = True) -> optuna.Study:
    """Run trials in this process until the study has ``n_trials`` complete trials.

    Each trial goes through ``study.optimize(n_trials=1)``, so Optuna's heartbeat, stale-trial
    failing and retry callback work on RDB storages; any exception inside a trial is recorded on
    it (``fail_reason``) and the loop goes on.
    """
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    prepare_data(cfg)  # bad data fails here, before the study is created
    # Each worker gets its own sampler seed: identical seeds would propose identical points.
    study = open_study(cfg, create=create, sampler_seed=cfg.seed + worker_index)
    objective = _Objective(cfg, study)
    progress = _Progress(cfg)
    quiet = _QuietOptunaFailures()
    optuna_log = logging.getLogger("optuna.study._optimize")
    optuna_log.addFilter(quiet)

    def guarded(trial: optuna.Trial) -> Any:
        trial.set_user_attr("worker", worker_identity())
        before = trial.user_attrs.get("fail_reason")
        try:
            return objective(trial)
        except optuna.TrialPruned as e:
            trial.set_user_attr("prune_reason", str(e))
            raise
        except _Surplus:
            raise
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM (a scheduler preempting the job): Optuna fails the trial; queue it
            # again with the same parameters so the next run continues it.
            trial.set_user_attr("fail_reason", "interrupted (SIGINT/SIGTERM)")
            try:
                queued = retry_trial(study, study._storage.get_trial(trial._trial_id))
            except Exception:  # noqa: BLE001 - never mask the interrupt
                queued = False
            log.warning("trial %d interrupted%s", trial.number,
                        "; queued a retry with the same parameters" if queued else "")
            raise
        except Exception as e:
            reason = trial.user_attrs.get("fail_reason")
            if reason is None or reason == before:
                text = " ".join(str(e).split())[:300]
                oom = isinstance(e, MemoryError) or "out of memory" in text.lower()
                reason = f"{'out of memory: ' if oom else ''}{type(e).__name__}: {text}"
                trial.set_user_attr("fail_reason", reason)
            log.warning("trial %d failed: %s", trial.number, reason)
            # Free a failed (e.g. out-of-memory) attempt's tensors before the next trial. Only on
            # failure: a full collection costs ~0.2 s, 10% of a small trial.
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise

    try:
        _reap(study, cfg, at_start=True)
        waited_hint = False
        while True:
            c = _counts(study)
            if c["complete"] >= cfg.n_trials:
                break
            # WAITING trials (retries) are not counted: the next study.ask picks them up.
            if c["complete"] + c["running"] >= cfg.n_trials:
                # Other workers hold the remaining trials; wait in case one fails or its worker dies.
                time.sleep(1.0)
                _reap(study, cfg, at_start=False)
                if not waited_hint:
                    _, unknown = stale_trials(study)
                    unknown = [(t, w) for t, w in unknown if (_age_s(t) or 0) > 60]
                    if unknown:
                        log.warning("waiting for trial(s) %s running in other workers; if those workers are "
                                    "gone, fail the trials with: %s",
                                    ", ".join(f"#{n}" for n, _ in [(t.number, w) for t, w in unknown]),
                                    _stale_hint(cfg))
                        waited_hint = True
                continue
            _reap(study, cfg, at_start=False)
            study.optimize(guarded, n_trials=1, catch=(Exception,), callbacks=[progress], gc_after_trial=False)
    finally:
        optuna_log.removeFilter(quiet)
    return study


def trials_frame(study: optuna.Study) -> "Any":
    """The study's trials as a pandas DataFrame: params, objectives, arch id, counts, curve, reasons."""
    import pandas as pd

    objectives = study.user_attrs.get("objectives") or [f"value_{i}" for i in range(len(study.directions))]
    rows = []
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
    for t in trials:
        row: dict[str, Any] = {"number": t.number, "state": t.state.name}
        for i, o in enumerate(objectives):
            row[o] = t.values[i] if t.values is not None else None
        ua = t.user_attrs
        row.update({"arch_id": ua.get("arch_id"), "macs": ua.get("macs"), "params": ua.get("params"),
                    "latency_ms": ua.get("latency_ms"), "train_s": ua.get("train_s"), "device": ua.get("device"),
                    "feasible": all(v <= 0 for v in t.constraints.values()) if t.constraints else True,
                    "rejected": ua.get("rejected"), "reused_from": ua.get("reused_from"),
                    "fail_reason": ua.get("fail_reason") or (
                        "stale: no heartbeat for the grace period (failed by Optuna)"
                        if t.state == TrialState.FAIL and t.number in retried else None),
                    "retry_of": ua.get("retry_of"), "curve": json.dumps(ua.get("curve")) if ua.get("curve") else None,
                    "duration_s": t.duration.total_seconds() if t.duration else None})
        row.update({f"param.{k}": v for k, v in t.params.items()})
        row["arch"] = ua.get("arch")
        rows.append(row)
    return pd.DataFrame(rows)


def pareto_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Pareto-optimal feasible trained trials (Optuna's ``best_trials``; the best trial for one
    objective), without trials that only reused another trial's architecture."""
    if len(study.directions) == 1:
        try:
            best = [study.best_trial]
        except ValueError:
            return []
    else:
        best = study.best_trials
    return sorted((t for t in best if t.user_attrs.get("reused_from") is None
                   and not t.user_attrs.get("rejected")), key=lambda t: t.number)
