"""Every configured sampler runs a real (tiny) study; grid covers its space exactly once."""
import optuna
import pytest

from ghostnas.search.study_config import StudyConfig

from ghostnas.search.study import run_worker

GRID_SPACE = {
    "family": "ghostnet", "name": "g", "num_classes": 10,
    "global": {"width": 0.25, "resolution": 32, "dropout": 0.0},
    "defaults": {"ratio": 2, "dw_size": 3, "se_ratio": 0},
    "stages": [{"rows": [[3, 16, 16, 0, 2]], "ratio": [2, 4]}, {"rows": [[3, 48, 24, 0, 2]], "dw_size": [1, 3]},
               {"rows": [[3, 72, 32, 0, 2]]}],
}


def cfg(tmp_path, sampler, objectives=("accuracy", "macs"), n=3, space=GRID_SPACE):
    return StudyConfig.from_dict({
        "name": f"s-{tmp_path.name}", "space": space, "seed": 0, "objectives": list(objectives),
        "data": {"dataset": "digits"}, "sampler": sampler,
        "fidelity": {"epochs": 1, "fraction": 0.15, "val_size": 100, "batch_size": 64, "optimizer": "adamw", "lr": 0.004},
        "study": {"n_trials": n, "storage": "memory", "run_dir": str(tmp_path / "run"), "threads": 1}})


@pytest.mark.parametrize("sampler,objectives", [
    ({"name": "tpe"}, ("accuracy",)), ({"name": "tpe"}, ("accuracy", "macs")),
    ({"name": "nsga2", "population_size": 2}, ("accuracy", "macs")),
    ({"name": "nsga3", "population_size": 2}, ("accuracy", "macs", "params")),
    ({"name": "random"}, ("accuracy", "params")), ({"name": "gp", "n_startup_trials": 2}, ("accuracy",)),
])
def test_sampler_runs(tmp_path, sampler, objectives):
    study = run_worker(cfg(tmp_path, sampler, objectives))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 3 and len(done[0].values) == len(objectives)
    expected = {"tpe": "TPESampler", "nsga2": "NSGAIISampler", "nsga3": "NSGAIIISampler", "random": "RandomSampler",
                "gp": "GPSampler"}[sampler["name"]]
    assert type(study.sampler).__name__ == expected


def test_grid_sampler_visits_every_point_once(tmp_path):
    study = run_worker(cfg(tmp_path, {"name": "grid"}, n=4))
    points = sorted((t.params["stage0.ratio"], t.params["stage1.dw_size"]) for t in study.trials)
    assert points == [(2, 1), (2, 3), (4, 1), (4, 3)]


def test_bad_sampler_option_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="sampler 'tpe': bad option"):
        run_worker(cfg(tmp_path, {"name": "tpe", "colour": "red"}))
    with pytest.raises(ValueError, match="unknown sampler 'cmaes'"):
        cfg(tmp_path, {"name": "cmaes"})
