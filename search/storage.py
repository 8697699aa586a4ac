"""Optuna storages by URL, with passwords kept out of messages and logs.

* ``memory``: in this process only (tests, throw-away runs).
* a path or ``journal:PATH`` (default ``<run dir>/study.journal``): Optuna's journal file, safe
  for several processes on one machine; ``optuna-dashboard PATH`` opens it.
* ``sqlite:///PATH``: one worker at a time.
* ``postgresql+psycopg2://user:pass@host/db`` (or ``mysql...``): many machines; heartbeat and
  automatic retry of crashed trials.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

import optuna

__all__ = ["open_storage", "redact", "HEARTBEAT_INTERVAL_S", "GRACE_PERIOD_S", "StorageError"]

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


def open_storage(url: Optional[str], run_dir: Optional[Path] = None, heartbeat: bool = True) -> optuna.storages.BaseStorage:
    """Open (creating if needed) the storage named by ``url``.

    Args:
        url: Storage URL or journal path; ``None`` → ``<run_dir>/study.journal``.
        run_dir: Folder for the default journal.
        heartbeat: Enable heartbeat + retry of stale trials on RDB storages.

    Raises:
        StorageError: unreachable database, wrong credentials, unwritable journal folder.
    """
    if url is None:
        if run_dir is None:
            raise StorageError("no storage given and no run folder to put the default journal in")
        url = str(Path(run_dir) / "study.journal")
    url = str(url)
    if url == "memory":  # one per process, so create-then-run sees the same studies
        global _MEMORY
        _MEMORY = _MEMORY or optuna.storages.InMemoryStorage()
        return _MEMORY
    if url.startswith("journal:"):
        url = url[len("journal:"):]
    if not is_rdb(url):
        path = Path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(path.parent, os.W_OK):
                raise PermissionError
        except PermissionError:
            raise StorageError(f"storage folder {str(path.parent)!r} is not writable") from None
        from optuna.storages.journal import JournalFileBackend, JournalStorage
        return JournalStorage(JournalFileBackend(str(path)))
    kwargs = {}
    if heartbeat and not url.startswith("sqlite"):
        kwargs = dict(heartbeat_interval=HEARTBEAT_INTERVAL_S, grace_period=GRACE_PERIOD_S,
                      failed_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY))
    engine_kwargs = {"connect_args": {"connect_timeout": 10}} if url.startswith("postgresql") else {}
    try:
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
