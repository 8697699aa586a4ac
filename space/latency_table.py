"""The latency table: measured layer latencies per backend setup, cached as JSON, and the calibration.

One file per backend, backend version, thread count, precision, clock and CPU model under
:func:`cache_dir` (``$GHOSTNAS_CACHE/latency``, default ``~/.cache/ghostnas/latency``); writes merge
under a file lock, so concurrent study workers keep each other's entries. :func:`fit_calibration`
fits the correction from layer sums to whole networks (see :mod:`.latency_predictor`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from .backends import backend_version, check_backend, prepare_runner
from .latency import CLOCKS, measure_runner
from .layer_modules import build_layer
from .layers import NOOP, LayerSig
from .onnx_export import export_module_onnx

__all__ = ["LatencyTable", "CalibrationFit", "fit_calibration", "network_features", "measure_layers", "cache_dir",
           "cpu_model", "table_key", "MIN_LINEAR_POINTS"]

#: Calibration networks needed before the linear model replaces sum + constant.
MIN_LINEAR_POINTS = 8
_FORMAT = 1


def cache_dir() -> Path:
    """``$GHOSTNAS_CACHE/latency`` (default ``~/.cache/ghostnas/latency``)."""
    return Path(os.environ.get("GHOSTNAS_CACHE") or Path.home() / ".cache" / "ghostnas").expanduser() / "latency"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else ``platform.processor()`` / machine)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def table_key(backend: str, threads: int = 1, precision: str = "f32", clock: str = "wall",
              version: Optional[str] = None, cpu: Optional[str] = None) -> dict[str, Any]:
    """What a table's measurements depend on: backend, its version, threads, precision, clock, CPU model."""
    return {"backend": backend, "version": version if version is not None else backend_version(backend),
            "threads": int(threads), "precision": precision, "clock": clock,
            "cpu": cpu if cpu is not None else cpu_model()}


def _key_file(key: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    safe = "".join(ch if ch.isalnum() or ch in ".-_" else "_" for ch in str(key["version"]))
    return f"{key['backend']}-{safe}-t{key['threads']}-{key['precision']}-{key['clock']}-{digest}.json"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "a+") as f:
        try:
            import fcntl
            fcntl.flock(f, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        yield


def _read(path: Path) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: unreadable latency table ({e})") from None


def _write_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# calibration


_FEATURES = ("sum_ms", "n_layers", "io_melems")


def network_features(sigs: Sequence[LayerSig], layer_ms: Callable[[LayerSig], float]) -> dict[str, float]:
    """The calibration features of a network: sum of its layers' ms, layer count, and the millions of
    input elements its layers read (standalone layer timings pay a layout reorder/copy per layer
    that the whole network does not)."""
    return {"sum_ms": float(sum(layer_ms(s) for s in sigs)), "n_layers": float(len(sigs)),
            "io_melems": float(sum(math.prod(x) for s in sigs for x in s.inputs)) / 1e6}


@dataclass(frozen=True)
class CalibrationFit:
    """``predicted = a * sum_ms + b * n_layers + d * io_melems + c`` for one family (or space).

    ``model`` is ``"linear"`` (a, b, d, c fitted), ``"sum+constant"`` (a = 1, b = d = 0, c fitted) or
    ``"sum"`` (no calibration networks: a = 1); ``n`` is the number of calibration networks and
    ``rmspe`` their in-sample fit error (%).
    """

    model: str = "sum"
    a: float = 1.0
    b: float = 0.0
    d: float = 0.0
    c: float = 0.0
    n: int = 0
    rmspe: Optional[float] = None

    def apply(self, features: dict[str, float]) -> float:
        return (self.a * features["sum_ms"] + self.b * features["n_layers"] + self.d * features["io_melems"]
                + self.c)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "a": self.a, "b": self.b, "d": self.d, "c": self.c, "n": self.n,
                "rmspe": self.rmspe}


def fit_calibration(points: Sequence[dict], model: str = "auto") -> CalibrationFit:
    """Least squares on relative error over calibration networks.

    Args:
        points: Dicts with ``sum_ms``, ``n_layers``, ``io_melems`` and ``measured_ms``.
        model: ``"linear"`` (``measured ~ a*sum + b*n_layers + d*io_melems + c``), ``"sum+constant"``
            (``measured ~ sum + c``), ``"sum"``, or ``"auto"``: linear from :data:`MIN_LINEAR_POINTS`
            points on, else sum + constant, else the plain sum.
    """
    pts = [p for p in points if p.get("measured_ms") and p["measured_ms"] > 0]
    if model == "auto":
        model = "linear" if len(pts) >= MIN_LINEAR_POINTS else "sum+constant" if pts else "sum"
    if model == "sum" or not pts:
        return CalibrationFit(n=len(pts))
    y = np.array([p["measured_ms"] for p in pts], dtype=float)
    X = np.array([[p[f] for f in _FEATURES] for p in pts], dtype=float)
    wgt = 1.0 / y
    if model == "linear":
        A = np.concatenate([X, np.ones((len(y), 1))], axis=1) * wgt[:, None]
        (a, b, d, c), *_ = np.linalg.lstsq(A, y * wgt, rcond=None)
    elif model == "sum+constant":
        a, b, d = 1.0, 0.0, 0.0
        c = float(np.sum((y - X[:, 0]) * wgt ** 2) / np.sum(wgt ** 2))
    else:
        raise ValueError(f"unknown calibration model {model!r}; choose from linear, sum+constant, sum, auto")
    fit = CalibrationFit(model, float(a), float(b), float(d), float(c), len(pts))
    pred = np.array([fit.apply(dict(zip(_FEATURES, row))) for row in X])
    rmspe = float(np.sqrt(np.mean(((pred - y) / y) ** 2)) * 100)
    return CalibrationFit(model, float(a), float(b), float(d), float(c), len(pts), rmspe)


# ---------------------------------------------------------------------------------------------
# the table


@dataclass
class LatencyTable:
    """Measured layer latencies for one backend setup (:func:`table_key`), cached on disk.

    Attributes:
        key: backend, version, threads, precision, clock, cpu.
        entries: Layer key -> ``{"ms", "iqr_ms", "n_runs", "noisy"}``.
        points: Family -> calibration networks ``{"arch", "space", "sum_ms", "n_layers", "io_melems",
            "measured_ms"}``.
        spaces: Space name -> what :func:`build_table` did for it (samples, seconds, layers).
        path: The cache file (None: in memory only).
        timing: Protocol of the layer measurements: ``warmup``, ``min_run_time``.
    """

    key: dict
    entries: dict = field(default_factory=dict)
    points: dict = field(default_factory=dict)
    spaces: dict = field(default_factory=dict)
    path: Optional[Path] = None
    timing: dict = field(default_factory=lambda: {"warmup": 5, "min_run_time": 0.05})
    calibration_model: str = "auto"

    @classmethod
    def load(cls, backend: str, threads: int = 1, precision: str = "f32", clock: str = "wall",
             directory: Union[str, Path, None] = None) -> "LatencyTable":
        """The cached table of this setup (empty if none yet; nothing is written until :meth:`save`)."""
        check_backend(backend, precision)
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
        key = table_key(backend, threads, precision, clock)
        path = Path(directory) / _key_file(key) if directory is not None else cache_dir() / _key_file(key)
        table = cls(key=key, path=path)
        data = _read(path)
        if data is not None:
            table._merge(data)
        return table

    def _merge(self, data: dict) -> None:
        if data.get("key") != self.key:
            raise ValueError(f"{self.path}: latency table key {data.get('key')} does not match {self.key}")
        for k, v in data.get("entries", {}).items():
            self.entries.setdefault(k, v)
        for fam, pts in data.get("points", {}).items():
            mine = self.points.setdefault(fam, [])
            seen = {(p["arch"], p.get("space")) for p in mine}
            mine.extend(p for p in pts if (p["arch"], p.get("space")) not in seen)
        for k, v in data.get("spaces", {}).items():
            self.spaces.setdefault(k, v)

    def to_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, "key": self.key, "timing": self.timing, "entries": self.entries,
                "points": self.points, "spaces": self.spaces,
                "calibration": {f: self.calibration(f).to_dict() for f in self.points},
                "calibration_by_space": {sp: self.calibration(f, sp).to_dict() for f, pts in self.points.items()
                                         for sp in sorted({p.get("space") for p in pts if p.get("space")})}}

    def save(self) -> Optional[Path]:
        """Merge into the cache file under a lock (concurrent workers keep each other's entries)."""
        if self.path is None:
            return None
        with _locked(self.path):
            data = _read(self.path)
            if data is not None:
                self._merge(data)
            _write_atomic(self.path, self.to_dict())
        return self.path

    def calibration(self, family: str, space: Optional[str] = None) -> CalibrationFit:
        """The fit over the calibration networks of ``space`` if it has at least
        :data:`MIN_LINEAR_POINTS` of them, else over all of ``family``'s."""
        pts = self.points.get(family, [])
        if space:
            mine = [p for p in pts if p.get("space") == space]
            if len(mine) >= MIN_LINEAR_POINTS or (mine and self.calibration_model != "auto"):
                pts = mine
        return fit_calibration(pts, self.calibration_model)

    def missing(self, sigs: Iterable[LayerSig]) -> list[LayerSig]:
        """Distinct signatures of ``sigs`` not in the table (the overhead probe included), in order."""
        out, seen = [], set(self.entries)
        for s in [NOOP, *sigs]:
            if s.key not in seen:
                seen.add(s.key)
                out.append(s)
        return out

    def layer_ms(self, sig: LayerSig) -> float:
        return float(self.entries[sig.key]["ms"])


def measure_layers(sigs: Sequence[LayerSig], tables: Sequence[LatencyTable],
                   progress: Optional[Callable[[int, int], None]] = None,
                   seconds: Optional[dict[str, float]] = None) -> int:
    """Measure every signature missing from each table (one ONNX export per layer, shared by the
    onnxruntime and openvino tables). Returns the number of measurements made.

    Args:
        sigs: The layers (repeats are measured once).
        tables: The tables to fill (each its own backend setup).
        progress: Called with ``(done, total)`` distinct layers.
        seconds: If given, accumulates wall seconds per backend (a shared export is charged to each
            backend that uses it, as a single-backend build would pay it).
    """
    todo: dict[str, LayerSig] = {}
    for t in tables:
        for s in t.missing(sigs):
            todo.setdefault(s.key, s)
    done = 0
    for i, sig in enumerate(todo.values()):
        module = build_layer(sig)
        shapes = [(1, *s) for s in sig.inputs]
        onnx, export_s = None, 0.0
        for t in tables:
            if sig.key in t.entries:
                continue
            backend = t.key["backend"]
            t0 = time.perf_counter()
            if backend != "torch" and onnx is None:
                onnx = export_module_onnx(module, shapes)
                export_s = time.perf_counter() - t0
                t0 = time.perf_counter()
            runner = prepare_runner(module, shapes, backend=backend, threads=t.key["threads"],
                                    precision=t.key["precision"], channels_last=True, fold_bn=False, onnx=onnx)
            r = measure_runner(runner, warmup=t.timing["warmup"], min_run_time=t.timing["min_run_time"],
                               clock=t.key["clock"], label=sig.kind)
            t.entries[sig.key] = {"ms": r.median * 1e3, "iqr_ms": r.iqr * 1e3, "n_runs": r.n_runs,
                                  "noisy": r.noisy}
            done += 1
            if seconds is not None:
                seconds[backend] = seconds.get(backend, 0.0) + time.perf_counter() - t0 + (
                    export_s if backend != "torch" else 0.0)
        if progress is not None:
            progress(i + 1, len(todo))
    return done
