"""Building blocks of the GhostNet family.

The modules follow the official PyTorch release (huawei-noah/Efficient-AI-Backbones,
``ghostnet_pytorch/ghostnet.py``) attribute for attribute, so that official and timm
checkpoints load with ``strict=True``:

* ``GhostModule.primary_conv`` / ``cheap_operation`` are ``Sequential(conv, bn, act)``;
  the activation slot holds ``nn.ReLU`` or an empty ``nn.Sequential`` (no parameters),
  so conv stays at index 0 and BN at index 1.
* ``ratio=1`` rule: a Ghost module with ratio 1 *is* its primary convolution. It has no
  ``cheap_operation`` (the attribute is ``None``) and produces exactly ``oup`` maps, as the
  official TensorFlow release does. The seed code would build a zero-channel depthwise conv.
* ``oup`` not divisible by ``ratio``: ``init = ceil(oup / ratio)`` intrinsic maps and
  ``init * (ratio - 1)`` ghosts are computed and the concatenation is sliced to ``oup``.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "make_divisible",
    "hard_sigmoid",
    "ConvBnAct",
    "SqueezeExcite",
    "GhostModule",
    "GhostModuleV2",
    "GhostBottleneck",
]


def make_divisible(v: float, divisor: int = 4, min_value: Optional[int] = None) -> int:
    """Round ``v`` to a multiple of ``divisor`` the way GhostNet does (``_make_divisible``).

    Args:
        v: The unrounded channel count.
        divisor: The multiple to round to (GhostNet always uses 4).
        min_value: Lower bound; defaults to ``divisor``.

    Returns:
        The nearest multiple of ``divisor``, bumped up one step if rounding lost more than 10%.
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def hard_sigmoid(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``relu6(x + 3) / 6``, the SE gate of the PyTorch GhostNet release."""
    if inplace:
        return x.add_(3.0).clamp_(0.0, 6.0).div_(6.0)
    return F.relu6(x + 3.0) / 6.0


def _act(relu: bool) -> nn.Module:
    # An empty Sequential (not Identity) keeps the official module tree and repr.
    return nn.ReLU(inplace=True) if relu else nn.Sequential()


class ConvBnAct(nn.Module):
    """Conv (no bias) + BatchNorm + ReLU, named ``conv``/``bn1``/``act1`` as in the release."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int = 1,
                 act_layer: Callable[..., nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(out_chs)
        self.act1 = act_layer(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act1(self.bn1(self.conv(x)))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation with a hard-sigmoid gate.

    ``reduced = make_divisible((reduced_base_chs or in_chs) * se_ratio, divisor)``.
    """

    def __init__(self, in_chs: int, se_ratio: float = 0.25, reduced_base_chs: Optional[int] = None,
                 act_layer: Callable[..., nn.Module] = nn.ReLU,
                 gate_fn: Callable[[torch.Tensor], torch.Tensor] = hard_sigmoid,
                 divisor: int = 4, **_) -> None:
        super().__init__()
        self.gate_fn = gate_fn
        reduced_chs = make_divisible((reduced_base_chs or in_chs) * se_ratio, divisor)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_reduce = nn.Conv2d(in_chs, reduced_chs, 1, bias=True)
        self.act1 = act_layer(inplace=True)
        self.conv_expand = nn.Conv2d(reduced_chs, in_chs, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_se = self.avg_pool(x)
        x_se = self.conv_reduce(x_se)
        x_se = self.act1(x_se)
        x_se = self.conv_expand(x_se)
        return x * self.gate_fn(x_se)


class GhostModule(nn.Module):
    """Ghost module: a primary conv makes ``ceil(oup/ratio)`` intrinsic maps, a depthwise
    ``dw_size``×``dw_size`` conv makes ``ratio-1`` ghosts of each, the result is sliced to ``oup``.

    Args:
        inp: Input channels.
        oup: Output channels.
        kernel_size: Kernel of the primary conv (it keeps the kernel of the conv it replaces).
        ratio: Ghost ratio ``s`` (integer ≥ 1; 1 means no cheap operation, see module docs).
        dw_size: Kernel ``d`` of the cheap depthwise operation (odd).
        stride: Stride of the primary conv.
        relu: Whether both parts end in ReLU.
    """

    def __init__(self, inp: int, oup: int, kernel_size: int = 1, ratio: int = 2, dw_size: int = 3,
                 stride: int = 1, relu: bool = True) -> None:
        super().__init__()
        _check_ghost_args(inp, oup, kernel_size, ratio, dw_size, stride)
        self.oup = oup
        self.ratio = ratio
        self.dw_size = dw_size
        init_channels = math.ceil(oup / ratio)
        new_channels = init_channels * (ratio - 1)
        self.primary_conv = nn.Sequential(
            nn.Conv2d(inp, init_channels, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(init_channels),
            _act(relu),
        )
        if ratio > 1:
            self.cheap_operation = nn.Sequential(
                nn.Conv2d(init_channels, new_channels, dw_size, 1, dw_size // 2,
                          groups=init_channels, bias=False),
                nn.BatchNorm2d(new_channels),
                _act(relu),
            )
        else:
            self.cheap_operation = None

    def intrinsic_and_ghost(self, x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Return the intrinsic maps and the (unsliced) ghost maps separately."""
        x1 = self.primary_conv(x)
        x2 = self.cheap_operation(x1) if self.cheap_operation is not None else None
        return x1, x2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._ghost_forward(x)

    def _ghost_forward(self, x: torch.Tensor) -> torch.Tensor:
        # Shared with GhostModuleV2.forward: a plain method call, not super(), so both script.
        x1, x2 = self.intrinsic_and_ghost(x)
        if x2 is None:
            return x1
        out = torch.cat([x1, x2], dim=1)
        return out[:, :self.oup, :, :]


class GhostModuleV2(GhostModule):
    """GhostNetV2 module. ``mode='attn'`` adds the DFC attention branch ``short_conv``
    (avg-pool 2 → conv+BN → dw 1×5+BN → dw 5×1+BN → sigmoid → nearest upsample → multiply),
    computed from the module input; with ``mode='original'`` ``short_conv`` is None (no
    parameters, no state-dict keys). The forward is TorchScript-compatible as it is.

    Args:
        inp, oup, kernel_size, ratio, dw_size, stride, relu: As for :class:`GhostModule`.
        mode: ``"original"`` or ``"attn"``.
    """

    def __init__(self, inp: int, oup: int, kernel_size: int = 1, ratio: int = 2, dw_size: int = 3,
                 stride: int = 1, relu: bool = True, mode: str = "original") -> None:
        super().__init__(inp, oup, kernel_size, ratio, dw_size, stride, relu)
        if mode not in ("original", "attn"):
            raise ValueError(f"GhostModuleV2 mode must be 'original' or 'attn', got {mode!r}")
        self.mode = mode
        self.short_conv = None
        if mode == "attn":
            self.short_conv = nn.Sequential(
                nn.Conv2d(inp, oup, kernel_size, stride, kernel_size // 2, bias=False),
                nn.BatchNorm2d(oup),
                nn.Conv2d(oup, oup, (1, 5), 1, (0, 2), groups=oup, bias=False),
                nn.BatchNorm2d(oup),
                nn.Conv2d(oup, oup, (5, 1), 1, (2, 0), groups=oup, bias=False),
                nn.BatchNorm2d(oup),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._ghost_forward(x)
        if self.short_conv is not None:
            res = self.short_conv(F.avg_pool2d(x, kernel_size=2, stride=2))
            out = out * F.interpolate(torch.sigmoid(res), size=out.shape[-2:], mode="nearest")
        return out


def _check_ghost_args(inp: int, oup: int, kernel_size: int, ratio: int, dw_size: int, stride: int) -> None:
    for name, value in (("inp", inp), ("oup", oup), ("kernel_size", kernel_size), ("stride", stride)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"GhostModule {name} must be a positive integer, got {value!r}")
    if not isinstance(ratio, int) or isinstance(ratio, bool) or ratio < 1:
        raise ValueError(f"GhostModule ratio (s) must be an integer >= 1, got {ratio!r}")
    if not isinstance(dw_size, int) or isinstance(dw_size, bool) or dw_size < 1 or dw_size % 2 == 0:
        raise ValueError(f"GhostModule dw_size (d) must be an odd positive integer, got {dw_size!r}")


class GhostBottleneck(nn.Module):
    """Ghost bottleneck with optional SE, as in the official release.

    Adds per-block Ghost ratio ``ratio`` and cheap-op kernel ``dw_size`` (both modules of a
    block share them, like the official TF ``ratio_code``/``dw_code``); the defaults 2 and 3
    give the paper's network. ``attn=True`` (GhostNetV2) uses DFC attention in ghost1.

    Args:
        in_chs: Input channels.
        mid_chs: Hidden (expansion) channels.
        out_chs: Output channels.
        stride_kernel_size: Kernel of the strided depthwise conv (``conv_dw``, built only when
            ``stride > 1``) and of the projection shortcut's depthwise conv (the official code's
            ``dw_kernel_size``; :attr:`BlockSpec.kernel`). Not the Ghost cheap-op kernel ``dw_size``.
        stride: 1 or 2.
        act_layer: Activation of the SE block.
        se_ratio: Squeeze-excite ratio; 0 (or None) disables SE.
        ratio: Ghost ratio ``s`` of both Ghost modules.
        dw_size: Cheap-operation kernel ``d`` of both Ghost modules.
        attn: DFC attention in ghost1.
    """

    def __init__(self, in_chs: int, mid_chs: int, out_chs: int, stride_kernel_size: int = 3,
                 stride: int = 1, act_layer: Callable[..., nn.Module] = nn.ReLU, se_ratio: float = 0.0,
                 ratio: int = 2, dw_size: int = 3, attn: bool = False) -> None:
        super().__init__()
        has_se = se_ratio is not None and se_ratio > 0.0
        self.stride = stride
        if attn:
            self.ghost1 = GhostModuleV2(in_chs, mid_chs, relu=True, ratio=ratio, dw_size=dw_size, mode="attn")
        else:
            self.ghost1 = GhostModule(in_chs, mid_chs, relu=True, ratio=ratio, dw_size=dw_size)
        if self.stride > 1:
            self.conv_dw = nn.Conv2d(mid_chs, mid_chs, stride_kernel_size, stride=stride,
                                     padding=(stride_kernel_size - 1) // 2, groups=mid_chs, bias=False)
            self.bn_dw = nn.BatchNorm2d(mid_chs)
        else:
            self.conv_dw = None
            self.bn_dw = None
        self.se = SqueezeExcite(mid_chs, se_ratio=se_ratio, act_layer=act_layer) if has_se else None
        self.ghost2 = GhostModule(mid_chs, out_chs, relu=False, ratio=ratio, dw_size=dw_size)
        if in_chs == out_chs and self.stride == 1:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_chs, in_chs, stride_kernel_size, stride=stride,
                          padding=(stride_kernel_size - 1) // 2, groups=in_chs, bias=False),
                nn.BatchNorm2d(in_chs),
                nn.Conv2d(in_chs, out_chs, 1, stride=1, padding=0, bias=False),
                nn.BatchNorm2d(out_chs),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        x = self.ghost1(x)
        if self.conv_dw is not None:
            x = self.bn_dw(self.conv_dw(x))
        if self.se is not None:
            x = self.se(x)
        x = self.ghost2(x)
        x += self.shortcut(residual)
        return x
