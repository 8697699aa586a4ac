"""``ghostnas fidelity``: does the proxy training rank architectures like longer training does?"""
from __future__ import annotations

import argparse
import logging
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fidelity", help="train a sample of architectures at a ladder of budgets and measure how "
                                        "well short training and zero-cost proxies rank them")
    p.add_argument("--config", required=True, help="ladder TOML by shipped name or path, e.g. fidelity_quickstart")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable), e.g. --set n_archs=8")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: the config's [output] dir)")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from the cached runs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ghostnas.analysis.fidelity import run_fidelity

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    report = run_fidelity(args.config, args.overrides, args.out, train=not args.report_only)
    s = report.summary

    def tau(d: dict) -> str:
        f = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        return f"Kendall tau {f(d['kendall_tau'])} [{f(d['kendall_ci95'][0])}, {f(d['kendall_ci95'][1])}]"

    for r in s["rungs"]:
        print(f"{r['label']:>14}: {tau(r)} vs {s['top_rung']['label']}")
    print(f"{'noise ceiling':>14}: {tau(s['noise_ceiling'])} (seed vs seed at {s['top_rung']['label']})")
    best = max(s["proxies"], key=lambda p: -2 if p["kendall_tau"] is None else p["kendall_tau"], default=None)
    if best is not None:
        print(f"{'best proxy':>14}: {best['name']}, {tau(best)}")
    for p in report.paths:
        print(p)
    return 0
