"""Latency backends: the runtimes a network is deployed on, behind one timing protocol.

A backend turns a network into a :class:`~ghostnas.space.latency.Runner` whose ``run()`` does one
forward pass on fixed inputs; :func:`ghostnas.space.latency.measure_runner` times every backend with
the same protocol (warm-up, repeated runs, median + IQR, threads pinned, noise flag).

* ``torch`` -- the deploy path of :func:`ghostnas.space.measure_deploy_latency`: BN folded,
  channels_last, eager (or frozen TorchScript with ``script=True``).
* ``onnxruntime`` -- the BN-folded network exported to ONNX (:mod:`.onnx_export`, fixed input
  shape) in an ``InferenceSession`` on ``CPUExecutionProvider`` with ``ORT_ENABLE_ALL``,
  ``intra_op_num_threads = threads``, ``inter_op_num_threads = 1``, sequential execution. Its
  thread pool spin-waits unless ``OMP_WAIT_POLICY=PASSIVE`` is set (then spinning is switched off,
  as for OpenMP). Extra: ``pip install 'ghostnas[onnx]'``.
* ``openvino`` -- the same ONNX model compiled by OpenVINO's CPU plugin with
  ``PERFORMANCE_HINT=LATENCY``, ``INFERENCE_NUM_THREADS = threads`` and
  ``INFERENCE_PRECISION_HINT`` f32 (or bf16 with ``precision="bf16"``; OpenVINO's own default is
  bf16 on CPUs with AVX-512-BF16/AMX, which changes the numbers). The precision it actually runs in
  is read back from the compiled model. Extra: ``pip install 'ghostnas[openvino]'``.
"""
from __future__ import annotations

import importlib
import io
import os
from typing import Any, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from ghostnas.ghostnet import deploy_model, fuse_for_inference

from .latency import Runner, measure_runner
from .onnx_export import DEFAULT_OPSET, export_module_onnx

__all__ = ["BACKENDS", "PRECISIONS", "EXTRAS", "check_backend", "backend_available", "backend_version",
           "available_backends", "default_backend", "prepare_runner", "measure_runner"]

#: Every latency backend, in the order they are listed.
BACKENDS = ("torch", "onnxruntime", "openvino")
#: Inference precisions: f32 everywhere, bf16 on OpenVINO.
PRECISIONS = ("f32", "bf16")
#: The pyproject extra that installs each optional backend.
EXTRAS = {"onnxruntime": "onnx", "openvino": "openvino"}
_MODULES = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}


def _import(name: str) -> Any:
    try:
        return importlib.import_module(_MODULES[name])
    except ImportError:
        return None


def check_backend(name: Any, precision: str = "f32") -> str:
    """Validate a backend name (and precision) and that its package is importable.

    Args:
        name: ``"torch"``, ``"onnxruntime"`` or ``"openvino"``.
        precision: ``"f32"`` or ``"bf16"`` (bf16 only with openvino).

    Returns:
        ``name``.

    Raises:
        ValueError: one line: unknown name, unsupported precision, or the package is missing (naming
            the extra to install).
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown latency backend {name!r}; choose from {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision != "f32" and name != "openvino":
        raise ValueError(f"precision {precision!r} is supported by the openvino backend only; {name} runs f32")
    if name != "torch" and _import(name) is None:
        raise ValueError(f"latency backend {name!r} needs the {_MODULES[name]} package: "
                         f"pip install 'ghostnas[{EXTRAS[name]}]'")
    return name


def backend_available(name: str) -> bool:
    """Whether ``name`` is a backend whose package imports here."""
    return name in BACKENDS and (name == "torch" or _import(name) is not None)


def available_backends() -> list[str]:
    """The backends usable here, in :data:`BACKENDS` order."""
    return [b for b in BACKENDS if backend_available(b)]


def default_backend() -> str:
    """The latency backend of new study configs: ``onnxruntime`` when it is installed, else ``torch``."""
    return "onnxruntime" if backend_available("onnxruntime") else "torch"


def backend_version(name: str) -> str:
    """The installed version of a backend's package (ValueError if unknown or missing)."""
    check_backend(name)
    return str(_import(name).__version__)


def _inputs(shapes: Sequence[Sequence[int]], channels_last: bool = False) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(*s, generator=g) for s in shapes]
    if channels_last:
        xs = [x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in xs]
    return xs


def _torch_runner(model: nn.Module, shapes: list, threads: int, device: str, channels_last: bool,
                  script: bool, fold_bn: bool) -> Runner:
    if script:
        net = deploy_model(model, input_size=tuple(shapes[0][1:]), channels_last=channels_last)
    else:
        net = fuse_for_inference(model) if fold_bn else model.eval()
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
    net = net.to(device) if device != "cpu" else net
    xs = [x.to(device) for x in _inputs(shapes, channels_last)]

    def infer(*arrays: Any) -> list[np.ndarray]:
        ins = [torch.as_tensor(np.asarray(a)).to(device) for a in arrays]
        with torch.inference_mode():
            out = net(*ins)
        return [o.detach().cpu().numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]

    return Runner(run=lambda: net(*xs), backend="torch", version=torch.__version__, threads=threads,
                  precision="f32", batch=int(shapes[0][0]), input_size=tuple(shapes[0][1:]), device=device,
                  channels_last=channels_last, infer=infer,
                  details={"script": bool(script), "channels_last": bool(channels_last), "fold_bn": bool(fold_bn)})


def _ort_runner(onnx: bytes, shapes: list, threads: int) -> Runner:
    ort = _import("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    spinning = os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE"
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(onnx, so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feeds = {n: x.numpy() for n, x in zip(names, _inputs(shapes))}

    def infer(*arrays: Any) -> list[np.ndarray]:
        return list(sess.run(None, {n: np.ascontiguousarray(a, dtype=np.float32) for n, a in zip(names, arrays)}))

    return Runner(run=lambda: sess.run(None, feeds), backend="onnxruntime", version=ort.__version__,
                  threads=threads, precision="f32", batch=int(shapes[0][0]), input_size=tuple(shapes[0][1:]),
                  infer=infer, details={"provider": "CPUExecutionProvider", "graph_optimization": "ORT_ENABLE_ALL",
                                        "inter_op_threads": 1, "allow_spinning": spinning, "opset": DEFAULT_OPSET})


def _openvino_runner(onnx: bytes, shapes: list, threads: int, precision: str) -> Runner:
    ov = _import("openvino")
    core = ov.Core()
    model = core.read_model(io.BytesIO(onnx))
    compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
                                                 "INFERENCE_PRECISION_HINT": precision})
    actual = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    actual = {"<Type: 'float32'>": "f32", "f32": "f32", "float32": "f32", "<Type: 'bfloat16'>": "bf16",
              "bf16": "bf16", "bfloat16": "bf16"}.get(actual, actual)
    req = compiled.create_infer_request()
    for i, x in enumerate(_inputs(shapes)):
        req.set_input_tensor(i, ov.Tensor(np.ascontiguousarray(x.numpy())))

    def infer(*arrays: Any) -> list[np.ndarray]:
        r = compiled.create_infer_request()
        res = r.infer({i: np.ascontiguousarray(a, dtype=np.float32) for i, a in enumerate(arrays)})
        return [np.array(res[o]) for o in compiled.outputs]

    return Runner(run=req.infer, backend="openvino", version=ov.__version__.split("-")[0], threads=threads,
                  precision=actual, batch=int(shapes[0][0]), input_size=tuple(shapes[0][1:]), infer=infer,
                  details={"device": "CPU", "performance_hint": "LATENCY", "precision_requested": precision,
                           "precision": actual, "full_version": ov.__version__, "opset": DEFAULT_OPSET})


def prepare_runner(model: nn.Module, input_shapes: Sequence[Sequence[int]], *, backend: str = "torch",
                   threads: int = 1, precision: str = "f32", device: str = "cpu", channels_last: bool = True,
                   script: bool = False, fold_bn: bool = True, onnx: Optional[bytes] = None) -> Runner:
    """Prepare ``model`` for repeated batch inference on one backend.

    Args:
        model: The network (left untouched); BatchNorms are folded first (``fold_bn``).
        input_shapes: Full input shapes ``[(N, C, H, W), ...]`` (one per input; usually one).
        backend: ``"torch"``, ``"onnxruntime"`` or ``"openvino"``.
        threads: Intra-op threads the backend is pinned to.
        precision: ``"f32"``, or ``"bf16"`` (openvino).
        device: ``"cpu"``, or CUDA for the torch backend.
        channels_last, script: torch backend: channels_last weights/inputs; frozen TorchScript.
        fold_bn: Fold BatchNorms into convs (the deploy form).
        onnx: An already exported ONNX model of ``model`` at ``input_shapes`` (skips the export).

    Returns:
        A :class:`~ghostnas.space.latency.Runner`.

    Raises:
        ValueError: unknown backend / precision, missing package (naming the extra), bad threads,
            a non-CPU device for onnxruntime/openvino.
    """
    check_backend(backend, precision)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"measure_latency: threads must be an integer >= 1, got {threads!r}")
    shapes = [tuple(int(d) for d in s) for s in input_shapes]
    if not shapes:
        raise ValueError("prepare_runner: at least one input shape is needed")
    if backend == "torch":
        return _torch_runner(model, shapes, threads, device, channels_last, script, fold_bn)
    if device != "cpu":
        raise ValueError(f"latency backend {backend!r} runs on the CPU only, got device {device!r}")
    if onnx is None:
        was_training = model.training
        try:
            net = fuse_for_inference(model) if fold_bn else model.eval()
            onnx = export_module_onnx(net, shapes)
        finally:
            model.train(was_training)
    if backend == "onnxruntime":
        return _ort_runner(onnx, shapes, threads)
    return _openvino_runner(onnx, shapes, threads, precision)
