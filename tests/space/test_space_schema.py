"""Space schema: equivalent choices merged (ids unchanged, cardinality = distinct architectures),
the costliest architecture (hypervolume reference), ``extends`` with overrides and cycles."""
import itertools
import random
import tomllib

import optuna
import pytest

from ghostnas.cli import main
from ghostnas.space import SearchSpace, analytic_counts, list_spaces, load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Pinned: merging equivalent choices must not move any shipped space's default architecture.
DEFAULT_IDS = {"ghostnet": "3948b67d764c", "ghostnet_cifar": "82d84d1c7f70", "ghost_vgg16_cifar": "fe6801ac9fdd",
               "ghost_resnet56_cifar": "b128a453636e"}

# Small enough to enumerate: SE "table" = 0 in stage 0 (no SE row); in stage 1 only at depth 1
# (row 1 has SE); per-block s; out_mult / kernel interact through the shortcut.
SMALL = {"family": "ghostnet", "name": "small", "num_classes": 10,
         "global": {"width": 0.25, "resolution": 32, "dropout": 0.0},
         "stages": [{"rows": [[3, 16, 16, 0, 2]], "se_ratio": ["table", 0, 0.25], "dw_size": [1, 7],
                     "out_mult": [1.0, 0.75]},
                    {"rows": [[3, 24, 24, 0, 2], [5, 48, 24, 0.25, 1]], "depth": [1, 2],
                     "se_ratio": ["table", 0], "per_block": ["ratio"], "ratio": [1, 2, 5], "dw_size": [7],
                     "kernel": ["table", 3]},
                    {"rows": [[3, 32, 32, 0, 2]], "ratio": [2, 4], "dw_size": [7]}]}


@pytest.fixture(scope="module")
def small_points():
    """(id, MACs, params) of every assignment of every written choice of SMALL (inactive per-block
    axes and merged-away values included)."""
    space = SearchSpace(SMALL)
    out = []
    for combo in itertools.product(*[a.written for a in space.axes]):
        arch = space.config_from_params(dict(zip([a.name for a in space.axes], combo)))
        c = analytic_counts(arch)
        out.append((arch.id, c.macs, c.params))
    return out


@pytest.mark.parametrize("name", sorted(DEFAULT_IDS))
def test_shipped_default_ids_unchanged(name):
    assert load_space(name).default().id == DEFAULT_IDS[name]
    assert set(DEFAULT_IDS) <= set(list_spaces())


def test_ghostnet_cifar_merges_se_where_the_table_has_none():
    space = load_space("ghostnet_cifar")
    for i in (0, 1, 3):  # table rows without SE: "table" and 0 build the same network
        axis = space._axis[f"stage{i}.se_ratio"]
        assert axis.choices == ("table",) and axis.merged == ((0, "table"),) and axis.written == ("table", 0)
        assert axis.fixed
    for i in (2, 4, 5):  # SE 0.25 in the table: a real choice
        assert space._axis[f"stage{i}.se_ratio"].choices == ("table", 0)
    assert set(space.merged) == {"stage0.se_ratio", "stage1.se_ratio", "stage3.se_ratio"}
    # the merged-away value is still accepted and means the same architecture
    assert space.config_from_params({"stage0.se_ratio": 0}).id == space.default().id
    # width 3 x stages (s 4 x d 4 [x SE 2 where it matters]; stage 3: two depths)
    assert space.cardinality == 3 * 16 * 16 * 32 * 32 * 32 * 32 == 805_306_368
    text = space.describe()
    assert "merged: 0 = 'table': same network" in text and "805,306,368 distinct architectures" in text


@pytest.mark.parametrize("name", ["ghostnet", "ghostnet_cifar"])
def test_merging_never_changes_an_architecture_id(name):
    merged, raw = load_space(name), SearchSpace(load_space(name).spec, merge=False)
    assert raw.merged == {} and merged.cardinality < raw.n_assignments
    rng = random.Random(0)
    for _ in range(150):  # random points over the *written* choices, merged-away values included
        params = {a.name: rng.choice(a.written) for a in merged.axes}
        assert merged.config_from_params(params).id == raw.config_from_params(params).id


def test_cardinality_counts_distinct_architectures_by_brute_force(small_points):
    space = SearchSpace(SMALL)
    assert space.cardinality == len({p[0] for p in small_points})
    # stage 1: SE "table" = 0 only at depth 1, so not merged; stage 0: merged
    assert space._axis["stage1.se_ratio"].choices == ("table", 0)
    assert space._axis["stage0.se_ratio"].choices == ("table", 0.25)
    assert space.n_assignments > space.cardinality


@pytest.mark.parametrize("metric", ["macs", "params"])
def test_max_cost_is_the_brute_force_maximum(metric, small_points):
    space = SearchSpace(SMALL)
    assert space.max_cost(metric) == max(p[1 if metric == "macs" else 2] for p in small_points)
    with pytest.raises(ValueError, match="no analytic maximum for 'latency'"):
        space.max_cost("latency")


def test_old_study_keeps_its_choices_after_a_merge():
    """A study begun before merging suggested stage0.se_ratio over ['table', 0, 0.25]; Optuna cannot
    change a categorical's choices within a study, so suggest keeps the old list and maps the value."""
    space = load_space("ghostnet")
    axis = space._axis["stage0.se_ratio"]
    assert axis.choices == ("table", 0.25) and axis.written == ("table", 0, 0.25)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    old = study.ask()
    old.suggest_categorical("stage0.se_ratio", ["table", 0, 0.25])
    study.tell(old, 1.0)
    for _ in range(3):
        cfg = space.suggest(study.ask())
        assert cfg.model.stages[0][0].se_ratio in (0.0, 0.25)


# ------------------------------------------------------------------------- extends


def _write(path, text):
    path.write_text(text)
    return path


def test_extends_shipped_space_with_overrides(tmp_path):
    child = _write(tmp_path / "child.toml", 'extends = "ghostnet_cifar"\n'
                   '[global]\nwidth = [0.5]\n[defaults]\nratio = [2, 3]\n[stages.3]\ndepth = [1]\n')
    space = load_space(child)
    base = load_space("ghostnet_cifar")
    assert space.name == "child" and space.extends == ["ghostnet_cifar"]
    assert space.description == base.description  # inherited; name is not
    assert space._axis["width"].choices == (0.5,) and space._axis["stage2.ratio"].choices == (2, 3)
    assert space._axis["stage3.depth"].choices == (1,)
    assert space.spec["global"]["dropout"] == base.spec["global"]["dropout"]  # tables merge key by key
    assert "extends" not in space.spec and space.spec["stages"][3]["rows"] == base.spec["stages"][3]["rows"]


def test_extends_relative_chain_and_stage_list_replacement(tmp_path):
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "base.toml", 'family = "ghostnet"\nnum_classes = 10\n[global]\nresolution = 32\n'
           '[[stages]]\nrows = [[3, 16, 16, 0, 2]]\nratio = [2, 3]\n[[stages]]\nrows = [[3, 24, 24, 0, 2]]\n')
    _write(tmp_path / "sub" / "mid.toml", 'extends = "../base.toml"\n[stages.1]\nratio = [4]\n')
    leaf = _write(tmp_path / "leaf.toml", 'extends = "sub/mid.toml"\n[global]\nwidth = [0.25, 0.5]\n')
    space = load_space(leaf)
    assert [p.endswith(n) for p, n in zip(space.extends, ("mid.toml", "base.toml"))] == [True, True]
    assert space._axis["stage0.ratio"].choices == (2, 3) and space._axis["stage1.ratio"].choices == (4,)
    assert space._axis["width"].choices == (0.25, 0.5)
    repl = _write(tmp_path / "repl.toml", 'extends = "base.toml"\n[[stages]]\nrows = [[3, 8, 8, 0, 2]]\n'
                  '[[stages]]\nrows = [[3, 8, 8, 0, 2]]\n[[stages]]\nrows = [[3, 8, 8, 0, 2]]\n')
    assert len(load_space(repl).stages) == 3  # an array of stages replaces the base's


@pytest.mark.parametrize("files,needle", [
    ({"a.toml": 'extends = "b.toml"\n', "b.toml": 'extends = "a.toml"\n'}, "extends cycle .*a.toml -> .*b.toml -> .*a.toml"),
    ({"a.toml": 'extends = "a.toml"\n'}, "extends cycle"),
    ({"a.toml": 'extends = "nope"\n'}, "extends 'nope': unknown space 'nope'"),
    ({"a.toml": 'extends = "missing.toml"\n'}, "extends 'missing.toml': no such file"),
    ({"a.toml": 'extends = "ghostnet_cifar"\n[stages.9]\ndepth = [1]\n'}, r"\[stages.9\]: stage index must be .*0..5"),
    ({"a.toml": 'extends = 3\n'}, "extends must be a shipped space name or a .toml path"),
])
def test_extends_errors_are_one_line(tmp_path, capsys, files, needle):
    for name, text in files.items():
        _write(tmp_path / name, text)
    with pytest.raises(ValueError, match=needle):
        load_space(tmp_path / "a.toml")
    assert main(["space", "show", str(tmp_path / "a.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ghostnas: error: ") and err.count("\n") == 1


def test_space_show_prints_the_effective_space(tmp_path, capsys):
    child = _write(tmp_path / "c.toml", 'extends = "ghostnet_cifar"\n[defaults]\nratio = [2]\n')
    assert main(["space", "show", str(child), "--toml"]) == 0
    out = capsys.readouterr().out
    assert "extends ghostnet_cifar" in out and "(merged: 0 = 'table': same network)" in out
    toml_text = out.split("# effective space", 1)[1].split("\n", 1)[1]
    again = SearchSpace(tomllib.loads(toml_text))  # the printed TOML is the resolved space, no extends
    loaded = load_space(child)
    assert [(a.name, a.choices) for a in again.axes] == [(a.name, a.choices) for a in loaded.axes]
    assert again.default().id == loaded.default().id
