"""``ghostnas ablate`` end to end on tiny npz data: the two evaluation modes of the runner, the report on
one seed, and the budget study with a missing budget (report on what exists, then complete it)."""
import json

import numpy as np
import pytest

from ghostnas.cli import main
from ghostnas.search import train as train_mod

TINY = ["--set", "study.threads=1", "--set", "fidelities.cpu-proxy.width=0.125",
        "--set", "fidelities.cpu-proxy.batch_size=16", "--no-latency"]


def _npz(path, per_class, seed):
    # Each class its own colour plus noise: learnable, so accuracies differ between seeds (random-noise
    # images give every tiny net the same chance accuracy, and Welch intervals of zero variance).
    rng = np.random.default_rng(seed)
    colours = np.random.default_rng(123).integers(30, 226, size=(10, 1, 1, 3))
    y = np.repeat(np.arange(10), per_class)
    x = np.clip(colours[y] + rng.normal(0, 25, size=(len(y), 32, 32, 3)), 0, 255).astype(np.uint8)
    np.savez(path, x=x, y=y)
    return f"npz:{path}"


@pytest.fixture
def data(tmp_path):
    return {"train": _npz(tmp_path / "train.npz", 10, 0), "test": _npz(tmp_path / "test.npz", 4, 1)}


@pytest.fixture
def eval_calls(monkeypatch):
    """Every evaluation train_proxy makes, as the size of the evaluated set."""
    calls = []
    real = train_mod.evaluate

    def counting(model, data, *a, **k):
        calls.append(len(data))
        return real(model, data, *a, **k)

    monkeypatch.setattr(train_mod, "evaluate", counting)
    return calls


def _records(runs):
    return [json.loads(p.read_text()) for p in sorted(runs.glob("*.json"))]


def test_eval_on_test_with_fraction_evaluates_the_test_split_once(tmp_path, data, eval_calls, capsys, one_thread):
    out, runs = tmp_path / "out", tmp_path / "runs"
    args = ["ablate", "--config", "vgg16_ratio", "--set", f"data.dataset={data['train']}",
            "--set", "data.eval_on=test", "--set", f"data.test_dataset={data['test']}",
            "--set", f"output.dir={out}", "--set", f"output.runs_dir={runs}", "--set", "values=[2, 3]",
            "--set", "seeds=[0]", "--set", "fidelities.cpu-proxy.epochs=2",
            "--set", "fidelities.cpu-proxy.fraction=0.5", *TINY]
    assert main(args) == 0
    recs = _records(runs)
    assert len(recs) == 3  # baseline, s=2, s=3; one seed
    # The test split (40 images) is evaluated exactly once per run, after the last of 2 epochs.
    assert eval_calls == [40, 40, 40]
    for r in recs:
        assert r["epochs"] == 2 and len(r["curve"]) == 1 and r["val_acc"] == r["curve"][0]
        assert r["images_seen"] == 2 * 3 * 16  # half of 100 images = 50: 3 batches of 16 per epoch
        assert r["eval_split"].startswith("test (npz:") and "evaluated once after the last epoch" in r["eval_split"]
    summary = json.loads((out / "summary.json").read_text())
    assert "40 images, evaluated once after the last epoch" in summary["eval_split"]
    assert summary["complete"] and summary["missing_runs"] == []
    # One seed: no interval anywhere, and the claims say so.
    by = {p["point"]: p for p in summary["points"]}
    assert by["s=2 d=3"]["n"] == 1 and by["s=2 d=3"]["acc_ci95"] == [None, None]
    assert by["s=3 d=3"]["diff_vs_reference_verdict"] == "one seed: no interval"
    assert summary["baseline_vs_reference"]["verdict"] == "one seed: no interval"
    assert summary["claims"][0].startswith("VGG-16 vs s=2: one seed: no interval (VGG-16 − s=2 = ")
    assert summary["claims"][1].startswith("s=3 vs s=2: one seed: no interval")
    md = (out / "table.md").read_text()
    assert "(n=1, no CI)" in md and "test (npz:" in md
    capsys.readouterr()


def test_eval_on_val_has_one_curve_entry_per_epoch(tmp_path, data, eval_calls, capsys, one_thread):
    out, runs = tmp_path / "out", tmp_path / "runs"
    assert main(["ablate", "--config", "vgg16_kernel", "--set", f"data.dataset={data['train']}",
                 "--set", f"output.dir={out}", "--set", f"output.runs_dir={runs}", "--set", "values=[3]",
                 "--set", "baseline=false", "--set", "seeds=[0]", "--set", "fidelities.cpu-proxy.epochs=2",
                 "--set", "fidelities.cpu-proxy.val_size=20", *TINY]) == 0
    (rec,) = _records(runs)
    assert len(rec["curve"]) == 2 and rec["val_acc"] == rec["curve"][-1]
    assert eval_calls == [20, 20]  # the 20 held-out training images, after each epoch
    summary = json.loads((out / "summary.json").read_text())
    assert summary["eval_split"].startswith("held-out validation part of npz:") and "(20 images)" in summary["eval_split"]
    capsys.readouterr()


def test_budget_study_reports_missing_budget_then_completes(tmp_path, data, capsys, one_thread):
    out, runs = tmp_path / "budget", tmp_path / "runs"
    train_args = ["ablate", "--config", "vgg16_budget", "--set", f"data.dataset={data['train']}",
                  "--set", f"output.dir={out}", "--set", f"output.runs_dir={runs}", "--set", "values=[2]",
                  "--set", "seeds=[0, 1]", "--set", "fidelities.cpu-proxy.epochs=1",
                  "--set", "fidelities.cpu-proxy.val_size=20", "--set", "fidelities.cpu-proxy.fraction=1.0",
                  "--set", "budgets=[{epochs = 2}]", *TINY]
    # Train only the first budget (the config itself, no budgets): the second is missing.
    first_only = [a if a != "budgets=[{epochs = 2}]" else "budgets=[]" for a in train_args]
    assert main(first_only + ["--no-report"]) == 0
    assert len(_records(runs)) == 4  # 2 networks x 2 seeds at 1 epoch
    capsys.readouterr()

    assert main(train_args + ["--report-only"]) == 0
    printed = capsys.readouterr().out
    assert "4 run(s) missing" in printed
    command = next(line.strip() for line in printed.splitlines() if line.strip().startswith("ghostnas ablate"))
    assert "--report-only" not in command and "--config vgg16_budget" in command
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "budget" and not summary["complete"] and summary["complete_command"] == command
    assert sorted((m["epochs"], m["point"], m["seed"]) for m in summary["missing_runs"]) == [
        (2, "baseline", 0), (2, "baseline", 1), (2, "s=2 d=3", 0), (2, "s=2 d=3", 1)]
    b1, b2 = summary["budgets"]
    assert (b1["epochs"], b1["fraction"], b2["epochs"]) == (1, 1.0, 2)
    assert b1["networks"]["baseline"]["n"] == 2 and b1["networks"]["baseline"]["seeds"] == [0, 1]
    # Tiny nets may all sit at chance (no seed-to-seed variation); the values are tested in
    # tests/analysis/test_ablation_stats.py, here the gap only has to be the difference of the means.
    assert b1["gap"] == pytest.approx(b1["networks"]["baseline"]["mean"] - b1["networks"]["s=2 d=3"]["mean"])
    assert b1["gap_verdict"] in ("higher", "lower", "not distinguishable", "no seed-to-seed variation: no interval")
    assert b2["networks"]["baseline"]["n"] == 0 and b2["gap"] is None and b2["gap_verdict"] == "no data"
    assert summary["gap_trend"]["n_budgets"] == 1 and summary["gap_trend"]["verdict"] == "no interval"
    assert "cannot be said" in summary["gap_trend_statement"]
    md = (out / "table.md").read_text()
    assert "## Missing runs (4)" in md and command in md and "| 2 | 1.0 | – (n=0) |" in md
    assert (out / "figure.png").stat().st_size > 10_000 and (out / "figure.svg").is_file()

    # The printed command trains exactly the missing budget; the report is then complete.
    assert main(train_args) == 0
    assert len(_records(runs)) == 8
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["missing_runs"] == [] and summary["complete_command"] is None
    assert [b["networks"]["s=2 d=3"]["n"] for b in summary["budgets"]] == [2, 2]
    assert summary["gap_trend"]["df"] == 0 and summary["gap_trend"]["slope_per_doubling"] is not None
    assert "2 budget(s) with a gap" in summary["gap_trend"]["note"]
    assert all(r["epochs"] in (1, 2) and len(r["curve"]) == r["epochs"] for r in _records(runs))
    capsys.readouterr()


def test_report_only_without_runs_fails_clearly(tmp_path, data, capsys):
    assert main(["ablate", "--config", "vgg16_ratio", "--set", f"data.dataset={data['train']}",
                 "--set", f"output.dir={tmp_path / 'o'}", "--set", f"output.runs_dir={tmp_path / 'r'}",
                 "--report-only", "--no-latency"]) == 2
    err = capsys.readouterr().err
    assert "no finished runs" in err and "train them with: ghostnas ablate --config vgg16_ratio" in err
