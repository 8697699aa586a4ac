"""`ghostnas latency build-table/predict` and `ghostnas profile --backend/--onnx`: output and errors."""
import json

import pytest

from ghostnas.cli import main
from ghostnas.ghostnet import CifarNetConfig
from ghostnas.space import load_space


@pytest.fixture
def small_json(tmp_path):
    """A narrow Ghost-VGG-16 (fast to count, export and time)."""
    path = tmp_path / "small.json"
    cfg = CifarNetConfig.uniform("vgg16", 2, 3, width=0.125)
    path.write_text(json.dumps({"family": "cifar", "model": cfg.to_dict(), "resolution": 32}))
    return str(path)

pytestmark = pytest.mark.usefixtures("one_thread")


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert err.startswith("ghostnas: error:") and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, err


@pytest.mark.parametrize("argv", [
    ["latency", "predict", "ghostnet_050", "--backend", "tflite"],
    ["latency", "build-table", "--space", "ghostnet_cifar", "--backend", "tflite"],
    ["profile", "ghostnet_050", "--backend", "tflite"],
])
def test_bad_backend_is_one_line_exit_2(argv, capsys):
    assert main(argv) == 2
    _one_line_error(capsys, "unknown latency backend 'tflite'", "torch, onnxruntime, openvino")


@pytest.mark.parametrize("argv, needle", [
    (["latency", "predict", "ghostnet_050", "--backend", "torch", "--precision", "bf16"], "openvino backend only"),
    (["latency", "predict", "ghostnet_050", "--backend", "torch", "--clock", "cpu", "--threads", "2"], "--threads 1"),
    (["latency", "predict", "no_such_model", "--backend", "torch", "--no-measure"], "unknown model"),
    (["latency", "build-table", "--space", "no_such_space", "--backend", "torch"], "no_such_space"),
    (["profile", "ghostnet_050", "--backend", "onnxruntime", "--deploy"], "torch backend"),
])
def test_other_bad_input_is_one_line_exit_2(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GHOSTNAS_CACHE", str(tmp_path))
    assert main(argv) == 2
    _one_line_error(capsys, needle)


def test_build_table_then_predict(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GHOSTNAS_CACHE", str(tmp_path))
    assert main(["latency", "predict", "ghost_vgg16_cifar", "--backend", "torch", "--no-measure"]) == 2
    _one_line_error(capsys, "build-table")
    assert main(["latency", "build-table", "--space", "ghost_vgg16_cifar", "--backend", "torch", "--samples", "1",
                 "--calibrate", "1", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["space"] == "ghost_vgg16_cifar" and stats["samples"] == 1 and stats["calibration"]["n"] == 1
    assert stats["key"]["backend"] == "torch" and stats["table"].startswith(str(tmp_path / "latency"))
    # the space's default point is the registry's ghost_vgg16_cifar: all its layers are in the table now
    arch = tmp_path / "arch.json"
    arch.write_text(load_space("ghost_vgg16_cifar").default().to_json())
    for target in ("ghost_vgg16_cifar", str(arch)):
        assert main(["latency", "predict", target, "--backend", "torch", "--no-measure", "--json",
                     "--space", "ghost_vgg16_cifar"]) == 0
        d = json.loads(capsys.readouterr().out)
        assert d["predicted_ms"] > 0 and d["measured_now"] == 0 and d["backend"] == "torch"
        assert d["calibration"]["model"] == "sum+constant" and d["n_layers"] == 43
    assert main(["latency", "predict", "ghost_vgg16_cifar", "--backend", "torch"]) == 0
    out = capsys.readouterr().out
    assert "ms predicted (torch" in out and "1 thread(s), f32" in out


def test_profile_backend_and_onnx(tmp_path, capsys, small_json):
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "m.onnx"
    assert main(["profile", small_json, "--backend", "onnxruntime", "--threads", "1", "--min-run-time",
                 "0.05", "--onnx", str(onnx_path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    lat = d["latency"]
    assert lat["backend"] == "onnxruntime" and lat["threads"] == 1 and lat["precision"] == "f32"
    assert lat["backend_version"] and lat["median_ms"] > 0 and lat["fused"]
    assert d["onnx"]["path"] == str(onnx_path) and onnx_path.stat().st_size == d["onnx"]["bytes"] > 0
    assert d["onnx"]["opset"] >= 17 and d["onnx"]["input"] == [1, 3, 32, 32]
    assert main(["profile", small_json, "--no-latency", "--onnx", str(tmp_path / "n.onnx")]) == 0
    out = capsys.readouterr().out
    assert "onnx: wrote" in out and "opset 17" in out and (tmp_path / "n.onnx").is_file()


def test_profile_openvino_states_backend_version_threads_precision(capsys, small_json):
    pytest.importorskip("openvino")
    assert main(["profile", small_json, "--backend", "openvino", "--precision", "bf16", "--threads", "1",
                 "--min-run-time", "0.05"]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("latency")][0]
    assert "openvino" in line and "1 thread(s)" in line and ("bf16" in line)
    assert "f32; bf16 requested" in line or ", bf16, " in line  # the precision it really ran in
