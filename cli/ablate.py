"""``ghostnas ablate``: the paper's s / d ablations as resumable grid studies."""
from __future__ import annotations

import argparse
import logging
import shlex
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command's parser to ``sub``.

    Args:
        sub: The ``ghostnas`` subparsers.
    """
    p = sub.add_parser("ablate", help="run a paper ablation (grid over s or d, several seeds) and tabulate it")
    p.add_argument("--config", required=True, help="ablation TOML, e.g. vgg16_ratio")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable), e.g. --set fidelity=paper")
    p.add_argument("--no-report", action="store_true", help="only train; skip measurement, table and figure")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: rebuild the report from the runs in the run cache (naming missing ones)")
    p.add_argument("--no-latency", action="store_true", help="skip latency measurement in the report")
    p.set_defaults(func=run)


def _command_line(args: argparse.Namespace) -> str:
    """The command as the report records it (config and overrides, shell-quoted)."""
    return " ".join(["ghostnas", "ablate", "--config", args.config, *[f"--set {shlex.quote(o)}" for o in args.overrides]])


def run(args: argparse.Namespace) -> int:
    """Train what is missing (every budget of a budget study), then write the report unless
    ``--no-report``; print the files, and any missing runs with the command that trains them.

    Args:
        args: The parsed command line.

    Returns:
        The exit status (0).
    """
    from ghostnas.search.ablate import AblationConfig
    from ghostnas.search.config import load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    cfg = AblationConfig.from_dict(load_config(args.config, args.overrides))
    if args.no_report:
        from ghostnas.search.ablate import run_all_budgets

        run_all_budgets(cfg)
        return 0
    from ghostnas.analysis.ablation_report import run_and_report

    outcome = run_and_report(cfg, train=not args.report_only, latency=not args.no_latency,
                             command=_command_line(args))
    for p in outcome.paths:
        print(p)
    if outcome.missing_runs:
        print(f"{len(outcome.missing_runs)} run(s) missing; the report covers the runs that exist. Train them with:\n"
              f"  {outcome.complete_command}")
    return 0
