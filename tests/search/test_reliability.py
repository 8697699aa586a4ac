"""Reliability with real processes: several workers on one study (PostgreSQL and journal file),
kill -9 in the middle of a trial, failing trials, atomic per-trial files, determinism.

PostgreSQL tests read ``GHOSTNAS_TEST_POSTGRES_URL`` (``.ci/run`` starts a throwaway server).
Locally they skip without it; in CI (``CI=true``) a missing server is a failure, never a skip.
"""
import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ghostnas.search.files import atomic_write_json, read_json_or_none
from ghostnas.search.storage import open_storage
from ghostnas.search.study_config import StudyConfig
from ghostnas.search.study import open_study, run_worker

def ghostnas(*args) -> list[str]:
    return [sys.executable, "-m", "ghostnas.cli", *map(str, args)]


@pytest.fixture
def study_raw(tiny_config):
    """``study_raw(tmp_path, name, storage, n_trials, epochs=1, fraction=0.4, **study)``: a tiny study
    config dict on ``storage``."""
    def make(tmp_path, name, storage, n_trials, epochs=1, fraction=0.4, **study):
        return tiny_config(tmp_path, name=name, fidelity={"epochs": epochs, "fraction": fraction},
                           study={"n_trials": n_trials, "storage": storage, "run_dir": str(tmp_path / "run"),
                                  "threads": 1, **study})
    return make


def load(storage: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(storage, None, heartbeat=False))


def check_exactly_n(study: optuna.Study, n: int, run_dir: Path) -> list:
    """Exactly n COMPLETE trials, nothing RUNNING, every other trial a recorded surplus/stale
    failure, each architecture trained once, and a complete metrics.json for every finished trial."""
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == n, [(t.number, t.state.name, t.user_attrs.get("fail_reason")) for t in trials]
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    for t in trials:
        if t.state == TrialState.FAIL:
            reason = t.user_attrs.get("fail_reason") or ("stale" if any(
                u.user_attrs.get("retry_of") == t.number for u in trials) else "")
            assert reason.startswith(("surplus", "stale")), t.user_attrs
    trained = [t.user_attrs["arch_id"] for t in done if t.user_attrs.get("reused_from") is None]
    assert len(trained) == len(set(trained))
    for t in done:
        m = json.loads((run_dir / "trials" / f"{t.number:05d}" / "metrics.json").read_text())
        assert m["macs"] == t.user_attrs["macs"]
        if t.user_attrs.get("reused_from") is None:
            assert m["val_acc"] == t.values[0]
    for f in run_dir.glob("trials/*/*.json"):  # no half-written file anywhere
        json.loads(f.read_text())
    return done


@pytest.fixture(params=["postgres", "journal"])
def storage_url(request, tmp_path):
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "shared" / "study.journal")


def test_three_worker_processes_reach_exactly_n(tmp_path, storage_url, study_raw, env, pg_password):
    name = f"three-{uuid.uuid4().hex[:8]}"
    n = 5
    raw = study_raw(tmp_path, name, storage_url, n)
    open_study(StudyConfig.from_dict(raw))
    t0 = time.time()
    procs = [subprocess.Popen(ghostnas("worker", "--storage", storage_url, "--study", name, "--index", i,
                                       *(["-v"] if i == 1 else [])),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
             for i in range(1, 4)]
    outs = [p.communicate(timeout=240) for p in procs]
    wall = time.time() - t0
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert "Traceback" not in err
        if "://" in storage_url:
            assert pg_password(storage_url) not in out + err
    study = load(storage_url, name)
    done = check_exactly_n(study, n, tmp_path / "run")
    pids = {t.user_attrs["worker"]["pid"] for t in done}
    assert pids <= {p.pid for p in procs}
    print(f"{storage_url.split(':')[0]}: 3 workers, {n} trials in {wall:.1f}s, "
          f"{len(study.trials)} trials in all, {len(pids)} workers finished trials")


def _wait_running(storage_url, name, pid, proc, timeout=120, min_epochs=1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        try:
            st = load(storage_url, name)
        except Exception:  # noqa: BLE001 - the study may not exist yet
            time.sleep(0.3)
            continue
        for t in st.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.user_attrs.get("worker", {}).get("pid") == pid and len(t.user_attrs.get("curve", [])) >= min_epochs:
                return t
        time.sleep(0.2)
    raise AssertionError("no RUNNING trial appeared")


def test_kill9_worker_postgres_heartbeat_retries_same_params(tmp_path, postgres_url, study_raw, env, pg_password):
    url = postgres_url
    name = f"kill-{uuid.uuid4().hex[:8]}"
    n = 2
    # Slower trials (4 epochs on more data) so the kill lands mid-training; 1 s heartbeat, 3 s grace.
    raw = study_raw(tmp_path, name, url, n, epochs=4, fraction=0.6, heartbeat_interval=1, grace_period=3)
    open_study(StudyConfig.from_dict(raw))
    a = subprocess.Popen(ghostnas("worker", "--storage", url, "--study", name, "--index", 1),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    victim = _wait_running(url, name, a.pid, a)
    a.send_signal(signal.SIGKILL)
    a.communicate()
    t_kill = time.time()
    b = subprocess.Popen(ghostnas("worker", "--storage", url, "--study", name, "--index", 2),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    out, err = b.communicate(timeout=240)
    assert b.returncode == 0, err[-3000:]
    assert pg_password(url) not in out + err
    study = load(url, name)
    done = check_exactly_n(study, n, tmp_path / "run")
    dead = study.trials[victim.number]
    assert dead.state == TrialState.FAIL
    # failed by a worker's reaper (fail_reason recorded) or, in a narrow race, by Optuna's own check
    # inside optimize (trials_frame names the reason from the retry)
    from ghostnas.search.readers import trials_frame
    frame = trials_frame(study).set_index("number")
    assert frame.loc[victim.number, "fail_reason"].startswith("stale: no heartbeat"), dead.user_attrs
    retry = [t for t in done if t.user_attrs.get("retry_of") == victim.number]
    assert len(retry) == 1 and retry[0].params == victim.params
    assert retry[0].system_attrs["failed_trial"] == victim.number
    assert retry[0].user_attrs["curve"] and len(retry[0].user_attrs["curve"]) == 4  # a clean curve
    assert retry[0].user_attrs["worker"]["pid"] == b.pid
    picked_up = retry[0].datetime_start.timestamp() - t_kill
    print(f"postgres kill -9: retry of trial {victim.number} started {picked_up:.1f}s after the kill")
    assert "no heartbeat" in err or "failed by Optuna" in frame.loc[victim.number, "fail_reason"]


def test_kill9_journal_restart_picks_up_and_fail_stale(tmp_path, capsys, caplog, study_raw, env, write_toml):
    journal = tmp_path / "run" / "study.journal"
    name = f"kj-{uuid.uuid4().hex[:8]}"
    n = 2
    cfg = write_toml(tmp_path / "s.toml", study_raw(tmp_path, name, str(journal), n, epochs=4, fraction=0.6))
    a = subprocess.Popen(ghostnas("search", "--config", cfg), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env())
    victim = _wait_running(str(journal), name, a.pid, a)
    a.send_signal(signal.SIGKILL)
    a.communicate()
    t_kill = time.time()
    # Restart the same command: the dead worker's trial is reported, failed and retried.
    r = subprocess.run(ghostnas("search", "--config", cfg), capture_output=True, text=True, env=env(), timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"trial {victim.number} was still RUNNING but its worker (pid {a.pid} on this host) is gone" in r.stderr
    assert "queued a retry with the same parameters" in r.stderr and "Traceback" not in r.stderr
    study = load(str(journal), name)
    done = check_exactly_n(study, n, tmp_path / "run")
    retry = [t for t in done if t.user_attrs.get("retry_of") == victim.number]
    assert len(retry) == 1 and retry[0].params == victim.params
    print(f"journal kill -9: restart finished the study {time.time() - t_kill:.1f}s after the kill")

    # A RUNNING trial whose worker cannot be checked from here (another machine): reported at start,
    # left alone by fail-stale, failed by fail-stale --older-than.
    from ghostnas.cli import main
    st = load(str(journal), name)
    ghost = st.ask()
    ghost.set_user_attr("worker", {"host": "other-machine", "pid": 1, "start": 1, "ns": ""})
    capsys.readouterr()
    assert main(["search", "--config", str(cfg)]) == 0  # already complete: only reports
    assert "1 trial is still RUNNING from a previous run" in caplog.text and "ghostnas fail-stale" in caplog.text
    assert main(["fail-stale", "--storage", str(journal), "--study", name]) == 0
    assert f"left trial #{ghost.number} RUNNING: pid 1 on other-machine" in capsys.readouterr().out
    assert load(str(journal), name).trials[ghost.number].state == TrialState.RUNNING
    assert main(["fail-stale", "--storage", str(journal), "--study", name, "--older-than", "0", "--no-retry"]) == 0
    assert f"failed trial #{ghost.number}: running for" in capsys.readouterr().out
    t = load(str(journal), name).trials[ghost.number]
    assert t.state == TrialState.FAIL and t.user_attrs["fail_reason"].startswith("stale: running for")


def test_fail_stale_fails_dead_worker_trial_before_restart(tmp_path, capsys, study_raw, env):
    """kill -9, then the documented command by hand, then the restart trains the retry."""
    journal = tmp_path / "run" / "study.journal"
    name = f"fs-{uuid.uuid4().hex[:8]}"
    raw = study_raw(tmp_path, name, str(journal), 1, epochs=4, fraction=0.6)
    open_study(StudyConfig.from_dict(raw))
    a = subprocess.Popen(ghostnas("worker", "--storage", journal, "--study", name), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env())
    victim = _wait_running(str(journal), name, a.pid, a)
    a.send_signal(signal.SIGKILL)
    a.communicate()
    from ghostnas.cli import main
    capsys.readouterr()
    assert main(["fail-stale", "--storage", str(journal), "--study", name]) == 0
    out = capsys.readouterr().out
    assert f"failed trial #{victim.number}: its worker (pid {a.pid} on this host) is gone; queued a retry" in out
    st = load(str(journal), name)
    assert st.trials[victim.number].state == TrialState.FAIL
    assert [t.params for t in st.trials if t.state == TrialState.WAITING] == [victim.params]
    # The retry is trained in this process (a worker with the stored config).
    from ghostnas.search.readers import load_stored_config
    study = run_worker(load_stored_config(str(journal), name), worker_index=3, create=False)
    done = check_exactly_n(study, 1, tmp_path / "run")
    assert done[0].params == victim.params and done[0].user_attrs["retry_of"] == victim.number


@pytest.mark.parametrize("exc, reason", [(MemoryError("cannot allocate 12 GB"), "out of memory: MemoryError"),
                                         (RuntimeError("CUDA out of memory. Tried to allocate"), "out of memory"),
                                         (KeyError("boom"), "KeyError: 'boom'")])
def test_trial_that_raises_is_failed_with_reason_and_study_goes_on(tmp_path, monkeypatch, exc, reason, tiny_config):
    import ghostnas.search.objective as study_mod

    real = study_mod.train_proxy
    calls = []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 1:
            raise exc
        return real(*a, **k)

    monkeypatch.setattr(study_mod, "train_proxy", flaky)
    raw = tiny_config(tmp_path, name=f"flaky-{uuid.uuid4().hex[:6]}", study={"n_trials": 2, "storage": "memory"})
    study = run_worker(StudyConfig.from_dict(raw))
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and failed[0].user_attrs["fail_reason"].startswith(reason)
    assert len([t for t in study.trials if t.state == TrialState.COMPLETE]) == 2


def test_atomic_write_leaves_no_half_file(tmp_path, monkeypatch):
    target = tmp_path / "trials" / "00000" / "metrics.json"
    atomic_write_json(target, {"val_acc": 0.5})
    import ghostnas.search.files as files

    # rename fails: the old file stays whole, no temporary file is left behind
    def bad_replace(*a):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(files.os, "replace", bad_replace)
    with pytest.raises(OSError):
        atomic_write_json(target, {"val_acc": 0.9})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"val_acc": 0.5}
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]
    # serialisation fails: nothing is written at all
    monkeypatch.setattr(files.json, "dumps", lambda *a, **k: (_ for _ in ()).throw(ValueError("bad")))
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "new.json", {"x": 1})
    monkeypatch.undo()
    assert not (tmp_path / "new.json").exists()


def test_process_killed_mid_write_leaves_old_file_trusted(tmp_path, env):
    """A real crash (os._exit) after the bytes are written but before the rename."""
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"val_acc": 0.5})
    code = ("import os, ghostnas.search.files as f\n"
            "f.os.fsync = lambda fd: os._exit(9)\n"
            f"f.atomic_write_json({str(target)!r}, {{'val_acc': 0.9, 'pad': 'x' * 100000}})\n")
    r = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True)
    assert r.returncode == 9
    assert read_json_or_none(target) == {"val_acc": 0.5}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "metrics.json"]
    assert all(n.startswith(".metrics.json.") and n.endswith(".tmp") for n in leftovers)
    (tmp_path / "half.json").write_text('{"val_acc": 0.')  # a torn file is never trusted
    assert read_json_or_none(tmp_path / "half.json") is None


def test_cli_same_seed_same_architectures_and_accuracies(tmp_path, capsys, write_toml, tiny_config):
    from ghostnas.cli import main
    import pandas as pd

    frames = []
    for run in ("a", "b"):
        raw = tiny_config(tmp_path / run, name=f"det-cli-{run}-{uuid.uuid4().hex[:6]}",
                          study={"n_trials": 3, "storage": "memory"})
        cfg = write_toml(tmp_path / f"{run}.toml", raw)
        assert main(["search", "--config", str(cfg)]) == 0
        frames.append(pd.read_csv(tmp_path / run / "run" / "trials.csv"))
    capsys.readouterr()
    cols = ["arch_id", "accuracy", "macs"] + [c for c in frames[0].columns if c.startswith("param.")]
    pd.testing.assert_frame_equal(frames[0][cols], frames[1][cols])


def test_postgres_password_never_printed(tmp_path, capsys, caplog, postgres_url, study_raw, env, pg_password,
                                      write_toml):
    url = postgres_url
    secret = pg_password(url)
    name = f"pw-{uuid.uuid4().hex[:8]}"
    cfg = write_toml(tmp_path / "s.toml", study_raw(tmp_path, name, url, 2))
    proc = subprocess.Popen(ghostnas("search", "--config", cfg, "--workers", 2, "-v"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())
    seen_worker = False
    while proc.poll() is None:  # the local worker processes get the URL by environment, not argv (ps)
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                argv = cmdline.read_bytes().decode(errors="replace")
            except OSError:
                continue
            # this study's workers only: other tests running beside this one (xdist) pass URLs in argv on purpose
            if "ghostnas.cli" in argv and "worker" in argv and name in argv:
                seen_worker = True
                assert secret not in argv
        time.sleep(0.2)
    out, err = proc.communicate()
    ok = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert seen_worker
    assert "postgresql+psycopg2://ghostnas:***@" in ok.stdout
    from ghostnas.cli import main
    capsys.readouterr()
    for args in (["results", "--storage", url, "--study", name], ["fail-stale", "--storage", url, "--study", name],
                 ["results", "--storage", url, "--study", "missing"], ["worker", "--storage", url, "--study", name]):
        main(args)
        out, err = capsys.readouterr()
        assert secret not in out + err + caplog.text
    bad = url.replace(secret, secret[::-1])
    r = subprocess.run(ghostnas("worker", "--storage", bad, "--study", name), capture_output=True, text=True,
                       env=env(GHOSTNAS_DEBUG=""), timeout=120)
    assert r.returncode == 2 and "password authentication failed" in r.stderr
    assert secret not in r.stdout + r.stderr and secret[::-1] not in r.stdout + r.stderr
    assert secret not in ok.stdout + ok.stderr


def test_sigterm_fails_the_trial_as_interrupted_and_queues_it_again(tmp_path, study_raw, env):
    journal = tmp_path / "run" / "study.journal"
    name = f"term-{uuid.uuid4().hex[:8]}"
    open_study(StudyConfig.from_dict(study_raw(tmp_path, name, str(journal), 2, epochs=4, fraction=0.6)))
    a = subprocess.Popen(ghostnas("worker", "--storage", journal, "--study", name), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env())
    victim = _wait_running(str(journal), name, a.pid, a)
    a.send_signal(signal.SIGTERM)
    out, err = a.communicate(timeout=60)
    assert a.returncode == 130 and "ghostnas: interrupted" in err and "Traceback" not in err, err
    st = load(str(journal), name)
    t = st.trials[victim.number]
    assert t.state == TrialState.FAIL and t.user_attrs["fail_reason"] == "interrupted (SIGINT/SIGTERM)"
    waiting = [u for u in st.trials if u.state == TrialState.WAITING]
    assert [u.params for u in waiting] == [victim.params] and waiting[0].user_attrs["retry_of"] == victim.number


def test_concurrent_workers_train_a_shared_architecture_once(tmp_path, study_raw, env, tiny_space):
    """A one-point space: every trial is the same architecture. Two workers at once: the later
    trial waits for the earlier one and reuses it instead of training it again."""
    journal = tmp_path / "run" / "study.journal"
    name = f"twin-{uuid.uuid4().hex[:8]}"
    one = json.loads(json.dumps(tiny_space))
    one["global"]["width"] = 0.25
    one["defaults"] = {"ratio": 2, "dw_size": 3, "se_ratio": 0}
    raw = study_raw(tmp_path, name, str(journal), 2, epochs=4, fraction=0.6)
    raw["space"] = one
    open_study(StudyConfig.from_dict(raw))
    procs = [subprocess.Popen(ghostnas("worker", "--storage", journal, "--study", name, "--index", i),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env()) for i in (1, 2)]
    for p in procs:
        assert p.wait(timeout=240) == 0, p.communicate()[1][-2000:]
    done = check_exactly_n(load(str(journal), name), 2, tmp_path / "run")
    assert len({t.user_attrs["arch_id"] for t in done}) == 1
    assert [t.user_attrs.get("reused_from") is None for t in done].count(True) == 1
    first, second = sorted(done, key=lambda t: t.number)
    # overlapping trials: the later one waited for the earlier one (else it simply started later)
    assert "waited_for" in second.user_attrs or second.datetime_start >= first.datetime_complete
    print("twin waited:", "waited_for" in second.user_attrs)
