"""Every figure and table of ``ghostnas pareto`` for one study, and what they show.

:func:`analyze_study` writes the fronts, hypervolume history, importances and trial tables and
returns a :class:`StudyAnalysis` that :mod:`ghostnas.analysis.report` turns into HTML / markdown.
With ``compare``, other studies' fronts are overlaid on one axes and their hypervolume histories
drawn against this study's fixed reference point (e.g. sampler comparisons). The conventions
(which trials count, the hypervolume reference point, importances, the paper's reference points)
are in :mod:`~ghostnas.analysis.fronts`, :mod:`~ghostnas.analysis.hypervolume`,
:mod:`~ghostnas.analysis.importances` and :mod:`~ghostnas.analysis.paper`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from .fronts import (AXES, check_senses, markdown_table, pareto_rows, study_directions, study_objectives,
                     trained_mask, trial_table_rows)
from .hypervolume import HV_DEFINITION, Reference, hypervolume_history, outside_reference, reference_point
from .importances import IMPORTANCE_REPEATS, IMPORTANCE_WARN_TRIALS, param_importances
from .paper import paper_references
from .pareto_plots import front_figure, plot_compare_fronts
from .study_plots import (plot_best_history, plot_compare_hypervolume, plot_hypervolume, plot_importances,
                          plot_three_objectives)

__all__ = ["AnalysisOptions", "StudyAnalysis", "analyze_study"]

_FRAME_COLUMNS = ("accuracy", "macs", "params", "latency_ms", "rejected", "reused_from", "feasible", "fail_reason",
                  "arch")
_RINGED = "; ringed: Pareto-optimal over all objectives"
_COSTS = ("macs", "latency", "params")
_KNOWN_CLASSES = {"digits": 10, "cifar10": 10, "cifar100": 100, "fashion-mnist": 10, "mnist": 10}


@dataclass
class AnalysisOptions:
    """How ``ghostnas pareto`` / ``report`` draw and measure (the command line's options).

    Attributes:
        reference: Explicit hypervolume reference values (``--reference macs=2e6``), before the
            study config's ``[pareto] reference``.
        paper: Draw the paper's hand-made models when comparable (``--paper/--no-paper``).
        xlim: Axis limits of the front figures, display units: ``{"macs": (lo, hi)}`` for one cost,
            ``{"*": (lo, hi)}`` for every front.
        ylim: Accuracy-axis limits of the front figures.
        labels: Label front trials (``--no-labels`` hides them).
        importance_repeats: Bootstrap resamples of the importances.
    """

    reference: dict = field(default_factory=dict)
    paper: bool = True
    xlim: dict = field(default_factory=dict)
    ylim: Optional[tuple] = None
    labels: bool = True
    importance_repeats: int = IMPORTANCE_REPEATS

    def x_limits(self, cost: str) -> Optional[tuple]:
        """The x limits for the front against ``cost`` (None: the study's own range)."""
        return self.xlim.get(cost) or self.xlim.get("*")


@dataclass
class StudyAnalysis:
    """What :func:`analyze_study` made: files, facts and notes (JSON-able via :meth:`to_dict`)."""

    study_name: str
    objectives: list[str]
    directions: list[str]
    config: dict
    frame: Any = field(repr=False)
    figures: dict[str, list[Path]] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    tables: dict[str, Path] = field(default_factory=dict)
    pareto: list[dict] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    hypervolume: Optional[dict] = None
    reference: Optional[Reference] = None
    importances: dict[str, dict] = field(default_factory=dict)
    references: list[dict] = field(default_factory=list)
    reference_note: str = ""
    comparison: Optional[dict] = None
    notes: list[str] = field(default_factory=list)
    table_rows: list[dict] = field(default_factory=list, repr=False)
    table_columns: list[str] = field(default_factory=list, repr=False)
    options: AnalysisOptions = field(default_factory=AnalysisOptions, repr=False)

    def to_dict(self) -> dict:
        """The facts and file names (what ``analysis.json`` holds).

        Returns:
            A JSON-able dict (figures and tables by file name).
        """
        return {"study": self.study_name, "objectives": self.objectives, "directions": self.directions,
                "states": self.states, "pareto": self.pareto, "hypervolume": self.hypervolume,
                "importances": self.importances, "references": self.references,
                "reference_note": self.reference_note, "comparison": self.comparison, "notes": self.notes,
                "captions": self.captions,
                "figures": {k: [p.name for p in v] for k, v in self.figures.items()},
                "tables": {k: p.name for k, p in self.tables.items()}}


def _study_data(cfg: dict) -> tuple[str, Optional[list]]:
    """(dataset spec, list of input resolutions or None) from a stored ghostnas config."""
    dataset = str((cfg.get("data") or {}).get("dataset", "unknown"))
    fid = cfg.get("fidelity") or {}
    if fid.get("resolution"):
        return dataset, [fid["resolution"]]
    space = cfg.get("space") if isinstance(cfg.get("space"), dict) else {}
    res = (space.get("global") or {}).get("resolution")
    if res is None:
        return dataset, None
    return dataset, list(res) if isinstance(res, (list, tuple)) else [res]


def _states(frame: Any) -> dict[str, int]:
    """Trials per state, surplus failures apart, and what the COMPLETE ones were."""
    c: dict[str, int] = {}
    for _, r in frame.iterrows():
        key = r["state"]
        if key == "FAIL" and str(r.get("fail_reason") or "").startswith("surplus"):
            key = "FAIL (surplus, never run)"
        c[key] = c.get(key, 0) + 1
    done = frame[frame["state"] == "COMPLETE"]
    c["of COMPLETE: trained"] = int(trained_mask(frame).sum())
    c["of COMPLETE: rejected by budget"] = int(done["rejected"].notna().sum()) if "rejected" in frame else 0
    c["of COMPLETE: reused architecture"] = int(done["reused_from"].notna().sum()) if "reused_from" in frame else 0
    return c


def _read(study: Any) -> tuple[list[str], list[str], dict, Any]:
    """Objectives, directions, stored config and trial frame of a study (checked)."""
    from ghostnas.search.readers import trials_frame

    objectives = study_objectives(study)
    if "accuracy" not in objectives:
        raise ValueError(f"study {study.study_name!r} has objectives {objectives}; the Pareto analysis needs "
                         "'accuracy' among them (a ghostnas study)")
    directions = study_directions(study)
    try:
        check_senses(objectives, directions)
    except ValueError as e:
        raise ValueError(f"study {study.study_name!r}: {e}") from None
    cfg = dict(study.user_attrs.get("ghostnas_config") or {})
    if not study.get_trials(deepcopy=False):
        raise ValueError(f"study {study.study_name!r} has no trials yet; nothing to analyse")
    frame = trials_frame(study)
    for col in _FRAME_COLUMNS:
        if col not in frame:
            frame[col] = None
    return objectives, directions, cfg, frame


def _num_classes(cfg: dict, frame: Any) -> Optional[int]:
    """Classes of the study's data: from a trial's architecture, else a known dataset's, else None."""
    for text in frame["arch"].dropna():
        try:
            return int(json.loads(text)["model"]["num_classes"])
        except (ValueError, KeyError, TypeError):
            continue
    return _KNOWN_CLASSES.get(str((cfg.get("data") or {}).get("dataset", "")).lower())


def _reference(objectives: list[str], cfg: dict, frame: Any, override: dict, name: str) -> Reference:
    try:
        return reference_point(objectives, cfg, override={k: v for k, v in override.items() if k in objectives},
                               num_classes=_num_classes(cfg, frame))
    except ValueError as e:
        raise ValueError(f"study {name!r}: {e}") from None


def _start(study: Any, options: AnalysisOptions, also: Sequence[str] = ()) -> StudyAnalysis:
    """Check the study, read its trials and facts, fix the reference point (no file written yet).

    ``also``: objectives of the compared studies (an explicit reference may name those too).
    """
    from ghostnas.search.readers import pareto_trials

    objectives, directions, cfg, frame = _read(study)
    a = StudyAnalysis(study.study_name, objectives, directions, cfg, frame, options=options)
    unknown = sorted(set(options.reference) - set(objectives) - set(also))
    if unknown:
        raise ValueError(f"--reference names {', '.join(unknown)}, not an objective of study "
                         f"{study.study_name!r} ({', '.join(objectives)})"
                         + (" nor of the compared studies" if also else ""))
    if len(objectives) >= 2:
        a.reference = _reference(objectives, cfg, frame, options.reference, study.study_name)
    a.states = _states(frame)
    a.pareto = pareto_rows(pareto_trials(study), objectives)
    refs, a.reference_note = paper_references(*_study_data(cfg))
    if not options.paper:
        refs = []
        a.reference_note = "Paper models not drawn (--no-paper)."
    a.references = refs
    return a


def _front(a: StudyAnalysis, out: Path, key: str, cost: str, refs: list, budget: Any, note: str,
           highlight: Optional[list[int]], title: str) -> str:
    """One accuracy-versus-cost front figure; returns the caption's extra sentences."""
    from .pareto_plots import _save

    label, col, scale = AXES[cost]
    fig, info = front_figure(a.frame, x=col, y="accuracy", x_scale=scale, x_label=label, references=refs,
                             budget=budget, note=note, highlight=highlight, title=title,
                             xlim=a.options.x_limits(cost), ylim=a.options.ylim, labels=a.options.labels)
    a.figures[key] = _save(fig, out / key)
    return info.caption()


def _hv_sentence(a: StudyAnalysis, cost: str) -> str:
    if not a.hypervolume or set(a.objectives) != {"accuracy", cost}:
        return ""
    return (f" Hypervolume {a.hypervolume['final']:.4f} against the fixed reference point "
            f"{a.hypervolume['reference_text']}.")


def _front_figures(a: StudyAnalysis, out: Path) -> None:
    """Accuracy against each measured cost, and the three-objective view."""
    frame, objectives, name = a.frame, a.objectives, a.study_name
    constraints = a.config.get("constraints") or {}
    dataset = _study_data(a.config)[0]
    refs = a.references
    n_trained = int(trained_mask(frame).sum())
    pareto_numbers = {p["number"] for p in a.pareto}

    def ring(cost: str) -> Optional[list[int]]:  # the all-objective front differs from this 2-D one
        return None if set(objectives) == {"accuracy", cost} else sorted(pareto_numbers)

    extra = _front(a, out, "front_macs", "macs", refs, constraints.get("macs_max"), a.reference_note, ring("macs"),
                   f"{name}: accuracy vs MACs ({dataset}, {n_trained} trained trials)")
    a.captions["front_macs"] = ("Validation accuracy against analytic MACs of every trained trial; blue steps: the "
                                "2-D Pareto front (feasible trials)" + (_RINGED if ring("macs") else "")
                                + (("; dashed: the MACs budget, ticks on the axis: trials rejected before training"
                                    ) if constraints.get("macs_max") else "") + ". " + a.reference_note
                                + (" " + extra if extra else "") + _hv_sentence(a, "macs"))
    if frame["latency_ms"].notna().any():
        note = "No paper reference: the paper gives no latency comparable with this machine's measurements."
        extra = _front(a, out, "front_latency", "latency", [], constraints.get("latency_ms_max"), note,
                       ring("latency"), f"{name}: accuracy vs latency ({n_trained} trained trials)")
        a.captions["front_latency"] = ("Validation accuracy against measured median latency; blue steps: 2-D front"
                                       + (_RINGED if ring("latency") else "") + ". " + note
                                       + (" " + extra if extra else "") + _hv_sentence(a, "latency"))
    if "params" in objectives:
        extra = _front(a, out, "front_params", "params", refs, constraints.get("params_max"), a.reference_note,
                       ring("params"), f"{name}: accuracy vs parameters ({n_trained} trained trials)")
        a.captions["front_params"] = ("Validation accuracy against parameter count; blue steps: 2-D front"
                                      + (_RINGED if ring("params") else "") + "." + (" " + extra if extra else "")
                                      + _hv_sentence(a, "params"))
    if len(objectives) >= 3:
        a.figures["front_3obj"] = plot_three_objectives(frame, objectives, pareto_numbers, out / "front_3obj", name)
        costs = [o for o in objectives if o != "accuracy"]
        a.captions["front_3obj"] = (f"Three objectives: accuracy against {costs[0]}, colour = {costs[1]}; ringed: "
                                    "Pareto-optimal over all objectives.")


def _hypervolume_figure(a: StudyAnalysis, out: Path) -> None:
    """The hypervolume history (2+ objectives) or the best accuracy so far (one objective)."""
    if len(a.objectives) < 2:
        a.figures["hypervolume"] = plot_best_history(a.frame, a.study_name, out / "hypervolume")
        a.captions["hypervolume"] = "Single-objective study: best accuracy so far (hypervolume needs 2+ objectives)."
        a.notes.append("hypervolume is defined for 2+ objectives; the figure shows the best accuracy so far")
        return
    ref = a.reference
    numbers, hv, _ = hypervolume_history(a.frame, a.objectives, a.directions, ref)
    outside = outside_reference(a.frame, a.objectives, a.directions, ref)
    a.hypervolume = {"reference": dict(ref.values), "reference_sources": dict(ref.sources),
                     "reference_text": ref.text(), "final": hv[-1] if hv else 0.0, "trials": len(numbers),
                     "outside_reference": outside, "definition": HV_DEFINITION}
    a.figures["hypervolume"] = plot_hypervolume(numbers, hv, ref, a.objectives, a.study_name, out / "hypervolume",
                                                outside=outside)
    a.captions["hypervolume"] = ("Hypervolume after each feasible trained trial (normalised: 1 would be 100% "
                                 "accuracy at zero cost). Fixed reference point: " + ref.text() + "."
                                 + (f" {len(outside)} feasible trial(s) lie beyond it and add no volume."
                                    if outside else ""))
    if outside:
        a.notes.append(f"{len(outside)} feasible trained trial(s) lie beyond the hypervolume reference point "
                       f"({ref.text()}) and add no volume: " + ", ".join(f"#{n}" for n in outside[:20]))


def _importance_figure(a: StudyAnalysis, study: Any, out: Path) -> None:
    a.importances = param_importances(study, a.objectives, repeats=a.options.importance_repeats)
    a.figures["importances"] = plot_importances(a.importances, a.study_name, out / "importances")
    a.captions["importances"] = (f"Optuna fANOVA parameter importances per objective over trained feasible trials: "
                                 f"mean ± sd over {a.options.importance_repeats} bootstrap resamples of the trials. "
                                 f"With fewer than {IMPORTANCE_WARN_TRIALS} trials no chart is drawn (numbers in "
                                 "the table only).")
    for o, r in a.importances.items():
        if "note" in r:
            a.notes.append(f"importances for {o}: {r['note']}")
        elif "warning" in r:
            a.notes.append(f"importances for {o}: warning: {r['warning']}")


def _labels(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} [{seen[n]}]")
    return out


def _comparison(a: StudyAnalysis, others: list[tuple[str, Any, tuple]], out: Path, label: str) -> None:
    """Fronts of every study on one axes and their hypervolume histories against one reference."""
    entries = [(label, a.objectives, a.directions, a.config, a.frame, a.study_name)]
    for lab, st, (objectives, directions, cfg, frame) in others:
        entries.append((lab, objectives, directions, cfg, frame, st.study_name))
    labels = _labels([e[0] for e in entries])
    notes: list[str] = []
    comp: dict[str, Any] = {"studies": [], "notes": notes}
    costs = ["macs"] + [c for c in a.objectives if c in ("latency", "params")]
    for cost in costs:
        lab, col, scale = AXES[cost]
        if not all(e[4][col].notna().any() for e in entries):
            notes.append(f"front against {cost} not overlaid: not every study recorded {col}")
            continue
        key = f"compare_front_{cost}"
        a.figures[key], fronts = plot_compare_fronts(
            [(lb, e[4]) for lb, e in zip(labels, entries)], out / key, x=col, y="accuracy", x_scale=scale,
            x_label=lab, title=f"accuracy vs {cost}: {len(entries)} studies", xlim=a.options.x_limits(cost),
            ylim=a.options.ylim)
        comp[f"fronts_{cost}"] = fronts
        a.captions[key] = (f"2-D fronts (accuracy vs {cost}) of {len(entries)} studies on one axes: faint markers are "
                           "each study's feasible trained trials, steps its front. Studies: "
                           + "; ".join(f"{lb} = study {e[5]}" for lb, e in zip(labels, entries)) + ".")
    same = all(set(a.objectives) <= set(e[1]) for e in entries)
    histories = []
    if len(a.objectives) < 2 or not same:
        notes.append("hypervolume histories not compared: a study lacks some of the main study's objectives ("
                     + "; ".join(f"{lb}: {', '.join(e[1])}" for lb, e in zip(labels, entries)) + ")"
                     if len(a.objectives) >= 2 else "hypervolume histories not compared: single-objective study")
    else:
        for lb, e in zip(labels, entries):
            if set(e[1]) != set(a.objectives):
                notes.append(f"{lb}: hypervolume over {', '.join(a.objectives)} only (the main study's "
                             f"objectives); its other objectives ({', '.join(sorted(set(e[1]) - set(a.objectives)))}) "
                             "are left out")
            numbers, hv, _ = hypervolume_history(e[4], a.objectives, a.directions, a.reference)
            histories.append((lb, numbers, hv))
            try:
                own = _reference(list(a.objectives), e[3], e[4], a.options.reference, e[5])
                if own.values != a.reference.values:
                    notes.append(f"{lb}: its own fixed reference ({own.text()}) differs; every history uses "
                                 f"{labels[0]}'s")
            except ValueError as err:
                notes.append(f"{lb}: no fixed reference of its own ({err}); every history uses {labels[0]}'s")
        a.figures["compare_hypervolume"] = plot_compare_hypervolume(
            histories, a.reference, a.objectives, out / "compare_hypervolume",
            title=f"hypervolume histories of {len(entries)} studies ({', '.join(a.objectives)})")
        a.captions["compare_hypervolume"] = ("Hypervolume after each feasible trained trial of every study, against "
                                             "one fixed reference point: " + a.reference.text() + ".")
    hv_of = {lb: (hv[-1] if hv else 0.0, len(n)) for lb, n, hv in histories}
    for lb, e in zip(labels, entries):
        comp["studies"].append({"label": lb, "study": e[5], "objectives": e[1],
                                "trained": int(trained_mask(e[4]).sum()),
                                "hypervolume_final": hv_of.get(lb, (None, 0))[0]})
    if a.reference is not None:
        comp["reference"] = a.reference.to_dict()
    a.comparison = comp
    a.notes += [f"comparison: {n}" for n in notes]


def _write_tables(a: StudyAnalysis, out: Path) -> None:
    """``trials.csv``, ``trials.md``, ``pareto.md`` and ``analysis.json``."""
    name, objectives = a.study_name, a.objectives
    csv_path = out / "trials.csv"
    a.frame.to_csv(csv_path, index=False)
    a.table_rows, a.table_columns = trial_table_rows(a.frame, objectives, {p["number"] for p in a.pareto})
    (out / "trials.md").write_text(f"# Trials of study `{name}`\n\n" + markdown_table(a.table_rows, a.table_columns),
                                   encoding="utf-8")
    pcols = ["number", *objectives] + [c for c in ("macs", "params", "latency_ms") if c not in objectives] + ["arch_id"]
    (out / "pareto.md").write_text(f"# Pareto-optimal trials of study `{name}`\n\n"
                                   + markdown_table(a.pareto, pcols), encoding="utf-8")
    a.tables = {"trials_csv": csv_path, "trials_md": out / "trials.md", "pareto_md": out / "pareto.md"}
    (out / "analysis.json").write_text(json.dumps(a.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    a.tables["analysis_json"] = out / "analysis.json"


def analyze_study(study: Any, out: str | Path, options: Optional[AnalysisOptions] = None,
                  compare: Sequence[tuple[str, Any]] = (), label: Optional[str] = None) -> StudyAnalysis:
    """Write every figure and table of ``ghostnas pareto`` for ``study`` into ``out``.

    Files: ``front_macs``, ``front_latency`` (when latency was measured), ``front_params`` (when
    params is an objective), ``front_3obj`` (3+ objectives), ``hypervolume``, ``importances``
    (PNG + SVG each), ``trials.csv``, ``trials.md``, ``pareto.md`` and ``analysis.json``; with
    ``compare``: ``compare_front_<cost>`` and ``compare_hypervolume`` too.

    Args:
        study: An Optuna study made by ghostnas (``accuracy`` among its objectives).
        out: Output folder (created if needed).
        options: Reference, paper points, axis limits, labels (default :class:`AnalysisOptions`).
        compare: ``(label, study)`` of other studies to overlay (fronts on one axes, hypervolume
            histories against this study's fixed reference point).
        label: This study's label in the comparison (default: its name).

    Returns:
        The :class:`StudyAnalysis` (figures, captions, tables, facts and notes).

    Raises:
        ValueError: a study without ``accuracy``, without trials, with wrong objective senses, or
            without a fixed hypervolume reference (the message says what to add).
    """
    options = options or AnalysisOptions()
    others = [(lab, st, _read(st)) for lab, st in compare]  # refuse bad studies before any file is written
    a = _start(study, options, [o for _, _, r in others for o in r[0]])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _hypervolume_figure(a, out)
    _front_figures(a, out)
    _importance_figure(a, study, out)
    if others:
        _comparison(a, others, out, label or study.study_name)
    _write_tables(a, out)
    return a
