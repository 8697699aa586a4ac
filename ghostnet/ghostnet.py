"""GhostNet (v1 and v2) as a data table plus one builder.

The architecture is fully described by a :class:`GhostNetConfig`: a tuple of stages, each a
tuple of :class:`BlockSpec` rows (the official ``cfgs`` with a per-block Ghost ratio ``s`` and
cheap-op kernel ``d`` added). :data:`GHOSTNET_STAGES` is the paper's Table 1.

Vocabulary: a *row* is one :class:`BlockSpec` (one Ghost bottleneck), a *stage* a tuple of rows
(one ``nn.Sequential``). ``GhostNet.blocks`` keeps its official name (it appears in every
state-dict key): the stages' ``nn.Sequential`` modules followed by the final ``ConvBnAct``.
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

__all__ = ["BlockSpec", "GhostNetConfig", "GhostNet", "GHOSTNET_STAGES", "ghostnet_channels"]


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


# Paper Table 1 / official cfgs: (kernel, exp, out, se_ratio, stride), grouped into stages like
# the official ``cfgs`` (one nn.Sequential of ``GhostNet.blocks`` each).
GHOSTNET_STAGES: tuple[tuple[BlockSpec, ...], ...] = (
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
        stages: Stages of :class:`BlockSpec` rows (one ``nn.Sequential`` each in ``GhostNet.blocks``).
        width: Width multiplier applied (with ``make_divisible(·, 4)``) to every width but the head.
        num_classes: Classifier outputs.
        dropout: Dropout before the classifier (training only).
        stem_chs: Stem width before the multiplier.
        head_chs: Width of ``conv_head`` (not scaled, 1280 in the paper).
        version: ``"v1"`` or ``"v2"`` (v2: DFC attention in ghost1 of every block after the second).
        in_chans: Input channels.
    """

    stages: tuple[tuple[BlockSpec, ...], ...] = GHOSTNET_STAGES
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
    def rows(self) -> tuple[BlockSpec, ...]:
        """All :class:`BlockSpec` rows (one per Ghost bottleneck), flattened in order."""
        return tuple(b for s in self.stages for b in s)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (stages as lists of dicts); :meth:`from_dict` inverts it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GhostNetConfig":
        """Config from :meth:`to_dict` output (raises TypeError on unknown keys)."""
        return cls(**d)

    def to_json(self) -> str:
        """JSON of :meth:`to_dict`, keys sorted."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> "GhostNetConfig":
        """Config from :meth:`to_json` output."""
        return cls.from_dict(json.loads(s))


def ghostnet_channels(cfg: GhostNetConfig) -> dict[str, Any]:
    """Resolved widths of a config.

    Args:
        cfg: The config.

    Returns:
        ``{"stem": int, "rows": [(in, hidden, out) per row], "last_in": int, "last": int}``:
        the stem width, each bottleneck's widths in :attr:`GhostNetConfig.rows` order, and the
        final 1x1 conv's input and output widths.
    """
    stem = make_divisible(cfg.stem_chs * cfg.width, 4)
    in_chs = stem
    rows = []
    for spec in cfg.rows:
        out = make_divisible(spec.out * cfg.width, 4)
        hidden = make_divisible(spec.exp * cfg.width, 4)
        rows.append((in_chs, hidden, out))
        in_chs = out
    last = make_divisible(cfg.rows[-1].exp * cfg.width, 4)
    return {"stem": stem, "rows": rows, "last_in": in_chs, "last": last}


class GhostNet(nn.Module):
    """GhostNet v1/v2 with the official module names (``conv_stem``, ``bn1``, ``blocks``,
    ``conv_head``, ``classifier``), so official and timm state dicts load with ``strict=True``.

    Args:
        width: Width multiplier.
        num_classes: Classifier outputs.
        dropout: Dropout before the classifier.
        stages: Stages of :class:`BlockSpec` rows (defaults to the paper's table).
        **kwargs: Further :class:`GhostNetConfig` fields (``version``, ``stem_chs``, ...).
    """

    def __init__(self, width: float = 1.0, num_classes: int = 1000, dropout: float = 0.2,
                 stages: Iterable[Iterable[BlockSpec]] = GHOSTNET_STAGES, **kwargs: Any) -> None:
        super().__init__()
        cfg = GhostNetConfig(stages=tuple(tuple(s) for s in stages), width=width,
                             num_classes=num_classes, dropout=dropout, **kwargs)
        self.config = cfg
        self.num_classes = cfg.num_classes
        self.dropout = cfg.dropout
        ch = ghostnet_channels(cfg)

        self.conv_stem = nn.Conv2d(cfg.in_chans, ch["stem"], 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch["stem"])
        self.act1 = nn.ReLU(inplace=True)

        seqs: list[nn.Module] = []
        layer_id = 0
        it = iter(ch["rows"])
        for stage in cfg.stages:
            layers = []
            for spec in stage:
                in_chs, hidden, out = next(it)
                layers.append(GhostBottleneck(
                    in_chs, hidden, out, stride_kernel_size=spec.kernel, stride=spec.stride,
                    se_ratio=spec.se_ratio, ratio=spec.ratio, dw_size=spec.dw_size,
                    attn=cfg.version == "v2" and layer_id > 1))
                layer_id += 1
            seqs.append(nn.Sequential(*layers))
        seqs.append(nn.Sequential(ConvBnAct(ch["last_in"], ch["last"], 1)))
        self.blocks = nn.Sequential(*seqs)  # official name: state-dict keys are blocks.<i>.<j>...
        self.num_features = ch["last"]

        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.conv_head = nn.Conv2d(ch["last"], cfg.head_chs, 1, 1, 0, bias=True)
        self.act2 = nn.ReLU(inplace=True)
        self.classifier = nn.Linear(cfg.head_chs, cfg.num_classes)

    @classmethod
    def from_config(cls, cfg: GhostNetConfig) -> "GhostNet":
        """Build the network a :class:`GhostNetConfig` describes.

        Args:
            cfg: The config.

        Returns:
            The network (``.config`` is ``cfg``).
        """
        kwargs = cfg.to_dict()
        del kwargs["stages"]
        return cls(stages=cfg.stages, **kwargs)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and all stages: ``(N, C, H, W)`` images to ``(N, num_features, H/32, W/32)`` maps."""
        x = self.act1(self.bn1(self.conv_stem(x)))
        return self.blocks(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Global pool, ``conv_head``, dropout and classifier: feature maps to ``(N, num_classes)`` logits."""
        x = self.act2(self.conv_head(self.global_pool(x)))
        x = x.flatten(1)
        if self.dropout > 0.0:
            x = F.dropout(x, p=self.dropout, training=self.training)
        return self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, in_chans, H, W)`` to logits ``(N, num_classes)``."""
        return self.forward_head(self.forward_features(x))
