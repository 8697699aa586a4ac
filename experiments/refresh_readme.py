#!/usr/bin/env python
"""Refresh the generated results blocks of experiments/README.md from the results folders.

Each ``<!-- generated:NAME -->`` ... ``<!-- /generated:NAME -->`` block is rebuilt from
``experiments/results/NAME/summary.json`` (written by ``ghostnas ablate``, ``--report-only``
rebuilds it from the run cache without training); the prose around the blocks is left alone.

    python experiments/refresh_readme.py           # rewrite the stale blocks
    python experiments/refresh_readme.py --check   # exit 1 if a block is stale, change nothing
"""
import argparse
import sys
from pathlib import Path

from ghostnas.analysis.results_readme import refresh_readme

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report stale blocks (exit 1 if any)")
    ap.add_argument("--readme", type=Path, default=HERE / "README.md")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    res = refresh_readme(args.readme, args.results, write=not args.check)
    for name in res["skipped"]:
        print(f"skipped {name}: no {args.results / name / 'summary.json'}", file=sys.stderr)
    verb = "stale" if args.check else "refreshed"
    for name in res["changed"]:
        print(f"{verb}: {name}")
    if not res["changed"]:
        print("all generated blocks are current")
    return 1 if args.check and res["changed"] else 0


if __name__ == "__main__":
    sys.exit(main())
