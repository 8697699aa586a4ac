"""Search spaces: the paper's network as the default point, round-trips, ids, validation, Optuna."""
import json
import random

import optuna
import pytest

from ghostnas.ghostnet import GhostNetConfig, create_model
from ghostnas.cli import main
from ghostnas.space import ArchConfig, analytic_counts, build_arch, list_spaces, load_space

SPACES = ["ghostnet", "ghostnet_cifar", "ghost_vgg16_cifar", "ghost_resnet56_cifar"]


def test_shipped_spaces_load():
    names = list_spaces()
    assert set(SPACES) <= set(names)
    for name in names:  # every shipped space, by name: a real space whose default point builds
        space = load_space(name)
        assert space.cardinality > 1, name
        arch = space.default()
        model = build_arch(arch)
        assert analytic_counts(arch).params == sum(p.numel() for p in model.parameters()) > 0, name


def test_default_point_is_paper_ghostnet_100():
    d = load_space("ghostnet").default()
    assert d.model == GhostNetConfig() and d.resolution == 224
    assert sum(p.numel() for p in build_arch(d).parameters()) == 5_182_508
    v = load_space("ghost_vgg16_cifar").default()
    assert set(v.model.ratios) == {2} and set(v.model.dw_sizes) == {3}
    assert sum(p.numel() for p in build_arch(v).parameters()) == \
        sum(p.numel() for p in create_model("ghost_vgg16_cifar").parameters())


@pytest.mark.parametrize("name", SPACES)
def test_round_trip_and_stable_id(name):
    space = load_space(name)
    rng = random.Random(0)
    ids = set()
    for _ in range(20):
        c = space.sample(rng)
        assert ArchConfig.from_json(c.to_json()) == c
        assert ArchConfig.from_json(c.to_json()).id == c.id and len(c.id) == 12
        ids.add(c.id)
    assert len(ids) > 15  # samples differ
    # The id is a hash of content, not of object identity or process.
    assert space.default().id == load_space(name).default().id


def test_ids_are_stable_across_versions():
    # Pinned: a change here silently orphans every stored study's architecture ids.
    assert load_space("ghostnet").default().id == "3948b67d764c"


def test_suggest_uses_readable_stable_names():
    space = load_space("ghostnet_cifar")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    cfg = space.suggest(trial)
    assert "stage3.ratio" in trial.params and "width" in trial.params
    assert "resolution" not in trial.params  # fixed axes are not suggested
    assert space.config_from_params(trial.params) == cfg
    rows = cfg.model.rows
    assert rows[0].ratio == trial.params["stage0.ratio"] and rows[0].dw_size == trial.params["stage0.dw_size"]


def test_per_block_axes_and_depth():
    spec = {"family": "ghostnet", "name": "pb", "num_classes": 10, "global": {"resolution": 32, "width": 0.5},
            "stages": [{"rows": [[3, 16, 16, 0, 2]]},
                       {"rows": [[3, 48, 24, 0, 2], [3, 72, 24, 0, 1]], "depth": [1, 2, 3],
                        "per_block": ["ratio"], "ratio": [2, 4]}]}
    from ghostnas.space import SearchSpace
    space = SearchSpace(spec)
    names = [a.name for a in space.axes]
    assert "stage1.block2.ratio" in names and "stage1.ratio" not in names
    c = space.config_from_params({"stage1.depth": 3, "stage1.block0.ratio": 4, "stage1.block2.ratio": 2})
    st = c.model.stages[1]
    assert [b.ratio for b in st] == [4, 2, 2] and [b.stride for b in st] == [2, 1, 1]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(5):
        t = study.ask()
        cfg = space.suggest(t)
        depth = t.params["stage1.depth"]
        assert all(f"stage1.block{b}.ratio" in t.params for b in range(depth))
        assert not any(f"stage1.block{b}.ratio" in t.params for b in range(depth, 3))
        assert len(cfg.model.stages[1]) == depth


def test_grid_for_ablations():
    space = load_space("ghost_vgg16_cifar")
    grid = space.grid({"ratio": [2, 3, 4, 5]})
    assert [set(c.model.ratios) for c in grid] == [{2}, {3}, {4}, {5}]
    assert all(set(c.model.dw_sizes) == {3} for c in grid)
    g2 = load_space("ghostnet").grid({"dw_size": [1, 7], "width": [0.5, 1.0]})
    assert len(g2) == 4 and {b.dw_size for b in g2[0].model.rows} == {1}


def _spec(**over):
    base = {"family": "ghostnet", "name": "t", "num_classes": 10, "global": {"resolution": 32},
            "stages": [{"rows": [[3, 16, 16, 0, 2]]}, {"rows": [[3, 48, 24, 0, 2]]}]}
    for k, v in over.items():
        if k == "stage":
            base["stages"][0].update(v)
        elif k == "global":
            base["global"].update(v)
        else:
            base[k] = v
    return base


@pytest.mark.parametrize("over,needle", [
    (dict(stage={"ratio": [0, 2]}), "stage0.ratio: value 0 is not allowed; expected an integer >= 1"),
    (dict(stage={"ratio": [2.5]}), "stage0.ratio: value 2.5"),
    (dict(stage={"dw_size": [2]}), "stage0.dw_size: value 2 is not allowed; expected an odd integer"),
    (dict(stage={"se_ratio": [1.0]}), "stage0.se_ratio: value 1.0 is not allowed; expected a number in [0, 1)"),
    (dict(stage={"out_mult": [0]}), "stage0.out_mult: value 0"),
    (dict(stage={"ratio": []}), "stage0.ratio: empty choice list"),
    (dict(stage={"colour": [1]}), "unknown key(s) in [[stages]] #0: colour"),
    (dict(global_={"x": 1}), "unknown key(s) in the space: global_"),
    (dict(**{"global": {"width": [-1.0]}}), "axis width: value -1.0"),
    (dict(**{"global": {"resolution": [2]}}), "axis resolution: value 2 is not allowed; expected at least 8"),
    (dict(stage={"rows": [[3, 16, 16, 0, 3]]}), "stage0.rows.stride: value 3"),
    (dict(stage={"rows": [[3, 0, 16, 0, 1]]}), "stage0.rows.exp: value 0"),
    (dict(family="mlp"), "unknown family 'mlp'"),
])
def test_validation_errors_name_axis_value_and_allowed(over, needle):
    from ghostnas.space import SearchSpace
    with pytest.raises(ValueError) as e:
        SearchSpace(_spec(**over))
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_cifar_space_validation_and_params():
    from ghostnas.space import SearchSpace
    with pytest.raises(ValueError, match="axis resolution: value 16 .* at least 32"):
        SearchSpace({"family": "cifar", "arch": "vgg16", "resolution": 16})
    with pytest.raises(ValueError, match="arch: value 'vgg19'"):
        SearchSpace({"family": "cifar", "arch": "vgg19"})
    space = load_space("ghost_vgg16_cifar")
    with pytest.raises(ValueError, match="unknown parameter"):
        space.config_from_params({"layer99.ratio": 2})
    with pytest.raises(ValueError, match="layer0.ratio: value 9"):
        space.config_from_params({"layer0.ratio": 9})
    with pytest.raises(ValueError, match="unknown space 'nope'"):
        load_space("nope")


def test_arch_json_errors():
    with pytest.raises(ValueError, match="malformed"):
        ArchConfig.from_json("{not json")
    with pytest.raises(ValueError, match="unknown architecture family"):
        ArchConfig.from_json(json.dumps({"family": "x", "model": {}, "resolution": 32}))


def test_space_show_cli(capsys, tmp_path):
    assert main(["space", "show", "ghost_vgg16_cifar"]) == 0
    out = capsys.readouterr().out
    assert "layer11.dw_size" in out and "cardinality 281,474,976,710,656" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('family = "ghostnet"\n[global]\nresolution = [2')
    assert main(["space", "show", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_load_model_spec_accepts_name_export_and_bare_configs(tmp_path):
    from ghostnas.ghostnet import CifarNetConfig, model_config
    from ghostnas.space import load_model_spec
    assert load_model_spec("ghostnet_050", num_classes=10).config == model_config("ghostnet_050", num_classes=10)
    arch = load_space("ghostnet_cifar").default()
    (tmp_path / "arch.json").write_text(arch.to_json())  # what `ghostnas export` writes
    s = load_model_spec(str(tmp_path / "arch.json"))
    assert (s.config, s.resolution, s.label) == (arch.model, arch.resolution, "arch.json")
    cfg = CifarNetConfig.uniform("resnet56", 3, 5)
    (tmp_path / "bare.json").write_text(cfg.to_json())
    assert load_model_spec(str(tmp_path / "bare.json")).config == cfg
    (tmp_path / "flat.json").write_text(json.dumps({"family": "cifar", **cfg.to_dict()}))
    assert load_model_spec(str(tmp_path / "flat.json")).resolution is None
    for text, message in (("{", "not valid JSON"), ('{"family": "alexnet"}', "family"),
                          ('{"arch": "vgg16", "colour": 1}', "colour")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(ValueError, match=message) as e:
            load_model_spec(str(tmp_path / "bad.json"))
        assert str(e.value).startswith(str(tmp_path / "bad.json")) and "\n" not in str(e.value)
    with pytest.raises(ValueError, match="unknown model 'ghostnet_999'"):
        load_model_spec("ghostnet_999")
    with pytest.raises(ValueError, match="missing.json: no such model config file"):
        load_model_spec(str(tmp_path / "missing.json"))
