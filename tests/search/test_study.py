"""Real (tiny) studies end to end: storages, objectives, pruner, resume, workers, determinism."""
import json

import optuna
import pytest
import torch

from ghostnas.cli import main
from ghostnas.search.data import load_dataset, train_val_split
from ghostnas.search.study_config import StudyConfig
from ghostnas.search.study import open_study, run_worker
from ghostnas.search.readers import trials_frame
from ghostnas.search.train import Fidelity, TrainingDiverged, make_optimizer, train_proxy

def completed(study):
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def test_multi_objective_journal_study_records_everything(tmp_path, tiny_config):
    cfg = StudyConfig.from_dict(tiny_config(tmp_path))
    study = run_worker(cfg)
    done = completed(study)
    assert len(done) == 3 and len(study.directions) == 2
    t = done[0]
    for key in ("arch_id", "arch", "macs", "params", "curve", "train_s", "device"):
        assert key in t.user_attrs, key
    assert t.values[1] == t.user_attrs["macs"] > 0 and 0.0 <= t.values[0] <= 1.0
    # Per-trial files are complete JSON.
    files = sorted((tmp_path / "run" / "trials").glob("*/metrics.json"))
    assert len(files) == 3 and json.loads(files[0].read_text())["macs"] == done[0].user_attrs["macs"]
    assert (tmp_path / "run" / "study.journal").is_file()
    df = trials_frame(study)
    assert {"accuracy", "macs", "arch_id", "param.width"} <= set(df.columns)


def test_resume_counts_finished_trials_in_total(tmp_path, tiny_config):
    raw = tiny_config(tmp_path)
    run_worker(StudyConfig.from_dict(raw))
    raw["study"]["n_trials"] = 5
    study = run_worker(StudyConfig.from_dict(raw))
    assert len(completed(study)) == 5
    study = run_worker(StudyConfig.from_dict(raw))  # already complete: adds nothing
    assert len(completed(study)) == 5 and len(study.trials) == 5


def test_resume_with_other_objectives_or_space_is_refused(tmp_path, tiny_config, tiny_space):
    raw = tiny_config(tmp_path, study={"n_trials": 1})
    run_worker(StudyConfig.from_dict(raw))
    with pytest.raises(ValueError, match="already exists with objectives .*'accuracy', 'macs'"):
        open_study(StudyConfig.from_dict({**raw, "objectives": ["accuracy", "params"]}))
    other = json.loads(json.dumps(tiny_space))
    other["global"]["width"] = [0.5]
    with pytest.raises(ValueError, match="a different search space"):
        open_study(StudyConfig.from_dict({**raw, "space": other}))


def test_single_objective_with_median_pruner_in_memory(tmp_path, tiny_config):
    # Two start-up trials: with one, a lucky first trial has the pruner stop ~90% of the rest, and the
    # study (which counts only COMPLETE trials) runs dozens of trials.
    raw = tiny_config(tmp_path, objectives=["accuracy"], pruner={"name": "median", "n_startup_trials": 2,
                                                                "n_warmup_steps": 0},
                      fidelity={"epochs": 2}, study={"n_trials": 3, "storage": "memory"})
    study = run_worker(StudyConfig.from_dict(raw))
    done = [t for t in completed(study) if t.user_attrs.get("reused_from") is None]  # repeats do not count
    assert len(done) == 3
    assert all(len(t.intermediate_values) == 2 for t in done)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and all("pruned after epoch" in t.user_attrs["prune_reason"] for t in pruned)
    assert all(len(t.intermediate_values) == 1 for t in pruned)  # stopped after their first epoch


def test_pruner_in_multi_objective_is_a_clear_error(tmp_path, tiny_config):
    with pytest.raises(ValueError, match="cannot be used with 2 objectives.*multi-objective"):
        StudyConfig.from_dict(tiny_config(tmp_path, pruner={"name": "median"}))


def test_macs_budget_rejects_before_training(tmp_path, tiny_config):
    raw = tiny_config(tmp_path, constraints={"macs_max": 1.0}, study={"n_trials": 2, "storage": "memory"})
    study = run_worker(StudyConfig.from_dict(raw))
    for t in completed(study):
        assert "budget" in t.user_attrs["rejected"] and "curve" not in t.user_attrs
        assert t.constraints["macs"] > 0
        assert not (tmp_path / "run" / "trials" / f"{t.number:05d}" / "metrics.json").read_text().count("curve")


def test_same_seed_same_architectures_and_accuracies(tmp_path, tiny_config):
    a = run_worker(StudyConfig.from_dict(tiny_config(tmp_path / "a", study={"n_trials": 3, "storage": "memory"},
                                                     name="det-a")))
    b = run_worker(StudyConfig.from_dict(tiny_config(tmp_path / "b", study={"n_trials": 3, "storage": "memory"},
                                                     name="det-b")))
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.values for t in a.trials] == [t.values for t in b.trials]


def test_train_proxy_nan_loss_raises_with_reason():
    d = load_dataset("digits")
    tr, va = train_val_split(d, 0.2, fraction=0.2)
    from ghostnas.ghostnet import create_model
    model = create_model("ghost_resnet56_cifar", width=0.25)
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 1, step 1"):
        train_proxy(model, tr, va, Fidelity(epochs=1, batch_size=64), device="cpu")


@pytest.mark.parametrize("name, cls", [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)])
def test_weight_decay_on_conv_and_linear_weights_only(name, cls):
    # He et al.'s recipe (the paper preset) decays the weights but not BN scales/shifts or biases.
    from ghostnas.ghostnet import create_model
    model = create_model("ghost_resnet56_cifar", width=0.25)
    opt = make_optimizer(model, Fidelity(optimizer=name, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4))
    assert isinstance(opt, cls)
    decayed, plain = opt.param_groups
    assert decayed["weight_decay"] == 1e-4 and plain["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in decayed["params"]} == {n for n, p in model.named_parameters() if p.ndim > 1}
    no_decay = {names[id(p)] for p in plain["params"]}
    assert no_decay == {n for n, p in model.named_parameters() if p.ndim <= 1}
    bn = {id(p) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    assert bn and bn <= {id(p) for p in plain["params"]} and "classifier.bias" in no_decay
    if name == "sgd":
        assert decayed["nesterov"] and decayed["momentum"] == 0.9


def test_diverged_trial_is_failed_with_reason_and_study_goes_on(tmp_path, tiny_config):
    raw = tiny_config(tmp_path, fidelity={"optimizer": "sgd", "lr": 1e30, "momentum": 0.9},
                      study={"n_trials": 1, "storage": "memory"})
    cfg = StudyConfig.from_dict(raw)
    study = open_study(cfg)
    from ghostnas.search.objective import TrialObjective
    trial = study.ask()
    with pytest.raises(TrainingDiverged):
        TrialObjective(cfg, study)(trial)
    assert trial.user_attrs["fail_reason"].startswith("diverged: loss became")


def test_study_whose_trials_all_fail_stops_with_one_line_and_resumes(tmp_path, tiny_config, write_toml, capfd):
    # Without the stop, a setup on which every trial fails (here: a diverging learning rate) would run
    # trials forever, since only COMPLETE trials count towards n_trials. Two workers: each stops.
    raw = tiny_config(tmp_path, fidelity={"optimizer": "sgd", "lr": 1e30, "momentum": 0.9},
                      study={"n_trials": 2, "max_consecutive_failures": 3})
    cfg = write_toml(tmp_path / "s.toml", raw)
    assert main(["search", "--config", str(cfg), "--workers", "2"]) == 1
    err = capfd.readouterr().err.strip().splitlines()  # a warning per failed trial, then one error per worker
    errors = [line for line in err if "ghostnas: error" in line]
    assert len(errors) == 2 and "Traceback" not in "".join(err) and "exited with status" not in "".join(err)
    assert {e.split(": the last")[0] for e in errors} == {f"ghostnas: error: study {raw['name']}",
                                                          f"ghostnas: error: study {raw['name']} (worker 1)"}
    for e in errors:
        assert "the last 3 trials all failed" in e and "diverged" in e and "max_consecutive_failures" in e
    journal = str(tmp_path / "run" / "study.journal")
    def load():
        return optuna.load_study(study_name=raw["name"], storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(journal)))
    failed = [t.number for t in load().trials]
    assert len(failed) >= 3 and {t.state for t in load().trials} == {optuna.trial.TrialState.FAIL}
    # The cause fixed, the same study resumes: a completed trial ends the streak, the failures stay stored.
    assert main(["search", "--config", str(cfg), "--allow-setup-change", "--set", "fidelity.optimizer=adamw",
                 "--set", "fidelity.lr=0.004"]) == 0
    study = load()
    assert len(completed(study)) == 2 and len(study.trials) == len(failed) + 2
    assert all(study.trials[n].state == optuna.trial.TrialState.FAIL for n in failed)


def test_failure_streak_ignores_infrastructure_failures(tmp_path, tiny_config):
    from ghostnas.search.study import failure_streak

    study = open_study(StudyConfig.from_dict(tiny_config(tmp_path, study={"storage": "memory"})))
    def ended(state, **attrs):
        t = study.ask()
        for k, v in attrs.items():
            t.set_user_attr(k, v)
        study.tell(t, state=state, values=[0.5, 1.0] if state == optuna.trial.TrialState.COMPLETE else None)
        return t.number
    ended(optuna.trial.TrialState.FAIL, fail_reason="RuntimeError: before the last success")
    ended(optuna.trial.TrialState.COMPLETE)
    assert failure_streak(study) == []
    first = ended(optuna.trial.TrialState.FAIL, fail_reason="out of memory: MemoryError: x")
    ended(optuna.trial.TrialState.FAIL, fail_reason="surplus: 3 trials already complete or running")
    ended(optuna.trial.TrialState.FAIL, fail_reason="interrupted (SIGINT/SIGTERM)")
    ended(optuna.trial.TrialState.FAIL, fail_reason="stale: no heartbeat for 31 s")
    ended(optuna.trial.TrialState.FAIL)  # failed by Optuna itself, no reason recorded
    retried = ended(optuna.trial.TrialState.FAIL, fail_reason="diverged: loss became nan")
    ended(optuna.trial.TrialState.PRUNED, retry_of=retried)
    assert failure_streak(study) == []  # a pruned trial ends a streak like a completed one
    last = ended(optuna.trial.TrialState.FAIL, fail_reason="diverged: loss became nan")
    assert [t.number for t in failure_streak(study)] == [last]
    assert failure_streak(study, after=last) == [] and first < last


def test_cli_search_two_workers_results_and_export(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    run = tmp_path / "run"
    cfg.write_text(f'''
name = "two"
seed = 1
objectives = ["accuracy", "macs"]
[space]
family = "ghostnet"
name = "tiny"
num_classes = 10
[space.global]
width = [0.25, 0.35]
resolution = 32
[space.defaults]
ratio = [2, 3, 4]
dw_size = [3, 1, 5]
[[space.stages]]
rows = [[3, 16, 16, 0, 2]]
[[space.stages]]
rows = [[3, 48, 24, 0, 2]]
[[space.stages]]
rows = [[5, 72, 40, 0.25, 2]]
[[space.stages]]
rows = [[3, 120, 64, 0, 2]]
[data]
dataset = "digits"
[fidelity]
epochs = 1
fraction = 0.3
batch_size = 64
[study]
n_trials = 4
run_dir = "{run}"
threads = 1
''')
    assert main(["search", "--config", str(cfg), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "4 finished trials" in out and "pareto.png" in out
    assert (run / "pareto.png").is_file() and (run / "trials.csv").is_file()
    journal = str(run / "study.journal")
    study = optuna.load_study(study_name="two", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(journal)))
    done = completed(study)
    assert len(done) == 4
    trained = [t.user_attrs["arch_id"] for t in done if t.user_attrs.get("reused_from") is None]
    assert len(trained) == len(set(trained))  # each architecture trained once
    assert main(["results", "--storage", journal, "--study", "two", "--csv", str(tmp_path / "t.csv")]) == 0
    assert "Pareto-optimal trials" in capsys.readouterr().out
    n = done[0].number
    assert main(["export", "--storage", journal, "--study", "two", "--trial", str(n),
                 "--out", str(tmp_path / "arch.json")]) == 0
    out = capsys.readouterr().out
    assert "ghostnas train --arch" in out
    from ghostnas.space import ArchConfig
    assert ArchConfig.from_json((tmp_path / "arch.json").read_text()).id == done[0].user_attrs["arch_id"]
    assert main(["results", "--storage", journal, "--study", "nope"]) == 2
    assert "study 'nope' not found" in capsys.readouterr().err
