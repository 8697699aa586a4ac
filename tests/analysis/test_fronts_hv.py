"""Fronts and hypervolume: objective senses, the fixed reference point, hand-computed volumes, the
drawn fronts (Line2D data = the non-dominated set), labels, study overlays, the importances'
warning threshold."""
import json
import random

import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution

from ghostnas.analysis import IMPORTANCE_WARN_TRIALS, MIN_IMPORTANCE_TRIALS, param_importances
from ghostnas.analysis.fronts import OBJECTIVE_SENSES, check_senses
from ghostnas.analysis.hypervolume import (Reference, hypervolume, hypervolume_history, outside_reference,
                                           parse_reference, reference_point)
from ghostnas.analysis.pareto_plots import compare_fronts_figure, front_figure
from ghostnas.analysis.study_plots import _importance_panel
from ghostnas.analysis.style import pyplot
from ghostnas.cli import main
from ghostnas.search.storage import open_storage
from ghostnas.search.study_config import OBJECTIVES
from ghostnas.space import SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {"family": "ghostnet", "name": "tiny", "num_classes": 10,
         "global": {"width": [0.25, 0.5], "resolution": 32, "dropout": 0.0},
         "defaults": {"ratio": [2, 3], "dw_size": [3, 5]},
         "stages": [{"rows": [[3, 16, 16, 0, 2]]}, {"rows": [[3, 24, 24, 0, 2]]}]}
DIST = {"width": CategoricalDistribution([0.25, 0.5]), "stage0.ratio": CategoricalDistribution([2, 3]),
        "stage0.dw_size": CategoricalDistribution([3, 5])}
DIRS = {"accuracy": "maximize", "macs": "minimize", "params": "minimize", "latency": "minimize"}


def frame(rows):
    """A trials frame from ``(number, accuracy, macs[, feasible[, rejected]])`` rows."""
    out = []
    for r in rows:
        n, acc, macs = r[:3]
        out.append({"number": n, "state": "COMPLETE", "accuracy": acc, "macs": macs, "params": macs / 10,
                    "latency_ms": None, "feasible": r[3] if len(r) > 3 else True,
                    "rejected": r[4] if len(r) > 4 else None, "reused_from": None})
    return pd.DataFrame(out)


def make_study(path, n, objectives=("accuracy", "macs"), name="s", config=None, seed=0, macs_scale=1.0):
    rng = random.Random(seed)
    study = optuna.create_study(study_name=name, storage=open_storage(str(path)),
                                directions=[DIRS[o] for o in objectives])
    study.set_user_attr("objectives", list(objectives))
    study.set_user_attr("ghostnas_config", config if config is not None else
                        {"name": name, "space": SPACE, "data": {"dataset": "digits"}, "objectives": list(objectives)})
    for i in range(n):
        params = {k: rng.choice(d.choices) for k, d in DIST.items()}
        macs = int((params["width"] * 2e5 + params["stage0.dw_size"] * 1e4 + rng.random() * 1e4) * macs_scale)
        acc = min(0.99, 0.5 + params["width"] + 0.03 * params["stage0.ratio"] + rng.random() * 0.1)
        vals = {"accuracy": acc, "macs": macs, "params": macs * 0.3, "latency": macs / 1e5}
        study.add_trial(optuna.trial.create_trial(values=[vals[o] for o in objectives], params=params,
                                                  distributions=DIST, user_attrs={"macs": macs, "arch_id": f"a{i}"}))
    return study


def nondominated(points):
    """Brute force, independent of the library: (min x, max y) non-dominated points."""
    return sorted({p for p in points if not any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in points)})


# ------------------------------------------------------------------------- senses


def test_objective_senses_match_the_study_config_and_are_enforced():
    for o, d in OBJECTIVES.items():  # one table of senses for the search and the analysis
        assert OBJECTIVE_SENSES[o] == d, o
    check_senses(["accuracy", "macs", "latency"], ["maximize", "minimize", "minimize"])
    with pytest.raises(ValueError, match="objective macs is set to maximize"):
        check_senses(["accuracy", "macs"], ["maximize", "maximize"])
    with pytest.raises(ValueError, match="objective accuracy is set to minimize"):
        check_senses(["accuracy", "macs"], ["minimize", "minimize"])
    with pytest.raises(ValueError, match="2 objective name"):
        check_senses(["accuracy", "macs"], ["maximize"])


def test_study_with_a_wrong_sense_is_refused(tmp_path, capsys):
    j = tmp_path / "w.journal"
    study = optuna.create_study(study_name="w", storage=open_storage(str(j)), directions=["maximize", "maximize"])
    study.set_user_attr("objectives", ["accuracy", "macs"])
    study.add_trial(optuna.trial.create_trial(values=[0.9, 1e5]))
    assert main(["pareto", "--storage", str(j), "--out", str(tmp_path / "o")]) == 2
    assert "objective macs is set to maximize" in capsys.readouterr().err


# ------------------------------------------------------------------------- reference point


def test_reference_point_sources_in_order():
    cfg = {"space": SPACE, "constraints": {"macs_max": 3e5, "latency_ms_max": 5.0},
           "pareto": {"reference": {"accuracy": 0.5}}}
    ref = reference_point(["accuracy", "macs", "latency"], cfg)
    assert ref.values == {"accuracy": 0.5, "macs": 3e5, "latency": 5.0}
    assert ref.sources == {"accuracy": "[pareto] reference", "macs": "constraint macs_max",
                           "latency": "constraint latency_ms_max"}
    ref = reference_point(["accuracy", "macs"], cfg, override={"macs": 2e5})  # --reference beats everything
    assert ref.values == {"accuracy": 0.5, "macs": 2e5} and ref.sources["macs"] == "--reference"
    cfg["pareto"]["reference"]["macs"] = 4e5  # [pareto] beats the constraint
    assert reference_point(["accuracy", "macs"], cfg)["macs"] == 4e5
    # nothing given: accuracy 0, MACs / params the space's analytic maximum
    ref = reference_point(["accuracy", "macs", "params"], {"space": SPACE})
    assert ref["accuracy"] == 0.0 and ref.sources["accuracy"].startswith("default")
    assert ref["macs"] == SearchSpace(SPACE).max_cost("macs") and ref["params"] == SearchSpace(SPACE).max_cost("params")
    assert ref.sources["macs"].startswith("space maximum (tiny")
    assert "macs 0." in ref.text() and "(space maximum" in ref.text()


@pytest.mark.parametrize("objectives,cfg,override,needle", [
    (["accuracy", "latency"], {"space": SPACE}, {}, r"no fixed hypervolume reference for latency.*\[pareto\] reference"),
    (["accuracy", "macs"], {}, {}, "records no search space .* add \\[pareto\\] reference"),
    (["accuracy", "macs"], {"space": {"family": "mlp"}}, {}, "stored search space does not load"),
    (["accuracy", "macs"], {"pareto": {"reference": {"accuracy": 1.0}}}, {}, r"accuracy must be in \[0, 1\)"),
    (["accuracy", "macs"], {}, {"macs": -1.0}, "macs must be > 0"),
    (["accuracy", "macs"], {}, {"latency": 3.0}, "names latency, not an objective"),
])
def test_reference_point_refusals(objectives, cfg, override, needle):
    with pytest.raises(ValueError, match=needle):
        reference_point(objectives, cfg, override=override)


def test_parse_reference():
    assert parse_reference(["macs=2e6,accuracy=0", "latency=4.5"]) == {"macs": 2e6, "accuracy": 0.0, "latency": 4.5}
    for bad in ("macs", "macs=", "=3", "macs=lots"):
        with pytest.raises(ValueError, match="expected OBJECTIVE=NUMBER"):
            parse_reference([bad])


def test_reference_does_not_move_as_the_study_grows(tmp_path):
    j = tmp_path / "g.journal"
    study = make_study(j, 6)
    cfg = study.user_attrs["ghostnas_config"]
    before = reference_point(["accuracy", "macs"], cfg)
    make_study(tmp_path / "h.journal", 1)  # unrelated
    study.add_trial(optuna.trial.create_trial(values=[0.99, 9e9], params={}, distributions={},
                                              user_attrs={"macs": 9e9}))
    assert reference_point(["accuracy", "macs"], cfg) == before
    from ghostnas.search.readers import trials_frame
    df = trials_frame(study)
    df["feasible"], df["rejected"], df["reused_from"] = True, None, None
    assert outside_reference(df, ["accuracy", "macs"], ["maximize", "minimize"], before) == [6]


# ------------------------------------------------------------------------- hypervolume, by hand


def test_hypervolume_hand_computed_2d_and_3d():
    two = [[0.2, 0.6], [0.5, 0.3]]
    # 0.8*0.4 + 0.5*0.7 - 0.5*0.4 (overlap)
    assert hypervolume(two, [1, 1]) == pytest.approx(0.47)
    assert hypervolume(two + [[0.6, 0.7]], [1, 1]) == pytest.approx(0.47)  # a dominated point adds nothing
    assert hypervolume(two + [[1.0, 0.1]], [1, 1]) == pytest.approx(0.47)  # on the reference boundary: nothing
    assert hypervolume(two + [[0.2, 0.6]], [1, 1]) == pytest.approx(0.47)  # a duplicate: nothing
    assert hypervolume([[1.0, 1.0]], [1, 1]) == 0.0
    assert hypervolume([[0.5, 0.5, 0.5]], [1, 1, 1]) == pytest.approx(0.125)
    # 0.25 + 0.5 - 0.125 (overlap)
    assert hypervolume([[0.5, 0.5, 0.0], [0.0, 0.0, 0.5]], [1, 1, 1]) == pytest.approx(0.625)


def test_hypervolume_history_hand_computed():
    df = frame([(0, 0.90, 50), (1, 0.70, 100), (2, 0.80, 60), (3, 0.99, 10, False), (4, 0.99, 10, True, "budget"),
                (5, 0.95, 80)])
    ref = Reference({"accuracy": 0.5, "macs": 100.0})
    numbers, hv, _ = hypervolume_history(df, ["accuracy", "macs"], ["maximize", "minimize"], ref)
    # infeasible #3 and rejected #4 never count; #0: loss (0.2, 0.5) -> 0.8 * 0.5 = 0.4
    # #1 is on the MACs reference (adds nothing), #2 is dominated by #0
    # #5: loss (0.1, 0.8) -> 0.4 + 0.9 * 0.2 - 0.8 * 0.2 = 0.42
    assert numbers == [0, 1, 2, 5]
    assert hv == pytest.approx([0.4, 0.4, 0.4, 0.42])
    assert outside_reference(df, ["accuracy", "macs"], ["maximize", "minimize"], ref) == [1]
    with pytest.raises(ValueError, match="needs a fixed reference"):
        hypervolume_history(df, ["accuracy", "macs"], ["maximize", "minimize"], None)


# ------------------------------------------------------------------------- drawn fronts


def _front_line(ax, gid="pareto-front"):
    (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == gid]
    return sorted(zip(*(list(map(float, v)) for v in line.get_data())))


def test_drawn_front_is_the_nondominated_set():
    rng = random.Random(3)
    rows = [(i, round(rng.uniform(0.5, 0.95), 3), rng.randrange(100_000, 900_000)) for i in range(40)]
    rows += [(40, rows[0][1], rows[0][2]), (41, 0.999, 950_000, False), (42, 0.999, 50_000, True, "over budget")]
    df = frame(rows)
    fig, info = front_figure(df, "macs", "accuracy", x_scale=1e-6)
    feasible = {r[0]: (r[2] * 1e-6, r[1]) for r in rows if len(r) == 3}  # not #41 (infeasible), #42 (rejected)
    assert sorted(set(_front_line(fig.axes[0]))) == nondominated(list(feasible.values()))
    assert {feasible[n] for n in info.front} == set(nondominated(list(feasible.values())))
    assert (0 in info.front) == (40 in info.front)  # a duplicate point is on the front with its twin
    pyplot().close(fig)


def test_front_labels_never_overlap_and_can_be_hidden():
    # a dense front: 30 non-dominated points close together
    rows = [(i, 0.5 + 0.015 * i, 100_000 + 4_000 * i) for i in range(30)]
    fig, info = front_figure(frame(rows), "macs", "accuracy")
    ax = fig.axes[0]
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for t in ax.texts if t.get_text().startswith("#")]
    assert boxes and len(boxes) + len(info.hidden_labels) == 30
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    frame_box = ax.get_window_extent(r)
    assert all(frame_box.x0 <= b.x0 and b.x1 <= frame_box.x1 for b in boxes)
    pyplot().close(fig)
    fig, info = front_figure(frame(rows), "macs", "accuracy", labels=False)
    assert not [t for t in fig.axes[0].texts if t.get_text().startswith("#")] and not info.hidden_labels
    pyplot().close(fig)


def test_own_front_fills_the_axes_and_paper_points_outside_are_arrows():
    rows = [(i, 0.6 + 0.01 * i, 200_000 + 10_000 * i) for i in range(10)]
    refs = [{"label": "Far", "macs": 313e6, "accuracy": 0.936}, {"label": "Near", "macs": 250_000, "accuracy": 0.64}]
    fig, info = front_figure(frame(rows), "macs", "accuracy", references=refs)
    lo, hi = fig.axes[0].get_xlim()
    assert lo < 0.2 and 0.29 < hi < 0.4  # the study's range, not 313 M
    assert info.outside == ["2 Far (313, 93.6%)"] and "Paper models outside the axes" in info.caption()
    assert "1" in [t.get_text() for t in fig.axes[0].texts]  # the near star keeps its number
    pyplot().close(fig)
    fig, info = front_figure(frame(rows), "macs", "accuracy", references=refs, xlim=(0.19, 0.255), ylim=(0.59, 0.655))
    assert tuple(fig.axes[0].get_xlim()) == (0.19, 0.255) and info.clipped == 4  # trials 6-9
    assert not set(info.hidden_labels) & {"#6", "#7", "#8", "#9"}  # outside the axes: not "hidden"
    pyplot().close(fig)


def test_compare_fronts_draws_each_study_front():
    a = frame([(0, 0.8, 100), (1, 0.9, 200), (2, 0.7, 300)])
    b = frame([(0, 0.85, 150), (1, 0.95, 400), (2, 0.95, 500)])
    fig, fronts = compare_fronts_figure([("A", a), ("B", b)], "macs", "accuracy", x_scale=1.0)
    assert fronts == {"A": [0, 1], "B": [0, 1]}
    assert _front_line(fig.axes[0], "pareto-front:A") == [(100.0, 0.8), (200.0, 0.9)]
    assert _front_line(fig.axes[0], "pareto-front:B") == [(150.0, 0.85), (400.0, 0.95)]
    pyplot().close(fig)


def test_pareto_cli_overlays_studies_against_one_reference(tmp_path, capsys):
    a = make_study(tmp_path / "a.journal", 8, name="tpe")
    make_study(tmp_path / "b.journal", 8, name="random", seed=1, macs_scale=1.2)
    out = tmp_path / "cmp"
    rc = main(["pareto", "--storage", str(tmp_path / "a.journal"), "--study", "tpe",
               "--compare", f"{tmp_path / 'b.journal'}:random", "--out", str(out), "--no-paper",
               "--importance-repeats", "1", "--xlim", "macs", "0.05", "0.5"])
    text, err = capsys.readouterr()
    assert rc == 0, err
    info = json.loads((out / "analysis.json").read_text())
    comp = info["comparison"]
    assert [s["label"] for s in comp["studies"]] == ["tpe", "random"]
    ref = comp["reference"]["values"]
    assert ref == info["hypervolume"]["reference"] and ref["macs"] == SearchSpace(SPACE, 10).max_cost("macs")
    assert comp["studies"][0]["hypervolume_final"] == pytest.approx(info["hypervolume"]["final"])
    for stem in ("compare_front_macs", "compare_hypervolume"):
        assert (out / f"{stem}.png").stat().st_size > 5000
    assert "Same fixed reference point for every study" in (out / "compare_hypervolume.svg").read_text()
    assert "compared: random" in text and a.study_name in text
    # the same study twice, or mismatched --storage/--study counts: one-line errors
    for argv, needle in ((["--compare", f"{tmp_path / 'a.journal'}:tpe"], "given twice"),
                         (["--storage", str(tmp_path / "b.journal")], "2 --storage for 1 --study"),
                         (["--xlim", "1", "0"], "LO must be below HI"),
                         (["--reference", "macs"], "expected OBJECTIVE=NUMBER")):
        rc = main(["pareto", "--storage", str(tmp_path / "a.journal"), "--study", "tpe", "--out", str(out), *argv])
        err = capsys.readouterr().err
        assert rc == 2 and needle in err and err.count("\n") == 1, err


def test_split_compare_keeps_urls_whole(tmp_path):
    from ghostnas.cli.analysis import split_compare

    j = tmp_path / "s.journal"
    j.write_text("")
    assert split_compare(str(j)) == (str(j), None)
    assert split_compare(f"{j}:tpe") == (str(j), "tpe")
    assert split_compare("sqlite:///x.db") == ("sqlite:///x.db", None)
    assert split_compare("sqlite:///x.db:tpe") == ("sqlite:///x.db", "tpe")
    assert split_compare("postgresql://u:p@host:5432/db") == ("postgresql://u:p@host:5432/db", None)
    assert split_compare("env:GHOSTNAS_STORAGE") == ("env:GHOSTNAS_STORAGE", None)
    assert split_compare("env:GHOSTNAS_STORAGE:nsga2") == ("env:GHOSTNAS_STORAGE", "nsga2")


# ------------------------------------------------------------------------- importances


@pytest.mark.parametrize("n,expect", [(MIN_IMPORTANCE_TRIALS - 1, "note"), (MIN_IMPORTANCE_TRIALS, "warning"),
                                      (IMPORTANCE_WARN_TRIALS - 1, "warning"), (IMPORTANCE_WARN_TRIALS, "chart")])
def test_importances_warning_threshold(tmp_path, n, expect):
    study = make_study(tmp_path / f"i{n}.journal", n, objectives=("accuracy",))
    r = param_importances(study, repeats=1)["accuracy"]
    if expect == "note":
        assert "importances" not in r and "too few trials" in r["note"]
        return
    assert sum(r["importances"].values()) == pytest.approx(1.0) and set(r["sd"]) == set(r["importances"])
    assert ("warning" in r) == (expect == "warning") and r["n_trials"] == n
    fig, ax = pyplot().subplots()
    _importance_panel(ax, "accuracy", r, "#0072B2")
    assert bool(ax.patches) == (expect == "chart")  # no bar chart below the threshold
    pyplot().close(fig)


def test_importance_spread_over_resamples(tmp_path):
    study = make_study(tmp_path / "sp.journal", IMPORTANCE_WARN_TRIALS + 4, objectives=("accuracy",))
    r = param_importances(study, repeats=3)["accuracy"]
    assert r["repeats"] == 3 and any(v > 0 for v in r["sd"].values())
    assert max(r["importances"], key=r["importances"].get) == "width"  # accuracy is driven by width
