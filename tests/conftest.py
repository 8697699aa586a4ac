import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see search/cli.py; must precede torch

import pytest
import torch

# Tests are sized for 2 CPU cores; keep torch from oversubscribing them.
torch.set_num_threads(min(2, os.cpu_count() or 1))


def randomize_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BatchNorm non-trivial running stats and affine params (eval mode then matters)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model


@pytest.fixture
def rand_bn():
    return randomize_bn


@pytest.fixture
def one_thread():
    """Run a test on one torch thread. On 2 shared cores, 2-thread OpenMP regions can spin-wait
    behind other jobs and run 100x slower; tests that check values, not speed, use this."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)
