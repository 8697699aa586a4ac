"""Safe checkpoint loading (never unpickles arbitrary objects)."""
from __future__ import annotations

import os
import pickle
from typing import Any, Union

import torch
import torch.nn as nn

__all__ = ["CheckpointError", "read_state_dict", "load_checkpoint"]

_WRAPPER_KEYS = ("state_dict_ema", "state_dict", "model")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model."""


def read_state_dict(path: Union[str, os.PathLike], prefer_ema: bool = False) -> dict[str, torch.Tensor]:
    """Read a state dict with ``torch.load(..., weights_only=True)``.

    Accepts a bare state dict or one wrapped under ``state_dict`` / ``state_dict_ema`` /
    ``model``; strips a ``module.`` prefix (DataParallel) and drops thop's ``total_ops`` /
    ``total_params`` buffers.

    Args:
        path: The checkpoint file.
        prefer_ema: Take ``state_dict_ema`` over ``state_dict`` when both are present.

    Returns:
        The state dict (parameter/buffer name to tensor).

    Raises:
        CheckpointError: missing or corrupt file, or one that needs unpickling arbitrary objects.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "unsupported global" not in str(e).lower() and "unsupported class" not in str(e).lower():
            raise CheckpointError(f"checkpoint {path!r} is not a readable torch file: corrupt pickle") from None
        raise CheckpointError(f"checkpoint {path!r} refused: it needs unpickling arbitrary objects, "
                              "which could run code (only tensors and plain containers are loaded)") from None
    except Exception as e:  # noqa: BLE001 - torch raises many types for corrupt files
        raise CheckpointError(f"checkpoint {path!r} is not a readable torch file: {type(e).__name__}") from None
    if isinstance(obj, dict):
        order = ("state_dict_ema", "state_dict", "model") if prefer_ema else ("state_dict", "state_dict_ema", "model")
        for key in order:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"checkpoint {path!r} holds no state dict of tensors")
    out = {}
    for k, v in obj.items():
        if k.endswith("total_ops") or k.endswith("total_params"):
            continue
        out[k[len("module."):] if k.startswith("module.") else k] = v
    return out


def load_checkpoint(model: nn.Module, path: Union[str, os.PathLike], strict: bool = True,
                    prefer_ema: bool = False) -> nn.Module:
    """Load a checkpoint into ``model`` (see :func:`read_state_dict`) and return the model.

    Args:
        model: The network to load into (modified in place).
        path: The checkpoint file.
        strict: Require exactly the model's keys (shape mismatches always fail).
        prefer_ema: Take ``state_dict_ema`` over ``state_dict`` when both are present.

    Returns:
        ``model``.

    Raises:
        CheckpointError: unreadable file, or keys/shapes that belong to another architecture.
    """
    state = read_state_dict(path, prefer_ema=prefer_ema)
    own = model.state_dict()
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if mismatched or (strict and (missing or unexpected)):
        detail = []
        if mismatched:
            k = mismatched[0]
            detail.append(f"{len(mismatched)} shape mismatch(es), e.g. {k}: "
                          f"{tuple(state[k].shape)} vs {tuple(own[k].shape)}")
        if strict and missing:
            detail.append(f"{len(missing)} missing key(s), e.g. {missing[0]}")
        if strict and unexpected:
            detail.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[0]}")
        raise CheckpointError(f"checkpoint {os.fspath(path)!r} is for another architecture: " + "; ".join(detail))
    model.load_state_dict(state, strict=strict)
    return model
