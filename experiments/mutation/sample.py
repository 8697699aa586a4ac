"""Helpers for experiments/mutation/run.sh: sample a cosmic-ray session, then summarise it.

    python sample.py sample SESSION.sqlite N [--seed S]   keep a seeded random sample of N mutants (0: all)
    python sample.py report SESSION.sqlite --name NAME --json OUT.json --md OUT.md
    python sample.py recheck CONFIG.toml --json OUT.json --md OUT.md    (in a copy of the checkout)

``recheck`` reruns the guarding tests (as they are now) on each recorded survivor: it applies the
survivor's diff, runs the config's test command, and reverts. The same sample then gives the score
before and after the tests that were written for the survivors.

The kill rate is the share of sampled mutants that the guarding tests fail on (cosmic-ray's "killed",
timeouts included), with a 95% Clopper-Pearson interval: the sample estimates the module's score.
"""
from __future__ import annotations

import argparse
import json
import random
import shlex
import sqlite3
import subprocess
import tomllib
from collections import Counter
from pathlib import Path

from scipy.stats import binomtest


def sample(db: Path, n: int, seed: int) -> None:
    con = sqlite3.connect(db)
    # Job ids are random; order the mutants by what they change so that a seed draws the same sample
    # from the same module.
    jobs = [r[0] for r in con.execute(
        "select job_id from mutation_specs order by module_path, start_pos_row, start_pos_col, operator_name, "
        "occurrence")]
    if 0 < n < len(jobs):
        keep = set(random.Random(seed).sample(jobs, n))
        drop = [(j,) for j in jobs if j not in keep]
        con.executemany("delete from mutation_specs where job_id = ?", drop)
        con.executemany("delete from work_items where job_id = ?", drop)
        con.commit()
    print(f"{min(n, len(jobs)) if n else len(jobs)} of {len(jobs)} mutants kept (seed {seed})")


def report(db: Path, name: str, config: str, out_json: Path, out_md: Path) -> None:
    con = sqlite3.connect(db)
    rows = con.execute(
        "select s.module_path, s.operator_name, s.start_pos_row, s.definition_name, r.worker_outcome, "
        "r.test_outcome, r.diff from mutation_specs s left join work_results r on r.job_id = s.job_id").fetchall()
    rows = [(*r[:5], (r[5] or "").lower() or None, r[6]) for r in rows]  # cosmic-ray writes KILLED, SURVIVED
    done = [r for r in rows if r[5] is not None]
    killed = [r for r in done if r[5] == "killed"]
    survivors = [r for r in done if r[5] == "survived"]
    n, k = len(done), len(killed)
    ci = binomtest(k, n).proportion_ci(0.95, method="exact") if n else None
    summary = {
        "module": rows[0][0] if rows else None, "config": config, "sampled": len(rows), "run": n,
        "killed": k, "survived": len(survivors), "incompetent": sum(r[5] == "incompetent" for r in done),
        "kill_rate": k / n if n else None, "kill_rate_ci95": [ci.low, ci.high] if ci else None,
        "outcomes": dict(Counter(r[5] for r in done)),
        "survivors": [{"operator": r[1].split("/")[-1], "line": r[2], "function": r[3], "diff": r[6]}
                      for r in sorted(survivors, key=lambda r: r[2])],
    }
    summary["name"] = name
    out_json.write_text(json.dumps(summary, indent=1) + "\n")
    out_md.write_text(markdown(summary))
    print(markdown(summary).splitlines()[4])


def _name(summary: dict) -> str:
    return summary.get("name") or Path(summary["config"]).stem


def markdown(summary: dict) -> str:
    """The results page: the score, the score after the survivors' tests (when rechecked), each survivor."""
    n, k = summary["run"], summary["killed"]
    lo, hi = summary["kill_rate_ci95"] or (None, None)
    lines = [f"# Mutation testing: `{summary['module']}`", "",
             f"`bash experiments/mutation/run.sh {_name(summary)}` (cosmic-ray, a seeded sample of {summary['sampled']} "
             f"mutants; tests and module in `{summary['config']}`).", "",
             f"Before: killed {k} of {n}: kill rate {k / n:.0%} [95% CI {lo:.0%}, {hi:.0%}]." if n else "Nothing ran."]
    after = summary.get("after")
    if after:
        a_lo, a_hi = after["kill_rate_ci95"]
        lines += ["", f"After the tests written for the survivors (same sample, `run.sh {_name(summary)} --recheck`): "
                      f"killed {after['killed']} of {n}: kill rate {after['kill_rate']:.0%} [95% CI {a_lo:.0%}, "
                      f"{a_hi:.0%}]. Column *now*: each survivor against today's tests."]
    lines += ["", "| survivor | line | function | change |" + (" now |" if after else ""),
              "|---|---|---|---|" + ("---|" if after else "")]
    for i, s in enumerate(summary["survivors"], 1):
        change = " / ".join(ln[1:].strip() for ln in (s["diff"] or "").splitlines()
                            if ln[:1] in "+-" and not ln.startswith(("+++", "---")))
        change = change.replace("|", "\\|")
        lines.append(f"| {i} | {s['line']} | `{s['function']}` | {s['operator']}: `{change}` |"
                     + (f" {s.get('after', '')} |" if after else ""))
    return "\n".join(lines) + "\n"


def recheck(config: Path, out_json: Path, out_md: Path) -> None:
    cfg = tomllib.loads(config.read_text())["cosmic-ray"]
    summary = json.loads(out_json.read_text())
    killed_now = 0
    for s in summary["survivors"]:
        diff = "\n".join(s["diff"].splitlines()[1:]) + "\n"  # drop cosmic-ray's "--- mutation diff ---"
        subprocess.run(["patch", "-p1", "--quiet"], input=diff, text=True, check=True)
        try:
            r = subprocess.run(shlex.split(cfg["test-command"]), capture_output=True, timeout=cfg.get("timeout", 300))
            s["after"] = "survived" if r.returncode == 0 else "killed"
        except subprocess.TimeoutExpired:
            s["after"] = "killed"
        finally:
            subprocess.run(["patch", "-p1", "-R", "--quiet"], input=diff, text=True, check=True)
        killed_now += s["after"] == "killed"
    n = summary["run"]
    k = summary["killed"] + killed_now
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    summary["after"] = {"killed": k, "kill_rate": k / n, "kill_rate_ci95": [ci.low, ci.high],
                        "survivors_killed_now": killed_now}
    out_json.write_text(json.dumps(summary, indent=1) + "\n")
    out_md.write_text(markdown(summary))
    print(markdown(summary).splitlines()[6])


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("db", type=Path)
    s.add_argument("n", type=int)
    s.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("report")
    r.add_argument("db", type=Path)
    r.add_argument("--name", required=True)
    r.add_argument("--config", required=True)
    r.add_argument("--json", type=Path, required=True)
    r.add_argument("--md", type=Path, required=True)
    c = sub.add_parser("recheck")
    c.add_argument("config", type=Path)
    c.add_argument("--json", type=Path, required=True)
    c.add_argument("--md", type=Path, required=True)
    a = p.parse_args()
    if a.cmd == "sample":
        sample(a.db, a.n, a.seed)
    elif a.cmd == "recheck":
        recheck(a.config, a.json, a.md)
    else:
        report(a.db, a.name, a.config, a.json, a.md)


if __name__ == "__main__":
    main()
