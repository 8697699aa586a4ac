"""Pareto fronts, hypervolume, parameter importances and the trial table of a ghostnas study.

:func:`plot_front` draws one accuracy-versus-cost front (also used by ``ghostnas search``);
:func:`analyze_study` makes every figure and table of ``ghostnas pareto`` and returns an
:class:`StudyAnalysis` that :mod:`ghostnas.analysis.report` turns into HTML / markdown.

Conventions:

* **Which trials count.** Fronts, hypervolume and importances use *trained* trials: state
  COMPLETE, not rejected by the analytic budget (those were never trained; their accuracy of 0
  is a placeholder) and not a reuse of an earlier trial's architecture (same values twice).
  Feasibility comes from the trial's Optuna constraints (all values <= 0).
* **Hypervolume reference point** (:func:`reference_point`): accuracy 0 for accuracy (the worst
  possible value), and 1.1 x the largest value among the feasible trained trials for each
  cost objective (MACs, params, latency). Cost objectives are divided by their reference value,
  so the hypervolume is the dominated fraction of the box [0, 1] accuracy x [0, reference]
  cost: a number in [0, 1] whatever the units. Only feasible trials add volume.
* **Importances**: Optuna's fANOVA evaluator (seed 0) on the trained feasible trials, once per
  objective (``target=`` the objective's value). With fewer than
  :data:`MIN_IMPORTANCE_TRIALS` trials, no varying parameter, or a constant objective, no
  importance is computed and a note says why.
* **Paper reference points** (:func:`paper_references`): the paper's hand-made CIFAR-10 models
  (VGG-16 / ResNet-56 and their Ghost versions, ``analysis/data/paper_cifar.csv``) are drawn
  only on a CIFAR-10 study at 32x32 pixels; for any other study the figure and the report say
  that no comparable hand-made reference exists. The paper's numbers are test accuracy after full
  training, the study's are proxy validation accuracy: comparable in kind, not in training budget.
"""
from __future__ import annotations

import csv
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

__all__ = ["plot_front", "OKABE_ITO", "MIN_IMPORTANCE_TRIALS", "StudyAnalysis", "analyze_study",
           "hypervolume", "hypervolume_history", "reference_point", "paper_references", "param_importances",
           "trained_mask", "front_indices", "markdown_table", "study_objectives"]

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
OKABE_ITO = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
             "sky": "#56B4E9", "purple": "#CC79A7", "yellow": "#F0E442", "grey": "#999999", "black": "#000000"}

MIN_IMPORTANCE_TRIALS = 5
PAPER_CSV = Path(__file__).resolve().parent / "data" / "paper_cifar.csv"

# How each objective is shown: label, column in trials_frame, scale for the axis.
_AXES = {"macs": ("MACs (M)", "macs", 1e-6), "params": ("parameters (M)", "params", 1e-6),
         "latency": ("latency (ms)", "latency_ms", 1.0), "accuracy": ("validation accuracy", "accuracy", 1.0)}


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "ghostnas"  # stable element ids: reruns give identical SVGs
    return plt


def _save(fig: Any, path: str | Path) -> list[Path]:
    path = Path(path)
    out = []
    for ext in (".png", ".svg"):
        p = path.with_suffix(ext)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, metadata={"Date": None} if ext == ".svg" else {"Software": None})
        out.append(p)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return out


def _front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated for (minimise x, maximise y)."""
    out = []
    for i, (x, y) in enumerate(points):
        if not any((x2 <= x and y2 >= y) and (x2 < x or y2 > y) for j, (x2, y2) in enumerate(points) if j != i):
            out.append(i)
    return sorted(out, key=lambda i: points[i][0])


def front_indices(loss: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated rows of ``loss`` (every column minimised)."""
    out = []
    for i, p in enumerate(loss):
        dominated = any(all(a <= b for a, b in zip(q, p)) and any(a < b for a, b in zip(q, p))
                        for j, q in enumerate(loss) if j != i)
        if not dominated:
            out.append(i)
    return out


def trained_mask(frame: Any) -> Any:
    """Rows of a trials frame that were really trained: COMPLETE, not rejected, not reused."""
    m = frame["state"] == "COMPLETE"
    if "rejected" in frame:
        m &= frame["rejected"].isna()
    if "reused_from" in frame:
        m &= frame["reused_from"].isna()
    return m


def plot_front(frame: Any, path: str | Path, x: str = "macs", y: str = "accuracy", title: Optional[str] = None,
               references: Optional[Sequence[dict]] = None, x_scale: float = 1e-6, x_label: str = "MACs (M)",
               y_label: str = "validation accuracy", x_log: bool = False, budget: Optional[float] = None,
               note: Optional[str] = None, highlight: Optional[Sequence[int]] = None,
               show_rejected: bool = True) -> list[Path]:
    """Scatter of all trained trials with the (min x, max y) Pareto front; PNG and SVG.

    Args:
        frame: :func:`ghostnas.search.readers.trials_frame` output.
        path: Output path; the suffix is replaced by ``.png`` and ``.svg``.
        references: Optional extra points ``{"label", x, y}`` (e.g. the paper's models), in the
            same units as the frame (``x`` before ``x_scale``).
        x_log: Logarithmic x axis (used when paper models lie far from the searched range).
        budget: A constraint on ``x`` (same units as the frame), drawn as a dashed line.
        note: A line of text under the axes (e.g. why no reference is drawn).
        highlight: Trial numbers to ring (e.g. Pareto-optimal in all objectives).
        show_rejected: Mark trials rejected before training (never trained) on the x axis.

    Returns:
        The written files.
    """
    plt = _mpl()
    from matplotlib.transforms import blended_transform_factory

    has = frame[x].notna() & frame[y].notna() if x in frame and y in frame else frame["state"] != frame["state"]
    df = frame[trained_mask(frame) & has]
    fig, ax = plt.subplots(figsize=(6.8, 4.6), dpi=130)
    feas = df[df["feasible"].astype(bool)]
    infeas = df[~df["feasible"].astype(bool)]
    if len(infeas):
        ax.scatter(infeas[x] * x_scale, infeas[y], marker="x", color=OKABE_ITO["vermillion"],
                   label="trained, infeasible (constraint)")
    ax.scatter(feas[x] * x_scale, feas[y], color=OKABE_ITO["grey"], alpha=0.8, label="trials (feasible)")
    pts = list(zip(feas[x] * x_scale, feas[y]))
    idx = _front(pts)
    if idx:
        fx = [pts[i][0] for i in idx]
        fy = [pts[i][1] for i in idx]
        ax.step(fx, fy, where="post", color=OKABE_ITO["blue"], lw=1.5)
        ax.scatter(fx, fy, color=OKABE_ITO["blue"], zorder=3, label="Pareto front")
        for i in idx:
            ax.annotate(f"#{int(feas.iloc[i]['number'])}", pts[i], textcoords="offset points", xytext=(4, -10), fontsize=7)
    if highlight:
        hl = df[df["number"].isin(list(highlight))]
        if len(hl):
            ax.scatter(hl[x] * x_scale, hl[y], s=110, facecolors="none", edgecolors=OKABE_ITO["black"], lw=1.0,
                       zorder=4, label="Pareto-optimal (all objectives)")
    # Paper models: numbered stars (names would collide: several sit within a few % of each other),
    # the key goes under the axes.
    refs = sorted(references or (), key=lambda r: r[x])
    offsets = [(4, 5), (4, -11), (-11, 5), (-11, -11)]
    for k, r in enumerate(refs):
        ax.scatter([r[x] * x_scale], [r[y]], marker="*", s=130, color=OKABE_ITO["orange"], edgecolors="black",
                   linewidths=0.4, zorder=5, label="paper's hand-made models (numbered)" if k == 0 else None)
        ax.annotate(str(k + 1), (r[x] * x_scale, r[y]), textcoords="offset points", xytext=offsets[k % 4],
                    fontsize=7, fontweight="bold")
    if refs:
        key = "; ".join(f"{k + 1} {r['label']} ({r[x] * x_scale:.4g}, {r[y]:.1%})" for k, r in enumerate(refs))
        note = (note + "\n" if note else "") + "Paper models: " + key
    if budget is not None:
        ax.axvline(budget * x_scale, color=OKABE_ITO["vermillion"], ls="--", lw=1.0, label="budget (constraint)")
    rej = frame[(frame["state"] == "COMPLETE") & frame["rejected"].notna() & frame[x].notna()] \
        if show_rejected and "rejected" in frame and x in frame else frame.iloc[:0]
    if len(rej):
        tr = blended_transform_factory(ax.transData, ax.transAxes)
        ax.scatter(rej[x] * x_scale, [0.02] * len(rej), marker="|", s=160, color=OKABE_ITO["vermillion"],
                   transform=tr, clip_on=False, label=f"rejected by budget, not trained ({len(rej)})")
    if x_log:
        ax.set_xscale("log")
    # Keep rejected trials and the budget line in view (blended-transform markers do not autoscale).
    extra = [float(v) * x_scale for v in (rej[x] if len(rej) else [])] + ([budget * x_scale] if budget else [])
    lo, hi = ax.get_xlim()
    if extra and (max(extra) >= hi or min(extra) <= lo):
        top, bottom = max(max(extra), hi), min(min(extra), lo)
        if x_log:
            ax.set_xlim(bottom / 1.15, top * 1.15)
        else:
            pad = 0.04 * (top - bottom)
            ax.set_xlim(bottom - pad, top + pad)
    ax.set_xlabel(x_label + (" (log scale)" if x_log else ""))
    ax.set_ylabel(y_label)
    ax.set_title(title or f"{y} vs {x}: {len(df)} trained trials", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7, framealpha=0.85)
    if note:
        lines = [w for part in note.split("\n") for w in _wrap(part, 125)]
        fig.text(0.01, 0.01, "\n".join(lines), fontsize=6.5, color="#333333", ha="left", va="bottom")
        fig.set_figheight(fig.get_figheight() + 0.11 * len(lines))
    fig.tight_layout(rect=(0, (0.012 + 0.11 * len(lines) / fig.get_figheight()) if note else 0, 1, 1))
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------
# study facts


def study_objectives(study: Any) -> list[str]:
    """The study's objective names (``user_attrs["objectives"]``, else metric names, else value_i)."""
    objs = study.user_attrs.get("objectives") or getattr(study, "metric_names", None)
    return list(objs) if objs else [f"value_{i}" for i in range(len(study.directions))]


def _direction(d: Any) -> str:
    name = getattr(d, "name", str(d))  # StudyDirection is an IntEnum: str() gives "2" on Python 3.11
    return "maximize" if "MAXIMIZE" in name.upper() else "minimize"


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


def _is_cifar10(dataset: str) -> bool:
    d = dataset.lower().replace("-", "").replace("_", "")
    return ("cifar10" in d and "cifar100" not in d)


def paper_references(dataset: str, resolutions: Optional[Sequence[Any]]) -> tuple[list[dict], str]:
    """The paper's hand-made models comparable with a study, and a note saying which (or why none).

    Comparable means: CIFAR-10 data at 32x32 pixels. Then the baselines and Ghost versions with
    d=3 (paper Tables 4-5) are returned as ``{"label", "macs", "params", "accuracy"}``
    (accuracy as a fraction). Otherwise the list is empty and the note says so.
    """
    res_ok = resolutions is not None and all(str(r) == "32" for r in resolutions)
    if not (_is_cifar10(dataset) and res_ok):
        res_txt = "/".join(str(r) for r in resolutions) if resolutions else "unknown"
        return [], (f"No comparable hand-made reference: the study uses {dataset} at {res_txt} px; the paper's "
                    "hand-made models were measured on CIFAR-10 (32 px) and ImageNet (224 px).")
    refs, seen = [], set()
    with open(PAPER_CSV, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["dw_size"] not in ("", "3") or row["model"] in seen:
                continue
            seen.add(row["model"])
            refs.append({"label": row["model"].replace(" d=3", ""), "macs": float(row["flops_m"]) * 1e6,
                         "params": float(row["params_m"]) * 1e6, "accuracy": float(row["acc"]) / 100.0,
                         "table": row["table"]})
    return refs, ("Stars: the paper's hand-made CIFAR-10 models (Tables 4-5, d=3; test accuracy after full "
                  "training), study points are proxy validation accuracy.")


# ---------------------------------------------------------------------------------------------
# hypervolume


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Exact hypervolume dominated by ``points`` (all objectives minimised) up to ``reference``.

    Points that do not strictly dominate the reference add nothing. Slicing along the last
    objective, recursively; meant for fronts of up to a few hundred points and 2-4 objectives.
    """
    ref = [float(r) for r in reference]
    pts = [[float(a) for a in p] for p in points if all(float(a) < r for a, r in zip(p, ref))]
    if not pts:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in pts)
    pts = [pts[i] for i in front_indices(pts)]
    if len(ref) == 2:
        pts.sort(key=lambda p: (p[0], p[1]))
        vol, best_y = 0.0, ref[1]
        for i, p in enumerate(pts):
            nxt = pts[i + 1][0] if i + 1 < len(pts) else ref[0]
            best_y = min(best_y, p[1])
            vol += (nxt - p[0]) * (ref[1] - best_y)
        return vol
    pts.sort(key=lambda p: p[-1])
    vol = 0.0
    for i, p in enumerate(pts):
        upper = pts[i + 1][-1] if i + 1 < len(pts) else ref[-1]
        if upper > p[-1]:
            vol += (upper - p[-1]) * hypervolume([q[:-1] for q in pts[: i + 1]], ref[:-1])
    return vol


def _loss_rows(frame: Any, objectives: Sequence[str], directions: Sequence[str],
               reference: dict[str, float]) -> list[list[float]]:
    """Normalised minimisation vectors: -accuracy (reference 0), cost / reference (reference 1)."""
    rows = []
    for _, r in frame.iterrows():
        v = []
        for o, d in zip(objectives, directions):
            val = float(r[o])
            v.append(-(val - reference[o]) if d == "maximize" else val / reference[o])
        rows.append(v)
    return rows


def reference_point(frame: Any, objectives: Sequence[str], directions: Sequence[str]) -> dict[str, float]:
    """The hypervolume reference point (module docs): 0 for maximised objectives whose values are
    fractions (accuracy), else the worst value; 1.1 x the largest feasible trained value for costs."""
    df = _hv_trials(frame, objectives)
    ref = {}
    for o, d in zip(objectives, directions):
        vals = [float(v) for v in df[o]] if len(df) else []
        if d == "maximize":
            ref[o] = 0.0 if (not vals or min(vals) >= 0) else min(vals)
        else:
            top = max(vals) if vals else 1.0
            ref[o] = 1.1 * top if top > 0 else 1.0
    return ref


def _hv_trials(frame: Any, objectives: Sequence[str]) -> Any:
    df = frame[trained_mask(frame) & frame["feasible"].astype(bool)]
    for o in objectives:
        df = df[df[o].notna()]
        df = df[df[o].map(lambda v: math.isfinite(float(v)))]
    return df.sort_values("number")


def hypervolume_history(frame: Any, objectives: Sequence[str], directions: Sequence[str],
                        reference: Optional[dict[str, float]] = None) -> tuple[list[int], list[float], dict[str, float]]:
    """(trial numbers, normalised hypervolume after each, reference point) over feasible trained trials."""
    reference = reference or reference_point(frame, objectives, directions)
    df = _hv_trials(frame, objectives)
    rows = _loss_rows(df, objectives, directions, reference)
    ref = [0.0 if d == "maximize" else 1.0 for d in directions]
    numbers, hv, front = [], [], []
    for n, p in zip(df["number"], rows):
        if not any(all(a <= b for a, b in zip(q, p)) for q in front):  # not (weakly) dominated: new volume
            front = [q for q in front if not all(a <= b for a, b in zip(p, q))] + [p]
        numbers.append(int(n))
        hv.append(hypervolume(front, ref))
    return numbers, hv, reference


# ---------------------------------------------------------------------------------------------
# importances


def param_importances(study: Any, objectives: Optional[Sequence[str]] = None,
                      min_trials: int = MIN_IMPORTANCE_TRIALS) -> dict[str, dict]:
    """Per objective: ``{"importances": {param: share}}`` or ``{"note": why none}``.

    Uses Optuna's fANOVA (seed 0) on a copy of the study holding only the trained feasible trials
    (rejected trials carry a placeholder accuracy of 0 and would measure the budget instead).
    """
    import optuna
    from optuna.trial import TrialState

    objectives = list(objectives or study_objectives(study))
    keep = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if not t.user_attrs.get("rejected") and t.user_attrs.get("reused_from") is None
            and all(v <= 0 for v in t.constraints.values()) and t.values is not None
            and all(math.isfinite(v) for v in t.values)]
    out: dict[str, dict] = {}
    if len(keep) < min_trials:
        note = (f"too few trials for parameter importances: {len(keep)} trained feasible trial(s), "
                f"at least {min_trials} needed")
        return {o: {"note": note} for o in objectives}
    varying = {k for k in set().union(*(t.params for t in keep))
               if len({json.dumps(t.params.get(k), default=str) for t in keep}) > 1}
    if not varying:
        return {o: {"note": "no parameter varies among the trained trials"} for o in objectives}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created in memory" line
    try:
        copy = optuna.create_study(directions=list(study.directions), storage=optuna.storages.InMemoryStorage())
    finally:
        optuna.logging.set_verbosity(verbosity)
    copy.add_trials(keep)
    for i, o in enumerate(objectives):
        if len({t.values[i] for t in keep}) < 2:
            out[o] = {"note": f"{o} is the same for every trained trial; nothing to attribute"}
            continue
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                imp = optuna.importance.get_param_importances(
                    copy, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
                    target=lambda t, i=i: t.values[i])
            msgs = [str(w.message) for w in caught if "too small" in str(w.message).lower()]
            if msgs:
                out[o] = {"note": f"too few trials for parameter importances ({msgs[0]})"}
            elif not imp:
                out[o] = {"note": "Optuna returned no importances (no parameter shared by all trained trials)"}
            else:
                out[o] = {"importances": {k: float(v) for k, v in imp.items()}}
        except (ValueError, RuntimeError, ZeroDivisionError) as e:
            out[o] = {"note": f"parameter importances failed: {' '.join(str(e).split())[:200]}"}
    return out


# ---------------------------------------------------------------------------------------------
# tables


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """A GitHub-markdown table of ``rows`` (dicts) restricted to ``columns``."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _table_rows(frame: Any, objectives: Sequence[str], pareto: set[int]) -> tuple[list[dict], list[str]]:
    cols = ["number", "state", *objectives]
    cols += [c for c in ("macs", "params", "latency_ms") if c not in cols and c in frame and frame[c].notna().any()]
    cols += ["feasible", "pareto", "arch_id", "note"]
    rows = []
    for _, r in frame.sort_values("number").iterrows():
        d = {c: (None if c not in r else r[c]) for c in cols}
        d["number"] = int(r["number"])
        for c in ("macs", "params"):
            if c in d and d[c] is not None and not (isinstance(d[c], float) and math.isnan(d[c])):
                d[c] = int(d[c])
        d["pareto"] = "yes" if int(r["number"]) in pareto else ""
        note = []
        for k, label in (("rejected", "rejected: "), ("reused_from", "reuses #"), ("fail_reason", "")):
            v = r.get(k)
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                note.append(f"{label}{int(v) if k == 'reused_from' else v}")
        d["note"] = "; ".join(note)
        if r["state"] == "COMPLETE" and r.get("rejected") is not None and not (isinstance(r.get("rejected"), float)):
            for o in objectives:  # placeholder values of never-trained trials are not results
                if o != "macs" and o != "params":
                    d[o] = None
        rows.append(d)
    return rows, cols


# ---------------------------------------------------------------------------------------------
# everything


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
        return {"study": self.study_name, "objectives": self.objectives, "directions": self.directions,
                "states": self.states, "pareto": self.pareto, "hypervolume": self.hypervolume,
                "importances": self.importances, "references": self.references,
                "reference_note": self.reference_note, "notes": self.notes,
                "figures": {k: [p.name for p in v] for k, v in self.figures.items()},
                "tables": {k: p.name for k, p in self.tables.items()}}


def _states(study: Any, frame: Any) -> dict[str, int]:
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


def analyze_study(study: Any, out: str | Path) -> StudyAnalysis:
    """Write every figure and table of ``ghostnas pareto`` for ``study`` into ``out``.

    Files: ``front_macs``, ``front_latency`` (when latency was measured), ``front_params`` (when
    params is an objective), ``front_3obj`` (3+ objectives), ``hypervolume``, ``importances``
    (PNG + SVG each), ``trials.csv``, ``trials.md``, ``pareto.md`` and ``analysis.json``.
    """
    from ghostnas.search.readers import pareto_trials, trials_frame

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    objectives = study_objectives(study)
    directions = [_direction(d) for d in study.directions]
    if "accuracy" not in objectives:
        raise ValueError(f"study {study.study_name!r} has objectives {objectives}; the Pareto analysis needs "
                         "'accuracy' among them (a ghostnas study)")
    cfg = dict(study.user_attrs.get("ghostnas_config") or {})
    if not study.get_trials(deepcopy=False):
        raise ValueError(f"study {study.study_name!r} has no trials yet; nothing to analyse")
    frame = trials_frame(study)
    for col in ("accuracy", "macs", "params", "latency_ms", "rejected", "reused_from", "feasible", "fail_reason"):
        if col not in frame:
            frame[col] = None
    a = StudyAnalysis(study.study_name, objectives, directions, cfg, frame)
    a.states = _states(study, frame)
    front = pareto_trials(study)
    pareto_numbers = {t.number for t in front}
    a.pareto = [{"number": t.number, **{o: t.values[i] for i, o in enumerate(objectives)},
                 "macs": t.user_attrs.get("macs"), "params": t.user_attrs.get("params"),
                 "latency_ms": t.user_attrs.get("latency_ms"), "arch_id": t.user_attrs.get("arch_id"),
                 "params_suggested": dict(t.params)} for t in front]
    dataset, res = _study_data(cfg)
    refs, a.reference_note = paper_references(dataset, res)
    a.references = refs
    constraints = cfg.get("constraints") or {}
    name = study.study_name
    n_trained = int(trained_mask(frame).sum())

    def ring(cost: str) -> Optional[list[int]]:  # the all-objective front differs from this 2-D one
        return None if set(objectives) == {"accuracy", cost} else sorted(pareto_numbers)

    # Fronts: accuracy against each cost that was measured.
    a.figures["front_macs"] = plot_front(
        frame, out / "front_macs", x="macs", y="accuracy", references=refs, x_log=bool(refs),
        budget=constraints.get("macs_max"), note=a.reference_note, highlight=ring("macs"),
        title=f"{name}: accuracy vs MACs ({dataset}, {n_trained} trained trials)")
    ringed = "; ringed: Pareto-optimal over all objectives"
    a.captions["front_macs"] = ("Validation accuracy against analytic MACs of every trained trial; blue steps: the "
                                "2-D Pareto front (feasible trials)" + (ringed if ring("macs") else "")
                                + (("; dashed: the MACs budget, ticks on the axis: trials rejected before training"
                                    ) if constraints.get("macs_max") else "") + ". " + a.reference_note)
    if frame["latency_ms"].notna().any():
        note = "No paper reference: the paper gives no latency comparable with this machine's measurements."
        a.figures["front_latency"] = plot_front(
            frame, out / "front_latency", x="latency_ms", y="accuracy", x_scale=1.0, x_label="latency (ms)",
            budget=constraints.get("latency_ms_max"), note=note, highlight=ring("latency"),
            title=f"{name}: accuracy vs latency ({n_trained} trained trials)")
        a.captions["front_latency"] = ("Validation accuracy against measured median latency; blue steps: 2-D front"
                                       + (ringed if ring("latency") else "") + ". " + note)
    if "params" in objectives:
        a.figures["front_params"] = plot_front(
            frame, out / "front_params", x="params", y="accuracy", x_label="parameters (M)", references=refs,
            x_log=bool(refs), budget=constraints.get("params_max"), note=a.reference_note,
            highlight=ring("params"), title=f"{name}: accuracy vs parameters ({n_trained} trained trials)")
        a.captions["front_params"] = ("Validation accuracy against parameter count; blue steps: 2-D front"
                                      + (ringed if ring("params") else "") + ".")
    if len(objectives) >= 3:
        a.figures["front_3obj"] = _plot_three(frame, objectives, directions, pareto_numbers, out / "front_3obj", name)
        costs = [o for o in objectives if o != "accuracy"]
        a.captions["front_3obj"] = (f"Three objectives: accuracy against {costs[0]}, colour = {costs[1]}; ringed: "
                                    "Pareto-optimal over all objectives.")

    # Hypervolume history.
    if len(objectives) >= 2:
        numbers, hv, ref = hypervolume_history(frame, objectives, directions)
        a.hypervolume = {"reference": ref, "final": hv[-1] if hv else 0.0, "trials": len(numbers),
                         "definition": "fraction of the box [0,1] accuracy x [0, reference] cost dominated by the "
                                       "feasible trained trials; reference: accuracy 0, 1.1 x max feasible value "
                                       "per cost objective"}
        a.figures["hypervolume"] = _plot_hv(numbers, hv, ref, objectives, name, out / "hypervolume")
        a.captions["hypervolume"] = ("Hypervolume after each feasible trained trial (normalised: 1 would be 100% "
                                     "accuracy at zero cost). Reference point: " + _ref_text(ref) + ".")
    else:
        a.figures["hypervolume"] = _plot_best(frame, name, out / "hypervolume")
        a.captions["hypervolume"] = "Single-objective study: best accuracy so far (hypervolume needs 2+ objectives)."
        a.notes.append("hypervolume is defined for 2+ objectives; the figure shows the best accuracy so far")

    # Importances.
    a.importances = param_importances(study, objectives)
    a.figures["importances"] = _plot_importances(a.importances, name, out / "importances")
    a.captions["importances"] = "Optuna fANOVA parameter importances (seed 0) per objective over trained feasible trials."
    for o, r in a.importances.items():
        if "note" in r:
            a.notes.append(f"importances for {o}: {r['note']}")

    # Tables.
    csv_path = out / "trials.csv"
    frame.to_csv(csv_path, index=False)
    a.table_rows, a.table_columns = _table_rows(frame, objectives, pareto_numbers)
    (out / "trials.md").write_text(f"# Trials of study `{name}`\n\n" + markdown_table(a.table_rows, a.table_columns),
                                   encoding="utf-8")
    pcols = ["number", *objectives] + [c for c in ("macs", "params", "latency_ms") if c not in objectives] + ["arch_id"]
    (out / "pareto.md").write_text(f"# Pareto-optimal trials of study `{name}`\n\n"
                                   + markdown_table(a.pareto, pcols), encoding="utf-8")
    a.tables = {"trials_csv": csv_path, "trials_md": out / "trials.md", "pareto_md": out / "pareto.md"}
    (out / "analysis.json").write_text(json.dumps(a.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    a.tables["analysis_json"] = out / "analysis.json"
    return a


def _ref_text(ref: dict[str, float]) -> str:
    parts = []
    for o, v in ref.items():
        if o in ("macs", "params"):
            parts.append(f"{o} {v / 1e6:.3g}M")
        elif o == "latency":
            parts.append(f"latency {v:.3g} ms")
        else:
            parts.append(f"{o} {v:.3g}")
    return ", ".join(parts)


def _plot_hv(numbers: list[int], hv: list[float], ref: dict, objectives: Sequence[str], name: str,
             path: Path) -> list[Path]:
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(6.8, 4.2), dpi=130)
    if numbers:
        ax.step(numbers, hv, where="post", color=OKABE_ITO["blue"], lw=1.6)
        ax.scatter(numbers, hv, s=14, color=OKABE_ITO["blue"], zorder=3)
        ax.set_ylim(0, max(max(hv) * 1.1, 1e-3))
    else:
        ax.text(0.5, 0.5, "no feasible trained trial yet", ha="center", va="center", transform=ax.transAxes)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial number")
    ax.set_ylabel("normalised hypervolume")
    ax.set_title(f"{name}: hypervolume history ({', '.join(objectives)})", fontsize=10)
    ax.grid(alpha=0.3)
    fig.text(0.01, 0.01, "reference point: " + _ref_text(ref) + " (accuracy 0; 1.1 x max feasible cost); "
             "costs divided by their reference", fontsize=7, color="#333333")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(fig, path)


def _plot_best(frame: Any, name: str, path: Path) -> list[Path]:
    plt = _mpl()
    df = frame[trained_mask(frame) & frame["feasible"].astype(bool) & frame["accuracy"].notna()].sort_values("number")
    fig, ax = plt.subplots(figsize=(6.8, 4.2), dpi=130)
    ax.scatter(df["number"], df["accuracy"], color=OKABE_ITO["grey"], label="trials")
    ax.step(df["number"], df["accuracy"].cummax(), where="post", color=OKABE_ITO["blue"], label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial number")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"{name}: best accuracy history", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _plot_three(frame: Any, objectives: Sequence[str], directions: Sequence[str], pareto: set[int], path: Path,
                name: str) -> list[Path]:
    plt = _mpl()
    costs = [o for o in objectives if o != "accuracy"]
    xo, co = costs[0], costs[1]
    xl, xcol, xs = _AXES.get(xo, (xo, xo, 1.0))
    cl, ccol, cs = _AXES.get(co, (co, co, 1.0))
    df = frame[trained_mask(frame) & frame[xcol].notna() & frame[ccol].notna() & frame["accuracy"].notna()]
    feas = df[df["feasible"].astype(bool)]
    infeas = df[~df["feasible"].astype(bool)]
    fig, ax = plt.subplots(figsize=(6.8, 4.6), dpi=130)
    sc = ax.scatter(feas[xcol] * xs, feas["accuracy"], c=feas[ccol] * cs, cmap="cividis", s=36,
                    edgecolors="none", label="trials (feasible)")
    if len(infeas):
        ax.scatter(infeas[xcol] * xs, infeas["accuracy"], marker="x", color=OKABE_ITO["vermillion"],
                   label="trained, infeasible")
    hl = feas[feas["number"].isin(list(pareto))]
    if len(hl):
        ax.scatter(hl[xcol] * xs, hl["accuracy"], s=110, facecolors="none", edgecolors=OKABE_ITO["vermillion"],
                   lw=1.2, label=f"Pareto-optimal ({len(objectives)} objectives)")
        for _, r in hl.iterrows():
            ax.annotate(f"#{int(r['number'])}", (r[xcol] * xs, r["accuracy"]), textcoords="offset points",
                        xytext=(5, -10), fontsize=7)
    cb = fig.colorbar(sc, ax=ax)
    cb.set_label(cl)
    ax.set_xlabel(xl)
    ax.set_ylabel("validation accuracy")
    extra = f"; 4th objective {costs[2]} not shown" if len(costs) > 2 else ""
    ax.set_title(f"{name}: accuracy vs {xo}, colour = {co}{extra}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7, framealpha=0.85)
    fig.tight_layout()
    return _save(fig, path)


def _plot_importances(imps: dict[str, dict], name: str, path: Path) -> list[Path]:
    plt = _mpl()
    n = len(imps)
    nparams = max((len(r.get("importances", {})) for r in imps.values()), default=1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 0.8, 1.2 + 0.32 * max(nparams, 5)), dpi=130, squeeze=False)
    colours = [OKABE_ITO[c] for c in ("blue", "orange", "green", "purple")]
    for k, (ax, (o, r)) in enumerate(zip(axes[0], imps.items())):
        if "importances" in r:
            items = sorted(r["importances"].items(), key=lambda kv: kv[1])
            ax.barh([kv[0] for kv in items], [kv[1] for kv in items], color=colours[k % len(colours)])
            for y, (_, v) in enumerate(items):
                ax.text(v, y, f" {v:.2f}", va="center", fontsize=7)
            ax.set_xlim(0, max(v for _, v in items) * 1.25 or 1)
            ax.tick_params(axis="y", labelsize=7)
        else:
            ax.text(0.5, 0.5, "\n".join(_wrap(r["note"], 38)), ha="center", va="center", fontsize=8,
                    transform=ax.transAxes)
            ax.set_yticks([])
            ax.set_xticks([])
            ax.set_title(f"target: {o}", fontsize=9)
            continue
        ax.set_xlabel("importance (fANOVA, sums to 1)")
        ax.set_title(f"target: {o}", fontsize=9)
    fig.suptitle(f"{name}: parameter importances", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]
