"""A study report: one self-contained HTML file (figures embedded as SVG data URIs, inline CSS, no
JavaScript, no external resources) and a markdown twin that links the PNG figures next to it.

``ghostnas report --storage URL --study NAME --out DIR`` calls :func:`write_report`; it makes the
same figures and tables as ``ghostnas pareto`` (:func:`ghostnas.analysis.study_analysis.analyze_study`).
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Optional

from .fronts import markdown_table
from .importances import importance_text
from .study_analysis import StudyAnalysis, analyze_study

__all__ = ["write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;
padding:16px 28px;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0}tr:nth-child(even) td{background:#fafafa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0;display:block;max-width:100%}
figure img{width:900px;max-width:100%;height:auto;border:1px solid #e3e3e3}
td.params{font-size:.85em;color:#333}
figcaption{font-size:.85em;color:#444;max-width:880px}
pre{background:#f6f6f6;border:1px solid #e3e3e3;padding:8px;font-size:.8em;overflow-x:auto}
.note{color:#7a3e00}
.meta td:first-child{font-weight:600;white-space:nowrap}
details summary{cursor:pointer;font-weight:600}
"""

_FIG_ORDER = ["front_macs", "front_latency", "front_params", "front_3obj", "hypervolume", "importances",
              "compare_front_macs", "compare_front_latency", "compare_front_params", "compare_hypervolume"]
_FIG_TITLES = {"front_macs": "Pareto front: accuracy vs MACs", "front_latency": "Pareto front: accuracy vs latency",
               "front_params": "Pareto front: accuracy vs parameters", "front_3obj": "Three-objective view",
               "hypervolume": "Hypervolume history", "importances": "Parameter importances",
               "compare_front_macs": "Studies compared: fronts, accuracy vs MACs",
               "compare_front_latency": "Studies compared: fronts, accuracy vs latency",
               "compare_front_params": "Studies compared: fronts, accuracy vs parameters",
               "compare_hypervolume": "Studies compared: hypervolume histories (one reference point)"}


def _fmt(v: Any, col: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if col in ("macs", "params") and isinstance(v, (int, float)) and math.isfinite(v):
        return f"{v / 1e6:.3f}M"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _html_table(rows: list[dict], cols: list[str], numeric: bool = True, units: bool = True) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            cls = ' class="num"' if numeric and isinstance(v, (int, float)) and not isinstance(v, bool) else \
                (' class="params"' if c == "suggested parameters" else "")
            txt = _fmt(v, c) if units or not isinstance(v, float) else f"{v:.3f}"
            cells.append(f"<td{cls}>{html.escape(txt)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv_table(items: list[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in items)
    return f'<table class="meta"><tbody>{rows}</tbody></table>'


def _summary(a: StudyAnalysis, storage_label: str) -> list[tuple[str, str]]:
    cfg = a.config
    sampler = cfg.get("sampler") or {}
    pruner = cfg.get("pruner") or {}
    fid = cfg.get("fidelity") or {}
    study_cfg = cfg.get("study") or {}
    space = cfg.get("space") if isinstance(cfg.get("space"), dict) else {}
    items = [("study", a.study_name), ("storage", storage_label),
             ("objectives", ", ".join(f"{o} ({d})" for o, d in zip(a.objectives, a.directions))),
             ("sampler", _named(sampler) or ("tpe (default)" if cfg else "not recorded (study not made by ghostnas)")),
             ("pruner", _named(pruner) or ("none (default)" if cfg else "not recorded")),
             ("search space", str(space.get("name") or space.get("description") or "not recorded")),
             ("dataset", str((cfg.get("data") or {}).get("dataset", "not recorded"))),
             ("fidelity", ", ".join(f"{k}={v}" for k, v in fid.items()) or "defaults"),
             ("constraints", ", ".join(f"{k}={v:,}" if isinstance(v, (int, float)) else f"{k}={v}"
                                       for k, v in (cfg.get("constraints") or {}).items()) or "none"),
             ("target trials", str(study_cfg.get("n_trials", "not recorded"))),
             ("trials by state", ", ".join(f"{k}: {v}" for k, v in a.states.items()))]
    if a.hypervolume:
        items.append(("hypervolume (final)", f"{a.hypervolume['final']:.4f} (fixed reference point "
                                             f"{a.hypervolume['reference_text']}; {a.hypervolume['definition']})"))
    if a.comparison:
        items.append(("compared with", "; ".join(
            f"{c['label']} (study {c['study']}, {c['trained']} trained"
            + (f", hypervolume {c['hypervolume_final']:.4f}" if c.get("hypervolume_final") is not None else "") + ")"
            for c in a.comparison["studies"][1:])))
    items.append(("paper reference points", a.reference_note))
    return items


def _named(d: dict) -> str:
    """``{"name": "nsga2", "population_size": 20}`` → ``nsga2 (population_size=20)``."""
    if not d:
        return ""
    opts = ", ".join(f"{k}={v}" for k, v in d.items() if k != "name")
    return str(d.get("name", "?")) + (f" ({opts})" if opts else "")


def _pareto_rows(a: StudyAnalysis) -> tuple[list[dict], list[str]]:
    cols = ["number", *a.objectives] + [c for c in ("macs", "params", "latency_ms", "latency_noisy")
                                        if c not in a.objectives]
    cols += ["arch_id", "suggested parameters"]
    rows = []
    for p in a.pareto:
        r = dict(p)
        r["suggested parameters"] = ", ".join(f"{k}={v}" for k, v in p["params_suggested"].items())
        rows.append(r)
    cols = [c for c in cols if any(r.get(c) is not None for r in rows)] if rows else cols  # e.g. no latency
    return rows, cols


def _importance_rows(a: StudyAnalysis) -> tuple[list[dict], list[str]]:
    """One row per parameter, one ``mean ± sd`` cell per objective (most important first)."""
    params = sorted({k for r in a.importances.values() for k in r.get("importances", {})})
    first = next(iter(a.importances), None)
    key = (a.importances.get(first) or {}).get("importances", {})
    params.sort(key=lambda p: -(key.get(p) or 0.0))  # most important (for the first objective) first
    rows = [{"parameter": p, **{o: importance_text(r, p) for o, r in a.importances.items()}} for p in params]
    return rows, ["parameter", *a.importances]


def _data_uri(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _html(a: StudyAnalysis, storage_label: str) -> str:
    """The self-contained HTML report (figures embedded as SVG data URIs)."""
    prow, pcols = _pareto_rows(a)
    irow, icols = _importance_rows(a)
    h = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
         f"<title>ghostnas study report: {html.escape(a.study_name)}</title>", f"<style>{_CSS}</style></head><body>",
         f"<h1>Study report: <code>{html.escape(a.study_name)}</code></h1>",
         "<p>Made by <code>ghostnas report</code> from the study's storage. Everything below, figures included, "
         "is embedded in this file.</p>",
         "<h2>Summary</h2>", _kv_table(_summary(a, storage_label)),
         f"<h2>Pareto-optimal trials ({len(a.pareto)})</h2>",
         "<p>Feasible trained trials not dominated in all objectives (Optuna's <code>best_trials</code>, "
         "without trials that reused an earlier architecture).</p>",
         _html_table(prow, pcols) if prow else "<p class='note'>No Pareto-optimal trial yet.</p>",
         "<h2>Figures</h2>"]
    for k in _figure_keys(a):
        svg = next(p for p in a.figures[k] if p.suffix == ".svg")
        h.append(f'<figure><img alt="{html.escape(_FIG_TITLES[k])}" src="{_data_uri(svg)}">'
                 f"<figcaption><b>{html.escape(_FIG_TITLES[k])}.</b> {html.escape(a.captions.get(k, ''))}"
                 "</figcaption></figure>")
    h.append("<h2>Parameter importances</h2>")
    if irow:
        h.append("<p>Share of the objective's variance explained by each parameter (fANOVA; mean ± sd over "
                 "bootstrap resamples of the trials; the means of each column sum to 1).</p>"
                 + _html_table(irow, icols, units=False))
    for o, r in a.importances.items():
        if "note" in r or "warning" in r:
            h.append(f"<p class='note'>{html.escape(o)}: {html.escape(r.get('note') or r['warning'])}</p>")
    if a.notes:
        h.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in a.notes) + "</ul>")
    h.append(f"<h2>All trials ({len(a.table_rows)})</h2>")
    h.append("<details open><summary>trial table (also trials.csv / trials.md)</summary>"
             + _html_table(a.table_rows, a.table_columns) + "</details>")
    h.append("<h2>Study config</h2><details><summary>stored ghostnas config (JSON)</summary><pre>"
             + html.escape(json.dumps(a.config, indent=2, default=str) if a.config else "not recorded")
             + "</pre></details>")
    h.append("</body></html>")
    return "\n".join(h) + "\n"


def _markdown(a: StudyAnalysis, storage_label: str) -> str:
    """The markdown twin of the report (links the PNG figures next to it)."""
    prow, pcols = _pareto_rows(a)
    irow, icols = _importance_rows(a)
    md = [f"# Study report: `{a.study_name}`", "", "Made by `ghostnas report`; figures are the PNGs next to this file.",
          "", "## Summary", "", markdown_table([{"item": k, "value": v} for k, v in _summary(a, storage_label)],
                                               ["item", "value"]),
          f"## Pareto-optimal trials ({len(a.pareto)})", ""]
    md.append(markdown_table([{c: _fmt(r.get(c), c) for c in pcols} for r in prow], pcols) if prow
              else "No Pareto-optimal trial yet.\n")
    md += ["## Figures", ""]
    for k in _figure_keys(a):
        png = next(p for p in a.figures[k] if p.suffix == ".png")
        md += [f"### {_FIG_TITLES[k]}", "", f"![{_FIG_TITLES[k]}]({png.name})", "", a.captions.get(k, ""), ""]
    md += ["## Parameter importances", ""]
    if irow:
        md.append("Share of each objective's variance per parameter (fANOVA; mean ± sd over bootstrap resamples).\n")
        md.append(markdown_table(irow, icols))
    for o, r in a.importances.items():
        if "note" in r or "warning" in r:
            md.append(f"- {o}: {r.get('note') or r['warning']}")
    if a.notes:
        md += ["", "## Notes", ""] + [f"- {n}" for n in a.notes]
    md += ["", f"## All trials ({len(a.table_rows)})", "",
           markdown_table([{c: _fmt(r.get(c), c) if c not in ("number",) else r.get(c) for c in a.table_columns}
                           for r in a.table_rows], a.table_columns),
           "## Study config", "", "```json", json.dumps(a.config, indent=2, default=str) if a.config else "{}", "```", ""]
    return "\n".join(md)


def _figure_keys(a: StudyAnalysis) -> list[str]:
    return [k for k in _FIG_ORDER if k in a.figures]


def write_report(study: Any, out: str | Path, storage_label: Optional[str] = None,
                 analysis: Optional[StudyAnalysis] = None) -> dict[str, Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` (plus the figures) into ``out``.

    Args:
        study: An Optuna study made by ghostnas.
        out: Output folder.
        storage_label: How the report names the storage (pass a redacted URL); default "not given".
        analysis: A :class:`~ghostnas.analysis.study_analysis.StudyAnalysis` already made for
            ``out``; default: :func:`~ghostnas.analysis.study_analysis.analyze_study` is run.

    Returns:
        ``{"html": path, "markdown": path}``.
    """
    out = Path(out)
    a = analysis or analyze_study(study, out)
    storage_label = storage_label or "not given"
    html_path = out / "report.html"
    html_path.write_text(_html(a, storage_label), encoding="utf-8")
    md_path = out / "report.md"
    md_path.write_text(_markdown(a, storage_label), encoding="utf-8")
    return {"html": html_path, "markdown": md_path}
