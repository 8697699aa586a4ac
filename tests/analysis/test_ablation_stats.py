"""Ablation and budget statistics (ghostnas.analysis.ablation_stats) against values computed by hand,
the added ghostnas.analysis.stats functions, and the generated README blocks."""
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as st

from ghostnas.analysis.ablation_stats import ablation_statistics, compare, comparison_sentence, point_stats, rank_agreement
from ghostnas.analysis.budget_report import budget_statistics
from ghostnas.analysis.results_readme import refresh_readme, render_results_section, replace_generated_blocks
from ghostnas.analysis.stats import group_bootstrap_ci, kendall, kendall_exact, ols_ci95

T2 = 4.302653  # t(0.975, 2)
T4 = 2.776445  # t(0.975, 4)
REPO = Path(__file__).resolve().parents[2]


def test_point_stats_t_interval_by_hand():
    s = point_stats([50, 52, 54])  # mean 52, SD 2
    half = T2 * 2 / math.sqrt(3)
    assert s["n"] == 3 and s["acc_mean"] == 52.0 and s["acc_sd"] == pytest.approx(2.0)
    assert s["acc_ci95"] == pytest.approx([52 - half, 52 + half], abs=1e-5)
    assert s["acc_ci95_half"] == pytest.approx(half, abs=1e-5)
    one = point_stats([47.5])
    assert one["acc_mean"] == 47.5 and one["acc_sd"] is None and one["acc_ci95"] == [None, None]
    assert point_stats([])["acc_mean"] is None


def test_compare_welch_by_hand_and_sentences():
    # Equal SDs (2) and n = 3 + 3: se = sqrt(4/3 + 4/3), Welch df = 4 exactly.
    c = compare([50, 52, 54], [40, 42, 44])
    se = math.sqrt(8 / 3)
    assert c["diff"] == 10.0 and c["n"] == [3, 3]
    assert c["diff_ci95"] == pytest.approx([10 - T4 * se, 10 + T4 * se], abs=1e-5)
    assert c["diff_p_value"] == pytest.approx(2 * st.t.sf(10 / se, 4), rel=1e-9)
    assert c["verdict"] == "higher"
    assert comparison_sentence("s=2", "s=3", c) == (
        "s=2 is higher than s=3 by 10.00 points (95% CI 5.47 to 14.53, p=0.0036, Welch, n=3+3)")
    low = compare([40, 42, 44], [50, 52, 54])
    assert low["verdict"] == "lower" and comparison_sentence("s=4", "s=3", low) == (
        "s=4 is lower than s=3 by 10.00 points (95% CI 5.47 to 14.53, p=0.0036, Welch, n=3+3)")
    # Overlapping samples: not distinguishable, and the sentence says so with the interval.
    nd = compare([50, 54], [51, 52])
    assert nd["verdict"] == "not distinguishable" and nd["diff"] == 0.5
    s = comparison_sentence("s=3", "s=2", nd, "at 8 epochs")
    assert s.startswith("s=2 and s=3 are not distinguishable at 8 epochs (s=3 − s=2 = 0.50 points, 95% CI −")
    assert "Welch, n=2+2" in s
    # p < 0.05 alone is not enough: the interval must exclude 0 too (they agree for Welch, checked here).
    assert (c["diff_p_value"] < 0.05) == (c["diff_ci95"][0] > 0)


def test_one_seed_gives_no_interval():
    c = compare([50.0], [40.0, 42.0])
    assert c["verdict"] == "one seed: no interval" and c["diff"] == 9.0
    assert c["diff_ci95"] == [None, None] and c["diff_p_value"] is None
    assert comparison_sentence("s=2", "s=3", c) == "s=2 vs s=3: one seed: no interval (s=2 − s=3 = 9.00 points, n=1+2)"
    assert compare([], [1.0, 2.0])["verdict"] == "no data"
    flat = compare([10.0, 10.0], [10.0, 10.0])  # e.g. every tiny net at chance: Welch is undefined
    assert flat["verdict"] == "no seed-to-seed variation: no interval" and flat["diff_ci95"] == [None, None]
    assert comparison_sentence("a", "b", flat) == "a vs b: no seed-to-seed variation: no interval (a − b = 0.00 points, n=2+2)"
    assert compare([10.0, 10.0], [8.0, 9.0])["diff_p_value"] is not None  # one constant side is fine


def test_kendall_exact_matches_scipy_without_ties_and_enumerates_with_ties():
    rng = np.random.default_rng(0)
    for n in (3, 4, 5, 6):
        x, y = rng.permutation(n), rng.permutation(n)
        assert kendall_exact(x, y) == pytest.approx(kendall(x, y))
    # 5 points, one neighbour swap: tau = (9 - 1)/10; orders with <= 1 or >= 9 inversions: 2 * (1 + 4) of 120.
    assert kendall_exact([1, 2, 3, 4, 5], [2, 1, 3, 4, 5]) == pytest.approx((0.8, 10 / 120))
    # Ties: x = [50, 50, 52] against [1, 2, 3]: tau_b = 2 / sqrt(2 * 3); |tau_b| is reached when the
    # untied item takes the largest or smallest y: 4 of 6 orders.
    tau, p = kendall_exact([50, 50, 52], [1, 2, 3])
    assert tau == pytest.approx(2 / math.sqrt(6)) and p == pytest.approx(4 / 6)
    assert all(math.isnan(v) for v in kendall_exact([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="max_n"):
        kendall_exact(range(10), range(10))


def test_group_bootstrap_ci_by_hand():
    # Group 0 resampled (2 draws from [0, 1]) has mean 0, 0.5 or 1 with chances 1/4, 1/2, 1/4.
    lo, hi = group_bootstrap_ci(lambda m: m[:, 0], [[0.0, 1.0], [10.0]], n_boot=4000, seed=1)
    assert (lo, hi) == (0.0, 1.0)
    lo, hi = group_bootstrap_ci(lambda m: m[:, 1], [[0.0, 1.0], [10.0]])
    assert (lo, hi) == (10.0, 10.0)  # one value: no variability
    assert group_bootstrap_ci(lambda m: m[:, 0], [[0.0, 1.0]], seed=3) == group_bootstrap_ci(
        lambda m: m[:, 0], [[0.0, 1.0]], seed=3)
    with pytest.raises(ValueError, match="at least one value"):
        group_bootstrap_ci(lambda m: m[:, 0], [[]])


def test_ols_matches_linregress():
    x, y = [3.0, 4.0, 5.0, 6.0], [6.0, 3.0, 2.5, 1.0]
    fit = ols_ci95([[1, v] for v in x], y, ["a", "b"])
    ref = st.linregress(x, y)
    t = st.t.ppf(0.975, 2)
    assert fit["df"] == 2
    assert fit["coef"]["b"]["estimate"] == pytest.approx(ref.slope)
    assert fit["coef"]["b"]["ci95"] == pytest.approx([ref.slope - t * ref.stderr, ref.slope + t * ref.stderr])
    assert fit["coef"]["b"]["p_value"] == pytest.approx(ref.pvalue)
    two = ols_ci95([[1, 3], [1, 4]], [1, 2])
    assert two["df"] == 0 and two["coef"]["b1"]["estimate"] == pytest.approx(1) and math.isnan(two["coef"]["b1"]["p_value"])


def test_rank_agreement_exact_p_and_bootstrap():
    r = rank_agreement([[1.0], [2.0], [3.0], [4.0]], [90, 91, 92, 93], list("abcd"))
    assert r["tau"] == 1.0 and r["tau_p_value"] == pytest.approx(2 / 24)
    assert r["min_possible_p_value"] == pytest.approx(2 / 24) and r["tau_ci95"] == [1.0, 1.0]
    tied = rank_agreement([[50.0], [50.0], [52.0]], [1, 2, 3], list("abc"))
    assert tied["tied_proxy_means"] and tied["tau"] == pytest.approx(2 / math.sqrt(6))
    assert tied["tau_p_value"] == pytest.approx(4 / 6)
    # Two seeds per point, means 52, 52 (tied), 60.5: tau_b = 2/sqrt(6). Resampled, the first two means are
    # in order (tau 1), reversed (tau 1/3) or tied with chances 3/8, 3/8, 1/4; the third is always highest.
    b = rank_agreement([[50.0, 54.0], [51.0, 53.0], [60.0, 61.0]], [1, 2, 3], list("abc"))
    assert b["tied_proxy_means"] and b["tau"] == pytest.approx(2 / math.sqrt(6))
    assert b["tau_ci95"] == pytest.approx([1 / 3, 1.0])


def _fake_points():
    # Paper Table 4 numbers; proxy accuracies (percent) chosen for hand-checkable statistics.
    return [{"point": "baseline", "ratio": None, "dw_size": None, "accs": [60, 62, 64], "seeds": [0, 1, 2], "paper_acc": 93.6},
            {"point": "s=2 d=3", "ratio": 2, "dw_size": 3, "accs": [50, 52, 54], "seeds": [0, 1, 2], "paper_acc": 93.7},
            {"point": "s=3 d=3", "ratio": 3, "dw_size": 3, "accs": [49, 51, 53], "seeds": [0, 1, 2], "paper_acc": 93.4},
            {"point": "s=4 d=3", "ratio": 4, "dw_size": 3, "accs": [40, 42, 44], "seeds": [0, 1, 2], "paper_acc": 93.0}]


def test_ablation_statistics_on_a_fake_grid():
    s = ablation_statistics(_fake_points(), "vgg16", "ratio", context="at 8 epochs")
    by = {p["point"]: p for p in s["points"]}
    assert s["reference_point"] == "s=2 d=3" and by["s=2 d=3"]["diff_vs_reference"] is None
    assert by["s=3 d=3"]["acc_mean"] == 51.0 and by["s=3 d=3"]["name"] == "s=3"
    assert by["s=4 d=3"]["diff_vs_reference"] == -10.0
    se = math.sqrt(8 / 3)
    assert by["s=4 d=3"]["diff_vs_reference_ci95"] == pytest.approx([-10 - T4 * se, -10 + T4 * se], abs=1e-5)
    assert by["s=4 d=3"]["diff_vs_reference_verdict"] == "lower"
    bvr = s["baseline_vs_reference"]
    assert bvr["diff"] == 10.0 and bvr["verdict"] == "higher" and bvr["paper_diff"] == pytest.approx(-0.1)
    assert [(a["from"], a["to"], a["diff"], a["verdict"]) for a in s["adjacent"]] == [
        ("s=2 d=3", "s=3 d=3", -1.0, "not distinguishable"), ("s=3 d=3", "s=4 d=3", -9.0, "lower")]
    assert s["adjacent"][0]["diff_p_value"] == pytest.approx(2 * st.t.sf(1 / se, 4))
    # proxy order baseline > s2 > s3 > s4, paper s2 > baseline > s3 > s4: one swap of 4 -> tau 2/3, p 8/24.
    t = s["kendall_tau_vs_paper"]
    assert t["points"] == ["baseline", "s=2 d=3", "s=3 d=3", "s=4 d=3"]
    assert t["tau"] == pytest.approx(2 / 3) and t["tau_p_value"] == pytest.approx(8 / 24)
    assert t["tau_p_method"] == "exact permutation" and t["tau_ci95"][0] <= 2 / 3 <= t["tau_ci95"][1]
    g = s["kendall_tau_vs_paper_ghost"]
    assert g["tau"] == 1.0 and g["tau_p_value"] == pytest.approx(2 / 6)
    claims = s["claims"]
    assert claims[0].startswith("VGG-16 is higher than s=2 by 10.00 points (95% CI 5.47 to 14.53, p=0.0036, Welch, "
                                "n=3+3); the paper reports 93.6 vs 93.7 (−0.1 points")
    assert claims[1].startswith("s=2 and s=3 are not distinguishable at 8 epochs (s=3 − s=2 = −1.00 points")
    assert claims[2].startswith("s=4 is lower than s=3 by 9.00 points")
    assert any(c.startswith("s=4 is lower than s=2 by 10.00 points") for c in claims)
    assert any("Kendall's τ-b" in c and "smallest possible exact p is 0.083" in c for c in claims)
    assert s["n_comparisons"] == 4 and s["best_point"] == "s=2 d=3"


def test_ablation_statistics_one_seed_and_missing_point():
    pts = _fake_points()
    for p in pts:
        p["accs"], p["seeds"] = p["accs"][:1], [0]
    pts[2]["accs"], pts[2]["seeds"] = [], []  # s=3 not trained yet
    s = ablation_statistics(pts, "vgg16", "ratio")
    by = {p["point"]: p for p in s["points"]}
    assert by["s=2 d=3"]["acc_ci95"] == [None, None] and by["s=3 d=3"]["n"] == 0
    assert by["s=4 d=3"]["diff_vs_reference_verdict"] == "one seed: no interval"
    assert [(a["from"], a["to"]) for a in s["adjacent"]] == [("s=2 d=3", "s=4 d=3")]
    assert all("one seed: no interval" in c for c in s["claims"] if "τ" not in c and "highest" not in c)
    assert s["kendall_tau_vs_paper"]["n_points"] == 3


def _budgets(drop_last=False):
    def b(epochs, plain, ghost):
        return {"epochs": epochs, "fraction": 0.12, "networks": {
            "baseline": {"accs": plain, "seeds": [0, 1][:len(plain)]},
            "s=2 d=3": {"accs": ghost, "seeds": [0, 1][:len(ghost)]},
            "s=4 d=3": {"accs": [40.0, 41.0], "seeds": [0, 1]}}}
    out = [b(8, [60.0, 62.0], [54.0, 56.0]), b(16, [63.0, 65.0], [60.0, 62.0]), b(32, [66.0, 68.0], [64.0, 66.0])]
    if drop_last:
        out[2]["networks"] = {k: {"accs": [], "seeds": []} for k in out[2]["networks"]}
    return out


def test_budget_statistics_by_hand():
    s = budget_statistics(_budgets(), "vgg16", paper_gap=-0.1)
    assert [b["gap"] for b in s["budgets"]] == [6.0, 3.0, 2.0]
    b8 = s["budgets"][0]
    assert b8["networks"]["baseline"]["mean"] == 61.0 and b8["networks"]["baseline"]["name"] == "VGG-16"
    assert b8["networks"]["baseline"]["ci95"] == pytest.approx([61 - 12.7062 * 1 / 1, 61 + 12.7062], abs=1e-3)
    # Gap 6 with SDs sqrt(2) and sqrt(2): se = sqrt(2/2 + 2/2) = sqrt(2), Welch df = 2.
    assert b8["gap_ci95"] == pytest.approx([6 - T2 * math.sqrt(2), 6 + T2 * math.sqrt(2)], abs=1e-5)
    assert b8["gap_p_value"] == pytest.approx(2 * st.t.sf(6 / math.sqrt(2), 2))
    # Per-budget fit of gaps 6, 3, 2 on log2 epochs 3, 4, 5: slope -2, RSS 2/3, df 1, se sqrt(1/3).
    tr = s["gap_trend"]
    se = math.sqrt(1 / 3)
    assert tr["df"] == 1 and tr["slope_per_doubling"] == pytest.approx(-2.0)
    assert tr["slope_per_doubling_ci95"] == pytest.approx([-2 - 12.7062 * se, -2 + 12.7062 * se], abs=1e-3)
    assert tr["slope_per_doubling_p_value"] == pytest.approx(2 * st.t.sf(2 / se, 1))
    assert tr["verdict"] == "no detectable trend"
    # All 12 runs: two separate lines; RSS = 12 (within cells) + 2 * 2/3 (ghost means off their line) = 40/3,
    # df 8, var(interaction) = 2 * s^2 / 4 with s^2 = 5/3.
    rt = s["gap_trend_runs"]
    se_r = math.sqrt((40 / 3 / 8) / 2)
    t8 = st.t.ppf(0.975, 8)
    assert rt["df"] == 8 and rt["slope_per_doubling"] == pytest.approx(-2.0)
    assert rt["slope_per_doubling_ci95"] == pytest.approx([-2 - t8 * se_r, -2 + t8 * se_r])
    assert rt["slope_per_doubling_p_value"] == pytest.approx(2 * st.t.sf(2 / se_r, 8))
    text = s["gap_trend_statement"]
    assert text.startswith("A trend of the gap VGG-16 − s=2 with the budget is not established: −2.00 points per doubling")
    assert "weak evidence by construction" in text and "t(0.975, 1) = 12.7" in text
    assert "At 32 epochs the gap is +2.00 points" in text and "the paper reports −0.1" in text


def test_budget_statistics_with_a_missing_budget():
    s = budget_statistics(_budgets(drop_last=True), "vgg16")
    last = s["budgets"][2]
    assert last["gap"] is None and last["gap_verdict"] == "no data" and last["networks"]["baseline"]["n"] == 0
    assert s["gap_trend"]["n_budgets"] == 2 and s["gap_trend"]["df"] == 0
    assert s["gap_trend"]["slope_per_doubling"] == pytest.approx(-3.0)  # two points: a line, no interval
    assert s["gap_trend"]["slope_per_doubling_ci95"] == [None, None] and s["gap_trend"]["verdict"] == "no interval"
    assert "At 16 epochs the gap is +3.00 points" in s["gap_trend_statement"]


def test_render_and_replace_generated_blocks():
    s = ablation_statistics(_fake_points(), "vgg16", "ratio")
    summary = {"kind": "ablation", **s, "eval_split": "held-out validation part (2000 images)", "missing_runs": []}
    for p in summary["points"]:
        p["macs"] = 1e8
    md = render_results_section(summary, "results/x/summary.json")
    assert "| s=4 | 100.0 | 42.00 ± 4.97 (n=3) | −10.00 [" in md
    assert "- VGG-16 is higher than s=2 by 10.00 points" in md and "results/x/summary.json" in md
    text = "intro\n<!-- generated:x -->\nold\n<!-- /generated:x -->\nhand-written\n<!-- generated:y -->\nkeep\n<!-- /generated:y -->\n"
    new, changed = replace_generated_blocks(text, lambda n: md if n == "x" else None)
    assert changed == ["x"] and new.startswith("intro\n<!-- generated:x -->\n| point |")
    assert "\n<!-- /generated:x -->\nhand-written\n<!-- generated:y -->\nkeep\n" in new
    assert replace_generated_blocks(new, lambda n: md if n == "x" else None) == (new, [])
    bud = {"kind": "budget", **budget_statistics(_budgets(), "vgg16"), "plain_point": "baseline",
           "reference_point": "s=2 d=3", "eval_split": "val", "missing_runs": []}
    bmd = render_results_section(bud)
    assert "| 8 | 61.00 ± 12.71 (n=2) |" in bmd and "A trend of the gap" in bmd
    with pytest.raises(ValueError, match="regenerate"):
        render_results_section({"ablation": "old"})


def test_readme_generated_blocks_are_current():
    res = refresh_readme(REPO / "experiments" / "README.md", REPO / "experiments" / "results", write=False)
    assert res["changed"] == [], "run: python experiments/refresh_readme.py"
    assert res["skipped"] == [], f"blocks without a results/NAME/summary.json: {res['skipped']}"


# ---------------------------------------------------------------------------------------------
# Boundaries and branches that mutation testing (experiments/mutation/) found unchecked.

def test_p_value_format_boundary():
    from ghostnas.analysis.ablation_stats import fmt_p

    assert fmt_p(0.001) == "p=0.001" and fmt_p(0.000999) == "p<0.001" and fmt_p(0.0312) == "p=0.031"
    assert fmt_p(None) == "p=–" and fmt_p(float("nan")) == "p=–"


def test_missing_runs_section_names_each_run_and_the_command():
    from ghostnas.analysis.ablation_stats import missing_runs_markdown

    assert missing_runs_markdown([], "ghostnas ablate --config x") == []
    missing = [{"point": "s=2 d=3", "seed": 1, "key": "abc"}, {"point": "baseline", "seed": 0, "key": "def", "epochs": 16}]
    lines = missing_runs_markdown(missing, "ghostnas ablate --config x")
    assert lines[:4] == ["", "## Missing runs (2)", "", "This report uses the runs that exist. Not yet trained: "
                         "s=2 d=3 seed 1 (`abc`), 16 epochs baseline seed 0 (`def`)."]
    assert lines[4:] == ["", "Train them (finished runs are reused from the run cache): `ghostnas ablate --config x`"]
    assert missing_runs_markdown(missing, None) == lines[:4]


def test_point_stats_half_width_needs_two_seeds():
    assert point_stats([47.5])["acc_ci95_half"] is None
    assert point_stats([])["acc_ci95_half"] is None and point_stats([])["acc_sd"] is None
    assert point_stats([47.0, 49.0])["acc_ci95_half"] == pytest.approx(12.7062047 * math.sqrt(2) / math.sqrt(2), rel=1e-6)


def test_compare_empty_side_and_a_small_negative_difference():
    assert compare([1.0, 2.0], [])["verdict"] == "no data" and compare([1.0, 2.0], [])["diff"] is None
    # A clear but small drop: the whole interval lies in (-1, 0), so the verdict must be "lower".
    c = compare([50.0, 50.1, 50.2, 50.1], [50.5, 50.6, 50.7, 50.6])
    assert -1 < c["diff_ci95"][0] < c["diff_ci95"][1] < 0 and c["verdict"] == "lower"


def test_rank_agreement_with_one_and_two_points():
    one = rank_agreement([[50.0, 51.0]], [93.0], ["a"])
    assert one["tau"] is None and one["min_possible_p_value"] is None
    two = rank_agreement([[50.0, 51.0], [40.0, 41.0]], [93.0, 92.0], ["a", "b"])
    assert two["tau"] == pytest.approx(1.0) and two["tau_p_value"] == pytest.approx(1.0)
    assert two["min_possible_p_value"] == pytest.approx(1.0)


def _grid(accs_by_point):
    paper = {"baseline": 93.6, "s=2 d=3": 93.7, "s=3 d=3": 93.4, "s=4 d=3": 93.0}
    return [{"point": p, "ratio": None if p == "baseline" else int(p[2]), "dw_size": None if p == "baseline" else 3,
             "accs": a, "seeds": list(range(len(a))), "paper_acc": paper[p]} for p, a in accs_by_point.items()]


def test_best_point_sentence_depends_on_which_point_is_best():
    ref_best = ablation_statistics(_grid({"baseline": [60, 61], "s=2 d=3": [55, 56], "s=3 d=3": [50, 52],
                                          "s=4 d=3": [45, 47]}), "vgg16", "ratio", n_boot=50)
    assert ref_best["best_point"] == "s=2 d=3" and ref_best["best_vs_reference"] is None
    assert any(c.startswith("s=2 (the paper's default) has the highest mean") for c in ref_best["claims"])
    other = ablation_statistics(_grid({"baseline": [60, 61], "s=2 d=3": [50, 52], "s=3 d=3": [55, 56],
                                       "s=4 d=3": [45, 47]}), "vgg16", "ratio", n_boot=50)
    assert other["best_point"] == "s=3 d=3" and other["best_vs_reference"]["to"] == "s=3 d=3"
    assert any(c.startswith("s=3 has the highest mean of the Ghost points") for c in other["claims"])
    assert not any("(the paper's default) has the highest" in c for c in other["claims"])


def test_ghost_only_tau_sentence_only_when_it_differs_from_all_points():
    with_base = ablation_statistics(_grid({"baseline": [60, 61], "s=2 d=3": [55, 56], "s=3 d=3": [50, 52]}),
                                    "vgg16", "ratio", n_boot=50)
    assert with_base["kendall_tau_vs_paper"]["n_points"] == 3 and with_base["kendall_tau_vs_paper_ghost"]["n_points"] == 2
    assert sum("Kendall's τ-b against the paper over the Ghost points" in c for c in with_base["claims"]) == 1
    no_base = ablation_statistics(_grid({"s=2 d=3": [55, 56], "s=3 d=3": [50, 52], "s=4 d=3": [45, 47]}),
                                  "vgg16", "ratio", n_boot=50)
    assert not any("over the Ghost points" in c for c in no_base["claims"])
    assert sum("over all points with a paper number" in c for c in no_base["claims"]) == 1
    # Without the reference point's runs, nothing is compared to it.
    no_ref = ablation_statistics(_grid({"baseline": [60, 61], "s=3 d=3": [50, 52]}), "vgg16", "ratio", n_boot=50)
    assert no_ref["reference_point"] is None and no_ref["baseline_vs_reference"] is None
    assert all(p["diff_vs_reference"] is None for p in no_ref["points"])


def test_ghost_tau_sentence_with_three_ghost_points_and_the_baseline():
    s = ablation_statistics(_grid({"baseline": [60, 61], "s=2 d=3": [55, 56], "s=3 d=3": [50, 52],
                                   "s=4 d=3": [45, 47]}), "vgg16", "ratio", n_boot=50)
    assert s["kendall_tau_vs_paper_ghost"]["n_points"] == 3
    assert sum("over the Ghost points (3 points)" in c for c in s["claims"]) == 1


def test_a_reference_point_without_runs_is_not_compared():
    s = ablation_statistics(_grid({"baseline": [60, 61], "s=2 d=3": [], "s=3 d=3": [50, 52], "s=4 d=3": [45, 47]}),
                            "vgg16", "ratio", n_boot=50)
    assert s["reference_point"] == "s=2 d=3" and s["baseline_vs_reference"] is None
    assert not any("no data" in c or "s=2" in c for c in s["claims"]), s["claims"]
