"""Latency in studies: a minimum timing budget, noisy measurements re-measured, the flag shown in results."""
import optuna
import pytest

from ghostnas.search.config import ConfigError
from ghostnas.search.objective import latency_record
from ghostnas.search.readers import display_frame, trials_frame
from ghostnas.search.study import run_worker
from ghostnas.search.study_config import StudyConfig
from ghostnas.space.latency import LatencyResult


def result(median_ms: float, iqr_ms: float) -> LatencyResult:
    return LatencyResult(median=median_ms / 1e3, iqr=iqr_ms / 1e3, p90=median_ms / 1e3, mean=median_ms / 1e3,
                         n_runs=10, times=(), batch=1, input_size=(3, 32, 32), threads=1, device="cpu",
                         channels_last=True, torch_version="x", noisy=iqr_ms / median_ms > 0.10)


def test_latency_record_keeps_the_least_noisy_attempt():
    rec = latency_record([result(10.0, 3.0), result(8.0, 0.4), result(9.0, 0.5)])
    assert rec["median_ms"] == pytest.approx(8.0) and rec["noisy"] is False
    assert rec["attempts"] == 3 and rec["attempt_medians_ms"] == [10.0, 8.0, 9.0]
    still = latency_record([result(10.0, 3.0), result(12.0, 2.0)])  # 0.30 and 0.167: both noisy
    assert still["median_ms"] == pytest.approx(12.0) and still["noisy"] is True
    with pytest.raises(ValueError):
        latency_record([])


@pytest.mark.parametrize("latency, needle", [
    ({"min_run_time": 0.05}, "min_run_time = 0.05"),
    ({"min_run_time": "1"}, "min_run_time = '1'"),
    ({"remeasure": -1}, "remeasure = -1"),
    ({"remeasure": 11}, "remeasure = 11"),
    ({"remeasure": True}, "remeasure = True"),
])
def test_latency_timing_budget_and_remeasure_are_checked(tiny_config, tmp_path, latency, needle):
    raw = tiny_config(tmp_path, objectives=["accuracy", "latency"], latency={"backend": "torch", **latency})
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        StudyConfig.from_dict(raw)


def test_boundaries_are_accepted(tiny_config, tmp_path):
    raw = tiny_config(tmp_path, objectives=["accuracy", "latency"],
                      latency={"backend": "torch", "min_run_time": 0.1, "remeasure": 0})
    assert StudyConfig.from_dict(raw).latency["remeasure"] == 0
    raw["latency"]["remeasure"] = 10
    StudyConfig.from_dict(raw)


def fake_measurements(monkeypatch, iqrs_ms):
    """measure_deploy_latency returning median 5 ms with the given IQRs in turn (noisy above 0.5 ms)."""
    import ghostnas.space

    calls = []

    def fake(arch, **kw):
        calls.append(kw)
        return result(5.0 + len(calls), iqrs_ms[min(len(calls) - 1, len(iqrs_ms) - 1)])

    monkeypatch.setattr(ghostnas.space, "measure_deploy_latency", fake)
    return calls


@pytest.mark.parametrize("iqrs, remeasure, attempts, noisy", [
    ([0.1], 2, 1, False),            # clean at once: measured once
    ([2.0, 0.1], 2, 2, False),       # noisy, then clean: the clean one is kept
    ([2.0, 2.0, 2.0], 2, 3, True),   # noisy every time: 1 + remeasure attempts, flagged
    ([2.0], 0, 1, True),             # remeasure = 0: never repeated
])
def test_noisy_trial_latency_is_remeasured_and_flagged(tiny_config, tmp_path, monkeypatch, iqrs, remeasure, attempts,
                                                       noisy):
    calls = fake_measurements(monkeypatch, iqrs)
    raw = tiny_config(tmp_path, objectives=["accuracy", "latency"],
                      latency={"backend": "torch", "remeasure": remeasure},
                      study={"n_trials": 1, "storage": "memory"})
    study = run_worker(StudyConfig.from_dict(raw))
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.COMPLETE
    assert len(calls) == attempts and t.user_attrs["latency"]["attempts"] == attempts
    assert t.user_attrs["latency"]["noisy"] is noisy
    frame = trials_frame(study)
    assert frame.loc[0, "latency_noisy"] == noisy
    shown = display_frame(frame, ["accuracy", "latency"]).loc[0, "latency (ms)"]
    assert shown.endswith("(noisy)") == noisy
    assert shown.startswith(f"{t.user_attrs['latency_ms']:.2f}")
    from ghostnas.analysis.fronts import pareto_rows

    assert pareto_rows([t], ["accuracy", "latency"])[0]["latency_noisy"] is noisy
