"""Layer signatures: a network cut into the pieces the latency predictor times one by one.

Every piece of a GhostNet / CIFAR-net forward pass is one :class:`LayerSig` (kind, input shapes
``(C, H, W)`` at batch 1, sorted parameters); see :mod:`.latency_predictor` for the kinds.
:func:`config_signatures` enumerates them from a config without building anything (about a
millisecond); :func:`trace_signatures` collects them from a built module with forward pre-hooks.
:mod:`.layer_modules` builds each as a tiny standalone module.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Sequence, Union

import torch
import torch.nn as nn

from ghostnas.ghostnet import (CifarNet, CifarNetConfig, ConvBnAct, GhostBottleneck, GhostModule, GhostModuleV2,
                               GhostNet, GhostNetConfig, cifar_conv_layers, ghostnet_channels, make_divisible)

from .config import ArchConfig, load_model_spec

__all__ = ["LayerSig", "NOOP", "config_signatures", "trace_signatures", "resolve_target"]


@dataclass(frozen=True)
class LayerSig:
    """One layer's signature: kind, input shapes ``(C, H, W)`` (batch 1), sorted parameters."""

    kind: str
    inputs: tuple
    params: tuple = ()

    @property
    def key(self) -> str:
        """Canonical string, the table's key: ``kind|CxHxW[,CxHxW]|k=v,...``."""
        shapes = ",".join("x".join(str(d) for d in s) for s in self.inputs)
        ps = ",".join(f"{k}={_fmt(v)}" for k, v in self.params)
        return f"{self.kind}|{shapes}|{ps}"

    @property
    def p(self) -> dict[str, Any]:
        return dict(self.params)


def _fmt(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        return "x".join(_fmt(x) for x in v) if v else "-"
    if isinstance(v, bool):
        return str(int(v))
    return str(v)


def _sig(kind: str, inputs: Iterable[Sequence[int]], **params: Any) -> LayerSig:
    return LayerSig(kind, tuple(tuple(int(d) for d in s) for s in inputs),
                    tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items())))


def _conv_out(h: int, k: int, s: int, p: int) -> int:
    return (h + 2 * p - k) // s + 1


def _conv(c: int, h: int, w: int, cout: int, k: Union[int, tuple], s: int, p: Union[int, tuple], g: int,
          relu: bool) -> LayerSig:
    kh, kw = (k, k) if isinstance(k, int) else k
    ph, pw = (p, p) if isinstance(p, int) else p
    return _sig("conv", [(c, h, w)], cout=cout, k=(kh, kw), s=s, p=(ph, pw), g=g, relu=bool(relu))


#: The per-call overhead probe: ``x + 1`` on one element (timed into every table).
NOOP = _sig("noop", [(1, 1, 1)])


def _ghost_module(out: list, inp: int, oup: int, k: int, ratio: int, d: int, stride: int, relu: bool,
                  h: int, w: int, attn: bool) -> tuple[int, int]:
    init = math.ceil(oup / ratio)
    new = init * (ratio - 1)
    out.append(_conv(inp, h, w, init, k, stride, k // 2, 1, relu))
    ho, wo = _conv_out(h, k, stride, k // 2), _conv_out(w, k, stride, k // 2)
    if ratio > 1:
        out.append(_conv(init, ho, wo, new, d, 1, d // 2, init, relu))
        out.append(_sig("ghost_cat", [(init, ho, wo), (new, ho, wo)], oup=oup))
    if attn:
        out.append(_sig("dfc_attn", [(inp, h, w), (oup, ho, wo)], k=k, s=stride))
    return ho, wo


def _ghostnet_sigs(cfg: GhostNetConfig, res: Sequence[int]) -> list[LayerSig]:
    c, h, w = res
    ch = ghostnet_channels(cfg)
    out: list[LayerSig] = [_conv(c, h, w, ch["stem"], 3, 2, 1, 1, True)]
    h, w = _conv_out(h, 3, 2, 1), _conv_out(w, 3, 2, 1)
    for layer_id, (spec, (cin, hidden, cout)) in enumerate(zip(cfg.rows, ch["rows"])):
        attn = cfg.version == "v2" and layer_id > 1
        _ghost_module(out, cin, hidden, 1, spec.ratio, spec.dw_size, 1, True, h, w, attn)
        h2, w2 = h, w
        if spec.stride > 1:
            pad = (spec.kernel - 1) // 2
            out.append(_conv(hidden, h, w, hidden, spec.kernel, spec.stride, pad, hidden, False))
            h2, w2 = _conv_out(h, spec.kernel, spec.stride, pad), _conv_out(w, spec.kernel, spec.stride, pad)
        if spec.se_ratio is not None and spec.se_ratio > 0:
            out.append(_sig("se", [(hidden, h2, w2)], r=make_divisible(hidden * spec.se_ratio, 4)))
        _ghost_module(out, hidden, cout, 1, spec.ratio, spec.dw_size, 1, False, h2, w2, False)
        if not (cin == cout and spec.stride == 1):
            pad = (spec.kernel - 1) // 2
            out.append(_conv(cin, h, w, cin, spec.kernel, spec.stride, pad, cin, False))
            out.append(_conv(cin, h2, w2, cout, 1, 1, 0, 1, False))
        out.append(_sig("add", [(cout, h2, w2), (cout, h2, w2)]))
        h, w = h2, w2
    out.append(_conv(ch["last_in"], h, w, ch["last"], 1, 1, 0, 1, True))
    out.append(_sig("gnet_head", [(ch["last"], h, w)], head=cfg.head_chs, classes=cfg.num_classes))
    return out


def _cifar_sigs(cfg: CifarNetConfig, res: Sequence[int]) -> list[LayerSig]:
    from ghostnas.ghostnet.cifar import VGG16_LAYOUT, _scaled

    c, h, w = res
    layers = cifar_conv_layers(cfg.arch, cfg.width)
    ghosts = list(zip(cfg.ratios, cfg.dw_sizes)) if cfg.ghost else [None] * len(layers)
    out: list[LayerSig] = []

    def conv_layer(cin: int, cout: int, s: int, relu: bool, g: Any, h: int, w: int) -> tuple[int, int]:
        if g is not None:
            return _ghost_module(out, cin, cout, 3, g[0], g[1], s, relu, h, w, False)
        out.append(_conv(cin, h, w, cout, 3, s, 1, 1, relu))
        return _conv_out(h, 3, s, 1), _conv_out(w, 3, s, 1)

    if cfg.arch == "vgg16":
        it = iter(zip(layers, ghosts))
        first = True
        for v in VGG16_LAYOUT:
            if v == "M":
                out.append(_sig("maxpool", [(c, h, w)], k=2, s=2))
                h, w = h // 2, w // 2
                continue
            if first:
                cout = _scaled(v, cfg.width)
                h, w = conv_layer(c, cout, 1, True, None, h, w)
                first = False
            else:
                (i, cout, s), g = next(it)
                h, w = conv_layer(i, cout, s, True, g, h, w)
            c = cout
        out.append(_sig("cifar_head", [(c, h, w)], dims=(c, c, cfg.num_classes)))
        return out
    stem = _scaled(16, cfg.width)
    h, w = conv_layer(c, stem, 1, True, None, h, w)
    for i in range(len(layers) // 2):
        cin, cout, s = layers[2 * i]
        h2, w2 = conv_layer(cin, cout, s, True, ghosts[2 * i], h, w)
        conv_layer(cout, cout, 1, False, ghosts[2 * i + 1], h2, w2)
        out.append(_sig("res_tail", [(cin, h, w), (cout, h2, w2)], s=s))
        h, w = h2, w2
    out.append(_sig("cifar_head", [(layers[-1][1], h, w)], dims=(layers[-1][1], cfg.num_classes)))
    return out


def resolve_target(target: Any, input_size: Union[int, Sequence[int], None] = None) -> tuple[Any, tuple]:
    """``(model config, (C, H, W))`` of a name / JSON path / ArchConfig / model config."""
    if isinstance(target, (str, os.PathLike)):
        spec = load_model_spec(str(target))
        cfg, res = spec.config, spec.resolution
    elif isinstance(target, ArchConfig):
        cfg, res = target.model, target.resolution
    elif isinstance(target, (GhostNetConfig, CifarNetConfig)):
        cfg, res = target, None
    else:
        raise ValueError(f"latency predictor: expected a model name, JSON path, ArchConfig or model config, "
                         f"got {type(target).__name__}")
    if input_size is not None:
        res = input_size
    if res is None:
        res = 32 if isinstance(cfg, CifarNetConfig) else 224
    shape = (cfg.in_chans, res, res) if isinstance(res, int) else tuple(res)
    if len(shape) != 3 or not all(isinstance(d, int) and d >= 1 for d in shape):
        raise ValueError(f"input_size must be a positive int or (C, H, W), got {input_size!r}")
    return cfg, shape


def config_signatures(target: Any, input_size: Union[int, Sequence[int], None] = None) -> list[LayerSig]:
    """The layers of a network, in forward order, from its config alone (nothing is built).

    Args:
        target: An :class:`ArchConfig`, ``GhostNetConfig`` / ``CifarNetConfig``, registry name or JSON path.
        input_size: Square side or ``(C, H, W)``; default: the ArchConfig's / JSON's resolution, else 224
            (GhostNet) / 32 (CIFAR).

    Returns:
        One :class:`LayerSig` per layer (repeats included).
    """
    cfg, shape = resolve_target(target, input_size)
    if isinstance(cfg, GhostNetConfig):
        return _ghostnet_sigs(cfg, shape)
    return _cifar_sigs(cfg, shape)




def _seq_conv(seq: nn.Module, shape: tuple) -> list[LayerSig]:
    """A ``Sequential(conv, bn|Identity, [act])``-like run of modules as conv layers."""
    mods = [m for m in seq.children()]
    out: list[LayerSig] = []
    c, h, w = shape
    i = 0
    while i < len(mods):
        m = mods[i]
        if not isinstance(m, nn.Conv2d):
            raise ValueError(f"latency predictor: unexpected {type(m).__name__} in a conv sequence")
        j = i + 1
        relu = False
        while j < len(mods) and not isinstance(mods[j], nn.Conv2d):
            relu = relu or isinstance(mods[j], nn.ReLU)
            j += 1
        out.append(_conv(c, h, w, m.out_channels, tuple(m.kernel_size), m.stride[0], tuple(m.padding), m.groups,
                         relu))
        h = _conv_out(h, m.kernel_size[0], m.stride[0], m.padding[0])
        w = _conv_out(w, m.kernel_size[1], m.stride[1], m.padding[1])
        c = m.out_channels
        i = j
    return out


def trace_signatures(model: nn.Module, input_size: Union[int, Sequence[int]]) -> list[LayerSig]:
    """The layers of a built network, from one forward pass with forward pre-hooks (batch 1).

    Works for :class:`~ghostnas.ghostnet.GhostNet` (v1/v2) and :class:`~ghostnas.ghostnet.CifarNet`,
    unfused or BN-folded. Agrees with :func:`config_signatures` for networks built from a config.

    Raises:
        ValueError: a network or module the predictor does not know.
    """
    from .counts import input_shape

    if not isinstance(model, (GhostNet, CifarNet)):
        raise ValueError(f"latency predictor: cannot cut a {type(model).__name__} into layers; "
                         "expected a GhostNet or CifarNet")
    tracer = _SignatureTracer(_module_input_shapes(model, input_shape(model, input_size)))
    tracer.walk(model)
    return tracer.out


def _module_input_shapes(model: nn.Module, shape: Sequence[int]) -> dict[int, list[tuple]]:
    """``id(module)`` → the shapes (without batch) of its tensor inputs, from one eval forward pass."""
    shapes: dict[int, list[tuple]] = {}

    def pre(mod: nn.Module, args: tuple) -> None:
        shapes.setdefault(id(mod), [tuple(a.shape[1:]) for a in args if isinstance(a, torch.Tensor)])

    hooks = [m.register_forward_pre_hook(pre) for m in model.modules()]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *shape))
    finally:
        for hk in hooks:
            hk.remove()
        model.train(was_training)
    return shapes


class _SignatureTracer:
    """Walks a traced network's modules in execution order and collects their layer signatures."""

    def __init__(self, shapes: dict[int, list[tuple]]):
        self.shapes = shapes
        self.out: list[LayerSig] = []

    def ins(self, m: nn.Module) -> tuple:
        return self.shapes[id(m)][0]

    def walk(self, m: nn.Module) -> None:
        from ghostnas.ghostnet.cifar import _BasicBlock

        if isinstance(m, GhostNet):
            self.ghostnet(m)
        elif isinstance(m, GhostBottleneck):
            self.bottleneck(m)
        elif isinstance(m, GhostModule):
            self.ghost(m)
        elif isinstance(m, ConvBnAct):
            c, h, w = self.ins(m)
            cv = m.conv
            self.out.append(_conv(c, h, w, cv.out_channels, tuple(cv.kernel_size), cv.stride[0], tuple(cv.padding),
                                  cv.groups, isinstance(m.act1, nn.ReLU)))
        elif isinstance(m, CifarNet):
            self.cifar(m)
        elif isinstance(m, _BasicBlock):
            self.basic_block(m)
        elif isinstance(m, nn.MaxPool2d):
            self.out.append(_sig("maxpool", [self.ins(m)], k=m.kernel_size, s=m.stride))
        elif isinstance(m, nn.Sequential) and len(m) > 0 and isinstance(m[0], nn.Conv2d):
            self.out.extend(_seq_conv(m, self.ins(m)))
        elif isinstance(m, nn.Sequential):
            for child in m:
                self.walk(child)
        else:
            raise ValueError(f"latency predictor: does not know the module {type(m).__name__}")

    def ghost(self, m: GhostModule) -> None:
        c, h, w = self.ins(m)
        self.out.extend(_seq_conv(m.primary_conv, (c, h, w)))
        if m.cheap_operation is not None:
            ci = self.ins(m.cheap_operation)
            self.out.extend(_seq_conv(m.cheap_operation, ci))
            new = m.cheap_operation[0].out_channels
            self.out.append(_sig("ghost_cat", [ci, (new, ci[1], ci[2])], oup=m.oup))
        if isinstance(m, GhostModuleV2) and m.short_conv is not None:
            conv0 = m.primary_conv[0]
            ho = _conv_out(h, conv0.kernel_size[0], conv0.stride[0], conv0.padding[0])
            wo = _conv_out(w, conv0.kernel_size[1], conv0.stride[1], conv0.padding[1])
            self.out.append(_sig("dfc_attn", [(c, h, w), (m.oup, ho, wo)], k=conv0.kernel_size[0],
                                 s=conv0.stride[0]))

    def ghostnet(self, m: GhostNet) -> None:
        c, h, w = self.ins(m.conv_stem)
        self.out.append(_conv(c, h, w, m.conv_stem.out_channels, 3, 2, 1, 1, True))
        self.walk(m.blocks)
        c, h, w = self.ins(m.global_pool)
        self.out.append(_sig("gnet_head", [(c, h, w)], head=m.conv_head.out_channels,
                             classes=m.classifier.out_features))

    def bottleneck(self, m: GhostBottleneck) -> None:
        self.ghost(m.ghost1)
        if m.conv_dw is not None:
            d = m.conv_dw
            self.out.append(_conv(*self.ins(d), d.out_channels, tuple(d.kernel_size), d.stride[0], tuple(d.padding),
                                  d.groups, False))
        if m.se is not None:
            self.out.append(_sig("se", [self.ins(m.se)], r=m.se.conv_reduce.out_channels))
        self.ghost(m.ghost2)
        if len(m.shortcut) > 0:
            self.out.extend(_seq_conv(m.shortcut, self.ins(m.shortcut)))
        c = m.ghost2.oup
        _, h, w = self.ins(m.ghost2)
        self.out.append(_sig("add", [(c, h, w), (c, h, w)]))

    def cifar(self, m: CifarNet) -> None:
        if m.config.arch == "vgg16":
            self.walk(m.features)
            lin = [x for x in m.classifier if isinstance(x, nn.Linear)]
            c = lin[0].in_features
            _, h, w = self.ins(m.features[-1])
            h, w = h // 2, w // 2  # the last max-pool
            self.out.append(_sig("cifar_head", [(c, h, w)], dims=(c, *[x.out_features for x in lin])))
        else:
            self.walk(m.stem)
            self.walk(m.layers)
            c = m.classifier.in_features
            _, h, w = self.ins(m.layers[-1].conv2)
            self.out.append(_sig("cifar_head", [(c, h, w)], dims=(c, m.classifier.out_features)))

    def basic_block(self, m: nn.Module) -> None:
        self.walk(m.conv1)
        self.walk(m.conv2)
        c2 = self.ins(m.conv2)
        cout = m.conv2.oup if isinstance(m.conv2, GhostModule) else m.conv2[0].out_channels
        self.out.append(_sig("res_tail", [self.ins(m), (cout, c2[1], c2[2])], s=m.stride))
