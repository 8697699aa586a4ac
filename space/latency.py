"""Latency: ``torch.utils.benchmark`` timing of one forward pass, and the deploy-path measurement.

* :func:`measure_latency` -- times ``model(x)`` as given, in eval/inference mode with an explicit
  thread count: median / IQR / p90 and a ``noisy`` flag.
* :func:`measure_deploy_latency` -- the one place that prepares a network for deployment (BN folded,
  channels_last, optionally frozen TorchScript) and then measures it; used by the search objective,
  the ablation report and ``ghostnas profile``.

Timing protocol: ``warmup`` untimed calls, then ``Timer.blocked_autorange`` (or
``adaptive_autorange``) with ``num_threads`` fixed; the intra-op thread pool is restored afterwards
and CUDA is synchronised. Do not measure from concurrently running trials.
"""
from __future__ import annotations

import copy
import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import torch
import torch.nn as nn

from ghostnas.ghostnet import (CifarNetConfig, GhostNetConfig, build_model, default_resolution, deploy_model,
                               fuse_for_inference)

from .config import ArchConfig, build_arch
from .counts import input_shape

__all__ = ["LatencyResult", "measure_latency", "measure_deploy_latency"]


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


def _time(net: nn.Module, x: torch.Tensor, threads: int, warmup: int, min_run_time: float,
          adaptive: bool, device: str, label: str) -> Any:
    """Warm up, then time ``net(x)`` on ``threads`` threads; returns the benchmark ``Measurement``."""
    benchmark = _import_benchmark()
    prev_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        with torch.inference_mode():
            for _ in range(warmup):
                net(x)
            if device != "cpu":
                torch.cuda.synchronize(device)
            timer = benchmark.Timer(stmt="net(x)", globals={"net": net, "x": x}, num_threads=threads,
                                    label="measure_latency", description=label)
            if adaptive:
                return timer.adaptive_autorange(threshold=0.1, min_run_time=min_run_time,
                                                max_run_time=10 * min_run_time)
            return timer.blocked_autorange(min_run_time=min_run_time)
    finally:
        torch.set_num_threads(prev_threads)


def _load_avg() -> Optional[float]:
    try:
        return float(os.getloadavg()[0])
    except OSError:  # pragma: no cover - not on every platform
        return None


def measure_latency(model: nn.Module, input_size: Union[int, Sequence[int]], batch: int = 1, device: str = "cpu",
                    threads: int = 2, channels_last: bool = False, warmup: int = 10,
                    min_run_time: float = 1.0, adaptive: bool = False) -> LatencyResult:
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

    Returns:
        A :class:`LatencyResult` (seconds per batch).

    Raises:
        ValueError: bad threads/batch/warmup/min_run_time/input_size/device, or CUDA unavailable.
    """
    _check_args(threads, batch, warmup, min_run_time, device)
    shape = input_shape(model, input_size)
    was_training = None if isinstance(model, torch.jit.ScriptModule) else model.training
    try:
        net = _prepare(model, device, channels_last)
        x = torch.randn(batch, *shape, device=device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        m = _time(net, x, threads, warmup, min_run_time, adaptive, device, type(model).__name__)
    finally:
        if was_training is not None:
            model.train(was_training)
    times = tuple(float(t) for t in m.times)
    median, iqr = float(m.median), float(m.iqr)
    return LatencyResult(median=median, iqr=iqr, p90=_percentile(times, 0.9), mean=float(m.mean),
                         n_runs=len(times), times=times, batch=batch, input_size=shape, threads=threads,
                         device=device, channels_last=bool(channels_last), torch_version=torch.__version__,
                         noisy=bool(median > 0 and iqr / median > 0.10), load_avg=_load_avg(),
                         omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"))


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
                           script: bool = False, warmup: int = 10, min_run_time: float = 1.0) -> LatencyResult:
    """Latency of the deploy form of a network: every BatchNorm folded into its conv, then timed.

    The one home of "fold BN for deploy, then measure" (search objective, ablation report,
    ``ghostnas profile --fused/--deploy``).

    Args:
        model_or_arch: An ``nn.Module`` (left untouched), a search-space :class:`ArchConfig` or a
            ``GhostNetConfig`` / ``CifarNetConfig`` (built here, untrained weights).
        input_size: Square side or ``(C, H, W)``; None: the ArchConfig's resolution, else
            :func:`ghostnas.ghostnet.default_resolution` (32 CIFAR, 224 GhostNet).
        batch: Batch size.
        threads: Intra-op CPU threads.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        channels_last: Weights and input in ``torch.channels_last``.
        script: Also compile to frozen TorchScript (:func:`ghostnas.ghostnet.deploy_model`; networks
            that cannot be scripted are traced at ``input_size``).
        warmup: Untimed forward passes first.
        min_run_time: Seconds of timing.

    Returns:
        A :class:`LatencyResult`.

    Raises:
        ValueError: as :func:`measure_latency`, or an unsupported ``model_or_arch``.
    """
    model, size = _model_and_size(model_or_arch, input_size)
    if script:
        net = deploy_model(model, input_size=input_shape(model, size), channels_last=channels_last)
    else:
        net = fuse_for_inference(model)
    return measure_latency(net, size, batch=batch, device=device, threads=threads, channels_last=channels_last,
                           warmup=warmup, min_run_time=min_run_time)
