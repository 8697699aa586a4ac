"""Inference "deploy" path: fold every BatchNorm into the convolution that feeds it.

``fuse_for_inference(model)`` returns an eval-mode deep copy in which each ``Conv2d -> BatchNorm2d``
pair is replaced by one conv with bias (``torch.nn.utils.fusion.fuse_conv_bn_eval``) and the BN by
``nn.Identity``. The original model is not modified. Pairs are found

* inside every ``nn.Sequential`` (consecutive children: ``GhostModule.primary_conv`` /
  ``cheap_operation``, ``GhostModuleV2.short_conv``, ``GhostBottleneck.shortcut``, the CIFAR nets'
  ``Sequential(conv, bn[, relu])``), and
* as named attribute pairs of modules whose forward applies the BN directly to the conv output:
  ``GhostNet.conv_stem/bn1``, ``ConvBnAct.conv/bn1``, ``GhostBottleneck.conv_dw/bn_dw``.

MACs are unchanged (biases are not MACs); parameters drop by the BN affine parameters and gain one
bias per fused conv that had none.
"""
from __future__ import annotations

import copy
import warnings
from typing import Optional, Sequence

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .ghostnet import GhostNet
from .modules import ConvBnAct, GhostBottleneck

__all__ = ["fuse_for_inference", "deploy_model", "NAMED_CONV_BN_PAIRS"]

#: Modules whose ``forward`` computes ``bn(conv(x))`` on these attribute pairs.
NAMED_CONV_BN_PAIRS: dict[type, tuple[tuple[str, str], ...]] = {
    GhostNet: (("conv_stem", "bn1"),),
    ConvBnAct: (("conv", "bn1"),),
    GhostBottleneck: (("conv_dw", "bn_dw"),),
}


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats
            and bn.running_mean is not None and conv.out_channels == bn.num_features)


def _fuse_sequential(seq: nn.Sequential) -> int:
    names = list(seq._modules)
    n = 0
    for a, b in zip(names, names[1:]):
        conv, bn = seq._modules[a], seq._modules[b]
        if _foldable(conv, bn):
            seq._modules[a] = fuse_conv_bn_eval(conv, bn)
            seq._modules[b] = nn.Identity()
            n += 1
    return n


def fuse_for_inference(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every Conv2d→BatchNorm2d pair folded into one conv.

    Args:
        model: Any module; GhostNet v1/v2 and the CIFAR nets are fully fused.

    Returns:
        The fused copy (``model`` itself is left untouched). ``fused.num_fused_bn`` holds the
        number of BatchNorms folded. Its outputs equal ``model.eval()``'s up to float rounding.
    """
    fused = copy.deepcopy(model).eval()
    n = 0
    for module in list(fused.modules()):
        if isinstance(module, nn.Sequential):
            n += _fuse_sequential(module)
        for cls, pairs in NAMED_CONV_BN_PAIRS.items():
            if not isinstance(module, cls):
                continue
            for conv_name, bn_name in pairs:
                conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
                if conv is not None and bn is not None and _foldable(conv, bn):
                    setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                    setattr(module, bn_name, nn.Identity())
                    n += 1
    fused.num_fused_bn = n
    return fused


def deploy_model(model: nn.Module, input_size: Optional[Sequence[int]] = None, channels_last: bool = True,
                 script: bool = True) -> nn.Module:
    """The latency "deploy" path: BN folded, optionally channels_last, then frozen TorchScript.

    ``torch.jit.freeze`` inlines the parameters as constants and TorchScript removes the Python
    overhead of the ~400 small ops of a GhostNet forward, which dominates batch-1 CPU latency; with
    channels_last the convs stay in oneDNN's NHWC layout end to end. Outputs equal the unfused eval
    model's up to float rounding (tests check 1e-5 relative). Feed the result
    ``x.contiguous(memory_format=torch.channels_last)`` when ``channels_last``.

    GhostNet v1/v2 are scripted (any input size works). Modules TorchScript cannot compile (the
    CIFAR nets keep their config on the module) are traced instead, with a zero input of
    ``input_size`` = ``(C, H, W)``; the traced module is specialised to that size.

    Args:
        model: The network (left untouched).
        input_size: ``(C, H, W)`` for the tracing fallback.
        channels_last: Convert the weights to ``torch.channels_last``.
        script: Compile and freeze; False returns the fused (channels_last) eager module.

    Returns:
        A frozen ``torch.jit.ScriptModule`` (or, with ``script=False``, the fused eager copy).

    Raises:
        ValueError: the model cannot be scripted and no ``input_size`` was given for tracing.
    """
    fused = fuse_for_inference(model)
    if channels_last:
        fused = fused.to(memory_format=torch.channels_last)
    if not script:
        return fused
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit deprecation notices, tracer warnings
        try:
            compiled = torch.jit.script(fused)
        except Exception as e:  # noqa: BLE001 - TorchScript frontend errors have several types
            if input_size is None:
                raise ValueError(f"deploy_model: {type(model).__name__} cannot be scripted "
                                 f"({str(e).strip().splitlines()[0]}); pass input_size=(C, H, W) to trace it") from None
            x = torch.zeros(1, *input_size)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(False), torch.no_grad():
                compiled = torch.jit.trace(fused, x)
        return torch.jit.freeze(compiled.eval())
