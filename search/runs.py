"""Run folders (what ``ghostnas train`` writes) and the one way commands resolve "a model".

A run folder holds:

* ``model.pt``: ``{"state_dict": ..., "arch": <ArchConfig dict>, "format": "ghostnas-run/1"}``, only
  tensors, strings, numbers, lists and dicts: ``torch.load(weights_only=True)`` reads it, and so does
  :func:`ghostnas.ghostnet.load_checkpoint` (which takes the ``state_dict`` entry);
* ``arch.json``: the same architecture, in the format ``ghostnas export`` writes;
* ``metrics.json``: what was trained and evaluated.

:func:`resolve_model` accepts a registry name, any model/architecture JSON that
:func:`ghostnas.space.load_model_spec` reads (``ghostnas export`` output included) or a run folder;
:func:`build_model_from` builds the network, with a run folder's trained weights.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import torch
import torch.nn as nn

from ghostnas.ghostnet import build_model, default_resolution, load_checkpoint
from ghostnas.space import ArchConfig, ModelSpec, load_model_spec

__all__ = ["RUN_FORMAT", "RunFolder", "is_run_folder", "read_run", "run_checkpoint", "resolve_model",
           "build_model_from"]

#: The ``format`` entry of a run folder's ``model.pt``.
RUN_FORMAT = "ghostnas-run/1"


@dataclass(frozen=True)
class RunFolder:
    """A run folder, read.

    Attributes:
        path: The folder.
        arch: The trained architecture (config and training resolution).
        weights: Its ``model.pt``.
        metrics: ``metrics.json`` (None if missing or unreadable).
    """

    path: Path
    arch: ArchConfig
    weights: Path
    metrics: Optional[dict]

    @property
    def spec(self) -> ModelSpec:
        """The architecture as a :class:`~ghostnas.space.ModelSpec` (label ``run NAME``)."""
        return ModelSpec(self.arch.model, self.arch.resolution, f"run {self.path.name}", str(self.path))


def run_checkpoint(state_dict: dict[str, torch.Tensor], arch: ArchConfig) -> dict[str, Any]:
    """The ``model.pt`` payload of a run: weights plus the architecture as plain JSON values."""
    return {"state_dict": state_dict, "arch": json.loads(arch.to_json()), "format": RUN_FORMAT}


def is_run_folder(path: Union[str, os.PathLike]) -> bool:
    """Whether ``path`` is a folder with a ``model.pt`` (a run folder or an attempt at one)."""
    p = Path(path)
    return p.is_dir() and (p / "model.pt").is_file()


def _arch_of(path: Path, ckpt: Any) -> ArchConfig:
    raw = ckpt.get("arch") if isinstance(ckpt, dict) else None
    if raw is None and (path / "arch.json").is_file():
        spec = load_model_spec(str(path / "arch.json"))
        return ArchConfig(spec.config, spec.resolution or default_resolution(spec.config))
    if raw is None:
        raise ValueError(f"run folder {str(path)!r}: model.pt carries no architecture and there is no arch.json "
                         "(written by an older ghostnas train?); give --model ARCH.json --weights MODEL.pt")
    try:
        return ArchConfig.from_dict(raw)
    except (ValueError, TypeError) as e:
        raise ValueError(f"run folder {str(path)!r}: model.pt has a bad architecture: {e}") from None


def read_run(path: Union[str, os.PathLike]) -> RunFolder:
    """Read a run folder's architecture (from ``model.pt``, else ``arch.json``) and metrics.

    Raises:
        ValueError: not a folder, no ``model.pt``, unreadable checkpoint, or no architecture.
    """
    p = Path(path)
    if not p.is_dir():
        raise ValueError(f"run folder {str(p)!r} not found" if not p.exists() else
                         f"{str(p)!r} is a file, not a run folder (a folder written by ghostnas train)")
    weights = p / "model.pt"
    if not weights.is_file():
        raise ValueError(f"{str(p)!r} is not a run folder: no model.pt (written by ghostnas train --out)")
    try:
        ckpt = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - corrupt files, arbitrary pickles: one line
        raise ValueError(f"run folder {str(p)!r}: model.pt cannot be read safely ({type(e).__name__})") from None
    arch = _arch_of(p, ckpt)
    metrics = None
    try:
        metrics = json.loads((p / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    return RunFolder(p, arch, weights, metrics)


def resolve_model(target: str, num_classes: Optional[int] = None) -> ModelSpec:
    """A model named on the command line: registry name, model/architecture JSON, or run folder.

    Args:
        target: The name or path.
        num_classes: If given, the config gets this many classes (not for run folders: their
            weights fix the classes).

    Raises:
        ValueError: one line naming the target and the problem.
    """
    if os.path.isdir(target):
        return read_run(target).spec
    return load_model_spec(target, num_classes=num_classes)


def build_model_from(target: Optional[str] = None, run: Optional[str] = None,
                     num_classes: Optional[int] = None) -> tuple[nn.Module, ModelSpec]:
    """Build the network for ``target`` (name, JSON or run folder) or ``run`` (a run folder).

    A run folder's network gets its trained weights; anything else is freshly initialised.

    Returns:
        ``(model in eval mode, its ModelSpec)``.

    Raises:
        ValueError: neither or both given, or a bad target.
    """
    if (target is None) == (run is None):
        raise ValueError("give a model (registry name, architecture JSON or run folder) or --run DIR, not both"
                         if target is not None else "give a model (registry name or architecture JSON) or --run DIR")
    if run is not None or os.path.isdir(str(target)):
        folder = read_run(run if run is not None else str(target))
        model = build_model(folder.arch.model)
        load_checkpoint(model, folder.weights)
        return model.eval(), folder.spec
    spec = load_model_spec(str(target), num_classes=num_classes)
    return build_model(spec.config).eval(), spec
