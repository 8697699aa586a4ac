"""Fidelity report (ghostnas.analysis.fidelity): statistics recomputed by hand from the cached run records.

Uses the tiny ladder of tests/conftest.py (the ladder tests use the same config; its run cache is shared through pytest's
session folder, so in one session it is trained once).
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as st

from ghostnas.analysis.fidelity import run_fidelity, summarize_ladder
from ghostnas.search.ladder import load_ladder, load_ladder_config

@pytest.fixture(scope="module")
def report(tmp_path_factory, write_tiny_ladder):
    path = write_tiny_ladder(tmp_path_factory.mktemp("fidelity"), tmp_path_factory.getbasetemp() / "tiny_ladder_runs")
    out = tmp_path_factory.mktemp("fidelity_out")
    return run_fidelity(path, out=out, n_boot=400), path, out


def _records(out: Path, runs_dir: Path) -> dict:
    """{(arch_id, rung, seed): val_acc} read straight from the JSON files the ladder wrote."""
    index = json.loads((out / "ladder.json").read_text())["runs"]
    accs = {}
    for name, key in index.items():
        aid, rung, seed = name.split("/")
        accs[(aid, int(rung[4:]), int(seed[4:]))] = json.loads((runs_dir / f"{key}.json").read_text())["val_acc"]
    return accs


def test_summary_has_every_key_with_its_type(report):
    rep, _, _ = report
    s = rep.summary
    for key, typ in [("dataset", str), ("space", str), ("n_archs", int), ("seeds", list), ("command", str),
                     ("rungs", list), ("noise_ceiling", dict), ("proxies", list), ("val_size", int),
                     ("val_resolution_95", float), ("reference", str)]:
        assert isinstance(s[key], typ), key
    assert s["dataset"] == "digits" and s["space"] == "tiny" and s["n_archs"] == 4 and s["seeds"] == [0, 1]
    assert s["command"].startswith("ghostnas fidelity --config ") and "mean" in s["reference"]
    assert len(s["rungs"]) == 1  # one per budget below the top
    for r in s["rungs"]:
        for key, typ in [("epochs", int), ("fraction", float), ("kendall_tau", float), ("spearman_rho", float),
                         ("topk_overlap", float), ("regret", float), ("core_seconds", float)]:
            assert isinstance(r[key], typ), key
        for key in ("kendall_ci95", "spearman_ci95"):
            assert len(r[key]) == 2 and all(isinstance(v, float) for v in r[key])
            assert r[key][0] <= r[key][1]
    assert set(s["noise_ceiling"]) >= {"kendall_tau", "kendall_ci95"}
    assert [p["name"] for p in s["proxies"]] == ["params", "macs", "synflow", "snip", "grad_norm", "naswot", "zico"]
    for p in s["proxies"]:
        assert set(p) >= {"name", "kendall_tau", "kendall_ci95", "spearman_rho", "seconds_per_arch"}
        assert isinstance(p["seconds_per_arch"], float) and p["seconds_per_arch"] > 0
    assert json.loads(json.dumps(s)) == s  # plain JSON, no NaN


def test_values_recomputed_from_the_cached_records(report):
    rep, _, out = report
    s, res = rep.summary, rep.result
    accs = _records(out, res.config.runs_dir)
    ids = s["arch_ids"]
    ref = np.array([(accs[(a, 1, 0)] + accs[(a, 1, 1)]) / 2 for a in ids])
    low = np.array([accs[(a, 0, 0)] for a in ids])
    r = s["rungs"][0]
    assert r["kendall_tau"] == pytest.approx(st.kendalltau(low, ref).statistic)
    assert r["spearman_rho"] == pytest.approx(st.spearmanr(low, ref).statistic)
    picks = np.flatnonzero(low == low.max())
    assert r["regret"] == pytest.approx(ref.max() - ref[picks].mean())
    assert r["topk_overlap"] == float(np.argmax(low) == np.argmax(ref))  # top 25% of 4 = the best one
    s0, s1 = (np.array([accs[(a, 1, k)] for a in ids]) for k in (0, 1))
    nc = s["noise_ceiling"]["kendall_tau"]
    assert (nc is None and np.ptp(s0) * np.ptp(s1) == 0) or nc == pytest.approx(st.kendalltau(s0, s1).statistic)
    p = float(np.mean([s0, s1]))
    assert s["val_size"] == 100
    assert s["val_resolution_95"] == pytest.approx(1.96 * math.sqrt(2 * p * (1 - p) / 100))
    params = np.array([res.proxies[a]["params"]["value"] for a in ids])
    prox = next(q for q in s["proxies"] if q["name"] == "params")
    assert prox["kendall_tau"] == pytest.approx(st.kendalltau(params, ref).statistic)
    assert r["core_seconds"] == pytest.approx(sum(
        json.loads((res.config.runs_dir / f"{res.runs[(a, 0, 0)]['key']}.json").read_text())["cpu_s"] for a in ids))


def test_bootstrap_intervals_are_deterministic(report):
    rep, path, _ = report
    res = load_ladder(load_ladder_config(path))
    again = summarize_ladder(res, rep.summary["command"], n_boot=400)
    strip = lambda d: {k: v for k, v in d.items() if "seconds" not in k}  # noqa: E731
    assert [strip(r) for r in again["rungs"]] == [strip(r) for r in rep.summary["rungs"]]
    assert again["noise_ceiling"] == rep.summary["noise_ceiling"]


def test_report_files(report):
    rep, _, out = report
    names = sorted(p.name for p in rep.paths)
    assert names == ["archs.csv", "fidelity.png", "fidelity.svg", "summary.json", "table.md"]
    assert (out / "fidelity.png").stat().st_size > 20_000
    md = (out / "table.md").read_text()
    assert rep.summary["command"] in md and "Noise ceiling" in md and "| 1 ep × 0.3 data |" in md
    rows = (out / "archs.csv").read_text().splitlines()
    assert len(rows) == 5 and rows[0].startswith("arch_id,params,reference_acc,acc_e1_f0.3_s0")
    assert str(out) not in (out / "fidelity.svg").read_text()  # no absolute paths in the figure


def test_incomplete_ladder_is_refused(report, tmp_path):
    _, path, _ = report
    cfg = load_ladder_config(path, [f"output.runs_dir={tmp_path}"])
    with pytest.raises(ValueError, match="incomplete: 12 of 12 runs are missing"):
        summarize_ladder(load_ladder(cfg))
    with pytest.raises(ValueError, match="incomplete"):
        run_fidelity(path, [f"output.runs_dir={tmp_path}"], out=tmp_path / "o", train=False)
