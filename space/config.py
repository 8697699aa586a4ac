"""``ArchConfig`` (one point of a search space: a model config plus the input resolution), its
builder :func:`build_arch`, and :func:`load_model_spec`, the one loader of "a model" given on the
command line as a registry name or a JSON file."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from typing import Any, Optional, Union

import torch.nn as nn

from ghostnas.ghostnet import CifarNetConfig, GhostNetConfig, ModelConfig, build_model, model_config

__all__ = ["ArchConfig", "build_arch", "ModelSpec", "load_model_spec"]

_FAMILIES = {"ghostnet": GhostNetConfig, "cifar": CifarNetConfig}


def _model_from_dict(family: str, body: dict[str, Any]) -> ModelConfig:
    """The ``family``'s config from its ``to_dict`` form (ValueError naming the problem)."""
    if family not in _FAMILIES:
        raise ValueError(f"unknown architecture family {family!r}; choose from {', '.join(_FAMILIES)}")
    cls = _FAMILIES[family]
    try:
        return cls.from_dict(body)
    except (TypeError, KeyError, AttributeError) as e:  # unknown/missing keys, wrong shapes
        raise ValueError(f"bad {family} model config: {e}") from None


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
        """``"ghostnet"`` or ``"cifar"``."""
        return "ghostnet" if isinstance(self.model, GhostNetConfig) else "cifar"

    def to_dict(self) -> dict[str, Any]:
        """``{"family", "model", "resolution"}`` (what ``ghostnas export`` writes)."""
        return {"family": self.family, "model": self.model.to_dict(), "resolution": self.resolution}

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): equal configs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ArchConfig":
        """Inverse of :meth:`to_dict` (ValueError naming the problem)."""
        if not isinstance(d, dict) or set(d) != {"family", "model", "resolution"}:
            raise ValueError("an architecture JSON needs exactly the keys family, model, resolution")
        return cls(_model_from_dict(d["family"], d["model"]), d["resolution"])

    @classmethod
    def from_json(cls, s: str) -> "ArchConfig":
        """Inverse of :meth:`to_json`."""
        try:
            return cls.from_dict(json.loads(s))
        except json.JSONDecodeError as e:
            raise ValueError(f"architecture JSON is malformed: {e}") from None

    @property
    def id(self) -> str:
        """First 12 hex digits of the SHA-256 of the canonical JSON."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]


def build_arch(config: Union[ArchConfig, ModelConfig]) -> nn.Module:
    """Build the network an :class:`ArchConfig` (or a bare model config) describes.

    Args:
        config: An :class:`ArchConfig`, or a ``GhostNetConfig`` / ``CifarNetConfig``.

    Returns:
        The freshly initialised network (the resolution plays no part in building).
    """
    return build_model(config.model if isinstance(config, ArchConfig) else config)


@dataclass(frozen=True)
class ModelSpec:
    """A model named on the command line, resolved.

    Attributes:
        config: The model config.
        resolution: The input size the file gave (an ArchConfig JSON's ``resolution``), else None.
        label: The registry name, or the file's base name.
        path: The JSON file it came from, or None for a registry name.
    """

    config: ModelConfig
    resolution: Optional[int]
    label: str
    path: Optional[str] = None


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None


def _infer_family(body: dict[str, Any], family: Any) -> str:
    """The given family, or ``cifar`` for a body with ``arch``, else ``ghostnet``."""
    if family is None:
        family = "cifar" if "arch" in body else "ghostnet"
    if family not in _FAMILIES:
        raise ValueError(f"config family must be 'ghostnet' or 'cifar', got {family!r}")
    return family


def _spec_from_dict(data: Any) -> tuple[ModelConfig, Optional[int]]:
    """``(model config, resolution or None)`` from any of the accepted JSON shapes."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    resolution = None
    body = data
    if "model" in data:  # ArchConfig shape: {"family", "model", "resolution"}
        extra = sorted(set(data) - {"family", "model", "resolution"})
        if extra:
            raise ValueError(f"unknown key(s) next to 'model': {', '.join(extra)}; valid: family, model, resolution")
        body = data["model"]
        if not isinstance(body, dict):
            raise ValueError("'model' must be a JSON object")
        resolution = data.get("resolution")
        if resolution is not None and (not isinstance(resolution, int) or isinstance(resolution, bool)
                                       or resolution < 1):
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
    family = _infer_family(body, data.get("family", body.get("family")))
    body = {k: v for k, v in body.items() if k != "family"}
    return _model_from_dict(family, body), resolution


def _looks_like_path(s: str) -> bool:
    return s.endswith(".json") or os.sep in s or os.path.exists(s)


def load_model_spec(path_or_name: str, num_classes: Optional[int] = None) -> ModelSpec:
    """Resolve a model given as a registry name or a JSON file; the one loader of "model JSON".

    Accepted files:

    * what ``ghostnas export`` writes, :meth:`ArchConfig.to_dict`:
      ``{"family": "ghostnet"|"cifar", "model": {...}, "resolution": N}`` (``resolution`` optional);
    * a model config with a family key: ``{"family": "cifar", ...CifarNetConfig.to_dict()...}``;
    * a bare ``CifarNetConfig`` / ``GhostNetConfig`` dict (an ``arch`` key means CIFAR, else GhostNet).

    Args:
        path_or_name: An existing JSON file, or a registry name (:func:`ghostnas.ghostnet.list_models`).
        num_classes: If given, the returned config has this many classes.

    Returns:
        A :class:`ModelSpec` (config, the file's resolution or None, a label, the path or None).

    Raises:
        ValueError: one line naming the file (or name) and the problem: unknown name, missing file,
            invalid JSON, unknown family, bad or unknown config keys.
    """
    if os.path.isfile(path_or_name):
        try:
            config, resolution = _spec_from_dict(_read_json(path_or_name))
        except ValueError as e:
            msg = str(e)
            raise ValueError(msg if msg.startswith(f"{path_or_name}:") else f"{path_or_name}: {msg}") from None
        spec = ModelSpec(config, resolution, os.path.basename(path_or_name), path_or_name)
    elif os.path.isdir(path_or_name):
        raise ValueError(f"{path_or_name}: is a directory, expected a model config JSON file")
    elif _looks_like_path(path_or_name):
        raise ValueError(f"{path_or_name}: no such model config file")
    else:  # model_config raises "unknown model 'x'; choose from: ..." for a name not registered
        spec = ModelSpec(model_config(path_or_name), None, path_or_name)
    if num_classes is not None and spec.config.num_classes != num_classes:
        try:
            spec = replace(spec, config=replace(spec.config, num_classes=num_classes))
        except ValueError as e:
            raise ValueError(f"{spec.label}: {e}") from None
    return spec
