"""Tests of ghostnas.search.zero_cost: every proxy against hand arithmetic on a fixed 2-layer net,
determinism, the caller's model left untouched, and finite values on a GhostNet-family model."""
import math

import pytest
import torch
import torch.nn as nn

from ghostnas.search.zero_cost import PROXIES, ZICO_SPLITS, ProxyScore, compute_proxies, compute_proxy

W1 = [[1.0, -2.0], [3.0, 0.5]]
W2 = [[-1.0, 2.0], [0.5, -3.0]]
# ReLU inputs h = x W1^T: [.25, .75], [-.5, .125], [-.25, -.75], [-.875, .625] (none exactly 0);
# small enough that the softmax is not saturated (float32 gradients stay accurate).
X = torch.tensor([[0.25, 0.0], [0.0, 0.25], [-0.25, 0.0], [0.125, 0.5]])
Y = torch.tensor([0, 1, 1, 0])


def _mlp(bn: bool = False, relu_out: bool = False) -> nn.Sequential:
    """x -> Linear(W1) [-> BN] -> ReLU -> Linear(W2) [-> ReLU], no biases."""
    l1, l2 = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor(W1))
        l2.weight.copy_(torch.tensor(W2))
    layers = [l1, *([nn.BatchNorm1d(2)] if bn else []), nn.ReLU(), l2, *([nn.ReLU()] if relu_out else [])]
    return nn.Sequential(*layers)


def _manual_grads(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dW1, dL/dW2 of the mean cross-entropy of _mlp(), by the chain rule written out (float64)."""
    x = x.double()
    w1, w2 = torch.tensor(W1, dtype=torch.float64), torch.tensor(W2, dtype=torch.float64)
    h = x @ w1.T
    a = h * (h > 0)
    z = a @ w2.T
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    p = e / e.sum(dim=1, keepdim=True)
    onehot = torch.zeros_like(p)
    onehot[torch.arange(len(y)), y] = 1.0
    gz = (p - onehot) / len(y)            # d(mean CE)/dz
    gw2 = gz.T @ a
    gh = (gz @ w2) * (h > 0)              # back through W2 and the ReLU
    gw1 = gh.T @ x
    return gw1, gw2


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_params_and_macs_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, groups=2),
                          nn.Flatten(), nn.Linear(100, 2))
    model[3].bias.requires_grad_(False)
    x, y = torch.randn(2, 3, 5, 5), torch.tensor([0, 1])
    # params: (4*3*9 + 4) + (4*2*9 + 4) + 2*100 (frozen bias not counted)
    assert compute_proxy("params", model, x, y).value == 112 + 76 + 200
    # per sample: 4*5*5 outputs * 3*9, 4*5*5 * (4/2)*9, 2 outputs * 100
    assert compute_proxy("macs", model, x, y).value == 2700 + 1800 + 200
    assert compute_proxy("macs", model, x, y, macs=123).value == 123.0
    assert compute_proxy("macs", model, x, y, macs=lambda m: 7).value == 7.0


def test_synflow_by_hand(rand_bn):
    # |W1| 1 = [3, 3.5]; R = 1^T |W2| |W1| 1 = 10 + 12 = 22. R is linear in each layer's |weights|,
    # so sum |theta * dR/dtheta| over one layer is R: two layers give 2R. BN must be bypassed.
    for model in (_mlp(), rand_bn(_mlp(bn=True))):
        assert compute_proxy("synflow", model, X, Y).value == pytest.approx(44.0, rel=1e-12)


def test_snip_and_grad_norm_by_hand():
    gw1, gw2 = _manual_grads(X, Y)
    w1, w2 = torch.tensor(W1, dtype=torch.float64), torch.tensor(W2, dtype=torch.float64)
    snip = float((w1 * gw1).abs().sum() + (w2 * gw2).abs().sum())
    grad_norm = math.sqrt(float((gw1 ** 2).sum())) + math.sqrt(float((gw2 ** 2).sum()))
    assert snip > 0 and grad_norm > 0
    assert compute_proxy("snip", _mlp(), X, Y).value == pytest.approx(snip, rel=1e-5)
    assert compute_proxy("grad_norm", _mlp(), X, Y).value == pytest.approx(grad_norm, rel=1e-5)


def test_zico_by_hand():
    assert ZICO_SPLITS == 2
    (a1, a2), (b1, b2) = _manual_grads(X[:2], Y[:2]), _manual_grads(X[2:], Y[2:])
    assert a1[0, 1] == 0 and b1[0, 1] == 0  # zero in both halves: std 0, skipped
    expected = 0.0
    for a, b in ((a1, b1), (a2, b2)):  # per layer, gradients of the two halves
        a, b = a.flatten().tolist(), b.flatten().tolist()
        # two samples: mean|g| = (|a|+|b|)/2, population std = |a-b|/2; skip std == 0
        terms = [(abs(u) + abs(v)) / abs(u - v) for u, v in zip(a, b) if u != v]
        expected += math.log(sum(terms))
    assert compute_proxy("zico", _mlp(), X, Y).value == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        compute_proxy("zico", _mlp(), X[:1], Y[:1])


def test_naswot_by_hand():
    # Layer-1 codes (h > 0) of the 3 samples: 11, 01, 00; K1 = 2 - d_H.
    k1 = [[2, 1, 0], [1, 2, 1], [0, 1, 2]]
    # Layer-2 inputs z = relu(h) W2^T: [1.25, -2.125], [.25, -.375], [0, 0] -> codes 10, 10, 00.
    k2 = [[2, 2, 1], [2, 2, 1], [1, 1, 2]]
    k = [[k1[i][j] + k2[i][j] for j in range(3)] for i in range(3)]  # [[4,3,1],[3,4,2],[1,2,4]]
    det = (k[0][0] * (k[1][1] * k[2][2] - k[1][2] * k[2][1])
           - k[0][1] * (k[1][0] * k[2][2] - k[1][2] * k[2][0])
           + k[0][2] * (k[1][0] * k[2][1] - k[1][1] * k[2][0]))
    assert det == 20
    value = compute_proxy("naswot", _mlp(relu_out=True), X[:3], Y[:3]).value
    assert value == pytest.approx(math.log(det), rel=1e-12)


def test_naswot_ranks_degenerate_net_below_random():
    torch.manual_seed(0)
    x, y = torch.rand(4, 4), torch.zeros(4, dtype=torch.long)
    degenerate = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    with torch.no_grad():  # identity plus a large bias: every ReLU input > 0, all codes equal
        degenerate[0].weight.copy_(torch.eye(4))
        degenerate[0].bias.fill_(10.0)
    rand = nn.Sequential(nn.Linear(4, 16), nn.ReLU())
    low = compute_proxy("naswot", degenerate, x - 0.5, y).value
    high = compute_proxy("naswot", rand, torch.randn(4, 4), y).value
    assert math.isfinite(high) and low < high
    assert low == -math.inf  # K = 4 * ones(4, 4) is singular


def test_naswot_without_relu_raises():
    with pytest.raises(ValueError, match="ReLU"):
        compute_proxy("naswot", nn.Sequential(nn.Linear(2, 2), nn.Hardswish()), X, Y)


def test_unknown_name_raises():
    with pytest.raises(ValueError, match=r"'flops'.*synflow"):
        compute_proxy("flops", _mlp(), X, Y)
    with pytest.raises(ValueError, match="bogus"):
        compute_proxies(_mlp(), X, Y, names=["snip", "bogus"])


def test_deterministic_and_caller_model_untouched(rand_bn):
    torch.manual_seed(1)
    model = rand_bn(nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5),
                                  nn.Linear(8, 3))).eval()
    x, y = torch.randn(6, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    before, rng = _state(model), torch.get_rng_state()
    for name in PROXIES:
        compute_proxy(name, model, x, y)
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), name
        assert not model.training and all(p.grad is None for p in model.parameters()), name
    assert torch.equal(torch.get_rng_state(), rng)
    first, second = compute_proxies(model, x, y, seed=3), compute_proxies(model, x, y, seed=3)
    assert list(first) == list(PROXIES)
    assert all(isinstance(s, ProxyScore) and s.name == n and s.seconds >= 0 for n, s in first.items())
    assert {n: s.value for n, s in first.items()} == {n: s.value for n, s in second.items()}
    # dropout is active in train-mode proxies, so the seed matters there
    assert compute_proxy("snip", model, x, y, seed=4).value != first["snip"].value


def test_ghost_model_all_proxies_finite(one_thread):
    from ghostnas.ghostnet import create_model, model_config
    from ghostnas.space import analytic_counts

    torch.manual_seed(0)
    model = create_model("ghost_vgg16_cifar", width=0.25)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    before, training = _state(model), model.training
    scores = compute_proxies(model, x, y, seed=0)
    assert all(math.isfinite(s.value) for s in scores.values()), scores
    assert scores["synflow"].value > 0 and scores["snip"].value > 0 and scores["grad_norm"].value > 0
    assert scores["macs"].value == analytic_counts(model_config("ghost_vgg16_cifar", width=0.25), 32).macs
    assert scores["params"].value == sum(p.numel() for p in model.parameters())
    assert model.training == training
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    again = compute_proxies(model, x, y, names=["naswot", "zico"], seed=0)
    assert again["naswot"].value == scores["naswot"].value and again["zico"].value == scores["zico"].value
