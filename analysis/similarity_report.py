"""Feature-map redundancy figures and tables for named layers of one model on one batch.

:func:`write_similarity_report` (``ghostnas similarity``) loads a model (registry name, model
config JSON or ``torchvision:NAME``) and optional weights, draws a random batch from a dataset,
captures the named layers and writes, for each layer: the paper's Figure 1 (maps with the top-k
most similar pairs outlined), a channel×channel cosine heatmap, a histogram of each map's
best-partner similarity, and for Ghost modules the paper's Figure 4 (intrinsic vs ghost maps).
Across layers: linear and unbiased CKA heatmaps. For the top pairs: the MSE-versus-d
least-squares table and plot (paper Table 2; the paper's recalled, UNVERIFIED values are listed,
labelled, in the table, and plotted only with ``paper_unverified=True``). Everything goes to one
folder with a ``summary.json``.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from ghostnas.ghostnet import build_model, load_checkpoint
from ghostnas.search.data import load_dataset
from ghostnas.search.runs import build_model_from
from ghostnas.space import load_model_spec

from .features import LayerMaps, capture_features, resolve_layers
from .paper import PAPER_TABLE2_UNVERIFIED
from .redundancy import DEFAULT_DS, mse_table_markdown, mse_vs_d, redundancy_summary
from .cka import cka_matrix
from .similarity import channel_cosine
from .style import save_figure

__all__ = ["SimilarityReport", "write_similarity_report", "load_model"]


@dataclass
class SimilarityReport:
    """What :func:`write_similarity_report` wrote.

    Attributes:
        out: The output folder.
        figures: Figure files (PNG and SVG), in the order written.
        tables: CSV / markdown / JSON files, in the order written.
        summary: The contents of ``summary.json`` (model, batch, per-layer redundancy, CKA, MSE vs d).
    """

    out: Path
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def load_model(spec: str, num_classes: Optional[int]) -> tuple[nn.Module, str]:
    """Build the model to analyse: random initialisation, or a run folder's trained weights.

    Args:
        spec: A registry name (``ghostnas models``), a model config JSON file (any shape
            :func:`ghostnas.space.load_model_spec` reads, ``ghostnas export`` output included),
            a ``ghostnas train`` run folder (its architecture and weights), or ``torchvision:NAME``.
        num_classes: Classes of the dataset, given to registry models (a config file or run
            folder is built as it is); None: the model's own.

    Returns:
        ``(model, display name)``.

    Raises:
        ValueError: unknown name, unreadable or invalid config.
    """
    if spec.startswith("torchvision:"):
        import torchvision

        name = spec.split(":", 1)[1]
        try:
            return torchvision.models.get_model(name, weights=None), f"torchvision {name}"
        except Exception as e:  # noqa: BLE001 - torchvision raises ValueError/KeyError/TypeError
            raise ValueError(f"cannot build torchvision model {name!r}: {e}") from None
    if os.path.isdir(spec):
        model, model_spec = build_model_from(run=spec)
        return model, model_spec.label
    model_spec = load_model_spec(spec, None if os.path.isfile(spec) else num_classes)
    return build_model(model_spec.config), model_spec.label


def _check_options(n: int, top_k: int, ds: Sequence[int], image_index: int) -> None:
    if n < 4:
        raise ValueError(f"n must be at least 4 (unbiased CKA needs a batch > 3), got {n}")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if not ds or any(not isinstance(d, int) or d < 1 or d % 2 == 0 for d in ds):
        raise ValueError(f"ds must be odd positive integers, got {list(ds)!r}")
    if not 0 <= image_index < n:
        raise ValueError(f"image_index must be in 0..{n - 1}, got {image_index}")


def _first_conv_in(model: nn.Module) -> Optional[int]:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return None


def _sample_batch(data: Any, data_spec: str, n: int, seed: int,
                  resize: Optional[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(normalised batch, the same images as 0-255 values)``: ``n`` random images, resized if asked."""
    if n < 4:
        raise ValueError(f"dataset {data_spec} has only {len(data.y)} images; need at least 4")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.y), generator=g)[:n]
    x_u8 = data.x[idx]
    x = data.normalize(x_u8)
    if resize:
        x = F.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False)
        x_u8 = F.interpolate(x_u8.float(), size=(resize, resize), mode="bilinear", align_corners=False).clamp(0, 255)
    return x, x_u8


def _capture(model: nn.Module, model_name: str, data_spec: str, layers: list[str],
             x: torch.Tensor) -> dict[str, LayerMaps]:
    cin = _first_conv_in(model)
    if cin is not None and cin != x.shape[1]:
        raise ValueError(f"model {model_name} takes {cin}-channel input but dataset {data_spec} has {x.shape[1]}")
    try:
        return capture_features(model, layers, x)
    except RuntimeError as e:
        raise ValueError(f"model {model_name} failed on a batch of shape {tuple(x.shape)}: "
                         f"{str(e).splitlines()[0]}") from None


def _channel_name(lm: LayerMaps, c: int) -> str:
    """``ch c``, plus ``int i`` / ``ghost j←i`` for the output channels of a Ghost module."""
    if not lm.is_ghost:
        return f"ch{c}"
    m = lm.intrinsic.shape[1]
    if c < m:
        return f"ch{c} (int {c})"
    return f"ch{c} (ghost {c - m}←int {lm.ghost_parent(c - m)})"


@dataclass
class _Run:
    """Settings and accumulators shared by the steps of one report."""

    out: Path
    tag: str
    image: torch.Tensor
    image_index: int
    top_k: int
    threshold: float
    ds: list[int]
    max_maps: int
    report: SimilarityReport
    paper_unverified: bool = False
    mse_frames: list[pd.DataFrame] = field(default_factory=list)

    def table(self, name: str) -> Path:
        path = self.out / name
        self.report.tables.append(path)
        return path

    def figure(self, fig: Any, stem: str) -> None:
        self.report.figures += save_figure(fig, self.out / stem)


def _layer(run: _Run, name: str, lm: LayerMaps) -> dict:
    """Redundancy of one layer: tables, Figure 1, heatmap, histogram, MSE rows; returns its summary."""
    from . import figures as figs

    s, c = _slug(name), lm.output.shape[1]
    if c < 2:
        raise ValueError(f"layer {name!r} has {c} channel; similarity needs at least 2")
    sim = channel_cosine(lm.output)
    red = redundancy_summary(sim, run.threshold, run.top_k, layer=name)
    info = red.as_dict()
    info["shape"] = list(lm.output.shape[1:])
    info["top_pairs_named"] = [[_channel_name(lm, i), _channel_name(lm, j), round(v, 6)] for i, j, v in red.top_pairs]
    red.partners_frame().to_csv(run.table(f"partners_{s}.csv"), index=False)
    pd.DataFrame(sim.numpy()).to_csv(run.table(f"channel_cosine_{s}.csv"), float_format="%.5f")
    run.figure(figs.plot_feature_grid(
        lm.output[run.image_index], red.top_pairs, image=run.image, max_maps=run.max_maps,
        title=f"Figure 1 style: {name} maps of one image, top-{run.top_k} most similar pairs (cosine over batch)"
              f"\n{run.tag}"), f"fig1_{s}")
    run.figure(figs.plot_similarity_heatmap(
        sim, title=f"Channel×channel cosine similarity, {name}\n{run.tag}", vmin=-1.0 if sim.min() < 0 else 0.0,
        cbar_label="cosine similarity (over batch and space)"), f"channel_cosine_{s}")
    run.figure(figs.plot_partner_histogram(
        red.partner_similarity, run.threshold, title=f"Best-partner similarity per map, {name}\n{run.tag}"),
        f"partner_hist_{s}")
    run.mse_frames.append(mse_vs_d(lm.output, [(i, j) for i, j, _ in red.top_pairs], run.ds, labels=[
        f"{name} {_channel_name(lm, i)}→{_channel_name(lm, j)} (cos {v:.2f})" for i, j, v in red.top_pairs]))
    if lm.is_ghost and lm.ghost is not None and lm.ghost.shape[1] > 0:
        info.update(_ghost_layer(run, name, lm, {(i, j) for i, j, _ in red.top_pairs}))
    return info


def _ghost_layer(run: _Run, name: str, lm: LayerMaps, seen: set[tuple[int, int]]) -> dict:
    """Intrinsic→own-ghost cosine, their MSE rows (pairs not already shown) and Figure 4."""
    from . import figures as figs

    r, m = lm.ratio - 1, lm.intrinsic.shape[1]
    gi = torch.arange(lm.ghost.shape[1])
    own = channel_cosine(torch.cat([lm.intrinsic, lm.ghost], 1))[gi // r, m + gi]
    # The intrinsic→own-ghost pairs with the highest cosine, unless already among the top pairs.
    best = [int(j) for j in torch.argsort(own, descending=True)[:run.top_k] if (int(j) // r, m + int(j)) not in seen]
    if best:
        run.mse_frames.append(mse_vs_d(lm.intrinsic, [(j // r, j) for j in best], run.ds, target_maps=lm.ghost,
                                       labels=[f"{name} intrinsic {j // r}→its ghost {j} (cos {float(own[j]):.2f})"
                                               for j in best]))
    run.figure(figs.plot_ghost_maps(
        lm.intrinsic[run.image_index], lm.ghost[run.image_index], lm.ratio, image=run.image, dw_size=lm.dw_size,
        title=f"Figure 4 style: {name} (Ghost module, s={lm.ratio}) intrinsic vs ghost maps\n{run.tag}"),
        f"fig4_{_slug(name)}")
    return {"intrinsic_ghost_cosine_mean": float(own.mean()), "intrinsic_ghost_cosine_min": float(own.min())}


def _cka(run: _Run, all_feats: dict[str, LayerMaps]) -> dict:
    """Layer×layer linear and unbiased CKA: CSV, heatmap and summary entries (2+ layers only)."""
    from . import figures as figs

    if len(all_feats) < 2:
        return {}
    names = list(all_feats)
    reps = {k: v.output for k, v in all_feats.items()}
    summary = {}
    for kind in ("linear", "unbiased"):
        mat = cka_matrix(reps, kind)
        pd.DataFrame(mat.numpy(), index=names, columns=names).to_csv(run.table(f"cka_{kind}.csv"),
                                                                     float_format="%.5f")
        summary[f"cka_{kind}"] = [[round(float(v), 5) for v in row] for row in mat]
        run.figure(figs.plot_similarity_heatmap(
            mat, names, title=f"Layer×layer {kind} CKA\n{run.tag}", cbar_label=f"{kind} CKA", xlabel="layer",
            ylabel="layer", vmin=0.0, vmax=1.0), f"cka_{kind}")
    return summary


def _mse(run: _Run) -> dict:
    """The MSE-vs-d table (CSV, markdown with the paper's rows) and plot; returns the summary entry."""
    from . import figures as figs

    mse = pd.concat(run.mse_frames)
    mse.to_csv(run.table("mse_vs_d.csv"), float_format="%.6e")
    with open(run.table("mse_vs_d.md"), "w") as f:
        f.write(f"# MSE of a single least-squares d×d filter mapping one map to another\n\n{run.tag}; maps min–max "
                "scaled to [0, 1] per image; zero padding, no bias; fit over all positions of the batch.\n"
                "Paper rows: GhostNet paper Table 2, recalled values, UNVERIFIED (pretrained ResNet-50, "
                "normalisation unknown).\n\n")
        f.write(mse_table_markdown(mse))
    paper_cols = [d for d in run.ds if d in PAPER_TABLE2_UNVERIFIED.columns]
    paper = PAPER_TABLE2_UNVERIFIED[paper_cols] if paper_cols and run.paper_unverified else None
    run.figure(figs.plot_mse_vs_d(
        mse, paper, title=f"MSE vs d of the least-squares d×d filter (paper Table 2 experiment)\n{run.tag}"),
        "mse_vs_d")
    return {"mse_vs_d": {str(k): {str(d): float(v) for d, v in row.items()} for k, row in mse.iterrows()},
            "mse_vs_d_plots_unverified_paper_values": paper is not None}


def write_similarity_report(model: str, layers: Sequence[str], data: str, out: Union[str, os.PathLike], *,
                            weights: Optional[Union[str, os.PathLike]] = None, cka_layers: Sequence[str] = (),
                            data_dir: Optional[str] = None, download: bool = False, split: str = "train",
                            n: int = 64, top_k: int = 3, threshold: float = 0.9, image_index: int = 0,
                            resize: Optional[int] = None, seed: int = 0, ds: Sequence[int] = DEFAULT_DS,
                            max_maps: int = 64, label: str = "", paper_unverified: bool = False) -> SimilarityReport:
    """Capture ``layers`` of a model on a random batch and write its redundancy figures and tables.

    Files in ``out``, per layer ``L`` (slugged): ``fig1_L``, ``channel_cosine_L``,
    ``partner_hist_L``, ``fig4_L`` (Ghost modules only) as PNG + SVG, ``partners_L.csv``,
    ``channel_cosine_L.csv``; with 2+ layers ``cka_linear`` / ``cka_unbiased`` (PNG, SVG, CSV);
    ``mse_vs_d`` (PNG, SVG, CSV, markdown) and ``summary.json``.

    Args:
        model: Registry name, model config JSON file, run folder (trained weights) or ``torchvision:NAME``
            (see :func:`load_model`).
        layers: Module names (``model.named_modules()``) to analyse; duplicates are dropped.
        data: Dataset spec (``digits``, ``npz:PATH``, ``cifar10``, ``fashion-mnist``, ``imagefolder:PATH``).
        out: Output folder (created if needed).
        weights: State-dict checkpoint to load (weights_only, safe); default: random initialisation.
        cka_layers: Extra layers for the layer×layer CKA only (no per-layer figures).
        data_dir: Where torchvision-style dataset files live.
        download: Let torchvision download the dataset.
        split: ``train`` or ``test``.
        n: Batch size (at least 4: unbiased CKA needs a batch > 3); fewer if the dataset is smaller.
        top_k: Number of most similar pairs per layer.
        threshold: Cosine a map's best partner must reach to count as redundant.
        image_index: Which image of the batch the map figures show.
        resize: Resize images to this square size first (e.g. 224 for ImageNet models).
        seed: Seed of the random batch.
        ds: Kernel sizes (odd) of the MSE-vs-d fit.
        max_maps: Maps drawn in the Figure-1 grid.
        label: Text added to figure titles (e.g. ``untrained``).
        paper_unverified: Also plot the paper's Table 2 values in ``mse_vs_d`` -- recalled,
            UNVERIFIED numbers, marked so; off by default (the markdown table lists them, labelled).

    Returns:
        The :class:`SimilarityReport` (written figures, tables and the summary).

    Raises:
        ValueError: bad options, unknown layers, a model that does not fit the data, too few images.
    """
    ds = list(ds)
    _check_options(n, top_k, ds, image_index)
    dataset = load_dataset(data, data_dir=data_dir, download=download, split=split)
    torch.manual_seed(seed)  # random weights (no --weights, torchvision:NAME) are the same on every run
    net, model_name = load_model(model, dataset.num_classes)
    if weights is None and os.path.isdir(model):  # a run folder: load_model loaded its model.pt
        weights = os.path.join(model, "model.pt")
    elif weights:
        load_checkpoint(net, weights)
    net.eval()
    layers = list(dict.fromkeys(layers))
    all_layers = list(dict.fromkeys([*layers, *cka_layers]))
    resolve_layers(net, all_layers)  # named errors before any work
    n = min(n, len(dataset.y))
    x, x_u8 = _sample_batch(dataset, data, n, seed, resize)
    all_feats = _capture(net, model_name, data, all_layers, x)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{model_name}" + (f" ({label})" if label else "") + f", {data}, batch {n}"
    report = SimilarityReport(out, summary={
        "model": model_name, "weights": None if weights is None else os.fspath(weights), "data": data, "batch": n,
        "threshold": threshold, "top_k": top_k, "label": label, "layers": {}})
    run = _Run(out, tag, x_u8[image_index], image_index, top_k, threshold, ds, max_maps, report,
               paper_unverified=paper_unverified)
    for name in layers:
        report.summary["layers"][name] = _layer(run, name, all_feats[name])
    report.summary.update(_cka(run, all_feats))
    report.summary.update(_mse(run))
    with open(run.table("summary.json"), "w") as f:
        json.dump(report.summary, f, indent=2)
    return report
