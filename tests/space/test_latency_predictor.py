"""Per-layer latency predictor: layer enumeration, the table's sums and cache key, build -> predict."""
import json
import random

import pytest
import torch

from ghostnas.ghostnet import GhostNetConfig, build_model, list_models, model_config
from ghostnas.space import ArchConfig, SearchSpace, build_arch, list_spaces, load_space
from ghostnas.space import latency_predictor as lp
from ghostnas.space import latency_table as lt

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", list_models())
def test_config_signatures_equal_traced_layers_for_registry(name):
    cfg = model_config(name)
    res = 32 if "cifar" in name else 64
    sigs = lp.config_signatures(cfg, res)
    assert sigs == lp.trace_signatures(build_model(cfg), res)
    kinds = {s.kind for s in sigs}
    if "cifar" in name:
        assert {"conv", "cifar_head"} <= kinds and ("maxpool" in kinds) == ("vgg" in name)
        assert ("ghost_cat" in kinds) == name.startswith("ghost")
    else:
        assert {"conv", "ghost_cat", "se", "add", "gnet_head"} <= kinds
        assert ("dfc_attn" in kinds) == ("v2" in name)


@pytest.mark.parametrize("space_name", list_spaces())
def test_config_signatures_equal_traced_layers_for_space_points(space_name):
    space = load_space(space_name)
    rng = random.Random(11)
    for _ in range(2):
        arch = space.sample(rng)
        arch = ArchConfig(arch.model, min(arch.resolution, 64))
        assert lp.config_signatures(arch) == lp.trace_signatures(build_arch(arch), arch.resolution)


def test_ghost_module_layers_by_hand():
    """One bottleneck (16 -> 48 -> 24, stride 2, s=3, d=5, SE): its layers and their shapes."""
    cfg = GhostNetConfig(stages=(({"kernel": 3, "exp": 48, "out": 24, "se_ratio": 0.25, "stride": 2,
                                   "ratio": 3, "dw_size": 5},),), num_classes=10, head_chs=32)
    keys = [s.key for s in lp.config_signatures(cfg, 32)]
    assert keys == [
        "conv|3x32x32|cout=16,g=1,k=3x3,p=1x1,relu=1,s=2",           # stem
        "conv|16x16x16|cout=16,g=1,k=1x1,p=0x0,relu=1,s=1",          # ghost1 primary: ceil(48/3)
        "conv|16x16x16|cout=32,g=16,k=5x5,p=2x2,relu=1,s=1",         # ghost1 cheap op, d=5
        "ghost_cat|16x16x16,32x16x16|oup=48",
        "conv|48x16x16|cout=48,g=48,k=3x3,p=1x1,relu=0,s=2",         # strided depthwise
        "se|48x8x8|r=12",
        "conv|48x8x8|cout=8,g=1,k=1x1,p=0x0,relu=0,s=1",             # ghost2 primary: ceil(24/3)
        "conv|8x8x8|cout=16,g=8,k=5x5,p=2x2,relu=0,s=1",
        "ghost_cat|8x8x8,16x8x8|oup=24",
        "conv|16x16x16|cout=16,g=16,k=3x3,p=1x1,relu=0,s=2",         # shortcut depthwise
        "conv|16x8x8|cout=24,g=1,k=1x1,p=0x0,relu=0,s=1",            # shortcut pointwise
        "add|24x8x8,24x8x8|",
        "conv|24x8x8|cout=48,g=1,k=1x1,p=0x0,relu=1,s=1",            # final ConvBnAct
        "gnet_head|48x8x8|classes=10,head=32",
    ]
    for s in lp.config_signatures(cfg, 32):  # every layer builds and runs at its input shapes
        out = lp.build_layer(s)(*[torch.randn(1, *x) for x in s.inputs])
        assert out.shape[0] == 1


def _hand_table(sigs, tmp_path):
    key = lp.table_key("torch", 1, "f32", "wall", version="v", cpu="cpu")
    values = {s.key: 0.001 * (i + 1) for i, s in enumerate(dict.fromkeys(sigs))}
    entries = {k: {"ms": v} for k, v in values.items()}
    entries["noop|1x1x1|"] = {"ms": 0.0005}
    return lp.LatencyTable(key=key, entries=entries, path=None), values


def test_predictor_sums_a_hand_made_table(tmp_path):
    cfg = model_config("ghostnet_050", num_classes=10)
    sigs = lp.config_signatures(cfg, 64)
    table, values = _hand_table(sigs, tmp_path)
    pred = lp.LatencyPredictor(table, missing="error").predict(cfg, 64)
    expected = sum(values[s.key] for s in sigs)  # repeats counted each time
    assert pred.sum_ms == pytest.approx(expected) and pred.ms == pytest.approx(expected)
    assert pred.n_layers == len(sigs) and pred.calibration.model == "sum" and pred.measured_now == 0
    # a calibration point shifts it by the fitted constant (sum + constant below 8 networks)
    p = lp.LatencyPredictor(table, missing="error")
    p.add_point(cfg, expected + 0.5, space="s", input_size=64)
    again = p.predict(cfg, 64)
    assert again.calibration.model == "sum+constant" and again.ms == pytest.approx(expected + 0.5)
    with pytest.raises(ValueError, match="build-table"):
        lp.LatencyPredictor(table, missing="error").predict(cfg, 96)  # other shapes: not in the table


def test_linear_calibration_recovers_known_coefficients():
    rng = random.Random(0)
    pts = []
    for i in range(12):
        f = {"sum_ms": rng.uniform(1, 10), "n_layers": rng.randint(40, 160), "io_melems": rng.uniform(0.1, 3)}
        pts.append({**f, "measured_ms": 0.6 * f["sum_ms"] - 0.004 * f["n_layers"] + 0.3 * f["io_melems"] + 1.0})
    fit = lp.fit_calibration(pts)
    assert fit.model == "linear" and fit.n == 12 and fit.rmspe < 1e-6
    assert (fit.a, fit.b, fit.d, fit.c) == pytest.approx((0.6, -0.004, 0.3, 1.0), abs=1e-7)
    assert lp.fit_calibration(pts[:3]).model == "sum+constant" and lp.fit_calibration([]).model == "sum"


def test_cache_key_names_backend_version_threads_precision_clock_and_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("GHOSTNAS_CACHE", str(tmp_path))
    assert lp.cache_dir() == tmp_path / "latency"
    base = lp.LatencyTable.load("torch", 1)
    assert base.path.parent == tmp_path / "latency"
    assert base.key == {"backend": "torch", "version": torch.__version__, "threads": 1, "precision": "f32",
                        "clock": "wall", "cpu": lp.cpu_model()}
    others = [lp.LatencyTable.load("torch", 2).path, lp.LatencyTable.load("torch", 1, clock="cpu").path]
    monkeypatch.setattr(lt, "cpu_model", lambda: "Other CPU 9000")
    others.append(lp.LatencyTable.load("torch", 1).path)
    monkeypatch.setattr(lt, "backend_version", lambda b: "0.0.1")
    others.append(lp.LatencyTable.load("torch", 1).path)
    assert len({base.path, *others}) == 5
    from ghostnas.space.backends import backend_available
    if backend_available("onnxruntime"):
        assert lp.LatencyTable.load("onnxruntime", 1).path.name.startswith("onnxruntime-0.0.1-t1-f32-wall-")
    # a file whose key does not match is refused, not silently mixed in
    bad = lp.LatencyTable.load("torch", 1)
    bad.path.parent.mkdir(parents=True, exist_ok=True)
    bad.path.write_text(json.dumps({"key": {**bad.key, "cpu": "x"}, "entries": {}}))
    with pytest.raises(ValueError, match="does not match"):
        lp.LatencyTable.load("torch", 1)


def test_build_table_then_predict_round_trip(tmp_path, monkeypatch, tiny_space):
    monkeypatch.setenv("GHOSTNAS_CACHE", str(tmp_path))
    space = SearchSpace(tiny_space)
    table, stats = lp.build_table(space, "torch", samples=2, calibrate=2, warmup=1, min_run_time=0.005,
                                  network_min_run_time=0.02)
    assert table.path.is_file() and stats["calibration_networks"] == 2
    assert stats["measured_layers"] == stats["distinct_layers"] + 1  # + the per-call overhead probe
    assert stats["calibration"]["model"] == "sum+constant" and stats["calibration"]["n"] == 2
    arch = space.default()
    fresh = lp.predict_latency(arch, "torch", missing="error", space="tiny")  # from the file on disk
    direct = lp.LatencyPredictor(table, space="tiny").predict(arch)
    assert fresh.ms == pytest.approx(direct.ms) and fresh.ms > 0 and fresh.measured_now == 0
    assert fresh.sum_ms == pytest.approx(sum(table.layer_ms(s) for s in lp.config_signatures(arch)))
    saved = json.loads(table.path.read_text())
    assert saved["spaces"]["tiny"]["samples"] == 2 and len(saved["points"]["ghostnet"]) == 2
    # an unseen architecture's missing layers are measured on demand and saved
    other = ArchConfig(arch.model, 40)
    p = lp.predict_latency(other, "torch")
    assert p.measured_now > 0 and lp.predict_latency(other, "torch", missing="error").ms == pytest.approx(p.ms)


def test_latency_pred_objective_in_a_tiny_study(tmp_path, monkeypatch, tiny_config):
    from ghostnas.search.study import run_worker
    from ghostnas.search.study_config import OBJECTIVES, StudyConfig

    assert OBJECTIVES["latency_pred"] == "minimize"
    monkeypatch.setenv("GHOSTNAS_CACHE", str(tmp_path / "cache"))
    raw = tiny_config(tmp_path, objectives=["accuracy", "latency_pred"],
                      latency={"backend": "torch", "predictor_samples": 2, "min_run_time": 0.1},
                      constraints={"latency_pred_ms_max": 1e6}, study={"n_trials": 2, "storage": "memory"})
    study = run_worker(StudyConfig.from_dict(raw))
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 2
    for t in done:
        pred = t.user_attrs["latency_pred"]
        assert t.values[1] == pred["predicted_ms"] > 0 and pred["backend"] == "torch"
        assert pred["version"] == torch.__version__ and pred["threads"] == 1 and pred["predict_us"] > 0
        assert t.constraints["latency_pred"] < 0  # within the (huge) budget
    assert study.user_attrs["ghostnas_latency"]["backend"] == "torch"
    with pytest.raises(ValueError, match="unknown latency backend"):
        StudyConfig.from_dict(tiny_config(tmp_path, latency={"backend": "tvm"}))


def test_study_latency_backend_default_and_resume(tmp_path, tiny_config):
    """New studies default to onnxruntime where installed; a study measured before backends existed
    keeps torch; a recorded backend is kept; the config's backend wins."""
    import optuna

    from ghostnas.search.objective import latency_setup
    from ghostnas.search.study_config import StudyConfig
    from ghostnas.space.backends import default_backend

    cfg = StudyConfig.from_dict(tiny_config(tmp_path, objectives=["accuracy", "latency"]))
    new = optuna.create_study()
    assert latency_setup(cfg, new)["backend"] == default_backend()
    assert new.user_attrs["ghostnas_latency"]["threads"] == 1
    old = optuna.create_study()
    old.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"latency": {"median_ms": 3.0}}))
    assert latency_setup(cfg, old)["backend"] == "torch"
    assert latency_setup(cfg, old)["backend"] == "torch"  # now recorded
    pinned = StudyConfig.from_dict(tiny_config(tmp_path, objectives=["accuracy", "latency"],
                                               latency={"backend": "torch", "clock": "cpu"}))
    setup = latency_setup(pinned, new)
    assert setup == {**new.user_attrs["ghostnas_latency"], "backend": "torch", "clock": "cpu"}
    assert setup["version"] == torch.__version__
