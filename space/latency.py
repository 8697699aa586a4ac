"""Latency: ``torch.utils.benchmark`` timing of one forward pass, and the deploy-path measurement.

* :func:`measure_latency` -- times ``model(x)`` as given, in eval/inference mode with an explicit
  thread count: median / IQR / p90 and a ``noisy`` flag.
* :func:`measure_deploy_latency` -- the one place that prepares a network for deployment (BN folded,
  channels_last, optionally frozen TorchScript) and then measures it; used by the search objective,
  the ablation report and ``ghostnas profile``.

* :func:`time_runner` / :func:`measure_runner` -- the timing protocol itself, for any zero-argument
  ``run()`` callable: the ONNX Runtime and OpenVINO backends (:mod:`.backends`) and the per-layer
  latency predictor (:mod:`.latency_predictor`) time their runs with it, so every backend shares one
  protocol.

Timing protocol: ``warmup`` untimed calls, then blocked timing (blocks of equal call counts until
``min_run_time`` seconds, median and IQR over the blocks, as ``Timer.blocked_autorange``; or
``Timer.adaptive_autorange``) with ``num_threads`` fixed; the intra-op thread pool is restored afterwards
and CUDA is synchronised. Do not measure from concurrently running trials. ``clock="wall"`` (the
default) times wall-clock latency; ``clock="cpu"`` times the process's CPU time instead (one thread
only): on a CPU shared with other jobs it excludes the time the process waited to be scheduled, which
otherwise dominates the spread.
"""
from __future__ import annotations

import copy
import logging
import math
import os
from dataclasses import dataclass, field
import time
import timeit
from typing import Any, Callable, Optional, Sequence, Union

import torch
import torch.nn as nn

from ghostnas.ghostnet import (CifarNetConfig, GhostNetConfig, build_model, default_resolution, deploy_model,
                               fuse_for_inference)

from .config import ArchConfig, build_arch
from .counts import input_shape

__all__ = ["LatencyResult", "Runner", "CLOCKS", "measure_latency", "measure_deploy_latency", "measure_runner",
           "time_runner"]

#: Timer clocks: wall-clock latency, or the process's CPU time (one thread only).
CLOCKS = {"wall": timeit.default_timer, "cpu": time.process_time}


@dataclass(frozen=True)
class LatencyResult:
    """One latency measurement (seconds per forward pass of one batch).

    ``median`` and ``iqr`` are ``torch.utils.benchmark``'s; ``p90`` is the 90th percentile of the raw
    per-run times; ``noisy`` is ``iqr / median > 0.10`` (torch's own warning threshold).
    ``load_avg`` is the machine's 1-minute load average when the measurement started and
    ``omp_wait_policy`` the ``OMP_WAIT_POLICY`` environment variable: on a CPU shared with other
    jobs, OpenMP's default spin-waiting can make multi-threaded batch-1 inference 100x slower;
    ``OMP_WAIT_POLICY=PASSIVE`` (set before torch is imported) avoids it. ``backend`` /
    ``backend_version`` / ``precision`` name the runtime that ran the network (``"torch"``, or see
    :mod:`.backends`) and ``clock`` the timer (``"wall"`` or ``"cpu"``, see the module docs).
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
    backend: str = "torch"
    backend_version: Optional[str] = None
    precision: str = "f32"
    clock: str = "wall"

    def to_dict(self) -> dict[str, Any]:
        return {"median_ms": self.median * 1e3, "iqr_ms": self.iqr * 1e3, "p90_ms": self.p90 * 1e3,
                "mean_ms": self.mean * 1e3, "n_runs": self.n_runs, "batch": self.batch,
                "input_size": list(self.input_size), "threads": self.threads, "device": self.device,
                "channels_last": self.channels_last, "torch_version": self.torch_version, "noisy": self.noisy,
                "iqr_over_median": self.iqr / self.median if self.median else None,
                "load_avg_1min": self.load_avg, "omp_wait_policy": self.omp_wait_policy,
                "backend": self.backend, "backend_version": self.backend_version or self.torch_version,
                "precision": self.precision, "clock": self.clock}

    def __str__(self) -> str:
        c, h, w = self.input_size
        flag = " NOISY" if self.noisy else ""
        return (f"{self.median * 1e3:.3f} ms median (IQR {self.iqr * 1e3:.3f} ms, p90 {self.p90 * 1e3:.3f} ms, "
                f"{self.n_runs} runs) batch {self.batch} x {c}x{h}x{w}, {self.device}, {self.threads} thread(s)"
                f"{', channels_last' if self.channels_last else ''}, {self.backend} "
                f"{self.backend_version or self.torch_version} {self.precision}"
                f"{', CPU-time clock' if self.clock == 'cpu' else ''}{flag}")


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


def _check_args(threads: int, batch: int, warmup: int, min_run_time: float, device: str) -> None:
    """Raise ValueError for a bad timing argument or an unusable device."""
    for name, value, low in (("threads", threads, 1), ("batch", batch, 1), ("warmup", warmup, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"measure_latency: {name} must be an integer >= {low}, got {value!r}")
    if not (isinstance(min_run_time, (int, float)) and min_run_time > 0):
        raise ValueError(f"measure_latency: min_run_time must be > 0 seconds, got {min_run_time!r}")
    if not isinstance(device, str) or not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
        raise ValueError(f"measure_latency: device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise ValueError(f"measure_latency: device {device!r} requested but CUDA is not available")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"measure_latency: bad device {device!r}: {e}") from None
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"measure_latency: {device!r} but only {torch.cuda.device_count()} CUDA device(s)")


def _prepare(model: nn.Module, device: str, channels_last: bool) -> nn.Module:
    """The module to time: ``model`` itself, or a moved/channels_last copy; eager ones in eval mode.

    A TorchScript module (e.g. from :func:`ghostnas.ghostnet.deploy_model`) is used as prepared:
    only moved to ``device``.
    """
    if isinstance(model, torch.jit.ScriptModule):
        return model.to(device) if device != "cpu" else model
    net = model
    if device != "cpu" or channels_last:
        net = copy.deepcopy(model).to(device)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
    return net.eval()


def _check_clock(clock: str, threads: int) -> None:
    if clock not in CLOCKS:
        raise ValueError(f"measure_latency: clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    if clock == "cpu" and threads != 1:
        raise ValueError(f"measure_latency: clock 'cpu' (process CPU time) measures latency only with "
                         f"threads=1, got threads={threads}")


def time_runner(run: Callable[[], Any], threads: int, warmup: int = 10, min_run_time: float = 1.0,
                adaptive: bool = False, device: str = "cpu", label: str = "", clock: str = "wall") -> Any:
    """The timing protocol: ``warmup`` untimed ``run()`` calls, then blocked timing of ``run()`` (blocks
    of equal call counts until ``min_run_time``, like ``Timer.blocked_autorange``; see :func:`_blocked`)
    or ``Timer.adaptive_autorange`` on ``threads`` torch threads, under ``torch.inference_mode``;
    torch's thread count is restored and CUDA synchronised.

    Args:
        run: A zero-argument callable doing one forward pass (a backend's prepared inference).
        threads: torch intra-op threads while timing (runtimes such as ONNX Runtime pin their own).
        warmup: Untimed calls first.
        min_run_time: Seconds of timing.
        adaptive: ``adaptive_autorange`` (until IQR/median < 0.1, at most 10x ``min_run_time``).
        device: ``"cpu"`` or a CUDA device (synchronised after the warm-up).
        label: Description recorded in the ``Measurement``.
        clock: ``"wall"`` or ``"cpu"`` (process CPU time; threads must be 1).

    Returns:
        The ``torch.utils.benchmark`` ``Measurement`` (seconds per call).
    """
    _check_clock(clock, threads)
    benchmark = _import_benchmark()
    prev_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        with torch.inference_mode():
            for _ in range(warmup):
                run()
            if device != "cpu":
                torch.cuda.synchronize(device)
            if adaptive:
                timer = benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=threads,
                                        timer=CLOCKS[clock], label="measure_latency", description=label)
                return timer.adaptive_autorange(threshold=0.1, min_run_time=min_run_time,
                                                max_run_time=10 * min_run_time)
            return _blocked(run, CLOCKS[clock], min_run_time, device, benchmark, threads, label)
    finally:
        torch.set_num_threads(prev_threads)


def _blocked(run: Callable[[], Any], clock: Callable[[], float], min_run_time: float, device: str,
             benchmark: Any, threads: int, label: str) -> Any:
    """``Timer.blocked_autorange`` with a block size rule that suits every clock: blocks of
    ``number`` calls, ``number`` doubled until one block takes at least 1000x the clock's own
    overhead and 1/50 of ``min_run_time`` (torch's rule, 10^4x the overhead, makes CPU-time blocks
    ~10 ms long whatever the call); then blocks until ``min_run_time`` seconds (at least 3 blocks).
    Returns a ``torch.utils.benchmark`` ``Measurement``."""
    sync = (lambda: torch.cuda.synchronize(device)) if device != "cpu" else (lambda: None)
    t0 = clock()
    for _ in range(20):
        clock()
    overhead = max((clock() - t0) / 21, 1e-9)
    target = max(1000 * overhead, min_run_time / 50)
    number = 1
    while True:
        t0 = clock()
        for _ in range(number):
            run()
        sync()
        dt = clock() - t0
        if dt >= target or number >= 1 << 24:
            break
        number *= 2 if dt > target / 8 else 8
    times: list[float] = []
    total = 0.0
    while total < min_run_time or len(times) < 3:
        t0 = clock()
        for _ in range(number):
            run()
        sync()
        dt = clock() - t0
        times.append(dt)
        total += dt
    spec = benchmark.utils.common.TaskSpec(stmt="run()", setup="pass", label="measure_latency", description=label,
                                           num_threads=threads)
    return benchmark.utils.common.Measurement(number_per_run=number, raw_times=times, task_spec=spec)


def _load_avg() -> Optional[float]:
    try:
        return float(os.getloadavg()[0])
    except OSError:  # pragma: no cover - not on every platform
        return None


@dataclass
class Runner:
    """A network prepared for repeated inference by one backend: ``run()`` does one forward pass
    on fixed inputs. Made by :func:`ghostnas.space.backends.prepare_runner`; timed by
    :func:`measure_runner`.

    Attributes:
        run: Zero-argument callable: one forward pass.
        backend: ``"torch"``, ``"onnxruntime"`` or ``"openvino"``.
        version: The backend's version string.
        threads: Intra-op threads the backend was pinned to.
        precision: Inference precision it runs in (``"f32"`` or ``"bf16"``).
        batch: Batch size of the inputs.
        input_size: ``(C, H, W)`` of the (first) input.
        device: ``"cpu"`` or a CUDA device (torch only).
        channels_last: Whether inputs/weights are channels_last (torch only).
        infer: Callable mapping input arrays to output arrays (for checking outputs), or None.
        details: Backend-specific settings (JSON-ready), e.g. the requested precision.
    """

    run: Callable[[], Any]
    backend: str
    version: str
    threads: int
    precision: str = "f32"
    batch: int = 1
    input_size: tuple = ()
    device: str = "cpu"
    channels_last: bool = False
    infer: Optional[Callable[..., Any]] = None
    details: dict = field(default_factory=dict)


def measure_runner(runner: Runner, warmup: int = 10, min_run_time: float = 1.0, adaptive: bool = False,
                   clock: str = "wall", label: str = "") -> LatencyResult:
    """Time a prepared :class:`Runner` with the shared protocol (:func:`time_runner`).

    Args:
        runner: The prepared backend inference.
        warmup, min_run_time, adaptive, clock: As :func:`time_runner`.
        label: Description recorded in the measurement.

    Returns:
        A :class:`LatencyResult` naming the runner's backend, version, threads and precision.
    """
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise ValueError(f"measure_latency: warmup must be an integer >= 0, got {warmup!r}")
    if not (isinstance(min_run_time, (int, float)) and min_run_time > 0):
        raise ValueError(f"measure_latency: min_run_time must be > 0 seconds, got {min_run_time!r}")
    load = _load_avg()
    m = time_runner(runner.run, runner.threads, warmup, min_run_time, adaptive, runner.device,
                    label or runner.backend, clock)
    return _result(m, batch=runner.batch, shape=tuple(runner.input_size), threads=runner.threads,
                   device=runner.device, channels_last=runner.channels_last, backend=runner.backend,
                   version=runner.version, precision=runner.precision, clock=clock, load=load)


def _result(m: Any, *, batch: int, shape: tuple, threads: int, device: str, channels_last: bool, backend: str,
            version: str, precision: str, clock: str, load: Optional[float]) -> LatencyResult:
    times = tuple(float(t) for t in m.times)
    median, iqr = float(m.median), float(m.iqr)
    return LatencyResult(median=median, iqr=iqr, p90=_percentile(times, 0.9), mean=float(m.mean),
                         n_runs=len(times), times=times, batch=batch, input_size=shape, threads=threads,
                         device=device, channels_last=bool(channels_last), torch_version=torch.__version__,
                         noisy=bool(median > 0 and iqr / median > 0.10), load_avg=load,
                         omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"), backend=backend,
                         backend_version=version, precision=precision, clock=clock)


def measure_latency(model: nn.Module, input_size: Union[int, Sequence[int]], batch: int = 1, device: str = "cpu",
                    threads: int = 2, channels_last: bool = False, warmup: int = 10,
                    min_run_time: float = 1.0, adaptive: bool = False, clock: str = "wall") -> LatencyResult:
    """Median latency of ``model(x)`` for one batch, with ``torch.utils.benchmark``.

    The model runs in eval mode under ``torch.inference_mode`` after ``warmup`` untimed calls;
    ``Timer(num_threads=threads)`` fixes the intra-op thread pool (restored afterwards) and
    synchronises CUDA. Do not call it from concurrently running trials: measure in a serialised step.
    To measure the deploy path (BN folded first) use :func:`measure_deploy_latency`.

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
        clock: ``"wall"`` (latency) or ``"cpu"`` (process CPU time, one thread only; see module docs).

    Returns:
        A :class:`LatencyResult` (seconds per batch).

    Raises:
        ValueError: bad threads/batch/warmup/min_run_time/input_size/device/clock, or CUDA unavailable.
    """
    _check_args(threads, batch, warmup, min_run_time, device)
    _check_clock(clock, threads)
    shape = input_shape(model, input_size)
    was_training = None if isinstance(model, torch.jit.ScriptModule) else model.training
    load = _load_avg()
    try:
        net = _prepare(model, device, channels_last)
        x = torch.randn(batch, *shape, device=device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        m = time_runner(lambda: net(x), threads, warmup, min_run_time, adaptive, device, type(model).__name__, clock)
    finally:
        if was_training is not None:
            model.train(was_training)
    return _result(m, batch=batch, shape=shape, threads=threads, device=device, channels_last=channels_last,
                   backend="torch", version=torch.__version__, precision="f32", clock=clock, load=load)


def _model_and_size(model_or_arch: Any, input_size: Union[int, Sequence[int], None]) -> tuple[nn.Module, Any]:
    """The network to measure and its input size (defaulted from the arch or config)."""
    if isinstance(model_or_arch, ArchConfig):
        model: nn.Module = build_arch(model_or_arch).eval()
        default = model_or_arch.resolution
    elif isinstance(model_or_arch, (GhostNetConfig, CifarNetConfig)):
        model = build_model(model_or_arch).eval()
        default = default_resolution(model_or_arch)
    elif isinstance(model_or_arch, nn.Module):
        model = model_or_arch
        default = default_resolution(model_or_arch) if input_size is None else None
    else:
        raise ValueError(f"measure_deploy_latency: expected an nn.Module, ArchConfig or model config, "
                         f"got {type(model_or_arch).__name__}")
    return model, default if input_size is None else input_size


def measure_deploy_latency(model_or_arch: Any, input_size: Union[int, Sequence[int], None] = None, *,
                           batch: int = 1, threads: int = 1, device: str = "cpu", channels_last: bool = True,
                           script: bool = False, warmup: int = 10, min_run_time: float = 1.0,
                           backend: str = "torch", precision: str = "f32", clock: str = "wall") -> LatencyResult:
    """Latency of the deploy form of a network: every BatchNorm folded into its conv, then timed.

    The one home of "fold BN for deploy, then measure" (search objective, ablation report,
    ``ghostnas profile --fused/--deploy/--backend``).

    Args:
        model_or_arch: An ``nn.Module`` (left untouched), a search-space :class:`ArchConfig` or a
            ``GhostNetConfig`` / ``CifarNetConfig`` (built here, untrained weights).
        input_size: Square side or ``(C, H, W)``; None: the ArchConfig's resolution, else
            :func:`ghostnas.ghostnet.default_resolution` (32 CIFAR, 224 GhostNet).
        batch: Batch size.
        threads: Intra-op CPU threads.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (``"cpu"`` only for other backends than torch).
        channels_last: Weights and input in ``torch.channels_last`` (torch backend).
        script: Also compile to frozen TorchScript (:func:`ghostnas.ghostnet.deploy_model`; networks
            that cannot be scripted are traced at ``input_size``; torch backend).
        warmup: Untimed forward passes first.
        min_run_time: Seconds of timing.
        backend: ``"torch"`` (eager or TorchScript), ``"onnxruntime"`` or ``"openvino"`` (the
            BN-folded network exported to ONNX at a fixed input shape; :mod:`.backends`).
        precision: ``"f32"``, or ``"bf16"`` (OpenVINO only: its inference precision hint).
        clock: ``"wall"`` or ``"cpu"`` (see the module docs).

    Returns:
        A :class:`LatencyResult`.

    Raises:
        ValueError: as :func:`measure_latency`, an unsupported ``model_or_arch``, an unknown backend
            or one whose package is not installed (naming the extra to install).
    """
    model, size = _model_and_size(model_or_arch, input_size)
    if backend != "torch" or precision != "f32":
        from .backends import prepare_runner  # lazy: backends builds on this module

        _check_args(threads, batch, warmup, min_run_time, device)
        _check_clock(clock, threads)
        shape = input_shape(model, size)
        runner = prepare_runner(model, [(batch, *shape)], backend=backend, threads=threads, precision=precision,
                                device=device, channels_last=channels_last, script=script)
        return measure_runner(runner, warmup=warmup, min_run_time=min_run_time, clock=clock,
                              label=type(model).__name__)
    if script:
        net = deploy_model(model, input_size=input_shape(model, size), channels_last=channels_last)
    else:
        net = fuse_for_inference(model)
    return measure_latency(net, size, batch=batch, device=device, threads=threads, channels_last=channels_last,
                           warmup=warmup, min_run_time=min_run_time, clock=clock)
