"""The bad-input catalogue: every case must end with exit status 2, exactly one stderr line
``ghostnas: error: <message naming the problem>``, no traceback, and an existing study storage
left byte-for-byte untouched."""
import copy
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ghostnas.cli import main
from ghostnas.search.study_config import StudyConfig
from ghostnas.search.study import run_worker

BASE = "base"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, tiny_config, tiny_space, write_toml, pg_password):
    """An existing finished study in a journal file, plus bad files to feed the CLI."""
    d = tmp_path_factory.mktemp("bad")
    raw = tiny_config(d, name=BASE, study={"n_trials": 1, "run_dir": str(d / "run"), "threads": 1})
    run_worker(StudyConfig.from_dict(raw))
    journal = d / "run" / "study.journal"
    np.savez(d / "labels10.npz", x=np.zeros((20, 8, 8), np.uint8), y=np.arange(20) % 11, num_classes=10)
    np.savez(d / "negative.npz", x=np.zeros((20, 8, 8), np.uint8), y=np.arange(20) % 10 - 1)
    np.savez(d / "noy.npz", x=np.zeros((20, 8, 8), np.uint8))
    (d / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    (d / "bad.toml").write_text('name = "x"\n[study\nn_trials = 3\n')
    (d / "latin1.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    from ghostnas.ghostnet import create_model
    torch.save(create_model("resnet56_cifar").state_dict(), d / "resnet56.pt")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    torch.save({"state_dict": Evil()}, d / "evil.pt")
    (d / "torn.pt").write_bytes((d / "resnet56.pt").read_bytes()[:1000])
    (d / "file").write_text("a regular file, so nothing can be created under it\n")

    def cfg(case, **over):
        r = tiny_config(d, **over)
        r.setdefault("name", f"new-{case}")
        r["study"] = {"n_trials": 1, "storage": str(journal), "run_dir": str(d / "run"), "threads": 1,
                      **over.get("study", {})}
        return str(write_toml(d / f"{case}.toml", r))

    return {"d": d, "journal": str(journal), "run": d / "run", "cfg": cfg, "tiny_space": tiny_space,
            "pg_password": pg_password}


def with_postgres(ctx, request):
    """``ctx`` plus ``postgres_url()``, which requests the fixture only when a case calls it: only
    those cases skip (locally) or fail (CI) without a server."""
    return {**ctx, "postgres_url": lambda: request.getfixturevalue("postgres_url")}


def space(c, **patch):
    s = copy.deepcopy(c["tiny_space"])
    for section, kv in patch.items():
        s[section].update(kv)
    return s


SIM = ["--layer", "conv1", "--data", "digits", "--n", "8"]
CASES = [
    # --- config files -------------------------------------------------------------------------
    ("config-missing", lambda c: ["search", "--config", str(c["d"] / "nope.toml")], r"config '.*nope.toml' not found"),
    ("toml-malformed", lambda c: ["search", "--config", str(c["d"] / "bad.toml")], r"is not valid TOML: .*line 2"),
    ("toml-not-utf8", lambda c: ["search", "--config", str(c["d"] / "latin1.toml")], r"is not UTF-8 text"),
    ("unknown-top-key", lambda c: ["search", "--config", c["cfg"]("topkey", colour="red")],
     r"unknown key\(s\) in the study config: colour"),
    ("unknown-study-key", lambda c: ["search", "--config", c["cfg"]("studykey", study={"n_trails": 3})],
     r"unknown key\(s\) in \[study\]: n_trails"),
    ("unknown-fidelity-key", lambda c: ["search", "--config", c["cfg"]("fidkey", fidelity={"epoch": 3})],
     r"unknown fidelity key\(s\) epoch"),
    ("unknown-data-key", lambda c: ["search", "--config", c["cfg"]("datakey", data={"dataset": "digits", "root": "/x"})],
     r"unknown key\(s\) in \[data\]: root"),
    ("set-without-value", lambda c: ["search", "--config", c["cfg"]("setkv"), "--set", "study.n_trials"],
     r"--set 'study.n_trials': expected KEY=VALUE"),
    ("missing-required-arg", lambda c: ["search"], r"the following arguments are required: --config"),
    # --- numbers --------------------------------------------------------------------------------
    ("zero-epochs", lambda c: ["search", "--config", c["cfg"]("ep0", fidelity={"epochs": 0})],
     r"fidelity.epochs: 0 is not allowed; expected an integer >= 1"),
    ("negative-epochs", lambda c: ["search", "--config", c["cfg"]("epneg", fidelity={"epochs": -3})],
     r"fidelity.epochs: -3 is not allowed"),
    ("zero-trials", lambda c: ["search", "--config", c["cfg"]("tr0"), "--set", "study.n_trials=0"],
     r"\[study\] n_trials = 0 is not allowed"),
    ("negative-trials", lambda c: ["search", "--config", c["cfg"]("trneg"), "--set", "study.n_trials=-5"],
     r"\[study\] n_trials = -5 is not allowed"),
    ("zero-workers", lambda c: ["search", "--config", c["cfg"]("w0"), "--workers", "0"], r"--workers 0 is not allowed"),
    ("train-zero-epochs", lambda c: ["train", "--arch", "ghost_resnet56_cifar", "--set", "epochs=0",
                                     "--out", str(c["d"] / "t")], r"fidelity.epochs: 0 is not allowed"),
    ("negative-budget", lambda c: ["search", "--config", c["cfg"]("budget", constraints={"macs_max": -1})],
     r"\[constraints\] macs_max = -1 is not allowed"),
    ("zero-heartbeat", lambda c: ["search", "--config", c["cfg"]("hb0", study={"heartbeat_interval": 0})],
     r"\[study\] heartbeat_interval = 0 is not allowed"),
    ("zero-failures-allowed", lambda c: ["search", "--config", c["cfg"]("mf0"),
                                         "--set", "study.max_consecutive_failures=0"],
     r"\[study\] max_consecutive_failures = 0 is not allowed; expected an integer >= 1"),
    ("seed-not-int", lambda c: ["search", "--config", c["cfg"]("seed", seed="abc")], r"seed = 'abc' is not allowed"),
    # --- names ----------------------------------------------------------------------------------
    ("unknown-space", lambda c: ["search", "--config", c["cfg"]("space", space="ghostnet_v9")],
     r"unknown space 'ghostnet_v9'; shipped: "),
    ("unknown-dataset", lambda c: ["search", "--config", c["cfg"]("ds", data={"dataset": "imagenet5"})],
     r"unknown dataset 'imagenet5'; choose from digits"),
    ("unknown-sampler", lambda c: ["search", "--config", c["cfg"]("sampler", sampler={"name": "tpee"})],
     r"unknown sampler 'tpee'; choose from tpe"),
    ("bad-sampler-option", lambda c: ["search", "--config", c["cfg"]("sopt", sampler={"name": "tpe", "bogus": 1})],
     r"sampler 'tpe': bad option: .*bogus"),
    ("unknown-pruner", lambda c: ["search", "--config", c["cfg"]("pruner", pruner={"name": "sha"})],
     r"unknown pruner 'sha'"),
    ("unknown-objective", lambda c: ["search", "--config", c["cfg"]("obj", objectives=["accuracy", "flops"])],
     r"unknown objective 'flops'"),
    ("pruner-multi-objective", lambda c: ["search", "--config", c["cfg"]("pmo", pruner={"name": "median"})],
     r"pruner 'median' cannot be used with 2 objectives"),
    ("unknown-model-train", lambda c: ["train", "--arch", "ghostnet_999", "--out", str(c["d"] / "t")],
     r"--arch 'ghostnet_999' is neither an architecture JSON file nor a registry model"),
    ("unknown-model-similarity", lambda c: ["similarity", "--model", "ghostnet_999", *SIM, "--out", str(c["d"] / "s")],
     r"unknown model 'ghostnet_999'"),
    ("unknown-model-profile", lambda c: ["profile", "ghostnet_999", "--no-latency"], r"unknown model 'ghostnet_999'"),
    ("unknown-dataset-train", lambda c: ["train", "--arch", "ghost_resnet56_cifar", "--data", "mnist3",
                                         "--out", str(c["d"] / "t")], r"unknown dataset 'mnist3'"),
    # --- search-space axes ------------------------------------------------------------------------
    ("axis-negative-width", lambda c: ["search", "--config", c["cfg"]("ax1", space=space(c, **{"global": {"width": [-1]}}))],
     r"axis width: value -1 is not allowed"),
    ("axis-zero-ratio", lambda c: ["search", "--config", c["cfg"]("ax2", space=space(c, defaults={"ratio": [0, 2]}))],
     r"axis stage0.ratio: value 0 is not allowed"),
    ("axis-even-kernel", lambda c: ["search", "--config", c["cfg"]("ax3", space=space(c, defaults={"dw_size": [2]}))],
     r"axis stage0.dw_size: value 2 is not allowed; expected an odd integer"),
    # --- data files ---------------------------------------------------------------------------------
    ("npz-missing", lambda c: ["search", "--config", c["cfg"]("npz1", data={"dataset": f"npz:{c['d']}/gone.npz"})],
     r"dataset npz:.*gone.npz: file not found"),
    ("npz-corrupt", lambda c: ["search", "--config", c["cfg"]("npz2", data={"dataset": f"npz:{c['d']}/corrupt.npz"})],
     r"corrupt.npz: not a readable .npz file"),
    ("npz-no-labels", lambda c: ["search", "--config", c["cfg"]("npz3", data={"dataset": f"npz:{c['d']}/noy.npz"})],
     r"needs arrays 'x' and 'y'"),
    ("labels-too-large", lambda c: ["search", "--config", c["cfg"]("npz4", data={"dataset": f"npz:{c['d']}/labels10.npz"})],
     r"labels out of range: found 0..10, expected 0..9"),
    ("labels-negative", lambda c: ["train", "--arch", "ghost_resnet56_cifar", "--data", f"npz:{c['d']}/negative.npz",
                                   "--out", str(c["d"] / "t")], r"labels out of range: found -1\.\.8"),
    # --- storages and studies -----------------------------------------------------------------------------
    ("storage-unreachable", lambda c: ["worker", "--storage", "postgresql+psycopg2://ghostnas:hunter2@127.0.0.1:1/ghostnas",
                                       "--study", BASE], r"cannot open storage postgresql\+psycopg2://ghostnas:\*\*\*@127.0.0.1:1/ghostnas: .*refused"),
    ("storage-wrong-password", lambda c: ["results", "--storage", c["postgres_url"]().replace(c["pg_password"](c["postgres_url"]()), "wrong-pass"),
                                          "--study", BASE], r"cannot open storage .*:\*\*\*@.*password authentication failed"),
    ("storage-journal-missing", lambda c: ["worker", "--storage", str(c["d"] / "typo.journal"), "--study", BASE],
     r"storage '.*typo.journal' not found"),
    ("storage-folder-uncreatable", lambda c: ["search", "--config", c["cfg"]("st", study={"storage": str(c["d"] / "file" / "s.journal")})],
     r"storage folder '.*file' cannot be created \('.*file' is a file, not a folder\)"),
    ("study-not-found-worker", lambda c: ["worker", "--storage", c["journal"], "--study", "bsae"],
     r"study 'bsae' not found in .*; studies there: base"),
    ("study-not-found-results", lambda c: ["results", "--storage", c["journal"], "--study", "bsae"],
     r"study 'bsae' not found in .*; studies there: base"),
    ("study-not-found-fail-stale", lambda c: ["fail-stale", "--storage", c["journal"], "--study", "bsae"],
     r"study 'bsae' not found"),
    ("trial-not-found-export", lambda c: ["export", "--storage", c["journal"], "--study", BASE, "--trial", "99",
                                          "--out", str(c["d"] / "a.json")], r"trial 99 not found in study 'base'"),
    ("resume-other-objectives", lambda c: ["search", "--config", c["cfg"]("ro", name=BASE, objectives=["accuracy", "params"])],
     r"study 'base' already exists with objectives \['accuracy', 'macs'\]"),
    ("resume-other-space", lambda c: ["search", "--config", c["cfg"]("rs", name=BASE, space=space(c, **{"global": {"width": [0.5]}}))],
     r"study 'base' already exists with a different search space"),
    ("memory-with-workers", lambda c: ["search", "--config", c["cfg"]("mem", study={"storage": "memory"}), "--workers", "2"],
     r"--workers > 1 needs a shared storage"),
    # --- checkpoints ------------------------------------------------------------------------------------
    ("checkpoint-other-arch", lambda c: ["similarity", "--model", "ghost_resnet56_cifar", "--weights", str(c["d"] / "resnet56.pt"),
                                         *SIM, "--out", str(c["d"] / "s")], r"resnet56.pt' is for another architecture: \d+ missing key"),
    ("checkpoint-arbitrary-objects", lambda c: ["similarity", "--model", "ghost_resnet56_cifar", "--weights", str(c["d"] / "evil.pt"),
                                                *SIM, "--out", str(c["d"] / "s")], r"evil.pt' refused: it needs unpickling arbitrary objects"),
    ("checkpoint-truncated", lambda c: ["similarity", "--model", "resnet56_cifar", "--weights", str(c["d"] / "torn.pt"),
                                        *SIM, "--out", str(c["d"] / "s")], r"torn.pt' is not a readable torch file"),
    ("checkpoint-missing", lambda c: ["similarity", "--model", "resnet56_cifar", "--weights", str(c["d"] / "none.pt"),
                                      *SIM, "--out", str(c["d"] / "s")], r"none.pt' does not exist"),
    # --- output folders ------------------------------------------------------------------------------------
    ("out-under-a-file", lambda c: ["train", "--arch", "ghost_resnet56_cifar", "--out", str(c["d"] / "file" / "out")],
     r"output folder '.*file/out' cannot be created \('.*file' is a file, not a folder\)"),
    ("out-in-proc", lambda c: ["train", "--arch", "ghost_resnet56_cifar", "--out", "/proc/ghostnas-out"],
     r"output folder '/proc/ghostnas-out' cannot be created"),
    ("run-dir-not-creatable", lambda c: ["search", "--config", c["cfg"]("rd", study={"run_dir": str(c["d"] / "file" / "run")})],
     r"run folder '.*file/run' cannot be created"),
    ("export-out-not-writable", lambda c: ["export", "--storage", c["journal"], "--study", BASE, "--trial", "0",
                                           "--out", str(c["d"] / "file" / "arch.json")], r"output folder .* cannot be created"),
]
assert len(CASES) >= 30


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix != ".png"}


def _check(rc, out, err, pattern, secret=None):
    assert rc == 2, (rc, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ghostnas: error: "), err
    assert "Traceback" not in out + err
    assert re.search(pattern, lines[0]), (pattern, lines[0])
    if secret:
        assert secret not in out + err


@pytest.mark.parametrize("name, argv, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input(name, argv, pattern, ctx, capsys, monkeypatch, request):
    monkeypatch.delenv("GHOSTNAS_DEBUG", raising=False)
    c = with_postgres(ctx, request)
    args = argv(c)
    before = _digest(ctx["run"])
    capsys.readouterr()
    try:
        rc = main(args)
    except SystemExit as e:  # argparse
        rc = e.code
    out, err = capsys.readouterr()
    _check(rc, out, err, pattern, "hunter2")
    if "://" in " ".join(args) and "postgres" in name:
        assert ctx["pg_password"](c["postgres_url"]()) not in out + err
    assert _digest(ctx["run"]) == before, "the existing study's files changed"


@pytest.mark.parametrize("name", ["toml-malformed", "storage-unreachable", "checkpoint-arbitrary-objects",
                                  "labels-too-large"])
def test_bad_input_in_a_real_process(name, ctx, env, request):
    _, argv, pattern = next(c for c in CASES if c[0] == name)
    before = _digest(ctx["run"])
    args = argv(with_postgres(ctx, request))
    r = subprocess.run([sys.executable, "-m", "ghostnas.cli", *args], capture_output=True, text=True,
                       env=env(), timeout=120)
    _check(r.returncode, r.stdout, r.stderr, pattern, "hunter2")
    assert "pwned" not in r.stdout + r.stderr
    assert _digest(ctx["run"]) == before
