"""Measurement: analytic params/MACs, cross-checked FLOP counters, and CPU/GPU latency.

Three tools, usable by the search (budget filters, latency objective) and by the analysis:

* :func:`analytic_counts` -- parameters and conv+linear MACs from a config alone, without
  building the network. Exactly equal to ``sum(p.numel())`` of the built model and to
  ``FlopCounterMode`` total / 2 at the same resolution (tests check both on the registry and on
  hundreds of random configs). Pure Python integer arithmetic, about 10^4x faster than tracing.
* :func:`count_flops` -- one side-by-side report of the analytic count, fvcore, thop and
  ``torch.utils.flop_counter.FlopCounterMode``, each labelled MACs or FLOPs, with what each counter
  counts beyond conv+linear, their warnings and unsupported ops captured as data.
* :func:`measure_latency` -- ``torch.utils.benchmark`` timing in eval/inference mode with an
  explicit thread count, median / IQR / p90 and a ``noisy`` flag.

Conventions: 1 MAC = one multiply-accumulate; FLOPs = 2 x MACs. Conv and linear biases, BN,
activations, pooling, adds, multiplies and concatenation are not MACs here (FlopCounterMode's
convention), so BN folding (:func:`ghostnas.ghostnet.fuse_for_inference`) does not change MACs.
"""
from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

__all__ = [
    "Counts", "analytic_counts", "resolve_config",
    "CounterResult", "FlopReport", "count_flops",
    "LatencyResult", "measure_latency",
]


# --------------------------------------------------------------------------------------------
# Analytic counts
# --------------------------------------------------------------------------------------------

#: Layer types of the breakdown. ``conv`` = dense k x k conv (k > 1), ``pointwise`` = dense 1x1
#: conv, ``depthwise`` = grouped conv with one input channel per group, ``linear`` = nn.Linear.
LAYER_TYPES = ("conv", "pointwise", "depthwise", "linear")


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


def _ghostnet_counts(cfg: Any, res: int) -> Counts:
    from ghostnas.ghostnet.ghostnet import ghostnet_channels
    from ghostnas.ghostnet.modules import make_divisible

    acc = _Acc()
    ch = ghostnet_channels(cfg)
    h = w = _out(res, 3, 2, 1)
    acc.conv("stem", cfg.in_chans, ch["stem"], 3, 3, h, w)
    acc.bn(ch["stem"])
    for layer_id, (spec, (cin, mid, cout)) in enumerate(zip(cfg.blocks, ch["blocks"])):
        k, s = spec.kernel, spec.stride
        # ghost1 (1x1 primary, stride 1), with the v2 DFC attention branch after block 1.
        _ghost_module(acc, cin, mid, 1, spec.ratio, spec.dw_size, 1, h, w)
        if cfg.version == "v2" and layer_id > 1:
            hp, wp = h // 2, w // 2  # F.avg_pool2d(kernel 2, stride 2), floor mode
            acc.conv("dfc_attention", cin, mid, 1, 1, hp, wp)
            acc.bn(mid)
            acc.conv("dfc_attention", mid, mid, 1, 5, hp, wp, groups=mid)  # padding (0, 2): size kept
            acc.bn(mid)
            acc.conv("dfc_attention", mid, mid, 5, 1, hp, wp, groups=mid)
            acc.bn(mid)
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
        h, w = ho, wo
    acc.conv("head", ch["last_in"], ch["last"], 1, 1, h, w)
    acc.bn(ch["last"])
    acc.conv("head", ch["last"], cfg.head_chs, 1, 1, 1, 1, bias=True)  # conv_head after global pool
    acc.linear("classifier", cfg.head_chs, cfg.num_classes)
    return acc.result(res)


def _cifar_layer(acc: _Acc, cin: int, cout: int, stride: int, bias: bool, ghost: Optional[tuple[int, int]],
                 h: int, w: int, role: str = "plain_conv") -> tuple[int, int]:
    if ghost is not None:
        return _ghost_module(acc, cin, cout, 3, ghost[0], ghost[1], stride, h, w)
    h, w = _out(h, 3, stride, 1), _out(w, 3, stride, 1)
    acc.conv(role, cin, cout, 3, 3, h, w, bias=bias)
    acc.bn(cout)
    return h, w


def _cifar_counts(cfg: Any, res: int) -> Counts:
    from ghostnas.ghostnet.cifar import VGG16_LAYOUT, _scaled, cifar_conv_layers

    acc = _Acc()
    layers = cifar_conv_layers(cfg.arch, cfg.width)
    ghosts = list(zip(cfg.ratios, cfg.dw_sizes)) if cfg.ghost else [None] * len(layers)
    h = w = res
    if cfg.arch == "vgg16":
        it = iter(zip(layers, ghosts))
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
    else:
        stem = _scaled(16, cfg.width)
        h, w = _out(h, 3, 1, 1), _out(w, 3, 1, 1)
        acc.conv("stem", cfg.in_chans, stem, 3, 3, h, w)
        acc.bn(stem)
        for i in range(len(layers) // 2):
            (cin, cout, s), g1, g2 = layers[2 * i], ghosts[2 * i], ghosts[2 * i + 1]
            h, w = _cifar_layer(acc, cin, cout, s, False, g1, h, w)
            h, w = _cifar_layer(acc, cout, cout, 1, False, g2, h, w)
        acc.linear("classifier", layers[-1][1], cfg.num_classes)
    return acc.result(res)


def resolve_config(config: Any, resolution: Optional[int] = None) -> tuple[Any, int]:
    """Split ``config`` into ``(model config, resolution)``.

    ``config`` is a ``GhostNetConfig`` / ``CifarNetConfig`` (then ``resolution`` is required) or an
    object with ``.model`` (one of those) and ``.resolution`` (the search space's ``ArchConfig``),
    whose resolution is used when ``resolution`` is None.
    """
    from ghostnas.ghostnet import CifarNetConfig, GhostNetConfig

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
    from ghostnas.ghostnet import GhostNetConfig

    model, res = resolve_config(config, resolution)
    if isinstance(model, GhostNetConfig):
        return _ghostnet_counts(model, res)
    return _cifar_counts(model, res)


def built_counts(config: Any, resolution: int, device: str = "meta") -> tuple[int, int]:
    """``(params, MACs)`` of the *built* model, counted by ``FlopCounterMode`` (the reference that
    :func:`analytic_counts` must equal).

    On the ``meta`` device (default) nothing is allocated: counts come from shapes, ~10x faster
    and identical; BatchNorms (not counted by FlopCounterMode, and slow on meta) are swapped for
    Identity after the parameters are counted. ``device="cpu"`` runs real tensors.
    """
    import torch
    import torch.nn as nn
    from torch.utils.flop_counter import FlopCounterMode

    from ghostnas.ghostnet import build_model

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


# --------------------------------------------------------------------------------------------
# Input sizes
# --------------------------------------------------------------------------------------------

def _input_shape(model: Any, input_size: Union[int, Sequence[int]]) -> tuple[int, int, int]:
    """``(C, H, W)`` from an int (square, C from the model's first conv, else 3) or ``(C, H, W)``."""
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


# --------------------------------------------------------------------------------------------
# count_flops: four counters side by side
# --------------------------------------------------------------------------------------------

_NOTES = {
    "analytic": "conv + linear multiply-accumulates from the config alone; biases, BN, activations, "
                "pooling, add/mul/concat not counted",
    "fvcore": "1 per multiply-accumulate (MACs) from a TorchScript trace; counts BatchNorm (2/element with "
              "affine in eval) and adaptive avg-pool (1/input element) and upsample on top of conv+linear; "
              "hard-sigmoid, sigmoid, elementwise add/mul are unsupported -> 0 (listed in unsupported_ops)",
    "thop": "MACs from nn.Module forward hooks; counts BatchNorm (2/element, x2 with affine), pooling and "
            "upsample on top of conv+linear (ReLU = 0); functional ops (F.avg_pool2d, hard-sigmoid, "
            "x * gate, residual add) are invisible",
    "flop_counter_mode": "FLOPs = 2 x MACs of conv and matmul/addmm only (torch.utils.flop_counter); "
                         "nothing else counted",
}


@dataclass
class CounterResult:
    """One counter's result.

    Attributes:
        counter: ``analytic``, ``fvcore``, ``thop`` or ``flop_counter_mode``.
        unit: ``"MACs"`` or ``"FLOPs"`` (``FLOPs = 2 * MACs``).
        total: The counter's own total, in ``unit`` (None if it failed).
        conv_linear_macs: The conv + linear part of it, converted to MACs (comparable across counters).
        breakdown: The counter's total per layer/operator type, in ``unit``.
        notes: What it counts beyond (or skips of) conv + linear.
        unsupported_ops: Operators it could not count (fvcore ``unsupported_ops()``), with call counts.
        messages: Warnings, log records and prints the counter emitted (captured, not shown).
        error: Why the counter failed, or None.
        seconds: Wall time the counter took.
    """

    counter: str
    unit: str
    total: Optional[int] = None
    conv_linear_macs: Optional[int] = None
    breakdown: dict = field(default_factory=dict)
    notes: str = ""
    unsupported_ops: dict = field(default_factory=dict)
    messages: list = field(default_factory=list)
    error: Optional[str] = None
    seconds: float = 0.0

    @property
    def macs(self) -> Optional[int]:
        """The total converted to MACs."""
        if self.total is None:
            return None
        return self.total // 2 if self.unit == "FLOPs" else self.total

    def to_dict(self) -> dict[str, Any]:
        return {"counter": self.counter, "unit": self.unit, "total": self.total, "macs": self.macs,
                "conv_linear_macs": self.conv_linear_macs, "breakdown": dict(self.breakdown),
                "notes": self.notes, "unsupported_ops": dict(self.unsupported_ops),
                "messages": list(self.messages), "error": self.error, "seconds": self.seconds}


@dataclass
class FlopReport:
    """Side-by-side counts of one model at one input size (batch 1)."""

    model: str
    input_size: tuple
    params: int
    results: list

    def result(self, counter: str) -> CounterResult:
        for r in self.results:
            if r.counter == counter:
                return r
        raise KeyError(counter)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "input_size": list(self.input_size), "batch": 1, "params": self.params,
                "counters": {r.counter: r.to_dict() for r in self.results}}

    def __str__(self) -> str:
        c, h, w = self.input_size
        lines = [f"{self.model} @ {c}x{h}x{w}, batch 1: {self.params:,} params",
                 f"{'counter':<18} {'unit':<5} {'total':>15} {'as MACs':>15} {'conv+linear MACs':>17} "
                 f"{'extra MACs':>12}"]
        for r in self.results:
            if r.error:
                lines.append(f"{r.counter:<18} {r.unit:<5} {'failed: ' + r.error}")
                continue
            extra = "" if r.conv_linear_macs is None else f"{r.macs - r.conv_linear_macs:+,}"
            cl = "" if r.conv_linear_macs is None else f"{r.conv_linear_macs:,}"
            lines.append(f"{r.counter:<18} {r.unit:<5} {r.total:>15,} {r.macs:>15,} {cl:>17} {extra:>12}")
        lines.append("breakdown (in each counter's unit):")
        for r in self.results:
            if r.breakdown:
                parts = ", ".join(f"{k} {v:,}" for k, v in sorted(r.breakdown.items(), key=lambda kv: -kv[1]))
                lines.append(f"  {r.counter}: {parts}")
        lines.append("notes:")
        for r in self.results:
            lines.append(f"  {r.counter}: {r.notes}")
            if r.unsupported_ops:
                ops = ", ".join(f"{k} x{v}" for k, v in sorted(r.unsupported_ops.items()))
                lines.append(f"    uncounted (unsupported) ops: {ops}")
            if r.messages:
                lines.append(f"    {len(r.messages)} warning/log message(s) captured")
        return "\n".join(lines)


class _ListHandler(logging.Handler):
    def __init__(self, sink: list) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(f"log {record.name}: {record.getMessage()}")


@contextlib.contextmanager
def _captured(messages: list):
    """Capture prints, warnings and log records (root, fvcore, torch) into ``messages``."""
    out, err = io.StringIO(), io.StringIO()
    handler = _ListHandler(messages)
    loggers = [logging.getLogger(n) for n in ("", "fvcore", "torch", "thop")]
    saved = [(lg, lg.handlers[:], lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.handlers = [handler]
        lg.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught, \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("always")
            yield
    finally:
        for lg, handlers, propagate in saved:
            lg.handlers = handlers
            lg.propagate = propagate
        seen = set()
        for w in caught:
            text = f"{w.category.__name__}: {str(w.message).strip()}"
            if text not in seen:  # tracer warnings repeat once per call site
                seen.add(text)
                messages.append(text)
        for stream, name in ((out, "stdout"), (err, "stderr")):
            for line in stream.getvalue().splitlines():
                if line.strip():
                    messages.append(f"{name}: {line.strip()}")


def _is_conv_linear_module(m: Any) -> bool:
    import torch.nn as nn
    return isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))


def _run_counter(name: str, unit: str, fn: Any) -> CounterResult:
    import time
    res = CounterResult(counter=name, unit=unit, notes=_NOTES[name])
    t0 = time.perf_counter()
    try:
        with _captured(res.messages):
            fn(res)
    except Exception as e:  # noqa: BLE001 - a failing third-party counter is reported, not raised
        res.error = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
        res.total = None
    res.seconds = time.perf_counter() - t0
    return res


def count_flops(model: Any, input_size: Union[int, Sequence[int]], analytic_config: Any = None) -> FlopReport:
    """Count ``model`` at batch 1 with the analytic formula, fvcore, thop and FlopCounterMode.

    Args:
        model: The network (left unchanged: its train/eval mode is restored, thop runs on a deep copy).
        input_size: Square side (channels from the first conv) or ``(C, H, W)``.
        analytic_config: The model's ``GhostNetConfig`` / ``CifarNetConfig`` / ``ArchConfig``; adds
            the analytic row (counted at ``H``; needs ``H == W``).

    Returns:
        A :class:`FlopReport`: per counter the unit, total, its conv+linear part in MACs, a per-type
        breakdown, notes on what it counts extra or skips, unsupported ops and captured messages.
        Counter failures are reported in ``error``, not raised.
    """
    import torch

    shape = _input_shape(model, input_size)
    c, h, w = shape
    results: list[CounterResult] = []

    if analytic_config is not None:
        def _analytic(r: CounterResult) -> None:
            if h != w:
                raise ValueError(f"analytic counts need a square input, got {h}x{w}")
            counts = analytic_counts(analytic_config, h)
            r.total = r.conv_linear_macs = counts.macs
            r.breakdown = dict(counts.macs_by_type)
        results.append(_run_counter("analytic", "MACs", _analytic))

    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, c, h, w)

        def _fvcore(r: CounterResult) -> None:
            from fvcore.nn import FlopCountAnalysis
            fca = FlopCountAnalysis(model, x)
            fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
            r.total = int(fca.total())
            r.breakdown = {k: int(v) for k, v in fca.by_operator().items()}
            r.unsupported_ops = {k: int(v) for k, v in fca.unsupported_ops().items()}
            r.conv_linear_macs = sum(v for k, v in r.breakdown.items()
                                     if k in ("conv", "linear", "addmm", "matmul", "mm", "bmm", "einsum"))
        results.append(_run_counter("fvcore", "MACs", _fvcore))

        def _thop(r: CounterResult) -> None:
            import thop
            clone = copy.deepcopy(model)  # thop registers total_ops/total_params buffers
            types = {name: m for name, m in clone.named_modules()}
            total, _params, layers = thop.profile(clone, inputs=(x,), verbose=False, ret_layer_info=True)
            by_type: Counter = Counter()
            conv_linear = 0

            def walk(d: dict, prefix: str) -> None:
                nonlocal conv_linear
                for name, (ops, _p, sub) in d.items():
                    path = f"{prefix}.{name}" if prefix else name
                    if sub:
                        walk(sub, path)
                    elif ops:
                        m = types[path]
                        by_type[type(m).__name__] += int(ops)
                        if _is_conv_linear_module(m):
                            conv_linear += int(ops)
            walk(layers, "")
            r.total = int(total)
            r.breakdown = dict(by_type)
            r.conv_linear_macs = conv_linear
        results.append(_run_counter("thop", "MACs", _thop))

        def _fcm(r: CounterResult) -> None:
            from torch.utils.flop_counter import FlopCounterMode
            with FlopCounterMode(display=False) as counter, torch.inference_mode():
                model(x)
            r.total = int(counter.get_total_flops())
            glob = counter.get_flop_counts().get("Global", {})
            r.breakdown = {str(k): int(v) for k, v in glob.items()}
            r.conv_linear_macs = r.total // 2
        results.append(_run_counter("flop_counter_mode", "FLOPs", _fcm))
    finally:
        model.train(was_training)

    params = sum(p.numel() for p in model.parameters())
    return FlopReport(model=type(model).__name__, input_size=shape, params=params, results=results)


# --------------------------------------------------------------------------------------------
# Latency
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LatencyResult:
    """One latency measurement (seconds per forward pass of one batch).

    ``median`` and ``iqr`` are ``torch.utils.benchmark``'s; ``p90`` is the 90th percentile of the raw
    per-run times; ``noisy`` is ``iqr / median > 0.10`` (torch's own warning threshold).
    ``load_avg`` is the machine's 1-minute load average when the measurement started and
    ``omp_wait_policy`` the ``OMP_WAIT_POLICY`` environment variable: on a CPU shared with other
    jobs, OpenMP's default spin-waiting can make multi-threaded batch-1 inference 100x slower;
    ``OMP_WAIT_POLICY=PASSIVE`` (set before torch is imported) avoids it.
    """

    median: float
    iqr: float
    p90: float
    mean: float
    n_runs: int
    times: tuple
    batch: int
    input_size: tuple
    threads: int
    device: str
    channels_last: bool
    torch_version: str
    noisy: bool
    load_avg: Optional[float] = None
    omp_wait_policy: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {"median_ms": self.median * 1e3, "iqr_ms": self.iqr * 1e3, "p90_ms": self.p90 * 1e3,
                "mean_ms": self.mean * 1e3, "n_runs": self.n_runs, "batch": self.batch,
                "input_size": list(self.input_size), "threads": self.threads, "device": self.device,
                "channels_last": self.channels_last, "torch_version": self.torch_version, "noisy": self.noisy,
                "iqr_over_median": self.iqr / self.median if self.median else None,
                "load_avg_1min": self.load_avg, "omp_wait_policy": self.omp_wait_policy}

    def __str__(self) -> str:
        c, h, w = self.input_size
        flag = " NOISY" if self.noisy else ""
        return (f"{self.median * 1e3:.3f} ms median (IQR {self.iqr * 1e3:.3f} ms, p90 {self.p90 * 1e3:.3f} ms, "
                f"{self.n_runs} runs) batch {self.batch} x {c}x{h}x{w}, {self.device}, {self.threads} thread(s)"
                f"{', channels_last' if self.channels_last else ''}{flag}")


def _percentile(values: Sequence[float], q: float) -> float:
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _import_benchmark() -> Any:
    # Importing torch.utils.benchmark logs "No CUDA runtime is found" on CPU machines with a CUDA_HOME.
    lg = logging.getLogger("torch.utils.cpp_extension")
    old = lg.level
    lg.setLevel(logging.ERROR)
    try:
        from torch.utils import benchmark
    finally:
        lg.setLevel(old)
    return benchmark


def measure_latency(model: Any, input_size: Union[int, Sequence[int]], batch: int = 1, device: str = "cpu",
                    threads: int = 2, channels_last: bool = False, warmup: int = 10,
                    min_run_time: float = 1.0, adaptive: bool = False) -> LatencyResult:
    """Median latency of ``model(x)`` for one batch, with ``torch.utils.benchmark``.

    The model runs in eval mode under ``torch.inference_mode`` after ``warmup`` untimed calls;
    ``Timer(num_threads=threads)`` fixes the intra-op thread pool (restored afterwards) and
    synchronises CUDA. Do not call it from concurrently running trials: measure in a serialised step.

    Args:
        model: The network. Moved/converted copies are used for ``device != "cpu"`` or
            ``channels_last``; its train/eval mode is restored. A TorchScript module (e.g. from
            :func:`ghostnas.ghostnet.deploy_model`) is used as prepared: only the input is made
            channels_last.
        input_size: Square side or ``(C, H, W)``.
        batch: Batch size.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        threads: Intra-op CPU threads (``torch.utils.benchmark`` defaults to 1; we pass it explicitly).
        channels_last: Convert model and input to ``torch.channels_last``.
        warmup: Untimed forward passes first.
        min_run_time: Seconds of timing for ``blocked_autorange`` (minimum for ``adaptive_autorange``).
        adaptive: Use ``adaptive_autorange`` (samples until IQR/median < 0.1, up to 10x min_run_time).

    Raises:
        ValueError: bad threads/batch/warmup/min_run_time/input_size/device, or CUDA unavailable.
    """
    import torch

    benchmark = _import_benchmark()
    for name, value, low in (("threads", threads, 1), ("batch", batch, 1), ("warmup", warmup, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"measure_latency: {name} must be an integer >= {low}, got {value!r}")
    if not (isinstance(min_run_time, (int, float)) and min_run_time > 0):
        raise ValueError(f"measure_latency: min_run_time must be > 0 seconds, got {min_run_time!r}")
    if not isinstance(device, str) or not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
        raise ValueError(f"measure_latency: device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"measure_latency: device {device!r} requested but CUDA is not available")
        try:
            dev = torch.device(device)
        except RuntimeError as e:
            raise ValueError(f"measure_latency: bad device {device!r}: {e}") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"measure_latency: {device!r} but only {torch.cuda.device_count()} CUDA device(s)")
    shape = _input_shape(model, input_size)

    scripted = isinstance(model, torch.jit.ScriptModule)
    was_training = None if scripted else model.training
    net = model
    if (device != "cpu" or channels_last) and not scripted:
        net = copy.deepcopy(model).to(device)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
    elif scripted and device != "cpu":
        net = model.to(device)
    if not scripted:  # a (frozen) TorchScript module is used as prepared; only the input is converted
        net.eval()
    x = torch.randn(batch, *shape, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    prev_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        with torch.inference_mode():
            for _ in range(warmup):
                net(x)
            if device != "cpu":
                torch.cuda.synchronize(device)
            timer = benchmark.Timer(stmt="net(x)", globals={"net": net, "x": x}, num_threads=threads,
                                    label="measure_latency", description=type(model).__name__)
            if adaptive:
                m = timer.adaptive_autorange(threshold=0.1, min_run_time=min_run_time,
                                             max_run_time=10 * min_run_time)
            else:
                m = timer.blocked_autorange(min_run_time=min_run_time)
    finally:
        torch.set_num_threads(prev_threads)
        if was_training is not None:
            model.train(was_training)
    times = tuple(float(t) for t in m.times)
    try:
        load = float(os.getloadavg()[0])
    except OSError:  # pragma: no cover - not on every platform
        load = None
    median, iqr = float(m.median), float(m.iqr)
    return LatencyResult(median=median, iqr=iqr, p90=_percentile(times, 0.9), mean=float(m.mean),
                         n_runs=len(times), times=times, batch=batch, input_size=shape, threads=threads,
                         device=device, channels_last=bool(channels_last), torch_version=torch.__version__,
                         noisy=bool(median > 0 and iqr / median > 0.10), load_avg=load,
                         omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"))
