"""The README's quick-start config runs as shipped (fewer trials) and writes what the README promises."""
from ghostnas.cli import main
from ghostnas.search.config import load_config
from ghostnas.search.study_config import StudyConfig


def test_quickstart_config_is_a_real_multi_objective_study():
    cfg = StudyConfig.from_dict(load_config("quickstart"))
    assert cfg.objectives == ("accuracy", "macs") and cfg.n_trials >= 20
    assert cfg.data["dataset"] == "digits" and cfg.constraints["macs_max"] > 0


def test_quickstart_runs_end_to_end(tmp_path, capsys):
    run = tmp_path / "qs"
    assert main(["search", "--config", "quickstart", "--set", "study.n_trials=2",
                 "--set", f"study.run_dir={run}"]) == 0
    out = capsys.readouterr().out
    assert "2 finished trials" in out
    for name in ("study.journal", "trials.csv", "pareto.png"):
        assert (run / name).is_file()
        assert str(run / name) in out  # the command says where everything is
    assert "pareto trial #" in out
