"""ONNX export: BN folded, opset >= 17, fixed input shape, and ONNX Runtime computes what PyTorch does."""
import dataclasses
import random

import numpy as np
import pytest
import torch

from ghostnas.ghostnet import build_model, model_config
from ghostnas.space import ArchConfig, build_arch, list_spaces, load_space
from ghostnas.space.onnx_export import DEFAULT_OPSET, export_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.usefixtures("one_thread")


def _ort_outputs(data: bytes, x: np.ndarray) -> np.ndarray:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def _check_equal(model: torch.nn.Module, size: int, data: bytes, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 3, size, size, generator=g)
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    out = _ort_outputs(data, x.numpy())
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["ghostnet_050", "ghostnet_100", "ghostnetv2_100"])
def test_registry_models_match_pytorch(name, rand_bn):
    model = rand_bn(build_model(model_config(name)), seed=1)  # BN statistics matter once folded
    data = export_onnx(model, input_size=96)
    proto = onnx.load_from_string(data)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= DEFAULT_OPSET >= 17
    assert not [n for n in proto.graph.node if n.op_type == "BatchNormalization"]  # folded
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 96, 96]  # fixed batch-1 shape
    _check_equal(model, 96, data)


def _small(space, arch: ArchConfig) -> ArchConfig:
    """The point at the space's smallest width (where the space has a width axis) and, for
    224-pixel spaces, a 64-pixel input: the export is then fast and still covers every block."""
    model = arch.model
    widths = [a.choices for a in space.axes if a.name.endswith("width") and not a.fixed]
    if widths and hasattr(model, "width"):
        model = dataclasses.replace(model, width=min(widths[0]))
    return ArchConfig(model, min(arch.resolution, 64))


@pytest.mark.parametrize("space_name", list_spaces())
def test_random_space_points_match_pytorch(space_name, rand_bn):
    space = load_space(space_name)
    arch = _small(space, space.sample(random.Random(7)))
    model = rand_bn(build_arch(arch), seed=2)
    _check_equal(model, arch.resolution, export_onnx(model, input_size=arch.resolution))


def test_export_targets_and_file(tmp_path):
    arch = load_space("ghostnet_cifar").sample(3)
    path = tmp_path / "sub" / "arch.onnx"
    data = export_onnx(arch, path, batch=2)  # an ArchConfig: its resolution
    assert path.read_bytes() == data
    dims = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, arch.resolution, arch.resolution]
    json_path = tmp_path / "arch.json"
    json_path.write_text(arch.to_json())
    by_json = onnx.load_from_string(export_onnx(str(json_path)))  # a JSON path, like the CLI
    assert [d.dim_value for d in by_json.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 32, 32]
    by_name = onnx.load_from_string(export_onnx("ghost_vgg16_cifar"))
    assert [d.dim_value for d in by_name.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 32, 32]
    model = build_arch(arch).train()
    export_onnx(model, input_size=32)
    assert model.training  # the caller's module is untouched


@pytest.mark.parametrize("kwargs, message", [
    ({"opset": 13}, "opset"), ({"batch": 0}, "batch"), ({"input_size": (32, 32)}, "input_size")])
def test_export_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        export_onnx("ghost_vgg16_cifar", **kwargs)
    with pytest.raises(ValueError, match="unknown model"):
        export_onnx("no_such_model")
