"""Repository-level checks: the layering contract, no machine paths in tracked files, test modules
that stand alone, and a wheel that works outside the repository."""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ghostnet", "space", "search", "analysis", "cli")  # lowest layer first


def _package_tree(tmp_path: Path) -> Path:
    """A folder holding ``ghostnas/<pkg>`` links to the repository's packages: the import graph
    of exactly the source tree, whatever is installed."""
    root = tmp_path / "tree"
    (root / "ghostnas").mkdir(parents=True)
    (root / "ghostnas" / "__init__.py").write_text("")
    for pkg in PACKAGES:
        (root / "ghostnas" / pkg).symlink_to(REPO / pkg)
    return root


def test_import_linter_layers_contract_is_kept(tmp_path):
    root = _package_tree(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(root)}
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe), "--no-cache", "--config", str(REPO / "pyproject.toml")], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0 and "1 kept, 0 broken" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]


def _imports(path: Path) -> list[str]:
    """Absolute module names a file imports (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = ["ghostnas", *path.relative_to(REPO).parent.parts]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[:len(pkg) - node.level + 1]
                out.append(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                out.append(node.module)
    return out


def test_layers_by_parsing_imports():
    """The same contract checked without import-linter: catches lazy imports inside functions too."""
    bad = []
    for rank, pkg in enumerate(PACKAGES):
        higher = PACKAGES[rank + 1:]
        for f in (REPO / pkg).rglob("*.py"):
            for mod in _imports(f):
                parts = mod.split(".")
                if parts[0] == "ghostnas" and len(parts) > 1 and parts[1] in higher:
                    bad.append(f"{f.relative_to(REPO)} imports {mod}")
    assert not bad, "\n".join(bad)


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    files = []
    for name in out.decode().split("\0"):
        p = REPO / name
        if not name or not p.is_file() or p.suffix in (".png", ".pt", ".npz", ".pdf", ".ipynb"):
            continue
        try:
            files.append((p, p.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            continue
    return files


def test_no_machine_paths_in_tracked_files():
    pattern = re.compile(r"(?<![A-Za-z0-9_.~-])/(?:work|root|tmp|home|Users)/[A-Za-z0-9_.-]")
    allowed = {".ci/run", ".ci/postgres.sh", "tests/test_repository.py"}  # CI scripts may name /tmp
    hits = []
    for p, text in _tracked_text_files():
        rel = str(p.relative_to(REPO))
        if rel in allowed:
            continue
        for i, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{rel}:{i}: {line.strip()[:120]}")
    assert not hits, "absolute machine paths in tracked files:\n" + "\n".join(hits[:40])


def test_no_test_module_imports_another():
    tests = {p.stem for p in (REPO / "tests").rglob("test_*.py")}
    bad = []
    for f in (REPO / "tests").rglob("*.py"):
        for mod in _imports(f):
            if mod.split(".")[0] in tests or mod.startswith("tests.") or mod == "conftest":
                bad.append(f"{f.relative_to(REPO)} imports {mod}")
    assert not bad, "\n".join(bad)


# Modules known to be over the limit, each still to be split (issue 10 stays open until this is empty).
OVERSIZED: dict[str, str] = {}


def test_no_library_module_is_too_long():
    long = [f"{p.relative_to(REPO)}: {n}" for pkg in PACKAGES for p in (REPO / pkg).glob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 460
            and str(p.relative_to(REPO)) not in OVERSIZED]
    assert not long, long


def test_no_library_function_is_too_long():
    # Docstrings included; a function past 100 lines wants named steps (see the restructure notes).
    import ast

    long = [f"{p.relative_to(REPO)}: {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for pkg in PACKAGES for p in (REPO / pkg).glob("*.py")
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 100]
    assert not long, long


@pytest.fixture(scope="module")
def wheel_tree(tmp_path_factory) -> Path:
    """The project's wheel, built from this checkout and unpacked into a folder of its own."""
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy of the checkout's files (tracked and not ignored): a build/ folder left in the
    # checkout by an earlier build could otherwise ship modules that no longer exist.
    src = out / "src"
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(src)], check=True, capture_output=True, cwd=out)
    (whl,) = out.glob("ghostnas-*.whl")
    site = out / "site"
    with zipfile.ZipFile(whl) as z:
        z.extractall(site)
    return site


# Run the CLI from the unpacked wheel only: the editable install of this checkout is taken off the path.
_RUN_FROM_WHEEL = (
    "import runpy, sys\n"
    "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
    "sys.path[:] = [p for p in sys.path if '__editable__' not in p]\n"
    "import ghostnas.space\n"
    "assert ghostnas.space.__file__.startswith(sys.argv[1]), ghostnas.space.__file__\n"
    "sys.argv = ['ghostnas'] + sys.argv[2:]\n"
    "runpy.run_module('ghostnas.cli', run_name='__main__')\n")


def _ghostnas_from_wheel(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", _RUN_FROM_WHEEL, str(site), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_wheel_ships_spaces_and_configs(wheel_tree):
    shipped = {p.relative_to(wheel_tree).as_posix() for p in wheel_tree.rglob("*.toml")}
    for name in ("ghostnet", "ghostnet_cifar", "ghost_vgg16_cifar", "ghost_resnet56_cifar"):
        assert f"ghostnas/space/spaces/{name}.toml" in shipped
    for name in ("quickstart", "vgg16_ratio", "vgg16_kernel", "resnet56_ratio", "resnet56_kernel"):
        assert f"ghostnas/search/configs/{name}.toml" in shipped


def test_wheel_commands_by_name_outside_the_repository(wheel_tree, tmp_path):
    r = _ghostnas_from_wheel(wheel_tree, tmp_path, "space", "show", "ghostnet")
    assert r.returncode == 0, r.stderr
    assert "space ghostnet" in r.stdout and "width" in r.stdout

    r = _ghostnas_from_wheel(wheel_tree, tmp_path, "search", "--config", "quickstart", "--set", "study.n_trials=2",
                             "--set", "fidelity.epochs=1", "--set", "fidelity.eval_every=1")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "runs" / "quickstart" / "study.journal").is_file()
    assert "2 finished trials" in r.stdout

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tiny.npz", x=rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8),
             y=np.repeat(np.arange(10), 6))
    r = _ghostnas_from_wheel(wheel_tree, tmp_path, "ablate", "--config", "vgg16_ratio", "--set",
                             "data.dataset=npz:tiny.npz", "--set", "values=[2]", "--set", "seeds=[0]",
                             "--set", "baseline=false", "--set", "fidelities.cpu-proxy.epochs=1",
                             "--set", "fidelities.cpu-proxy.width=0.125", "--set", "fidelities.cpu-proxy.val_size=20",
                             "--set", "fidelities.cpu-proxy.fraction=1.0", "--set", "fidelities.cpu-proxy.batch_size=8",
                             "--set", "output.dir=out", "--set", "output.runs_dir=out/runs", "--no-latency")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "table.md").is_file()
    assert "s=2 d=3" in (tmp_path / "out" / "table.md").read_text()
