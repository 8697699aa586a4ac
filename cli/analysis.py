"""``ghostnas pareto | report``: figures, tables and a self-contained report of a finished study."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ghostnas.analysis.study_analysis import StudyAnalysis


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``pareto`` and ``report`` parsers to ``sub``.

    Args:
        sub: The ``ghostnas`` subparsers.
    """
    p = sub.add_parser("pareto", help="Pareto fronts, hypervolume history, parameter importances and the trial "
                                      "table of a study (PNG + SVG, CSV + markdown)")
    _common(p)
    p.set_defaults(func=run_pareto)
    r = sub.add_parser("report", help="a self-contained HTML (and markdown) report of a study")
    _common(r)
    r.set_defaults(func=run_report)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", required=True, help="storage URL or journal path, e.g. runs/quickstart/study.journal")
    p.add_argument("--study", required=True, help="study name")
    p.add_argument("--out", required=True, help="output folder (created if needed)")


def _prepare(args: argparse.Namespace) -> tuple[Any, Path]:
    """The study (quiet Optuna / matplotlib logs) and the checked output folder."""
    import logging

    import optuna

    from ghostnas.search.readers import open_existing_study
    from ghostnas.search.files import ensure_writable_dir

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    study = open_existing_study(args.storage, args.study)
    try:
        out = ensure_writable_dir(args.out, "--out folder")
    except PermissionError as e:
        raise ValueError(str(e)) from None
    return study, out


def _print_summary(a: StudyAnalysis) -> None:
    print(f"study {a.study_name}: objectives {', '.join(a.objectives)}; "
          + ", ".join(f"{k} {v}" for k, v in a.states.items()))
    for p in a.pareto:
        vals = ", ".join(f"{o}={p[o]:.4g}" for o in a.objectives)
        print(f"  pareto trial #{p['number']}: {vals} arch {p['arch_id']}")
    if a.hypervolume:
        print(f"hypervolume {a.hypervolume['final']:.4f} (normalised; reference "
              + ", ".join(f"{k}={v:.4g}" for k, v in a.hypervolume["reference"].items()) + ")")
    print(a.reference_note)
    for n in a.notes:
        print(f"note: {n}")


def run_pareto(args: argparse.Namespace) -> int:
    """``ghostnas pareto``: write the study's figures and tables, print a summary.

    Args:
        args: The parsed command line.

    Returns:
        The exit status (0).
    """
    from ghostnas.analysis.study_analysis import analyze_study

    study, out = _prepare(args)
    a = analyze_study(study, out)
    _print_summary(a)
    for paths in a.figures.values():
        for p in paths:
            print(f"wrote {p}")
    for p in a.tables.values():
        print(f"wrote {p}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """``ghostnas report``: write the figures, tables and the HTML / markdown report.

    Args:
        args: The parsed command line.

    Returns:
        The exit status (0).
    """
    from ghostnas.analysis.study_analysis import analyze_study
    from ghostnas.analysis.report import write_report
    from ghostnas.search.storage import redact

    study, out = _prepare(args)
    a = analyze_study(study, out)
    paths = write_report(study, out, storage_label=redact(args.storage), analysis=a)
    _print_summary(a)
    print(f"wrote {paths['html']} (self-contained) and {paths['markdown']}")
    return 0
