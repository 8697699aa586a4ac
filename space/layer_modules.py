"""The tiny standalone modules that run one layer each (BN-folded form, random weights), for timing."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ghostnas.ghostnet import hard_sigmoid

from .layers import LayerSig

__all__ = ["build_layer"]


class _Cat(nn.Module):
    def __init__(self, oup: int) -> None:
        super().__init__()
        self.oup = oup

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return torch.cat([x1, x2], dim=1)[:, :self.oup, :, :]


class _Add(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class _Noop(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1.0


class _SE(nn.Module):
    def __init__(self, c: int, r: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_reduce = nn.Conv2d(c, r, 1, bias=True)
        self.act1 = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(r, c, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * hard_sigmoid(self.conv_expand(self.act1(self.conv_reduce(self.avg_pool(x)))))


class _DFC(nn.Module):
    def __init__(self, inp: int, oup: int, k: int, s: int) -> None:
        super().__init__()
        self.short_conv = nn.Sequential(nn.Conv2d(inp, oup, k, s, k // 2, bias=True),
                                        nn.Conv2d(oup, oup, (1, 5), 1, (0, 2), groups=oup, bias=True),
                                        nn.Conv2d(oup, oup, (5, 1), 1, (2, 0), groups=oup, bias=True))

    def forward(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        res = self.short_conv(F.avg_pool2d(x, kernel_size=2, stride=2))
        return out * F.interpolate(torch.sigmoid(res), size=out.shape[-2:], mode="nearest")


class _GhostHead(nn.Module):
    def __init__(self, c: int, head: int, classes: int) -> None:
        super().__init__()
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.conv_head = nn.Conv2d(c, head, 1, 1, 0, bias=True)
        self.act2 = nn.ReLU(inplace=True)
        self.classifier = nn.Linear(head, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.act2(self.conv_head(self.global_pool(x))).flatten(1))


class _CifarHead(nn.Module):
    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims, dims[1:])):
            if i:
                layers.append(nn.ReLU(inplace=True))
            layers.append(nn.Linear(a, b))
        self.classifier = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


class _ResTail(nn.Module):
    def __init__(self, stride: int, pad: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad = pad

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.pad > 0:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(y + x)


def build_layer(sig: LayerSig) -> nn.Module:
    """The tiny eval-mode module that runs exactly one layer (BN-folded form, random weights).

    Raises:
        ValueError: an unknown layer kind.
    """
    p = sig.p
    torch.manual_seed(0)
    if sig.kind == "conv":
        c = sig.inputs[0][0]
        layers: list[nn.Module] = [nn.Conv2d(c, p["cout"], p["k"], p["s"], p["p"], groups=p["g"], bias=True)]
        if p["relu"]:
            layers.append(nn.ReLU(inplace=True))
        m: nn.Module = nn.Sequential(*layers)
    elif sig.kind == "ghost_cat":
        m = _Cat(p["oup"])
    elif sig.kind == "add":
        m = _Add()
    elif sig.kind == "noop":
        m = _Noop()
    elif sig.kind == "se":
        m = _SE(sig.inputs[0][0], p["r"])
    elif sig.kind == "dfc_attn":
        m = _DFC(sig.inputs[0][0], sig.inputs[1][0], p["k"], p["s"])
    elif sig.kind == "gnet_head":
        m = _GhostHead(sig.inputs[0][0], p["head"], p["classes"])
    elif sig.kind == "maxpool":
        m = nn.MaxPool2d(p["k"], p["s"])
    elif sig.kind == "cifar_head":
        m = _CifarHead(p["dims"])
    elif sig.kind == "res_tail":
        m = _ResTail(p["s"], sig.inputs[1][0] - sig.inputs[0][0])
    else:
        raise ValueError(f"latency predictor: unknown layer kind {sig.kind!r}")
    return m.eval()
