"""Generated results blocks of a hand-written README (``experiments/README.md``).

A README keeps its prose and marks the parts that are numbers::

    <!-- generated:vgg16_ratio -->
    ...replaced on every refresh...
    <!-- /generated:vgg16_ratio -->

:func:`refresh_readme` replaces each block ``NAME`` with :func:`render_results_section` of
``<results_dir>/NAME/summary.json`` (an ablation or budget summary written by ``ghostnas
ablate``) and leaves everything outside the markers alone. ``python experiments/refresh_readme.py``
runs it on ``experiments/README.md`` (``--check`` only reports stale blocks).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Optional

from .ablation_stats import fmt_acc, fmt_diff

__all__ = ["render_results_section", "replace_generated_blocks", "refresh_readme", "BLOCK_RE"]

BLOCK_RE = re.compile(r"(<!-- generated:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /generated:(?P=name) -->)", re.S)


def _footer(summary: dict[str, Any], source: str) -> str:
    seeds = sorted({s for p in summary.get("points", []) for s in p.get("seeds", [])}
                   | {s for b in summary.get("budgets", []) for n in b["networks"].values() for s in n["seeds"]})
    miss = len(summary.get("missing_runs", []))
    extra = f", {miss} run(s) of the config missing (`{summary.get('complete_command')}`)" if miss else ""
    return (f"*Generated from `{source}` (seeds {seeds}{extra}) by `python experiments/refresh_readme.py`; "
            "edit the prose outside the markers, not this block.*")


def _render_ablation(s: dict[str, Any], source: str) -> str:
    ref = next((p["name"] for p in s["points"] if p["point"] == s.get("reference_point")), "s=2 d=3")
    lines = [f"| point | MACs (M) | proxy acc (%) ± 95% CI | Δ vs {ref} (points) [95% CI], p | paper acc (%) |",
             "|---|---|---|---|---|"]
    for p in s["points"]:
        paper = f"{p['paper_acc']:.1f}" if p.get("paper_acc") is not None else "–"
        macs = f"{p['macs'] / 1e6:.1f}" if p.get("macs") else "–"
        lines.append(f"| {p['name']} | {macs} | {fmt_acc(p['acc_mean'], p['acc_ci95_half'], p['n'])} | "
                     f"{fmt_diff(p['diff_vs_reference'], p['diff_vs_reference_ci95'], p['diff_vs_reference_p_value'])} | "
                     f"{paper} |")
    lines += ["", "Tested statements (Welch, 95%; 'higher'/'lower' only with p < 0.05 and an interval excluding 0):",
              ""] + [f"- {c}." for c in s["claims"]]
    lines += ["", f"Accuracy measured on the {s['eval_split']}.", "", _footer(s, source)]
    return "\n".join(lines)


def _render_budget(s: dict[str, Any], source: str) -> str:
    labels = list(s["budgets"][0]["networks"])
    names = [s["budgets"][0]["networks"][k]["name"] for k in labels]
    plain = s["budgets"][0]["networks"][s["plain_point"]]["name"]
    ghost = s["budgets"][0]["networks"][s["reference_point"]]["name"]
    lines = ["| epochs | " + " | ".join(f"{n} (%) ± 95% CI" for n in names)
             + f" | gap {plain} − {ghost} [95% CI], p |", "|" + "---|" * (2 + len(names))]
    for b in s["budgets"]:
        cells = [fmt_acc(b["networks"][k]["mean"], b["networks"][k]["ci95_half"], b["networks"][k]["n"]) for k in labels]
        lines.append(f"| {b['epochs']} | " + " | ".join(cells) + f" | {fmt_diff(b['gap'], b['gap_ci95'], b['gap_p_value'])} |")
    lines += ["", s["gap_trend_statement"], "", f"Accuracy measured on the {s['eval_split']}.", "", _footer(s, source)]
    return "\n".join(lines)


def render_results_section(summary: dict[str, Any], source: str = "summary.json") -> str:
    """Markdown of one results folder's ``summary.json``: the table with intervals, the tested
    statements and where it came from.

    Args:
        summary: An ablation (``kind = "ablation"``) or budget (``kind = "budget"``) summary.
        source: How the footer names the summary file.

    Returns:
        The markdown, without a trailing newline.

    Raises:
        ValueError: a summary of an unknown kind (e.g. one written before intervals existed).
    """
    kind = summary.get("kind")
    if kind == "ablation":
        return _render_ablation(summary, source)
    if kind == "budget":
        return _render_budget(summary, source)
    raise ValueError(f"{source}: not an ablation or budget summary with intervals (kind {kind!r}); "
                     "regenerate it with ghostnas ablate --report-only")


def replace_generated_blocks(text: str, render: Callable[[str], Optional[str]]) -> tuple[str, list[str]]:
    """Replace the body of every ``<!-- generated:NAME -->`` block with ``render(NAME)``.

    Args:
        text: The README.
        render: Body for a block name, or None to leave that block as it is.

    Returns:
        ``(new_text, names)`` with the names of the blocks whose body changed.
    """
    changed = []

    def sub(m: re.Match) -> str:
        body = render(m.group("name"))
        if body is None:
            return m.group(0)
        new = body.rstrip("\n") + "\n"
        if new != m.group("body"):
            changed.append(m.group("name"))
        return m.group(1) + new + m.group(4)

    return BLOCK_RE.sub(sub, text), changed


def refresh_readme(readme: Path, results_dir: Path, write: bool = True) -> dict[str, list[str]]:
    """Refresh the generated blocks of ``readme`` from ``results_dir/NAME/summary.json``.

    Args:
        readme: The README to update in place.
        results_dir: Folder holding one results folder per block name.
        write: False only reports what would change.

    Returns:
        ``{"changed": [...], "unchanged": [...], "skipped": [...]}`` block names; a block is
        skipped (left as it is) when its summary is missing.
    """
    readme, results_dir = Path(readme), Path(results_dir)
    text = readme.read_text(encoding="utf-8")
    names = [m.group("name") for m in BLOCK_RE.finditer(text)]
    skipped = []

    def render(name: str) -> Optional[str]:
        path = results_dir / name / "summary.json"
        if not path.is_file():
            skipped.append(name)
            return None
        here, there = readme.resolve().parent, path.resolve()
        source = there.relative_to(here) if there.is_relative_to(here) else Path(name) / "summary.json"
        return render_results_section(json.loads(path.read_text(encoding="utf-8")), str(source))

    new, changed = replace_generated_blocks(text, render)
    if write and new != text:
        readme.write_text(new, encoding="utf-8")
    return {"changed": changed, "unchanged": [n for n in names if n not in changed and n not in skipped],
            "skipped": skipped}
