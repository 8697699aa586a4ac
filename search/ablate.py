"""Paper ablations on the Ghost ratio ``s`` and cheap-op kernel ``d``, as Optuna grid studies.

An ablation config (``ghostnas/search/configs/*.toml``) names the architecture (``vgg16`` or
``resnet56``), the axis (``ratio`` or ``dw_size``) and its values, the fixed value of the other
axis, whether to add the plain baseline, the seeds, the data and the fidelity preset. The grid
(points × seeds) runs as an Optuna study with a :class:`optuna.samplers.GridSampler`, so it is
stored, resumable and can take several workers. Each finished run is also written atomically to
a run cache keyed by (architecture, fidelity, data, seed), shared between ablations, so the
baseline and the s=2/d=3 point are trained once for both VGG tables.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import optuna
import torch

from ghostnas.ghostnet import CifarNetConfig, build_model

from .config import ConfigError, check_keys
from .data import ImageData, class_balanced_subset, load_dataset, train_val_split
from .files import atomic_write_json, ensure_writable_dir, read_json_or_none
from .readers import open_existing_study
from .storage import open_storage
from .train import Fidelity, TrainingDiverged, train_proxy

__all__ = ["AblationConfig", "AblationPoint", "run_ablation", "collect_runs", "load_study", "budget_configs",
           "run_all_budgets", "cached_runs", "dataset_num_classes"]
log = logging.getLogger("ghostnas.ablate")

_TOP_KEYS = {"name", "title", "arch", "axis", "values", "fixed", "baseline", "seeds", "fidelity",
             "fidelities", "data", "output", "study", "paper_table", "budgets"}
_DATA_KEYS = {"dataset", "data_dir", "download", "test_dataset", "eval_on"}
_OUTPUT_KEYS = {"dir", "runs_dir", "save_checkpoints"}
_STUDY_KEYS = {"storage", "name", "device", "threads"}


@dataclass(frozen=True)
class AblationPoint:
    label: str
    ratio: Optional[int]
    dw_size: Optional[int]

    def model_config(self, arch: str, num_classes: int, width: float) -> CifarNetConfig:
        return CifarNetConfig.uniform(arch, self.ratio, self.dw_size, num_classes=num_classes, width=width)


@dataclass(frozen=True)
class AblationConfig:
    name: str
    title: str
    arch: str
    axis: str
    values: tuple[int, ...]
    fixed: dict
    baseline: bool
    seeds: tuple[int, ...]
    fidelity_name: str
    fidelity: Fidelity
    data: dict
    out_dir: Path
    runs_dir: Path
    save_checkpoints: bool
    storage: Optional[str]
    study_name: str
    device: str
    threads: Optional[int]
    paper_table: Optional[int]
    budgets: tuple[dict, ...] = ()

    @classmethod
    def from_dict(cls, cfg: dict[str, Any], base_dir: Path = Path(".")) -> "AblationConfig":
        check_keys(cfg, _TOP_KEYS, "the ablation config")
        for key in ("name", "arch", "axis", "values", "seeds", "fidelity", "data"):
            if key not in cfg:
                raise ConfigError(f"ablation config: missing key {key!r}")
        arch = cfg["arch"]
        if arch not in ("vgg16", "resnet56"):
            raise ConfigError(f"ablation config: arch {arch!r} is not allowed; expected 'vgg16' or 'resnet56'")
        axis = cfg["axis"]
        if axis not in ("ratio", "dw_size"):
            raise ConfigError(f"ablation config: axis {axis!r} is not allowed; expected 'ratio' or 'dw_size'")
        values = cfg["values"]
        baseline = cfg.get("baseline", True)
        if not isinstance(values, list) or not (values or baseline is True):
            raise ConfigError("ablation config: values must be a list, non-empty unless baseline = true "
                              "(then values = [] trains the plain network only)")
        fixed = dict(cfg.get("fixed", {}))
        check_keys(fixed, {"ratio", "dw_size"} - {axis}, "[fixed]")
        seeds = cfg["seeds"]
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
            raise ConfigError("ablation config: seeds must be a non-empty list of integers")
        fidelities = cfg.get("fidelities", {})
        fname = cfg["fidelity"]
        if fname not in fidelities:
            raise ConfigError(f"ablation config: fidelity {fname!r} is not defined; "
                              f"defined: {', '.join(sorted(fidelities)) or 'none'}")
        fidelity = Fidelity.from_dict(fidelities[fname])
        data = dict(cfg["data"])
        check_keys(data, _DATA_KEYS, "[data]")
        if "dataset" not in data:
            raise ConfigError("ablation config: [data] needs 'dataset'")
        if data.get("eval_on", "val") not in ("val", "test"):
            raise ConfigError(f"[data] eval_on {data['eval_on']!r} is not allowed; expected 'val' or 'test'")
        output = dict(cfg.get("output", {}))
        check_keys(output, _OUTPUT_KEYS, "[output]")
        study = dict(cfg.get("study", {}))
        check_keys(study, _STUDY_KEYS, "[study]")
        budgets = cfg.get("budgets", [])
        if not isinstance(budgets, list) or not all(isinstance(b, dict) and b for b in budgets):
            raise ConfigError("ablation config: budgets must be a list of fidelity overrides, e.g. "
                              "[{epochs = 16}, {epochs = 32}]")
        for b in budgets:
            try:
                Fidelity.from_dict({**fidelity.to_dict(), **b})
            except (TypeError, ValueError) as e:
                raise ConfigError(f"ablation config: budget {b}: {e}") from None
        out_dir = base_dir / output.get("dir", f"experiments/results/{cfg['name']}")
        runs_dir = base_dir / output.get("runs_dir", "experiments/results/ablation_runs")
        # Validate each point now: nothing half-run on a bad value.
        self_ = cls(
            name=cfg["name"], title=cfg.get("title", cfg["name"]), arch=arch, axis=axis,
            values=tuple(values), fixed=fixed, baseline=bool(cfg.get("baseline", True)), seeds=tuple(seeds),
            fidelity_name=fname, fidelity=fidelity, data=data, out_dir=out_dir, runs_dir=runs_dir,
            save_checkpoints=bool(output.get("save_checkpoints", False)), storage=study.get("storage"),
            study_name=study.get("name", _default_study_name(cfg["name"], fname, values, seeds, fidelities[fname])),
            device=study.get("device", "auto"), threads=study.get("threads"), paper_table=cfg.get("paper_table"),
            budgets=tuple(dict(b) for b in budgets))
        for p in self_.points():
            try:
                p.model_config(arch, 10, fidelity.width)
            except ValueError as e:
                raise ConfigError(f"ablation config: point {p.label}: {e}") from None
        return self_

    def points(self) -> list[AblationPoint]:
        pts = [AblationPoint("baseline", None, None)] if self.baseline else []
        other = "dw_size" if self.axis == "ratio" else "ratio"
        default_other = 3 if other == "dw_size" else 2
        for v in self.values:
            kw = {self.axis: v, other: self.fixed.get(other, default_other)}
            pts.append(AblationPoint(f"s={kw['ratio']} d={kw['dw_size']}", kw["ratio"], kw["dw_size"]))
        return pts


def _default_study_name(name: str, fidelity_name: str, values: list, seeds: list, fidelity: dict) -> str:
    # A grid study cannot change its grid: a new seed list, value list or recipe gets a study of its own
    # (finished runs are still reused from the run cache, so nothing is retrained).
    grid = json.dumps({"values": values, "seeds": seeds, "fidelity": fidelity}, sort_keys=True, default=str)
    return f"{name}-{fidelity_name}-{hashlib.sha256(grid.encode()).hexdigest()[:8]}"


def budget_configs(cfg: AblationConfig) -> list[AblationConfig]:
    """The config itself followed by one config per entry of ``budgets`` (its fidelity overridden,
    its own study); all share the run cache."""
    out = [cfg]
    for b in cfg.budgets:
        fid = Fidelity.from_dict({**cfg.fidelity.to_dict(), **b})
        label = ",".join(f"{k}={v}" for k, v in sorted(b.items()))
        out.append(replace(cfg, fidelity=fid, budgets=(), study_name=f"{cfg.study_name}-{label}"))
    return out


def run_all_budgets(cfg: AblationConfig) -> list[AblationConfig]:
    """Run (or resume) the grid of every budget of ``cfg`` (:func:`budget_configs`), in order.

    A config without ``budgets`` runs once. Finished runs come from the run cache, so a rerun
    after an interruption trains only what is missing.

    Returns:
        The configs that were run (``budget_configs(cfg)``).
    """
    cfgs = budget_configs(cfg)
    for c in cfgs:
        run_ablation(c)
    return cfgs


# Classes of the datasets whose size is known without loading them (see search/data.py).
_KNOWN_NUM_CLASSES = {"digits": 10, "cifar10": 10, "fashion-mnist": 10, "cifar100": 100}


def dataset_num_classes(cfg: AblationConfig) -> int:
    """Number of classes of the config's training data (part of every run-cache key).

    Named datasets are known; ``npz`` and ``imagefolder`` data are loaded to count them, as
    :func:`run_ablation` does.
    """
    spec = cfg.data["dataset"]
    if spec in _KNOWN_NUM_CLASSES:
        return _KNOWN_NUM_CLASSES[spec]
    return load_dataset(spec, cfg.data.get("data_dir"), cfg.data.get("download", False)).num_classes


def cached_runs(cfg: AblationConfig, num_classes: Optional[int] = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The finished runs of every point × seed of ``cfg``, read from the run cache by key (no study needed).

    This is what the reports read: a run trained by any study (another seed list, another
    ablation sharing the point, another checkout whose cache was merged) counts, and what is
    missing is named.

    Args:
        cfg: The ablation (one budget: its ``budgets`` are not expanded here).
        num_classes: Classes of the data (default: :func:`dataset_num_classes`).

    Returns:
        ``(runs, missing)``: ``runs`` has one dict per finished run in grid order (``point``,
        ``seed``, ``acc`` (fraction), ``key``, ``train_s``, ``eval_split``, ``images_seen``,
        ``curve``, ``epochs``); ``missing`` one ``{"point", "seed", "key"}`` per run not in the cache.
    """
    k = dataset_num_classes(cfg) if num_classes is None else num_classes
    runs, missing = [], []
    for p in cfg.points():
        model_cfg = p.model_config(cfg.arch, k, cfg.fidelity.width)
        for seed in cfg.seeds:
            key = _run_key(model_cfg, cfg.fidelity, cfg.data, seed)
            rec = read_json_or_none(cfg.runs_dir / f"{key}.json")
            if rec is None or "val_acc" not in rec:
                missing.append({"point": p.label, "seed": seed, "key": key})
                continue
            runs.append({"point": p.label, "seed": seed, "acc": float(rec["val_acc"]), "key": key,
                         "train_s": rec.get("wall_s"), "eval_split": rec.get("eval_split"),
                         "images_seen": rec.get("images_seen"), "curve": rec.get("curve"),
                         "epochs": rec.get("epochs")})
    return runs, missing


def _run_key(model_cfg: CifarNetConfig, fidelity: Fidelity, data: dict, seed: int) -> str:
    # eval_every changes how often we look, not what is trained: runs that differ only in it are shared.
    fid = {k: v for k, v in fidelity.to_dict().items() if k != "eval_every"}
    blob = json.dumps({"model": model_cfg.to_dict(), "fidelity": fid,
                       "dataset": data["dataset"], "eval_on": data.get("eval_on", "val"), "seed": seed},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _load_data(cfg: AblationConfig) -> tuple[ImageData, ImageData, str]:
    d = cfg.data
    full = load_dataset(d["dataset"], d.get("data_dir"), d.get("download", False))
    f = cfg.fidelity
    if d.get("eval_on", "val") == "test":
        test_spec = d.get("test_dataset")
        test = (load_dataset(test_spec, d.get("data_dir"), d.get("download", False)) if test_spec
                else load_dataset(d["dataset"], d.get("data_dir"), d.get("download", False), split="test"))
        # The whole training split is free to train on; the fraction is a seeded, class-balanced share of it.
        train = class_balanced_subset(full, f.fraction, seed=0) if f.fraction < 1.0 else full
        return train, test, f"test ({test.name}, {len(test)} images, evaluated once after the last epoch)"
    # The split seed is fixed (0) so every point and seed is validated on the same images.
    train, val = train_val_split(full, val_fraction=f.val_fraction, seed=0, fraction=f.fraction, val_size=f.val_size)
    return train, val, f"held-out validation part of {full.name} train ({len(val)} images)"


def training_fidelity(cfg: AblationConfig, fidelity: Fidelity) -> Fidelity:
    """The fidelity a run trains with. On the test split it is evaluated once, after the last epoch:
    a per-epoch test curve would invite picking the best epoch on the test set."""
    if cfg.data.get("eval_on", "val") == "test":
        return replace(fidelity, eval_every=fidelity.epochs)
    return fidelity


def run_ablation(cfg: AblationConfig, n_workers_hint: int = 1) -> optuna.Study:
    """Run (or resume) the grid until every point × seed has a finished trial."""
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    ensure_writable_dir(cfg.out_dir)
    ensure_writable_dir(cfg.runs_dir, "run cache folder")
    points = {p.label: p for p in cfg.points()}
    train, val, eval_desc = _load_data(cfg)
    storage = open_storage(cfg.storage, cfg.out_dir)
    sampler = optuna.samplers.GridSampler({"point": list(points), "seed": list(cfg.seeds)}, seed=0)
    study = optuna.create_study(study_name=cfg.study_name, storage=storage, sampler=sampler,
                                direction="maximize", load_if_exists=True)
    study.set_user_attr("ablation", {"name": cfg.name, "arch": cfg.arch, "axis": cfg.axis,
                                     "fidelity": cfg.fidelity_name, "eval_split": eval_desc})

    def objective(trial: optuna.Trial) -> float:
        label = trial.suggest_categorical("point", list(points))
        seed = trial.suggest_categorical("seed", list(cfg.seeds))
        model_cfg = points[label].model_config(cfg.arch, train.num_classes, cfg.fidelity.width)
        key = _run_key(model_cfg, cfg.fidelity, cfg.data, seed)
        cached = read_json_or_none(cfg.runs_dir / f"{key}.json")
        if cached is None:
            torch.manual_seed(seed)
            model = build_model(model_cfg)
            log.info("training %s seed %d (%s)", label, seed, key)
            try:
                res = train_proxy(model, train, val, training_fidelity(cfg, cfg.fidelity), seed=seed,
                                  device=cfg.device)
            except TrainingDiverged as e:
                trial.set_user_attr("fail_reason", str(e))
                raise
            cached = {"key": key, "label": label, "seed": seed, "model": model_cfg.to_dict(),
                      "fidelity": cfg.fidelity.to_dict(), "dataset": cfg.data["dataset"], "eval_split": eval_desc,
                      "params": sum(p.numel() for p in model.parameters()), **res.to_dict(),
                      "torch": torch.__version__, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            if cfg.save_checkpoints:
                model.to("cpu").to(memory_format=torch.contiguous_format)
                torch.save(model.state_dict(), cfg.runs_dir / f"{key}.pt")
            atomic_write_json(cfg.runs_dir / f"{key}.json", cached)
        trial.set_user_attr("run_key", key)
        trial.set_user_attr("arch", model_cfg.to_dict())
        trial.set_user_attr("curve", cached["curve"])
        trial.set_user_attr("train_s", cached["wall_s"])
        trial.set_user_attr("device", cached["device"])
        trial.set_user_attr("eval_split", cached["eval_split"])
        return float(cached["val_acc"])

    total = len(points) * len(cfg.seeds)
    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    if done < total:
        study.optimize(objective, n_trials=total - done, catch=(TrainingDiverged,))
    return study


def collect_runs(study: optuna.Study, cfg: AblationConfig) -> list[dict[str, Any]]:
    """Finished runs of the study, one dict each (point label, seed, accuracy, run record)."""
    rows = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        rec = read_json_or_none(cfg.runs_dir / f"{t.user_attrs.get('run_key')}.json") or {}
        rows.append({"point": t.params["point"], "seed": t.params["seed"], "acc": t.value,
                     "train_s": t.user_attrs.get("train_s"), "eval_split": t.user_attrs.get("eval_split"),
                     "images_seen": rec.get("images_seen"), "curve": t.user_attrs.get("curve")})
    return rows


def load_study(cfg: AblationConfig) -> optuna.Study:
    """The ablation's existing study (ConfigError naming it if there is none)."""
    return open_existing_study(cfg.storage or str(cfg.out_dir / "study.journal"), cfg.study_name)
