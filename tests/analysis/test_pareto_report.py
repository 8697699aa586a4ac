"""ghostnas pareto / report: hypervolume, paper references, importances, figures, HTML report, errors.

Most tests build studies directly in a journal file (optuna.trial.create_trial: exact, instant);
one runs a real tiny search first and analyses it through the CLI.
"""
import base64
import json
import random
import re

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from ghostnas.analysis import (MIN_IMPORTANCE_TRIALS, hypervolume, hypervolume_history, paper_references,
                               param_importances, reference_point)
from ghostnas.cli import main
from ghostnas.search.storage import open_storage
from ghostnas.search.study_config import StudyConfig
from ghostnas.search.readers import pareto_trials, trials_frame
from ghostnas.search.study import run_worker

optuna.logging.set_verbosity(optuna.logging.WARNING)

DIST = {"width": CategoricalDistribution([0.25, 0.35, 0.5]), "stage0.ratio": CategoricalDistribution([2, 3, 4]),
        "stage0.dw_size": CategoricalDistribution([1, 3, 5]), "stage1.se_ratio": CategoricalDistribution(["table", 0])}
DIRS = {"accuracy": "maximize", "macs": "minimize", "params": "minimize", "latency": "minimize"}


def make_study(path, objectives=("accuracy", "macs"), dataset="digits", n=12, name="syn", macs_max=None,
               resolution=32, seed=0):
    """A ghostnas-like study in a journal file: trained, rejected, infeasible and reused trials."""
    rng = random.Random(seed)
    storage = open_storage(str(path))
    study = optuna.create_study(study_name=name, storage=storage, directions=[DIRS[o] for o in objectives])
    cfg = {"name": name, "objectives": list(objectives), "data": {"dataset": dataset},
           "space": {"name": "tiny", "global": {"resolution": resolution}}, "sampler": {"name": "tpe"},
           "pruner": {"name": "none"}, "fidelity": {"epochs": 1}, "study": {"n_trials": n},
           "constraints": {"macs_max": macs_max} if macs_max else {}}
    study.set_user_attr("ghostnas_config", cfg)
    study.set_user_attr("objectives", list(objectives))
    for i in range(n):
        params = {k: rng.choice(d.choices) for k, d in DIST.items()}
        macs = int(params["width"] * 2e6 + params["stage0.dw_size"] * 1e5 + rng.random() * 1e5)
        nparams = int(macs * 0.4)
        lat = macs / 4e5 + rng.random() * 0.2
        acc = min(0.99, 0.5 + params["width"] + 0.02 * params["stage0.ratio"] + rng.random() * 0.05)
        ua = {"arch_id": f"arch{i:03d}", "macs": macs, "params": nparams, "latency_ms": lat,
              "curve": [acc]}
        constraints = {"macs": macs - macs_max} if macs_max else None
        if macs_max and macs > macs_max:
            ua["rejected"] = f"macs {macs:,} > budget {macs_max:,}"
            acc, lat = 0.0, float("inf")
        vals = {"accuracy": acc, "macs": macs, "params": nparams, "latency": lat}
        study.add_trial(optuna.trial.create_trial(values=[vals[o] for o in objectives], params=params,
                                                  distributions=DIST, user_attrs=ua, constraints=constraints))
    return study


def run_cli(argv, capsys):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


# ------------------------------------------------------------------------- hypervolume


def test_hypervolume_known_values_and_agrees_with_optuna():
    assert hypervolume([[0.5, 0.5]], [1, 1]) == pytest.approx(0.25)
    assert hypervolume([[0.0, 0.5], [0.5, 0.0]], [1, 1]) == pytest.approx(0.75)
    assert hypervolume([[1.0, 0.2]], [1, 1]) == 0.0  # on the reference: no volume
    assert hypervolume([], [1, 1]) == 0.0
    assert hypervolume([[0.2, 0.2, 0.2]], [1, 1, 1]) == pytest.approx(0.8 ** 3)
    from optuna._hypervolume import compute_hypervolume

    rng = np.random.default_rng(0)
    for d in (2, 3):
        for _ in range(5):
            pts = rng.random((25, d))
            ref = np.full(d, 1.1)
            assert hypervolume(pts.tolist(), ref.tolist()) == pytest.approx(compute_hypervolume(pts, ref), rel=1e-9)


def test_hypervolume_history_reference_and_monotone(tmp_path):
    study = make_study(tmp_path / "s.journal", n=15, macs_max=1_500_000)
    df = trials_frame(study)
    objs, dirs = ["accuracy", "macs"], ["maximize", "minimize"]
    ref = reference_point(objs, study.user_attrs["ghostnas_config"])
    feasible_trained = [t for t in study.trials if not t.user_attrs.get("rejected")]
    assert ref.values == {"accuracy": 0.0, "macs": 1_500_000.0}  # the budget, not the trials
    assert ref.sources["macs"] == "constraint macs_max"
    numbers, hv, _ = hypervolume_history(df, objs, dirs, ref)
    assert numbers == sorted(t.number for t in feasible_trained)
    assert all(b >= a - 1e-12 for a, b in zip(hv, hv[1:])) and 0 < hv[-1] < 1
    # The last value is the hypervolume of all feasible points, normalised by hand.
    pts = [[1 - t.values[0], t.values[1] / ref["macs"]] for t in feasible_trained]
    assert hv[-1] == pytest.approx(hypervolume(pts, [1, 1]))


# ------------------------------------------------------------------------- references


def test_paper_references_only_for_cifar10_at_32px():
    refs, note = paper_references("cifar10", [32])
    labels = {r["label"] for r in refs}
    assert {"VGG-16", "ResNet-56", "Ghost-VGG-16 s=2", "Ghost-ResNet-56 s=2"} <= labels and len(refs) == 7
    vgg = next(r for r in refs if r["label"] == "VGG-16")
    assert vgg["macs"] == 313e6 and vgg["accuracy"] == pytest.approx(0.936)
    assert paper_references("npz:../shared/data/cifar10/train.npz", [32])[0]
    for dataset, res in (("digits", [32]), ("cifar100", [32]), ("cifar10", [224]), ("cifar10", None),
                         ("fashion-mnist", [32])):
        refs, note = paper_references(dataset, res)
        assert refs == [] and note.startswith("No comparable hand-made reference")


# ------------------------------------------------------------------------- importances


def test_importances_per_objective_and_too_few_trials(tmp_path):
    study = make_study(tmp_path / "a.journal", objectives=("accuracy", "macs", "latency"), n=14)
    imp = param_importances(study, repeats=2)
    assert set(imp) == {"accuracy", "macs", "latency"}
    for o in imp:
        assert sum(imp[o]["importances"].values()) == pytest.approx(1.0)
        assert set(imp[o]["sd"]) == set(imp[o]["importances"]) and "warning" in imp[o]  # 14 < 20 trials
    # width drives MACs by construction
    assert max(imp["macs"]["importances"], key=imp["macs"]["importances"].get) == "width"
    few = make_study(tmp_path / "b.journal", n=MIN_IMPORTANCE_TRIALS - 1, name="few")
    imp = param_importances(few)
    assert all("too few trials" in r["note"] for r in imp.values())


# ------------------------------------------------------------------------- CLI


def test_pareto_cli_three_objectives_on_cifar_draws_paper_models(tmp_path, capsys):
    j = tmp_path / "c.journal"
    make_study(j, objectives=("accuracy", "macs", "latency"), dataset="cifar10", n=14, macs_max=1_500_000)
    out = tmp_path / "out"
    rc, text, err = run_cli(["pareto", "--storage", str(j), "--study", "syn", "--out", str(out)], capsys)
    assert rc == 2 and "no fixed hypervolume reference for latency" in err and "[pareto] reference" in err
    assert not list(out.glob("*"))  # refused before writing any file
    rc, text, err = run_cli(["pareto", "--storage", str(j), "--study", "syn", "--out", str(out),
                             "--reference", "latency=10", "--importance-repeats", "2"], capsys)
    assert rc == 0, err
    for stem in ("front_macs", "front_latency", "front_3obj", "hypervolume", "importances"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 5000, stem
    assert not (out / "front_params.png").exists()
    info = json.loads((out / "analysis.json").read_text())
    assert len(info["references"]) == 7 and info["reference_note"].startswith("Stars:")
    assert info["hypervolume"]["reference"] == {"accuracy": 0.0, "macs": 1_500_000.0, "latency": 10.0}
    assert info["hypervolume"]["reference_sources"]["latency"] == "--reference"
    assert "latency 10 ms (--reference)" in info["captions"]["hypervolume"]
    # the study's own trials fill the axes: the paper's models (63M-313M MACs) are arrows at the edge
    assert "Paper models outside the axes" in info["captions"]["front_macs"]
    assert set(info["importances"]) == {"accuracy", "macs", "latency"}
    assert info["states"]["of COMPLETE: rejected by budget"] > 0
    svg = (out / "front_macs.svg").read_text()
    assert "VGG-16" in svg and "rejected by budget" in svg and "budget (constraint)" in svg
    assert "No paper reference" in (out / "front_latency.svg").read_text()
    df = __import__("pandas").read_csv(out / "trials.csv")
    assert len(df) == 14 and {"accuracy", "macs", "latency", "arch_id", "feasible"} <= set(df.columns)
    md = (out / "trials.md").read_text()
    assert md.count("\n| ") == 15 and "rejected: macs" in md
    study = optuna.load_study(study_name="syn", storage=open_storage(str(j)))
    front = {t.number for t in pareto_trials(study)}
    assert {p["number"] for p in info["pareto"]} == front and front
    assert "pareto trial #" in text and "hypervolume" in text


def test_pareto_on_digits_says_no_comparable_reference(tmp_path, capsys):
    j = tmp_path / "d.journal"
    make_study(j, objectives=("accuracy", "params"), n=8)
    out = tmp_path / "o"
    rc, text, err = run_cli(["pareto", "--storage", f"journal:{j}", "--study", "syn", "--out", str(out),
                             "--importance-repeats", "1"], capsys)
    assert rc == 0, err
    svg = (out / "front_macs.svg").read_text()
    assert "No comparable hand-made reference" in svg and "VGG" not in svg and "ImageNet" in svg
    assert (out / "front_params.svg").is_file() and not (out / "front_3obj.svg").exists()
    assert (out / "front_latency.svg").is_file()  # latency measured (for a constraint, say): plotted too
    assert "No comparable hand-made reference" in text


def test_single_objective_study_and_too_few_trials_still_report(tmp_path, capsys):
    j = tmp_path / "e.journal"
    make_study(j, objectives=("accuracy",), n=3)
    out = tmp_path / "r"
    rc, text, err = run_cli(["report", "--storage", str(j), "--study", "syn", "--out", str(out)], capsys)
    assert rc == 0, err
    info = json.loads((out / "analysis.json").read_text())
    assert info["hypervolume"] is None and "too few trials" in info["importances"]["accuracy"]["note"]
    assert "best accuracy history" in (out / "hypervolume.svg").read_text()
    html = (out / "report.html").read_text()
    assert "too few trials for parameter importances" in html


def test_report_html_is_self_contained(tmp_path, capsys):
    j = tmp_path / "f.journal"
    study = make_study(j, objectives=("accuracy", "macs"), n=10, macs_max=1_400_000)
    out = tmp_path / "rep"
    rc, text, err = run_cli(["report", "--storage", str(j), "--study", "syn", "--out", str(out),
                             "--importance-repeats", "2"], capsys)
    assert rc == 0, err
    html = (out / "report.html").read_text()
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", html, re.I)
    imgs = re.findall(r'<img alt="[^"]*" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(imgs) == 4  # front_macs, front_latency (latency_ms recorded), hypervolume, importances
    assert all(base64.b64decode(b).lstrip().startswith(b"<?xml") for b in imgs)
    for needle in ("Study report", "syn", "accuracy (maximize)", "macs (minimize)", "<td>sampler</td><td>tpe</td>",
                   "Pareto-optimal trials", "trials by state", "hypervolume (final)", "No comparable hand-made"):
        assert needle in html, needle
    for t in pareto_trials(study):
        assert t.user_attrs["arch_id"] in html
    imp_section = html.split("<h2>Parameter importances</h2>")[1].split("<h2>")[0]
    assert "<td>width</td>" in imp_section and "M</td>" not in imp_section  # shares, not MAC counts
    md = (out / "report.md").read_text()
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (out / link).is_file()
    assert "## Pareto-optimal trials" in md and "| number |" in md


@pytest.mark.parametrize("case", ["unknown_study", "missing_file", "folder", "garbage", "bad_out", "memory",
                                  "empty_study", "not_ghostnas"])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, case):
    j = tmp_path / "g.journal"
    make_study(j, n=2)
    storage, study, out = str(j), "syn", str(tmp_path / "out")
    if case == "unknown_study":
        study, expect = "nope", "study 'nope' not found .*studies there: syn"
    elif case == "missing_file":
        storage, expect = str(tmp_path / "missing.journal"), "not found"
    elif case == "folder":
        storage, expect = str(tmp_path), "is a folder"
    elif case == "garbage":
        bad = tmp_path / "bad.journal"
        bad.write_bytes(b"\x00\xff not a journal {{{\n")
        storage, expect = str(bad), "cannot read storage"
    elif case == "bad_out":
        (tmp_path / "file.txt").write_text("x")
        out, expect = str(tmp_path / "file.txt" / "sub"), "--out folder .* cannot be created"
    elif case == "empty_study":
        optuna.create_study(study_name="empty", storage=open_storage(str(j)),
                            directions=["maximize", "minimize"]).set_user_attr("objectives", ["accuracy", "macs"])
        study, expect = "empty", "study 'empty' has no trials yet"
    elif case == "not_ghostnas":
        other = optuna.create_study(study_name="other", storage=open_storage(str(j)))
        other.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        study, expect = "other", r"objectives \['value_0'\]; the Pareto analysis needs 'accuracy'"
    else:
        storage, expect = "memory", "memory holds no study"
    for cmd in ("pareto", "report"):
        rc, text, err = run_cli([cmd, "--storage", storage, "--study", study, "--out", out], capsys)
        assert rc == 2 and err.count("\n") == 1 and err.startswith("ghostnas: error: "), err
        assert re.search(expect, err), err
    assert not (tmp_path / "missing.journal").exists()  # reading never creates a storage


def test_real_tiny_search_then_report(tmp_path, capsys):
    space = {"family": "ghostnet", "name": "tiny", "num_classes": 10,
             "global": {"width": [0.25, 0.35], "resolution": 32, "dropout": 0.0},
             "defaults": {"ratio": [2, 3, 4], "dw_size": [3, 1, 5], "se_ratio": ["table", 0]},
             "stages": [{"rows": [[3, 16, 16, 0, 2]]}, {"rows": [[3, 48, 24, 0, 2]]}]}
    raw = {"name": "tiny-real", "space": space, "seed": 0, "objectives": ["accuracy", "macs"],
           "data": {"dataset": "digits"},
           "fidelity": {"epochs": 1, "fraction": 0.3, "val_fraction": 0.2, "batch_size": 64, "optimizer": "adamw",
                        "lr": 0.004, "schedule": "onecycle"},
           "sampler": {"name": "random"},
           "study": {"n_trials": 4, "run_dir": str(tmp_path / "run"), "threads": 1}}
    study = run_worker(StudyConfig.from_dict(raw))
    out = tmp_path / "rep"
    rc, text, err = run_cli(["report", "--storage", str(tmp_path / "run" / "study.journal"), "--study", "tiny-real",
                             "--out", str(out)], capsys)
    assert rc == 0, err
    info = json.loads((out / "analysis.json").read_text())
    assert info["states"]["COMPLETE"] == 4
    assert [p["number"] for p in info["pareto"]] == [t.number for t in pareto_trials(study)]
    assert "too few trials" in info["importances"]["accuracy"]["note"]  # 4 < MIN_IMPORTANCE_TRIALS
    html = (out / "report.html").read_text()
    assert "<td>sampler</td><td>random</td>" in html and "tiny-real" in html
