"""The named layers of a model with their output shapes (``ghostnas similarity --list-layers``).

One forward pass of one random image at the model's default resolution (the architecture's own
resolution for an exported architecture or a run folder, 32 for CIFAR models, else 224), with a
hook on every module: the names are what ``--layer`` / ``--cka-layer`` take.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn as nn

from ghostnas.ghostnet import default_resolution

from .similarity_report import load_model

__all__ = ["LayerInfo", "list_layers", "format_layers"]


@dataclass(frozen=True)
class LayerInfo:
    """One module: its name (``model.named_modules()``), class and output shape (None: not called)."""

    name: str
    kind: str
    shape: Optional[tuple[int, ...]]


def _shape(out: Any) -> Optional[tuple[int, ...]]:
    if isinstance(out, torch.Tensor):
        return tuple(out.shape[1:])
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return tuple(out[0].shape[1:])
    return None


def _resolution(model: nn.Module, target: str) -> int:
    if os.path.isdir(target) or os.path.isfile(target):
        from ghostnas.search.runs import resolve_model

        spec = resolve_model(target)
        return spec.resolution or default_resolution(spec.config)
    if target.startswith("torchvision:"):
        return 224
    return default_resolution(model)


@torch.inference_mode()
def list_layers(target: str, resolution: Optional[int] = None) -> tuple[list[LayerInfo], int, str]:
    """Run one image through the model named ``target`` and record every module's output shape.

    Args:
        target: Registry name, model/architecture JSON, run folder or ``torchvision:NAME``.
        resolution: Input size (default: the model's own, see the module docstring).

    Returns:
        ``(layers in definition order, the input resolution used, the model's display name)``.

    Raises:
        ValueError: bad target, or a forward pass that fails at that resolution.
    """
    model, label = load_model(target, None)
    model.eval()
    res = resolution or _resolution(model, target)
    in_chans = next((m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d)), 3)
    shapes: dict[str, Optional[tuple[int, ...]]] = {}
    handles = []

    def hook(name: str):
        def record(module: nn.Module, inputs: Any, output: Any) -> None:  # returns None: output unchanged
            shapes.setdefault(name, _shape(output))
        return record

    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(hook(name)))
    try:
        model(torch.randn(1, in_chans, res, res, generator=torch.Generator().manual_seed(0)))
    except RuntimeError as e:
        raise ValueError(f"model {label} failed on a {res}x{res} input: {str(e).splitlines()[0]}") from None
    finally:
        for h in handles:
            h.remove()
    rows = [LayerInfo(n, type(m).__name__, shapes.get(n)) for n, m in model.named_modules() if n]
    return rows, res, label


def format_layers(rows: list[LayerInfo]) -> str:
    """Aligned text: name, class, output shape (C×H×W; ``-`` for modules not called)."""
    width = max((len(r.name) for r in rows), default=4)
    kind_w = max((len(r.kind) for r in rows), default=4)
    lines = [f"{'layer':<{width}}  {'type':<{kind_w}}  output"]
    for r in rows:
        shape = "x".join(str(d) for d in r.shape) if r.shape else "-"
        lines.append(f"{r.name:<{width}}  {r.kind:<{kind_w}}  {shape}")
    return "\n".join(lines)
