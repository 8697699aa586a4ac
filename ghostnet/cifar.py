"""The CIFAR networks of the paper's ablations: VGG-16 and ResNet-56, plain and Ghost.

Ghost versions replace every conv except the first with a :class:`GhostModule` whose primary
conv keeps the original kernel (3×3) and stride. The Ghost module takes the place of
conv + BN (+ ReLU): its own BNs and ReLUs are the layer's, so there is no duplicated BN/ReLU
(a cause of poor third-party reproductions, TingsongYu/ghostnet_cifar10#1).

* VGG-16 follows kuangliu/pytorch-cifar (conv with bias + BN + ReLU, 5 max-pools) with the
  512→512→10 classifier that gives the paper's 15.0M / 313M.
* ResNet-56 is He et al.'s CIFAR ResNet: 3 stages × 9 basic blocks, widths 16/32/64,
  parameter-free option-A shortcuts (stride-2 subsampling plus zero channel padding).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .modules import GhostModule

__all__ = ["CifarNetConfig", "CifarNet", "VGG16_LAYOUT", "cifar_conv_layers", "CIFAR_ARCHS"]

# kuangliu VGG-16 layout: widths, "M" = 2×2 max-pool.
VGG16_LAYOUT: tuple = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                       512, 512, 512, "M", 512, 512, 512, "M")
RESNET56_BLOCKS_PER_STAGE = 9
RESNET56_WIDTHS = (16, 32, 64)
CIFAR_ARCHS = ("vgg16", "resnet56")


def _scaled(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


def cifar_conv_layers(arch: str, width: float = 1.0) -> list[tuple[int, int, int]]:
    """The replaceable convs of an architecture as ``(in, out, stride)``, in order.

    The first conv (kept plain in every Ghost version) is not in the list.

    Args:
        arch: ``"vgg16"`` or ``"resnet56"``.
        width: Width multiplier.

    Returns:
        One ``(in_channels, out_channels, stride)`` per replaceable conv (12 / 54).

    Raises:
        ValueError: unknown ``arch``.
    """
    if arch == "vgg16":
        layers, in_chs, first = [], 3, True
        for v in VGG16_LAYOUT:
            if v == "M":
                continue
            out = _scaled(v, width)
            if not first:
                layers.append((in_chs, out, 1))
            first, in_chs = False, out
        return layers
    if arch == "resnet56":
        layers, in_chs = [], _scaled(16, width)
        for stage, w in enumerate(RESNET56_WIDTHS):
            out = _scaled(w, width)
            for block in range(RESNET56_BLOCKS_PER_STAGE):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append((in_chs, out, stride))
                layers.append((out, out, 1))
                in_chs = out
        return layers
    raise ValueError(f"unknown CIFAR architecture {arch!r}; choose from {', '.join(CIFAR_ARCHS)}")


@dataclass(frozen=True)
class CifarNetConfig:
    """A CIFAR VGG-16 / ResNet-56, plain or Ghost, with per-layer ``s`` and ``d``.

    Attributes:
        arch: ``"vgg16"`` or ``"resnet56"``.
        ratios: Ghost ratio ``s`` per replaceable conv (12 for VGG-16, 54 for ResNet-56), or
            ``None`` for the plain network.
        dw_sizes: Cheap-op kernel ``d`` per replaceable conv, or ``None`` for the plain network.
        num_classes: Classifier outputs.
        width: Width multiplier on every conv width (1.0 = the paper's network).
        in_chans: Input channels.
    """

    arch: str = "vgg16"
    ratios: Optional[tuple[int, ...]] = None
    dw_sizes: Optional[tuple[int, ...]] = None
    num_classes: int = 10
    width: float = 1.0
    in_chans: int = 3

    def __post_init__(self) -> None:
        if self.arch not in CIFAR_ARCHS:
            raise ValueError(f"unknown CIFAR architecture {self.arch!r}; choose from {', '.join(CIFAR_ARCHS)}")
        if (self.ratios is None) != (self.dw_sizes is None):
            raise ValueError("CifarNetConfig: give both ratios and dw_sizes (Ghost) or neither (plain)")
        n = len(cifar_conv_layers(self.arch, 1.0))
        for name in ("ratios", "dw_sizes"):
            value = getattr(self, name)
            if value is None:
                continue
            value = tuple(value)
            object.__setattr__(self, name, value)
            if len(value) != n:
                raise ValueError(f"CifarNetConfig.{name} for {self.arch} needs {n} entries (one per conv "
                                 f"after the first), got {len(value)}")
        for r in self.ratios or ():
            if not isinstance(r, int) or isinstance(r, bool) or r < 1:
                raise ValueError(f"CifarNetConfig.ratios: ratio s must be an integer >= 1, got {r!r}")
        for d in self.dw_sizes or ():
            if not isinstance(d, int) or isinstance(d, bool) or d < 1 or d % 2 == 0:
                raise ValueError(f"CifarNetConfig.dw_sizes: kernel d must be an odd positive integer, got {d!r}")
        if not self.width > 0:
            raise ValueError(f"CifarNetConfig.width must be > 0, got {self.width!r}")
        if not (isinstance(self.num_classes, int) and self.num_classes >= 1):
            raise ValueError(f"CifarNetConfig.num_classes must be an integer >= 1, got {self.num_classes!r}")

    @property
    def ghost(self) -> bool:
        """True for the Ghost network, False for the plain one."""
        return self.ratios is not None

    @classmethod
    def uniform(cls, arch: str, ratio: Optional[int] = None, dw_size: Optional[int] = None,
                **kwargs: Any) -> "CifarNetConfig":
        """Plain network if ``ratio`` is None, else the same ``s``/``d`` in every replaced conv.

        Args:
            arch: ``"vgg16"`` or ``"resnet56"``.
            ratio: Ghost ratio ``s`` of every replaced conv, or None for the plain network.
            dw_size: Cheap-op kernel ``d`` (default 3).
            **kwargs: Further fields (``num_classes``, ``width``, ``in_chans``).

        Returns:
            The config.
        """
        if ratio is None:
            return cls(arch=arch, **kwargs)
        n = len(cifar_conv_layers(arch, 1.0))
        return cls(arch=arch, ratios=(ratio,) * n, dw_sizes=(dw_size if dw_size is not None else 3,) * n, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; :meth:`from_dict` inverts it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CifarNetConfig":
        """Config from :meth:`to_dict` output (raises TypeError on unknown keys)."""
        d = dict(d)
        for k in ("ratios", "dw_sizes"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)

    def to_json(self) -> str:
        """JSON of :meth:`to_dict`, keys sorted."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> "CifarNetConfig":
        """Config from :meth:`to_json` output."""
        return cls.from_dict(json.loads(s))


def _conv_layer(in_chs: int, out_chs: int, stride: int, relu: bool, bias: bool,
                ghost: Optional[tuple[int, int]]) -> nn.Module:
    if ghost is not None:
        return GhostModule(in_chs, out_chs, 3, ratio=ghost[0], dw_size=ghost[1], stride=stride, relu=relu)
    layers: list[nn.Module] = [nn.Conv2d(in_chs, out_chs, 3, stride, 1, bias=bias), nn.BatchNorm2d(out_chs)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _BasicBlock(nn.Module):
    def __init__(self, in_chs: int, out_chs: int, stride: int,
                 ghosts: tuple[Optional[tuple[int, int]], Optional[tuple[int, int]]]) -> None:
        super().__init__()
        self.conv1 = _conv_layer(in_chs, out_chs, stride, relu=True, bias=False, ghost=ghosts[0])
        self.conv2 = _conv_layer(out_chs, out_chs, 1, relu=False, bias=False, ghost=ghosts[1])
        self.stride = stride
        self.pad = out_chs - in_chs

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.pad > 0:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class CifarNet(nn.Module):
    """VGG-16 or ResNet-56 for 32×32 inputs, plain or Ghost, built from a :class:`CifarNetConfig`.

    The stem is ``features.0`` (VGG) / ``stem`` (ResNet); each replaceable conv is a
    ``Sequential(conv, bn[, relu])`` in the plain network and a ``GhostModule`` in the Ghost one.
    """

    def __init__(self, config: CifarNetConfig) -> None:
        super().__init__()
        self.config = config
        layers = cifar_conv_layers(config.arch, config.width)
        ghosts: list[Optional[tuple[int, int]]] = (
            list(zip(config.ratios, config.dw_sizes)) if config.ghost else [None] * len(layers))
        if config.arch == "vgg16":
            feats: list[nn.Module] = []
            it = iter(zip(layers, ghosts))
            in_chs, first = config.in_chans, True
            for v in VGG16_LAYOUT:
                if v == "M":
                    feats.append(nn.MaxPool2d(2, 2))
                    continue
                if first:
                    out = _scaled(v, config.width)
                    feats.append(_conv_layer(in_chs, out, 1, relu=True, bias=True, ghost=None))
                    first = False
                else:
                    (i, out, s), g = next(it)
                    feats.append(_conv_layer(i, out, s, relu=True, bias=True, ghost=g))
                in_chs = out
            self.features = nn.Sequential(*feats)
            self.classifier = nn.Sequential(nn.Linear(in_chs, in_chs), nn.ReLU(inplace=True),
                                            nn.Linear(in_chs, config.num_classes))
            self.num_features = in_chs
        else:
            stem_chs = _scaled(16, config.width)
            self.stem = _conv_layer(config.in_chans, stem_chs, 1, relu=True, bias=False, ghost=None)
            blocks = [_BasicBlock(layers[2 * i][0], layers[2 * i][1], layers[2 * i][2],
                                  (ghosts[2 * i], ghosts[2 * i + 1])) for i in range(len(layers) // 2)]
            self.layers = nn.Sequential(*blocks)
            self.num_features = layers[-1][1]
            self.classifier = nn.Linear(self.num_features, config.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """All conv layers: images to the last feature maps (before pooling)."""
        if self.config.arch == "vgg16":
            return self.features(x)
        return self.layers(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, in_chans, H, W)`` to logits ``(N, num_classes)``."""
        x = self.forward_features(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)
