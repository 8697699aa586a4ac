"""``ghostnas models``: the model registry with params and MACs."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the model registry with params and MACs")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ghostnas.ghostnet import create_model, default_resolution, list_models

    rows = []
    for name in list_models():
        model = create_model(name).eval()
        res = default_resolution(name)
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model(torch.zeros(1, 3, res, res))
        rows.append({"name": name, "input": res, "params": sum(p.numel() for p in model.parameters()),
                     "macs": counter.get_total_flops() // 2})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<22} {'input':>5} {'params':>12} {'MACs (conv+linear)':>20}")
    for r in rows:
        print(f"{r['name']:<22} {r['input']:>5} {r['params']:>12,} {r['macs'] / 1e6:>19.2f}M")
    return 0
