"""Our modules against the seed document's reference code, bit for bit."""
import itertools

import pytest
import torch

import seed_reference as seed
from ghostnas.ghostnet import GhostBottleneck, GhostModule, SqueezeExcite, hard_sigmoid, make_divisible

GHOST_CASES = list(itertools.product(
    [(8, 16), (16, 20), (5, 7), (24, 24)],  # (inp, oup): 20 and 7 are not divisible by every ratio
    [1, 3],  # kernel_size
    [2, 3, 4, 5],  # ratio
    [1, 3, 5, 7],  # dw_size
    [1, 2],  # stride
    [True, False],  # relu
))


def _copy_and_compare(ours, ref, x, rand_bn):
    rand_bn(ref)
    ours.load_state_dict(ref.state_dict(), strict=True)
    for mode in ("train", "eval"):
        getattr(ours, mode)()
        getattr(ref, mode)()
        with torch.no_grad():
            a, b = ours(x.clone()), ref(x.clone())
        assert a.shape == b.shape
        assert torch.equal(a, b), f"{mode}: max diff {(a - b).abs().max().item()}"


@pytest.mark.parametrize("io,k,ratio,dw,stride,relu", GHOST_CASES)
def test_ghost_module_bit_exact(io, k, ratio, dw, stride, relu, rand_bn):
    inp, oup = io
    torch.manual_seed(0)
    ref = seed.GhostModule(inp, oup, k, ratio, dw, stride, relu)
    ours = GhostModule(inp, oup, k, ratio, dw, stride, relu)
    _copy_and_compare(ours, ref, torch.randn(2, inp, 9, 9), rand_bn)


def test_ghost_module_channel_math():
    m = GhostModule(8, 20, ratio=3)
    assert m.primary_conv[0].out_channels == 7 and m.cheap_operation[0].out_channels == 14
    assert m(torch.randn(1, 8, 4, 4)).shape[1] == 20


def test_ratio_one_is_the_primary_conv():
    m = GhostModule(8, 12, kernel_size=3, ratio=1)
    assert m.cheap_operation is None
    assert not any("cheap" in k for k in m.state_dict())
    x = torch.randn(2, 8, 6, 6)
    m.eval()
    assert torch.equal(m(x), m.primary_conv(x))
    assert m(x).shape == (2, 12, 6, 6)


@pytest.mark.parametrize("bad", [dict(ratio=0), dict(ratio=2.5), dict(dw_size=4), dict(dw_size=0), dict(oup=0)])
def test_ghost_module_rejects_bad_args(bad):
    kwargs = dict(inp=4, oup=8, ratio=2, dw_size=3) | bad
    with pytest.raises(ValueError, match=next(iter(bad)).replace("_size", "")):
        GhostModule(**kwargs)


@pytest.mark.parametrize("chs,se", [(72, 0.25), (120, 0.25), (16, 0.5), (960, 0.25)])
def test_squeeze_excite_bit_exact(chs, se, rand_bn):
    torch.manual_seed(1)
    ref, ours = seed.SqueezeExcite(chs, se), SqueezeExcite(chs, se)
    _copy_and_compare(ours, ref, torch.randn(2, chs, 5, 5), rand_bn)


@pytest.mark.parametrize("cfg", [
    (16, 16, 16, 3, 1, 0.0), (16, 48, 24, 3, 2, 0.0), (24, 72, 40, 5, 2, 0.25),
    (40, 120, 40, 5, 1, 0.25), (80, 184, 80, 3, 1, 0.0), (112, 672, 160, 5, 2, 0.25),
])
def test_ghost_bottleneck_bit_exact(cfg, rand_bn):
    in_chs, mid, out, k, stride, se = cfg
    torch.manual_seed(2)
    ref = seed.GhostBottleneck(in_chs, mid, out, k, stride, se_ratio=se)
    ours = GhostBottleneck(in_chs, mid, out, k, stride, se_ratio=se)
    _copy_and_compare(ours, ref, torch.randn(2, in_chs, 14, 14), rand_bn)


def test_make_divisible_and_hard_sigmoid():
    assert [make_divisible(v, 4) for v in (8.0, 20.8, 93.6, 1248.0, 18.0, 30.0, 168.0, 240.0)] == \
        [8, 20, 92, 1248, 20, 32, 168, 240]
    assert hard_sigmoid(torch.tensor([-3.0, 0.0, 3.0])).tolist() == [0.0, 0.5, 1.0]
