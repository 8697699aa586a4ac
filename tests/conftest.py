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


def execute_notebook(path, cwd):
    """Run a jupytext notebook top to bottom in a python3 kernel and check it really ran there.

    Returns the executed code cells and all their text output. Fails on any error output, an
    unexecuted cell, or a kernel that is not this interpreter (the venv).
    """
    import sys
    from pathlib import Path

    import jupytext
    import nbclient
    import nbformat

    nb = jupytext.read(path)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('KERNEL', sys.executable)"))
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code)
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for c in code for o in c.get("outputs", []))
    kernel_exe = text.split("KERNEL ")[1].split()[0]
    assert Path(kernel_exe).resolve() == Path(sys.executable).resolve()
    return code, text
