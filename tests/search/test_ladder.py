"""Fidelity ladders (ghostnas.search.ladder): config validation, architecture sampling, run cache, resume.

A tiny ladder (4 architectures of a 2-stage GhostNet at 16 px, digits, rungs of 1 and 2 epochs on 30% of the
training part) trains in seconds; its run cache lives in pytest's session folder so the other ladder tests
reuse its runs.
"""
import json
from pathlib import Path

import pytest

from ghostnas.search.config import ConfigError
from ghostnas.search.ladder import LadderConfig, load_ladder, load_ladder_config, run_key, run_ladder

@pytest.fixture(scope="module")
def tiny(tmp_path_factory, write_tiny_ladder):
    base = tmp_path_factory.getbasetemp()
    path = write_tiny_ladder(tmp_path_factory.mktemp("ladder"), base / "tiny_ladder_runs")
    return path


def test_run_then_resume_reuses_every_record(tiny, tmp_path):
    cfg = load_ladder_config(tiny, out=tmp_path / "out")
    res = run_ladder(cfg)
    assert res.complete and len(res.runs) == 4 * (1 + 2)  # rung 1 at seed 0, the top rung at seeds 0 and 1
    files = sorted(cfg.runs_dir.glob("*.json"))
    assert len(files) == 12 and len(list((cfg.runs_dir / "proxies").glob("*.json"))) == 4
    stamps = {f: f.stat().st_mtime_ns for f in files}
    for (aid, i, seed), rec in res.runs.items():
        f = cfg.runs_dir / f"{rec['key']}.json"
        assert f in stamps and rec["arch_id"] == aid and rec["seed"] == seed
        # Each rung trained from scratch with its own schedule, validated once at its end.
        assert rec["fidelity"]["epochs"] == cfg.rungs[i].epochs == rec["epochs"] == rec["rung"]["epochs"]
        assert len(rec["curve"]) == 1 and rec["val_acc"] == rec["curve"][-1]
        assert rec["val_size"] == 100 and rec["train_size"] == res.train_sizes[i]
        assert rec["fidelity"]["resolution"] == 16  # the architecture's resolution, not the data's 32 px
        assert rec["cpu_s"] > 0 and rec["threads"] == 1
    assert set(res.proxies) == {a.id for a in res.archs}
    assert all(set(p) == set(cfg.proxy_names) for p in res.proxies.values())

    again = run_ladder(cfg)
    assert again.trained == 0 and again.reused == 12
    assert {f: f.stat().st_mtime_ns for f in cfg.runs_dir.glob("*.json")} == stamps
    loaded = load_ladder(cfg)
    assert loaded.complete and {k: r["val_acc"] for k, r in loaded.runs.items()} == \
        {k: r["val_acc"] for k, r in res.runs.items()}
    written = json.loads((cfg.out_dir / "ladder.json").read_text())
    assert [a["id"] for a in written["archs"]] == [a.id for a in res.archs]


def test_load_ladder_reports_missing_runs(tiny, tmp_path):
    cfg = load_ladder_config(tiny, [f"output.runs_dir={tmp_path / 'empty'}"], out=tmp_path / "o")
    res = load_ladder(cfg)
    assert not res.complete and len(res.missing) == 12 and not res.runs


def test_sampling_is_seeded_and_distinct(tiny):
    cfg = load_ladder_config(tiny)
    a, b = cfg.architectures(10), cfg.architectures(10)
    assert [x.id for x in a] == [x.id for x in b] and len({x.id for x in a}) == 4
    other = load_ladder_config(tiny, ["sample_seed=1"]).architectures(10)
    assert [x.id for x in other] != [x.id for x in a]
    with pytest.raises(ConfigError, match="only 16 distinct"):
        load_ladder_config(tiny, ["n_archs=17"]).architectures(10)


def test_explicit_architecture_list(tiny, tmp_path):
    archs = load_ladder_config(tiny).architectures(10)[:3]
    (tmp_path / "a0.json").write_text(archs[0].to_json())
    raw = {"name": "explicit", "archs": [str(tmp_path / "a0.json"), archs[1].to_dict(), archs[2].to_dict()],
           "data": {"dataset": "digits"}, "ladder": {"epochs": [1, 2]}}
    cfg = LadderConfig.from_dict(raw)
    assert [a.id for a in cfg.architectures(10)] == [a.id for a in archs]
    assert cfg.space_label == "explicit list (3 architectures)"
    with pytest.raises(ConfigError, match="archs lists 3"):
        LadderConfig.from_dict({**raw, "n_archs": 5})
    with pytest.raises(ConfigError, match=r"archs\[0\].*cannot be read"):
        LadderConfig.from_dict({**raw, "archs": ["missing.json", *raw["archs"][1:]]})
    with pytest.raises(ConfigError, match="has 10 classes but the dataset"):
        cfg.architectures(7)


def test_run_key_covers_what_is_trained(tiny):
    cfg = load_ladder_config(tiny)
    arch = cfg.architectures(10)[0]
    f1, f2 = cfg.fidelity(cfg.rungs[0]), cfg.fidelity(cfg.rungs[1])
    k = run_key(arch, f1, "digits", 0, 0)
    assert k == run_key(arch, f1, "digits", 0, 0)
    assert len({k, run_key(arch, f2, "digits", 0, 0), run_key(arch, f1, "digits", 0, 1),
                run_key(arch, f1, "npz:x.npz", 0, 0), run_key(arch, f1, "digits", 1, 0)}) == 5
    from dataclasses import replace
    assert run_key(arch, replace(f1, eval_every=7), "digits", 0, 0) == k  # how often one looks is not keyed


@pytest.mark.parametrize("override, message", [
    (["ladder.epochs=[2, 1]"], "rungs must grow in budget"),
    (["ladder.epochs=[3]"], "[ladder] epochs must be a list of at least 2"),
    (["ladder.fraction=1.5"], "[ladder] fraction 1.5 is not allowed"),
    (["ladder.fraction=[1.0]"], "[ladder] fraction has 1 values for 2 rungs"),
    (["ladder.top_seeds=[0, 0]"], "[ladder] top_seeds has duplicates"),
    (["ladder.seeds=\"0\""], "[ladder] seeds must be a non-empty list"),
    (["ladder.rungs=3"], "unknown key(s) in [ladder]: rungs"),
    (["fidelity.epochs=3"], "[fidelity] epochs: the ladder sets it per rung"),
    (["fidelity.width=0.5"], "[fidelity] width"),
    (["fidelity.lr=-1"], "fidelity.lr: -1 is not allowed"),
    (["fidelity.bogus=1"], "unknown fidelity key(s) bogus"),
    (["n_archs=2"], "n_archs must be an integer >= 3"),
    (["space=no_such_space"], "unknown space 'no_such_space'"),
    (["space_overrides.global.width=-1"], "[space_overrides]"),
    (["proxies.names=[\"snip\", \"jacov\"]"], "[proxies] names must be distinct names from params"),
    (["proxies.batch_size=1"], "[proxies] batch_size must be an integer >= 2"),
    (["run.device=\"tpu\""], "[run] device 'tpu' is not allowed"),
    (["run.threads=0"], "[run] threads must be an integer >= 1"),
    (["data.dataset=3"], "[data] dataset must be a dataset name"),
    (["surprise=1"], "unknown key(s) in the ladder config: surprise"),
])
def test_bad_configs_name_the_key(tiny, override, message):
    with pytest.raises(ConfigError) as e:
        load_ladder_config(tiny, override)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_missing_ladder_table(tmp_path):
    with pytest.raises(ConfigError, match=r"missing table \[ladder\]"):
        LadderConfig.from_dict({"space": "ghostnet_cifar", "data": {"dataset": "digits"}})
    with pytest.raises(ConfigError, match="missing key 'space'"):
        LadderConfig.from_dict({"data": {"dataset": "digits"}, "ladder": {"epochs": [1, 2]}})
