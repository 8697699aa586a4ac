"""Capture the feature maps of named layers of any model, on a batch.

:func:`capture_features` runs one forward pass with forward hooks on the named modules
(names are ``model.named_modules()`` names, e.g. ``features.1`` or ``layer1``) and returns one
:class:`LayerMaps` per layer. For a :class:`~ghostnas.ghostnet.GhostModule` it also records the
*intrinsic* maps (output of ``primary_conv``) and the *ghost* maps actually used by the module
(the first ``oup - init`` channels of ``cheap_operation``'s output), separately.

Ghost bookkeeping: the cheap operation is a depthwise conv with ``groups = init``, so cheap
output channel ``i*(ratio-1) + k`` (``k < ratio-1``) is the ``k``-th ghost of intrinsic map
``i``; :meth:`LayerMaps.ghost_parent` gives ``i`` for a ghost index.
For ``GhostModuleV2`` in ``attn`` mode, ``output`` is after the attention multiply while
``intrinsic``/``ghost`` are before it.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Union

import torch
import torch.nn as nn

__all__ = ["LayerMaps", "capture_features", "resolve_layers", "is_ghost_module"]


@dataclass
class LayerMaps:
    """Feature maps of one layer for one batch (all tensors detached, on CPU).

    Attributes:
        name: The module name.
        output: The layer's output, N×C×H×W.
        intrinsic: Ghost modules only: intrinsic maps (``primary_conv`` output), N×m×H×W.
        ghost: Ghost modules only: the ghost maps the module uses, N×(oup−m)×H×W
            (``None`` when ``ratio == 1``).
        ratio: Ghost modules only: the ratio ``s``.
        dw_size: Ghost modules only: the cheap op's kernel ``d``.
    """

    name: str
    output: torch.Tensor
    intrinsic: Optional[torch.Tensor] = None
    ghost: Optional[torch.Tensor] = None
    ratio: Optional[int] = None
    dw_size: Optional[int] = None

    @property
    def is_ghost(self) -> bool:
        """True for a Ghost module's maps (intrinsic and ghost maps recorded)."""
        return self.intrinsic is not None

    def ghost_parent(self, j: int) -> int:
        """Index of the intrinsic map that ghost ``j`` was made from (``j // (ratio - 1)``).

        Args:
            j: Index into :attr:`ghost`.

        Returns:
            The intrinsic map's index.

        Raises:
            ValueError: the layer has no ghost maps, or ``j`` is out of range.
        """
        if not self.is_ghost or self.ghost is None or self.ratio is None or self.ratio < 2:
            raise ValueError(f"layer {self.name!r} has no ghost maps")
        if not 0 <= j < self.ghost.shape[1]:
            raise ValueError(f"ghost index {j} out of range 0..{self.ghost.shape[1] - 1}")
        return j // (self.ratio - 1)

    def ghosts_of(self, i: int) -> list[int]:
        """Indices (into :attr:`ghost`) of the ghost maps of intrinsic map ``i``.

        Args:
            i: Index of an intrinsic map.

        Returns:
            The ghost indices (empty for a layer without ghost maps).
        """
        if not self.is_ghost or self.ghost is None or self.ratio is None or self.ratio < 2:
            return []
        r = self.ratio - 1
        return [j for j in range(i * r, (i + 1) * r) if j < self.ghost.shape[1]]


def is_ghost_module(m: nn.Module) -> bool:
    """Whether ``m`` is a Ghost module.

    Duck-typed: anything with ``intrinsic_and_ghost``, ``primary_conv``, ``oup`` and ``ratio``.

    Args:
        m: Any module.

    Returns:
        True for a Ghost module (v1 or v2).
    """
    return all(hasattr(m, a) for a in ("intrinsic_and_ghost", "primary_conv", "oup", "ratio"))


def resolve_layers(model: nn.Module, layers: Union[str, Iterable[str]]) -> dict[str, nn.Module]:
    """Map layer names to modules.

    Args:
        model: Any ``nn.Module``.
        layers: One module name or several (``model.named_modules()`` names).

    Returns:
        ``{name: module}`` in the order given.

    Raises:
        ValueError: a name is not a module of ``model``; the message names the unknown layer(s)
            and lists close matches or a few valid names.
    """
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise ValueError("no layer given; name at least one module (e.g. 'features.1')")
    modules = dict(model.named_modules())
    modules.pop("", None)
    unknown = [n for n in layers if n not in modules]
    if unknown:
        names = list(modules)
        close: list[str] = []
        for n in unknown:
            close += [c for c in difflib.get_close_matches(n, names, n=3, cutoff=0.5) if c not in close]
        top = [n for n in names if "." not in n][:4]
        hint = close or (top + [n for n in names if n not in top][:6 - len(top)])
        raise ValueError(f"unknown layer(s) {', '.join(map(repr, unknown))} in {type(model).__name__}; "
                         f"{'close matches' if close else 'valid names include'}: {', '.join(hint)} "
                         f"({len(names)} modules in all)")
    return {n: modules[n] for n in layers}


class _Stop(Exception):
    pass


def capture_features(model: nn.Module, layers: Union[str, Sequence[str]], x: torch.Tensor,
                     ghost_split: bool = True, stop_early: bool = True) -> dict[str, LayerMaps]:
    """Run ``model(x)`` once and return the feature maps of ``layers``.

    Args:
        model: Any ``nn.Module``; it is run as it is (call ``model.eval()`` first for inference
            behaviour) under ``torch.no_grad()``.
        layers: One module name or several (``model.named_modules()`` names).
        x: The input batch (already normalised).
        ghost_split: For Ghost modules, also record intrinsic and ghost maps.
        stop_early: Stop the forward pass once every requested layer has fired.

    Returns:
        ``{name: LayerMaps}`` in the order given.

    Raises:
        ValueError: unknown layer names; a layer whose output is not a tensor; a layer that did
            not run in the forward pass.
    """
    mods = resolve_layers(model, layers)
    got: dict[str, dict[str, object]] = {n: {} for n in mods}
    handles = []

    def _store(name: str, key: str):
        def hook(_m, _inp, out):
            if not isinstance(out, torch.Tensor):
                raise ValueError(f"layer {name!r} returns {type(out).__name__}, not a tensor; "
                                 "pick a module that outputs feature maps")
            got[name][key] = out.detach().clone().cpu()
            if stop_early and all("output" in g for g in got.values()):
                raise _Stop
        return hook

    for name, m in mods.items():
        if ghost_split and is_ghost_module(m):
            handles.append(m.primary_conv.register_forward_hook(_store(name, "intrinsic")))
            if getattr(m, "cheap_operation", None) is not None:
                handles.append(m.cheap_operation.register_forward_hook(_store(name, "cheap")))
        handles.append(m.register_forward_hook(_store(name, "output")))
    try:
        with torch.no_grad():
            model(x)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    result: dict[str, LayerMaps] = {}
    for name, m in mods.items():
        g = got[name]
        if "output" not in g:
            raise ValueError(f"layer {name!r} did not run in the forward pass")
        out = g["output"]
        if ghost_split and is_ghost_module(m):
            intrinsic = g.get("intrinsic")
            cheap = g.get("cheap")
            ghost = None
            if cheap is not None:
                used = m.oup - intrinsic.shape[1]
                ghost = cheap[:, :max(used, 0)]
            dw = getattr(m, "dw_size", None)
            result[name] = LayerMaps(name, out, intrinsic, ghost, int(m.ratio), int(dw) if dw else None)
        else:
            result[name] = LayerMaps(name, out)
        if result[name].output.dim() != 4:
            raise ValueError(f"layer {name!r} output has shape {tuple(out.shape)}; feature maps must be N×C×H×W")
    return result
