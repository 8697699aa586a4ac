"""Execute analysis/notebooks/pareto.py (jupytext percent format) top to bottom on a tiny real study."""
from pathlib import Path

from ghostnas.search.study_config import StudyConfig
from ghostnas.search.readers import pareto_trials
from ghostnas.search.study import run_worker

NOTEBOOK = Path(__file__).resolve().parents[2] / "analysis" / "notebooks" / "pareto.py"
SPACE = {"family": "ghostnet", "name": "tiny", "num_classes": 10,
         "global": {"width": [0.25, 0.35], "resolution": 32, "dropout": 0.0},
         "defaults": {"ratio": [2, 3, 4], "dw_size": [3, 1, 5], "se_ratio": ["table", 0]},
         "stages": [{"rows": [[3, 16, 16, 0, 2]]}, {"rows": [[3, 48, 24, 0, 2]]}]}


def test_pareto_notebook_runs(tmp_path, monkeypatch, execute_notebook):
    raw = {"name": "nb-tiny", "space": SPACE, "seed": 0, "objectives": ["accuracy", "macs"],
           "data": {"dataset": "digits"},
           "fidelity": {"epochs": 1, "fraction": 0.3, "val_fraction": 0.2, "batch_size": 64, "optimizer": "adamw",
                        "lr": 0.004, "schedule": "onecycle"},
           "sampler": {"name": "random"}, "study": {"n_trials": 6, "run_dir": str(tmp_path / "run"), "threads": 1}}
    study = run_worker(StudyConfig.from_dict(raw))
    out = tmp_path / "figs"
    out.mkdir()
    monkeypatch.setenv("GHOSTNAS_NB_STORAGE", str(tmp_path / "run" / "study.journal"))
    monkeypatch.setenv("GHOSTNAS_NB_STUDY", "nb-tiny")
    monkeypatch.setenv("GHOSTNAS_NB_OUT", str(out))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    code, text = execute_notebook(NOTEBOOK, tmp_path)
    for ext in ("png", "svg"):
        assert (out / f"front_macs.{ext}").stat().st_size > 5000
    front = [t.number for t in pareto_trials(study)]
    assert f"Pareto-optimal trials: {front}" in text
    assert "No comparable hand-made reference" in text and "reference point:" in text
    assert "accuracy: " in text and "macs: " in text  # importances (or the too-few-trials note) per objective
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for c in code for o in c.get("outputs", []))
