"""Analytic parameter and MAC counts from a config alone, and the built-model reference count.

* :func:`analytic_counts` -- parameters and conv+linear MACs from a config, without building the
  network. Exactly equal to ``sum(p.numel())`` of the built model and to ``FlopCounterMode`` total
  / 2 at the same resolution (tests check both on the registry and on hundreds of random
  configs). Pure Python integer arithmetic, about 10^4x faster than tracing.
* :func:`built_counts` -- the reference it must equal: the built model counted by
  ``FlopCounterMode`` (on the ``meta`` device by default).
* :func:`input_shape` -- ``(C, H, W)`` from a square side or a shape (shared by the counters and
  the latency timer).

Conventions: 1 MAC = one multiply-accumulate; FLOPs = 2 x MACs. Conv and linear biases, BN,
activations, pooling, adds, multiplies and concatenation are not MACs here (FlopCounterMode's
convention), so BN folding (:func:`ghostnas.ghostnet.fuse_for_inference`) does not change MACs.
The cross-checked third-party counters are in :mod:`ghostnas.space.flops`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

from ghostnas.ghostnet import BlockSpec, CifarNetConfig, GhostNetConfig, build_model, ghostnet_channels
from ghostnas.ghostnet.cifar import VGG16_LAYOUT, _scaled, cifar_conv_layers
from ghostnas.ghostnet.modules import make_divisible

__all__ = ["LAYER_TYPES", "Counts", "analytic_counts", "built_counts", "resolve_config", "input_shape"]

#: Layer types of the breakdown. ``conv`` = dense k x k conv (k > 1), ``pointwise`` = dense 1x1
#: conv, ``depthwise`` = grouped conv with one input channel per group, ``linear`` = nn.Linear.
LAYER_TYPES = ("conv", "pointwise", "depthwise", "linear")

_Ghost = Optional[tuple[int, int]]  # (ratio s, cheap-op kernel d) of a Ghost conv, None if plain


@dataclass(frozen=True)
class Counts:
    """Analytic parameter and MAC counts of one network at one input resolution.

    Attributes:
        params: Every parameter (conv/linear weights and biases, BN affine weight and bias).
        macs: Conv + linear multiply-accumulates at batch 1 (biases not counted);
            ``FlopCounterMode`` reports ``2 * macs``.
        resolution: Input height = width the MACs are for.
        macs_by_type: MACs per layer type (:data:`LAYER_TYPES`).
        params_by_type: Parameters per layer type, plus ``"bn"`` for BatchNorm affine params.
        macs_by_role: MACs per architectural role (``stem``, ``ghost_primary``, ``ghost_cheap``,
            ``dfc_attention``, ``dw``, ``se``, ``shortcut``, ``head``, ``classifier``, ``plain_conv``).
    """

    params: int
    macs: int
    resolution: int
    macs_by_type: dict = field(default_factory=dict, compare=False)
    params_by_type: dict = field(default_factory=dict, compare=False)
    macs_by_role: dict = field(default_factory=dict, compare=False)

    @property
    def flops(self) -> int:
        """``2 * macs`` (the FlopCounterMode convention)."""
        return 2 * self.macs

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (with ``flops``)."""
        return {"params": self.params, "macs": self.macs, "flops": self.flops, "resolution": self.resolution,
                "macs_by_type": dict(self.macs_by_type), "params_by_type": dict(self.params_by_type),
                "macs_by_role": dict(self.macs_by_role)}


class _Acc:
    """Accumulates conv/linear/BN layers into totals and breakdowns."""

    def __init__(self) -> None:
        self.params = 0
        self.macs = 0
        self.macs_by_type: Counter = Counter()
        self.params_by_type: Counter = Counter()
        self.macs_by_role: Counter = Counter()

    def conv(self, role: str, cin: int, cout: int, kh: int, kw: int, h: int, w: int,
             groups: int = 1, bias: bool = False) -> None:
        """A conv producing an ``h`` x ``w`` output."""
        if h < 1 or w < 1:
            raise ValueError(f"input resolution too small: a {role} conv would get an empty {h}x{w} map")
        weights = cout * (cin // groups) * kh * kw
        macs = weights * h * w
        kind = ("depthwise" if groups > 1 and groups == cin else "conv") if groups > 1 \
            else ("pointwise" if kh == kw == 1 else "conv")
        self.params += weights + (cout if bias else 0)
        self.params_by_type[kind] += weights + (cout if bias else 0)
        self.macs += macs
        self.macs_by_type[kind] += macs
        self.macs_by_role[role] += macs

    def bn(self, c: int) -> None:
        self.params += 2 * c
        self.params_by_type["bn"] += 2 * c

    def linear(self, role: str, fin: int, fout: int) -> None:
        self.params += fin * fout + fout
        self.params_by_type["linear"] += fin * fout + fout
        self.macs += fin * fout
        self.macs_by_type["linear"] += fin * fout
        self.macs_by_role[role] += fin * fout

    def result(self, resolution: int) -> Counts:
        return Counts(self.params, self.macs, resolution, dict(self.macs_by_type),
                      dict(self.params_by_type), dict(self.macs_by_role))


def _out(h: int, k: int, s: int, p: int) -> int:
    """Conv/pool output size ``(h + 2p - k) // s + 1`` (floor mode)."""
    return (h + 2 * p - k) // s + 1


# --------------------------------------------------------------------------------------------
# GhostNet
# --------------------------------------------------------------------------------------------

def _ghost_module(acc: _Acc, inp: int, oup: int, k: int, ratio: int, dw: int, stride: int,
                  h: int, w: int) -> tuple[int, int]:
    """A :class:`GhostModule`; returns its output size."""
    init = -(-oup // ratio)
    h, w = _out(h, k, stride, k // 2), _out(w, k, stride, k // 2)
    acc.conv("ghost_primary", inp, init, k, k, h, w)
    acc.bn(init)
    if ratio > 1:
        new = init * (ratio - 1)  # all computed, even those sliced off to reach `oup`
        acc.conv("ghost_cheap", init, new, dw, dw, h, w, groups=init)
        acc.bn(new)
    return h, w


def _dfc_attention(acc: _Acc, cin: int, mid: int, h: int, w: int) -> None:
    """GhostNetV2's ``short_conv`` branch on the 2x average-pooled input."""
    hp, wp = h // 2, w // 2  # F.avg_pool2d(kernel 2, stride 2), floor mode
    acc.conv("dfc_attention", cin, mid, 1, 1, hp, wp)
    acc.bn(mid)
    acc.conv("dfc_attention", mid, mid, 1, 5, hp, wp, groups=mid)  # padding (0, 2): size kept
    acc.bn(mid)
    acc.conv("dfc_attention", mid, mid, 5, 1, hp, wp, groups=mid)
    acc.bn(mid)


def _bottleneck(acc: _Acc, spec: BlockSpec, widths: tuple[int, int, int], attn: bool,
                h: int, w: int) -> tuple[int, int]:
    """One :class:`GhostBottleneck`; returns its output size."""
    cin, mid, cout = widths
    k, s = spec.kernel, spec.stride
    _ghost_module(acc, cin, mid, 1, spec.ratio, spec.dw_size, 1, h, w)  # ghost1: 1x1 primary, stride 1
    if attn:
        _dfc_attention(acc, cin, mid, h, w)
    ho, wo = _out(h, k, s, (k - 1) // 2), _out(w, k, s, (k - 1) // 2)
    if s > 1:
        acc.conv("dw", mid, mid, k, k, ho, wo, groups=mid)
        acc.bn(mid)
    if spec.se_ratio is not None and spec.se_ratio > 0.0:
        red = make_divisible(mid * spec.se_ratio, 4)
        acc.conv("se", mid, red, 1, 1, 1, 1, bias=True)
        acc.conv("se", red, mid, 1, 1, 1, 1, bias=True)
    _ghost_module(acc, mid, cout, 1, spec.ratio, spec.dw_size, 1, ho, wo)
    if not (cin == cout and s == 1):
        acc.conv("shortcut", cin, cin, k, k, ho, wo, groups=cin)
        acc.bn(cin)
        acc.conv("shortcut", cin, cout, 1, 1, ho, wo)
        acc.bn(cout)
    return ho, wo


def _ghostnet_counts(cfg: GhostNetConfig, res: int) -> Counts:
    acc = _Acc()
    ch = ghostnet_channels(cfg)
    h = w = _out(res, 3, 2, 1)
    acc.conv("stem", cfg.in_chans, ch["stem"], 3, 3, h, w)
    acc.bn(ch["stem"])
    for layer_id, (spec, widths) in enumerate(zip(cfg.rows, ch["rows"])):
        # v2: DFC attention in ghost1 of every bottleneck after the second.
        h, w = _bottleneck(acc, spec, widths, cfg.version == "v2" and layer_id > 1, h, w)
    acc.conv("head", ch["last_in"], ch["last"], 1, 1, h, w)
    acc.bn(ch["last"])
    acc.conv("head", ch["last"], cfg.head_chs, 1, 1, 1, 1, bias=True)  # conv_head after global pool
    acc.linear("classifier", cfg.head_chs, cfg.num_classes)
    return acc.result(res)


# --------------------------------------------------------------------------------------------
# CIFAR VGG-16 / ResNet-56
# --------------------------------------------------------------------------------------------

def _cifar_layer(acc: _Acc, cin: int, cout: int, stride: int, bias: bool, ghost: _Ghost,
                 h: int, w: int, role: str = "plain_conv") -> tuple[int, int]:
    if ghost is not None:
        return _ghost_module(acc, cin, cout, 3, ghost[0], ghost[1], stride, h, w)
    h, w = _out(h, 3, stride, 1), _out(w, 3, stride, 1)
    acc.conv(role, cin, cout, 3, 3, h, w, bias=bias)
    acc.bn(cout)
    return h, w


def _vgg16_counts(acc: _Acc, cfg: CifarNetConfig, layers: list, ghosts: list, res: int) -> None:
    it = iter(zip(layers, ghosts))
    h = w = res
    cin, first = cfg.in_chans, True
    for v in VGG16_LAYOUT:
        if v == "M":
            h, w = _out(h, 2, 2, 0), _out(w, 2, 2, 0)
            if h < 1 or w < 1:
                raise ValueError(f"input resolution {res} too small for VGG-16's five 2x2 max-pools "
                                 "(needs >= 32)")
            continue
        if first:
            cout = _scaled(v, cfg.width)
            h, w = _cifar_layer(acc, cin, cout, 1, True, None, h, w, role="stem")
            first = False
        else:
            (cin, cout, s), g = next(it)
            h, w = _cifar_layer(acc, cin, cout, s, True, g, h, w)
        cin = cout
    acc.linear("classifier", cin, cin)
    acc.linear("classifier", cin, cfg.num_classes)


def _resnet56_counts(acc: _Acc, cfg: CifarNetConfig, layers: list, ghosts: list, res: int) -> None:
    stem = _scaled(16, cfg.width)
    h, w = _out(res, 3, 1, 1), _out(res, 3, 1, 1)
    acc.conv("stem", cfg.in_chans, stem, 3, 3, h, w)
    acc.bn(stem)
    for i in range(len(layers) // 2):
        (cin, cout, s), g1, g2 = layers[2 * i], ghosts[2 * i], ghosts[2 * i + 1]
        h, w = _cifar_layer(acc, cin, cout, s, False, g1, h, w)
        h, w = _cifar_layer(acc, cout, cout, 1, False, g2, h, w)
    acc.linear("classifier", layers[-1][1], cfg.num_classes)


def _cifar_counts(cfg: CifarNetConfig, res: int) -> Counts:
    acc = _Acc()
    layers = cifar_conv_layers(cfg.arch, cfg.width)
    ghosts: list[_Ghost] = list(zip(cfg.ratios, cfg.dw_sizes)) if cfg.ghost else [None] * len(layers)
    count = _vgg16_counts if cfg.arch == "vgg16" else _resnet56_counts
    count(acc, cfg, layers, ghosts, res)
    return acc.result(res)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

def resolve_config(config: Any, resolution: Optional[int] = None) -> tuple[Union[GhostNetConfig, CifarNetConfig], int]:
    """Split ``config`` into ``(model config, resolution)``.

    Args:
        config: A ``GhostNetConfig`` / ``CifarNetConfig`` (then ``resolution`` is required) or an
            object with ``.model`` (one of those) and ``.resolution`` (the search space's
            ``ArchConfig``).
        resolution: Input side; for an ArchConfig-like object, None means its ``.resolution``.

    Returns:
        ``(model config, resolution)``.

    Raises:
        ValueError: unknown config type, or a missing or non-positive resolution.
    """
    model = config
    if not isinstance(config, (GhostNetConfig, CifarNetConfig)) and hasattr(config, "model"):
        model = config.model
        if resolution is None:
            resolution = getattr(config, "resolution", None)
    if not isinstance(model, (GhostNetConfig, CifarNetConfig)):
        raise ValueError(f"cannot count {type(config).__name__}: expected GhostNetConfig, CifarNetConfig "
                         "or an object with .model and .resolution")
    if resolution is None:
        raise ValueError("analytic_counts needs an input resolution for a bare model config")
    if not isinstance(resolution, int) or isinstance(resolution, bool) or resolution < 1:
        raise ValueError(f"input resolution must be a positive integer, got {resolution!r}")
    return model, resolution


def analytic_counts(config: Any, resolution: Optional[int] = None) -> Counts:
    """Parameters and conv+linear MACs of ``config`` at ``resolution`` x ``resolution``, batch 1,
    from the config alone (no model is built).

    Args:
        config: ``GhostNetConfig``, ``CifarNetConfig``, or an ``ArchConfig``-like object with
            ``.model`` and ``.resolution``.
        resolution: Input height = width; defaults to ``config.resolution`` for an ArchConfig.

    Returns:
        :class:`Counts`; ``params == sum(p.numel() for p in build_model(cfg).parameters())`` and
        ``2 * macs == FlopCounterMode`` total of a forward pass, exactly.

    Raises:
        ValueError: unknown config type, missing/invalid resolution, or a resolution so small that
            the network would produce an empty feature map.
    """
    model, res = resolve_config(config, resolution)
    if isinstance(model, GhostNetConfig):
        return _ghostnet_counts(model, res)
    return _cifar_counts(model, res)


def built_counts(config: Union[GhostNetConfig, CifarNetConfig], resolution: int,
                 device: str = "meta") -> tuple[int, int]:
    """``(params, MACs)`` of the *built* model, counted by ``FlopCounterMode`` (the reference that
    :func:`analytic_counts` must equal).

    On the ``meta`` device (default) nothing is allocated: counts come from shapes, ~10x faster
    and identical; BatchNorms (not counted by FlopCounterMode, and slow on meta) are swapped for
    Identity after the parameters are counted. ``device="cpu"`` runs real tensors.

    Args:
        config: A model config.
        resolution: Input side.
        device: ``"meta"`` or a real device.

    Returns:
        ``(parameters, conv+linear MACs)`` at batch 1.
    """
    import torch
    import torch.nn as nn
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device(device):
        model = build_model(config).eval()
        params = sum(p.numel() for p in model.parameters())
        if device == "meta":
            for m in list(model.modules()):
                for name, child in list(m.named_children()):
                    if isinstance(child, nn.BatchNorm2d):
                        setattr(m, name, nn.Identity())
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model(torch.zeros(1, config.in_chans, resolution, resolution))
    return params, counter.get_total_flops() // 2


def input_shape(model: Any, input_size: Union[int, Sequence[int]]) -> tuple[int, int, int]:
    """``(C, H, W)`` of one input image.

    Args:
        model: The network; for an int ``input_size``, ``C`` is its first conv's ``in_channels``
            (3 if it has none).
        input_size: A square side, or ``(C, H, W)``.

    Returns:
        ``(C, H, W)``.

    Raises:
        ValueError: not a positive int nor three positive ints.
    """
    if isinstance(input_size, bool):
        raise ValueError(f"input_size must be an int or (C, H, W), got {input_size!r}")
    if isinstance(input_size, int):
        if input_size < 1:
            raise ValueError(f"input_size must be a positive integer, got {input_size}")
        chans = 3
        for m in model.modules():
            if hasattr(m, "in_channels") and hasattr(m, "kernel_size"):
                chans = int(m.in_channels)
                break
        return chans, input_size, input_size
    shape = tuple(input_size)
    if len(shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape):
        raise ValueError(f"input_size must be a positive int (square side) or (C, H, W) of positive ints, "
                         f"got {input_size!r}")
    return shape  # type: ignore[return-value]
