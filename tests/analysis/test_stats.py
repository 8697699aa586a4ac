"""ghostnas.analysis.stats against values computed by hand (or by the textbook formula)."""
import math

import numpy as np
import pytest
from scipy import stats as st

from ghostnas.analysis.stats import (bootstrap_ci, diff_ci95, holm_adjust, kendall, kendall_p_method, kendall_tau_b, mean_ci95,
                                     spearman, spearman_rho, topk_overlap)


def test_mean_ci95_by_hand():
    m, lo, hi = mean_ci95([1, 2, 3])
    half = 4.302653 * 1.0 / math.sqrt(3)  # t(0.975, 2) * s / sqrt(n), s = 1
    assert m == 2.0
    assert lo == pytest.approx(2 - half, abs=1e-5) and hi == pytest.approx(2 + half, abs=1e-5)
    m1, lo1, hi1 = mean_ci95([0.7])
    assert m1 == 0.7 and math.isnan(lo1) and math.isnan(hi1)
    assert all(math.isnan(v) for v in mean_ci95([]))


def test_holm_adjust_by_hand():
    # Sorted 0.01, 0.02, 0.03, 0.04 (m = 4): 4 x 0.01, 3 x 0.02, 2 x 0.03 = 0.06 -> kept at 0.06 by the
    # running maximum, 1 x 0.04 -> 0.06 as well; returned in the order given.
    assert holm_adjust([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm_adjust([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    out = holm_adjust([0.01, float("nan"), 0.04])  # NaN stays NaN and is not counted: m = 2
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)
    assert holm_adjust([]) == []


def test_diff_ci95_welch_by_hand():
    a, b = [1, 2, 3], [2, 4, 6, 8]
    out = diff_ci95(a, b)
    # var(a) = 1, var(b) = 20/3; se^2 = 1/3 + (20/3)/4 = 2; Welch-Satterthwaite df = 4 / ((1/3)^2/2 + (5/3)^2/3)
    se = math.sqrt(2.0)
    df = 4.0 / ((1 / 3) ** 2 / 2 + (5 / 3) ** 2 / 3)
    assert df == pytest.approx(4.0755, abs=1e-4)
    t = st.t.ppf(0.975, df)
    assert out["diff"] == -3.0
    assert out["ci95"] == pytest.approx([-3 - t * se, -3 + t * se], abs=1e-9)
    assert out["p_value"] == pytest.approx(2 * st.t.sf(3 / se, df), abs=1e-12)
    one = diff_ci95([1.0], [2.0, 3.0])
    assert one["diff"] == -1.5 and math.isnan(one["p_value"]) and all(math.isnan(v) for v in one["ci95"])


def test_kendall_exact_permutation_p_values():
    # n = 4: 24 orders. tau = 1 only for the identity; |tau| = 1 for it and the reversal -> p = 2/24.
    tau, p = kendall([1, 2, 3, 4], [1, 2, 3, 4])
    assert tau == 1.0 and p == pytest.approx(2 / 24)
    # One swapped neighbour pair: 5 concordant, 1 discordant -> tau = 4/6. Orders with <= 1 inversion:
    # 1 + 3 = 4, and as many with >= 5 inversions -> p = 8/24.
    tau, p = kendall([1, 2, 3, 4], [2, 1, 3, 4])
    assert tau == pytest.approx(2 / 3) and p == pytest.approx(8 / 24)
    assert kendall_p_method([1, 2, 3, 4], [2, 1, 3, 4]) == "exact"
    assert kendall_p_method([1, 1, 3, 4], [2, 1, 3, 4]) == "asymptotic"
    shuffled = np.random.default_rng(0).permutation(40)
    assert kendall_p_method(range(40), shuffled) == "asymptotic"  # n > 33
    assert kendall_p_method(range(40), range(40)) == "exact"  # no discordant pair: scipy is exact at any n
    assert all(math.isnan(v) for v in kendall([1.0], [2.0]))


def test_spearman_by_hand():
    rho, _ = spearman([1, 2, 3], [1, 3, 2])
    assert rho == pytest.approx(1 - 6 * 2 / (3 * 8))  # 1 - 6 sum d^2 / (n (n^2 - 1))
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3])[0])


def test_vectorised_correlations_match_scipy_with_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, size=(20, 9)).astype(float)  # many ties
    y = x + rng.integers(0, 4, size=(20, 9))
    tb = kendall_tau_b(x, y)
    rs = spearman_rho(x, y)
    for i in range(20):
        assert tb[i] == pytest.approx(st.kendalltau(x[i], y[i]).statistic, abs=1e-12)
        assert rs[i] == pytest.approx(st.spearmanr(x[i], y[i]).statistic, abs=1e-12)
    assert np.isnan(kendall_tau_b(np.ones(5), np.arange(5.0)))


def test_bootstrap_ci_is_the_seeded_percentile_bootstrap():
    x = np.array([0.3, 0.1, 0.8, 0.5, 0.9, 0.2, 0.4])
    lo, hi = bootstrap_ci(np.mean, x, n_boot=500, seed=7)
    idx = np.random.default_rng(7).integers(0, x.size, size=(500, x.size))
    assert (lo, hi) == pytest.approx(tuple(np.percentile(x[idx].mean(axis=1), [2.5, 97.5])), abs=1e-12)
    # Deterministic for a seed, different for another; vectorised and looped statistics agree.
    y = np.array([0.5, 0.1, 0.6, 0.9, 0.7, 0.3, 0.2])
    a = bootstrap_ci(kendall_tau_b, x, y, n_boot=300, seed=1, vectorized=True)
    assert a == bootstrap_ci(kendall_tau_b, x, y, n_boot=300, seed=1, vectorized=True)
    assert a == pytest.approx(bootstrap_ci(lambda u, v: st.kendalltau(u, v).statistic, x, y, n_boot=300, seed=1))
    assert a != bootstrap_ci(kendall_tau_b, x, y, n_boot=300, seed=2, vectorized=True)
    assert a[0] <= kendall(x, y)[0] <= a[1]
    # A perfect ranking stays perfect in every defined resample (all-tied resamples are dropped).
    assert bootstrap_ci(kendall_tau_b, [1, 2, 3, 4], [1, 2, 3, 4], n_boot=200, vectorized=True) == (1.0, 1.0)
    assert all(math.isnan(v) for v in bootstrap_ci(np.mean, [1.0]))
    with pytest.raises(ValueError, match="equal lengths"):
        bootstrap_ci(kendall_tau_b, [1, 2, 3], [1, 2])


def test_topk_overlap():
    x = [8, 7, 6, 5, 4, 3, 2, 1]
    assert topk_overlap(x, x) == 1.0
    assert topk_overlap(x, [7, 1, 8, 5, 4, 3, 2, 6]) == 0.5  # top-2 {0, 1} vs {2, 0}
    assert topk_overlap(x, x[::-1]) == 0.0
    assert topk_overlap([3, 2, 1, 0], [0, 1, 2, 3], frac=1.0) == 1.0
    with pytest.raises(ValueError, match="frac"):
        topk_overlap(x, x, frac=0)
