"""Honest resume: an extended or resumed study proposes new architectures, a repeated architecture
is not a new trial, and a changed training setup is refused unless allowed (then recorded)."""
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest

from ghostnas.cli import main
from ghostnas.search.samplers import population_options
from ghostnas.search.study import resume_seed, run_worker
from ghostnas.search.study_config import StudyConfig
from ghostnas.space.tomlconfig import ConfigError


def _distinct_archs(study):
    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    counted = [t for t in done if t.user_attrs.get("reused_from") is None]
    return {t.user_attrs["arch_id"] for t in counted}, counted


def test_resume_seed_is_the_config_seed_for_a_new_study_and_differs_on_resume():
    assert resume_seed(7, 0) == 7
    assert len({resume_seed(7, n) for n in range(0, 50)}) == 50
    assert resume_seed(7, 3) == resume_seed(7, 3)  # deterministic


@pytest.mark.parametrize("sampler", ["random", "tpe", "nsga2"])
def test_extending_a_study_3_to_6_gives_6_distinct_architectures(tmp_path, tiny_config, sampler):
    raw = tiny_config(tmp_path, sampler={"name": sampler}, fidelity={"fraction": 0.1})
    run_worker(StudyConfig.from_dict(raw))
    raw["study"]["n_trials"] = 6
    study = run_worker(StudyConfig.from_dict(raw))
    archs, counted = _distinct_archs(study)
    assert len(counted) == 6 and len(archs) == 6


def test_a_repeated_architecture_is_reused_and_not_counted(tmp_path, tiny_config, tiny_space):
    # A space with 2 architectures: the third trial can only repeat one; the study stops at 2 distinct
    # ones plus repeats marked reused_from, and never trains a repeat.
    space = {**tiny_space, "defaults": {"ratio": 2, "dw_size": 3, "se_ratio": 0}}  # only width: 2 choices
    raw = tiny_config(tmp_path, space=space, sampler={"name": "random"}, study={"n_trials": 2})
    study = run_worker(StudyConfig.from_dict(raw))
    archs, counted = _distinct_archs(study)
    assert len(counted) == 2 and len(archs) == 2
    raw["study"]["n_trials"] = 3  # impossible: only two architectures exist; the study stops, trains nothing new
    study = run_worker(StudyConfig.from_dict(raw))
    archs, counted = _distinct_archs(study)
    reused = [t for t in study.trials if t.user_attrs.get("reused_from") is not None]
    assert len(archs) == 2 and len(counted) == 2
    assert all("train_s" not in t.user_attrs or t.user_attrs["train_s"] ==
               study.trials[t.user_attrs["reused_from"]].user_attrs["train_s"] for t in reused)


def test_changed_training_setup_on_resume_is_refused_naming_the_keys(tmp_path, tiny_config):
    raw = tiny_config(tmp_path, study={"n_trials": 1})
    run_worker(StudyConfig.from_dict(raw))
    raw["fidelity"] = {**raw["fidelity"], "lr": 0.01}
    raw["study"]["n_trials"] = 2
    with pytest.raises(ConfigError, match=r"fidelity\.lr 0\.004 -> 0\.01"):
        run_worker(StudyConfig.from_dict(raw))


def test_allowed_setup_change_records_the_setup_per_trial_and_does_not_reuse_across_setups(tmp_path, tiny_config):
    raw = tiny_config(tmp_path, study={"n_trials": 1})
    first = StudyConfig.from_dict(raw)
    run_worker(first)
    raw["fidelity"] = {**raw["fidelity"], "epochs": 2}
    raw["study"] = {**raw["study"], "n_trials": 2, "allow_setup_change": True}
    second = StudyConfig.from_dict(raw)
    assert second.setup_hash != first.setup_hash
    study = run_worker(second)
    hashes = [t.user_attrs.get("setup_hash") for t in study.trials if t.state.name == "COMPLETE"]
    assert hashes[0] == first.setup_hash and hashes[-1] == second.setup_hash
    assert [s["hash"] for s in study.user_attrs["ghostnas_setups"]] == [first.setup_hash, second.setup_hash]
    # Never a value reused from a trial trained at the other setup.
    for t in study.trials:
        src = t.user_attrs.get("reused_from")
        if src is not None:
            assert study.trials[src].user_attrs["setup_hash"] == t.user_attrs["setup_hash"]


def test_cli_refuses_a_changed_setup_with_one_line_and_accepts_the_flag(tmp_path, tiny_config, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'name = "cli-setup"\nspace = "ghostnet_cifar"\nseed = 0\n[data]\ndataset = "digits"\n'
                   f'[fidelity]\nepochs = 1\nfraction = 0.2\nval_fraction = 0.2\n[study]\nn_trials = 1\n'
                   f'run_dir = "{(tmp_path / "run").as_posix()}"\nthreads = 1\n[constraints]\nmacs_max = 1000000\n')
    assert main(["search", "--config", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["search", "--config", str(cfg), "--set", "fidelity.lr=0.01", "--set", "study.n_trials=2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fidelity.lr" in err[0] and "--allow-setup-change" in err[0]
    assert main(["search", "--config", str(cfg), "--set", "fidelity.lr=0.01", "--set", "study.n_trials=2",
                 "--allow-setup-change"]) == 0


def test_population_is_sized_to_the_study(tiny_config, tmp_path):
    cfg = StudyConfig.from_dict(tiny_config(tmp_path, sampler={"name": "nsga2"}, study={"n_trials": 30}))
    assert population_options(cfg, {})["population_size"] == 7
    big = StudyConfig.from_dict(tiny_config(tmp_path, sampler={"name": "nsga2"}, study={"n_trials": 1000}))
    assert population_options(big, {})["population_size"] == 50
    small = StudyConfig.from_dict(tiny_config(tmp_path, sampler={"name": "nsga2"}, study={"n_trials": 3}))
    assert population_options(small, {})["population_size"] == 4
    assert population_options(cfg, {"population_size": 10})["population_size"] == 10


def _search_cmd(config_path, *extra):
    return [sys.executable, "-m", "ghostnas.cli", "search", "--config", str(config_path), *extra]


@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_resume_after_interrupt_or_kill_gives_distinct_architectures(tmp_path, how):
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'name = "kill-resume"\nspace = "ghostnet_cifar"\nseed = 0\n[data]\ndataset = "digits"\n'
                   f'[fidelity]\nepochs = 1\nfraction = 0.5\nval_fraction = 0.2\n[sampler]\nname = "random"\n'
                   f'[study]\nn_trials = 4\nrun_dir = "{(tmp_path / "run").as_posix()}"\nthreads = 1\n'
                   f'[constraints]\nmacs_max = 1000000\n')
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(_search_cmd(cfg, "--set", "study.n_trials=3"), env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    metrics = tmp_path / "run" / "trials"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(metrics.glob("*/metrics.json"))) < 1:
        time.sleep(0.2)
    p.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
    p.wait(timeout=60)
    r = subprocess.run(_search_cmd(cfg), env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    from ghostnas.search.readers import open_existing_study
    study = open_existing_study(str(tmp_path / "run" / "study.journal"), "kill-resume")
    archs, counted = _distinct_archs(study)
    assert len(counted) == 4 and len(archs) == 4
