"""Zero-cost proxies: scores of an untrained network from one minibatch, each with its wall time.

Proxies (``PROXIES``), all "higher = predicted better" (for ``params``/``macs`` higher simply means a
bigger network; they are the baselines every proxy has to beat):

* ``params``    trainable parameter count.
* ``macs``      conv + linear multiply-accumulates of one sample (forward hooks), or a given value.
* ``synflow``   Tanaka et al. 2020, as in Abdelfattah et al. 2021 (``foresight/pruners/measures``).
* ``snip``      Lee et al. 2019, as in Abdelfattah et al. 2021.
* ``grad_norm`` as in Abdelfattah et al. 2021.
* ``naswot``    Mellor et al., ICML 2021 (BayesWatch/nas-without-training, ``hook_logdet``).
* ``zico``      Li et al., ICLR 2023 (SLDGroup/ZiCo, ``ZeroShotProxy/compute_zico.py``).

Every proxy works on a deep copy of the model inside a forked, seeded torch RNG: the caller's
model (parameters, buffers, gradients, train/eval mode) and the global RNG state are left
unchanged, and a fixed ``seed`` gives identical values. "Conv/linear layers" below means
``nn.Conv1d/2d/3d`` and ``nn.Linear`` (the reference uses ``nn.Conv2d`` and ``nn.Linear``); only
their weights are scored, as in the reference. A model may return a tuple: its first item is taken
as the logits. Functional activations (``F.relu``) are invisible to ``naswot``'s hooks.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["PROXIES", "ZICO_SPLITS", "ProxyScore", "compute_proxy", "compute_proxies"]

PROXIES: tuple[str, ...] = ("params", "macs", "synflow", "snip", "grad_norm", "naswot", "zico")
ZICO_SPLITS = 2  # ZiCo's official search uses 2 minibatches (``--maxbatch 2``)

MacsArg = Optional[Union[int, float, Callable[[nn.Module], float]]]
_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@dataclass(frozen=True)
class ProxyScore:
    """One proxy value: ``name``, ``value`` (higher = predicted better) and ``seconds`` of wall time."""

    name: str
    value: float
    seconds: float


def _logits(out: object) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out  # type: ignore[index,return-value]


def _layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, _LAYERS)]


def _sum_layers(net: nn.Module, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> float:
    """``sum fn(weight, weight.grad)`` over conv/linear layers with a gradient (None counts 0)."""
    with torch.no_grad():
        return float(sum(fn(m.weight, m.weight.grad) for m in _layers(net) if m.weight.grad is not None))


def _train_copy(model: nn.Module) -> nn.Module:
    net = copy.deepcopy(model).train()
    net.zero_grad(set_to_none=True)
    return net


def _params(model: nn.Module, x: torch.Tensor, y: torch.Tensor, macs: MacsArg) -> float:
    """Number of trainable parameters (``requires_grad``), as ``count_parameters`` of the reference."""
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))


def _macs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, macs: MacsArg) -> float:
    """Conv/linear MACs of one sample of ``x``'s shape, or ``macs`` (a number or ``macs(model)``).

    Per output element a conv costs ``in_channels / groups * prod(kernel_size)`` MACs and a linear
    ``in_features``; biases, BN, activations and pooling are not counted (the convention of
    ``ghostnas.space.counts.analytic_counts``). Counted on an eval-mode copy with ``x[:1]``.
    """
    if macs is not None:
        return float(macs(model) if callable(macs) else macs)
    net = copy.deepcopy(model).eval()
    total = [0]

    def hook(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        per_out = m.in_features if isinstance(m, nn.Linear) else (
            m.in_channels // m.groups * math.prod(m.kernel_size))
        total[0] += out[0].numel() * per_out

    handles = [m.register_forward_hook(hook) for m in _layers(net)]
    try:
        with torch.no_grad():
            net(x[:1])
    finally:
        for h in handles:
            h.remove()
    return float(total[0])


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor, macs: MacsArg) -> float:
    """SynFlow: ``sum |theta * dR/dtheta|`` over conv/linear weights, ``R = sum(f_|theta|(1))``.

    Follows ``compute_synflow_per_weight`` (zero-cost-nas, ``bn=False``): BatchNorm forwards are
    no-ops, the net is cast to float64, every state-dict entry is replaced by its absolute value and
    the input is one sample of ones. Deviation: the copy is in eval mode (dropout off; BN is
    disabled anyway), and no sign restore is needed since the copy is discarded. The data in
    ``x``/``y`` is not used, only its shape.
    """
    net = copy.deepcopy(model).eval()
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.forward = _identity  # type: ignore[method-assign]
    dtype = torch.float32 if x.device.type == "mps" else torch.float64  # MPS has no float64
    net.to(dtype)
    with torch.no_grad():
        for t in net.state_dict().values():
            t.abs_()
    net.zero_grad(set_to_none=True)
    torch.sum(_logits(net(torch.ones((1, *x.shape[1:]), dtype=dtype, device=x.device)))).backward()
    return _sum_layers(net, lambda w, g: (w * g).abs().sum())


def _backward_ce(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    net.zero_grad(set_to_none=True)
    F.cross_entropy(_logits(net(x)), y).backward()


def _snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor, macs: MacsArg) -> float:
    """SNIP: ``sum |w * dL/dw|`` over conv/linear weights, ``L`` = mean cross-entropy on the batch.

    Follows ``compute_snip_per_weight`` (zero-cost-nas): there ``|dL/dmask|`` at ``mask = 1`` for
    ``w * mask``, which equals ``|w * dL/dw|``; model in train mode (batch-stat BN), one split.
    """
    net = _train_copy(model)
    _backward_ce(net, x, y)
    return _sum_layers(net, lambda w, g: (w * g).abs().sum())


def _grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, macs: MacsArg) -> float:
    """GradNorm: ``sum_l ||dL/dW_l||_2`` (per-layer Frobenius norm, summed) over conv/linear weights.

    Follows ``get_grad_norm_arr`` (zero-cost-nas): mean cross-entropy, train mode, one split.
    """
    net = _train_copy(model)
    _backward_ce(net, x, y)
    return _sum_layers(net, lambda w, g: g.norm())


def _naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor, macs: MacsArg) -> float:
    """NASWOT: ``log|det K|``, ``K = sum over ReLU calls of c c^T + (1-c)(1-c)^T``.

    ``c`` is the per-sample binary code ``(input > 0)`` of a ReLU call, so each term is the
    Hamming kernel ``N_A - d_H``. Follows ``score_networks.py``/``hooklogdet`` (nas-without-training):
    forward hooks on every module whose class name contains ``ReLU`` (ReLU, ReLU6, LeakyReLU, ...),
    train mode, kernels summed over layers, ``slogdet`` (sign ignored; ``K`` is PSD). Deviations: one
    forward pass instead of the reference's backward-then-forward (its ``visited_backwards`` flag
    only drops ReLUs off the gradient path); K accumulated in float64. A singular ``K`` (e.g. all
    codes equal) gives ``-inf``, as in the reference.

    Raises:
        ValueError: the model has no ReLU module, or none was called on a batch-first tensor.
    """
    net = copy.deepcopy(model).train()
    acts = [m for m in net.modules() if "ReLU" in type(m).__name__]
    if not acts:
        raise ValueError(f"naswot needs ReLU activation modules, but {type(model).__name__} has none "
                         "(functional F.relu and other activations are not hooked)")
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    calls = [0]

    def hook(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        t = inp[0]  # after an in-place ReLU this is its output: same code, relu(a) > 0 iff a > 0
        if t.dim() == 0 or t.shape[0] != n:
            return
        c = (t.detach().reshape(n, -1) > 0).to(torch.float64)
        kernel.add_(c @ c.T + (1.0 - c) @ (1.0 - c).T)
        calls[0] += 1

    handles = [m.register_forward_hook(hook) for m in acts]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    if not calls[0]:
        raise ValueError(f"naswot: no ReLU module of {type(model).__name__} ran on the batch")
    return float(torch.linalg.slogdet(kernel).logabsdet)


def _zico(model: nn.Module, x: torch.Tensor, y: torch.Tensor, macs: MacsArg) -> float:
    """ZiCo: ``sum_l log( sum_theta mean|g_theta| / std(g_theta) )`` over conv/linear weights ``l``.

    Mean and (population) std are over ``ZICO_SPLITS`` equal splits of the batch, each giving the
    gradient ``g`` of its mean cross-entropy; parameters with zero std are skipped and so is a layer
    whose sum is 0 (as ``caculate_zico``), train mode. Deliberate deviation from the official
    ``getzico``: gradients are zeroed between splits (the paper's per-batch gradients); the official
    loop never zeroes them, so its second "batch" gradient is the sum of the first two.

    Raises:
        ValueError: the batch has fewer than ``ZICO_SPLITS`` samples.
    """
    if x.shape[0] < ZICO_SPLITS:
        raise ValueError(f"zico needs a batch of at least {ZICO_SPLITS} samples, got {x.shape[0]}")
    net = _train_copy(model)
    layers = _layers(net)
    grads: list[list[torch.Tensor]] = [[] for _ in layers]
    for xs, ys in zip(torch.tensor_split(x, ZICO_SPLITS), torch.tensor_split(y, ZICO_SPLITS)):
        _backward_ce(net, xs, ys)
        for i, m in enumerate(layers):
            g = m.weight.grad
            grads[i].append(torch.zeros(m.weight.numel(), dtype=torch.float64, device=x.device)
                            if g is None else g.detach().flatten().to(torch.float64))
    score = 0.0
    for per_layer in grads:
        g = torch.stack(per_layer)
        std = g.std(dim=0, unbiased=False)
        nz = std != 0
        total = float((g.abs().mean(dim=0)[nz] / std[nz]).sum())
        if total > 0:
            score += math.log(total)
    return score


_PROXY_FUNCS: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor, MacsArg], float]] = {
    "params": _params, "macs": _macs, "synflow": _synflow, "snip": _snip,
    "grad_norm": _grad_norm, "naswot": _naswot, "zico": _zico,
}


def _check_names(names: Iterable[str]) -> list[str]:
    names = list(names)
    for name in names:
        if name not in _PROXY_FUNCS:
            raise ValueError(f"unknown zero-cost proxy {name!r}; allowed: {', '.join(PROXIES)}")
    return names


def compute_proxy(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, seed: int = 0,
                  macs: MacsArg = None) -> ProxyScore:
    """Compute one zero-cost proxy of ``model`` at its current (initial) weights.

    Args:
        name: One of :data:`PROXIES`.
        model: Any classifier ``nn.Module``; left unchanged (a deep copy is scored).
        x: One minibatch of inputs, on the model's device, batch first.
        y: Integer class labels of ``x`` (used by ``snip``, ``grad_norm`` and ``zico``).
        seed: Seeds torch (in a forked RNG, so the global state is kept) for dropout etc.
        macs: For ``macs`` only: a precomputed MAC count or a callable ``macs(model)``, e.g. from
            ``ghostnas.space.counts.analytic_counts``; by default counted with forward hooks.

    Returns:
        :class:`ProxyScore` with the value (higher = predicted better) and its wall time in seconds.

    Raises:
        ValueError: ``name`` is not a known proxy (or a proxy's own input check fails).
    """
    _check_names([name])
    devices = [x.device.index if x.device.index is not None else torch.cuda.current_device()] \
        if x.device.type == "cuda" else []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        value = _PROXY_FUNCS[name](model, x, y, macs)
    return ProxyScore(name, float(value), time.perf_counter() - start)


def compute_proxies(model: nn.Module, x: torch.Tensor, y: torch.Tensor, names: Iterable[str] = PROXIES,
                    seed: int = 0, *, macs: MacsArg = None) -> dict[str, ProxyScore]:
    """Compute several zero-cost proxies (see :func:`compute_proxy`) on the same minibatch.

    Args:
        model: Any classifier ``nn.Module``; left unchanged.
        x: One minibatch of inputs.
        y: Integer class labels of ``x``.
        names: Proxies to compute, in order; all are checked before any is computed.
        seed: Seed used for every proxy.
        macs: Passed to the ``macs`` proxy (precomputed value or callable).

    Returns:
        ``{name: ProxyScore}`` in the order of ``names``.

    Raises:
        ValueError: an unknown name in ``names``.
    """
    return {n: compute_proxy(n, model, x, y, seed=seed, macs=macs) for n in _check_names(names)}
