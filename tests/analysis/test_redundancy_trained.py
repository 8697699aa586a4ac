"""Redundancy of trained plain networks (paper Figure 1 / Table 2, issue "Paper reproduction v2" item 4):
the least-squares d×d filter fit with/without bias and scaling, the per-image redundancy statistic and
its CI on hand-made maps, the report on a tiny network, and no absolute paths in the committed results."""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats as st

from ghostnas.analysis.redundancy import (fit_depthwise_filter, mse_vs_d, per_image_best_partner,
                                          per_image_redundancy, redundancy_ci)
from ghostnas.analysis.similarity import normalize_maps
from ghostnas.analysis.trained_redundancy import pooled_cosine, portable_path, write_redundancy_report

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ the MSE-vs-d fit


def _synthetic(bias: float = 0.0, k: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(4, 12, 12, generator=g, dtype=torch.float64)
    w = torch.randn(k, k, generator=g, dtype=torch.float64)
    dst = F.conv2d(src[:, None], w[None, None], padding=k // 2)[:, 0] + bias
    return src, dst, w


@pytest.mark.parametrize("d", [3, 5, 7])
def test_fit_with_bias_recovers_filter_and_bias_on_unscaled_maps(d):
    src, dst, w = _synthetic(bias=0.7)
    filt, b, mse = fit_depthwise_filter(src, dst, d, bias=True, scale="none")
    pad = (d - 3) // 2
    expected = F.pad(w, (pad, pad, pad, pad))  # the true 3×3 filter at the centre, zeros around it
    assert torch.allclose(filt, expected, atol=1e-9)
    assert b == pytest.approx(0.7, abs=1e-9)
    assert mse < 1e-18


def test_fit_without_bias_cannot_absorb_an_offset_but_is_exact_without_one():
    src, dst, w = _synthetic(bias=0.7)
    assert fit_depthwise_filter(src, dst, 5, bias=False)[2] > 1e-3
    src, dst, w = _synthetic(bias=0.0)
    filt, b, mse = fit_depthwise_filter(src, dst, 3, bias=False)
    assert b is None and mse < 1e-18 and torch.allclose(filt, w, atol=1e-9)


@pytest.mark.parametrize("bias,scale", [(False, "none"), (True, "none"), (False, "minmax"), (True, "minmax")])
def test_mse_is_non_increasing_in_d_and_positive_below_the_true_kernel(bias, scale):
    src, dst, _ = _synthetic(bias=0.3, k=5, seed=1)
    mses = [fit_depthwise_filter(src, dst, d, bias=bias, scale=scale)[2] for d in (1, 3, 5, 7)]
    assert all(b <= a + 1e-12 for a, b in zip(mses, mses[1:]))
    assert mses[0] > 1e-4 and mses[1] > 1e-4  # d = 1, 3 are smaller than the true 5×5 filter
    if bias and scale == "none":
        assert mses[2] < 1e-18 and mses[3] < 1e-18


def test_minmax_scaling_is_the_old_setting_and_ignores_per_image_gain_and_offset():
    src, dst, _ = _synthetic(bias=0.2)
    src, dst = src.relu(), dst.relu()
    ref = fit_depthwise_filter(normalize_maps(src, "minmax"), normalize_maps(dst, "minmax"), 3)
    got = fit_depthwise_filter(src, dst, 3, scale="minmax")
    assert torch.allclose(got[0], ref[0]) and got[2] == pytest.approx(ref[2], rel=1e-12)
    gain = torch.tensor([2.0, 0.5, 3.0, 1.0], dtype=torch.float64)[:, None, None]
    moved = fit_depthwise_filter(src * gain + 1.0, dst * gain * 4 + 5.0, 3, scale="minmax")
    assert moved[2] == pytest.approx(got[2], rel=1e-9)
    # Unscaled, the MSE is in the target's units: scaling the target by 4 multiplies it by 16.
    assert fit_depthwise_filter(src, 4 * dst, 3)[2] == pytest.approx(16 * fit_depthwise_filter(src, dst, 3)[2])
    # The old mse_vs_d default (min–max, no bias) is unchanged.
    maps = torch.stack([src, dst], 1)
    assert mse_vs_d(maps, [(0, 1)], [3]).iloc[0, 0] == pytest.approx(got[2], rel=1e-12)
    with pytest.raises(ValueError, match="scale"):
        fit_depthwise_filter(src, dst, 3, scale="unit")


def test_relative_mse_is_one_minus_r2():
    src, dst, _ = _synthetic(bias=0.5)
    noisy = dst + 0.5 * torch.randn(dst.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    maps = torch.stack([src, noisy], 1)
    rel = mse_vs_d(maps, [(0, 1)], [1, 3, 5], normalize=None, bias=True, relative=True).iloc[0]
    mse = mse_vs_d(maps, [(0, 1)], [1, 3, 5], normalize=None, bias=True).iloc[0]
    assert np.allclose(rel.to_numpy(), mse.to_numpy() / float(noisy.var(unbiased=False)))
    assert 0.0 < rel[5] < rel[1] < 1.0


# ------------------------------------------------------------------ per-image redundancy and its CI


def _hand_made_maps():
    """3 images × 4 maps of 2×2 pixels: known best-partner cosines on each image."""
    e1, e2, e3, e4 = torch.eye(4, dtype=torch.float64)
    c = 0.92
    near = c * e1 + math.sqrt(1 - c * c) * e2  # cosine 0.92 with e1: redundant at 0.9, not at 0.95
    imgs = [
        [e1, 2 * e1, e3, torch.zeros(4, dtype=torch.float64)],  # a scaled copy, an unrelated map, a dead map
        [e1, e2, e3, e4],                                        # all orthogonal
        [e1, near, e3, e4],                                      # one pair at cosine 0.92
    ]
    return torch.stack([torch.stack(m) for m in imgs]).reshape(3, 4, 2, 2)


def test_per_image_best_partner_and_statistics_on_hand_made_maps():
    maps = _hand_made_maps()
    best = per_image_best_partner(maps)
    assert torch.allclose(best[0], torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    assert torch.allclose(best[1], torch.zeros(4, dtype=torch.float64))
    assert torch.allclose(best[2], torch.tensor([0.92, 0.92, 0.0, 0.0], dtype=torch.float64))
    pi = per_image_redundancy(maps, (0.9, 0.95))
    assert list(pi.columns) == ["image", "frac_ge_0.9", "frac_ge_0.95", "mean_best_cos", "frac_dead"]
    assert pi["frac_ge_0.9"].tolist() == [0.5, 0.0, 0.5]
    assert pi["frac_ge_0.95"].tolist() == [0.5, 0.0, 0.0]
    assert np.allclose(pi["mean_best_cos"], [0.5, 0.0, 0.46])
    assert pi["frac_dead"].tolist() == [0.25, 0.0, 0.0]


def test_redundancy_ci_is_the_t_interval_over_images_clipped_for_shares():
    pi = per_image_redundancy(_hand_made_maps(), (0.9,))
    vals = np.array([0.5, 0.0, 0.5])
    half = st.t.ppf(0.975, 2) * vals.std(ddof=1) / math.sqrt(3)
    raw = redundancy_ci(pi, ["frac_ge_0.9"], n_boot=500, clip_shares=False).iloc[0]
    assert raw["mean"] == pytest.approx(1 / 3) and raw["n_images"] == 3
    assert (raw["ci_lo"], raw["ci_hi"]) == pytest.approx((1 / 3 - half, 1 / 3 + half))
    clipped = redundancy_ci(pi, n_boot=500).set_index("statistic")
    assert (clipped.loc["frac_ge_0.9", "ci_lo"], clipped.loc["frac_ge_0.9", "ci_hi"]) == (0.0, 1.0)
    assert 0.0 <= clipped.loc["frac_ge_0.9", "boot_lo"] <= 1 / 3 <= clipped.loc["frac_ge_0.9", "boot_hi"] <= 0.5
    cos = np.array([0.5, 0.0, 0.46])  # a cosine is not clipped
    h = st.t.ppf(0.975, 2) * cos.std(ddof=1) / math.sqrt(3)
    assert clipped.loc["mean_best_cos", "ci_lo"] == pytest.approx(cos.mean() - h)


def test_per_image_and_pooled_redundancy_differ():
    """Two maps equal on one image and orthogonal on the other: redundant on half the images, but their
    cosine over the whole batch is only 0.5, so the pooled statistic calls neither redundant."""
    e1, e2 = torch.eye(2, dtype=torch.float64)
    maps = torch.stack([torch.stack([e1, e1]), torch.stack([e1, e2])]).reshape(2, 2, 1, 2)
    assert per_image_redundancy(maps, (0.9,))["frac_ge_0.9"].tolist() == [1.0, 0.0]
    assert pooled_cosine(maps)[0, 1] == pytest.approx(0.5)


# ------------------------------------------------------------------ the report on a tiny network


def test_report_on_a_tiny_run_record(tmp_path, monkeypatch):
    from ghostnas.ghostnet import CifarNetConfig, build_model

    cfg = CifarNetConfig(arch="vgg16", width=0.125)
    torch.manual_seed(0)
    torch.save(build_model(cfg).state_dict(), tmp_path / "abc.pt")
    (tmp_path / "abc.json").write_text(json.dumps({"key": "abc", "model": cfg.to_dict(), "val_acc": 0.5,
                                                    "seed": 2, "dataset": "npz:/somewhere/train.npz"}))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "imgs.npz", x=rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8),
             y=np.arange(24) % 10)
    monkeypatch.chdir(REPO)
    rep = write_redundancy_report(str(tmp_path / "abc.json"), ["features.0", "features.4"], f"npz:{tmp_path}/imgs.npz",
                                  tmp_path / "out", n=12, n_boot=50, ds=[1, 3], top_k=2, fit_images=6)
    s = rep.summary
    assert s["models"] == ["trained", "untrained control"] and s["mse_non_increasing_in_d"]
    assert {"frac_ge_0.9_pearson", "mean_best_pearson", "frac_constant"} <= set(s["layers"]["features.4"]["trained"])
    ci = s["layers"]["features.0"]["trained"]["frac_ge_0.9"]
    assert ci["ci95_t"][0] <= ci["mean"] <= ci["ci95_t"][1]
    for name in ("redundancy.png", "redundancy.md", "per_image.csv", "fig1_features.0.svg", "pairs_features.0.png",
                 "mse_vs_d.csv", "summary.json"):
        assert (tmp_path / "out" / name).is_file(), name
    text = (tmp_path / "out" / "summary.json").read_text()
    assert str(tmp_path) not in text and "/somewhere" not in text and '"abc.pt"' in text
    assert portable_path(REPO / "experiments") == "experiments"


# ------------------------------------------------------------------ committed results are portable


_ABS = re.compile(rb"(?<![A-Za-z0-9_.~-])/(?:work|root|tmp|home|Users|mnt|data|scratch)/[A-Za-z0-9_.-]")


def test_no_absolute_paths_in_similarity_results():
    folder = REPO / "experiments" / "results" / "similarity"
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    hits = [f"{p.relative_to(REPO)}: {m.group(0)!r}" for p in files for m in [_ABS.search(p.read_bytes())] if m]
    assert not hits, "absolute machine paths:\n" + "\n".join(hits)


def test_committed_plain_resnet56_checkpoint_matches_its_record_and_summary():
    """The inputs of results/similarity/plain_resnet56_cifar10 ship with the repository: the checkpoint
    loads strictly into the network its run record describes, and that network's layers have the map
    counts and sizes the committed summary reports."""
    from ghostnas.analysis.features import capture_features
    from ghostnas.ghostnet import CifarNetConfig, build_model, load_checkpoint

    summary = json.loads((REPO / "experiments/results/similarity/plain_resnet56_cifar10/summary.json").read_text())
    runs = REPO / "experiments" / "results" / "ablation_runs"
    record = json.loads((runs / f"{summary['model']['run_key']}.json").read_text())
    assert summary["model"]["weights"] == f"experiments/results/ablation_runs/{record['key']}.pt"
    net = load_checkpoint(build_model(CifarNetConfig.from_dict(record["model"])), REPO / summary["model"]["weights"])
    net.eval()
    layers = list(summary["layers"])
    with torch.no_grad():
        maps = capture_features(net, layers, torch.zeros(1, 3, 32, 32), ghost_split=False)
    for name in layers:
        c, h, w = maps[name].output.shape[1:]
        assert summary["layers"][name]["shape"] == f"{c} maps, {h}×{w}", name
