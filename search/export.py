"""Exporting one trial of a study: its architecture JSON and the command that retrains it, and
picking a trade-off from the Pareto set (``ghostnas export --pick knee|best:OBJ|where:EXPR``)."""
from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import optuna
from optuna.trial import TrialState

from ghostnas.space import ArchConfig

from .config import ConfigError
from .files import atomic_write_json, ensure_writable_dir

__all__ = ["ExportedTrial", "export_trial", "retrain_command", "pick_from_front", "pick_trial", "parse_where",
           "PICKS"]

PICKS = "knee, best:OBJECTIVE or where:EXPR (e.g. where:macs<500000 and accuracy>=0.9)"
_HAS_TEST_SPLIT = ("cifar10", "cifar100", "fashion-mnist")


@dataclass(frozen=True)
class ExportedTrial:
    """What :func:`export_trial` wrote.

    Attributes:
        path: The architecture JSON.
        arch: The architecture.
        trial: The exported trial.
        command: The ``ghostnas train`` command that retrains it at full fidelity.
        warnings: One-line warnings (a trial that was not completed, rejected, or only reused another).
        note: How the retrain command evaluates, when it cannot use a test split (else "").
        picked: Why the trial was picked (``pick``), else "".
    """

    path: Path
    arch: ArchConfig
    trial: optuna.trial.FrozenTrial
    command: str
    warnings: list[str] = field(default_factory=list)
    note: str = ""
    picked: str = ""


def _test_set_for(dataset: str) -> tuple[list[str], str]:
    """``(train flags that evaluate on a test set, note)``; no flags (and a note) when there is none to name."""
    kind, _, arg = dataset.partition(":")
    if kind in _HAS_TEST_SPLIT and not arg:
        return ["--eval-split", "test"], ""
    if kind == "npz" and arg:
        p = Path(arg)
        if "train" in p.name:
            test = p.with_name(p.name.replace("train", "test"))
            if test.is_file():
                return ["--eval-split", "test", "--eval-data", f"npz:{test}"], ""
    return [], (f"dataset {dataset} has no test split ghostnas can name: the command evaluates on a held-out "
                "validation part; add --eval-split test --eval-data SPEC to evaluate on your test set")


def retrain_command(arch_path: Path, dataset: str, arch_id: str, data: Optional[dict[str, Any]] = None
                    ) -> tuple[str, str]:
    """The ``ghostnas train`` command line that retrains an exported architecture at full fidelity
    (on the whole training split, evaluated once on the test set when there is one), and a note
    when there is no test set to name (else "").

    Args:
        arch_path: The architecture JSON.
        dataset: The study's dataset spec.
        arch_id: The architecture id (names the run folder).
        data: The study's ``[data]`` section (``data_dir``, ``download`` are passed on).
    """
    data = data or {}
    cmd = ["ghostnas", "train", "--arch", str(arch_path), "--data", dataset]
    if data.get("data_dir"):
        cmd += ["--data-dir", str(data["data_dir"])]
    if data.get("download"):
        cmd += ["--download"]
    flags, note = _test_set_for(dataset)
    cmd += flags + ["--set", "epochs=200", "--set", "fraction=1.0", "--set", "lr=0.1", "--set", "weight_decay=5e-4",
                    "--set", "schedule=cosine", "--out", f"runs/retrain-{arch_id}"]
    return " ".join(shlex.quote(c) for c in cmd), note


def _warnings(t: optuna.trial.FrozenTrial) -> list[str]:
    out = []
    if t.state != TrialState.COMPLETE:
        out.append(f"trial {t.number} is {t.state.name}, not COMPLETE: its architecture was not fully evaluated"
                   + (f" ({t.user_attrs['fail_reason']})" if t.user_attrs.get("fail_reason") else ""))
    if t.user_attrs.get("reused_from") is not None:
        out.append(f"trial {t.number} was not trained: it reused the result of trial {t.user_attrs['reused_from']} "
                   "(the same architecture); its metrics are that trial's")
    if t.user_attrs.get("rejected"):
        out.append(f"trial {t.number} was rejected before training ({t.user_attrs['rejected']}); its accuracy "
                   "is a placeholder")
    return out


def export_trial(study: optuna.Study, number: Optional[int] = None, out: Optional[str | Path] = None,
                 pick: Optional[str] = None) -> ExportedTrial:
    """Write trial ``number``'s architecture as JSON (default ``arch-<id>.json``).

    Args:
        study: The study.
        number: The trial; or
        pick: how to pick it from the Pareto set (:func:`pick_from_front`).
        out: The JSON path.

    Raises:
        ConfigError: no such trial, a trial with no recorded architecture, or a bad pick.
    """
    if (number is None) == (pick is None):
        raise ConfigError("give a trial number or a pick, not both" if number is not None else
                          "give a trial number or a pick")
    picked = ""
    if pick is not None:
        number, picked = pick_trial(study, pick)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        raise ConfigError(f"trial {number} not found in study {study.study_name!r} ({len(trials)} trials)")
    t = trials[number]
    if "arch" not in t.user_attrs:
        raise ConfigError(f"trial {number} has no architecture recorded (state {t.state.name})")
    arch = ArchConfig.from_json(t.user_attrs["arch"])
    path = Path(out or f"arch-{arch.id}.json")
    ensure_writable_dir(path.parent if str(path.parent) else Path("."))
    atomic_write_json(path, arch.to_dict())
    data = study.user_attrs.get("ghostnas_config", {}).get("data", {})
    command, note = retrain_command(path, data.get("dataset", "digits"), arch.id, data)
    return ExportedTrial(path, arch, t, command, _warnings(t), note, picked)


# ------------------------------------------------------------------------------------------ picking

_COND = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def parse_where(expr: str) -> list[tuple[str, str, float]]:
    """``"macs<500000 and accuracy>=0.9"`` → ``[("macs", "<", 500000.0), ("accuracy", ">=", 0.9)]``.

    Each condition is ``NAME OP NUMBER`` with OP one of ``< <= > >=``; conditions are joined by
    ``and``. Parsed, never evaluated.

    Raises:
        ConfigError: anything else, naming the part that is not a condition.
    """
    parts = re.split(r"\s+and\s+", expr.strip(), flags=re.IGNORECASE)
    out = []
    for part in parts:
        m = _COND.match(part)
        if not m:
            raise ConfigError(f"--pick where:{expr}: {part.strip()!r} is not a condition NAME(<|<=|>|>=)NUMBER "
                              "(join several with 'and')")
        out.append((m.group(1), m.group(2), float(m.group(3))))
    return out


def _ordered(front: Any, key: str, maximize: bool) -> Any:
    """``front`` sorted best-first on ``key``; ties go to the lower trial number."""
    return front.sort_values([key, "number"], ascending=[not maximize, True], kind="mergesort")


def _knee(front: Any, objectives: Sequence[str], directions: Sequence[str]) -> tuple[int, str]:
    if len(objectives) != 2:
        raise ConfigError(f"--pick knee needs 2 objectives; this study has {len(objectives)} "
                          f"({', '.join(objectives)}); use best:OBJ or where:EXPR")
    # Both objectives as "larger is better", scaled to [0, 1] over the front.
    cols = []
    for o, d in zip(objectives, directions):
        v = front[o].astype(float) * (1.0 if d == "maximize" else -1.0)
        span = v.max() - v.min()
        cols.append((v - v.min()) / span if span > 0 else v * 0.0)
    x, y = cols
    # The extremes: the best point of each objective (ties: the lower trial number).
    a = _ordered(front.assign(_x=x), "_x", True).index[0]
    b = _ordered(front.assign(_y=y), "_y", True).index[0]
    dx, dy = x[b] - x[a], y[b] - y[a]
    norm = math.hypot(dx, dy)
    dist = ((dx * (y[a] - y) - dy * (x[a] - x)).abs() / norm) if norm > 0 else x * 0.0
    primary = cols[list(objectives).index("accuracy")] if "accuracy" in objectives else cols[0]
    scored = front.assign(_d=dist.round(12), _first=primary)
    best = scored.sort_values(["_d", "_first", "number"], ascending=[False, False, True], kind="mergesort").iloc[0]
    return int(best["number"]), (f"knee of the Pareto front: normalised distance {best['_d']:.3f} from the line "
                                 f"between trials #{int(front.loc[a, 'number'])} and #{int(front.loc[b, 'number'])}")


def pick_from_front(front: Any, objectives: Sequence[str], directions: Sequence[str], pick: str) -> tuple[int, str]:
    """Pick one trial of a Pareto set.

    Args:
        front: DataFrame of the Pareto trials: ``number``, one column per objective, and any other
            column ``where:`` may test (``macs``, ``params``, ``latency_ms``...).
        objectives: The objective names, in order.
        directions: ``maximize`` / ``minimize`` per objective.
        pick: ``knee`` (2 objectives: the point farthest, after scaling each objective to [0, 1], from
            the line between the two extremes), ``best:OBJ`` (the best value of objective OBJ), or
            ``where:EXPR`` (the most accurate trial, or the best first objective without an
            accuracy objective, among those meeting every condition of EXPR, see
            :func:`parse_where`). Ties go to the higher accuracy, then the lower trial number.

    Returns:
        ``(trial number, why it was picked)``.

    Raises:
        ConfigError: empty front, unknown pick or objective, knee without 2 objectives, no trial
            meeting the conditions.
    """
    if front is None or len(front) == 0:
        raise ConfigError("the study has no Pareto-optimal trained trial to pick from")
    front = front.reset_index(drop=True)
    kind, _, arg = pick.partition(":")
    kind = kind.strip().lower()
    first = "accuracy" if "accuracy" in objectives else objectives[0]
    first_max = directions[list(objectives).index(first)] == "maximize"
    if kind == "knee" and not arg:
        return _knee(front, objectives, directions)
    if kind == "best" and arg:
        if arg not in objectives:
            raise ConfigError(f"--pick best:{arg}: not an objective of this study; choose from {', '.join(objectives)}")
        d = directions[list(objectives).index(arg)]
        row = _ordered(front, arg, d == "maximize").iloc[0]
        return int(row["number"]), f"best {arg} on the Pareto front ({row[arg]:.6g})"
    if kind == "where" and arg:
        conds = parse_where(arg)
        unknown = [n for n, _, _ in conds if n not in front.columns]
        if unknown:
            names = [c for c in (*objectives, "macs", "params", "latency_ms") if c in front.columns]
            raise ConfigError(f"--pick where:{arg}: unknown name(s) {', '.join(unknown)}; choose from "
                              f"{', '.join(dict.fromkeys(names))}")
        keep = front
        for name, op, value in conds:
            col = keep[name].astype(float)
            keep = keep[col.notna() & _OPS[op](col, value)]
        if len(keep) == 0:
            ranges = "; ".join(f"{n} {front[n].min():.6g}..{front[n].max():.6g}" for n in dict.fromkeys(
                c for c, _, _ in conds))
            raise ConfigError(f"--pick where:{arg}: no Pareto trial meets it (the front spans {ranges})")
        row = _ordered(keep, first, first_max).iloc[0]
        return int(row["number"]), (f"best {first} ({row[first]:.6g}) among the {len(keep)} Pareto trial(s) "
                                    f"with {arg}")
    raise ConfigError(f"--pick {pick!r} is not allowed; expected {PICKS}")


def pick_trial(study: optuna.Study, pick: str) -> tuple[int, str]:
    """:func:`pick_from_front` on the study's Pareto set (:func:`~ghostnas.search.readers.pareto_trials`)."""
    from .readers import pareto_trials, trials_frame

    objectives = study.user_attrs.get("objectives") or [f"value_{i}" for i in range(len(study.directions))]
    directions = ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize" for d in study.directions]
    numbers = {t.number for t in pareto_trials(study)}
    df = trials_frame(study)
    return pick_from_front(df[df["number"].isin(numbers)], objectives, directions, pick)
