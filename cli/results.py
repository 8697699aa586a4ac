"""``ghostnas results | export``: a study's trial table and Pareto set; one trial's architecture."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("results", help="print a study's trial table and Pareto-optimal architectures")
    r.add_argument("--storage", required=True)
    r.add_argument("--study", required=True)
    r.add_argument("--csv", help="also write the trial table as CSV")
    r.add_argument("--parquet", help="also write the trial table as Parquet (needs pyarrow)")
    r.set_defaults(func=run_results)

    e = sub.add_parser("export", help="write one trial's architecture JSON and the command that retrains it")
    e.add_argument("--storage", required=True)
    e.add_argument("--study", required=True)
    e.add_argument("--trial", type=int, required=True)
    e.add_argument("--out", help="output JSON (default arch-<id>.json)")
    e.set_defaults(func=run_export)


def run_results(args: argparse.Namespace) -> int:
    import pandas as pd

    from ghostnas.search.readers import open_existing_study, pareto_trials, trials_frame

    study = open_existing_study(args.storage, args.study)
    df = trials_frame(study)
    cols = [c for c in ["number", "state", *study.user_attrs.get("objectives", []), "macs", "params",
                        "arch_id", "train_s", "feasible", "fail_reason"] if c in df.columns]
    cols = list(dict.fromkeys(cols))
    with pd.option_context("display.max_rows", 200, "display.width", 160, "display.max_colwidth", 40):
        print(df[cols].to_string(index=False))
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

    done = export_trial(open_existing_study(args.storage, args.study), args.trial, args.out)
    t = done.trial
    print(f"wrote {done.path} (trial #{t.number}, arch {done.arch.id}, {t.user_attrs.get('macs', 0) / 1e6:.2f}M MACs, "
          f"{t.user_attrs.get('params', 0):,} params)")
    print("retrain at full fidelity:")
    print("  " + done.command)
    return 0
