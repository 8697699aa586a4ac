"""Per-layer latency predictor: a lookup table of measured layers, summed, plus a fitted correction.

A network is cut into *layers*: every piece of its forward pass, each with a hashable signature
:class:`LayerSig` (kind, input shapes, parameters):

* ``conv`` -- a BN-folded convolution with its activation: the GhostNet stem, a Ghost module's primary
  conv and its cheap depthwise op (kernel ``d``), the strided depthwise conv, the projection
  shortcut's two convs, the final 1x1 ``ConvBnAct``, the CIFAR nets' plain convs;
* ``ghost_cat`` -- a Ghost module's concatenation of intrinsic and ghost maps, sliced to ``oup``;
* ``dfc_attn`` -- GhostNetV2's DFC attention branch and its multiply;
* ``se`` -- squeeze-and-excite (pool, two 1x1 convs, hard-sigmoid gate, multiply);
* ``add`` -- the Ghost bottleneck's residual add;
* ``gnet_head`` -- global pool, ``conv_head`` + ReLU, classifier;
* ``maxpool``, ``res_tail`` (ResNet option-A shortcut + add + ReLU), ``cifar_head`` (pool + linear layers)
  for the CIFAR VGG/ResNet spaces.

:func:`config_signatures` enumerates them from a config without building anything (microseconds);
:func:`trace_signatures` collects them from a built ``nn.Module`` with forward pre-hooks (any network
of the GhostNet family; tests check both agree). Each distinct signature is built as a tiny standalone
module (:func:`build_layer`) and timed once per backend with the shared protocol
(:func:`ghostnas.space.latency.measure_runner`; onnxruntime/openvino time the tiny module's own ONNX
export). Measurements live in a :class:`LatencyTable` cached as JSON under
``$GHOSTNAS_CACHE/latency/`` (default ``~/.cache/ghostnas/latency/``), one file per backend, backend
version, thread count, precision, clock and CPU model (``/proc/cpuinfo``).

A prediction is ``a * sum(layer ms) + b * n_layers + d * io_melems + c`` (``io_melems``: millions
of input elements the layers read), least squares on relative error over a few fully measured
networks of the same space (else of the same family, ``ghostnet`` / ``cifar``): the *linear* model.
With fewer than :data:`MIN_LINEAR_POINTS` calibration networks it is the plain sum plus a fitted
constant; with none the plain sum. ``b`` absorbs the per-call overhead that every standalone layer
measurement pays and the network pays once, ``d`` the layout reorders / copies a standalone layer
pays at its inputs and outputs (onnxruntime's NCHWc and OpenVINO's blocked layouts), ``a`` the
cache and fusion effects that scale with the work. :func:`build_table` samples a space, measures the layers of the samples and
calibrates; ``ghostnas latency build-table`` / ``predict`` are its command line.
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from ghostnas.ghostnet import GhostNetConfig

from .config import ArchConfig
from .latency_table import (MIN_LINEAR_POINTS, CalibrationFit, LatencyTable, cache_dir, cpu_model,
                            fit_calibration, measure_layers, network_features, table_key)
from .layer_modules import build_layer
from .layers import NOOP, LayerSig, config_signatures, resolve_target, trace_signatures

__all__ = ["LayerSig", "LatencyTable", "LatencyPredictor", "Prediction", "CalibrationFit", "config_signatures",
           "trace_signatures", "build_layer", "layer_signatures", "build_table", "predict_latency", "cache_dir",
           "cpu_model", "table_key", "measure_layers", "fit_calibration", "network_features", "MIN_LINEAR_POINTS"]

#: Alias of :func:`config_signatures`.
layer_signatures = config_signatures


@dataclass(frozen=True)
class Prediction:
    """A predicted latency and how it was made.

    Attributes:
        ms: Predicted latency (ms per batch-1 forward pass).
        sum_ms: Plain sum of the layer latencies.
        n_layers: Layers summed.
        io_melems: Millions of input elements the layers read (a calibration feature).
        family: ``"ghostnet"`` or ``"cifar"``.
        calibration: The :class:`CalibrationFit` applied.
        measured_now: Layers that were not in the table and were measured for this prediction.
        key: The table's key (backend, version, threads, precision, clock, cpu).
    """

    ms: float
    sum_ms: float
    n_layers: int
    io_melems: float
    family: str
    calibration: CalibrationFit
    measured_now: int
    key: dict

    @property
    def features(self) -> dict[str, float]:
        return {"sum_ms": self.sum_ms, "n_layers": float(self.n_layers), "io_melems": self.io_melems}

    def to_dict(self) -> dict[str, Any]:
        return {"predicted_ms": self.ms, "sum_ms": self.sum_ms, "n_layers": self.n_layers,
                "io_melems": self.io_melems, "family": self.family, "calibration": self.calibration.to_dict(),
                "measured_now": self.measured_now, **self.key}

    def __str__(self) -> str:
        k = self.key
        return (f"{self.ms:.3f} ms predicted ({k['backend']} {k['version']}, {k['threads']} thread(s), "
                f"{k['precision']}, {k['clock']} clock; sum of {self.n_layers} layers {self.sum_ms:.3f} ms, "
                f"{self.calibration.model} calibration on {self.calibration.n} network(s)"
                f"{f', {self.measured_now} layer(s) measured now' if self.measured_now else ''})")


class LatencyPredictor:
    """Predicts latencies from a :class:`LatencyTable`; layers missing from it are measured on demand
    (``missing="measure"``, then saved) or rejected (``missing="error"``).

    Args:
        table: The layer table.
        missing: ``"measure"`` or ``"error"``.
        space: Prefer the calibration fitted on this space's networks (see :meth:`LatencyTable.calibration`).
    """

    def __init__(self, table: LatencyTable, missing: str = "measure", space: Optional[str] = None) -> None:
        if missing not in ("measure", "error"):
            raise ValueError(f"missing must be 'measure' or 'error', got {missing!r}")
        self.table = table
        self.missing = missing
        self.space = space
        self._fits: dict[str, CalibrationFit] = {}

    def fit(self, family: str) -> CalibrationFit:
        if family not in self._fits:
            self._fits[family] = self.table.calibration(family, self.space)
        return self._fits[family]

    def features(self, target: Any, input_size: Union[int, Sequence[int], None] = None
                 ) -> tuple[str, dict[str, float], int]:
        """``(family, calibration features, layers measured now)`` of a network."""
        cfg, shape = resolve_target(target, input_size)
        sigs = config_signatures(cfg, shape)
        entries = self.table.entries
        measured = 0
        if NOOP.key not in entries or any(s.key not in entries for s in sigs):
            if self.missing == "error":
                miss = self.table.missing(sigs)
                raise ValueError(f"latency table lacks {len(miss)} layer(s), e.g. {miss[0].key}; "
                                 "run `ghostnas latency build-table` for this space and backend")
            measured = measure_layers(sigs, [self.table])
            self.table.save()
        family = "ghostnet" if isinstance(cfg, GhostNetConfig) else "cifar"
        return family, network_features(sigs, self.table.layer_ms), measured

    def predict(self, target: Any, input_size: Union[int, Sequence[int], None] = None) -> Prediction:
        """Predicted latency of a config / ArchConfig / registry name / JSON path."""
        family, feats, measured = self.features(target, input_size)
        fit = self.fit(family)
        return Prediction(fit.apply(feats), feats["sum_ms"], int(feats["n_layers"]), feats["io_melems"], family,
                          fit, measured, self.table.key)

    def add_point(self, target: Any, measured_ms: float, space: str = "", input_size: Any = None) -> dict:
        """Record a fully measured network as a calibration point of its family (refits lazily)."""
        cfg, shape = resolve_target(target, input_size)
        family, feats, _ = self.features(cfg, shape)
        arch = hashlib.sha256(json.dumps([cfg.to_dict(), list(shape)], sort_keys=True, default=str)
                              .encode()).hexdigest()[:12]
        point = {"arch": arch, "space": space, **feats, "measured_ms": float(measured_ms)}
        pts = self.table.points.setdefault(family, [])
        pts[:] = [p for p in pts if not (p["arch"] == arch and p.get("space") == space)] + [point]
        self._fits.clear()
        return point


def _space_samples(space: Any, samples: int, seed: int, resolution: Optional[int]) -> list[ArchConfig]:
    rng = random.Random(seed)
    archs = [space.default()] + [space.sample(rng) for _ in range(max(0, samples - 1))]
    if resolution is not None:
        archs = [ArchConfig(a.model, resolution) for a in archs]
    return archs


def build_table(space: Any, backend: str, samples: int = 20, *, threads: int = 1, precision: str = "f32",
                clock: str = "wall", calibrate: int = 8, resolution: Optional[int] = None, seed: int = 0,
                directory: Union[str, Path, None] = None, warmup: int = 5, min_run_time: float = 0.05,
                network_min_run_time: float = 0.5, progress: Optional[Callable[[str], None]] = None,
                name: Optional[str] = None) -> tuple[LatencyTable, dict[str, Any]]:
    """Measure the layers of ``samples`` architectures of ``space`` (its default point first), then
    fully measure ``calibrate`` of them to fit the per-family correction; save the table.

    Args:
        space: A :class:`~ghostnas.space.SearchSpace` or a shipped space name / TOML path.
        backend: ``"torch"``, ``"onnxruntime"`` or ``"openvino"``.
        samples: Architectures sampled (their distinct layers are measured).
        threads, precision, clock: The setup (part of the cache key).
        calibrate: How many of the samples are measured whole for the calibration (0: none).
        resolution: Override the samples' resolution (e.g. 224 for the ``ghostnet`` space).
        seed: Sampling seed.
        directory: Cache folder (default :func:`cache_dir`).
        warmup, min_run_time: Protocol for each layer measurement.
        network_min_run_time: Seconds of timing per calibration network.
        progress: Called with one-line status messages.
        name: The name the space's calibration is recorded under (default: the space's name).

    Returns:
        ``(table, stats)``: stats has the layer count, measurements made and seconds spent.
    """
    from .latency import measure_deploy_latency
    from .space import SearchSpace, load_space

    if not isinstance(space, SearchSpace):
        space = load_space(space)
    for arg, v, low in (("samples", samples, 1), ("calibrate", calibrate, 0), ("threads", threads, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ValueError(f"{arg} must be an integer >= {low}, got {v!r}")
    name = name or space.name
    table = LatencyTable.load(backend, threads, precision, clock, directory)
    table.timing = {"warmup": warmup, "min_run_time": min_run_time}
    t0 = time.perf_counter()
    archs = _space_samples(space, samples, seed, resolution)
    sigs = [s for a in archs for s in config_signatures(a)]
    distinct = len({s.key for s in sigs})
    say = progress or (lambda _msg: None)
    say(f"{name}: {len(archs)} architectures, {distinct} distinct layers, "
        f"{len(table.missing(sigs))} to measure on {backend}")
    made = measure_layers(sigs, [table], lambda i, n: say(f"  layers {i}/{n}") if i % 100 == 0 or i == n else None)
    t_layers = time.perf_counter() - t0
    table.save()
    predictor = LatencyPredictor(table, space=name)
    for i, arch in enumerate(archs[:calibrate]):
        r = measure_deploy_latency(arch, backend=backend, threads=threads, precision=precision, clock=clock,
                                   warmup=warmup, min_run_time=network_min_run_time)
        predictor.add_point(arch, r.median * 1e3, space=name)
        say(f"  calibration network {i + 1}/{min(calibrate, len(archs))}: {r.median * 1e3:.3f} ms")
    seconds = time.perf_counter() - t0
    family = "ghostnet" if space.family == "ghostnet" else "cifar"
    stats = {"space": name, "backend": backend, "samples": len(archs), "distinct_layers": distinct,
             "measured_layers": made, "calibration_networks": min(calibrate, len(archs)),
             "layer_seconds": round(t_layers, 2), "seconds": round(seconds, 2),
             "calibration": table.calibration(family, name).to_dict()}
    table.spaces[name] = {k: stats[k] for k in ("samples", "distinct_layers", "calibration_networks",
                                                      "seconds")}
    table.save()
    return table, stats


def predict_latency(target: Any, backend: str = "torch", *, threads: int = 1, precision: str = "f32",
                    clock: str = "wall", input_size: Any = None, missing: str = "measure", space: Optional[str] = None,
                    directory: Union[str, Path, None] = None) -> Prediction:
    """Predicted latency of one network from the cached table of this setup (see :class:`LatencyPredictor`)."""
    table = LatencyTable.load(backend, threads, precision, clock, directory)
    return LatencyPredictor(table, missing, space).predict(target, input_size)
