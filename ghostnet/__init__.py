"""GhostNet model family: modules, data-driven networks, CIFAR ablation models, registry.

This package knows nothing of search spaces, Optuna or training.
"""
from .checkpoint import CheckpointError, load_checkpoint, read_state_dict
from .cifar import CifarNet, CifarNetConfig, cifar_conv_layers
from .fuse import deploy_model, fuse_for_inference
from .ghostify import ghostify
from .ghostnet import GHOSTNET_STAGES, BlockSpec, GhostNet, GhostNetConfig, ghostnet_channels
from .modules import (ConvBnAct, GhostBottleneck, GhostModule, GhostModuleV2, SqueezeExcite,
                      hard_sigmoid, make_divisible)
from .registry import (CIFAR_RESOLUTION, IMAGENET_RESOLUTION, ModelConfig, build_model, create_model,
                       default_resolution, list_models, model_config, register_model)

__all__ = [
    "BlockSpec", "CIFAR_RESOLUTION", "CheckpointError", "CifarNet", "CifarNetConfig", "ConvBnAct",
    "GHOSTNET_STAGES", "GhostBottleneck", "GhostModule", "GhostModuleV2", "GhostNet", "GhostNetConfig",
    "IMAGENET_RESOLUTION", "ModelConfig", "SqueezeExcite", "build_model", "cifar_conv_layers", "create_model",
    "default_resolution", "deploy_model", "fuse_for_inference", "ghostify", "ghostnet_channels", "hard_sigmoid",
    "list_models", "load_checkpoint", "make_divisible", "model_config", "read_state_dict", "register_model",
]
