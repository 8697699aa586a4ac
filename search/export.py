"""Exporting one trial of a study: its architecture JSON and the command that retrains it."""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import optuna

from ghostnas.space import ArchConfig

from .config import ConfigError
from .files import atomic_write_json, ensure_writable_dir

__all__ = ["ExportedTrial", "export_trial", "retrain_command"]


@dataclass(frozen=True)
class ExportedTrial:
    """What :func:`export_trial` wrote."""

    path: Path
    arch: ArchConfig
    trial: optuna.trial.FrozenTrial
    command: str


def retrain_command(arch_path: Path, dataset: str, arch_id: str) -> str:
    """The ``ghostnas train`` command line that retrains an exported architecture at full fidelity."""
    cmd = ["ghostnas", "train", "--arch", str(arch_path), "--data", dataset, "--set", "epochs=200",
           "--set", "fraction=1.0", "--set", "lr=0.1", "--set", "weight_decay=5e-4", "--set", "schedule=cosine",
           "--out", f"runs/retrain-{arch_id}"]
    return " ".join(shlex.quote(c) for c in cmd)


def export_trial(study: optuna.Study, number: int, out: Optional[str | Path] = None) -> ExportedTrial:
    """Write trial ``number``'s architecture as JSON (default ``arch-<id>.json``).

    Raises:
        ConfigError: no such trial, or a trial with no recorded architecture.
    """
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        raise ConfigError(f"trial {number} not found in study {study.study_name!r} ({len(trials)} trials)")
    t = trials[number]
    if "arch" not in t.user_attrs:
        raise ConfigError(f"trial {number} has no architecture recorded (state {t.state.name})")
    arch = ArchConfig.from_json(t.user_attrs["arch"])
    path = Path(out or f"arch-{arch.id}.json")
    ensure_writable_dir(path.parent if str(path.parent) else Path("."))
    atomic_write_json(path, arch.to_dict())
    dataset = study.user_attrs.get("ghostnas_config", {}).get("data", {}).get("dataset", "digits")
    return ExportedTrial(path, arch, t, retrain_command(path, dataset, arch.id))
