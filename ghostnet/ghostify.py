"""Turn any CNN into its Ghost version, the way the paper made Ghost-ResNet-50."""
from __future__ import annotations

import copy
import math

import torch.nn as nn

from .modules import GhostModule

__all__ = ["ghostify"]


def ghostify(model: nn.Module, ratio: int = 2, dw_size: int = 3, skip_first: bool = True) -> nn.Module:
    """Return a copy of ``model`` with its ``nn.Conv2d`` layers replaced by Ghost modules.

    Each replaced conv becomes a *linear* Ghost module (``relu=False``): the BN/ReLU that followed
    the conv in the original network still follow it. The primary conv keeps the original kernel,
    stride, padding and dilation (dilation goes to the primary conv only, as in the official
    Ghost-ResNet code); the original bias is dropped because the module's BN absorbs it.
    Grouped/depthwise convs are left alone (they are already cheap).

    Args:
        model: Any ``nn.Module``; it is not modified.
        ratio: Ghost ratio ``s``.
        dw_size: Cheap-op kernel ``d``.
        skip_first: Keep the first conv (in ``named_modules`` order) as it is.

    Returns:
        The Ghost copy.
    """
    model = copy.deepcopy(model)
    convs = [(name, m) for name, m in model.named_modules() if type(m) is nn.Conv2d]
    if not convs:
        raise ValueError("ghostify: the model has no nn.Conv2d layers to replace")
    if skip_first:
        convs = convs[1:]
    for name, conv in convs:
        if conv.groups != 1:
            continue
        gm = GhostModule(conv.in_channels, conv.out_channels, 1, ratio=ratio, dw_size=dw_size, relu=False)
        init = math.ceil(conv.out_channels / ratio)
        gm.primary_conv[0] = nn.Conv2d(conv.in_channels, init, conv.kernel_size, conv.stride,
                                       conv.padding, conv.dilation, bias=False,
                                       padding_mode=conv.padding_mode)
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, gm)
    return model
