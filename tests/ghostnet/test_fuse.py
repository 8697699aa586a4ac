"""fuse_for_inference: BN folded into convs, outputs unchanged, original model untouched."""
import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from ghostnas.ghostnet import GhostNetConfig, build_model, create_model, fuse_for_inference, model_config
from ghostnas.space import analytic_counts

CASES = [("ghostnet_100", 96), ("ghostnetv2_100", 96), ("ghost_vgg16_cifar", 32),
         ("ghost_resnet56_cifar", 32), ("resnet56_cifar", 32), ("vgg16_cifar", 32)]


pytestmark = pytest.mark.usefixtures("one_thread")


def _n_bn(model):
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@pytest.mark.parametrize("name, res", CASES)
def test_fused_equals_unfused(name, res, rand_bn):
    torch.manual_seed(0)
    model = rand_bn(create_model(name), seed=1).eval()
    n_bn = _n_bn(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    fused = fuse_for_inference(model)
    assert _n_bn(fused) == 0 and fused.num_fused_bn == n_bn  # every BN folded
    assert not fused.training
    x = torch.randn(2, 3, res, res)
    with torch.inference_mode():
        ref, out = model(x), fused(x)
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    # The original is untouched: same modules, same tensors.
    assert _n_bn(model) == n_bn
    after = model.state_dict()
    assert after.keys() == state.keys() and all(torch.equal(v, after[k]) for k, v in state.items())


def test_fused_channels_last_and_counts(rand_bn):
    # BN folding leaves conv+linear MACs unchanged; channels_last gives the same outputs.
    cfg = model_config("ghostnetv2_100", num_classes=10)
    model = rand_bn(build_model(cfg), seed=2).eval()
    fused = fuse_for_inference(model)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        fused(torch.zeros(1, 3, 64, 64))
    assert counter.get_total_flops() == 2 * analytic_counts(cfg, 64).macs
    fcl = fused.to(memory_format=torch.channels_last)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        ref, out = model(x), fcl(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())


def test_fuse_random_ghost_ratios_and_stride2(rand_bn):
    from ghostnas.ghostnet import deploy_model
    from ghostnas.ghostnet import BlockSpec
    stages = ((BlockSpec(3, 16, 16, 0, 1, ratio=1, dw_size=1),),
              (BlockSpec(5, 36, 20, 0.25, 2, ratio=3, dw_size=5),),
              (BlockSpec(3, 40, 20, 0.25, 1, ratio=5, dw_size=7),))
    model = rand_bn(build_model(GhostNetConfig(stages=stages, version="v2", head_chs=32)), seed=3).eval()
    fused = fuse_for_inference(model)
    assert _n_bn(fused) == 0
    x = torch.randn(1, 3, 48, 48)
    with torch.inference_mode():
        ref, out = model(x), fused(x)
        out2 = deploy_model(model)(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    assert torch.allclose(out2, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())


def test_fuse_leaves_unpaired_bn():
    # A BN not fed by a conv (here after a ReLU) must stay.
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4))
    fused = fuse_for_inference(model)
    assert fused.num_fused_bn == 0 and isinstance(fused[2], nn.BatchNorm2d)


@pytest.mark.parametrize("name, res", [("ghostnet_100", 64), ("ghostnetv2_100", 65), ("ghost_resnet56_cifar", 32)])
def test_deploy_model_equals_unfused(name, res, rand_bn):
    from ghostnas.ghostnet import deploy_model
    model = rand_bn(create_model(name), seed=4).eval()
    if name.endswith("_cifar"):  # not scriptable: traced at one input size
        with pytest.raises(ValueError, match="input_size"):
            deploy_model(model)
        deployed = deploy_model(model, input_size=(3, res, res))
    else:
        deployed = deploy_model(model)  # fused + channels_last + frozen TorchScript
    assert isinstance(deployed, torch.jit.ScriptModule)
    assert _n_bn(model) > 0  # original untouched
    x = torch.randn(1, 3, res, res)
    with torch.inference_mode():
        ref = model(x)
        out = deployed(x.contiguous(memory_format=torch.channels_last))
        if not name.endswith("_cifar"):  # scripted: not specialised to one input size
            assert deployed(torch.randn(1, 3, res + 32, res + 32)).shape == ref.shape
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
