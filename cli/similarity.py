"""``ghostnas similarity``: feature-map redundancy figures and tables for named layers.

For each ``--layer``: the paper's Figure 1 (maps with the top-k most similar pairs outlined), a
channel×channel cosine heatmap, a histogram of each map's best-partner similarity, and for Ghost
modules the paper's Figure 4 (intrinsic vs ghost maps). Across layers: linear and unbiased CKA
heatmaps. For the top pairs: the MSE-versus-d least-squares table and plot (paper Table 2).
The work is :func:`ghostnas.analysis.similarity_report.write_similarity_report`.
"""
from __future__ import annotations

import argparse
import os

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command's parser to ``sub``.

    Args:
        sub: The ``ghostnas`` subparsers.
    """
    p = sub.add_parser("similarity", help="feature-map similarity / redundancy figures for named layers",
                       description="Capture the feature maps of named layers on a batch and write the paper's "
                                   "Figure 1 / Figure 4, similarity heatmaps, layer×layer CKA and the MSE-vs-d table.")
    p.add_argument("--model",
                   help="registry name (see `ghostnas models`), a model config or architecture JSON file "
                        "(ghostnas export), a run folder, or torchvision:NAME")
    p.add_argument("--weights", help="checkpoint (state dict) to load; weights_only, safe")
    p.add_argument("--run", metavar="DIR",
                   help="a `ghostnas train` run folder: its architecture and trained weights (instead of "
                        "--model and --weights)")
    p.add_argument("--list-layers", nargs="?", const="", default=None, metavar="MODEL",
                   help="print the layer names with their output shapes (one forward pass at the model's default "
                        "resolution) and exit; MODEL as for --model, or give --model / --run")
    p.add_argument("--layer", action="append", metavar="NAME",
                   help="module name (model.named_modules(); see --list-layers); repeat for several layers")
    p.add_argument("--cka-layer", action="append", default=[], metavar="NAME",
                   help="extra layer for the layer×layer CKA only (no per-layer figures); repeatable")
    p.add_argument("--data",
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
    p.add_argument("--paper-unverified", action="store_true",
                   help="also plot the paper's Table 2 MSE values in mse_vs_d.png: recalled from memory, "
                        "UNVERIFIED against the paper, drawn marked as such (default: table only)")
    p.add_argument("--out", help="output directory")
    p.set_defaults(func=run)


def _parse_ds(text: str) -> list[int]:
    try:
        ds = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--ds must be comma-separated odd integers, got {text!r}") from None
    if not ds or any(d < 1 or d % 2 == 0 for d in ds):
        raise ValueError(f"--ds must be comma-separated odd positive integers, got {text!r}")
    return ds


def _checked_ds(args: argparse.Namespace) -> list[int]:
    """Check the numeric flags (one-line errors naming them) and parse ``--ds``."""
    if args.n < 4:
        raise ValueError(f"--n must be at least 4 (unbiased CKA needs a batch > 3), got {args.n}")
    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    ds = _parse_ds(args.ds)
    if not 0 <= args.image_index < args.n:
        raise ValueError(f"--image-index must be in 0..{args.n - 1}, got {args.image_index}")
    return ds


def _model(args: argparse.Namespace) -> str:
    """The one model the flags name: --list-layers MODEL, --model, or --run DIR."""
    given = [v for v in (args.list_layers or None, args.model, args.run) if v]
    if len(given) != 1:
        raise ValueError("give the model once: --model NAME_OR_JSON, --run DIR or --list-layers MODEL"
                         if given else "the following arguments are required: --model (or --run DIR)")
    if args.run is not None:
        if args.weights:
            raise ValueError("--run DIR brings its own weights (DIR/model.pt); drop --weights or use --model")
        if not os.path.isdir(args.run):
            raise ValueError(f"--run {args.run!r}: not a folder (a run folder written by ghostnas train --out)")
    return given[0]


def run(args: argparse.Namespace) -> int:
    """Write the similarity report and print one line per layer.

    Args:
        args: The parsed command line.

    Returns:
        The exit status (0).
    """
    from ghostnas.analysis.similarity_report import write_similarity_report

    model = _model(args)
    if args.list_layers is not None:
        from ghostnas.analysis.layers import format_layers, list_layers

        rows, res, label = list_layers(model)
        print(f"{label}: {len(rows)} modules, output shapes (CxHxW) for one {res}x{res} input")
        print(format_layers(rows))
        return 0
    missing = [f for f, v in (("--layer", args.layer), ("--data", args.data), ("--out", args.out)) if not v]
    if missing:
        raise ValueError(f"the following arguments are required: {', '.join(missing)}")
    ds = _checked_ds(args)
    report = write_similarity_report(
        model, args.layer, args.data, args.out, weights=args.weights, cka_layers=args.cka_layer,
        data_dir=args.data_dir, download=args.download, split=args.split, n=args.n, top_k=args.top_k,
        threshold=args.threshold, image_index=args.image_index, resize=args.resize, seed=args.seed, ds=ds,
        max_maps=args.max_maps, label=args.label, paper_unverified=args.paper_unverified)
    for name, info in report.summary["layers"].items():
        extra = (f", intrinsic→own-ghost cosine mean {info['intrinsic_ghost_cosine_mean']:.3f}"
                 if "intrinsic_ghost_cosine_mean" in info else "")
        print(f"{name}: {info['num_maps']} maps, {info['fraction_redundant']:.1%} with a partner ≥ {args.threshold:g}, "
              f"top pair {info['top_pairs'][0]}{extra}")
    print(f"wrote {len(report.figures)} figure files (PNG+SVG) and the tables to {args.out}")
    return 0
