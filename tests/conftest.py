"""Shared test helpers and fixtures (test modules never import each other, nor this file).

Fixtures: ``rand_bn``, ``one_thread``, ``execute_notebook``, ``tiny_space``, ``tiny_config``,
``write_toml``, ``env``, ``postgres_url``, ``pg_password``; and the CI hook that turns a skip into a
failure unless the test is on :data:`ALLOWED_SKIPS_IN_CI`.
"""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see cli/app.py; must precede torch

import pytest
import torch

# Tests are sized for 2 CPU cores; keep torch from oversubscribing them, also when pytest-xdist runs
# several workers side by side (each then gets its share of the cores).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1) // _WORKERS))

# In CI (CI=true) a skipped test fails the run unless its node id starts with an entry here, each with
# the reason it may skip there.
ALLOWED_SKIPS_IN_CI = {
    # Checks the error for --device cuda on a machine without CUDA; skips where CUDA exists.
    "tests/cli/test_cli_profile.py::test_cli_profile_cuda_unavailable": "needs a machine without CUDA",
}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A whole module skipped at collection (e.g. importorskip) is a failure in CI too."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _in_ci() and not any(report.nodeid.startswith(k) for k in ALLOWED_SKIPS_IN_CI):
        report.outcome = "failed"
        report.longrepr = f"module skipped in CI, which is not allowed: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _in_ci() and not any(item.nodeid.startswith(k) for k in ALLOWED_SKIPS_IN_CI):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped in CI, which is not allowed (tests/conftest.py ALLOWED_SKIPS_IN_CI): {reason}"


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


def run_notebook(path, cwd):
    """Run a jupytext notebook top to bottom in a python3 kernel and check it really ran there.

    Returns the executed code cells and all their text output. Fails on any error output, an
    unexecuted cell, or a kernel that is not this interpreter (the venv).
    """
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


@pytest.fixture
def execute_notebook():
    """The :func:`run_notebook` helper: ``execute_notebook(path, cwd) -> (code cells, text output)``."""
    return run_notebook


TINY_SPACE = {
    "family": "ghostnet", "name": "tiny", "num_classes": 10,
    "global": {"width": [0.25, 0.35], "resolution": 32, "dropout": 0.0},
    "defaults": {"ratio": [2, 3, 4], "dw_size": [3, 1, 5], "se_ratio": ["table", 0]},
    "stages": [{"rows": [[3, 16, 16, 0, 2]]}, {"rows": [[3, 48, 24, 0, 2]]}, {"rows": [[5, 72, 40, 0.25, 2]]},
               {"rows": [[3, 120, 64, 0, 2]]}],
}


def make_tiny_config(tmp_path, **over):
    """A study config dict over :data:`TINY_SPACE` on digits, one epoch: each override (a dict)
    updates its section."""
    raw = {"name": f"t-{tmp_path.name}", "space": TINY_SPACE, "seed": 0, "objectives": ["accuracy", "macs"],
           "data": {"dataset": "digits"},
           "fidelity": {"epochs": 1, "fraction": 0.4, "val_fraction": 0.2, "batch_size": 64, "optimizer": "adamw",
                        "lr": 0.004, "schedule": "onecycle"},
           "study": {"n_trials": 3, "run_dir": str(tmp_path / "run"), "threads": 1}}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(raw.get(k), dict):
            raw[k] = {**raw[k], **v}
        else:
            raw[k] = v
    return raw


# Session-scoped: pure helpers and constant data, usable from module-scoped fixtures too.
@pytest.fixture(scope="session")
def tiny_config():
    """The :func:`make_tiny_config` builder."""
    return make_tiny_config


@pytest.fixture(scope="session")
def tiny_space():
    """:data:`TINY_SPACE` (shared: copy it before changing it)."""
    return TINY_SPACE


# ------------------------------------------------------------------ study configs as TOML files

def toml_value(v) -> str:
    """``v`` (bool, number, string, list or dict) as an inline TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def write_toml_file(path: Path, raw: dict) -> Path:
    """Write the config dict ``raw`` to ``path`` as TOML (one top-level key per line); returns ``path``."""
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in raw.items()))
    return path


@pytest.fixture(scope="session")
def write_toml():
    """The :func:`write_toml_file` helper: ``write_toml(path, raw) -> path``."""
    return write_toml_file


# ------------------------------------------------------------------ subprocesses

def child_env(**extra) -> dict:
    """This environment for a ``ghostnas`` child process: one thread, unbuffered, no GHOSTNAS_DEBUG,
    plus ``extra``."""
    e = dict(os.environ)
    e.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    e.pop("GHOSTNAS_DEBUG", None)
    e.update({k: str(v) for k, v in extra.items()})
    return e


@pytest.fixture(scope="session")
def env():
    """The :func:`child_env` helper: ``env(**extra) -> dict`` for ``subprocess`` calls."""
    return child_env


# ------------------------------------------------------------------ PostgreSQL

PG_ENV = "GHOSTNAS_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_url() -> str:
    """The test server's URL from ``GHOSTNAS_TEST_POSTGRES_URL`` (``.ci/run`` starts a throwaway one).

    Without it the test skips locally; in CI (``CI=true``) it fails: CI must run the PostgreSQL
    tests. Tests that need the server only in some cases call ``request.getfixturevalue("postgres_url")``.
    """
    url = os.environ.get(PG_ENV)
    if not url:
        if _in_ci():
            pytest.fail(f"{PG_ENV} is not set but CI=true: CI must run the PostgreSQL tests (.ci/run starts "
                        "the server); refusing to skip")
        pytest.skip(f"{PG_ENV} not set (run .ci/run, which starts a throwaway PostgreSQL server)")
    return url


def url_password(url: str) -> str:
    """The password in ``scheme://user:password@host/...``."""
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


@pytest.fixture(scope="session")
def pg_password():
    """The :func:`url_password` helper: ``pg_password(url) -> password``."""
    return url_password


# The tiny fidelity ladder (2-stage Ghost space, 4 architectures, digits, rungs 1 and 2 epochs, top rung
# at 2 seeds) used by the ladder, fidelity-report and fidelity-CLI tests. They pass the same run cache
# (pytest's session folder), so in one session it is trained once.
LADDER_SPACE_TOML = """
family = "ghostnet"
num_classes = 10
[global]
width = 0.5
resolution = 16
dropout = 0.0
[defaults]
ratio = [2, 3]
dw_size = [1, 3]
se_ratio = 0
kernel = "table"
[[stages]]
rows = [[3, 16, 16, 0, 1]]
[[stages]]
rows = [[3, 48, 24, 0, 2]]
"""

LADDER_TOML = """
name = "tiny"
space = "{space}"
n_archs = 4
[data]
dataset = "digits"
[fidelity]
val_size = 100
batch_size = 32
optimizer = "adamw"
lr = 0.01
schedule = "onecycle"
[ladder]
epochs = [1, 2]
fraction = 0.3
seeds = [0]
top_seeds = [0, 1]
[proxies]
batch_size = 16
[run]
threads = 1
[output]
runs_dir = "{runs}"
"""


def _write_tiny_ladder(folder: Path, runs: Path) -> Path:
    """The tiny ladder's space and config files in ``folder``; returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.toml").write_text(LADDER_SPACE_TOML)
    path = folder / "tiny_ladder.toml"
    path.write_text(LADDER_TOML.format(space=folder / "tiny.toml", runs=runs))
    return path


@pytest.fixture(scope="session")
def write_tiny_ladder():
    """``write_tiny_ladder(folder, runs)`` writes the tiny ladder's space and config; returns the config path."""
    return _write_tiny_ladder
