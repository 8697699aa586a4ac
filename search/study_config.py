"""Study configs: the validated form of a study TOML (space, data, fidelity, objectives, constraints,
sampler, pruner, trials, storage, and the optional ``[prefilter]`` / ``[early_stopping]`` tables of
:mod:`ghostnas.search.prefilter` and :mod:`ghostnas.search.early_stop`)."""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ghostnas.space import SearchSpace, load_space

from .config import ConfigError, check_keys
from .early_stop import check_early_stopping
from .prefilter import check_prefilter
from .train import Fidelity

__all__ = ["StudyConfig", "OBJECTIVES", "SAMPLERS", "PRUNERS"]

OBJECTIVES = {"accuracy": "maximize", "macs": "minimize", "params": "minimize", "latency": "minimize",
              "latency_pred": "minimize"}
SAMPLERS = ("tpe", "nsga2", "nsga3", "random", "gp", "grid")
PRUNERS = ("none", "median", "hyperband")
_TOP = {"name", "space", "seed", "objectives", "data", "fidelity", "constraints", "sampler", "pruner",
        "study", "latency", "description", "prefilter", "early_stopping", "pareto"}
_PARETO = {"reference"}  # [pareto] reference = {macs = 2e6, accuracy = 0.0}: the fixed hypervolume reference
_DATA = {"dataset", "data_dir", "download"}
MAX_CONSECUTIVE_FAILURES = 10  # default of [study] max_consecutive_failures
_STUDY = {"name", "n_trials", "storage", "run_dir", "workers", "device", "threads", "heartbeat_interval",
          "grace_period", "allow_setup_change", "max_consecutive_failures"}
_CONSTRAINTS = {"macs_max", "params_max", "latency_ms_max", "latency_pred_ms_max"}
# backend: torch | onnxruntime | openvino (default: onnxruntime where installed, for new studies; see
# search/objective.py); precision f32 | bf16 (openvino); clock wall | cpu; predictor_samples: architectures
# whose layers seed the latency_pred table (ghostnas.space.latency_predictor).
_LATENCY = {"batch", "threads", "device", "channels_last", "min_run_time", "backend", "precision", "clock",
            "predictor_samples", "remeasure"}
# Seconds of timing per latency measurement, at least: below about 0.1 s a median of a few runs is
# dominated by scheduler noise on a shared CPU.
MIN_LATENCY_RUN_TIME = 0.1
# How many times a noisy latency measurement is repeated by default (``[latency] remeasure``).
REMEASURE_NOISY = 2


def _space_spec(space_ref: Any, base_dir: Path) -> dict[str, Any]:
    """The space spec of ``space``: an inline table, a shipped name, or a .toml path (relative to the config)."""
    if isinstance(space_ref, dict):
        spec = space_ref
    else:
        p = Path(space_ref)
        if p.suffix == ".toml" and not p.is_absolute():
            p = base_dir / p
        spec = load_space(p if p.suffix else space_ref).spec
    return spec


def _check_objectives(objectives: Any) -> None:
    """A non-empty list of distinct known objectives that includes accuracy."""
    if not isinstance(objectives, list) or not objectives:
        raise ConfigError("study config: objectives must be a non-empty list, e.g. [\"accuracy\", \"macs\"]")
    for o in objectives:
        if o not in OBJECTIVES:
            raise ConfigError(f"study config: unknown objective {o!r}; choose from {', '.join(OBJECTIVES)}")
    if len(set(objectives)) != len(objectives):
        raise ConfigError(f"study config: duplicate objectives {objectives}")
    if "accuracy" not in objectives:
        raise ConfigError("study config: objectives must include 'accuracy'")


def _check_latency(latency: dict[str, Any]) -> None:
    """``[latency]``: backend and precision, clock, predictor samples, the timing budget, re-measurements."""
    if "backend" in latency or "precision" in latency:
        from ghostnas.space.backends import check_backend
        try:
            check_backend(latency.get("backend", "openvino" if latency.get("precision") == "bf16" else "torch"),
                          latency.get("precision", "f32"))
        except ValueError as e:
            raise ConfigError(f"[latency] {e}") from None
    if latency.get("clock", "wall") not in ("wall", "cpu"):
        raise ConfigError(f"[latency] clock = {latency['clock']!r} is not allowed; expected \"wall\" or \"cpu\"")
    if latency.get("clock") == "cpu" and latency.get("threads", 1) != 1:
        raise ConfigError("[latency] clock = \"cpu\" needs threads = 1 (process CPU time is latency only then)")
    ps = latency.get("predictor_samples", 10)
    if not isinstance(ps, int) or isinstance(ps, bool) or ps < 1:
        raise ConfigError(f"[latency] predictor_samples = {ps!r} is not allowed; expected an integer >= 1")
    rt = latency.get("min_run_time", 0.3)
    if isinstance(rt, bool) or not isinstance(rt, (int, float)) or not rt >= MIN_LATENCY_RUN_TIME:
        raise ConfigError(f"[latency] min_run_time = {rt!r} is not allowed; expected seconds >= "
                          f"{MIN_LATENCY_RUN_TIME} (shorter timings are mostly noise)")
    rm = latency.get("remeasure", REMEASURE_NOISY)
    if not isinstance(rm, int) or isinstance(rm, bool) or not 0 <= rm <= 10:
        raise ConfigError(f"[latency] remeasure = {rm!r} is not allowed; expected an integer 0-10 "
                          "(times a noisy measurement is repeated)")


def _check_pareto(pareto: Any, objectives: list) -> None:
    """``[pareto] reference``: one number per objective of the study (accuracy in [0, 1), costs > 0)."""
    check_keys(pareto, _PARETO, "[pareto]")
    ref = pareto.get("reference", {})
    check_keys(ref, objectives, "[pareto] reference (the study's objectives)")
    for k, v in ref.items():
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and (0 <= v < 1 if k == "accuracy" else v > 0)
        if not ok:
            raise ConfigError(f"[pareto] reference {k} = {v!r} is not allowed; expected "
                              + ("an accuracy in [0, 1)" if k == "accuracy" else "a number > 0"))


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
    allow_setup_change: bool = False
    prefilter: dict = field(default_factory=dict)       # search/prefilter.py; {} = off
    early_stopping: dict = field(default_factory=dict)  # search/early_stop.py; {} = off
    max_consecutive_failures: int = MAX_CONSECUTIVE_FAILURES  # search/study.py: a worker stops on such a streak

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

    @property
    def setup(self) -> dict[str, Any]:
        """The training setup: what a trial's accuracy depends on besides its architecture."""
        return json.loads(json.dumps({"data": self.data, "fidelity": self.fidelity.to_dict(), "seed": self.seed},
                                     sort_keys=True, default=str))

    @property
    def setup_hash(self) -> str:
        """Short hash of :attr:`setup`; recorded on every trial (``setup_hash``)."""
        return hashlib.sha256(json.dumps(self.setup, sort_keys=True).encode()).hexdigest()[:10]

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base_dir: Path = Path(".")) -> "StudyConfig":
        check_keys(raw, _TOP, "the study config")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError("study config: 'name' must be a non-empty string")
        if "space" not in raw:
            raise ConfigError("study config: missing key 'space' (a shipped space name or a .toml path)")
        spec = _space_spec(raw["space"], base_dir)
        SearchSpace(copy.deepcopy(spec))  # validate now: nothing half-built
        objectives = raw.get("objectives", ["accuracy", "macs"])
        _check_objectives(objectives)
        data = dict(raw.get("data", {"dataset": "digits"}))
        check_keys(data, _DATA, "[data]")
        data.setdefault("dataset", "digits")
        fidelity = Fidelity.from_dict(dict(raw.get("fidelity", {})))
        constraints = dict(raw.get("constraints", {}))
        check_keys(constraints, _CONSTRAINTS, "[constraints]")
        for k, v in constraints.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"[constraints] {k} = {v!r} is not allowed; expected a number > 0")
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
        for k in ("heartbeat_interval", "grace_period", "threads", "max_consecutive_failures"):
            v = study.get(k)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ConfigError(f"[study] {k} = {v!r} is not allowed; expected an integer >= 1")
        latency = dict(raw.get("latency", {}))
        check_keys(latency, _LATENCY, "[latency]")
        _check_pareto(raw.get("pareto", {}), objectives)
        _check_latency(latency)
        prefilter = check_prefilter(raw.get("prefilter"), sampler, fidelity)
        early_stopping = check_early_stopping(raw.get("early_stopping"), objectives, fidelity, pruner)
        run_dir = Path(study.get("run_dir", f"runs/{name}"))
        if not run_dir.is_absolute():
            run_dir = base_dir / run_dir
        resolved = copy.deepcopy(raw)
        resolved["space"] = spec
        return cls(name=study.get("name", name), space_spec=spec, seed=seed, objectives=tuple(objectives),
                   data=data, fidelity=fidelity, constraints=constraints, sampler=sampler, pruner=pruner,
                   n_trials=n_trials, storage=study.get("storage"), run_dir=run_dir, workers=workers,
                   device=study.get("device", "auto"), threads=study.get("threads"), latency=latency, raw=resolved,
                   heartbeat_interval=study.get("heartbeat_interval"), grace_period=study.get("grace_period"),
                   allow_setup_change=bool(study.get("allow_setup_change", False)),
                   prefilter=prefilter, early_stopping=early_stopping,
                   max_consecutive_failures=study.get("max_consecutive_failures", MAX_CONSECUTIVE_FAILURES))
