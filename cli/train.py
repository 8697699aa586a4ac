"""``ghostnas train``: train one architecture (exported JSON, registry name or run folder) into a run folder."""
from __future__ import annotations

import argparse
import logging
import sys


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train one architecture (JSON, registry name or run folder) at a given fidelity",
                       description="Train one architecture into a run folder: model.pt (weights plus architecture), "
                                   "arch.json and metrics.json. By default accuracy is measured on a held-out "
                                   "validation part of the training split; --eval-split test trains on the "
                                   "training split and evaluates once, at the end, on the test set.")
    t.add_argument("--arch", required=True,
                   help="architecture JSON file (from export), model config JSON, registry model name or run folder")
    t.add_argument("--data", default="digits", help="dataset spec (digits, cifar10, npz:PATH, ...)")
    t.add_argument("--data-dir")
    t.add_argument("--download", action="store_true")
    t.add_argument("--eval-split", choices=("val", "test"), default=None,
                   help="val (default): held-out validation part of the training split, every eval_every epochs; "
                        "test: train on the training split, evaluate once at the end on the test set")
    t.add_argument("--eval-data", metavar="SPEC",
                   help="the test set for --eval-split test (default: the dataset's own test split), "
                        "e.g. npz:data/test.npz")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="fidelity override, e.g. --set epochs=200")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--out", required=True, help="run folder for model.pt, arch.json and metrics.json")
    t.add_argument("-v", "--verbose", action="store_true", help="log every epoch (also when not on a terminal)")
    t.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from ghostnas.search.retrain import train_architecture

    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
        logging.getLogger("ghostnas").setLevel(logging.INFO)
    split = args.eval_split or ("test" if args.eval_data else "val")
    run = train_architecture(args.arch, args.data, args.out, args.overrides, data_dir=args.data_dir,
                             download=args.download, seed=args.seed, device=args.device, eval_split=split,
                             eval_data=args.eval_data, progress=sys.stderr)
    print(f"{run.eval_split} acc {run.accuracy:.4f} ({run.eval_description})")
    print(f"wrote {run.out}: {run.weights.name}, {run.arch.name}, {run.metrics.name}")
    return 0
