"""Feature capture, similarity metrics (CKA property tests), redundancy, MSE-vs-d (the `ghostnas similarity`
command is tested in tests/cli/test_cli_similarity.py)."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ghostnas.analysis import (MinibatchCKA, capture_features, channel_cosine, channel_mse, cka, cka_matrix,
                               fit_depthwise_filter, hsic_unbiased, gram_linear, linear_cka, minibatch_cka,
                               mse_vs_d, normalize_maps, rbf_cka, redundancy_summary, unbiased_cka)
from ghostnas.ghostnet import CifarNetConfig, GhostModule, build_model


# ------------------------------------------------------------------ reference formulas


def ref_hsic(k: np.ndarray, l: np.ndarray) -> float:
    """Textbook biased HSIC: tr(K H L H) / (n-1)^2 with H = I - 11^T/n."""
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(k @ h @ l @ h)) / (n - 1) ** 2


def ref_cka(k: np.ndarray, l: np.ndarray) -> float:
    return ref_hsic(k, l) / math.sqrt(ref_hsic(k, k) * ref_hsic(l, l))


def ref_rbf_gram(x: np.ndarray, threshold: float = 1.0) -> np.ndarray:
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * threshold ** 2 * np.median(d2)))


def ref_hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:
    """Song et al. (2012), eq. 5, with explicit loops-free algebra on diagonal-free Grams."""
    n = k.shape[0]
    kt, lt = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    one = np.ones(n)
    return float(np.trace(kt @ lt) + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
                 - 2.0 / (n - 2) * (one @ kt @ lt @ one)) / (n * (n - 3))


def rand(n, p, seed):
    return torch.randn(n, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def orthogonal(p, seed):
    q, _ = torch.linalg.qr(rand(p, p, seed))
    return q


# ------------------------------------------------------------------ CKA properties


def test_linear_and_rbf_cka_agree_with_reference_formula():
    x, y = rand(20, 7, 0), rand(20, 5, 1)
    y = y + 0.5 * x[:, :5]  # some shared signal
    xn, yn = x.numpy(), y.numpy()
    assert linear_cka(x, y) == pytest.approx(ref_cka(xn @ xn.T, yn @ yn.T), rel=1e-10)
    assert rbf_cka(x, y) == pytest.approx(ref_cka(ref_rbf_gram(xn), ref_rbf_gram(yn)), rel=1e-10)
    assert rbf_cka(x, y, threshold=0.5) == pytest.approx(ref_cka(ref_rbf_gram(xn, 0.5), ref_rbf_gram(yn, 0.5)),
                                                         rel=1e-10)
    # Linear CKA also equals ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on centred features.
    xc, yc = xn - xn.mean(0), yn - yn.mean(0)
    direct = np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    assert linear_cka(x, y) == pytest.approx(direct, rel=1e-10)
    k, l = xn @ xn.T, yn @ yn.T
    assert float(hsic_unbiased(torch.from_numpy(k), torch.from_numpy(l))) == pytest.approx(ref_hsic_unbiased(k, l),
                                                                                            rel=1e-10)
    assert unbiased_cka(x, y) == pytest.approx(
        ref_hsic_unbiased(k, l) / math.sqrt(ref_hsic_unbiased(k, k) * ref_hsic_unbiased(l, l)), rel=1e-10)


@pytest.mark.parametrize("kind", ["linear", "rbf", "unbiased"])
def test_cka_self_similarity_orthogonal_and_scale_invariance(kind):
    x, y = rand(24, 10, 2), rand(24, 6, 3)
    y = y + x[:, :6]
    base = cka(x, y, kind)
    assert cka(x, x, kind) == pytest.approx(1.0, abs=1e-12)
    assert cka(x, x @ orthogonal(10, 4), kind) == pytest.approx(1.0, abs=1e-10)
    assert cka(x @ orthogonal(10, 5), y, kind) == pytest.approx(base, abs=1e-10)
    for s in (3.7, 1e-6, 1e5):
        assert cka(s * x, y, kind) == pytest.approx(base, abs=1e-10)
    assert 0.0 < base < 1.0
    # Not invariant to an arbitrary invertible linear map (a real check, not a tautology).
    if kind == "linear":
        a = torch.diag(torch.linspace(0.1, 10, 10, dtype=torch.float64))
        assert abs(cka(x @ a, y, kind) - base) > 1e-3


def test_unbiased_cka_removes_bias_for_independent_wide_features():
    # n ≪ p: biased linear CKA of independent data is far from 0, the unbiased estimator is not.
    x, y = rand(16, 2000, 6), rand(16, 2000, 7)
    assert linear_cka(x, y) > 0.5
    assert abs(unbiased_cka(x, y)) < 0.1


def test_cka_constant_maps_are_zero_not_nan():
    x = rand(12, 8, 8)
    const = torch.full((12, 3, 4, 4), 2.5, dtype=torch.float64)
    zero = torch.zeros(12, 8, dtype=torch.float64)
    for kind in ("linear", "rbf", "unbiased"):
        for a, b in ((const, x), (x, const), (const, const), (zero, zero)):
            v = cka(a, b, kind)
            assert v == 0.0 and not math.isnan(v)
    m = cka_matrix({"x": x, "c": const}, "linear")
    assert not torch.isnan(m).any()
    assert m[0, 0] == pytest.approx(1.0) and m[1, 1] == 0.0 and m[0, 1] == 0.0


def test_minibatch_cka():
    x, y = rand(40, 12, 9), rand(40, 5, 10)
    y = y + x[:, :5]
    xs, ys = x.split(10), y.split(10)
    # One batch: equals the unbiased CKA of that batch.
    assert minibatch_cka([xs[0]], [ys[0]]) == pytest.approx(unbiased_cka(xs[0], ys[0]), abs=1e-12)
    # Several batches: the ratio of the averaged unbiased HSICs (Nguyen et al. 2021).
    hs = [[float(hsic_unbiased(gram_linear(a), gram_linear(b))) for a, b in ((xb, yb), (xb, xb), (yb, yb))]
          for xb, yb in zip(xs, ys)]
    mean = np.mean(hs, axis=0)
    assert minibatch_cka(xs, ys) == pytest.approx(mean[0] / math.sqrt(mean[1] * mean[2]), rel=1e-10)
    q = orthogonal(12, 11)
    assert minibatch_cka(xs, [b @ q for b in xs]) == pytest.approx(1.0, abs=1e-10)
    acc = MinibatchCKA(["a", "b", "c"])
    for xb, yb in zip(xs, ys):
        acc.update({"a": xb, "b": yb, "c": 2 * xb})
    m = acc.matrix()
    assert torch.allclose(torch.diag(m), torch.ones(3, dtype=torch.float64))
    assert m[0, 2] == pytest.approx(1.0) and torch.allclose(m, m.T)
    with pytest.raises(ValueError, match="more than 3"):
        minibatch_cka([x[:3]], [y[:3]])


def test_cka_matrix_matches_pairwise_and_has_unit_diagonal():
    feats = {"a": rand(16, 3 * 4 * 4, 12).reshape(16, 3, 4, 4), "b": rand(16, 20, 13)}
    feats["c"] = feats["b"] @ orthogonal(20, 14) + 0.1 * rand(16, 20, 15)
    for kind in ("linear", "rbf", "unbiased"):
        m = cka_matrix(feats, kind)
        names = list(feats)
        for i in range(3):
            for j in range(3):
                assert m[i, j] == pytest.approx(cka(feats[names[i]], feats[names[j]], kind), abs=1e-10)
        assert torch.allclose(torch.diag(m), torch.ones(3, dtype=torch.float64))
    assert cka_matrix(feats)[1, 2] > 0.95


# ------------------------------------------------------------------ channel metrics


def test_channel_cosine_and_mse():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 4, 6, 6, generator=g)
    x[:, 1] = 3.0 * x[:, 0]        # same map, scaled
    x[:, 3] = 0.0                  # dead map
    cos = channel_cosine(x)
    assert cos.shape == (4, 4) and not torch.isnan(cos).any()
    assert cos[0, 1] == pytest.approx(1.0) and cos[0, 0] == pytest.approx(1.0)
    assert (cos[3] == 0).all() and (cos[:, 3] == 0).all()   # dead map: similar to nothing, itself included
    v0, v2 = x[:, 0].reshape(-1).double(), x[:, 2].reshape(-1).double()
    assert cos[0, 2] == pytest.approx(float(v0 @ v2 / (v0.norm() * v2.norm())), rel=1e-10)
    mse = channel_mse(x)
    assert mse[0, 1] == pytest.approx(0.0, abs=1e-12)       # identical after min-max scaling
    n = normalize_maps(x)
    assert mse[0, 2] == pytest.approx(float(((n[:, 0] - n[:, 2]) ** 2).mean()), rel=1e-10)
    assert (n[:, 3] == 0).all() and not torch.isnan(n).any()
    z = normalize_maps(x, "zscore")
    assert z[:, 0].mean() == pytest.approx(0.0, abs=1e-12) and not torch.isnan(z).any()


def test_redundancy_summary():
    sim = torch.tensor([[1.0, 0.95, 0.1, 0.2],
                        [0.95, 1.0, 0.3, 0.1],
                        [0.1, 0.3, 1.0, 0.92],
                        [0.2, 0.1, 0.92, 1.0]])
    s = redundancy_summary(sim, threshold=0.93, top_k=3)
    assert s.partner == [1, 0, 3, 2]
    assert s.partner_similarity == pytest.approx([0.95, 0.95, 0.92, 0.92])
    assert s.fraction_redundant == 0.5
    assert [(i, j) for i, j, _ in s.top_pairs] == [(0, 1), (2, 3), (1, 2)]
    mse = redundancy_summary(1 - sim, threshold=0.07, top_k=1, higher_is_similar=False, metric="mse")
    assert mse.partner == [1, 0, 3, 2] and mse.fraction_redundant == 0.5 and mse.top_pairs[0][:2] == (0, 1)


# ------------------------------------------------------------------ MSE vs d


def test_fit_recovers_a_known_filter_and_mse_is_monotone_in_d():
    g = torch.Generator().manual_seed(1)
    src = torch.rand(4, 12, 12, generator=g, dtype=torch.float64)
    w = torch.randn(3, 3, generator=g, dtype=torch.float64)
    dst = F.conv2d(src[:, None], w[None, None], padding=1)[:, 0]
    filt, _, mse = fit_depthwise_filter(src, dst, 3)
    assert mse < 1e-20 and torch.allclose(filt, w, atol=1e-10)
    _, _, mse1 = fit_depthwise_filter(src, dst, 1)
    assert mse1 > 1e-3
    _, b, mse_b = fit_depthwise_filter(src, dst + 0.5, 3, bias=True)
    assert b == pytest.approx(0.5) and mse_b < 1e-20
    # Non-increasing with d on unrelated random maps, on a real nonlinear target, and on many pairs.
    maps = torch.rand(6, 5, 10, 10, generator=g)
    maps[:, 4] = torch.relu(F.conv2d(maps[:, :1], torch.randn(1, 1, 5, 5, generator=g), padding=2)[:, 0] - 0.3)
    table = mse_vs_d(maps, [(0, 1), (2, 3), (0, 4), (4, 0)], (1, 3, 5, 7))
    assert list(table.columns) == [1, 3, 5, 7] and table.shape == (4, 4)
    vals = table.to_numpy()
    assert (np.diff(vals, axis=1) <= 1e-12 * vals[:, :1]).all()
    assert vals[2, 2] < 0.5 * vals[2, 0]   # the 5×5-generated target is fitted far better with d ≥ 5
    with pytest.raises(ValueError, match="odd"):
        fit_depthwise_filter(src, dst, 2)


# ------------------------------------------------------------------ capture


def tiny_ghost_vgg():
    torch.manual_seed(0)
    return build_model(CifarNetConfig.uniform("vgg16", 2, 3, num_classes=10, width=0.125)).eval()


def test_capture_ghost_module_splits_intrinsic_and_ghost(rand_bn):
    model = rand_bn(tiny_ghost_vgg())
    x = torch.randn(3, 3, 32, 32)
    feats = capture_features(model, ["features.1", "features.0", "features.3"], x)
    assert list(feats) == ["features.1", "features.0", "features.3"]
    f1 = feats["features.1"]
    a, g = model.features[1].intrinsic_and_ghost(model.features[0](x))
    assert f1.is_ghost and f1.ratio == 2 and f1.dw_size == 3
    assert torch.equal(f1.intrinsic, a) and torch.equal(f1.ghost, g[:, :f1.ghost.shape[1]])
    assert torch.equal(f1.output, torch.cat([a, g], 1)[:, :8])
    assert not feats["features.0"].is_ghost and feats["features.0"].output.shape == (3, 8, 32, 32)
    # The plain layer's hooked output is unaffected by the in-place ReLU of the next layer.
    assert torch.equal(feats["features.0"].output, model.features[0](x))


def test_ghost_index_mapping_with_ratio_3_and_uneven_oup(rand_bn):
    m = rand_bn(nn.Sequential(GhostModule(4, 10, kernel_size=3, ratio=3, dw_size=3))).eval()
    x = torch.randn(2, 4, 8, 8)
    lm = capture_features(m, "0", x)["0"]
    assert lm.intrinsic.shape[1] == 4 and lm.ghost.shape[1] == 6 and lm.output.shape[1] == 10
    cheap = m[0].cheap_operation
    for j in range(6):
        i = lm.ghost_parent(j)
        assert i == j // 2 and j in lm.ghosts_of(i)
        conv = F.conv2d(lm.intrinsic[:, i:i + 1], cheap[0].weight[j:j + 1], padding=1)
        bn = cheap[1]
        ref = torch.relu((conv - bn.running_mean[j]) / torch.sqrt(bn.running_var[j] + bn.eps) * bn.weight[j]
                         + bn.bias[j])[:, 0]
        assert torch.allclose(lm.ghost[:, j], ref, atol=1e-5)
    assert torch.equal(lm.output[:, 4:], lm.ghost)


def test_unknown_layer_names_it_and_lists_valid_names():
    model = tiny_ghost_vgg()
    with pytest.raises(ValueError) as e:
        capture_features(model, ["features.1", "feature.3", "nope"], torch.randn(2, 3, 32, 32))
    msg = str(e.value)
    assert "'feature.3'" in msg and "'nope'" in msg and "features.3" in msg and "\n" not in msg


def test_capture_rejects_non_tensor_output():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    model = nn.Sequential(nn.Conv2d(3, 4, 3), Pair())
    with pytest.raises(ValueError, match="not a tensor"):
        capture_features(model, "1", torch.randn(2, 3, 8, 8))


def test_capture_ghost_module_v2_attn_and_ghostnet_bottleneck(rand_bn):
    from ghostnas.ghostnet import GhostModuleV2

    torch.manual_seed(0)
    m = rand_bn(nn.Sequential(GhostModuleV2(4, 8, ratio=2, dw_size=3, mode="attn"))).eval()
    x = torch.randn(2, 4, 8, 8)
    lm = capture_features(m, "0", x)["0"]
    a, g = m[0].intrinsic_and_ghost(x)
    assert torch.equal(lm.intrinsic, a) and torch.equal(lm.ghost, g)
    assert torch.allclose(lm.output, m(x))          # after the DFC attention
    assert not torch.allclose(lm.output[:, :4], a)  # ... which changes the maps
