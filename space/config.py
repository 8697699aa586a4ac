"""``ArchConfig``: one point of a search space — a model config plus the input resolution."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Union

import torch.nn as nn

from ghostnas.ghostnet import CifarNetConfig, GhostNetConfig
from ghostnas.ghostnet import build_model as _build

__all__ = ["ArchConfig", "build_model"]

_FAMILIES = {"ghostnet": GhostNetConfig, "cifar": CifarNetConfig}


@dataclass(frozen=True)
class ArchConfig:
    """An architecture: immutable, JSON round-trip, stable short id.

    Attributes:
        model: A :class:`GhostNetConfig` or :class:`CifarNetConfig`.
        resolution: Input image size (square).
    """

    model: Union[GhostNetConfig, CifarNetConfig]
    resolution: int

    def __post_init__(self) -> None:
        if not isinstance(self.model, (GhostNetConfig, CifarNetConfig)):
            raise ValueError(f"ArchConfig.model must be a GhostNetConfig or CifarNetConfig, got {type(self.model).__name__}")
        if not isinstance(self.resolution, int) or isinstance(self.resolution, bool) or self.resolution < 1:
            raise ValueError(f"ArchConfig.resolution must be a positive integer, got {self.resolution!r}")

    @property
    def family(self) -> str:
        return "ghostnet" if isinstance(self.model, GhostNetConfig) else "cifar"

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "model": self.model.to_dict(), "resolution": self.resolution}

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): equal configs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ArchConfig":
        if not isinstance(d, dict) or set(d) != {"family", "model", "resolution"}:
            raise ValueError("an architecture JSON needs exactly the keys family, model, resolution")
        if d["family"] not in _FAMILIES:
            raise ValueError(f"unknown architecture family {d['family']!r}; choose from {', '.join(_FAMILIES)}")
        try:
            model = _FAMILIES[d["family"]].from_dict(d["model"])
        except TypeError as e:
            raise ValueError(f"bad {d['family']} model config: {e}") from None
        return cls(model, d["resolution"])

    @classmethod
    def from_json(cls, s: str) -> "ArchConfig":
        try:
            return cls.from_dict(json.loads(s))
        except json.JSONDecodeError as e:
            raise ValueError(f"architecture JSON is malformed: {e}") from None

    @property
    def id(self) -> str:
        """First 12 hex digits of the SHA-256 of the canonical JSON."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]


def build_model(config: ArchConfig) -> nn.Module:
    """Build the network an :class:`ArchConfig` (or a bare model config) describes."""
    return _build(config.model if isinstance(config, ArchConfig) else config)
