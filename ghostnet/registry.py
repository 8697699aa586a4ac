"""Model registry: every name maps to a config factory; one builder makes the module."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Union

import torch.nn as nn

from .cifar import CifarNet, CifarNetConfig
from .ghostnet import GhostNet, GhostNetConfig

__all__ = ["ModelConfig", "register_model", "list_models", "model_config", "create_model", "build_model"]

ModelConfig = Union[GhostNetConfig, CifarNetConfig]
_REGISTRY: dict[str, Callable[..., ModelConfig]] = {}


def register_model(fn: Callable[..., ModelConfig]) -> Callable[..., ModelConfig]:
    """Register a config factory under its function name."""
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def model_config(name: str, **kwargs: Any) -> ModelConfig:
    """The config of registered model ``name`` with ``kwargs`` applied.

    Raises:
        ValueError: unknown name, or an argument the model does not take (both named).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose from: {', '.join(list_models())}")
    fn = _REGISTRY[name]
    params = inspect.signature(fn).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ValueError(f"model {name!r} takes no argument(s) {', '.join(unknown)}; "
                         f"valid: {', '.join(params) or 'none'}")
    try:
        return fn(**kwargs)
    except TypeError as e:  # e.g. a list where an int belongs
        raise ValueError(f"model {name!r}: bad argument: {e}") from None


def build_model(config: ModelConfig) -> nn.Module:
    """Build the ``nn.Module`` a config describes."""
    if isinstance(config, GhostNetConfig):
        return GhostNet.from_config(config)
    if isinstance(config, CifarNetConfig):
        return CifarNet(config)
    raise ValueError(f"cannot build a model from {type(config).__name__}; "
                     "expected GhostNetConfig or CifarNetConfig")


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build registered model ``name`` (see :func:`list_models`)."""
    return build_model(model_config(name, **kwargs))


def _ghostnet(width: float, version: str, num_classes: int, dropout: float, in_chans: int) -> GhostNetConfig:
    return GhostNetConfig(width=width, version=version, num_classes=num_classes, dropout=dropout, in_chans=in_chans)


@register_model
def ghostnet_050(num_classes: int = 1000, dropout: float = 0.2, in_chans: int = 3) -> GhostNetConfig:
    """GhostNet-0.5×."""
    return _ghostnet(0.5, "v1", num_classes, dropout, in_chans)


@register_model
def ghostnet_100(num_classes: int = 1000, dropout: float = 0.2, in_chans: int = 3) -> GhostNetConfig:
    """GhostNet-1.0× (the paper's network)."""
    return _ghostnet(1.0, "v1", num_classes, dropout, in_chans)


@register_model
def ghostnet_130(num_classes: int = 1000, dropout: float = 0.2, in_chans: int = 3) -> GhostNetConfig:
    """GhostNet-1.3×."""
    return _ghostnet(1.3, "v1", num_classes, dropout, in_chans)


@register_model
def ghostnetv2_100(num_classes: int = 1000, dropout: float = 0.2, in_chans: int = 3) -> GhostNetConfig:
    """GhostNetV2-1.0× (DFC attention)."""
    return _ghostnet(1.0, "v2", num_classes, dropout, in_chans)


@register_model
def ghostnetv2_130(num_classes: int = 1000, dropout: float = 0.2, in_chans: int = 3) -> GhostNetConfig:
    """GhostNetV2-1.3×."""
    return _ghostnet(1.3, "v2", num_classes, dropout, in_chans)


@register_model
def ghostnetv2_160(num_classes: int = 1000, dropout: float = 0.2, in_chans: int = 3) -> GhostNetConfig:
    """GhostNetV2-1.6×."""
    return _ghostnet(1.6, "v2", num_classes, dropout, in_chans)


@register_model
def vgg16_cifar(num_classes: int = 10, width: float = 1.0) -> CifarNetConfig:
    """VGG-16 with BN and a 512→512→classes head, for 32×32 inputs."""
    return CifarNetConfig.uniform("vgg16", num_classes=num_classes, width=width)


@register_model
def ghost_vgg16_cifar(ratio: int = 2, dw_size: int = 3, num_classes: int = 10, width: float = 1.0) -> CifarNetConfig:
    """Ghost-VGG-16: every conv but the first is a Ghost module (3×3 primary conv)."""
    return CifarNetConfig.uniform("vgg16", ratio, dw_size, num_classes=num_classes, width=width)


@register_model
def resnet56_cifar(num_classes: int = 10, width: float = 1.0) -> CifarNetConfig:
    """He et al.'s CIFAR ResNet-56 (option-A shortcuts)."""
    return CifarNetConfig.uniform("resnet56", num_classes=num_classes, width=width)


@register_model
def ghost_resnet56_cifar(ratio: int = 2, dw_size: int = 3, num_classes: int = 10, width: float = 1.0) -> CifarNetConfig:
    """Ghost-ResNet-56: every conv but the stem is a Ghost module."""
    return CifarNetConfig.uniform("resnet56", ratio, dw_size, num_classes=num_classes, width=width)
