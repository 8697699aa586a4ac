"""``ghostnas studies | results | export``: the studies in a storage, a study's trial table and Pareto
set, one trial's architecture."""
from __future__ import annotations

import argparse
import sys

_STUDY_HELP = "study name (optional when the storage holds one study; see `ghostnas studies`)"


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("studies", help="list the studies in a storage: trials, objectives, trial states")
    s.add_argument("--storage", required=True, help="storage URL or journal path")
    s.set_defaults(func=run_studies)

    r = sub.add_parser("results", help="print a study's trial table and Pareto-optimal architectures")
    r.add_argument("--storage", required=True)
    r.add_argument("--study", help=_STUDY_HELP)
    r.add_argument("--csv", help="also write the trial table as CSV (raw values)")
    r.add_argument("--parquet", help="also write the trial table as Parquet (needs pyarrow)")
    r.set_defaults(func=run_results)

    e = sub.add_parser("export", help="write one trial's architecture JSON and the command that retrains it")
    e.add_argument("--storage", required=True)
    e.add_argument("--study", help=_STUDY_HELP)
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, help="trial number")
    which.add_argument("--pick", metavar="HOW",
                       help="pick from the Pareto set: knee (2 objectives: the point farthest from the line between "
                            "the extremes, objectives scaled to [0, 1]), best:OBJECTIVE (e.g. best:accuracy), or "
                            "where:EXPR, the most accurate trial meeting EXPR, e.g. "
                            "'where:macs<500000 and accuracy>=0.9' (NAME <|<=|>|>= NUMBER, joined by and)")
    e.add_argument("--out", help="output JSON (default arch-<id>.json)")
    e.set_defaults(func=run_export)


def run_studies(args: argparse.Namespace) -> int:
    from ghostnas.search.readers import study_summaries
    from ghostnas.search.storage import redact

    rows = study_summaries(args.storage)
    if not rows:
        print(f"no studies in {redact(args.storage)}")
        return 0
    table = [("study", "trials", "objectives", "states")]
    for r in rows:
        objectives = ", ".join(f"{o} ({d[:3]})" for o, d in zip(r["objectives"], r["directions"]))
        states = ", ".join(f"{n} {k}" for k, n in sorted(r["states"].items())) or "-"
        table.append((r["name"], str(r["trials"]), objectives, states))
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[3])
    return 0


def run_results(args: argparse.Namespace) -> int:
    import pandas as pd

    from ghostnas.search.readers import display_frame, open_existing_study, pareto_trials, trials_frame

    study = open_existing_study(args.storage, args.study)
    df = trials_frame(study)
    with pd.option_context("display.max_rows", 200, "display.width", 160, "display.max_colwidth", 40):
        print(display_frame(df, list(study.user_attrs.get("objectives", []))).to_string(index=False))
    front = pareto_trials(study)
    print(f"\nPareto-optimal trials ({len(front)}): {', '.join('#' + str(t.number) for t in front)}")
    if args.csv:
        df.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if args.parquet:
        try:
            df.to_parquet(args.parquet, index=False)
        except ImportError as e:
            raise ValueError(f"--parquet needs pyarrow: {e}") from None
        print(f"wrote {args.parquet}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ghostnas.search.export import export_trial
    from ghostnas.search.readers import open_existing_study

    done = export_trial(open_existing_study(args.storage, args.study), args.trial, args.out, pick=args.pick)
    if done.picked:
        print(f"picked trial #{done.trial.number}: {done.picked}")
    for w in done.warnings:
        print(f"ghostnas: warning: {w}", file=sys.stderr)
    t = done.trial
    macs, params = t.user_attrs.get("macs"), t.user_attrs.get("params")
    print(f"wrote {done.path} (trial #{t.number}, arch {done.arch.id}, "
          f"{'-' if macs is None else f'{macs / 1e6:.2f}'}M MACs, {'-' if params is None else f'{params:,}'} params)")
    print("retrain at full fidelity:")
    print("  " + done.command)
    if done.note:
        print(f"note: {done.note}")
    return 0
