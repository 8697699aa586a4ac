"""``ghostnas redundancy``: feature-map redundancy of a (trained) network, the paper's Figure 1 / Table 2.

Per layer, per-image redundancy statistics with 95% CIs over images next to an untrained control,
Figure-1 panels of the most similar map pairs, and MSE-vs-d least-squares fits (min–max scaled
without bias, and unscaled with an intercept). The model can be an ablation run record
(``<run_key>.json`` with its ``<run_key>.pt``); ``--ablation CONFIG --run-seed N`` finds that record.
The work is :func:`ghostnas.analysis.trained_redundancy.write_redundancy_report`.
"""
from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command's parser to ``sub``.

    Args:
        sub: The ``ghostnas`` subparsers.
    """
    p = sub.add_parser("redundancy", help="per-image feature-map redundancy with CIs, Figure-1 pairs, MSE vs d",
                       description="Per-layer redundancy of a trained network's feature maps (share of maps with "
                                   "a highly similar partner, per image, with 95%% CIs), its untrained control, "
                                   "Figure-1 pair panels and the MSE-vs-d least-squares fits.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="ablation run record <key>.json (weights: <key>.pt next to it), registry "
                                     "name, model config JSON, or torchvision:NAME (random weights: UNTRAINED)")
    src.add_argument("--ablation", metavar="CONFIG",
                     help="take the run record of this ablation's --point/--seed from its run cache")
    p.add_argument("--point", default="baseline", help="grid point of --ablation (default: baseline, the plain net)")
    p.add_argument("--run-seed", type=int, default=0, metavar="SEED", help="training seed of --ablation's run")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="--ablation config override, as given to `ghostnas ablate` (repeatable)")
    p.add_argument("--print-run", action="store_true",
                   help="only print the run record path (<key>.json) of --ablation and exit")
    p.add_argument("--weights", help="checkpoint (state dict); default <key>.pt for a run record")
    p.add_argument("--layer", action="append", default=[], metavar="NAME", help="layer to analyse; repeatable")
    p.add_argument("--figure-layer", action="append", default=[], metavar="NAME",
                   help="layer for Figure-1 panels and MSE-vs-d fits (default: the first --layer); repeatable")
    p.add_argument("--data", help="images, e.g. npz:../shared/data/cifar10/test.npz")
    p.add_argument("--norm-data", help="dataset whose mean/std normalise the images (the training data)")
    p.add_argument("--data-dir", help="where torchvision-style dataset files live")
    p.add_argument("--n", type=int, default=1000, help="images (seeded random subset; default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the image subset and of the control's weights")
    p.add_argument("--thresholds", default="0.9,0.95", help="cosine thresholds (default 0.9,0.95)")
    p.add_argument("--ds", default="1,3,5,7", help="kernel sizes of the fits (default 1,3,5,7)")
    p.add_argument("--top-k", type=int, default=3, help="pairs per figure layer (default 3)")
    p.add_argument("--no-control", action="store_true", help="skip the untrained control")
    p.add_argument("--resize", type=int, help="resize images first (224 for ImageNet models)")
    p.add_argument("--fit-images", type=int, default=256, help="images used by the fits (default 256)")
    p.add_argument("--label", default="", help="text added to titles")
    p.add_argument("--out", help="output folder")
    p.set_defaults(func=run)


def _floats(text: str, flag: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{flag} must be comma-separated numbers, got {text!r}") from None
    if not vals:
        raise ValueError(f"{flag} is empty")
    return vals


def run(args: argparse.Namespace) -> int:
    """Write the report (or print the run record path) and print one line per layer.

    Args:
        args: The parsed command line.

    Returns:
        The exit status (0).
    """
    from ghostnas.analysis.trained_redundancy import ablation_run_record, write_redundancy_report

    model = args.model
    if args.ablation:
        model = str(ablation_run_record(args.ablation, args.point, args.run_seed, args.overrides))
        if args.print_run:
            print(model)
            return 0
    if not (args.layer and args.data and args.out):
        raise ValueError("--layer, --data and --out are required (unless --print-run)")
    ds = [int(d) for d in _floats(args.ds, "--ds")]
    if any(d < 1 or d % 2 == 0 for d in ds):
        raise ValueError(f"--ds must be odd positive integers, got {args.ds!r}")
    if args.n < 5 or args.top_k < 1 or args.fit_images < 1:
        raise ValueError("--n must be at least 5, --top-k and --fit-images at least 1")
    report = write_redundancy_report(
        model, args.layer, args.data, args.out, weights=args.weights, norm_data=args.norm_data,
        figure_layers=args.figure_layer, data_dir=args.data_dir, n=args.n, seed=args.seed,
        thresholds=_floats(args.thresholds, "--thresholds"), ds=ds, top_k=args.top_k, control=not args.no_control,
        resize=args.resize, label=args.label, fit_images=args.fit_images)
    first = next(iter(report.summary["models"]))
    t = report.summary["thresholds"][0]
    for name, info in report.summary["layers"].items():
        s = info[first][f"frac_ge_{t:g}"]
        ctl = info.get("untrained control", {}).get(f"frac_ge_{t:g}")
        extra = f"; untrained control {ctl['mean']:.1%}" if ctl else ""
        print(f"{name} ({info['shape']}): {s['mean']:.1%} of maps with a partner ≥ {t:g} per image "
              f"[95% CI {s['ci95_t'][0]:.1%}, {s['ci95_t'][1]:.1%}]{extra}")
    print(f"wrote {len(report.files)} files to {args.out}")
    return 0
