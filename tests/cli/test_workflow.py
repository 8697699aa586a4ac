"""A researcher's workflow through the CLI: search (with progress) → studies → results → export
(--pick, warnings) → train the printed command on the test split → the run folder in similarity
and profile."""
import io
import json
import os
import re
import shlex
import shutil
import stat
import sys

import numpy as np
import optuna
import pytest
import torch

from ghostnas.cli import main


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def _journal(path):
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


@pytest.fixture(scope="module")
def wf(tmp_path_factory, tiny_config, write_toml):
    """A finished 3-trial study on npz train data (run through `ghostnas search` on a fake terminal),
    plus a FAIL trial and a trial that only reused another."""
    d = tmp_path_factory.mktemp("wf")
    rng = np.random.default_rng(0)
    for name, n in (("train", 200), ("test", 60)):
        y = np.arange(n) % 10
        x = (rng.integers(0, 60, (n, 32, 32, 3)) + y[:, None, None, None] * 19).astype(np.uint8)
        np.savez(d / f"{name}.npz", x=x, y=y)
    raw = tiny_config(d, name="wf", data={"dataset": f"npz:{d}/train.npz"},
                      study={"n_trials": 3, "run_dir": str(d / "run"), "threads": 1})
    cfg = write_toml(d / "wf.toml", raw)
    tty, old = FakeTTY(), sys.stderr
    sys.stderr = tty
    try:
        assert main(["search", "--config", str(cfg)]) == 0
    finally:
        sys.stderr = old
    journal = d / "run" / "study.journal"
    study = optuna.load_study(study_name="wf", storage=_journal(journal))
    first = study.trials[0]
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params={}, distributions={},
                                              user_attrs={"arch": first.user_attrs["arch"], "fail_reason": "boom"}))
    study.add_trial(optuna.trial.create_trial(values=first.values, params={}, distributions={},
                                              user_attrs={**first.user_attrs, "reused_from": 0}))
    return {"d": d, "journal": str(journal), "progress": tty.getvalue(), "study": study}


def test_search_shows_progress_on_a_terminal(wf):
    text = wf["progress"]
    assert "[wf]" in text and "0/3" in text and "3/3" in text and "trial" in text
    best = max(t.values[0] for t in wf["study"].trials[:3])
    assert f"best accuracy {best:.4f}, macs " in text


def test_studies_lists_trials_objectives_and_states(wf, capsys):
    assert main(["studies", "--storage", wf["journal"]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["study", "trials", "objectives", "states"]
    assert re.fullmatch(r"wf\s+5\s+accuracy \(max\), macs \(min\)\s+4 COMPLETE, 1 FAIL", lines[1])


def test_results_without_study_formats_numbers(wf, capsys):
    assert main(["results", "--storage", wf["journal"]]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:4] == ["number", "state", "accuracy", "MACs"] and "(M)" in header and "params" in header
    t0 = wf["study"].trials[0]
    row = next(line for line in out.splitlines() if line.split()[:1] == ["0"])
    assert f"{t0.values[0]:.4f}" in row.split() and f"{t0.user_attrs['macs'] / 1e6:.2f}" in row.split()
    assert f"{t0.user_attrs['params']:,}" in row.split() and "," in f"{t0.user_attrs['params']:,}"
    reused = next(line for line in out.splitlines() if line.split()[:1] == ["4"])
    assert "#0" in reused.split()


def test_export_warns_about_failed_and_reused_trials(wf, tmp_path, capsys):
    assert main(["export", "--storage", wf["journal"], "--trial", "3", "--out", str(tmp_path / "f.json")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ghostnas: warning: trial 3 is FAIL, not COMPLETE: its architecture was not fully evaluated (boom)"]
    assert main(["export", "--storage", wf["journal"], "--trial", "4", "--out", str(tmp_path / "r.json")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ghostnas: warning: trial 4 was not trained: it reused the result of trial 0 (the same "
                   "architecture); its metrics are that trial's"]
    assert main(["export", "--storage", wf["journal"], "--trial", "0", "--out", str(tmp_path / "ok.json")]) == 0
    assert capsys.readouterr().err == ""


def test_pick_export_train_and_use_the_run_folder(wf, tmp_path, capsys, monkeypatch, one_thread):
    study = wf["study"]
    from ghostnas.search.readers import pareto_trials
    front = pareto_trials(study)
    cheapest = min(front, key=lambda t: (t.values[1], t.number))
    old = os.umask(0o022)
    try:
        assert main(["export", "--storage", wf["journal"], "--pick", "best:macs", "--out",
                     str(tmp_path / "arch.json")]) == 0
    finally:
        os.umask(old)
    out = capsys.readouterr().out
    assert f"picked trial #{cheapest.number}: best macs on the Pareto front" in out
    arch = json.loads((tmp_path / "arch.json").read_text())
    assert stat.S_IMODE((tmp_path / "arch.json").stat().st_mode) == 0o644
    command = next(line.strip() for line in out.splitlines() if line.strip().startswith("ghostnas train"))
    d = wf["d"]
    assert f"--eval-split test --eval-data npz:{d}/test.npz" in command

    # run the printed command, at a tiny fidelity, on a terminal
    argv = shlex.split(command)[1:]
    argv = [{"epochs=200": "epochs=1", "fraction=1.0": "fraction=0.3"}.get(a, a) for a in argv]
    argv[argv.index("--out") + 1] = str(tmp_path / "run")
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(argv) == 0
    monkeypatch.undo()
    out = capsys.readouterr().out
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert out.startswith(f"test acc {m['test_acc']:.4f} (test split: 60 images of npz:{d}/test.npz)")
    assert m["eval_split"] == "test" and m["eval_images"] == 60 and m["train_images"] == 60
    assert "1/1" in tty.getvalue() and "img/s" in tty.getvalue() and "loss" in tty.getvalue()
    ckpt = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert ckpt["arch"] == arch == json.loads((tmp_path / "run" / "arch.json").read_text())
    stem_c = ckpt["state_dict"]["conv_stem.weight"].shape[0]

    # list layers: from the run folder and from the exported JSON alike
    for args in (["--list-layers", "--run", str(tmp_path / "run")], ["--list-layers", str(tmp_path / "arch.json")]):
        assert main(["similarity", *args]) == 0
        out = capsys.readouterr().out
        assert "output shapes (CxHxW) for one 32x32 input" in out.splitlines()[0]
        assert re.search(rf"^conv_stem\s+Conv2d\s+{stem_c}x16x16$", out, re.M), out[:500]
        assert re.search(r"^blocks\.0\.0\.ghost1\s+GhostModule\s+\d+x16x16$", out, re.M)

    # profile the run folder: the trial's params
    assert main(["profile", "--run", str(tmp_path / "run"), "--no-latency", "--json"]) == 0
    prof = json.loads(capsys.readouterr().out)
    assert prof["model"] == "run run" and prof["input"] == 32
    assert prof["params"] == study.trials[cheapest.number].user_attrs["params"]

    # similarity with --run: the run's weights, recorded in the summary
    assert main(["similarity", "--run", str(tmp_path / "run"), "--layer", "conv_stem", "--data", f"npz:{d}/test.npz",
                 "--n", "8", "--ds", "1", "--max-maps", "4", "--out", str(tmp_path / "sim")]) == 0
    summary = json.loads((tmp_path / "sim" / "summary.json").read_text())
    assert summary["weights"] == str(tmp_path / "run" / "model.pt") and summary["model"] == "run run"
    assert summary["layers"]["conv_stem"]["shape"] == [stem_c, 16, 16]


def test_worker_and_fail_stale_without_study_name(wf, capsys):
    assert main(["worker", "--storage", wf["journal"], "--no-progress"]) == 0
    assert main(["fail-stale", "--storage", wf["journal"]]) == 0
    assert "0 stale trial(s) failed, 0 of unknown fate left RUNNING" in capsys.readouterr().out


def test_study_name_needed_when_the_storage_holds_several(wf, tmp_path, capsys):
    journal = tmp_path / "two.journal"
    shutil.copy(wf["journal"], journal)
    optuna.create_study(study_name="other", storage=_journal(journal))
    assert main(["results", "--storage", str(journal)]) == 2
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(r"ghostnas: error: .*two.journal holds 2 studies \(wf, other\); name one with --study", err)
    assert main(["studies", "--storage", str(journal)]) == 0
    assert re.search(r"^other\s+0\s+value_0 \(min\)\s+-$", capsys.readouterr().out, re.M)


@pytest.mark.parametrize("argv, pattern", [
    (lambda w, t: ["export", "--storage", w["journal"], "--pick", "where:macs<<5", "--out", str(t / "a.json")],
     r"'macs<<5' is not a condition NAME\(<\|<=\|>\|>=\)NUMBER"),
    (lambda w, t: ["export", "--storage", w["journal"], "--pick", "where:macs<1", "--out", str(t / "a.json")],
     r"no Pareto trial meets it \(the front spans macs "),
    (lambda w, t: ["similarity", "--run", str(t), "--list-layers"], r"is not a run folder: no model.pt"),
    (lambda w, t: ["similarity", "--run", str(t), "--weights", "x.pt", "--layer", "a", "--data", "digits",
                   "--out", str(t / "s")], r"--run DIR brings its own weights"),
    (lambda w, t: ["similarity", "--model", "ghost_resnet56_cifar"], r"required: --layer, --data, --out"),
    (lambda w, t: ["profile", "--no-latency"], r"give a model .* or --run DIR"),
    (lambda w, t: ["train", "--arch", "ghost_resnet56_cifar", "--eval-split", "test", "--out", str(t / "r")],
     r"dataset digits has no test split; give the test set with --eval-data SPEC"),
])
def test_bad_workflow_input(wf, tmp_path, capsys, argv, pattern):
    capsys.readouterr()
    try:
        rc = main(argv(wf, tmp_path))
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("ghostnas: error: "), err
    assert re.search(pattern, err[0]), err[0]
