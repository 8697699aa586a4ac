"""Reading existing studies: open one by storage URL or path, list the studies in a storage, rebuild
the stored config, the trial table and the Pareto set. Every command that reads a study uses these."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any, Optional

import optuna
from optuna.trial import TrialState

from .config import ConfigError
from .storage import is_rdb, open_storage, redact
from .study_config import StudyConfig

__all__ = ["open_existing_study", "list_studies", "study_summaries", "load_stored_config", "trials_frame",
           "display_frame", "pareto_trials"]


def _check_storage_file(url: str) -> None:
    """A journal or SQLite path that does not exist (or is a folder) is an error, never created."""
    if url.startswith("env:"):
        return
    path = None
    if url.startswith("journal:"):
        path = Path(url[len("journal:"):])
    elif not is_rdb(url):
        path = Path(url)
    elif url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url[len("sqlite:///"):])
    if path is not None:
        if path.is_dir():
            raise ConfigError(f"storage {str(path)!r} is a folder; give the journal file (e.g. runs/NAME/study.journal)")
        if not path.is_file():
            raise ConfigError(f"storage {str(path)!r} not found (no such journal or database file)")


def _open_readable(storage: str, heartbeat: bool = False) -> tuple[Any, list[str]]:
    url = str(storage)
    if url == "memory":
        raise ConfigError("--storage memory holds no study outside the process that made it; give a journal "
                          "path or a database URL")
    _check_storage_file(url)
    try:
        st = open_storage(url, None, heartbeat=heartbeat, must_exist=True)
        names = [s.study_name for s in optuna.get_all_study_summaries(st)]
    except ValueError as e:  # StorageError and friends already carry a redacted one-liner
        raise ConfigError(f"cannot read storage {redact(url)}: {' '.join(str(e).split())[:300]}") from None
    except Exception as e:  # noqa: BLE001 - corrupt journal, wrong database: one line, no traceback
        raise ConfigError(f"cannot read storage {redact(url)}: {type(e).__name__}: "
                          f"{' '.join(redact(str(e)).split())[:300]}") from None
    return st, names


def list_studies(storage: str) -> list[str]:
    """Names of the studies in an existing storage (journal path, ``sqlite:///``, ``postgresql://``, ``env:NAME``).

    Raises:
        ConfigError: the storage does not exist or cannot be read (one line, password redacted).
    """
    return _open_readable(storage)[1]


def study_summaries(storage: str) -> list[dict[str, Any]]:
    """One entry per study in an existing storage: ``name``, ``trials`` (count), ``objectives`` (names or
    ``value_i``), ``directions``, ``states`` (trial state name to count, e.g. ``{"COMPLETE": 12}``).

    Raises:
        ConfigError: the storage does not exist or cannot be read.
    """
    st, names = _open_readable(storage)
    out = []
    for name in names:
        study = optuna.load_study(study_name=name, storage=st)
        states: dict[str, int] = {}
        trials = study.get_trials(deepcopy=False)
        for t in trials:
            states[t.state.name] = states.get(t.state.name, 0) + 1
        objectives = study.user_attrs.get("objectives") or [f"value_{i}" for i in range(len(study.directions))]
        out.append({"name": name, "trials": len(trials), "objectives": list(objectives),
                    "directions": [d.name.lower() for d in study.directions], "states": states})
    return out


def open_existing_study(storage: str, study_name: Optional[str] = None, heartbeat: bool = False) -> optuna.Study:
    """Load a study that exists, creating nothing.

    Args:
        storage: journal path, ``journal:PATH``, ``sqlite:///PATH``, ``postgresql://...`` or ``env:NAME``.
        study_name: the study; may be omitted when the storage holds exactly one.
        heartbeat: attach Optuna's heartbeat (for commands that fail stale trials).

    Raises:
        ConfigError: missing storage file, unreadable storage, unknown study (listing those there), or
            no name given for a storage with several studies.
    """
    st, names = _open_readable(storage, heartbeat)
    url = redact(str(storage))
    if study_name is None:
        if len(names) != 1:
            raise ConfigError(f"{url} holds {len(names)} studies ({', '.join(names) or 'none'}); "
                              "name one with --study")
        study_name = names[0]
    if study_name not in names:
        raise ConfigError(f"study {study_name!r} not found in {url}; studies there: {', '.join(names) or 'none'}")
    return optuna.load_study(study_name=study_name, storage=st)


def load_stored_config(storage_url: str, study_name: Optional[str] = None) -> StudyConfig:
    """Rebuild a study's config from its storage (for ``ghostnas worker``)."""
    study = open_existing_study(storage_url, study_name)
    study_name = study.study_name
    raw = study.user_attrs.get("ghostnas_config")
    if raw is None:
        raise ConfigError(f"study {study_name!r} was not created by ghostnas (no stored config)")
    raw = copy.deepcopy(raw)
    raw.setdefault("study", {})["storage"] = storage_url
    raw["study"]["name"] = study_name
    return StudyConfig.from_dict(raw)


def _efficiency_columns(ua: dict) -> dict[str, Any]:
    """What the zero-cost pre-filter chose and why a trial was stopped early (``prefilter`` and
    ``early_stop`` user attributes, :mod:`ghostnas.search.prefilter`, :mod:`ghostnas.search.early_stop`)."""
    pf = ua.get("prefilter") or {}
    chosen = None
    if "chosen" in pf:
        row = pf["scores"][pf["chosen"]]
        scored = sum("score" in r for r in pf["scores"])
        chosen = (f"{pf['proxy']}: candidate {pf['chosen']} ({pf.get('chosen_source')}) of {pf['candidates']}, "
                  f"{scored} scored, score {row.get('score')}")
    elif pf.get("skipped"):
        chosen = f"{pf['proxy']}: skipped ({pf['skipped']})"
    es = ua.get("early_stop") or {}
    return {"train_cpu_s": ua.get("train_cpu_s"), "prefilter": chosen, "prefilter_s": pf.get("seconds"),
            "stopped_at_epoch": ua.get("stopped_at_epoch"), "early_stop": es.get("reason"),
            "rungs": json.dumps(ua["rungs"], sort_keys=True) if ua.get("rungs") else None}


def _latency_noisy(ua: dict[str, Any]) -> Optional[bool]:
    """Whether the trial's latency stayed noisy (IQR > 10% of the median) after its re-measurements;
    None when it has no measured latency."""
    lat = ua.get("latency")
    return bool(lat.get("noisy")) if isinstance(lat, dict) and "noisy" in lat else None


def trials_frame(study: optuna.Study) -> "Any":
    """The study's trials as a pandas DataFrame: params, objectives, arch id, counts, curve, reasons, and
    the search-efficiency columns: ``train_cpu_s`` (core-seconds of training), ``prefilter`` (what the
    zero-cost pre-filter chose), ``prefilter_s``, ``stopped_at_epoch``, ``early_stop`` (why MO-ASHA
    stopped it) and ``rungs`` (its points and verdicts at each rung, JSON)."""
    import pandas as pd

    objectives = study.user_attrs.get("objectives") or [f"value_{i}" for i in range(len(study.directions))]
    rows = []
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
    for t in trials:
        row: dict[str, Any] = {"number": t.number, "state": t.state.name}
        for i, o in enumerate(objectives):
            row[o] = t.values[i] if t.values is not None else None
        ua = t.user_attrs
        row.update({"arch_id": ua.get("arch_id"), "macs": ua.get("macs"), "params": ua.get("params"),
                    "latency_ms": ua.get("latency_ms"), "latency_noisy": _latency_noisy(ua),
                    "train_s": ua.get("train_s"), "device": ua.get("device"),
                    "feasible": all(v <= 0 for v in t.constraints.values()) if t.constraints else True,
                    "rejected": ua.get("rejected"), "reused_from": ua.get("reused_from"),
                    "setup_hash": ua.get("setup_hash"),
                    "fail_reason": ua.get("fail_reason") or (
                        "stale: no heartbeat for the grace period (failed by Optuna)"
                        if t.state == TrialState.FAIL and t.number in retried else None),
                    "retry_of": ua.get("retry_of"), "curve": json.dumps(ua.get("curve")) if ua.get("curve") else None,
                    "duration_s": t.duration.total_seconds() if t.duration else None})
        row.update(_efficiency_columns(ua))
        row.update({f"param.{k}": v for k, v in t.params.items()})
        row["arch"] = ua.get("arch")
        rows.append(row)
    return pd.DataFrame(rows)


def display_frame(df: "Any", objectives: list[str]) -> "Any":
    """The trial table as people read it (strings): number, state, the objectives, MACs, params,
    latency, arch id, training time, feasibility, failure reason. Accuracy with 4 decimals, MACs in
    millions with 2 (``MACs (M)``), params with thousands separators, latency in ms with 2
    (``latency (ms)``), training time in seconds with 1."""
    import pandas as pd

    def fmt(v: Any, spec: str) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    out = pd.DataFrame({"number": df["number"], "state": df["state"]})
    shown = {"macs", "params", "latency"}
    for o in objectives:
        if o in df.columns and o not in shown:
            out[o] = [fmt(v, ".4f" if o == "accuracy" else ".4g") for v in df[o]]
    if "macs" in df.columns:
        out["MACs (M)"] = [fmt(None if v is None or pd.isna(v) else v / 1e6, ".2f") for v in df["macs"]]
    if "params" in df.columns:
        out["params"] = [fmt(None if v is None or pd.isna(v) else int(v), ",d") for v in df["params"]]
    if "latency_ms" in df.columns and ("latency" in objectives or df["latency_ms"].notna().any()):
        noisy = df["latency_noisy"] if "latency_noisy" in df.columns else [None] * len(df)
        out["latency (ms)"] = [fmt(v, ".2f") + (" (noisy)" if n is True else "") for v, n in zip(df["latency_ms"], noisy)]
    for c in ("arch_id", "feasible"):
        if c in df.columns:
            out[c] = df[c]
    if "reused_from" in df.columns and df["reused_from"].notna().any():
        out["reused_from"] = ["" if v is None or pd.isna(v) else f"#{int(v)}" for v in df["reused_from"]]
    if "train_s" in df.columns:
        out["train_s"] = [fmt(v, ".1f") for v in df["train_s"]]
    if "fail_reason" in df.columns:
        out["fail_reason"] = df["fail_reason"].fillna("")
    for c in ("prefilter", "early_stop"):  # only in studies with [prefilter] / [early_stopping]
        if c in df.columns and df[c].notna().any():
            out[c] = df[c].fillna("")
    return out


def pareto_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Pareto-optimal feasible trained trials (Optuna's ``best_trials``; the best trial for one
    objective), without trials that only reused another trial's architecture."""
    if len(study.directions) == 1:
        try:
            best = [study.best_trial]
        except ValueError:
            return []
    else:
        best = study.best_trials
    return sorted((t for t in best if t.user_attrs.get("reused_from") is None
                   and not t.user_attrs.get("rejected")), key=lambda t: t.number)
