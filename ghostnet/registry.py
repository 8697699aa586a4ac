"""Model registry: every name maps to a config factory; one builder makes the module.

Also the one rule for a model's default input size (:func:`default_resolution`).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Union

import torch.nn as nn

from .cifar import CifarNet, CifarNetConfig
from .ghostnet import GhostNet, GhostNetConfig

__all__ = ["ModelConfig", "register_model", "list_models", "model_config", "create_model", "build_model",
           "default_resolution", "IMAGENET_RESOLUTION", "CIFAR_RESOLUTION"]

ModelConfig = Union[GhostNetConfig, CifarNetConfig]
#: Default input side of ImageNet GhostNets and of the CIFAR-family networks.
IMAGENET_RESOLUTION = 224
CIFAR_RESOLUTION = 32
_REGISTRY: dict[str, Callable[..., ModelConfig]] = {}


def register_model(fn: Callable[..., ModelConfig]) -> Callable[..., ModelConfig]:
    """Register a config factory under its function name (use as a decorator).

    Args:
        fn: A function returning a :data:`ModelConfig`.

    Returns:
        ``fn`` itself.
    """
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def model_config(name: str, **kwargs: Any) -> ModelConfig:
    """The config of registered model ``name`` with ``kwargs`` applied.

    Args:
        name: A registry name (:func:`list_models`).
        **kwargs: Arguments of the model's factory (e.g. ``num_classes``, ``ratio``).

    Returns:
        The model's :data:`ModelConfig`.

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
    """Build the ``nn.Module`` a model config describes.

    Args:
        config: A :class:`GhostNetConfig` or :class:`CifarNetConfig` (for a search space's
            ``ArchConfig`` use ``ghostnas.space.build_arch``).

    Returns:
        A freshly initialised :class:`GhostNet` or :class:`CifarNet`.

    Raises:
        ValueError: ``config`` is not a model config.
    """
    if isinstance(config, GhostNetConfig):
        return GhostNet.from_config(config)
    if isinstance(config, CifarNetConfig):
        return CifarNet(config)
    raise ValueError(f"cannot build a model from {type(config).__name__}; "
                     "expected GhostNetConfig or CifarNetConfig")


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build registered model ``name`` (see :func:`list_models`).

    Args:
        name: A registry name.
        **kwargs: Arguments of the model's factory.

    Returns:
        The freshly initialised network.

    Raises:
        ValueError: unknown name or argument (see :func:`model_config`).
    """
    return build_model(model_config(name, **kwargs))


def default_resolution(model_or_config: Any) -> int:
    """The default input side (height = width) of a model: 32 for the CIFAR family, 224 for
    ImageNet GhostNet. The one place this rule lives.

    Args:
        model_or_config: A registry name, a :class:`GhostNetConfig` / :class:`CifarNetConfig`
            (instance or class), a network built from one (it has ``.config``), or an object with
            ``.model`` holding a model config (a search space's ``ArchConfig``; its own
            ``resolution`` is *not* consulted).

    Returns:
        :data:`CIFAR_RESOLUTION` or :data:`IMAGENET_RESOLUTION`.

    Raises:
        ValueError: unknown registry name, or an object that is none of the above.
    """
    target = model_config(model_or_config) if isinstance(model_or_config, str) else model_or_config
    if not isinstance(target, (type, GhostNetConfig, CifarNetConfig)):
        target = getattr(target, "config", None) or getattr(target, "model", None) or target
    kind = target if isinstance(target, type) else type(target)
    if issubclass(kind, CifarNetConfig):
        return CIFAR_RESOLUTION
    if issubclass(kind, GhostNetConfig):
        return IMAGENET_RESOLUTION
    raise ValueError(f"no default input size for {type(model_or_config).__name__}; expected a registry name, "
                     "a GhostNetConfig/CifarNetConfig or a model built from one")


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
