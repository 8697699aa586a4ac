"""MO-ASHA early stopping (ghostnas.search.early_stop): the promotion rule on hand-made rung tables, the
config checks, the rule against a storage, and a journal study with two worker processes and a worker
killed with kill -9 whose recorded rung point later decisions still use."""
import json
import signal
import subprocess
import sys
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from ghostnas.search.config import ConfigError
from ghostnas.search.early_stop import (MOASHA, check_early_stopping, decide, nondominated_ranks, priority_order,
                                        rung_epochs)
from ghostnas.search.readers import trials_frame
from ghostnas.search.storage import open_storage
from ghostnas.search.study import open_study, run_worker
from ghostnas.search.study_config import StudyConfig
from ghostnas.search.train import Fidelity


# ------------------------------------------------------------------ the rule, pure

@pytest.mark.parametrize("min_epochs, eta, epochs, rungs", [(1, 3, 3, [1]), (1, 3, 9, [1, 3]), (1, 3, 10, [1, 3, 9]),
                                                            (1, 2, 8, [1, 2, 4]), (2, 3, 20, [2, 6, 18]),
                                                            (3, 3, 3, [])])
def test_rung_epochs(min_epochs, eta, epochs, rungs):
    assert rung_epochs(min_epochs, eta, epochs) == rungs


def test_nondominated_ranks_known_fronts():
    # (loss = -accuracy, macs): a front of three, then two dominated once, then one dominated twice
    pts = [(-0.9, 5.0), (-0.8, 3.0), (-0.5, 1.0), (-0.85, 6.0), (-0.7, 3.5), (-0.6, 7.0)]
    assert nondominated_ranks(pts) == [0, 0, 0, 1, 1, 2]
    assert nondominated_ranks([(1.0, 1.0), (1.0, 1.0)]) == [0, 0]  # equal points do not dominate each other
    assert nondominated_ranks([(0.0,), (2.0,), (1.0,)]) == [0, 2, 1]  # one objective: a plain sort


def test_priority_order_fronts_then_epsilon_net():
    # front 0: most accurate first, then the farthest from it (the cheapest), then the middle one
    pts = [(-0.5, 1.0), (-0.8, 3.0), (-0.9, 5.0), (-0.6, 7.0)]
    assert priority_order(pts, seed_dim=0) == [2, 0, 1, 3]
    # ties in distance go to the lower index; an accuracy tie to the lower index as well
    assert priority_order([(-0.9, 1.0), (-0.9, 1.0)]) == [0, 1]


def test_first_point_at_a_rung_continues():
    d = decide([], (-0.1, 9.0), eta=3, rung=1)
    assert (d.n, d.position, d.keep, d.promote) == (1, 0, 1, True)


@pytest.mark.parametrize("eta, n, keep", [(3, 2, 1), (3, 3, 1), (3, 4, 2), (3, 6, 2), (3, 7, 3), (2, 2, 1),
                                          (2, 3, 2), (2, 4, 2), (2, 5, 3)])
def test_keep_is_ceil_n_over_eta(eta, n, keep):
    # a chain where each point dominates the next: positions are the chain order
    table = [(-1.0 + 0.1 * i, 1.0 + i) for i in range(n - 1)]
    for pos in range(n):
        new = (-1.0 + 0.1 * pos - 0.05, 1.0 + pos - 0.5)  # slots in at position `pos`
        d = decide(table, new, eta=eta, rung=1)
        assert d.n == n and d.keep == keep and d.position == pos and d.rank == pos
        assert d.promote is (pos < keep), (eta, n, pos)


def test_eta3_boundary_three_points_keeps_only_the_best():
    table = [(-0.9, 2.0), (-0.5, 3.0)]
    assert decide(table, (-0.95, 1.0), eta=3).promote          # dominates both: position 0
    second = decide(table, (-0.7, 2.5), eta=3)                 # between them: position 1 of 3
    assert (second.position, second.keep, second.promote) == (1, 1, False)


def test_front_member_can_lose_the_epsilon_net_tie_break():
    # three non-dominated points, eta 2 keeps 2 of 3: the extremes (most accurate, cheapest) go first
    table = [(-0.9, 5.0), (-0.5, 1.0)]
    d = decide(table, (-0.75, 3.2), eta=2)
    assert (d.rank, d.position, d.keep, d.promote) == (0, 2, 2, False)
    # the same point is kept when it is the most accurate
    d = decide([(-0.5, 1.0), (-0.7, 2.0)], (-0.75, 3.2), eta=2)
    assert (d.rank, d.position, d.promote) == (0, 0, True)


def test_dominated_new_point_stops_whatever_the_table_size():
    table = [(-0.9 + 0.01 * i, 1.0 + 0.01 * i) for i in range(8)]
    d = decide(table, (-0.1, 10.0), eta=3)
    assert d.rank == 8 and d.position == 8 and not d.promote


# ------------------------------------------------------------------ config

def _fid(**kw):
    return Fidelity(**{"epochs": 3, "eval_every": 1, **kw})


def test_config_validation():
    ok = check_early_stopping({"method": "mo-asha", "min_epochs": 1, "eta": 3}, ["accuracy", "macs"], _fid(), {})
    assert ok == {"method": "mo-asha", "min_epochs": 1, "eta": 3, "rungs": [1]}
    assert check_early_stopping(None, ["accuracy"], _fid(), {}) == {}
    assert check_early_stopping({"method": "none"}, ["accuracy"], _fid(), {}) == {}
    bad = [({"method": "asha"}, _fid(), {}, "method"),
           ({"eta": 1}, _fid(), {}, "eta"), ({"eta": 2.5}, _fid(), {}, "eta"), ({"eta": True}, _fid(), {}, "eta"),
           ({"min_epochs": 0}, _fid(), {}, "min_epochs"), ({"min_epochs": 3}, _fid(), {}, "no decision"),
           ({"rung": 1}, _fid(), {}, "rung"),
           ({}, _fid(eval_every=3), {}, "eval_every"),
           ({}, _fid(), {"name": "median"}, "pruner")]
    for raw, fid, pruner, words in bad:
        with pytest.raises(ConfigError, match=words):
            check_early_stopping(raw, ["accuracy", "macs"], fid, pruner)


def test_study_config_reads_the_table(tmp_path, tiny_config):
    raw = tiny_config(tmp_path, fidelity={"epochs": 9, "eval_every": 1}, early_stopping={"eta": 3})
    assert StudyConfig.from_dict(raw).early_stopping["rungs"] == [1, 3]
    assert StudyConfig.from_dict(tiny_config(tmp_path)).early_stopping == {}
    with pytest.raises(ConfigError, match="eval_every"):
        StudyConfig.from_dict(tiny_config(tmp_path, fidelity={"epochs": 3, "eval_every": 3},
                                          early_stopping={"method": "mo-asha"}))


# ------------------------------------------------------------------ the rule against a storage

def _trial(study, arch_id, setup):
    t = study.ask()
    t.set_user_attr("arch_id", arch_id)
    t.set_user_attr("setup_hash", setup)
    return t


def test_rule_reads_the_storage_dedupes_and_replays(tmp_path, tiny_config):
    cfg = StudyConfig.from_dict(tiny_config(tmp_path, fidelity={"epochs": 3, "eval_every": 1},
                                            early_stopping={"eta": 2}))
    study = optuna.create_study(directions=cfg.directions)
    rule = MOASHA(cfg, study)
    a = _trial(study, "a", cfg.setup_hash)
    assert rule.check(a, 1, 0.9, {"macs": 1.0}).promote                 # first at the rung
    assert rule.check(a, 3, 0.9, {"macs": 1.0}) is None                   # not a rung (rungs 1, 2)
    other_setup = _trial(study, "x", "other")
    other_setup.set_user_attr("rungs", {"1": {"values": {"accuracy": 1.0, "macs": 0.5}}})
    a_again = _trial(study, "a", cfg.setup_hash)                          # e.g. the retry of a killed trial
    assert rule.check(a_again, 1, 0.9, {"macs": 1.0}).n == 1             # its own architecture counts once
    b = _trial(study, "b", cfg.setup_hash)
    with pytest.raises(optuna.TrialPruned, match="position 2 of 2"):
        rule.check(b, 1, 0.5, {"macs": 2.0}, wall0=0.0, cpu0=0.0)
    ua = study.trials[b.number].user_attrs
    assert ua["stopped_at_epoch"] == 1 and ua["early_stop"]["rank"] == 1 and ua["early_stop"]["n"] == 2
    assert ua["rungs"]["1"]["promote"] is False and "train_cpu_s" in ua
    study.tell(b, state=TrialState.PRUNED)
    # "b" proposed again: judged on its recorded point, stopped without training
    b2 = _trial(study, "b", cfg.setup_hash)
    with pytest.raises(optuna.TrialPruned, match="judged again"):
        rule.replay(b2, "b")
    assert study.trials[b2.number].user_attrs["reused_from"] == b.number
    # a new architecture "c" that is not in the table: replay does nothing
    c = _trial(study, "c", cfg.setup_hash)
    assert rule.replay(c, "c") is None


def test_stopped_trials_are_pruned_and_shown_in_the_frame(tmp_path, tiny_config, one_thread):
    raw = tiny_config(tmp_path, fidelity={"epochs": 2, "fraction": 0.15, "eval_every": 1},
                      early_stopping={"method": "mo-asha", "min_epochs": 1, "eta": 3},
                      study={"n_trials": 3, "run_dir": str(tmp_path / "run"), "threads": 1})
    study = run_worker(StudyConfig.from_dict(raw))
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("reused_from") is None]
    assert len(done) == 3
    for t in trials:
        if t.user_attrs.get("reused_from") is None and t.user_attrs.get("rungs"):
            assert t.user_attrs["rungs"]["1"]["promote"] is (t.state == TrialState.COMPLETE)
    df = trials_frame(study)
    assert {"stopped_at_epoch", "early_stop", "rungs", "train_cpu_s", "prefilter"} <= set(df.columns)
    for t in [t for t in trials if t.state == TrialState.PRUNED]:
        row = df[df.number == t.number].iloc[0]
        assert row.stopped_at_epoch == 1 and row.early_stop.startswith("mo-asha: at epoch 1")
    # Pareto / best_trials only hold fully trained trials
    assert all(t.state == TrialState.COMPLETE for t in study.best_trials)


# ------------------------------------------------------------------ several processes, kill -9

KILLED = """
import os, signal, sys
from ghostnas.search.study_config import StudyConfig
from ghostnas.search.readers import load_stored_config
from ghostnas.search.study import open_study
from ghostnas.search.early_stop import make_stopper
from ghostnas.search.recovery import worker_identity
cfg = load_stored_config(sys.argv[1], sys.argv[2])
study = open_study(cfg, create=False)
t = study.ask()
t.set_user_attr("worker", worker_identity())
arch = cfg.space(num_classes=10).suggest(t)
t.set_user_attr("arch_id", arch.id)
t.set_user_attr("setup_hash", cfg.setup_hash)
# an implausibly good point (accuracy 1, 1 MAC) recorded at rung 1, then the worker dies mid-trial
make_stopper(cfg, study).check(t, 1, 1.0, {"macs": 1.0, "params": 1.0})
print(t.number, arch.id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.timeout(1500)
def test_two_worker_processes_share_rung_state_that_survives_kill9(tmp_path, tiny_config, env):
    journal = str(tmp_path / "run" / "study.journal")
    name = f"asha-{uuid.uuid4().hex[:8]}"
    raw = tiny_config(tmp_path, name=name, fidelity={"epochs": 2, "fraction": 0.1, "eval_every": 1},
                      early_stopping={"method": "mo-asha", "min_epochs": 1, "eta": 2},
                      prefilter={"proxy": "params", "candidates": 2},
                      study={"n_trials": 3, "storage": journal, "run_dir": str(tmp_path / "run"), "threads": 1})
    open_study(StudyConfig.from_dict(raw))
    k = subprocess.run([sys.executable, "-c", KILLED, journal, name], capture_output=True, text=True, env=env(),
                       timeout=240)
    assert k.returncode == -signal.SIGKILL, k.stderr[-2000:]
    killed_number, killed_arch = k.stdout.split()
    killed_number = int(killed_number)
    cmd = [sys.executable, "-m", "ghostnas.cli", "worker", "--storage", journal, "--study", name, "--index"]
    procs = [subprocess.Popen(cmd + [str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
             for i in (1, 2)]
    for p in procs:
        assert p.wait(timeout=1200) == 0, p.communicate()[1][-3000:]
    study = optuna.load_study(study_name=name, storage=open_storage(journal, None, heartbeat=False))
    trials = study.get_trials(deepcopy=False)
    by = {t.number: t for t in trials}
    assert by[killed_number].state == TrialState.FAIL                      # failed as stale (dead pid) ...
    retries = [t for t in trials if t.user_attrs.get("retry_of") == killed_number]
    assert retries and retries[0].params == by[killed_number].params       # ... and queued again as it was
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    full = [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("reused_from") is None]
    assert len(full) == 3
    pids = {t.user_attrs["worker"]["pid"] for t in trials if t.number != killed_number and "worker" in t.user_attrs}
    assert len(pids) >= 2, "both worker processes ran trials"
    judged = [t for t in trials if t.number != killed_number and t.user_attrs.get("reused_from") is None
              and "promote" in (t.user_attrs.get("rungs") or {}).get("1", {})]
    assert judged
    for t in judged:
        r = t.user_attrs["rungs"]["1"]
        if t.user_attrs["arch_id"] != killed_arch:
            # the dead worker's point is in every other architecture's table, and dominates it
            assert r["n"] >= 2 and r["rank"] >= 1, (t.number, r)
        assert r["promote"] is (t.state == TrialState.COMPLETE)
        if t.state == TrialState.PRUNED:
            assert t.user_attrs["early_stop"]["rung"] == t.user_attrs["stopped_at_epoch"] == 1
    # the pre-filter chose, and the trial's parameters are, the trained architecture
    for t in judged:
        pf = t.user_attrs["prefilter"]
        assert "skipped" in pf or pf["chosen_arch_id"] == t.user_attrs["arch_id"]
    # A later process (resume with one more trial) judges against every point recorded so far.
    recorded = {t.user_attrs["arch_id"] for t in trials if "1" in (t.user_attrs.get("rungs") or {})}
    raw["study"]["n_trials"] = 4
    before = len(trials)
    study = run_worker(StudyConfig.from_dict(raw))
    new = [t for t in study.get_trials(deepcopy=False)[before:]
           if "promote" in (t.user_attrs.get("rungs") or {}).get("1", {})]
    assert new
    first = new[0]
    assert first.user_attrs["rungs"]["1"]["n"] == len(recorded - {first.user_attrs["arch_id"]}) + 1
    print("rung-1 verdicts:", json.dumps([(t.number, t.state.name, t.user_attrs["rungs"]["1"]["n"],
                                           t.user_attrs["rungs"]["1"]["position"]) for t in judged]))
