"""Training one architecture outside a study (``ghostnas train``): a run folder with the weights and metrics."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch

from ghostnas.ghostnet import list_models
from ghostnas.space import build_arch, load_model_spec

from .config import ConfigError, apply_overrides
from .data import load_dataset, train_val_split
from .files import atomic_save_torch, atomic_write_json, ensure_writable_dir
from .train import Fidelity, TrainResult, train_proxy

__all__ = ["RetrainResult", "train_architecture"]


@dataclass(frozen=True)
class RetrainResult:
    """A finished ``ghostnas train`` run."""

    result: TrainResult
    eval_split: str
    weights: Path
    metrics: Path


def _model_and_resolution(arch_spec: str, num_classes: int):
    if Path(arch_spec).is_file() or arch_spec in list_models():
        spec = load_model_spec(arch_spec, num_classes=num_classes)
        return spec.config, spec.resolution
    raise ConfigError(f"--arch {arch_spec!r} is neither an architecture JSON file nor a registry model "
                      f"({', '.join(list_models())})")


def train_architecture(arch_spec: str, dataset: str, out: str | Path, overrides: Iterable[str] = (), *,
                       data_dir: Optional[str] = None, download: bool = False, seed: int = 0, device: str = "auto",
                       report: Optional[Callable[[int, float], None]] = None) -> RetrainResult:
    """Train an architecture (exported JSON or registry name) and write ``model.pt`` and ``metrics.json``.

    Args:
        arch_spec: Architecture JSON path (from ``ghostnas export``) or a registry model name.
        dataset: Dataset spec (``digits``, ``cifar10``, ``npz:PATH``, ...).
        out: Run folder.
        overrides: Fidelity overrides (``epochs=200``...).
        seed: Weights, split and data-order seed.
        report: Called with ``(epoch, val_acc)`` after each evaluation.

    Returns:
        The training result and the files written.
    """
    data = load_dataset(dataset, data_dir, download)
    model_cfg, resolution = _model_and_resolution(arch_spec, data.num_classes)
    fid = Fidelity.from_dict(apply_overrides({}, overrides))
    if resolution is not None and fid.resolution is None and resolution != data.image_size:
        fid = Fidelity.from_dict({**fid.to_dict(), "resolution": resolution})
    out = ensure_writable_dir(out)
    train, val = train_val_split(data, fid.val_fraction, seed=seed, fraction=fid.fraction, val_size=fid.val_size)
    torch.manual_seed(seed)
    model = build_arch(model_cfg)
    t0 = time.time()
    res = train_proxy(model, train, val, fid, seed=seed, device=device, report=report)
    model.to("cpu").to(memory_format=torch.contiguous_format)
    eval_split = f"held-out validation part of {data.name} train"
    atomic_save_torch(model.state_dict(), out / "model.pt")
    atomic_write_json(out / "metrics.json", {**res.to_dict(), "fidelity": fid.to_dict(), "data": dataset,
                                             "eval_split": eval_split, "wall_s": time.time() - t0})
    return RetrainResult(res, eval_split, out / "model.pt", out / "metrics.json")
