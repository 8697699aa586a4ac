"""``count_flops``: one model counted four ways side by side -- the analytic formula, fvcore, thop
and ``torch.utils.flop_counter.FlopCounterMode`` -- each labelled MACs or FLOPs, with what each
counter counts beyond conv+linear and its warnings and unsupported ops captured as data.

Conventions as in :mod:`ghostnas.space.counts` (1 MAC = one multiply-accumulate; FLOPs = 2 x MACs).
"""
from __future__ import annotations

import contextlib
import copy
import io
import logging
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

import torch
import torch.nn as nn

from .counts import analytic_counts, input_shape

__all__ = ["CounterResult", "FlopReport", "count_flops"]

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
        """JSON-ready dict (with ``macs``)."""
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
        """The :class:`CounterResult` of ``counter`` (KeyError if it did not run)."""
        for r in self.results:
            if r.counter == counter:
                return r
        raise KeyError(counter)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, one entry per counter under ``counters``."""
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


def _run_counter(name: str, unit: str, fn: Callable[[CounterResult], None]) -> CounterResult:
    """Run one counter ``fn`` (which fills in the result), capturing its output and any failure."""
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


# --------------------------------------------------------------------------------------------
# The four counters: each fills in a CounterResult (total, breakdown, conv+linear part)
# --------------------------------------------------------------------------------------------

def _analytic_counter(config: Any, h: int, w: int) -> Callable[[CounterResult], None]:
    def count(r: CounterResult) -> None:
        if h != w:
            raise ValueError(f"analytic counts need a square input, got {h}x{w}")
        counts = analytic_counts(config, h)
        r.total = r.conv_linear_macs = counts.macs
        r.breakdown = dict(counts.macs_by_type)
    return count


def _fvcore_counter(model: nn.Module, x: torch.Tensor) -> Callable[[CounterResult], None]:
    def count(r: CounterResult) -> None:
        from fvcore.nn import FlopCountAnalysis
        fca = FlopCountAnalysis(model, x)
        fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        r.total = int(fca.total())
        r.breakdown = {k: int(v) for k, v in fca.by_operator().items()}
        r.unsupported_ops = {k: int(v) for k, v in fca.unsupported_ops().items()}
        r.conv_linear_macs = sum(v for k, v in r.breakdown.items()
                                 if k in ("conv", "linear", "addmm", "matmul", "mm", "bmm", "einsum"))
    return count


def _thop_layer_ops(layers: dict, modules: dict[str, nn.Module]) -> tuple[Counter, int]:
    """Walk thop's ``ret_layer_info`` tree: ops per leaf module type, and the conv+linear part."""
    by_type: Counter = Counter()
    conv_linear = 0

    def walk(d: dict, prefix: str) -> None:
        nonlocal conv_linear
        for name, (ops, _params, sub) in d.items():
            path = f"{prefix}.{name}" if prefix else name
            if sub:
                walk(sub, path)
            elif ops:
                m = modules[path]
                by_type[type(m).__name__] += int(ops)
                if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
                    conv_linear += int(ops)
    walk(layers, "")
    return by_type, conv_linear


def _thop_counter(model: nn.Module, x: torch.Tensor) -> Callable[[CounterResult], None]:
    def count(r: CounterResult) -> None:
        import thop
        clone = copy.deepcopy(model)  # thop registers total_ops/total_params buffers
        total, _params, layers = thop.profile(clone, inputs=(x,), verbose=False, ret_layer_info=True)
        by_type, conv_linear = _thop_layer_ops(layers, dict(clone.named_modules()))
        r.total = int(total)
        r.breakdown = dict(by_type)
        r.conv_linear_macs = conv_linear
    return count


def _flop_counter_mode_counter(model: nn.Module, x: torch.Tensor) -> Callable[[CounterResult], None]:
    def count(r: CounterResult) -> None:
        from torch.utils.flop_counter import FlopCounterMode
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model(x)
        r.total = int(counter.get_total_flops())
        glob = counter.get_flop_counts().get("Global", {})
        r.breakdown = {str(k): int(v) for k, v in glob.items()}
        r.conv_linear_macs = r.total // 2
    return count


def count_flops(model: nn.Module, input_size: Union[int, Sequence[int]], analytic_config: Any = None) -> FlopReport:
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
    shape = input_shape(model, input_size)
    c, h, w = shape
    results: list[CounterResult] = []
    if analytic_config is not None:
        results.append(_run_counter("analytic", "MACs", _analytic_counter(analytic_config, h, w)))
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, c, h, w)
        results.append(_run_counter("fvcore", "MACs", _fvcore_counter(model, x)))
        results.append(_run_counter("thop", "MACs", _thop_counter(model, x)))
        results.append(_run_counter("flop_counter_mode", "FLOPs", _flop_counter_mode_counter(model, x)))
    finally:
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return FlopReport(model=type(model).__name__, input_size=shape, params=params, results=results)
