"""Measurement: analytic counts vs the built model, the counter report, latency (the `ghostnas profile`
command is tested in tests/cli/test_cli_profile.py)."""
import dataclasses
import json
import random

import pytest
import torch
import torch.nn as nn

from ghostnas.ghostnet import (BlockSpec, CifarNetConfig, GhostNetConfig, build_model, cifar_conv_layers,
                               create_model, default_resolution, list_models, model_config)
from ghostnas.space import (Counts, FlopReport, LatencyResult, analytic_counts, built_counts, count_flops,
                            list_spaces, load_space, measure_latency)


pytestmark = pytest.mark.usefixtures("one_thread")


def _built_counts(cfg, res, device="meta"):
    """The reference count (built model + FlopCounterMode); meta by default, see built_counts."""
    return built_counts(cfg, res, device)


# ------------------------------------------------------------------------ analytic: registry

@pytest.mark.parametrize("name", list_models())
def test_analytic_equals_built_model_for_registry(name):
    cfg = model_config(name)
    res = default_resolution(name)
    params, macs = _built_counts(cfg, res)
    c = analytic_counts(cfg, res)
    assert (c.params, c.macs) == (params, macs)
    assert c.flops == 2 * macs and c.resolution == res
    assert sum(c.macs_by_type.values()) == c.macs == sum(c.macs_by_role.values())
    assert sum(c.params_by_type.values()) == c.params


def test_analytic_known_values():
    # The README's table (and the paper's 141M / 5.2M for GhostNet 1.0x).
    c = analytic_counts(model_config("ghostnet_100"), 224)
    assert (c.params, c.macs) == (5_182_508, 141_150_512)
    assert c.macs_by_type["linear"] == 1280 * 1000
    assert analytic_counts(model_config("ghost_resnet56_cifar"), 32).macs == 65_286_784


# ------------------------------------------------------------------------ analytic: random configs

def _random_ghostnet(rng: random.Random) -> tuple[GhostNetConfig, int]:
    stages = []
    for _ in range(rng.randint(1, 5)):
        stage = []
        for _ in range(rng.randint(1, 3)):
            stage.append(BlockSpec(kernel=rng.choice([3, 5]), exp=rng.randint(4, 200), out=rng.randint(4, 120),
                                   se_ratio=rng.choice([0, 0.25]), stride=rng.choice([1, 1, 2]),
                                   ratio=rng.randint(1, 5), dw_size=rng.choice([1, 3, 5, 7])))
        stages.append(tuple(stage))
    cfg = GhostNetConfig(stages=tuple(stages), width=rng.choice([0.35, 0.5, 0.75, 1.0, 1.3]),
                         num_classes=rng.randint(1, 20), stem_chs=rng.choice([8, 16]),
                         head_chs=rng.choice([16, 64, 1280]), version=rng.choice(["v1", "v2"]),
                         in_chans=rng.choice([1, 3]))
    return cfg, rng.randint(24, 256)


def _random_cifar(rng: random.Random) -> tuple[CifarNetConfig, int]:
    arch = rng.choice(["vgg16", "resnet56"])
    n = len(cifar_conv_layers(arch))
    width = rng.choice([0.0625, 0.125, 0.25, 0.5, 1.0])
    kwargs = dict(arch=arch, width=width, num_classes=rng.randint(2, 12), in_chans=rng.choice([1, 3]))
    if rng.random() < 0.15:
        cfg = CifarNetConfig(**kwargs)
    else:
        cfg = CifarNetConfig(ratios=tuple(rng.randint(1, 5) for _ in range(n)),
                             dw_sizes=tuple(rng.choice([1, 3, 5, 7]) for _ in range(n)), **kwargs)
    return cfg, rng.randint(32, 70) if arch == "vgg16" else rng.randint(5, 70)


@pytest.mark.parametrize("family", ["ghostnet", "cifar"])
def test_analytic_equals_built_model_for_random_configs(family):
    rng = random.Random(1234 if family == "ghostnet" else 4321)
    make = _random_ghostnet if family == "ghostnet" else _random_cifar
    checked = too_small = 0
    while checked < 120:
        cfg, res = make(rng)
        try:
            params, macs = _built_counts(cfg, res)
        except RuntimeError:  # a v2 DFC avg-pool on a 1x1 map: the network cannot run at `res`
            with pytest.raises(ValueError, match="too small"):
                analytic_counts(cfg, res)
            too_small += 1
            continue
        c = analytic_counts(cfg, res)
        assert (c.params, c.macs) == (params, macs), (cfg, res)
        checked += 1
    assert checked == 120


def test_analytic_equals_built_model_for_search_spaces():
    # ArchConfigs sampled from every shipped space (the benchmark checks 200 per space).
    names = list_spaces()
    assert names
    for name in names:
        space = load_space(name)
        rng = random.Random(7)
        for arch in [space.default()] + [space.sample(rng) for _ in range(8)]:
            c = analytic_counts(arch)
            assert c.resolution == arch.resolution
            assert (c.params, c.macs) == _built_counts(arch.model, arch.resolution), (name, arch)


def test_analytic_odd_resolutions_and_v2_pooling():
    # Odd sizes exercise floor/ceil in stride-2 convs and the v2 avg-pool (floor) branch.
    for name in ("ghostnet_050", "ghostnetv2_100"):
        cfg = model_config(name, num_classes=10)
        for res in (33, 65, 97, 161):
            c = analytic_counts(cfg, res)
            assert _built_counts(cfg, res) == (c.params, c.macs)
    # The same on real CPU tensors (the meta-device shortcut counts what a real run counts).
    for name, res in (("ghostnetv2_100", 65), ("ghost_vgg16_cifar", 33), ("ghost_resnet56_cifar", 31)):
        cfg = model_config(name, width=0.5) if name.endswith("_cifar") else model_config(name)
        c = analytic_counts(cfg, res)
        assert _built_counts(cfg, res, device="cpu") == (c.params, c.macs)


def test_analytic_does_not_build_the_model(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("analytic_counts built a module")
    monkeypatch.setattr(nn.Module, "__init__", boom)
    assert analytic_counts(model_config("ghostnetv2_100"), 224).macs > 0
    assert analytic_counts(model_config("ghost_vgg16_cifar"), 32).macs > 0


@dataclasses.dataclass(frozen=True)
class _Arch:  # the shape of the search space's ArchConfig
    model: object
    resolution: int


def test_analytic_accepts_arch_config_and_validates():
    cfg = model_config("ghostnet_050")
    assert analytic_counts(_Arch(cfg, 160)) == analytic_counts(cfg, 160)
    assert analytic_counts(_Arch(cfg, 160), 224) == analytic_counts(cfg, 224)  # explicit wins
    assert analytic_counts(cfg, 160).macs < analytic_counts(cfg, 224).macs
    with pytest.raises(ValueError, match="resolution"):
        analytic_counts(cfg)
    with pytest.raises(ValueError, match="positive integer"):
        analytic_counts(cfg, 0)
    with pytest.raises(ValueError, match="cannot count"):
        analytic_counts({"width": 1.0}, 224)
    with pytest.raises(ValueError, match="too small"):
        analytic_counts(model_config("vgg16_cifar"), 16)
    assert isinstance(analytic_counts(cfg, 64), Counts)
    assert json.loads(json.dumps(analytic_counts(cfg, 64).to_dict()))["macs"] == analytic_counts(cfg, 64).macs


# ------------------------------------------------------------------------ count_flops

def test_count_flops_report_side_by_side():
    cfg = model_config("ghostnet_050", num_classes=10)
    model = build_model(cfg)
    before = {k for k, _ in model.named_buffers()}
    report = count_flops(model, 48, analytic_config=cfg)
    assert isinstance(report, FlopReport)
    assert {k for k, _ in model.named_buffers()} == before  # thop ran on a copy
    by = {r.counter: r for r in report.results}
    assert set(by) == {"analytic", "fvcore", "thop", "flop_counter_mode"}
    exact = analytic_counts(cfg, 48).macs
    assert by["analytic"].unit == "MACs" and by["analytic"].total == exact
    assert by["flop_counter_mode"].unit == "FLOPs" and by["flop_counter_mode"].total == 2 * exact
    # fvcore and thop count MACs and add BN (and thop activations/pooling) on top of conv+linear.
    assert by["fvcore"].unit == "MACs" and by["fvcore"].total > exact
    assert by["thop"].unit == "MACs" and by["thop"].total > exact
    assert by["fvcore"].conv_linear_macs == exact == by["thop"].conv_linear_macs
    assert by["fvcore"].breakdown.get("batch_norm", 0) > 0
    assert by["fvcore"].unsupported_ops  # hard-sigmoid, mul, add... captured, not printed
    assert report.params == sum(p.numel() for p in model.parameters())
    d = json.loads(json.dumps(report.to_dict()))
    assert d["counters"]["thop"]["unit"] == "MACs"
    text = str(report)
    for word in ("analytic", "fvcore", "thop", "flop_counter_mode", "MACs", "FLOPs"):
        assert word in text


def test_count_flops_is_quiet(capfd):
    model = create_model("ghost_vgg16_cifar", width=0.125)
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error")  # any leaked warning fails the test
        report = count_flops(model, (3, 32, 32))
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert "analytic" not in {r.counter for r in report.results}


# ------------------------------------------------------------------------ latency

def test_measure_latency_result_fields():
    model = create_model("ghost_resnet56_cifar", width=0.25)
    model.train()
    r = measure_latency(model, 32, batch=2, threads=1, warmup=2, min_run_time=0.05)
    assert isinstance(r, LatencyResult)
    assert model.training  # restored
    assert r.n_runs >= 1 and r.median > 0 and r.p90 >= r.median * 0.5 and r.iqr >= 0
    assert r.threads == 1 and r.batch == 2 and r.device == "cpu" and r.torch_version == torch.__version__
    assert r.noisy == (r.iqr / r.median > 0.10)
    assert json.loads(json.dumps(r.to_dict()))["median_ms"] == pytest.approx(r.median * 1e3)
    cl = measure_latency(model, (3, 32, 32), threads=1, channels_last=True, warmup=1, min_run_time=0.02)
    assert cl.channels_last


def test_measure_latency_validates():
    model = create_model("ghost_resnet56_cifar", width=0.25)
    with pytest.raises(ValueError, match="threads"):
        measure_latency(model, 32, threads=0)
    with pytest.raises(ValueError, match="batch"):
        measure_latency(model, 32, batch=0)
    with pytest.raises(ValueError, match="device"):
        measure_latency(model, 32, device="tpu")
    with pytest.raises(ValueError, match="input_size"):
        measure_latency(model, (32, 32))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            measure_latency(model, 32, device="cuda")


def test_measure_deploy_latency_folds_bn_and_defaults_the_size():
    from ghostnas.space import load_space, measure_deploy_latency
    arch = load_space("ghost_vgg16_cifar").default()
    r = measure_deploy_latency(arch, threads=1, warmup=1, min_run_time=0.02)  # ArchConfig: its resolution
    assert r.input_size == (3, arch.resolution, arch.resolution) and r.channels_last and r.threads == 1
    model = create_model("ghost_resnet56_cifar", width=0.25).train()
    s = measure_deploy_latency(model, batch=2, script=True, warmup=1, min_run_time=0.02)  # traced at 32
    assert s.input_size == (3, 32, 32) and s.batch == 2 and model.training  # model untouched
    with pytest.raises(ValueError, match="ArchConfig"):
        measure_deploy_latency("ghostnet_100")
