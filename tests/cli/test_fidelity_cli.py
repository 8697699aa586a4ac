"""``ghostnas fidelity``: kill-and-resume in a subprocess, bad configs, the printed summary.

Uses the tiny ladder of tests/search/test_ladder.py; the clean reference run shares its run cache
(pytest's session folder), the killed run has a cache of its own.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ghostnas.analysis.fidelity import run_fidelity
from ghostnas.cli import main

@pytest.fixture(scope="module")
def tiny(tmp_path_factory, write_tiny_ladder):
    return write_tiny_ladder(tmp_path_factory.mktemp("cli"), tmp_path_factory.getbasetemp() / "tiny_ladder_runs")


def _stats(summary: dict) -> dict:
    """The summary without timings and the command line: what must not depend on how it was run."""
    def strip(d):
        return {k: v for k, v in d.items() if "seconds" not in k}
    return {"rungs": [strip(r) for r in summary["rungs"]], "noise_ceiling": summary["noise_ceiling"],
            "proxies": [{k: p[k] for k in ("name", "kendall_tau", "kendall_ci95", "spearman_rho")}
                        for p in summary["proxies"]],
            **{k: summary[k] for k in ("arch_ids", "val_size", "val_resolution_95", "n_archs", "seeds", "dataset")}}


def test_killed_run_resumes_reusing_its_records(tiny, tmp_path, capsys):
    runs, out = tmp_path / "runs", tmp_path / "out"
    args = ["fidelity", "--config", str(tiny), "--set", f"output.runs_dir={runs}", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ghostnas.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(runs.glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the ladder finished before it could be killed"
    kept = {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in runs.glob("*.json")}
    assert 1 <= len(kept) < 12 and not (out / "summary.json").exists()
    assert all(json.loads(b)["val_acc"] is not None for _, b in kept.values())  # whole records only

    assert main(args) == 0  # resume (in process): finishes, retrains nothing it has
    printed = capsys.readouterr().out
    assert "Kendall tau" in printed and "noise ceiling" in printed and str(out / "fidelity.png") in printed
    assert len(list(runs.glob("*.json"))) == 12
    assert {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in kept} == kept

    resumed = json.loads((out / "summary.json").read_text())
    clean = run_fidelity(tiny, out=tmp_path / "clean").summary  # the shared cache: a run that was never killed
    assert _stats(resumed) == _stats(clean)
    assert resumed["command"].startswith(f"ghostnas fidelity --config {tiny} --set")


@pytest.mark.parametrize("argv, message", [
    (["--config", "no_such_ladder"], "unknown config 'no_such_ladder'"),
    (["--config", "fidelity_quickstart", "--set", "ladder.epochs=[4, 2]"], "rungs must grow in budget"),
    (["--config", "fidelity_quickstart", "--set", "ladder.speed=2"], "unknown key(s) in [ladder]: speed"),
    (["--config", "fidelity_quickstart", "--set", "n_archs=two"], "n_archs must be an integer >= 3"),
    (["--config", "fidelity_quickstart", "--set", "data.dataset=nope"], "unknown dataset 'nope'"),
    (["--config", "fidelity_quickstart", "--set", "noequals"], "expected KEY=VALUE"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    assert main(["fidelity", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ghostnas: error: ") and message in err and err.count("\n") == 1


def test_report_only_on_an_empty_cache_fails_cleanly(tiny, tmp_path, capsys):
    assert main(["fidelity", "--config", str(tiny), "--set", f"output.runs_dir={tmp_path}", "--out",
                 str(tmp_path / "o"), "--report-only"]) == 2
    assert "is incomplete: 12 of 12 runs are missing" in capsys.readouterr().err


def test_shipped_configs_are_valid():
    from ghostnas.search.ladder import load_ladder_config

    q = load_ladder_config("fidelity_quickstart")
    assert [r.epochs for r in q.rungs] == [1, 2, 3, 6, 12] and q.n_archs == 24 and q.top_seeds == (0, 1)
    assert q.space_label == "ghostnet_cifar" and q.data["dataset"] == "digits"
    v = load_ladder_config("fidelity_vgg16_cifar10", ["data.dataset=npz:../shared/data/cifar10/train.npz"])
    assert [r.epochs for r in v.rungs] == [1, 2, 4, 8, 16] and v.n_archs == 16 and v.top_seeds == (0, 1)
    assert v.recipe["val_size"] == 2000 and load_ladder_config("fidelity_vgg16_cifar10").data["dataset"] == "cifar10"
    archs = v.architectures(10)
    assert len({a.id for a in archs}) == 16 and {a.model.width for a in archs} == {0.25}
    assert len({a.model.ratios for a in archs}) == 16  # s drawn per layer
