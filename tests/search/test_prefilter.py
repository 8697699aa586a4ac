"""Zero-cost pre-filtering (ghostnas.search.prefilter): the choice rule, the sampler probe, a study that
trains the argmax candidate with the trained architecture as the trial's parameters, config checks."""
import math
import random

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from ghostnas.search.config import ConfigError
from ghostnas.search.prefilter import (RandomProbe, SamplerProbe, candidate_seed, check_prefilter, choose)
from ghostnas.search.readers import trials_frame
from ghostnas.search.study import open_study, run_worker
from ghostnas.search.study_config import StudyConfig
from ghostnas.search.train import Fidelity
from ghostnas.space import SearchSpace


def test_choose_argmax_ties_and_skips():
    assert choose([1.0, 5.0, 3.0]) == 1
    assert choose([2.0, 2.0, 1.0]) == 0                      # a tie goes to the sampler's candidate
    assert choose([None, 1.0, None, 4.0]) == 3               # unscored candidates never win
    assert choose([math.nan, -math.inf, 0.5]) == 2           # non-finite ranks last
    assert choose([math.nan, -math.inf]) == 0
    assert choose([None, None]) == 0


def test_choose_within_cost():
    scores = [1.0, 9.0, 3.0, 2.0]
    costs = [[5.0], [8.0], [5.0], [1.0]]
    assert choose(scores, costs, "max") == 1
    assert choose(scores, costs, "within_cost") == 2          # 9.0 costs more than the sampler's candidate
    assert choose([1.0, 2.0], [[5.0, 5.0], [4.0, 6.0]], "within_cost") == 0   # every cost must be <=


def test_config_validation():
    fid = Fidelity(batch_size=32)
    assert check_prefilter({"proxy": "synflow", "candidates": 8}, {"name": "tpe"}, fid) == \
        {"proxy": "synflow", "candidates": 8, "batch_size": 32, "select": "max"}
    assert check_prefilter(None, {"name": "tpe"}, fid) == {}
    bad = [({"proxy": "jacov"}, "proxy"), ({"candidates": 1}, "candidates"), ({"candidates": 2.0}, "candidates"),
           ({"batch_size": 1}, "batch_size"), ({"select": "min"}, "select"), ({"k": 3}, "unknown key")]
    for raw, words in bad:
        with pytest.raises(ConfigError, match=words):
            check_prefilter(raw, {"name": "tpe"}, fid)
    with pytest.raises(ConfigError, match="grid"):
        check_prefilter({}, {"name": "grid"}, fid)


def test_study_config_reads_the_table(tmp_path, tiny_config):
    cfg = StudyConfig.from_dict(tiny_config(tmp_path, prefilter={"proxy": "snip", "candidates": 4}))
    assert cfg.prefilter["proxy"] == "snip" and cfg.prefilter["batch_size"] == cfg.fidelity.batch_size
    with pytest.raises(ConfigError, match="unknown key"):
        StudyConfig.from_dict(tiny_config(tmp_path, prefilter={"proxies": "snip"}))


@pytest.mark.parametrize("sampler", [lambda: optuna.samplers.RandomSampler(seed=3),
                                     lambda: optuna.samplers.TPESampler(seed=3, n_startup_trials=2),
                                     lambda: optuna.samplers.NSGAIISampler(seed=3, population_size=4)])
def test_sampler_probe_proposes_what_the_trial_would_get(tiny_space, sampler):
    """Two identical studies: the probe on one gives the architecture that suggest gives on the other."""
    space = SearchSpace(tiny_space, 10)
    dists = {a.name: CategoricalDistribution(list(a.choices)) for a in space.axes}
    studies = [optuna.create_study(directions=["maximize", "minimize"], sampler=sampler()) for _ in range(2)]
    rng = random.Random(0)
    for _ in range(6):  # a shared history, so TPE and NSGA-II are past their random start
        probe = RandomProbe(random.Random(rng.random()))
        space.suggest(probe)
        values = [rng.random(), float(rng.randint(1, 9))]
        for s in studies:
            s.add_trial(optuna.trial.create_trial(params=probe.params, values=values,
                                                  distributions={k: dists[k] for k in probe.params}))
    for _ in range(4):
        t_probe, t_real = studies[0].ask(), studies[1].ask()
        probe = SamplerProbe(t_probe)
        probed = space.suggest(probe)
        assert t_probe.params == {}                                   # the probe recorded nothing
        assert space.suggest(t_real).id == probed.id
        assert t_real.params == probe.params
        # pin the probed parameters the way the pre-filter does, so both histories stay equal
        studies[0]._storage.set_trial_system_attr(t_probe._trial_id, "fixed_params", probe.params)
        t_probe._fixed_params = dict(probe.params)
        assert space.suggest(t_probe).id == probed.id
        for s, t in zip(studies, (t_probe, t_real)):
            s.tell(t, [0.5, 3.0])


def test_random_candidates_are_seeded_by_trial_number(tiny_space):
    space = SearchSpace(tiny_space, 10)
    a = space.suggest(RandomProbe(random.Random(candidate_seed(0, 7, 1))))
    b = space.suggest(RandomProbe(random.Random(candidate_seed(0, 7, 1))))
    assert a.id == b.id and candidate_seed(0, 7, 1) != candidate_seed(0, 8, 1) != candidate_seed(1, 7, 1)
    # every searched axis is drawn, over its choices
    probe = RandomProbe(random.Random(5))
    space.suggest(probe)
    assert set(probe.params) == {a.name for a in space.axes if not a.fixed}


def test_study_trains_the_argmax_candidate_and_records_it(tmp_path, tiny_config, one_thread):
    # proxy "params": the argmax is the largest candidate, known without any training
    raw = tiny_config(tmp_path, fidelity={"epochs": 1, "fraction": 0.15},
                      prefilter={"proxy": "params", "candidates": 4}, constraints={"macs_max": 3_000_000},
                      study={"n_trials": 3, "run_dir": str(tmp_path / "run"), "threads": 1})
    cfg = StudyConfig.from_dict(raw)
    study = run_worker(cfg)
    space = cfg.space(num_classes=10)
    trials = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    assert len(trials) == 3
    for t in trials:
        pf = t.user_attrs["prefilter"]
        scored = [(i, r["score"]) for i, r in enumerate(pf["scores"]) if "score" in r]
        assert pf["chosen"] == max(scored, key=lambda p: (p[1], -p[0]))[0]
        assert pf["scores"][pf["chosen"]]["score"] == max(s for _, s in scored)
        for r in pf["scores"]:
            if "score" in r:
                assert r["score"] == r["params"]            # the proxy value is the parameter count
        # the trial's parameters describe the trained architecture, and the sampler saw them that way
        assert space.config_from_params(t.params).id == t.user_attrs["arch_id"] == pf["chosen_arch_id"]
        assert t.system_attrs["fixed_params"] == t.params
        assert pf["scores"][0]["source"] == "sampler" and {r["source"] for r in pf["scores"][1:]} == {"random"}
        # the random candidates are those the trial number seeds
        for j, r in enumerate(pf["scores"][1:], start=1):
            rp = RandomProbe(random.Random(candidate_seed(cfg.seed, t.number, j)))
            assert space.suggest(rp).id == r["arch_id"]
        assert pf["cpu_s"] > 0 and pf["seconds"] > 0
    df = trials_frame(study)
    assert df["prefilter"].str.startswith("params: candidate").all() and df["prefilter_s"].notna().all()


def test_budget_and_already_evaluated_candidates_are_not_scored(tmp_path, tiny_config, one_thread):
    raw = tiny_config(tmp_path, fidelity={"epochs": 1, "fraction": 0.15},
                      prefilter={"proxy": "params", "candidates": 6}, constraints={"macs_max": 1_500_000},
                      study={"n_trials": 2, "run_dir": str(tmp_path / "run"), "threads": 1})
    study = run_worker(StudyConfig.from_dict(raw))
    seen = set()
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        pf = t.user_attrs["prefilter"]
        for r in pf["scores"]:
            if r["macs"] > 1_500_000:
                assert r.get("skip") == "over budget" and "score" not in r
            elif r["arch_id"] in seen and any(x["macs"] <= 1_500_000 and x["arch_id"] not in seen
                                              for x in pf["scores"]):
                assert r.get("skip") == "already evaluated"
        assert t.user_attrs["macs"] <= 1_500_000 or all(r["macs"] > 1_500_000 for r in pf["scores"])
        seen.add(t.user_attrs["arch_id"])


def test_enqueued_trial_is_not_prefiltered(tmp_path, tiny_config, one_thread):
    raw = tiny_config(tmp_path, fidelity={"epochs": 1, "fraction": 0.15}, prefilter={"proxy": "params", "candidates": 3},
                      study={"n_trials": 1, "run_dir": str(tmp_path / "run"), "threads": 1})
    cfg = StudyConfig.from_dict(raw)
    space = cfg.space(num_classes=10)
    params = {a.name: a.choices[-1] for a in space.axes if not a.fixed}
    open_study(cfg).enqueue_trial(params)
    t = run_worker(cfg).trials[0]
    assert "skipped" in t.user_attrs["prefilter"] and t.user_attrs["arch_id"] == space.config_from_params(params).id
