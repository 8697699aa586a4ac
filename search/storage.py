"""Optuna storages by URL, with passwords kept out of messages and logs.

* ``memory``: in this process only (tests, throw-away runs).
* a path or ``journal:PATH`` (default ``<run dir>/study.journal``): Optuna's journal file, safe
  for several processes on one machine; ``optuna-dashboard PATH`` opens it.
* ``sqlite:///PATH``: one worker at a time.
* ``postgresql+psycopg2://user:pass@host/db`` (or ``mysql...``): many machines; heartbeat and
  automatic retry of crashed trials. Leave the password out of the URL to take it from
  ``~/.pgpass`` / ``PGPASSWORD`` (libpq), or give ``env:NAME`` to read the whole URL from the
  environment variable ``NAME`` (kept out of process lists; ``ghostnas search`` starts its local
  workers that way).

Heartbeat: a worker records a heartbeat every ``HEARTBEAT_INTERVAL_S`` seconds while a trial runs;
a RUNNING trial without one for ``GRACE_PERIOD_S`` seconds is failed by the next worker that looks
and retried (same parameters, at most ``MAX_RETRY`` times). Override with ``[study]
heartbeat_interval`` / ``grace_period`` or the environment variables
``GHOSTNAS_HEARTBEAT_INTERVAL`` / ``GHOSTNAS_GRACE_PERIOD`` (integers, seconds).
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Optional

import optuna

__all__ = ["open_storage", "redact", "HEARTBEAT_INTERVAL_S", "GRACE_PERIOD_S", "StorageError", "heartbeat_settings",
           "retry_trial", "is_rdb"]

HEARTBEAT_INTERVAL_S = 10
GRACE_PERIOD_S = 30
MAX_RETRY = 3
_MEMORY: Optional[optuna.storages.InMemoryStorage] = None


class StorageError(ValueError):
    """A storage that cannot be opened; the message never contains a password."""


def redact(url: str) -> str:
    """``scheme://user:secret@host`` → ``scheme://user:***@host``."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", str(url))


def is_rdb(url: str) -> bool:
    return "://" in str(url)


def _env_int(name: str) -> Optional[int]:
    v = os.environ.get(name)
    if v is None or v == "":
        return None
    try:
        n = int(v)
    except ValueError:
        n = 0
    if n < 1:
        raise StorageError(f"environment variable {name}={v!r} is not allowed; expected an integer >= 1 (seconds)")
    return n


def heartbeat_settings(interval: Optional[int] = None, grace: Optional[int] = None) -> tuple[int, int]:
    """(heartbeat interval, grace period) in seconds: arguments, else environment, else defaults."""
    interval = interval or _env_int("GHOSTNAS_HEARTBEAT_INTERVAL") or HEARTBEAT_INTERVAL_S
    grace = grace or _env_int("GHOSTNAS_GRACE_PERIOD") or (
        GRACE_PERIOD_S if interval == HEARTBEAT_INTERVAL_S else 3 * interval)
    if grace <= interval:
        raise StorageError(f"grace period {grace}s must be longer than the heartbeat interval {interval}s")
    return int(interval), int(grace)


# User attributes that belong to one attempt of a trial, not to its parameters.
_ATTEMPT_ATTRS = ("curve", "worker", "fail_reason", "prune_reason", "train_s", "compute_s", "device", "latency",
                  "latency_ms", "reused_from", "rejected", "train_cpu_s", "rungs", "early_stop", "stopped_at_epoch")


def retry_trial(study: "optuna.Study", trial: "optuna.trial.FrozenTrial", max_retry: Optional[int] = MAX_RETRY) -> bool:
    """Queue a WAITING copy of a failed ``trial`` with the same parameters (the next worker's
    ``study.ask`` picks it up). Like Optuna's ``RetryHeartbeatStaleTrialCallback``, but the copy
    starts clean: no learning curve, reason or worker of the dead attempt, and ``retry_of`` names
    the trial it repeats. Returns False when ``max_retry`` retries were already made."""
    system_attrs = {"failed_trial": trial.number, "retry_history": [], **trial.system_attrs}
    system_attrs["retry_history"] = list(system_attrs["retry_history"]) + [trial.number]
    if max_retry is not None and len(system_attrs["retry_history"]) > max_retry:
        return False
    user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in _ATTEMPT_ATTRS}
    user_attrs["retry_of"] = trial.number
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.WAITING, params=trial.params,
                                              distributions=trial.distributions, user_attrs=user_attrs,
                                              system_attrs=system_attrs))
    return True


def _retry_stale(study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
    # Optuna calls this after failing a trial whose heartbeat stopped; record why on the trial.
    import logging
    queued = retry_trial(study, trial)
    logging.getLogger("ghostnas.search").warning(
        "trial %d had no heartbeat for the grace period (its worker died?): failed%s", trial.number,
        ", queued a retry with the same parameters" if queued else f"; not retried (already retried {MAX_RETRY} times)")


def open_storage(url: Optional[str], run_dir: Optional[Path] = None, heartbeat: bool = True,
                 heartbeat_interval: Optional[int] = None, grace_period: Optional[int] = None,
                 must_exist: bool = False) -> optuna.storages.BaseStorage:
    """Open (creating if needed) the storage named by ``url``.

    Args:
        url: Storage URL or journal path; ``None`` → ``<run_dir>/study.journal``.
        run_dir: Folder for the default journal.
        heartbeat: Enable heartbeat + retry of stale trials on RDB storages.
        heartbeat_interval, grace_period: Seconds (see :func:`heartbeat_settings`).
        must_exist: Refuse a journal (or SQLite) file that does not exist yet instead of creating
            it (commands that only read or join a study).

    Raises:
        StorageError: unreachable database, wrong credentials, unwritable journal folder.
    """
    if url is None:
        if run_dir is None:
            raise StorageError("no storage given and no run folder to put the default journal in")
        url = str(Path(run_dir) / "study.journal")
    url = str(url)
    if url.startswith("env:"):
        var = url[len("env:"):]
        if not os.environ.get(var):
            raise StorageError(f"storage {url}: environment variable {var} is not set")
        url = os.environ[var]
    if url == "memory":  # one per process, so create-then-run sees the same studies
        global _MEMORY
        _MEMORY = _MEMORY or optuna.storages.InMemoryStorage()
        return _MEMORY
    if url.startswith("journal:"):
        url = url[len("journal:"):]
    if not is_rdb(url):
        path = Path(url)
        if must_exist and not path.is_file():
            raise StorageError(f"storage {str(path)!r} not found (no such journal file)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            from .files import mkdir_problem
            raise StorageError(f"storage folder {str(path.parent)!r} cannot be created "
                               f"({mkdir_problem(path.parent, e)})") from None
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
            raise StorageError(f"storage {str(path)!r} is not writable")
        if path.exists() and not path.is_file():
            raise StorageError(f"storage {str(path)!r} is not a journal file")
        from optuna.storages.journal import JournalFileBackend, JournalStorage
        try:
            return JournalStorage(JournalFileBackend(str(path)))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:  # corrupt lines
            raise StorageError(f"storage {str(path)!r} is not a readable Optuna journal file "
                               f"({type(e).__name__})") from None
    if must_exist and url.startswith("sqlite:///") and url != "sqlite:///:memory:" \
            and not Path(url[len("sqlite:///"):]).is_file():
        raise StorageError(f"storage {redact(url)} not found (no such SQLite file)")
    kwargs = {}
    if heartbeat and not url.startswith("sqlite"):
        interval, grace = heartbeat_settings(heartbeat_interval, grace_period)
        kwargs = dict(heartbeat_interval=interval, grace_period=grace, heartbeat_stale_trial_callback=_retry_stale)
    engine_kwargs = {"connect_args": {"connect_timeout": 10}} if url.startswith("postgresql") else {}
    try:
        with warnings.catch_warnings():  # heartbeat_interval is "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
    except ModuleNotFoundError as e:
        raise StorageError(f"storage {redact(url)}: driver not installed ({e.name}); "
                           "pip install 'ghostnas[postgres]'") from None
    except Exception as e:  # noqa: BLE001 - SQLAlchemy raises many types
        msg = " ".join(str(getattr(e, "orig", e) or e).split())
        msg = redact(msg)
        if "password authentication failed" in msg:
            msg = "password authentication failed"
        raise StorageError(f"cannot open storage {redact(url)}: {msg[:200]}") from None
