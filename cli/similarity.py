"""``ghostnas similarity``: feature-map redundancy figures and tables for named layers.

For each ``--layer``: the paper's Figure 1 (maps with the top-k most similar pairs outlined), a
channel×channel cosine heatmap, a histogram of each map's best-partner similarity, and for Ghost
modules the paper's Figure 4 (intrinsic vs ghost maps). Across layers: linear and unbiased CKA
heatmaps. For the top pairs: the MSE-versus-d least-squares table and plot (paper Table 2).
"""
from __future__ import annotations

import argparse
import json
import os
import re

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("similarity", help="feature-map similarity / redundancy figures for named layers",
                       description="Capture the feature maps of named layers on a batch and write the paper's "
                                   "Figure 1 / Figure 4, similarity heatmaps, layer×layer CKA and the MSE-vs-d table.")
    p.add_argument("--model", required=True,
                   help="registry name (see `ghostnas models`), a model config JSON file, or torchvision:NAME")
    p.add_argument("--weights", help="checkpoint (state dict) to load; weights_only, safe")
    p.add_argument("--layer", action="append", required=True, metavar="NAME",
                   help="module name (model.named_modules()); repeat for several layers")
    p.add_argument("--cka-layer", action="append", default=[], metavar="NAME",
                   help="extra layer for the layer×layer CKA only (no per-layer figures); repeatable")
    p.add_argument("--data", required=True,
                   help="dataset: digits, npz:PATH, cifar10, fashion-mnist, imagefolder:PATH")
    p.add_argument("--data-dir", help="where torchvision-style dataset files live")
    p.add_argument("--download", action="store_true", help="let torchvision download the dataset")
    p.add_argument("--split", default="train", choices=("train", "test"))
    p.add_argument("--n", type=int, default=64, help="batch size (images; default 64)")
    p.add_argument("--top-k", type=int, default=3, help="number of most similar pairs (default 3)")
    p.add_argument("--threshold", type=float, default=0.9,
                   help="cosine a map's best partner must reach to count as redundant (default 0.9)")
    p.add_argument("--image-index", type=int, default=0, help="which image of the batch the map figures show")
    p.add_argument("--resize", type=int, help="resize images to this square size first (e.g. 224 for ImageNet models)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random batch")
    p.add_argument("--ds", default="1,3,5,7", help="kernel sizes of the MSE-vs-d fit (default 1,3,5,7)")
    p.add_argument("--max-maps", type=int, default=64, help="maps drawn in the Figure-1 grid (default 64)")
    p.add_argument("--label", default="", help="text added to figure titles (e.g. 'untrained')")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _build_model(spec: str, num_classes: int):
    import torch.nn as nn

    from ghostnas.ghostnet import CifarNetConfig, GhostNetConfig, build_model, create_model

    if spec.startswith("torchvision:"):
        import torchvision

        name = spec.split(":", 1)[1]
        try:
            return torchvision.models.get_model(name, weights=None), f"torchvision {name}"
        except Exception as e:  # noqa: BLE001 - torchvision raises ValueError/KeyError/TypeError
            raise ValueError(f"cannot build torchvision model {name!r}: {e}") from None
    if os.path.isfile(spec):
        try:
            with open(spec) as f:
                cfg = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"model config {spec!r} is not readable JSON: {e}") from None
        if not isinstance(cfg, dict):
            raise ValueError(f"model config {spec!r} must hold a JSON object")
        try:
            config = CifarNetConfig.from_dict(cfg) if "arch" in cfg else GhostNetConfig.from_dict(cfg)
        except (TypeError, KeyError) as e:
            raise ValueError(f"model config {spec!r} is not a CifarNetConfig/GhostNetConfig: {e}") from None
        model: nn.Module = build_model(config)
        return model, os.path.basename(spec)
    try:
        return create_model(spec, num_classes=num_classes), spec
    except ValueError as e:
        if "takes no argument" in str(e):
            return create_model(spec), spec
        raise


def _load_data(spec: str, data_dir, split: str, download: bool = False):
    try:
        from ghostnas.search.data import load_dataset
    except ImportError:  # the shared dataset loader is not installed: plain npz arrays only
        return _load_npz_fallback(spec)
    return load_dataset(spec, data_dir=data_dir, download=download, split=split)


class _Arrays:
    """Minimal stand-in for ``ghostnas.search.data.ImageData`` (npz only)."""

    def __init__(self, name, x, y):
        import torch

        self.name, self.x, self.y = name, x, y
        self.num_classes = int(y.max()) + 1
        xf = x[:10000].double() / 255.0
        self.mean = xf.mean(dim=(0, 2, 3)).float().view(1, -1, 1, 1)
        self.std = xf.std(dim=(0, 2, 3)).clamp_min(1e-3).float().view(1, -1, 1, 1)
        self._torch = torch

    def normalize(self, x):
        return (x.float() / 255.0 - self.mean) / self.std


def _load_npz_fallback(spec: str):
    import numpy as np
    import torch

    if not spec.startswith("npz:"):
        raise ValueError(f"dataset {spec!r} needs ghostnas.search.data, which is not available; use npz:PATH")
    path = spec[4:]
    if not os.path.isfile(path):
        raise ValueError(f"dataset {spec}: file not found")
    with np.load(path, allow_pickle=False) as f:
        if "x" not in f or "y" not in f:
            raise ValueError(f"dataset {spec}: needs arrays 'x' and 'y'")
        x, y = f["x"], f["y"]
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise ValueError(f"dataset {spec}: images must be uint8 N×H×W×C, got {x.dtype} {x.shape}")
    if x.ndim == 3:
        x = x[..., None]
    xt = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
    if xt.shape[1] == 1:
        xt = xt.expand(-1, 3, -1, -1)
    return _Arrays(spec, xt.contiguous(), torch.from_numpy(np.asarray(y).astype(np.int64)))


def _channel_name(lm, c: int) -> str:
    """``ch c``, plus ``int i`` / ``ghost j←i`` for the output channels of a Ghost module."""
    if not lm.is_ghost:
        return f"ch{c}"
    m = lm.intrinsic.shape[1]
    if c < m:
        return f"ch{c} (int {c})"
    return f"ch{c} (ghost {c - m}←int {lm.ghost_parent(c - m)})"


def _first_conv_in(model) -> int | None:
    import torch.nn as nn

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return None


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    import torch
    import torch.nn.functional as F

    from ghostnas.analysis import (PAPER_TABLE2_UNVERIFIED, capture_features, channel_cosine, cka_matrix,
                                   mse_table_markdown, mse_vs_d, redundancy_summary, resolve_layers)
    from ghostnas.analysis import figures as figs
    from ghostnas.ghostnet import load_checkpoint

    if args.n < 4:
        raise ValueError(f"--n must be at least 4 (unbiased CKA needs a batch > 3), got {args.n}")
    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    try:
        ds = [int(v) for v in args.ds.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--ds must be comma-separated odd integers, got {args.ds!r}") from None
    if not ds or any(d < 1 or d % 2 == 0 for d in ds):
        raise ValueError(f"--ds must be comma-separated odd positive integers, got {args.ds!r}")
    if not 0 <= args.image_index < args.n:
        raise ValueError(f"--image-index must be in 0..{args.n - 1}, got {args.image_index}")

    data = _load_data(args.data, args.data_dir, args.split, args.download)
    model, model_name = _build_model(args.model, data.num_classes)
    if args.weights:
        load_checkpoint(model, args.weights)
    model.eval()
    layers = list(dict.fromkeys(args.layer))
    cka_layers = list(dict.fromkeys(args.layer + args.cka_layer))
    resolve_layers(model, cka_layers)  # named errors before any work

    n = min(args.n, len(data.y))
    if n < 4:
        raise ValueError(f"dataset {args.data} has only {len(data.y)} images; need at least 4")
    g = torch.Generator().manual_seed(args.seed)
    idx = torch.randperm(len(data.y), generator=g)[:n]
    x_u8 = data.x[idx]
    x = data.normalize(x_u8)
    if args.resize:
        x = F.interpolate(x, size=(args.resize, args.resize), mode="bilinear", align_corners=False)
        x_u8 = F.interpolate(x_u8.float(), size=(args.resize, args.resize), mode="bilinear",
                             align_corners=False).clamp(0, 255)
    cin = _first_conv_in(model)
    if cin is not None and cin != x.shape[1]:
        raise ValueError(f"model {model_name} takes {cin}-channel input but dataset {args.data} has {x.shape[1]}")
    try:
        all_feats = capture_features(model, cka_layers, x)
    except RuntimeError as e:
        raise ValueError(f"model {model_name} failed on a batch of shape {tuple(x.shape)}: "
                         f"{str(e).splitlines()[0]}") from None

    feats = {k: all_feats[k] for k in layers}
    out = args.out
    os.makedirs(out, exist_ok=True)
    img = x_u8[args.image_index]
    tag = f"{model_name}" + (f" ({args.label})" if args.label else "") + f", {args.data}, batch {n}"
    summary = {"model": model_name, "weights": args.weights, "data": args.data, "batch": n,
               "threshold": args.threshold, "top_k": args.top_k, "label": args.label, "layers": {}}
    mse_frames = []
    written = []
    for name, lm in feats.items():
        s = _slug(name)
        c = lm.output.shape[1]
        if c < 2:
            raise ValueError(f"layer {name!r} has {c} channel; similarity needs at least 2")
        sim = channel_cosine(lm.output)
        red = redundancy_summary(sim, args.threshold, args.top_k, layer=name)
        info = red.as_dict()
        info["shape"] = list(lm.output.shape[1:])
        info["top_pairs_named"] = [[_channel_name(lm, i), _channel_name(lm, j), round(v, 6)] for i, j, v in red.top_pairs]
        red.partners_frame().to_csv(os.path.join(out, f"partners_{s}.csv"), index=False)
        pd.DataFrame(sim.numpy()).to_csv(os.path.join(out, f"channel_cosine_{s}.csv"), float_format="%.5f")
        written += figs.save_figure(figs.plot_feature_grid(
            lm.output[args.image_index], red.top_pairs, image=img, max_maps=args.max_maps,
            title=f"Figure 1 style: {name} maps of one image, top-{args.top_k} most similar pairs (cosine over batch)"
                  f"\n{tag}"), os.path.join(out, f"fig1_{s}"))
        written += figs.save_figure(figs.plot_similarity_heatmap(
            sim, title=f"Channel×channel cosine similarity, {name}\n{tag}", vmin=-1.0 if sim.min() < 0 else 0.0,
            cbar_label="cosine similarity (over batch and space)"), os.path.join(out, f"channel_cosine_{s}"))
        written += figs.save_figure(figs.plot_partner_histogram(
            red.partner_similarity, args.threshold, title=f"Best-partner similarity per map, {name}\n{tag}"),
            os.path.join(out, f"partner_hist_{s}"))
        pairs = [(i, j) for i, j, _ in red.top_pairs]
        mse_frames.append(mse_vs_d(lm.output, pairs, ds, labels=[f"{name} {_channel_name(lm, i)}→{_channel_name(lm, j)} (cos {v:.2f})"
                                                                 for i, j, v in red.top_pairs]))
        if lm.is_ghost and lm.ghost is not None and lm.ghost.shape[1] > 0:
            r = lm.ratio - 1
            gi = torch.arange(lm.ghost.shape[1])
            both = torch.cat([lm.intrinsic, lm.ghost], 1)
            cos = channel_cosine(both)
            m = lm.intrinsic.shape[1]
            own = cos[gi // r, m + gi]
            info["intrinsic_ghost_cosine_mean"] = float(own.mean())
            info["intrinsic_ghost_cosine_min"] = float(own.min())
            # The intrinsic→own-ghost pairs with the highest cosine, unless already among the top pairs.
            seen = {(i, j) for i, j in pairs}
            best = [int(j) for j in torch.argsort(own, descending=True)[:args.top_k]
                    if (int(j) // r, m + int(j)) not in seen]
            if best:
                mse_frames.append(mse_vs_d(lm.intrinsic, [(j // r, j) for j in best], ds, target_maps=lm.ghost,
                                           labels=[f"{name} intrinsic {j // r}→its ghost {j} (cos {float(own[j]):.2f})"
                                                   for j in best]))
            written += figs.save_figure(figs.plot_ghost_maps(
                lm.intrinsic[args.image_index], lm.ghost[args.image_index], lm.ratio, image=img, dw_size=lm.dw_size,
                title=f"Figure 4 style: {name} (Ghost module, s={lm.ratio}) intrinsic vs ghost maps\n{tag}"),
                os.path.join(out, f"fig4_{s}"))
        summary["layers"][name] = info
    if len(all_feats) >= 2:
        names = list(all_feats)
        reps = {k: v.output for k, v in all_feats.items()}
        for kind in ("linear", "unbiased"):
            mat = cka_matrix(reps, kind)
            pd.DataFrame(mat.numpy(), index=names, columns=names).to_csv(os.path.join(out, f"cka_{kind}.csv"),
                                                                         float_format="%.5f")
            summary[f"cka_{kind}"] = [[round(float(v), 5) for v in row] for row in mat]
            written += figs.save_figure(figs.plot_similarity_heatmap(
                mat, names, title=f"Layer×layer {kind} CKA\n{tag}", cbar_label=f"{kind} CKA", xlabel="layer",
                ylabel="layer", vmin=0.0, vmax=1.0), os.path.join(out, f"cka_{kind}"))
    mse = pd.concat(mse_frames)
    mse.to_csv(os.path.join(out, "mse_vs_d.csv"), float_format="%.6e")
    with open(os.path.join(out, "mse_vs_d.md"), "w") as f:
        f.write(f"# MSE of a single least-squares d×d filter mapping one map to another\n\n{tag}; maps min–max "
                "scaled to [0, 1] per image; zero padding, no bias; fit over all positions of the batch.\n"
                "Paper rows: GhostNet paper Table 2, recalled values, UNVERIFIED (pretrained ResNet-50, "
                "normalisation unknown).\n\n")
        f.write(mse_table_markdown(mse))
    paper_cols = [d for d in ds if d in PAPER_TABLE2_UNVERIFIED.columns]
    written += figs.save_figure(figs.plot_mse_vs_d(
        mse, PAPER_TABLE2_UNVERIFIED[paper_cols] if paper_cols else None,
        title=f"MSE vs d of the least-squares d×d filter (paper Table 2 experiment)\n{tag}"),
        os.path.join(out, "mse_vs_d"))
    summary["mse_vs_d"] = {str(k): {str(d): float(v) for d, v in row.items()} for k, row in mse.iterrows()}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    for name, info in summary["layers"].items():
        extra = (f", intrinsic→own-ghost cosine mean {info['intrinsic_ghost_cosine_mean']:.3f}"
                 if "intrinsic_ghost_cosine_mean" in info else "")
        print(f"{name}: {info['num_maps']} maps, {info['fraction_redundant']:.1%} with a partner ≥ {args.threshold:g}, "
              f"top pair {info['top_pairs'][0]}{extra}")
    print(f"wrote {len(written)} figure files (PNG+SVG) and the tables to {out}")
    return 0
