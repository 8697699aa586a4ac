"""Every figure and table of ``ghostnas pareto`` for one study, and what they show.

:func:`analyze_study` writes the fronts, hypervolume history, importances and trial tables and
returns a :class:`StudyAnalysis` that :mod:`ghostnas.analysis.report` turns into HTML / markdown.
The conventions (which trials count, the hypervolume reference point, importances, the paper's
reference points) are in :mod:`~ghostnas.analysis.fronts`, :mod:`~ghostnas.analysis.hypervolume`,
:mod:`~ghostnas.analysis.importances` and :mod:`~ghostnas.analysis.paper`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .fronts import markdown_table, pareto_rows, study_directions, study_objectives, trained_mask, trial_table_rows
from .hypervolume import hypervolume_history, reference_text
from .importances import param_importances
from .paper import paper_references
from .pareto_plots import plot_best_history, plot_front, plot_hypervolume, plot_importances, plot_three_objectives

__all__ = ["StudyAnalysis", "analyze_study"]

_FRAME_COLUMNS = ("accuracy", "macs", "params", "latency_ms", "rejected", "reused_from", "feasible", "fail_reason")
_RINGED = "; ringed: Pareto-optimal over all objectives"
_HV_DEFINITION = ("fraction of the box [0,1] accuracy x [0, reference] cost dominated by the feasible trained "
                  "trials; reference: accuracy 0, 1.1 x max feasible value per cost objective")


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
    importances: dict[str, dict] = field(default_factory=dict)
    references: list[dict] = field(default_factory=list)
    reference_note: str = ""
    notes: list[str] = field(default_factory=list)
    table_rows: list[dict] = field(default_factory=list, repr=False)
    table_columns: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        """The facts and file names (what ``analysis.json`` holds).

        Returns:
            A JSON-able dict (figures and tables by file name).
        """
        return {"study": self.study_name, "objectives": self.objectives, "directions": self.directions,
                "states": self.states, "pareto": self.pareto, "hypervolume": self.hypervolume,
                "importances": self.importances, "references": self.references,
                "reference_note": self.reference_note, "notes": self.notes,
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


def _start(study: Any) -> StudyAnalysis:
    """Check the study, read its trials and facts (no file written yet)."""
    from ghostnas.search.readers import pareto_trials, trials_frame

    objectives = study_objectives(study)
    if "accuracy" not in objectives:
        raise ValueError(f"study {study.study_name!r} has objectives {objectives}; the Pareto analysis needs "
                         "'accuracy' among them (a ghostnas study)")
    cfg = dict(study.user_attrs.get("ghostnas_config") or {})
    if not study.get_trials(deepcopy=False):
        raise ValueError(f"study {study.study_name!r} has no trials yet; nothing to analyse")
    frame = trials_frame(study)
    for col in _FRAME_COLUMNS:
        if col not in frame:
            frame[col] = None
    a = StudyAnalysis(study.study_name, objectives, study_directions(study), cfg, frame)
    a.states = _states(frame)
    a.pareto = pareto_rows(pareto_trials(study), objectives)
    a.references, a.reference_note = paper_references(*_study_data(cfg))
    return a


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

    a.figures["front_macs"] = plot_front(
        frame, out / "front_macs", x="macs", y="accuracy", references=refs, x_log=bool(refs),
        budget=constraints.get("macs_max"), note=a.reference_note, highlight=ring("macs"),
        title=f"{name}: accuracy vs MACs ({dataset}, {n_trained} trained trials)")
    a.captions["front_macs"] = ("Validation accuracy against analytic MACs of every trained trial; blue steps: the "
                                "2-D Pareto front (feasible trials)" + (_RINGED if ring("macs") else "")
                                + (("; dashed: the MACs budget, ticks on the axis: trials rejected before training"
                                    ) if constraints.get("macs_max") else "") + ". " + a.reference_note)
    if frame["latency_ms"].notna().any():
        note = "No paper reference: the paper gives no latency comparable with this machine's measurements."
        a.figures["front_latency"] = plot_front(
            frame, out / "front_latency", x="latency_ms", y="accuracy", x_scale=1.0, x_label="latency (ms)",
            budget=constraints.get("latency_ms_max"), note=note, highlight=ring("latency"),
            title=f"{name}: accuracy vs latency ({n_trained} trained trials)")
        a.captions["front_latency"] = ("Validation accuracy against measured median latency; blue steps: 2-D front"
                                       + (_RINGED if ring("latency") else "") + ". " + note)
    if "params" in objectives:
        a.figures["front_params"] = plot_front(
            frame, out / "front_params", x="params", y="accuracy", x_label="parameters (M)", references=refs,
            x_log=bool(refs), budget=constraints.get("params_max"), note=a.reference_note,
            highlight=ring("params"), title=f"{name}: accuracy vs parameters ({n_trained} trained trials)")
        a.captions["front_params"] = ("Validation accuracy against parameter count; blue steps: 2-D front"
                                      + (_RINGED if ring("params") else "") + ".")
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
    numbers, hv, ref = hypervolume_history(a.frame, a.objectives, a.directions)
    a.hypervolume = {"reference": ref, "final": hv[-1] if hv else 0.0, "trials": len(numbers),
                     "definition": _HV_DEFINITION}
    a.figures["hypervolume"] = plot_hypervolume(numbers, hv, ref, a.objectives, a.study_name, out / "hypervolume")
    a.captions["hypervolume"] = ("Hypervolume after each feasible trained trial (normalised: 1 would be 100% "
                                 "accuracy at zero cost). Reference point: " + reference_text(ref) + ".")


def _importance_figure(a: StudyAnalysis, study: Any, out: Path) -> None:
    a.importances = param_importances(study, a.objectives)
    a.figures["importances"] = plot_importances(a.importances, a.study_name, out / "importances")
    a.captions["importances"] = "Optuna fANOVA parameter importances (seed 0) per objective over trained feasible trials."
    for o, r in a.importances.items():
        if "note" in r:
            a.notes.append(f"importances for {o}: {r['note']}")


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


def analyze_study(study: Any, out: str | Path) -> StudyAnalysis:
    """Write every figure and table of ``ghostnas pareto`` for ``study`` into ``out``.

    Files: ``front_macs``, ``front_latency`` (when latency was measured), ``front_params`` (when
    params is an objective), ``front_3obj`` (3+ objectives), ``hypervolume``, ``importances``
    (PNG + SVG each), ``trials.csv``, ``trials.md``, ``pareto.md`` and ``analysis.json``.

    Args:
        study: An Optuna study made by ghostnas (``accuracy`` among its objectives).
        out: Output folder (created if needed).

    Returns:
        The :class:`StudyAnalysis` (figures, captions, tables, facts and notes).

    Raises:
        ValueError: the study has no ``accuracy`` objective, or no trials.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    a = _start(study)
    _front_figures(a, out)
    _hypervolume_figure(a, out)
    _importance_figure(a, study, out)
    _write_tables(a, out)
    return a
