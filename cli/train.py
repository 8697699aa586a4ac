"""``ghostnas train``: train one architecture (exported JSON or registry name) into a run folder."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train one architecture (JSON or registry name) at a given fidelity")
    t.add_argument("--arch", required=True, help="architecture JSON file (from export) or a registry model name")
    t.add_argument("--data", default="digits", help="dataset spec (digits, cifar10, npz:PATH, ...)")
    t.add_argument("--data-dir")
    t.add_argument("--download", action="store_true")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="fidelity override, e.g. --set epochs=200")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--out", required=True, help="folder for metrics.json and model.pt")
    t.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from ghostnas.search.retrain import train_architecture

    run = train_architecture(args.arch, args.data, args.out, args.overrides, data_dir=args.data_dir,
                             download=args.download, seed=args.seed, device=args.device,
                             report=lambda e, a: print(f"epoch {e + 1}: val acc {a:.4f}", flush=True))
    print(f"val acc {run.result.val_acc:.4f} ({run.eval_split}); wrote {run.weights}, {run.metrics}")
    return 0
