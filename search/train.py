"""Proxy training: a short, explicit loop over in-memory tensors (no DataLoader workers).

:func:`train_proxy` trains one model at one fidelity and returns a :class:`TrainResult`.
It knows nothing of Optuna: the study passes a ``report(epoch, val_acc)`` callback, which may
raise to stop training (a pruned trial). A NaN/inf loss raises :class:`TrainingDiverged`.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import ImageData

__all__ = ["Fidelity", "TrainResult", "TrainingDiverged", "train_proxy", "evaluate", "resolve_device"]


@dataclass(frozen=True)
class Fidelity:
    """How much training a trial gets.

    Attributes:
        epochs: Passes over the (sub-sampled) training data.
        fraction: Share of the training split used (per class).
        val_fraction: Share held out for validation (class-balanced).
        val_size: Exact validation size (overrides ``val_fraction``).
        resolution: Training/eval image size (None: the data's own).
        batch_size: Mini-batch size.
        optimizer: ``sgd`` (momentum, nesterov) or ``adamw``.
        lr: Peak learning rate.
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: Weight decay.
        schedule: ``cosine``, ``onecycle`` (linear warm-up then cosine) or ``multistep``.
        milestones: Fractions of total steps where ``multistep`` divides the lr by 10.
        warmup_epochs: Linear warm-up length for ``cosine``.
        label_smoothing: Cross-entropy label smoothing.
        augment: Crop (4-px pad) + flip augmentation, when the data suits it.
        width: Width multiplier applied when the model is built (proxies may shrink networks).
        channels_last: Use channels-last memory format.
        amp: bfloat16 autocast on CUDA.
        eval_every: Validate every this many epochs (and always after the last); pruners see
            only the validated epochs.
    """

    epochs: int = 5
    fraction: float = 1.0
    val_fraction: float = 0.1
    val_size: Optional[int] = None
    resolution: Optional[int] = None
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    milestones: tuple[float, ...] = (0.5, 0.75)
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = True
    width: float = 1.0
    channels_last: bool = True
    amp: bool = True
    eval_every: int = 1

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> ValueError:
            return ValueError(f"fidelity.{name}: {getattr(self, name)!r} is not allowed; expected {allowed}")
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 1:
            raise bad("epochs", "an integer >= 1")
        if not 0.0 < self.fraction <= 1.0:
            raise bad("fraction", "a number in (0, 1]")
        if not 0.0 < self.val_fraction < 1.0:
            raise bad("val_fraction", "a number in (0, 1)")
        if self.val_size is not None and (not isinstance(self.val_size, int) or self.val_size < 1):
            raise bad("val_size", "an integer >= 1")
        if self.resolution is not None and (not isinstance(self.resolution, int) or self.resolution < 8):
            raise bad("resolution", "an integer >= 8")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad("batch_size", "an integer >= 1")
        if self.optimizer not in ("sgd", "adamw"):
            raise bad("optimizer", "'sgd' or 'adamw'")
        if not self.lr > 0:
            raise bad("lr", "a number > 0")
        if self.schedule not in ("cosine", "onecycle", "multistep"):
            raise bad("schedule", "'cosine', 'onecycle' or 'multistep'")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise bad("label_smoothing", "a number in [0, 1)")
        if not self.width > 0:
            raise bad("width", "a number > 0")
        if not isinstance(self.eval_every, int) or isinstance(self.eval_every, bool) or self.eval_every < 1:
            raise bad("eval_every", "an integer >= 1")
        object.__setattr__(self, "milestones", tuple(self.milestones))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Fidelity":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown fidelity key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainResult:
    """What one proxy training produced.

    ``compute_s`` is time inside forward/backward/optimizer steps; ``wall_s - compute_s`` is the
    overhead (data handling, evaluation, bookkeeping).
    """

    val_acc: float
    curve: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    epochs: int = 0
    images_seen: int = 0
    wall_s: float = 0.0
    compute_s: float = 0.0
    eval_s: float = 0.0
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU. Raises ValueError for unavailable devices."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}; choose from auto, cpu, cuda")
    return torch.device(device)


def _augment(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with ``pad``-pixel zero padding plus horizontal flip, per sample, vectorised.

    One ``gather`` on the flattened padded images (8x faster than 4-D advanced indexing, which
    materialises N×C×H×W int64 index tensors).
    """
    n, c, h, w = x.shape
    wp = w + 2 * pad
    padded = F.pad(x, (pad, pad, pad, pad)).reshape(n, c, -1)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g).to(x.device)
    flip = (torch.rand(n, generator=g) < 0.5).to(x.device)
    cols = torch.arange(w, device=x.device).expand(n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols) + dx[:, None]
    rows = torch.arange(h, device=x.device)[None, :] + dy[:, None]
    idx = (rows[:, :, None] * wp + cols[:, None, :]).reshape(n, 1, h * w).expand(n, c, h * w)
    return padded.gather(2, idx).reshape(n, c, h, w)


def _lr_factor(f: Fidelity, step: int, total: int, steps_per_epoch: int) -> float:
    t = step / max(total, 1)
    if f.schedule == "multistep":
        return 0.1 ** sum(t >= m for m in f.milestones)
    warm = int(f.warmup_epochs * steps_per_epoch) if f.schedule == "cosine" else int(0.15 * total)
    if step < warm:
        return (step + 1) / warm
    t = (step - warm) / max(total - warm, 1)
    return 0.5 * (1.0 + math.cos(math.pi * t))


def _prepare(x: torch.Tensor, data: ImageData, resolution: Optional[int], channels_last: bool) -> torch.Tensor:
    x = data.normalize(x)
    if resolution is not None and resolution != x.shape[-1]:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.inference_mode()
def evaluate(model: nn.Module, data: ImageData, resolution: Optional[int] = None, batch_size: int = 500,
             device: torch.device | str = "cpu", channels_last: bool = False) -> float:
    """Top-1 accuracy of ``model`` on ``data`` (eval mode)."""
    model.eval()
    correct = 0
    for i in range(0, len(data), batch_size):
        x = _prepare(data.x[i:i + batch_size].to(device), data, resolution, channels_last)
        correct += (model(x).argmax(1) == data.y[i:i + batch_size].to(device)).sum().item()
    return correct / max(len(data), 1)


def make_optimizer(model: nn.Module, fidelity: Fidelity) -> torch.optim.Optimizer:
    """SGD or AdamW for ``fidelity``, with weight decay on the weights only (not on BN or biases).

    Args:
        model: The network whose parameters are optimised.
        fidelity: Supplies ``optimizer``, ``lr``, ``momentum``, ``nesterov`` and ``weight_decay``.

    Returns:
        The optimizer, with two parameter groups (decayed, not decayed).
    """
    f = fidelity
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": f.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if f.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=f.lr, momentum=f.momentum, nesterov=f.nesterov and f.momentum > 0)
    return torch.optim.AdamW(groups, lr=f.lr)


def train_proxy(model: nn.Module, train: ImageData, val: ImageData, fidelity: Fidelity, seed: int = 0,
                device: str = "auto", report: Optional[Callable[[int, float], None]] = None,
                progress: Optional[Callable[[dict[str, Any]], None]] = None) -> TrainResult:
    """Train ``model`` at ``fidelity`` and return its validation accuracy per epoch.

    Deterministic on CPU for a fixed seed and thread count.

    Args:
        model: The network (moved to the device in place).
        train: Training images (already the proxy's subset).
        val: Held-out validation images (never a test split).
        fidelity: Training knobs.
        seed: Seeds weights-independent randomness: shuffling and augmentation.
        device: ``auto``, ``cpu`` or ``cuda``.
        report: Called as ``report(epoch, val_acc)`` after each epoch; may raise to stop.
        progress: Called after every epoch (evaluated or not) with ``{"epoch": 1-based, "epochs",
            "loss": mean training loss, "accuracy": this epoch's evaluation or None, "images": images
            trained on, "seconds": the epoch's wall time}``; for progress displays.

    Raises:
        TrainingDiverged: the loss became NaN/inf (the message says at which step).
    """
    dev = resolve_device(device)
    f = fidelity
    g = torch.Generator().manual_seed(seed)
    cl = f.channels_last
    model.to(dev)
    if cl:
        model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, f)
    use_amp = f.amp and dev.type == "cuda"
    xs, ys = train.x.to(dev), train.y.to(dev)
    n = len(train)
    bs = min(f.batch_size, n)
    steps_per_epoch = n // bs  # drop the ragged last batch: fixed shapes, stable BN
    total = steps_per_epoch * f.epochs
    result = TrainResult(val_acc=0.0, device=str(dev))
    augment = f.augment and train.augment
    t_start = time.perf_counter()
    step = 0
    on_cpu = dev.type == "cpu"
    for epoch in range(f.epochs):
        t_epoch = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=g).to(dev)
        loss_sum = torch.zeros((), device=dev)
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            xb = xs[idx]
            if augment:
                xb = _augment(xb, g)
            xb = _prepare(xb, train, f.resolution, cl)
            yb = ys[idx]
            for group in opt.param_groups:
                group["lr"] = f.lr * _lr_factor(f, step, total, steps_per_epoch)
            t0 = time.perf_counter()
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_amp):
                loss = F.cross_entropy(model(xb), yb, label_smoothing=f.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
            step += 1
            # On a GPU the host never waits for a step (a check every 50 steps and at the epoch's end): the
            # step time is then the epoch's time less evaluation, measured at the epoch's end.
            if on_cpu or b % 50 == 49 or b == steps_per_epoch - 1:
                if on_cpu:
                    result.compute_s += time.perf_counter() - t0
                if not math.isfinite(loss.item() if on_cpu else float(loss_sum)):
                    raise TrainingDiverged(f"loss became {loss.item()} at epoch {epoch + 1}, step {b + 1} "
                                           f"(lr {opt.param_groups[0]['lr']:.3g})")
        result.train_loss.append(float(loss_sum) / max(steps_per_epoch, 1))  # waits for the GPU
        if not on_cpu:
            result.compute_s += time.perf_counter() - t_epoch
        result.images_seen += steps_per_epoch * bs
        result.epochs = epoch + 1
        acc: Optional[float] = None
        if not (epoch + 1) % f.eval_every or epoch + 1 == f.epochs:
            t_eval = time.perf_counter()
            acc = evaluate(model, val, f.resolution, device=dev, channels_last=cl)
            result.eval_s += time.perf_counter() - t_eval
            result.curve.append(acc)
            result.val_acc = acc
        result.wall_s = time.perf_counter() - t_start
        if progress is not None:
            progress({"epoch": epoch + 1, "epochs": f.epochs, "loss": result.train_loss[-1], "accuracy": acc,
                      "images": steps_per_epoch * bs, "seconds": time.perf_counter() - t_epoch})
        if report is not None and acc is not None:
            report(epoch, acc)
    result.wall_s = time.perf_counter() - t_start
    return result
