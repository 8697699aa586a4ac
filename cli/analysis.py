"""``ghostnas pareto | report``: figures, tables and a self-contained report of a finished study,
optionally overlaid with other studies (``--storage A --study X --storage B --study Y`` or
``--compare STORAGE[:STUDY]``)."""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ghostnas.analysis.study_analysis import AnalysisOptions, StudyAnalysis

_COSTS = ("macs", "params", "latency")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``pareto`` and ``report`` parsers to ``sub``.

    Args:
        sub: The ``ghostnas`` subparsers.
    """
    p = sub.add_parser("pareto", help="Pareto fronts, hypervolume history, parameter importances and the trial "
                                      "table of a study (PNG + SVG, CSV + markdown); several studies overlaid")
    _common(p)
    p.set_defaults(func=run_pareto)
    r = sub.add_parser("report", help="a self-contained HTML (and markdown) report of a study")
    _common(r)
    r.set_defaults(func=run_report)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", action="append", required=True, metavar="STORAGE",
                   help="storage URL or journal path, e.g. runs/quickstart/study.journal; repeat with --study "
                        "to overlay several studies (the first is the main one)")
    p.add_argument("--study", action="append", default=[], metavar="NAME",
                   help="study name, one per --storage in the same order (may be left out for a storage holding "
                        "one study)")
    p.add_argument("--compare", action="append", default=[], metavar="STORAGE[:STUDY]",
                   help="another study to overlay (fronts on one axes, hypervolume histories against the main "
                        "study's reference point); repeatable")
    p.add_argument("--out", required=True, help="output folder (created if needed)")
    p.add_argument("--reference", action="append", default=[], metavar="OBJ=VALUE",
                   help="fixed hypervolume reference value, e.g. --reference macs=2e6 --reference accuracy=0 "
                        "(before the study config's [pareto] reference, constraints and the space's maximum)")
    p.add_argument("--paper", action=argparse.BooleanOptionalAction, default=True,
                   help="draw the paper's hand-made models where comparable (CIFAR-10 at 32 px; default: yes)")
    p.add_argument("--xlim", nargs="+", action="append", default=[], metavar="ARG",
                   help="x limits of the front figures in axis units (M MACs, M params, ms): LO HI for every "
                        "front, or COST LO HI for one (macs, params, latency); repeatable")
    p.add_argument("--ylim", nargs=2, type=float, metavar=("LO", "HI"), help="accuracy-axis limits of the fronts")
    p.add_argument("--no-labels", dest="labels", action="store_false", help="no trial labels on the fronts")
    p.add_argument("--importance-repeats", type=int, default=None, metavar="N",
                   help="bootstrap resamples for the importances' mean ± sd (default 5)")


def _xlim(groups: list[list[str]]) -> dict[str, tuple[float, float]]:
    out = {}
    for g in groups:
        key, nums = ("*", g) if len(g) == 2 else (g[0], g[1:])
        if len(nums) != 2 or key not in ("*", *_COSTS):
            raise ValueError(f"--xlim {' '.join(g)}: expected LO HI or COST LO HI (COST: {', '.join(_COSTS)})")
        try:
            lo, hi = float(nums[0]), float(nums[1])
        except ValueError:
            raise ValueError(f"--xlim {' '.join(g)}: limits must be numbers") from None
        if not lo < hi:
            raise ValueError(f"--xlim {' '.join(g)}: LO must be below HI")
        out[key] = (lo, hi)
    return out


def _options(args: argparse.Namespace) -> AnalysisOptions:
    from ghostnas.analysis.hypervolume import parse_reference
    from ghostnas.analysis.study_analysis import AnalysisOptions

    if args.ylim and not args.ylim[0] < args.ylim[1]:
        raise ValueError(f"--ylim {args.ylim[0]:g} {args.ylim[1]:g}: LO must be below HI")
    opts = AnalysisOptions(reference=parse_reference(args.reference), paper=args.paper, xlim=_xlim(args.xlim),
                           ylim=tuple(args.ylim) if args.ylim else None, labels=args.labels)
    if args.importance_repeats is not None:
        if args.importance_repeats < 1:
            raise ValueError(f"--importance-repeats must be >= 1, got {args.importance_repeats}")
        opts.importance_repeats = args.importance_repeats
    return opts


def split_compare(text: str) -> tuple[str, str | None]:
    """``STORAGE[:STUDY]`` as (storage, study or None); colons inside URLs and ``env:NAME`` are kept.

    The study is the part after the last ``:`` when that part has no ``/`` and what comes before is
    an existing file or not a bare scheme name (``sqlite``, ``env``, ...).
    """
    if Path(text).is_file():
        return text, None
    head, sep, tail = text.rpartition(":")
    if not sep or not head or not tail or "/" in tail or "@" in tail:
        return text, None
    if Path(head).is_file() or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", head) or "." in head:
        return head, tail
    return text, None


def _studies(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(storage, study) pairs: --storage/--study by position, then each --compare."""
    storages, names = list(args.storage), list(args.study)
    if names and len(names) != len(storages):
        raise ValueError(f"{len(storages)} --storage for {len(names)} --study: give one --study per --storage "
                         "(in the same order), or none for storages that hold one study each")
    pairs = list(zip(storages, names or [None] * len(storages)))
    pairs += [split_compare(c) for c in args.compare]
    return pairs


def _prepare(args: argparse.Namespace) -> tuple[Any, list[tuple[str, Any]], Path, str]:
    """The main study, the studies to compare (label, study), the output folder and the main label."""
    import logging

    import optuna

    from ghostnas.search.files import ensure_writable_dir
    from ghostnas.search.readers import open_existing_study
    from ghostnas.search.storage import redact

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    pairs = _studies(args)
    studies = [open_existing_study(storage, name) for storage, name in pairs]
    seen = {}
    for (storage, _), st in zip(pairs, studies):
        key = (str(Path(storage).resolve()) if Path(storage).is_file() else storage, st.study_name)
        if key in seen:
            raise ValueError(f"study {st.study_name!r} in {redact(storage)} is given twice")
        seen[key] = True
    names = [st.study_name for st in studies]
    labels = [n if names.count(n) == 1 else f"{n} ({Path(redact(s)).name})" for n, (s, _) in zip(names, pairs)]
    try:
        out = ensure_writable_dir(args.out, "--out folder")
    except PermissionError as e:
        raise ValueError(str(e)) from None
    return studies[0], list(zip(labels[1:], studies[1:])), out, labels[0]


def _print_summary(a: StudyAnalysis) -> None:
    print(f"study {a.study_name}: objectives {', '.join(a.objectives)}; "
          + ", ".join(f"{k} {v}" for k, v in a.states.items()))
    for p in a.pareto:
        vals = ", ".join(f"{o}={p[o]:.4g}" for o in a.objectives)
        print(f"  pareto trial #{p['number']}: {vals} arch {p['arch_id']}")
    if a.hypervolume:
        print(f"hypervolume {a.hypervolume['final']:.4f} (normalised; fixed reference point "
              f"{a.hypervolume['reference_text']})")
    if a.comparison:
        for c in a.comparison["studies"]:
            hv = c.get("hypervolume_final")
            print(f"  compared: {c['label']} (study {c['study']}, {c['trained']} trained"
                  + (f", hypervolume {hv:.4f}" if hv is not None else "") + ")")
    print(a.reference_note)
    for n in a.notes:
        print(f"note: {n}")


def _analyze(args: argparse.Namespace) -> tuple[Any, Path, Any]:
    """Open the study (and the compared ones) and analyse it into its output folder."""
    from ghostnas.analysis.study_analysis import analyze_study

    study, compare, out, label = _prepare(args)
    return study, out, analyze_study(study, out, _options(args), compare=compare, label=label)


def run_pareto(args: argparse.Namespace) -> int:
    """``ghostnas pareto``: write the study's figures and tables, print a summary.

    Args:
        args: The parsed command line.

    Returns:
        The exit status (0).
    """
    _, _, a = _analyze(args)
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
    from ghostnas.analysis.report import write_report
    from ghostnas.search.storage import redact

    study, out, a = _analyze(args)
    paths = write_report(study, out, storage_label=redact(args.storage[0]), analysis=a)
    _print_summary(a)
    print(f"wrote {paths['html']} (self-contained) and {paths['markdown']}")
    return 0
