"""Statistics of paper ablations and budget studies: intervals, tests and the sentences they allow.

Pure functions over accuracies in percent (one value per seed), used by
:mod:`ghostnas.analysis.ablation_report` for ``summary.json``, ``table.md`` and the figures, and
by :mod:`ghostnas.analysis.results_readme` for the generated README blocks.

* :func:`point_stats` – mean, sample SD and 95% Student-t interval of one grid point.
* :func:`compare` – difference of two points with Welch's 95% interval, p-value and a verdict;
  :func:`comparison_sentence` writes it as a claim no stronger than the interval allows.
* :func:`rank_agreement` – Kendall's tau-b against the paper's accuracies, its exact permutation
  p-value and a bootstrap-over-seeds interval.
* :func:`ablation_statistics` – all of the above for an ablation grid (the budget study's are in
  :mod:`.budget_report`).
* :func:`fmt_acc`, :func:`fmt_diff`, :func:`missing_runs_markdown`: the same numbers in tables.

Verdict rule (:data:`ALPHA` = 0.05): "higher"/"lower" only when the two-sided Welch p-value is
below 0.05 *and* the 95% interval excludes 0; otherwise "not distinguishable"; with one seed on
either side there is no interval ("one seed: no interval"). Claims are per comparison and not
corrected for multiplicity; the summary says how many were made.
"""
from __future__ import annotations

import math
import warnings
from math import factorial
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .stats import diff_ci95, group_bootstrap_ci, kendall_exact, kendall_tau_b, mean_ci95

__all__ = ["ALPHA", "N_BOOT", "BOOT_SEED", "RANK_METHOD", "CI_METHOD", "VERDICT_RULE", "UNITS", "REFERENCE",
           "point_stats", "compare", "comparison_sentence", "rank_agreement", "ablation_statistics", "short_name",
           "short_dataset", "fmt_p", "fmt_pts", "fmt_acc", "fmt_diff", "missing_runs_markdown"]

ALPHA = 0.05
N_BOOT = 2000
BOOT_SEED = 0
RANK_METHOD = ("Kendall's tau-b (tie-corrected: tied pairs count as neither concordant nor discordant) between "
               "the proxy's point means and the paper's accuracies; p-value exact: the share of all n! orderings "
               "of the proxy means with |tau-b| at least the observed (with ties, conditional on the tie "
               "pattern); 95% interval: percentile bootstrap over seeds (the seeds of each point resampled "
               "with replacement, point means and tau-b recomputed; 2000 resamples, seed 0; resamples with an "
               "undefined tau-b dropped).")
CI_METHOD = ("point: mean ± t(0.975, n−1)·SD/√n over seeds; difference: Welch's unequal-variance t-test "
             "(Welch–Satterthwaite df), two-sided p-value and 95% interval")
VERDICT_RULE = (f"'higher'/'lower' only when the two-sided Welch p-value is below {ALPHA} and the 95% interval "
                "excludes 0; otherwise 'not distinguishable'; one seed on either side: 'one seed: no interval'. "
                "Each claim is one test, not corrected for multiplicity.")
UNITS = "accuracy in percent (0-100); differences in percentage points"
REFERENCE = "s=2 d=3"  # the paper's default point, which every other point is compared to
_ARCH_NAMES = {"vgg16": "VGG-16", "resnet56": "ResNet-56"}
_NAN = float("nan")


def _f(v: Any) -> Optional[float]:
    """A JSON-ready float: None for None/NaN/inf."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _ci(pair: Sequence[float]) -> list[Optional[float]]:
    return [_f(pair[0]), _f(pair[1])]


def fmt_pts(v: Optional[float], nd: int = 2, signed: bool = False) -> str:
    """A number of (percentage) points for prose: ``−`` for negatives, ``–`` for None."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    s = f"{v:+.{nd}f}" if signed else f"{v:.{nd}f}"
    return s.replace("-", "−")


def fmt_p(p: Optional[float]) -> str:
    """``p=0.031``, ``p<0.001`` or ``p=–``."""
    if p is None or not math.isfinite(p):
        return "p=–"
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


def short_name(label: str, arch: str, axis: str) -> str:
    """How prose names a grid point: ``VGG-16`` for the plain baseline, ``s=4`` on the ratio axis,
    ``d=5`` on the kernel axis."""
    if label == "baseline":
        return _ARCH_NAMES.get(arch, arch)
    parts = dict(p.split("=") for p in label.split())
    return f"s={parts['s']}" if axis == "ratio" else f"d={parts['d']}"


def short_dataset(spec: str) -> str:
    """A dataset spec without the folders above the file's own folder (no absolute paths in titles)."""
    kind, _, arg = spec.partition(":")
    if not arg:
        return spec
    return f"{kind}:{'/'.join(Path(arg).parts[-2:])}"


def fmt_acc(mean: Optional[float], half: Optional[float], n: int) -> str:
    """A table cell ``53.80 ± 5.08 (n=2)`` (mean ± half-width of the 95% interval)."""
    if mean is None:
        return "– (n=0)"
    return f"{mean:.2f} ± {half:.2f} (n={n})" if half is not None else f"{mean:.2f} (n={n}, no CI)"


def fmt_diff(d: Optional[float], ci: Sequence[Optional[float]], p: Optional[float]) -> str:
    """A table cell ``+4.52 [−0.48, 9.53], p=0.055``."""
    if d is None:
        return "–"
    if ci[0] is None:
        return f"{fmt_pts(d, signed=True)} (no CI)"
    return f"{fmt_pts(d, signed=True)} [{fmt_pts(ci[0])}, {fmt_pts(ci[1])}], {fmt_p(p)}"


def missing_runs_markdown(missing: Sequence[dict], command: Optional[str]) -> list[str]:
    """A "Missing runs" section (lines) naming each run not yet trained and the command that trains them."""
    if not missing:
        return []
    what = [(f"{m['epochs']} epochs " if "epochs" in m else "") + f"{m['point']} seed {m['seed']} (`{m['key']}`)"
            for m in missing]
    lines = ["", f"## Missing runs ({len(missing)})", "", "This report uses the runs that exist. Not yet trained: "
             + ", ".join(what) + "."]
    if command:
        lines += ["", f"Train them (finished runs are reused from the run cache): `{command}`"]
    return lines


def point_stats(accs: Sequence[float]) -> dict[str, Any]:
    """Mean, sample SD (ddof 1) and 95% t-interval of one point's per-seed accuracies.

    Returns:
        ``{"n", "acc_mean", "acc_sd", "acc_ci95": [lo, hi], "acc_ci95_half"}``; SD and interval
        None for one seed, everything None for none.
    """
    a = [float(v) for v in accs]
    m, lo, hi = mean_ci95(a)
    return {"n": len(a), "acc_mean": _f(m), "acc_sd": _f(np.std(a, ddof=1)) if len(a) > 1 else None,
            "acc_ci95": _ci((lo, hi)), "acc_ci95_half": _f((hi - lo) / 2) if len(a) > 1 else None}


def compare(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """``mean(x) − mean(y)`` with Welch's 95% interval, two-sided p-value and the verdict for x.

    Returns:
        ``{"diff", "diff_ci95": [lo, hi], "diff_p_value", "n": [len(x), len(y)], "verdict"}``; the
        verdict is ``"higher"``/``"lower"`` (p < 0.05 and the interval excludes 0),
        ``"not distinguishable"``, ``"one seed: no interval"`` (a side with one value),
        ``"no seed-to-seed variation: no interval"`` (both sides constant), or ``"no data"``.
    """
    nx, ny = len(x), len(y)
    if nx == 0 or ny == 0:
        return {"diff": None, "diff_ci95": [None, None], "diff_p_value": None, "n": [nx, ny], "verdict": "no data"}
    if nx < 2 or ny < 2:
        d = float(np.mean(x) - np.mean(y))
        return {"diff": d, "diff_ci95": [None, None], "diff_p_value": None, "n": [nx, ny],
                "verdict": "one seed: no interval"}
    if np.ptp(np.asarray(x, float)) == 0 and np.ptp(np.asarray(y, float)) == 0:
        d = float(np.mean(x) - np.mean(y))
        return {"diff": d, "diff_ci95": [None, None], "diff_p_value": None, "n": [nx, ny],
                "verdict": "no seed-to-seed variation: no interval"}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = diff_ci95(x, y)
    d, (lo, hi), p = r["diff"], r["ci95"], r["p_value"]
    if math.isfinite(p) and p < ALPHA and math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0):
        verdict = "higher" if d > 0 else "lower"
    else:
        verdict = "not distinguishable"
    return {"diff": _f(d), "diff_ci95": _ci((lo, hi)), "diff_p_value": _f(p), "n": [nx, ny], "verdict": verdict}


def comparison_sentence(name_x: str, name_y: str, c: dict[str, Any], context: str = "at this budget") -> str:
    """One claim about ``x`` versus ``y`` from :func:`compare`, no stronger than its interval.

    Examples: ``"s=4 is lower than s=3 by 5.90 points (95% CI 1.20 to 10.60, p=0.03, Welch, n=3+3)"``,
    ``"s=2 and s=3 are not distinguishable at this budget (s=3 − s=2 = 0.10 points, 95% CI −2.30
    to 2.50, p=0.9, Welch, n=3+3)"``.
    """
    n = f"n={c['n'][0]}+{c['n'][1]}"
    v = c["verdict"]
    if v == "no data":
        return f"{name_x} vs {name_y}: no runs to compare"
    if v in ("one seed: no interval", "no seed-to-seed variation: no interval"):
        return f"{name_x} vs {name_y}: {v} ({name_x} − {name_y} = {fmt_pts(c['diff'])} points, {n})"
    lo, hi = c["diff_ci95"]
    if v in ("higher", "lower"):
        # "lower by 6.1 points (95% CI 3.7 to 8.4)": the interval of the size of the difference.
        lo_, hi_ = (lo, hi) if v == "higher" else (-hi, -lo)
        return (f"{name_x} is {v} than {name_y} by {fmt_pts(abs(c['diff']))} points (95% CI {fmt_pts(lo_)} to "
                f"{fmt_pts(hi_)}, {fmt_p(c['diff_p_value'])}, Welch, {n})")
    tail = f"95% CI {fmt_pts(lo)} to {fmt_pts(hi)}, {fmt_p(c['diff_p_value'])}, Welch, {n}"
    where = f" {context}" if context else ""
    return (f"{name_y} and {name_x} are not distinguishable{where} "
            f"({name_x} − {name_y} = {fmt_pts(c['diff'])} points, {tail})")


def rank_agreement(groups: Sequence[Sequence[float]], paper: Sequence[float], labels: Sequence[str],
                   n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> dict[str, Any]:
    """Kendall's tau-b of the point means against the paper's accuracies (see :data:`RANK_METHOD`).

    Args:
        groups: Per point, its per-seed accuracies (non-empty).
        paper: Per point, the paper's accuracy.
        labels: Per point, its label.

    Returns:
        ``{"points", "n_points", "tau", "tau_p_value", "tau_p_method": "exact permutation",
        "tau_ci95", "min_possible_p_value", "tied_proxy_means", "tied_paper_values"}``; tau,
        p-value and interval None with fewer than two points or constant values.
    """
    means = np.array([float(np.mean(g)) for g in groups])
    ref = np.asarray(paper, dtype=float)
    k = len(means)
    out: dict[str, Any] = {"points": list(labels), "n_points": k, "tau": None, "tau_p_value": None,
                           "tau_p_method": "exact permutation", "tau_ci95": [None, None],
                           "min_possible_p_value": _f(2 / factorial(k)) if k >= 2 else None,
                           "tied_proxy_means": bool(len(set(means.tolist())) < k),
                           "tied_paper_values": bool(len(set(ref.tolist())) < k)}
    if k < 2:
        return out
    tau, p = kendall_exact(means, ref)
    out["tau"], out["tau_p_value"] = _f(tau), _f(p)
    if math.isfinite(tau):
        lo, hi = group_bootstrap_ci(lambda m: kendall_tau_b(m, np.broadcast_to(ref, m.shape)), groups,
                                    n_boot=n_boot, seed=seed)
        out["tau_ci95"] = _ci((lo, hi))
    return out


def _tau_sentence(r: dict[str, Any], what: str) -> str:
    if r["tau"] is None:
        return f"Kendall's τ-b against the paper over {what}: undefined ({r['n_points']} points or constant values)"
    lo, hi = r["tau_ci95"]
    ci = f"95% bootstrap-over-seeds CI {fmt_pts(lo)} to {fmt_pts(hi)}" if lo is not None else "no bootstrap interval"
    sig = ("agreement with the paper's order is significant at 5%" if r["tau_p_value"] < ALPHA
           else "not significant at 5%")
    floor = (f"; with {r['n_points']} points the smallest possible exact p is {fmt_p(r['min_possible_p_value'])[2:]}"
             if r["min_possible_p_value"] is not None and r["min_possible_p_value"] >= ALPHA else "")
    return (f"Kendall's τ-b against the paper over {what} ({r['n_points']} points): {fmt_pts(r['tau'])} "
            f"(exact permutation {fmt_p(r['tau_p_value'])}, {ci}); {sig}{floor}")


def ablation_statistics(points: Sequence[dict[str, Any]], arch: str, axis: str,
                        reference: str = "s=2 d=3", n_boot: int = N_BOOT, seed: int = BOOT_SEED,
                        context: str = "at this budget") -> dict[str, Any]:
    """The statistics of one ablation grid.

    Args:
        points: One dict per grid point in grid order: ``point`` (label), ``ratio``, ``dw_size``
            (None for the plain baseline), ``accs`` (per-seed accuracies in percent; may be
            empty), ``seeds`` and ``paper_acc`` (percent or None).
        arch: ``vgg16`` or ``resnet56`` (names in prose).
        axis: ``ratio`` or ``dw_size``.
        reference: The paper's default point, which every other point is compared to.
        n_boot, seed: Bootstrap of tau.
        context: How the "not distinguishable" sentences name the training budget.

    Returns:
        ``{"reference_point", "points": [...], "adjacent": [...], "baseline_vs_reference",
        "best_point", "best_vs_reference", "kendall_tau_vs_paper", "kendall_tau_vs_paper_ghost",
        "claims", "n_comparisons"}``. Each point gets ``name``, :func:`point_stats` and
        ``diff_vs_reference`` / ``_ci95`` / ``_p_value`` / ``_verdict``; each adjacent pair along
        the axis (``from`` → ``to``) the difference ``to − from``. ``claims``: the baseline
        against the reference, each adjacent pair, each other Ghost point against the reference,
        the best mean (descriptive) and tau; ``n_comparisons`` counts the tests among them.
    """
    by = {p["point"]: p for p in points}
    ref = by.get(reference)
    ref_accs = list(ref["accs"]) if ref else []
    name = {p["point"]: short_name(p["point"], arch, axis) for p in points}
    out_points = [_point_row(p, name[p["point"]], ref_accs if p["point"] != reference else []) for p in points]
    claims: list[str] = []
    baseline_vs_reference = _baseline_vs_reference(by.get("baseline"), ref, reference, name, context, claims)
    ghost = sorted((p for p in points if p.get("ratio") is not None and p["accs"]), key=lambda p: p[axis])
    adjacent = _adjacent_pairs(ghost, name, context, claims)
    n_cmp = (baseline_vs_reference is not None) + len(adjacent)
    # Every other Ghost point against the paper's default, unless an adjacent pair already tested it.
    tested = {(x["from"], x["to"]) for x in adjacent} | {(x["to"], x["from"]) for x in adjacent}
    if ref_accs:
        for p in ghost:
            if p["point"] != reference and (reference, p["point"]) not in tested:
                n_cmp += 1
                claims.append(comparison_sentence(name[p["point"]], name[reference], compare(p["accs"], ref_accs),
                                                  context))
    best = max(ghost, key=lambda p: np.mean(p["accs"])) if ghost else None
    best_vs_reference = _best_vs_reference(best, ref_accs, reference, name, claims)
    tau_all, tau_ghost = _tau_vs_paper(points, n_boot, seed, claims)
    return {"reference_point": reference if ref is not None else None, "points": out_points, "adjacent": adjacent,
            "baseline_vs_reference": baseline_vs_reference, "best_point": best["point"] if best else None,
            "best_vs_reference": best_vs_reference, "kendall_tau_vs_paper": tau_all,
            "kendall_tau_vs_paper_ghost": tau_ghost, "claims": claims, "n_comparisons": n_cmp}


def _point_row(p: dict[str, Any], name: str, ref_accs: Sequence[float]) -> dict[str, Any]:
    """One point's statistics and its difference to the reference (none when ``ref_accs`` is empty)."""
    row = {"point": p["point"], "name": name, "ratio": p.get("ratio"), "dw_size": p.get("dw_size"),
           "seeds": list(p.get("seeds", [])), "accs": [float(a) for a in p["accs"]], **point_stats(p["accs"]),
           "paper_acc": p.get("paper_acc"), "diff_vs_reference": None, "diff_vs_reference_ci95": [None, None],
           "diff_vs_reference_p_value": None, "diff_vs_reference_verdict": None}
    if p["accs"] and ref_accs:
        c = compare(p["accs"], ref_accs)
        row.update({"diff_vs_reference": c["diff"], "diff_vs_reference_ci95": c["diff_ci95"],
                    "diff_vs_reference_p_value": c["diff_p_value"], "diff_vs_reference_verdict": c["verdict"]})
    return row


def _baseline_vs_reference(base: Optional[dict[str, Any]], ref: Optional[dict[str, Any]], reference: str,
                           name: dict[str, str], context: str, claims: list[str]) -> Optional[dict[str, Any]]:
    """The plain network against the paper's default point (the paper's headline), with its claim."""
    if base is None or ref is None or not base["accs"] or not ref["accs"]:
        return None
    c = compare(base["accs"], ref["accs"])
    paper_diff = (base["paper_acc"] - ref["paper_acc"]
                  if base.get("paper_acc") is not None and ref.get("paper_acc") is not None else None)
    s = comparison_sentence(name["baseline"], name[reference], c, context)
    if paper_diff is not None:
        s += (f"; the paper reports {base['paper_acc']:.1f} vs {ref['paper_acc']:.1f} "
              f"({fmt_pts(paper_diff, 1, signed=True)} points, full training)")
    claims.append(s)
    return {"from": reference, "to": "baseline", **c, "paper_diff": _f(paper_diff)}


def _adjacent_pairs(ghost: Sequence[dict[str, Any]], name: dict[str, str], context: str,
                    claims: list[str]) -> list[dict[str, Any]]:
    """Each pair of neighbouring Ghost points along the axis, ``to − from``, with its claim."""
    adjacent = []
    for a, b in zip(ghost, ghost[1:]):
        c = compare(b["accs"], a["accs"])
        adjacent.append({"from": a["point"], "to": b["point"], **c})
        claims.append(comparison_sentence(name[b["point"]], name[a["point"]], c, context))
    return adjacent


def _best_vs_reference(best: Optional[dict[str, Any]], ref_accs: Sequence[float], reference: str,
                       name: dict[str, str], claims: list[str]) -> Optional[dict[str, Any]]:
    """The Ghost point with the highest mean (descriptive) and, when it is not the reference, its test."""
    if best is not None and best["point"] == reference:
        claims.append(f"{name[reference]} (the paper's default) has the highest mean of the Ghost points "
                      "(descriptive; the tests against its neighbours are above)")
        return None
    if best is None or not ref_accs:
        return None
    c = compare(best["accs"], ref_accs)
    verdict = {"higher": "it is higher", "not distinguishable": "the two are not distinguishable"}.get(
        c["verdict"], c["verdict"])
    claims.append(f"{name[best['point']]} has the highest mean of the Ghost points (descriptive); against "
                  f"{name[reference]} (the paper's default) {verdict}")
    return {"from": reference, "to": best["point"], **c}


def _tau_vs_paper(points: Sequence[dict[str, Any]], n_boot: int, seed: int,
                  claims: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Kendall's tau against the paper over all points with a paper number, and over the Ghost ones."""
    with_paper = [p for p in points if p.get("paper_acc") is not None and p["accs"]]
    tau_all = rank_agreement([p["accs"] for p in with_paper], [p["paper_acc"] for p in with_paper],
                             [p["point"] for p in with_paper], n_boot, seed)
    gp = [p for p in with_paper if p.get("ratio") is not None]
    tau_ghost = rank_agreement([p["accs"] for p in gp], [p["paper_acc"] for p in gp], [p["point"] for p in gp],
                               n_boot, seed)
    if tau_all["n_points"] >= 2:
        claims.append(_tau_sentence(tau_all, "all points with a paper number"))
    if tau_ghost["n_points"] >= 2 and tau_ghost["n_points"] != tau_all["n_points"]:
        claims.append(_tau_sentence(tau_ghost, "the Ghost points"))
    return tau_all, tau_ghost
