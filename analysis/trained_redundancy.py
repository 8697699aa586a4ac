"""Redundancy of feature maps in trained ordinary networks: the GhostNet paper's Figure 1 and Table 2.

The paper motivates Ghost modules with the redundancy of *trained plain* networks. This module
measures it on any model (ablation run records of plain CIFAR VGG-16 / ResNet-56 in particular)
and writes one folder (:func:`write_redundancy_report`, ``ghostnas redundancy``):

* ``redundancy.csv`` / ``redundancy.md`` / ``redundancy.{png,svg}``: per layer, per-image
  statistics (share of maps whose best partner in the same layer reaches a cosine threshold on
  that image; mean best-partner cosine; share of maps that are zero on the image), averaged over
  the images with 95% Student-t and bootstrap intervals (the images are the sampling unit), next
  to the same network with random weights (the untrained control: what the statistic gives
  without learning, at the same width and map size). The same statistics with Pearson correlation
  (maps centred per image; a constant map is "constant", not redundant) are in the CSV and the
  second markdown table. ``per_image.csv`` holds the raw values.
* ``fig1_<layer>`` (all maps of one image, top pairs outlined) and ``pairs_<layer>`` (the top pairs
  side by side on four images) for the ``figure_layers``.
* ``mse_vs_d.{csv,md,png,svg}``: the paper's Table 2 experiment on those pairs, twice: maps
  min–max scaled without bias (the old figures' setting) and unscaled activations with an
  intercept (reported as MSE / variance of the target, i.e. 1 − R²).
* ``summary.json``: everything above, with paths made portable (no absolute machine paths).

A model spec may be an ablation run record ``<run_key>.json`` from the run cache: the network is
built from its ``model`` entry and the weights default to ``<run_key>.pt`` next to it (written by
``ghostnas ablate --set output.save_checkpoints=true``); :func:`ablation_run_record` finds it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from ghostnas.ghostnet import CifarNetConfig, build_model, load_checkpoint
from ghostnas.search.data import load_dataset

from .features import capture_features, resolve_layers
from .redundancy import DEFAULT_DS, mse_vs_d, per_image_redundancy, redundancy_ci, redundancy_summary
from .similarity import normalize_maps
from .style import save_figure

__all__ = ["RedundancyReport", "write_redundancy_report", "ablation_run_record", "portable_path", "pooled_cosine"]

_STAT_ORDER = ("mean_best_cos", "frac_dead")


@dataclass
class RedundancyReport:
    """What :func:`write_redundancy_report` wrote: the folder, its files and ``summary.json``'s contents."""

    out: Path
    files: list[Path] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def portable_path(path: Union[str, os.PathLike]) -> str:
    """``path`` as it may be written into a committed file: relative to the working directory when
    it lies there or one level up (``../shared/...``), else only its base name."""
    p = os.fspath(path)
    rel = os.path.relpath(os.path.abspath(p))
    if not os.path.isabs(rel) and not rel.startswith(os.path.join("..", "..")):
        return rel
    return os.path.basename(p)


def _portable_spec(spec: str) -> str:
    kind, sep, rest = spec.partition(":")
    return f"{kind}:{portable_path(rest)}" if sep and kind in ("npz", "imagefolder") else spec


def ablation_run_record(config: str, point: str = "baseline", seed: int = 0, overrides: Sequence[str] = ()) -> Path:
    """Where the run cache keeps (or will keep) the record ``<key>.json`` of one ablation run.

    Args:
        config: Ablation config name or file (``vgg16_ratio``).
        point: Grid point label (``baseline`` is the plain network).
        seed: Training seed.
        overrides: ``--set`` overrides as given to ``ghostnas ablate`` (dataset, fidelity, run cache).

    Returns:
        ``<runs_dir>/<key>.json``; the checkpoint is the same path with ``.pt``. Neither need exist.

    Raises:
        ValueError: no such point or seed in the (overridden) grid.
    """
    from ghostnas.search.ablate import AblationConfig, cached_runs
    from ghostnas.search.config import load_config

    cfg = AblationConfig.from_dict(load_config(config, list(overrides)))
    runs, missing = cached_runs(cfg)
    for r in [*runs, *missing]:
        if r["point"] == point and r["seed"] == seed:
            return cfg.runs_dir / f"{r['key']}.json"
    raise ValueError(f"ablation {config}: no run for point {point!r}, seed {seed} "
                     f"(points: {', '.join(p.label for p in cfg.points())}; seeds: {list(cfg.seeds)})")


def _run_record(spec: str) -> Optional[dict]:
    if not spec.endswith(".json") or not os.path.isfile(spec):
        return None
    with open(spec, encoding="utf-8") as f:
        rec = json.load(f)
    ok = isinstance(rec, dict) and "key" in rec and isinstance(rec.get("model"), dict) and "arch" in rec["model"]
    return rec if ok else None


def _arch(spec: str, num_classes: int) -> tuple[nn.Module, dict, Optional[dict]]:
    """The network with fresh random weights, facts for titles, and the run record if ``spec`` is one."""
    rec = _run_record(spec)
    if rec is None:
        from .similarity_report import load_model

        net, name = load_model(spec, num_classes)
        return net, {"name": name}, None
    cfg = CifarNetConfig.from_dict(rec["model"])
    kind = "plain" if not cfg.ghost else f"Ghost (s={cfg.ratios[0]}, d={cfg.dw_sizes[0]})"
    arch = {"vgg16": "VGG-16", "resnet56": "ResNet-56"}.get(cfg.arch, cfg.arch)
    fid = rec.get("fidelity", {})
    return build_model(cfg), {
        "name": f"{kind} {arch} (width {cfg.width:g})", "run_key": rec["key"], "val_acc": rec.get("val_acc"),
        "seed": rec.get("seed"), "epochs": rec.get("epochs"), "train_fraction": fid.get("fraction"),
        "train_dataset": _portable_spec(rec.get("dataset", "")), "eval_split": rec.get("eval_split")}, rec


def _build(spec: str, num_classes: int, weights: Optional[str]) -> tuple[nn.Module, dict, Optional[str]]:
    """``(network with the weights loaded, facts, checkpoint path or None for random weights)``."""
    net, info, rec = _arch(spec, num_classes)
    if rec is not None and not weights:
        weights = os.fspath(Path(spec).with_suffix(".pt"))
        if not os.path.isfile(weights):
            raise ValueError(f"run {rec['key']}: no checkpoint {portable_path(weights)}; retrain it with "
                             "`ghostnas ablate ... --set output.save_checkpoints=true` (see "
                             "experiments/results/similarity/make_figures.sh)")
    if weights:
        load_checkpoint(net, weights)
    info["weights"] = portable_path(weights) if weights else None
    return net, info, weights or None


def _capture(net: nn.Module, layers: list[str], x: torch.Tensor, chunk: int) -> dict[str, torch.Tensor]:
    parts: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    for k in range(0, x.shape[0], chunk):
        for n, lm in capture_features(net, layers, x[k:k + chunk], ghost_split=False).items():
            parts[n].append(lm.output)
    return {n: torch.cat(v) for n, v in parts.items()}


def pooled_cosine(maps: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """C×C cosine between channels over all images and positions (as ``channel_cosine``), in chunks."""
    c = maps.shape[1]
    gram = torch.zeros(c, c, dtype=torch.float64)
    for k in range(0, maps.shape[0], chunk):
        v = maps[k:k + chunk].to(torch.float64).transpose(0, 1).reshape(c, -1)
        gram += v @ v.T
    norm = gram.diagonal().clamp_min(0).sqrt()
    ok = norm > 1e-12 * max(1.0, float(norm.max()))
    inv = torch.where(ok, 1.0 / norm.clamp_min(1e-300), torch.zeros_like(norm))
    return (gram * inv[:, None] * inv[None, :]).clamp(-1.0, 1.0)


def _fmt_ci(row: pd.Series, pct: bool) -> str:
    if pct:
        return f"{100 * row['mean']:.1f}% [{100 * row['ci_lo']:.1f}, {100 * row['ci_hi']:.1f}]"
    return f"{row['mean']:.3f} [{row['ci_lo']:.3f}, {row['ci_hi']:.3f}]"


def _markdown(table: pd.DataFrame, stats: list[str], notes: dict, models: list[str]) -> str:
    short = {"mean_best_cos": "mean best-partner cos", "frac_dead": "share of maps zero",
             "mean_best_pearson": "mean best-partner Pearson", "frac_constant": "share of maps constant"}
    head = ["layer", "maps, H×W"]
    for s in stats:
        for m in models:
            t, pearson = s[len("frac_ge_"):].replace("_pearson", ""), s.endswith("_pearson")
            name = (f"share with a {'Pearson ' if pearson else ''}partner ≥ {t}" if s.startswith("frac_ge_")
                    else short.get(s, s))
            head.append(f"{name} ({m})")
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---|" * (len(head) - 2)]
    for layer in dict.fromkeys(table["layer"]):
        cells = [f"`{layer}`", notes[layer]]
        for s in stats:
            for m in models:
                row = table[(table["layer"] == layer) & (table["statistic"] == s) & (table["model"] == m)]
                cells.append(_fmt_ci(row.iloc[0], s.startswith("frac")) if len(row) else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pair_fits(maps: torch.Tensor, layer: str, pairs: list, ds: list[int]) -> pd.DataFrame:
    """Long table of both fit variants for the pairs of one layer."""
    idx = [(i, j) for i, j, _ in pairs]
    names = [f"{layer} ch{i}→ch{j} (cos {v:.2f})" for i, j, v in pairs]
    out = []
    for variant, kw in (("min–max scaled, no bias", {"normalize": "minmax", "bias": False}),
                        ("unscaled, with bias", {"normalize": None, "bias": True})):
        mse = mse_vs_d(maps, idx, ds, labels=names, **kw)
        for name, (_, j) in zip(names, idx):
            var = float(normalize_maps(maps[:, j], kw["normalize"]).var(unbiased=False))  # as mse_vs_d(relative=True)
            for d in ds:
                out.append({"pair": name, "variant": variant, "d": d, "mse": float(mse.loc[name, d]),
                            "relative_mse": float(mse.loc[name, d]) / var if var > 0 else float("nan")})
    return pd.DataFrame(out)


def _mse_markdown(fits: pd.DataFrame, tag: str, n_fit: int) -> str:
    ds = sorted(fits["d"].unique())
    lines = [f"# MSE of one least-squares d×d filter mapping one map to another ({tag})\n",
             f"Fit over every position of {n_fit} images, zero padding, float64. *min–max*: each map scaled to "
             "[0, 1] per image, no bias (the old figures' setting). *unscaled*: raw activations with an intercept; "
             "its MSE is in activation units², so the relative column divides by the target's variance (1 − R²).\n",
             "| pair | variant | " + " | ".join(f"d={d}" for d in ds) + " | relative MSE, d=" + "/".join(map(str, ds))
             + " |", "|---|---|" + "---|" * (len(ds) + 1)]
    for (pair, variant), g in fits.groupby(["pair", "variant"], sort=False):
        g = g.set_index("d")
        lines.append(f"| {pair} | {variant} | " + " | ".join(f"{g.loc[d, 'mse']:.3e}" for d in ds) + " | "
                     + " / ".join(f"{g.loc[d, 'relative_mse']:.3f}" for d in ds) + " |")
    return "\n".join(lines) + "\n"


def write_redundancy_report(model: str, layers: Sequence[str], data: str, out: Union[str, os.PathLike], *,
                            weights: Optional[str] = None, norm_data: Optional[str] = None,
                            figure_layers: Sequence[str] = (), data_dir: Optional[str] = None, split: str = "train",
                            n: int = 1000, seed: int = 0, thresholds: Sequence[float] = (0.9, 0.95),
                            ds: Sequence[int] = DEFAULT_DS, top_k: int = 3, control: bool = True,
                            resize: Optional[int] = None, label: str = "", n_boot: int = 2000,
                            fit_images: int = 256, chunk: int = 100, image_index: int = 0) -> RedundancyReport:
    """Per-image redundancy statistics with CIs, Figure-1 panels and the MSE-vs-d fits for one model.

    Args:
        model: An ablation run record ``<key>.json``, a registry name, a model config JSON or
            ``torchvision:NAME`` (see :func:`ghostnas.analysis.similarity_report.load_model`).
        layers: Layers (``named_modules`` names) whose outputs are analysed, shallow to deep.
        data: Dataset spec of the images (e.g. ``npz:../shared/data/cifar10/test.npz``).
        out: Output folder.
        weights: Checkpoint; default: ``<key>.pt`` for a run record, else random weights (then
            the model is labelled UNTRAINED and there is no separate control).
        norm_data: Dataset whose mean/std normalise the images (the training set, as in
            training); default: the images' own.
        figure_layers: Layers that get Figure-1 panels and MSE-vs-d fits (default: the first).
        data_dir, split: Passed to :func:`ghostnas.search.data.load_dataset`.
        n: Images (a seeded random subset; all if fewer).
        seed: Seed of the image subset; the control's weights use ``torch.manual_seed(seed)``.
        thresholds: Cosine thresholds of the redundancy shares.
        ds: Kernel sizes of the fits.
        top_k: Pairs per figure layer.
        control: Also analyse the same architecture with random weights.
        resize: Resize images to this square size first (224 for ImageNet models).
        label: Extra text for titles.
        n_boot: Bootstrap resamples.
        fit_images: Images used by the least-squares fits (the first of the subset).
        chunk: Images per forward pass.
        image_index: First image drawn in the Figure-1 panels.

    Returns:
        The :class:`RedundancyReport`.
    """
    layers, ds = list(dict.fromkeys(layers)), list(ds)
    figure_layers = list(dict.fromkeys(figure_layers or layers[:1]))
    if not layers:
        raise ValueError("name at least one layer")
    if unknown := [f for f in figure_layers if f not in layers]:
        raise ValueError(f"figure layer(s) {', '.join(unknown)} must also be among the analysed layers")
    dataset = load_dataset(data, data_dir=data_dir, split=split)
    torch.manual_seed(seed)  # random weights (torchvision:NAME, the control) are the same on every run
    net, info, wpath = _build(model, dataset.num_classes, weights)
    trained = wpath is not None
    resolve_layers(net, layers)
    x, x_u8 = _images(dataset, load_dataset(norm_data, data_dir=data_dir) if norm_data else dataset, n, seed, resize)
    n = x.shape[0]
    if not 0 <= image_index <= n - 4:
        raise ValueError(f"image_index must be in 0..{n - 4} (4 images are drawn), got {image_index}")
    models = {"trained" if trained else "UNTRAINED (random init)": net.eval()}
    if trained and control:
        torch.manual_seed(seed)
        models["untrained control"] = _arch(model, dataset.num_classes)[0].eval()
    feats = {k: _capture(m, layers, x, chunk) for k, m in models.items()}

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = RedundancyReport(out)
    data_txt = _portable_spec(data)
    what = info["name"] + (f", val acc {info['val_acc']:.1%}" if info.get("val_acc") is not None else "")
    tag = (f"{what}{'' if trained else ', UNTRAINED (random init)'}" + (f" ({label})" if label else "")
           + f"; {n} images of {data_txt}")
    per_image, table_df, notes = _layer_statistics(feats, layers, thresholds, n_boot, seed)
    _write_statistics(report, per_image, table_df, notes, thresholds, list(models), tag)
    fit_df, pairs_info = _figure_layers(report, feats[next(iter(models))], x_u8, figure_layers, thresholds[0], top_k,
                                        ds, fit_images, image_index, n, tag)
    mono = bool(all((np.diff(g.sort_values("d")["mse"].to_numpy()) <= 1e-12).all()
                    for _, g in fit_df.groupby(["pair", "variant"])))
    report.summary = {
        "model": {k: v for k, v in info.items()}, "trained": trained, "data": data_txt,
        "normalised_with": _portable_spec(norm_data) if norm_data else data_txt, "images": n, "seed": seed,
        "resize": resize, "thresholds": list(thresholds), "label": label, "models": list(models),
        "layers": _layer_summary(table_df, layers, list(models), notes),
        "top_pairs": pairs_info, "fit_images": min(fit_images, n), "mse_non_increasing_in_d": mono,
        "mse_vs_d": {f"{r['pair']} | {r['variant']} | d={r['d']}": [r["mse"], r["relative_mse"]]
                     for _, r in fit_df.iterrows()}}
    _write(report, "summary.json", json.dumps(report.summary, indent=2) + "\n")
    return report


def _write(report: RedundancyReport, name: str, text: str) -> None:
    (report.out / name).write_text(text, encoding="utf-8")
    report.files.append(report.out / name)


def _images(dataset: Any, stats_src: Any, n: int, seed: int, resize: Optional[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded subset of ``n`` images: normalised with ``stats_src``'s mean/std, and as uint8 for drawing."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(dataset.y), generator=g)[:min(n, len(dataset.y))]
    x_u8 = dataset.x[idx]
    mean = torch.tensor(stats_src.mean).view(1, -1, 1, 1)
    std = torch.tensor(stats_src.std).view(1, -1, 1, 1)
    x = (x_u8.float() / 255.0 - mean) / std
    if resize:
        x = F.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False)
        x_u8 = F.interpolate(x_u8.float(), size=(resize, resize), mode="bilinear", align_corners=False).clamp(0, 255)
    return x, x_u8


def _layer_statistics(feats: dict, layers: Sequence[str], thresholds: Sequence[float], n_boot: int,
                      seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Per-image statistics (cosine and Pearson) of every layer and model, and their means with CIs."""
    pearson_cols = [f"frac_ge_{t:g}_pearson" for t in thresholds] + ["mean_best_pearson", "frac_constant"]
    stat_cols = [f"frac_ge_{t:g}" for t in thresholds] + list(_STAT_ORDER) + pearson_cols
    per_image, table, notes = [], [], {}
    for layer in layers:
        shape = tuple(feats[next(iter(feats))][layer].shape[1:])
        notes[layer] = f"{shape[0]} maps, {shape[1]}×{shape[2]}"
        for kind in feats:
            pi = per_image_redundancy(feats[kind][layer], thresholds)
            # Pearson (centred per map and image): constant maps (bias-only, e.g. in random or barely
            # trained nets) are all cosine-1 with each other but count as "constant", not redundant, here.
            pc = per_image_redundancy(feats[kind][layer], thresholds, centered=True).drop(columns="image")
            pi[pearson_cols] = pc.to_numpy()
            pooled = pooled_cosine(feats[kind][layer])
            ci = redundancy_ci(pi, stat_cols, n_boot=n_boot, seed=seed)
            for t in thresholds:  # the old, pooled statistic (cosine over the whole batch), for comparison
                frac = redundancy_summary(pooled, t, 0).fraction_redundant
                ci.loc[ci["statistic"] == f"frac_ge_{t:g}", "pooled"] = frac
            ci.insert(0, "layer", layer)
            ci.insert(0, "model", kind)
            ci.insert(2, "maps", shape[0])
            ci.insert(3, "hw", f"{shape[1]}x{shape[2]}")
            table.append(ci)
            pi.insert(0, "layer", layer)
            pi.insert(0, "model", kind)
            per_image.append(pi)
    return pd.concat(per_image, ignore_index=True), pd.concat(table, ignore_index=True), notes


def _write_statistics(report: RedundancyReport, per_image: pd.DataFrame, table_df: pd.DataFrame, notes: dict,
                      thresholds: Sequence[float], models: list[str], tag: str) -> None:
    """``per_image.csv``, ``redundancy.csv``, ``redundancy.md`` and the ``redundancy`` bar figure."""
    from .redundancy_figures import plot_redundancy_bars

    pearson_cols = [f"frac_ge_{t:g}_pearson" for t in thresholds] + ["mean_best_pearson", "frac_constant"]
    _write(report, "per_image.csv", per_image.to_csv(index=False, float_format="%.5f"))
    _write(report, "redundancy.csv", table_df.to_csv(index=False, float_format="%.6f"))
    md_stats = [f"frac_ge_{t:g}" for t in thresholds] + ["mean_best_cos", "frac_dead"]
    _write(report, "redundancy.md", f"# Per-image feature-map redundancy: {tag}\n\nMean over images [95% Student-t "
           f"CI over images]. A map is redundant on an image if another map of the same layer has cosine ≥ t with "
           f"it there (cosine over the H·W positions of that image).\n\n" + _markdown(table_df, md_stats, notes, models)
           + "\nThe same with Pearson correlation (each map centred on each image first); a constant map "
           "counts as not redundant.\n\n" + _markdown(table_df, pearson_cols, notes, models))
    report.files += save_figure(plot_redundancy_bars(
        table_df, [f"frac_ge_{t:g}" for t in thresholds] + ["mean_best_cos"], layer_notes=notes,
        title=f"Feature-map redundancy per layer (per image, best partner in the same layer)\n{tag}"),
        report.out / "redundancy")


def _figure_layers(report: RedundancyReport, feats: dict, x_u8: torch.Tensor, figure_layers: Sequence[str],
                   threshold: float, top_k: int, ds: Sequence[int], fit_images: int, image_index: int, n: int,
                   tag: str) -> tuple[pd.DataFrame, dict]:
    """Figure-1 panels and MSE-vs-d fits of the most similar pairs of each figure layer (trained model)."""
    from . import figures as figs
    from .redundancy_figures import plot_fit_mse, plot_similar_pairs

    fits, pairs_info = [], {}
    shown = slice(image_index, image_index + 4)
    for layer in figure_layers:
        maps = feats[layer]
        red = redundancy_summary(pooled_cosine(maps), threshold, top_k, layer=layer)
        pairs_info[layer] = [[i, j, round(v, 6)] for i, j, v in red.top_pairs]
        slug = layer.replace("/", "_")
        report.files += save_figure(figs.plot_feature_grid(
            maps[image_index], red.top_pairs, image=x_u8[image_index], max_maps=64,
            title=f"Figure 1 style: {layer} maps of one image, top-{top_k} most similar pairs (cosine over "
                  f"{n} images)\n{tag}"), report.out / f"fig1_{slug}")
        best_on = [[float(F.cosine_similarity(maps[t, i].flatten().double(), maps[t, j].flatten().double(), dim=0))
                    for t in range(shown.start, shown.stop)] for i, j, _ in red.top_pairs]
        report.files += save_figure(plot_similar_pairs(
            maps[shown], x_u8[shown], red.top_pairs, per_image_cos=np.array(best_on),
            title=f"Figure 1 style: the {top_k} most similar map pairs of {layer}\n{tag}"), report.out / f"pairs_{slug}")
        fits.append(_pair_fits(maps[:fit_images], layer, red.top_pairs, ds))
    fit_df = pd.concat(fits, ignore_index=True)
    _write(report, "mse_vs_d.csv", fit_df.to_csv(index=False, float_format="%.6e"))
    _write(report, "mse_vs_d.md", _mse_markdown(fit_df, tag, min(fit_images, n)))
    report.files += save_figure(plot_fit_mse(fit_df, [
        ("min–max scaled, no bias", "mse", "MSE (maps min–max scaled to [0, 1])"),
        ("unscaled, with bias", "relative_mse", "MSE / variance of the target map (1 − R²)")],
        title=f"MSE of one least-squares d×d filter mapping one map to another (paper Table 2 experiment)\n{tag}"),
        report.out / "mse_vs_d")
    return fit_df, pairs_info


def _layer_summary(table_df: pd.DataFrame, layers: Sequence[str], models: list[str], notes: dict) -> dict:
    """``summary.json``'s ``layers``: per layer and model, each statistic's mean, t and bootstrap CIs."""
    return {layer: {"shape": notes[layer], **{kind: {r["statistic"]: {
        "mean": round(r["mean"], 6), "ci95_t": [round(r["ci_lo"], 6), round(r["ci_hi"], 6)],
        "ci95_bootstrap": [round(r["boot_lo"], 6), round(r["boot_hi"], 6)],
        **({"pooled": round(r["pooled"], 6)} if pd.notna(r.get("pooled")) else {})}
        for _, r in table_df[(table_df["layer"] == layer) & (table_df["model"] == kind)].iterrows()}
        for kind in models}} for layer in layers}
