"""Training one architecture outside a study (``ghostnas train``): a run folder with the weights,
the architecture and the metrics.

The run folder (see :mod:`ghostnas.search.runs`): ``model.pt`` (weights plus architecture),
``arch.json`` (the architecture, as ``ghostnas export`` writes it) and ``metrics.json``.

Evaluation: by default the held-out validation part of the training split (per epoch, as in a
search); with ``eval_split="test"`` the model trains on the training split (``fraction`` of each
class, nothing held out) and is evaluated once, at the end, on a test set.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch

from ghostnas.ghostnet import list_models
from ghostnas.space import ArchConfig, build_arch

from .config import ConfigError, apply_overrides
from .data import ImageData, class_balanced_subset, load_dataset, train_val_split
from .files import atomic_save_torch, atomic_write_json, ensure_writable_dir
from .progress import TrainProgress
from .runs import resolve_model, run_checkpoint
from .train import Fidelity, TrainResult, train_proxy

__all__ = ["RetrainResult", "train_architecture", "EVAL_SPLITS", "SINGLE_SPLIT_KINDS"]
log = logging.getLogger("ghostnas.train")

#: ``val``: the held-out validation part of the training split; ``test``: a test set, once at the end.
EVAL_SPLITS = ("val", "test")
#: Dataset kinds with a single split (a test set must be given as another spec).
SINGLE_SPLIT_KINDS = ("digits", "npz", "imagefolder")


@dataclass(frozen=True)
class RetrainResult:
    """A finished ``ghostnas train`` run.

    Attributes:
        result: The training result (``result.val_acc`` is the evaluated accuracy, on either split).
        eval_split: ``val`` or ``test``.
        eval_description: What was evaluated, in words (split, data, number of images).
        accuracy: The evaluated accuracy.
        eval_images: Number of images evaluated.
        out: The run folder.
        weights, arch, metrics: Its ``model.pt``, ``arch.json``, ``metrics.json``.
    """

    result: TrainResult
    eval_split: str
    eval_description: str
    accuracy: float
    eval_images: int
    out: Path
    weights: Path
    arch: Path
    metrics: Path


def _arch(arch_spec: str, num_classes: int, resolution: Optional[int], image_size: int) -> ArchConfig:
    """The architecture to train, with the resolution it trains at: ``resolution`` (the fidelity's),
    else the file's, else the data's image size."""
    p = Path(arch_spec)
    if not (p.is_file() or p.is_dir() or arch_spec in list_models()):
        raise ConfigError(f"--arch {arch_spec!r} is neither an architecture JSON file nor a registry model "
                          f"({', '.join(list_models())}) nor a run folder")
    spec = resolve_model(arch_spec, num_classes=num_classes)
    if spec.config.num_classes != num_classes:  # a run folder keeps its own classes
        spec = replace(spec, config=replace(spec.config, num_classes=num_classes))
    return ArchConfig(spec.config, resolution or spec.resolution or image_size)


def _test_data(dataset: str, eval_data: Optional[str], train: ImageData, data_dir: Optional[str],
               download: bool) -> ImageData:
    """The test set: ``eval_data`` (its test split if it has one), else ``dataset``'s own test split;
    normalised with the training statistics."""
    spec = eval_data or dataset
    kind = spec.partition(":")[0]
    if kind in SINGLE_SPLIT_KINDS:
        if eval_data is None:
            raise ConfigError(f"dataset {dataset} has no test split; give the test set with --eval-data SPEC "
                              "(e.g. npz:PATH/test.npz)")
        if eval_data == dataset:
            raise ConfigError(f"--eval-data {eval_data} is the training data itself; give a separate test set")
        test = load_dataset(spec, data_dir, download)
    else:
        test = load_dataset(spec, data_dir, download, split="test")
    if test.num_classes != train.num_classes:
        raise ConfigError(f"test set {spec} has {test.num_classes} classes but the training data {dataset} has "
                          f"{train.num_classes}")
    return replace(test, mean=train.mean, std=train.std)


def train_architecture(arch_spec: str, dataset: str, out: str | Path, overrides: Iterable[str] = (), *,
                       data_dir: Optional[str] = None, download: bool = False, seed: int = 0, device: str = "auto",
                       eval_split: str = "val", eval_data: Optional[str] = None,
                       report: Optional[Callable[[int, float], None]] = None,
                       progress: Any = None) -> RetrainResult:
    """Train an architecture and write the run folder ``out``.

    Args:
        arch_spec: Architecture JSON (from ``ghostnas export``), model config JSON, registry model name,
            or a run folder (its architecture, trained afresh).
        dataset: Training data spec (``digits``, ``cifar10``, ``npz:PATH``, ...).
        out: Run folder.
        overrides: Fidelity overrides (``epochs=200``...).
        seed: Weights, split and data-order seed.
        eval_split: ``val`` (held-out part of the training split, every ``eval_every`` epochs) or
            ``test`` (train on the training split, evaluate once at the end on the test set).
        eval_data: The test set for ``eval_split="test"`` (default: ``dataset``'s own test split).
        report: Called with ``(epoch, accuracy)`` after each evaluation.
        progress: Stream for a progress bar (drawn only if it is a terminal), or None.

    Returns:
        The result and the files written.

    Raises:
        ValueError: bad architecture, data, split or overrides (one line).
    """
    if eval_split not in EVAL_SPLITS:
        raise ConfigError(f"--eval-split {eval_split!r} is not allowed; choose from {', '.join(EVAL_SPLITS)}")
    if eval_data is not None and eval_split != "test":
        raise ConfigError("--eval-data gives the test set of --eval-split test; add --eval-split test")
    data = load_dataset(dataset, data_dir, download)
    fid = Fidelity.from_dict(apply_overrides({}, overrides))
    arch = _arch(arch_spec, data.num_classes, fid.resolution, data.image_size)
    if fid.resolution is None and arch.resolution != data.image_size:
        fid = replace(fid, resolution=arch.resolution)
    out = ensure_writable_dir(out)
    if eval_split == "test":
        test = _test_data(dataset, eval_data, data, data_dir, download)
        train = class_balanced_subset(data, fid.fraction, seed=seed)
        if fid.resolution is None and test.image_size != data.image_size:  # evaluate at the training size
            fid = replace(fid, resolution=data.image_size)
        evaluated = test
        fid = replace(fid, eval_every=fid.epochs)  # one evaluation, after the last epoch: no test curve
        description = f"test split: {len(test)} images of {eval_data or f'{dataset} (test)'}"
    else:
        train, evaluated = train_val_split(data, fid.val_fraction, seed=seed, fraction=fid.fraction,
                                           val_size=fid.val_size)
        description = f"held-out validation part of {dataset} train: {len(evaluated)} images"
    torch.manual_seed(seed)
    model = build_arch(arch)
    bar = TrainProgress(fid.epochs, progress, desc=f"train {arch.id}",
                        acc_label="val acc" if eval_split == "val" else "test acc")

    def on_epoch(info: dict[str, Any]) -> None:
        bar(info)
        acc = "" if info["accuracy"] is None else f", {eval_split} acc {info['accuracy']:.4f}"
        log.info("epoch %d/%d: loss %.4f%s", info["epoch"], info["epochs"], info["loss"], acc)

    t0 = time.time()
    try:
        res = train_proxy(model, train, evaluated, fid, seed=seed, device=device, report=report, progress=on_epoch)
    finally:
        bar.close()
    model.to("cpu").to(memory_format=torch.contiguous_format)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic_save_torch(run_checkpoint(state, arch), out / "model.pt")
    atomic_write_json(out / "arch.json", arch.to_dict())
    metrics = res.to_dict()
    if eval_split == "test":
        metrics.pop("curve")
        metrics["test_acc"] = metrics.pop("val_acc")
    atomic_write_json(out / "metrics.json", {
        **metrics, "accuracy": res.val_acc, "eval_split": eval_split, "eval_data": eval_data or dataset,
        "eval_images": len(evaluated), "eval_description": description, "train_images": len(train),
        "data": dataset, "arch_id": arch.id, "arch_source": arch_spec, "seed": seed, "fidelity": fid.to_dict(),
        "wall_s": time.time() - t0})
    return RetrainResult(res, eval_split, description, res.val_acc, len(evaluated), out, out / "model.pt",
                         out / "arch.json", out / "metrics.json")
