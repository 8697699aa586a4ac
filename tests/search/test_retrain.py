"""ghostnas train's library side: run folders, test-split evaluation, progress, picking a Pareto
trade-off, retrain commands, file permissions."""
import io
import json
import os
import stat
from dataclasses import replace

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

from ghostnas.ghostnet import load_checkpoint
from ghostnas.search.config import ConfigError
from ghostnas.search.data import load_dataset, train_val_split
from ghostnas.search.export import parse_where, pick_from_front, retrain_command
from ghostnas.search.files import atomic_save_torch, atomic_write_json, atomic_write_text
from ghostnas.search.retrain import train_architecture
from ghostnas.search.runs import RUN_FORMAT, build_model_from, read_run, resolve_model
from ghostnas.search.study import _Progress, open_study
from ghostnas.search.study_config import StudyConfig
from ghostnas.search.train import evaluate
from ghostnas.space import ArchConfig, SearchSpace

OBJ, DIRS = ["accuracy", "macs"], ["maximize", "minimize"]


class FakeTTY(io.StringIO):
    """A terminal, as far as isatty() tells."""

    def isatty(self):
        return True


# ------------------------------------------------------------------------------------ picking

@pytest.fixture
def front():
    # number, accuracy, macs. Scaled (accuracy up, MACs down): #0 (0, 1), #1 (.75, .778), #2 (.875, .556),
    # #3 = #4 (1, 0). The line between the extremes #3 and #0 is x + y = 1: #1 is farthest (0.373 vs 0.305).
    return pd.DataFrame({"number": [0, 1, 2, 3, 4], "accuracy": [0.50, 0.80, 0.85, 0.90, 0.90],
                         "macs": [100_000, 300_000, 500_000, 1_000_000, 1_000_000],
                         "params": [1000, 2000, 3000, 4000, 4000]})


def test_pick_knee_best_and_where_known_answers(front):
    n, why = pick_from_front(front, OBJ, DIRS, "knee")
    assert n == 1 and "0.373" in why and "#3 and #0" in why
    assert pick_from_front(front, OBJ, DIRS, "best:accuracy")[0] == 3  # tie #3/#4: the lower number
    assert pick_from_front(front, OBJ, DIRS, "best:macs")[0] == 0
    assert pick_from_front(front, OBJ, DIRS, "where:macs<500000")[0] == 1
    assert pick_from_front(front, OBJ, DIRS, "where:macs<=500000")[0] == 2  # <= holds at equality
    assert pick_from_front(front, OBJ, DIRS, "where:macs>=500000")[0] == 3
    assert pick_from_front(front, OBJ, DIRS, "where:accuracy>0.5 AND params<=2000")[0] == 1
    assert pick_from_front(front, OBJ, DIRS, "where:accuracy>=0.9")[0] == 3
    n, why = pick_from_front(front, OBJ, DIRS, "where: macs <= 1e5")
    assert n == 0 and "1 Pareto trial(s)" in why
    with pytest.raises(ConfigError, match=r"no Pareto trial meets it \(the front spans macs 100000\.\.1e\+06; "
                                          r"accuracy 0\.5\.\.0\.9\)"):
        pick_from_front(front, OBJ, DIRS, "where:macs<100000 and accuracy>0.95")


def test_pick_knee_ties_go_to_the_higher_accuracy_then_the_lower_number():
    # A (0, 1) and B (1, 0) are the extremes; C (.4, .8) and D (.8, .4) are equally far from x + y = 1.
    df = pd.DataFrame({"number": [0, 1, 7, 9], "accuracy": [0.5, 1.0, 0.7, 0.9], "macs": [0, 1e6, 2e5, 6e5]})
    assert pick_from_front(df, OBJ, DIRS, "knee")[0] == 9
    df2 = pd.DataFrame({"number": [5, 3], "accuracy": [0.8, 0.8], "macs": [1e5, 1e5]})  # duplicates
    assert pick_from_front(df2, OBJ, DIRS, "knee")[0] == 3
    assert pick_from_front(df.iloc[[2]], OBJ, DIRS, "knee")[0] == 7  # one point


def test_pick_bad_requests(front):
    with pytest.raises(ConfigError, match="knee needs 2 objectives"):
        pick_from_front(front.assign(params=1.0), ["accuracy", "macs", "params"], DIRS + ["minimize"], "knee")
    with pytest.raises(ConfigError, match=r"best:params: not an objective of this study; choose from accuracy, macs"):
        pick_from_front(front, OBJ, DIRS, "best:params")
    with pytest.raises(ConfigError, match=r"unknown name\(s\) flops"):
        pick_from_front(front, OBJ, DIRS, "where:flops<5")
    with pytest.raises(ConfigError, match="'middle' is not allowed; expected knee, best:OBJECTIVE or where:EXPR"):
        pick_from_front(front, OBJ, DIRS, "middle")
    with pytest.raises(ConfigError, match="no Pareto-optimal trained trial"):
        pick_from_front(front.iloc[[]], OBJ, DIRS, "knee")


def test_parse_where_parses_and_never_evaluates():
    assert parse_where("macs<5e5 and accuracy >= 0.9") == [("macs", "<", 500000.0), ("accuracy", ">=", 0.9)]
    assert parse_where(" latency_ms <= .5 AND params>-1 ") == [("latency_ms", "<=", 0.5), ("params", ">", -1.0)]
    for bad in ["macs<abc", "__import__('os').system('true')", "macs<1 or accuracy>0", "macs==5", "macs<",
                "macs<1 and", "1<macs"]:
        with pytest.raises(ConfigError, match="is not a condition NAME"):
            parse_where(bad)


# ------------------------------------------------------------------------------- retrain command

def test_retrain_command_evaluates_on_a_test_set_when_there_is_one(tmp_path):
    cmd, note = retrain_command(tmp_path / "a.json", "cifar10", "abc", {"data_dir": "/data", "download": True})
    assert "--data cifar10 --data-dir /data --download --eval-split test --set epochs=200" in cmd and note == ""
    (tmp_path / "c_train.npz").write_bytes(b"")
    (tmp_path / "c_test.npz").write_bytes(b"")
    cmd, note = retrain_command(tmp_path / "a.json", f"npz:{tmp_path}/c_train.npz", "abc")
    assert f"--eval-split test --eval-data npz:{tmp_path}/c_test.npz" in cmd and note == ""
    assert cmd.endswith("--out runs/retrain-abc")
    cmd, note = retrain_command(tmp_path / "a.json", "digits", "abc")
    assert "--eval-split" not in cmd and "digits has no test split" in note and "--eval-data SPEC" in note


# ---------------------------------------------------------------------------------- permissions

@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_honour_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        atomic_write_text(tmp_path / "b.txt", "hi")
        atomic_save_torch({"w": torch.zeros(2)}, tmp_path / "c.pt")
    finally:
        os.umask(old)
    for name in ("a.json", "b.txt", "c.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}


# ------------------------------------------------------------------------------------- training

@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny_space):
    """Train / test npz files (10 classes, 32x32, class-dependent brightness) and a tiny architecture."""
    d = tmp_path_factory.mktemp("retrain")
    rng = np.random.default_rng(0)
    for name, n in (("train", 200), ("test", 60)):
        y = np.arange(n) % 10
        x = (rng.integers(0, 60, (n, 32, 32, 3)) + y[:, None, None, None] * 19).astype(np.uint8)
        np.savez(d / f"{name}.npz", x=x, y=y)
    np.savez(d / "five.npz", x=np.zeros((20, 32, 32, 3), np.uint8), y=np.arange(20) % 5)
    arch = SearchSpace(tiny_space).default()
    (d / "arch.json").write_text(json.dumps(arch.to_dict()))
    return d


def test_train_on_the_test_split_evaluates_once_at_the_end(data, tmp_path, one_thread):
    tty = FakeTTY()
    run = train_architecture(str(data / "arch.json"), f"npz:{data}/train.npz", tmp_path / "run",
                             ["epochs=2", "fraction=0.5", "batch_size=32"], eval_split="test",
                             eval_data=f"npz:{data}/test.npz", progress=tty)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["eval_split"] == "test" and m["eval_images"] == 60 and m["train_images"] == 100
    assert m["eval_data"] == f"npz:{data}/test.npz" and "curve" not in m and "val_acc" not in m
    assert m["test_acc"] == m["accuracy"] == run.accuracy and m["epochs"] == 2 and len(m["train_loss"]) == 2
    assert run.eval_description == f"test split: 60 images of npz:{data}/test.npz"
    # model.pt: weights plus architecture, plain values only
    ckpt = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert ckpt["format"] == RUN_FORMAT == "ghostnas-run/1"
    arch = ArchConfig.from_dict(ckpt["arch"])
    assert ckpt["arch"] == json.loads((tmp_path / "run" / "arch.json").read_text())  # lists, no tuples
    assert arch.id == m["arch_id"] == ArchConfig.from_dict(json.loads((data / "arch.json").read_text())).id
    # the recorded accuracy is the test set's, under the training statistics
    model, spec = build_model_from(run=str(tmp_path / "run"))
    assert spec.label == "run run" and spec.resolution == 32
    train = load_dataset(f"npz:{data}/train.npz")
    test = replace(load_dataset(f"npz:{data}/test.npz"), mean=train.mean, std=train.std)
    assert abs(evaluate(model, test) - m["test_acc"]) <= 1 / 60 + 1e-9
    fresh = load_checkpoint(resolve_and_build(tmp_path / "run"), tmp_path / "run" / "model.pt")
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))
    # progress on a terminal: epochs, loss, accuracy at the end, images/s, ETA
    text = tty.getvalue()
    assert f"train {arch.id}" in text and "2/2" in text and "1/2" in text and "loss " in text
    assert f"test acc {m['test_acc']:.4f}" in text and "img/s" in text and "<00:00" in text


def resolve_and_build(run_dir):
    from ghostnas.ghostnet import build_model
    return build_model(resolve_model(str(run_dir)).config)


def test_train_default_evaluates_the_held_out_part_and_is_silent_off_a_terminal(data, tmp_path, one_thread):
    quiet = io.StringIO()
    run = train_architecture(str(data / "arch.json"), f"npz:{data}/train.npz", tmp_path / "run",
                             ["epochs=1", "fraction=0.5", "batch_size=32"], progress=quiet)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    _, val = train_val_split(load_dataset(f"npz:{data}/train.npz"), 0.1, fraction=0.5)
    assert m["eval_split"] == "val" and m["eval_images"] == len(val) == 20 and m["train_images"] == 90
    assert m["curve"] == [m["val_acc"]] == [run.accuracy]
    assert quiet.getvalue() == ""
    assert read_run(tmp_path / "run").metrics["arch_id"] == m["arch_id"]


def test_train_test_split_errors(data, tmp_path):
    arch = str(data / "arch.json")
    with pytest.raises(ConfigError, match="dataset digits has no test split; give the test set with --eval-data"):
        train_architecture(arch, "digits", tmp_path / "r", eval_split="test")
    with pytest.raises(ConfigError, match="is the training data itself"):
        train_architecture(arch, f"npz:{data}/train.npz", tmp_path / "r", eval_split="test",
                           eval_data=f"npz:{data}/train.npz")
    with pytest.raises(ConfigError, match="test set .*five.npz has 5 classes but the training data .* has 10"):
        train_architecture(arch, f"npz:{data}/train.npz", tmp_path / "r", eval_split="test",
                           eval_data=f"npz:{data}/five.npz")
    with pytest.raises(ConfigError, match="--eval-data gives the test set of --eval-split test"):
        train_architecture(arch, "digits", tmp_path / "r", eval_data=f"npz:{data}/test.npz")
    with pytest.raises(ConfigError, match="--eval-split 'train' is not allowed"):
        train_architecture(arch, "digits", tmp_path / "r", eval_split="train")


def test_run_folder_errors(tmp_path, tiny_space):
    with pytest.raises(ValueError, match="is not a run folder: no model.pt"):
        read_run(tmp_path)
    arch = SearchSpace(tiny_space).default()
    from ghostnas.space import build_arch
    torch.save(build_arch(arch).state_dict(), tmp_path / "model.pt")  # an older run: bare state dict
    with pytest.raises(ValueError, match="model.pt carries no architecture and there is no arch.json"):
        read_run(tmp_path)
    (tmp_path / "arch.json").write_text(json.dumps(arch.to_dict()))
    assert read_run(tmp_path).arch.id == arch.id
    model, spec = build_model_from(str(tmp_path))
    assert spec.resolution == 32 and not model.training


# ------------------------------------------------------------------------------ search progress

def test_search_progress_shows_counts_best_values_and_eta_on_a_terminal(tmp_path, tiny_config):
    cfg = StudyConfig.from_dict(tiny_config(tmp_path, study={"n_trials": 3, "storage": "memory"}))
    study = open_study(cfg)
    for acc, macs in ((0.8, 2.5e6), (0.9, 3.1e6)):
        study.add_trial(optuna.trial.create_trial(values=[acc, macs], params={}, distributions={}))
    study.add_trial(optuna.trial.create_trial(values=[0.99, 1e5], params={}, distributions={},
                                              user_attrs={"rejected": "macs over budget"}))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING, params={}, distributions={}))
    tty, quiet = FakeTTY(), io.StringIO()
    for stream in (tty, quiet):
        p = _Progress(cfg, stream)
        p.start(study)
        p(study, None)
        p.close(study)
    text = tty.getvalue()
    # 3 complete (the rejected one counts as done, not for the best values), 1 running
    assert f"[{cfg.name}]" in text and "3/3" in text and "1 running" in text
    assert "best accuracy 0.9000, macs 2.50M" in text and "trial" in text
    assert quiet.getvalue() == ""
