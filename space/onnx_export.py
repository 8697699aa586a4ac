"""ONNX export of any network the project builds: BN folded first, fixed input shape.

:func:`export_onnx` takes a registry name or model JSON (:func:`ghostnas.space.load_model_spec`), an
:class:`ArchConfig`, a model config or an ``nn.Module``; it folds every BatchNorm into its conv
(:func:`ghostnas.ghostnet.fuse_for_inference`) and exports with the TorchScript-based exporter
(``dynamo=False``: the ``torch.export`` one needs ``onnxscript`` and is not needed for these
convolutional nets) at opset :data:`DEFAULT_OPSET`, with a fixed batch-1 (or ``batch``) input shape
so runtimes can plan memory and fuse for exactly that shape. Inputs are named ``input`` (``input0``,
``input1``, ... for several) and the output ``output``. ``ghostnas profile NAME --onnx out.onnx``
calls it; the latency backends (:mod:`.backends`) export through it.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any, Sequence, Union

import torch
import torch.nn as nn

from ghostnas.ghostnet import CifarNetConfig, GhostNetConfig, build_model, default_resolution, fuse_for_inference

from .config import ArchConfig, build_arch, load_model_spec
from .counts import input_shape

__all__ = ["DEFAULT_OPSET", "export_onnx", "export_module_onnx"]

#: The ONNX opset written (>= 17: LayerNormalization etc. are native, every CPU runtime reads it).
DEFAULT_OPSET = 17


def _resolve(target: Any, input_size: Union[int, Sequence[int], None]) -> tuple[nn.Module, tuple]:
    """The network and its (C, H, W) input shape for any accepted target."""
    if isinstance(target, (str, os.PathLike)):
        spec = load_model_spec(str(target))
        model: nn.Module = build_model(spec.config)
        size = input_size or spec.resolution or default_resolution(spec.config)
    elif isinstance(target, ArchConfig):
        model = build_arch(target)
        size = input_size or target.resolution
    elif isinstance(target, (GhostNetConfig, CifarNetConfig)):
        model = build_model(target)
        size = input_size or default_resolution(target)
    elif isinstance(target, nn.Module):
        model = target
        size = input_size or default_resolution(target)
    else:
        raise ValueError(f"export_onnx: expected a model name, JSON path, ArchConfig, model config or nn.Module, "
                         f"got {type(target).__name__}")
    return model, input_shape(model, size)


def export_module_onnx(module: nn.Module, input_shapes: Sequence[Sequence[int]], opset: int = DEFAULT_OPSET) -> bytes:
    """Export ``module`` as it is (no BN folding) at fixed full input shapes ``[(N, C, H, W), ...]``.

    Args:
        module: An eval-mode module taking ``len(input_shapes)`` tensors.
        input_shapes: One full shape (batch included) per input.
        opset: ONNX opset (>= 17).

    Returns:
        The serialized ONNX model.

    Raises:
        ValueError: ``opset`` below 17 or no input shape.
    """
    if not isinstance(opset, int) or opset < 17:
        raise ValueError(f"export_onnx: opset must be an integer >= 17, got {opset!r}")
    if not input_shapes:
        raise ValueError("export_onnx: at least one input shape is needed")
    g = torch.Generator().manual_seed(0)
    xs = tuple(torch.randn(*s, generator=g) for s in input_shapes)
    names = ["input"] if len(xs) == 1 else [f"input{i}" for i in range(len(xs))]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation notice, tracer warnings
        with torch.no_grad():
            torch.onnx.export(module.eval(), xs, buf, opset_version=opset, dynamo=False, input_names=names,
                              output_names=["output"], do_constant_folding=True)
    return buf.getvalue()


def export_onnx(target: Any, path: Union[str, os.PathLike, None] = None,
                input_size: Union[int, Sequence[int], None] = None, *, batch: int = 1, opset: int = DEFAULT_OPSET,
                fold_bn: bool = True) -> bytes:
    """Export a network to ONNX (BN folded first, fixed ``batch x C x H x W`` input).

    Args:
        target: A registry name or model/architecture JSON path, an :class:`ArchConfig`, a
            ``GhostNetConfig`` / ``CifarNetConfig`` or an ``nn.Module`` (left untouched).
        path: Write the model there too (parent folders are created).
        input_size: Square side or ``(C, H, W)``; None: the JSON's / ArchConfig's resolution, else
            :func:`ghostnas.ghostnet.default_resolution`.
        batch: Fixed batch size of the input.
        opset: ONNX opset (>= 17).
        fold_bn: Fold BatchNorms into their convs first (the deploy form).

    Returns:
        The serialized ONNX model.

    Raises:
        ValueError: an unknown name, bad JSON, bad size, batch or opset.
    """
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"export_onnx: batch must be an integer >= 1, got {batch!r}")
    model, shape = _resolve(target, input_size)
    was_training = model.training
    try:
        net = fuse_for_inference(model) if fold_bn else model.eval()
        data = export_module_onnx(net, [(batch, *shape)], opset)
    finally:
        model.train(was_training)
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, p)
    return data
