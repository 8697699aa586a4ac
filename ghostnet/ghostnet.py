"""GhostNet (v1 and v2) as a data table plus one builder.

The architecture is fully described by a :class:`GhostNetConfig`: a tuple of stages, each a
tuple of :class:`BlockSpec` rows (the official ``cfgs`` with a per-block Ghost ratio ``s`` and
cheap-op kernel ``d`` added). :data:`GHOSTNET_BLOCKS` is the paper's Table 1.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .modules import ConvBnAct, GhostBottleneck, make_divisible

__all__ = ["BlockSpec", "GhostNetConfig", "GhostNet", "GHOSTNET_BLOCKS", "ghostnet_channels"]


@dataclass(frozen=True)
class BlockSpec:
    """One Ghost bottleneck row.

    Attributes:
        kernel: Depthwise kernel of the stride-2 conv and the projection shortcut (3 or 5).
        exp: Hidden (expansion) width before the width multiplier.
        out: Output width before the width multiplier.
        se_ratio: Squeeze-excite ratio; 0 disables SE.
        stride: 1 or 2.
        ratio: Ghost ratio ``s`` of both Ghost modules of the block.
        dw_size: Cheap-operation kernel ``d`` of both Ghost modules.
    """

    kernel: int
    exp: int
    out: int
    se_ratio: float
    stride: int
    ratio: int = 2
    dw_size: int = 3


def _rows(*rows: tuple) -> tuple[BlockSpec, ...]:
    return tuple(BlockSpec(*r) for r in rows)


# Paper Table 1 / official cfgs: (kernel, exp, out, se_ratio, stride), grouped like `blocks`.
GHOSTNET_BLOCKS: tuple[tuple[BlockSpec, ...], ...] = (
    _rows((3, 16, 16, 0, 1)),
    _rows((3, 48, 24, 0, 2)),
    _rows((3, 72, 24, 0, 1)),
    _rows((5, 72, 40, 0.25, 2)),
    _rows((5, 120, 40, 0.25, 1)),
    _rows((3, 240, 80, 0, 2)),
    _rows((3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1),
          (3, 480, 112, 0.25, 1), (3, 672, 112, 0.25, 1)),
    _rows((5, 672, 160, 0.25, 2)),
    _rows((5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1)),
)


@dataclass(frozen=True)
class GhostNetConfig:
    """Everything needed to build a GhostNet; immutable and JSON-serialisable.

    Attributes:
        stages: Stages of :class:`BlockSpec` rows (one ``nn.Sequential`` each in ``blocks``).
        width: Width multiplier applied (with ``make_divisible(·, 4)``) to every width but the head.
        num_classes: Classifier outputs.
        dropout: Dropout before the classifier (training only).
        stem_chs: Stem width before the multiplier.
        head_chs: Width of ``conv_head`` (not scaled, 1280 in the paper).
        version: ``"v1"`` or ``"v2"`` (v2: DFC attention in ghost1 of every block after the second).
        in_chans: Input channels.
    """

    stages: tuple[tuple[BlockSpec, ...], ...] = GHOSTNET_BLOCKS
    width: float = 1.0
    num_classes: int = 1000
    dropout: float = 0.2
    stem_chs: int = 16
    head_chs: int = 1280
    version: str = "v1"
    in_chans: int = 3

    def __post_init__(self) -> None:
        # Accept lists (e.g. from JSON) but store tuples so the config stays hashable.
        stages = tuple(tuple(b if isinstance(b, BlockSpec) else BlockSpec(**b) for b in s) for s in self.stages)
        object.__setattr__(self, "stages", stages)
        if not stages or any(len(s) == 0 for s in stages):
            raise ValueError("GhostNetConfig.stages must be a non-empty list of non-empty stages")
        if self.version not in ("v1", "v2"):
            raise ValueError(f"GhostNetConfig.version must be 'v1' or 'v2', got {self.version!r}")
        if not self.width > 0:
            raise ValueError(f"GhostNetConfig.width must be > 0, got {self.width!r}")
        if not (isinstance(self.num_classes, int) and self.num_classes >= 1):
            raise ValueError(f"GhostNetConfig.num_classes must be an integer >= 1, got {self.num_classes!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GhostNetConfig.dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def blocks(self) -> tuple[BlockSpec, ...]:
        """All rows, flattened in order."""
        return tuple(b for s in self.stages for b in s)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GhostNetConfig":
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> "GhostNetConfig":
        return cls.from_dict(json.loads(s))


def ghostnet_channels(cfg: GhostNetConfig) -> dict[str, Any]:
    """Resolved widths of a config: stem, per-block (in, hidden, out), last conv."""
    stem = make_divisible(cfg.stem_chs * cfg.width, 4)
    in_chs = stem
    blocks = []
    for spec in cfg.blocks:
        out = make_divisible(spec.out * cfg.width, 4)
        hidden = make_divisible(spec.exp * cfg.width, 4)
        blocks.append((in_chs, hidden, out))
        in_chs = out
    last = make_divisible(cfg.blocks[-1].exp * cfg.width, 4)
    return {"stem": stem, "blocks": blocks, "last_in": in_chs, "last": last}


class GhostNet(nn.Module):
    """GhostNet v1/v2 with the official module names (``conv_stem``, ``bn1``, ``blocks``,
    ``conv_head``, ``classifier``), so official and timm state dicts load with ``strict=True``.

    Args:
        width: Width multiplier.
        num_classes: Classifier outputs.
        dropout: Dropout before the classifier.
        blocks: Stages of :class:`BlockSpec` rows (defaults to the paper's table).
        **kwargs: Further :class:`GhostNetConfig` fields (``version``, ``stem_chs``, ...).
    """

    def __init__(self, width: float = 1.0, num_classes: int = 1000, dropout: float = 0.2,
                 blocks: Iterable[Iterable[BlockSpec]] = GHOSTNET_BLOCKS, **kwargs: Any) -> None:
        super().__init__()
        cfg = GhostNetConfig(stages=tuple(tuple(s) for s in blocks), width=width,
                             num_classes=num_classes, dropout=dropout, **kwargs)
        self.config = cfg
        self.num_classes = cfg.num_classes
        self.dropout = cfg.dropout
        ch = ghostnet_channels(cfg)

        self.conv_stem = nn.Conv2d(cfg.in_chans, ch["stem"], 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch["stem"])
        self.act1 = nn.ReLU(inplace=True)

        stages: list[nn.Module] = []
        layer_id = 0
        it = iter(ch["blocks"])
        for stage in cfg.stages:
            layers = []
            for spec in stage:
                in_chs, hidden, out = next(it)
                layers.append(GhostBottleneck(
                    in_chs, hidden, out, spec.kernel, spec.stride, se_ratio=spec.se_ratio,
                    ratio=spec.ratio, dw_size=spec.dw_size,
                    attn=cfg.version == "v2" and layer_id > 1))
                layer_id += 1
            stages.append(nn.Sequential(*layers))
        stages.append(nn.Sequential(ConvBnAct(ch["last_in"], ch["last"], 1)))
        self.blocks = nn.Sequential(*stages)
        self.num_features = ch["last"]

        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.conv_head = nn.Conv2d(ch["last"], cfg.head_chs, 1, 1, 0, bias=True)
        self.act2 = nn.ReLU(inplace=True)
        self.classifier = nn.Linear(cfg.head_chs, cfg.num_classes)

    @classmethod
    def from_config(cls, cfg: GhostNetConfig) -> "GhostNet":
        """Build the network a :class:`GhostNetConfig` describes."""
        kwargs = cfg.to_dict()
        stages = cfg.stages
        del kwargs["stages"]
        return cls(blocks=stages, **kwargs)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_stem(x)))
        return self.blocks(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.conv_head(self.global_pool(x)))
        x = x.flatten(1)
        if self.dropout > 0.0:
            x = F.dropout(x, p=self.dropout, training=self.training)
        return self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
