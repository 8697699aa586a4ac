"""Latency backends: one timing protocol, pinned threads, stated precision, clear errors."""
import json
import time

import numpy as np
import pytest
import torch

from ghostnas.ghostnet import CifarNetConfig, build_model
from ghostnas.space import LatencyResult, load_space, measure_deploy_latency
from ghostnas.space import backends as bk
from ghostnas.space.latency import Runner, measure_runner, time_runner

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = CifarNetConfig.uniform("vgg16", 2, 3, width=0.0625)


def test_unknown_backend_precision_and_missing_package(monkeypatch):
    with pytest.raises(ValueError, match="unknown latency backend 'tensorrt'; choose from torch, onnxruntime, openvino"):
        bk.check_backend("tensorrt")
    with pytest.raises(ValueError, match="precision 'bf16' is supported by the openvino backend only"):
        bk.check_backend("torch", "bf16")
    with pytest.raises(ValueError, match="unknown precision"):
        bk.check_backend("openvino", "int8")
    monkeypatch.setattr(bk, "_import", lambda name: None)
    for name, extra in (("onnxruntime", "ghostnas[onnx]"), ("openvino", "ghostnas[openvino]")):
        with pytest.raises(ValueError, match=rf"needs the {name} package: pip install '{extra.replace('[', '.').replace(']', '.')}'"):
            bk.check_backend(name)
        assert not bk.backend_available(name)
    assert bk.available_backends() == ["torch"] and bk.default_backend() == "torch"
    with pytest.raises(ValueError, match=r"ghostnas\[onnx\]"):
        measure_deploy_latency(SMALL, backend="onnxruntime")


def test_default_backend_is_onnxruntime_when_installed():
    pytest.importorskip("onnxruntime")
    assert bk.default_backend() == "onnxruntime"
    assert bk.backend_version("onnxruntime") == __import__("onnxruntime").__version__


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "openvino"])
def test_runner_outputs_equal_pytorch(backend, rand_bn):
    if backend != "torch":
        pytest.importorskip(backend)
    model = rand_bn(build_model(SMALL), seed=3).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(x).numpy()
    runner = bk.prepare_runner(model, [(2, 3, 32, 32)], backend=backend, threads=1)
    assert (runner.backend, runner.threads, runner.batch, runner.input_size) == (backend, 1, 2, (3, 32, 32))
    np.testing.assert_allclose(runner.infer(x.numpy())[0], ref, rtol=1e-4, atol=1e-4)
    runner.run()  # one timed call's worth of work runs


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_measure_deploy_latency_records_backend_version_threads_precision(backend):
    mod = pytest.importorskip(backend)
    arch = load_space("ghost_vgg16_cifar").default()
    r = measure_deploy_latency(SMALL, backend=backend, threads=1, warmup=1, min_run_time=0.02)
    assert isinstance(r, LatencyResult) and r.median > 0 and r.n_runs >= 3
    assert r.backend == backend and r.threads == 1 and r.precision == "f32"
    assert r.backend_version == mod.__version__.split("-")[0]
    d = json.loads(json.dumps(r.to_dict()))
    assert d["backend"] == backend and d["backend_version"] == r.backend_version and d["precision"] == "f32"
    assert f"{backend} {r.backend_version} f32" in str(r)
    assert measure_deploy_latency(arch, backend=backend, warmup=0, min_run_time=0.01).input_size == (3, 32, 32)
    with pytest.raises(ValueError, match="CPU only"):
        bk.prepare_runner(build_model(SMALL), [(1, 3, 32, 32)], backend=backend, device="cuda")


def test_openvino_states_the_precision_it_runs():
    pytest.importorskip("openvino")
    runner = bk.prepare_runner(build_model(SMALL), [(1, 3, 32, 32)], backend="openvino", precision="bf16")
    assert runner.details["precision_requested"] == "bf16"
    assert runner.precision in ("bf16", "f32")  # f32 where the CPU has no bf16 support
    assert measure_runner(runner, warmup=0, min_run_time=0.01).precision == runner.precision


def test_torch_backend_is_the_deploy_path():
    r = measure_deploy_latency(SMALL, backend="torch", warmup=1, min_run_time=0.02)
    assert r.backend == "torch" and r.backend_version == torch.__version__ and r.channels_last


def test_one_protocol_wall_and_cpu_clocks():
    """A run() that sleeps 3 ms takes 3 ms of wall time and almost no CPU time."""
    sleeper = Runner(run=lambda: time.sleep(0.003), backend="torch", version="x", threads=1, input_size=(1, 1, 1))
    wall = measure_runner(sleeper, warmup=1, min_run_time=0.05, clock="wall")
    cpu = measure_runner(sleeper, warmup=1, min_run_time=0.05, clock="cpu")
    assert 0.003 <= wall.median < 0.05 and wall.clock == "wall" and wall.n_runs >= 3
    assert cpu.median < 0.0015 and cpu.clock == "cpu"
    with pytest.raises(ValueError, match="threads=1"):
        time_runner(lambda: None, threads=2, clock="cpu")
    with pytest.raises(ValueError, match="clock"):
        measure_deploy_latency(SMALL, clock="sundial")
    calls = []
    m = time_runner(lambda: calls.append(1), threads=1, warmup=4, min_run_time=0.01)
    assert len(calls) >= 4 + 3 * m.number_per_run  # warm-up calls, then at least 3 timed blocks
