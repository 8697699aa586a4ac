"""Crashed workers: which process runs a trial, is it still alive, and failing (and retrying) the
trials of dead workers.

A trial records the worker that runs it (``user_attrs["worker"]``: host, pid). On a database
(heartbeat), a trial whose worker stopped beating is failed after the grace period and queued again
with the same parameters (``retry_of``). On a journal file (no heartbeat), a RUNNING trial whose
worker process is provably gone (same host, pid dead) is failed and retried the same way when a
worker starts or waits; other RUNNING trials of unknown fate are reported, and
``ghostnas fail-stale`` (:func:`fail_stale`) fails them.
"""
from __future__ import annotations

import datetime
import logging
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import TrialState

from .files import file_lock
from .storage import MAX_RETRY, redact, retry_trial
from .study_config import StudyConfig

__all__ = ["worker_identity", "worker_gone", "stale_trials", "fail_stale", "reap", "stale_hint", "trial_age_s"]
log = logging.getLogger("ghostnas.search")

def _proc_stat(pid: int) -> Optional[tuple[str, int]]:
    """(state letter, start time in clock ticks) of a process, from /proc; None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def worker_identity() -> dict[str, Any]:
    """What a trial records about the process that runs it (``user_attrs["worker"]``)."""
    st = _proc_stat(os.getpid())
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": st[1] if st else None, "ns": _pid_namespace()}


def worker_gone(worker: Any) -> Optional[bool]:
    """True if the recorded worker process is provably gone (same host and pid namespace, and the
    pid is dead, a zombie or another process); False if it runs; None if this cannot be known here
    (another machine, or no record)."""
    if not isinstance(worker, dict) or worker.get("host") != socket.gethostname() \
            or worker.get("ns", "") != _pid_namespace() or not isinstance(worker.get("pid"), int):
        return None
    st = _proc_stat(worker["pid"])
    if st is None:
        if not os.path.isdir("/proc"):  # no procfs: fall back to a signal-0 probe
            try:
                os.kill(worker["pid"], 0)
            except ProcessLookupError:
                return True
            except OSError:
                return False
            return False
        return True
    state, start = st
    return state in ("Z", "X") or (worker.get("start") is not None and start != worker["start"])


def _describe_worker(worker: Any) -> str:
    if not isinstance(worker, dict):
        return "worker unknown"
    here = worker.get("host") == socket.gethostname()
    return f"pid {worker.get('pid')} on {'this host' if here else worker.get('host')}"


def trial_age_s(t: optuna.trial.FrozenTrial) -> Optional[float]:
    if t.datetime_start is None:
        return None
    return (datetime.datetime.now() - t.datetime_start).total_seconds()


def stale_trials(study: optuna.Study, older_than: Optional[float] = None, check_pid: bool = True
                 ) -> tuple[list[tuple[optuna.trial.FrozenTrial, str]], list[tuple[optuna.trial.FrozenTrial, str]]]:
    """Split the study's RUNNING trials into ``(stale, unknown)``, each a list of ``(trial, why)``.

    Stale: the worker process is provably gone (same host), the heartbeat stopped for longer than
    the grace period (database storages), or, with ``older_than``, the trial has run more than
    that many seconds and its worker cannot be checked from here. Unknown: running trials whose
    worker cannot be checked from here (another machine, no heartbeat). Trials whose worker is
    provably alive are in neither list. ``check_pid=False`` ignores dead pids (workers leave
    database storages to the heartbeat).
    """
    storage = study._storage
    hb_stale: set[int] = set()
    if is_heartbeat_enabled(storage):
        hb_stale = set(storage._get_stale_trial_ids(study._study_id))
    stale, unknown = [], []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        gone = worker_gone(worker)
        age = trial_age_s(t)
        if t._trial_id in hb_stale:
            stale.append((t, f"no heartbeat for the grace period ({_describe_worker(worker)})"))
        elif gone and check_pid:
            stale.append((t, f"its worker ({_describe_worker(worker)}) is gone"))
        elif gone is False:
            continue
        elif is_heartbeat_enabled(storage):
            continue  # heartbeat is fresh: alive on another machine
        elif older_than is not None and age is not None and age > older_than:
            stale.append((t, f"running for {age:.0f}s > {older_than:g}s ({_describe_worker(worker)})"))
        else:
            unknown.append((t, f"{_describe_worker(worker)}, running for {age or 0:.0f}s"))
    return stale, unknown


def fail_stale(study: optuna.Study, older_than: Optional[float] = None, retry: bool = True,
               check_pid: bool = True) -> tuple[list[tuple[int, str, bool]], list[tuple[int, str]]]:
    """Fail the study's stale RUNNING trials (see :func:`stale_trials`), each with a ``fail_reason``
    starting ``stale:``, and (``retry``) queue each again with the same parameters.

    Returns:
        ``([(number, why, retried), ...], [(number, why) of trials left RUNNING], ...)``.
    """
    with _reap_lock(study):
        return _fail_stale_locked(study, older_than, retry, check_pid)


@contextmanager
def _reap_lock(study: optuna.Study) -> Iterator[None]:
    """Serialise reaping between the processes that share a journal file (one machine), so a dead
    worker's trial is failed and retried once, not once per live worker."""
    backend = getattr(study._storage, "_backend", None)
    path = getattr(backend, "_file_path", None)
    if path is None:
        yield
        return
    with file_lock(Path(str(path) + ".ghostnas-reap.lock")):
        yield


def _fail_stale_locked(study: optuna.Study, older_than: Optional[float], retry: bool, check_pid: bool
                       ) -> tuple[list[tuple[int, str, bool]], list[tuple[int, str]]]:
    stale, unknown = stale_trials(study, older_than, check_pid)
    storage = study._storage
    done = []
    for t, why in stale:
        try:
            storage.set_trial_user_attr(t._trial_id, "fail_reason", f"stale: {why}")
            if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # finished (or failed by another worker) meanwhile
        frozen = storage.get_trial(t._trial_id)
        done.append((t.number, why, bool(retry and retry_trial(study, frozen, MAX_RETRY))))
    return done, [(t.number, why) for t, why in unknown]


def stale_hint(cfg: StudyConfig) -> str:
    url = redact(cfg.storage or str((cfg.run_dir / "study.journal").resolve()))
    return f"ghostnas fail-stale --storage {url} --study {cfg.name} --older-than SECONDS"


def reap(study: optuna.Study, cfg: StudyConfig, at_start: bool) -> None:
    """Fail (and retry) trials of dead workers; at start, report RUNNING trials of unknown fate.
    On database storages the heartbeat decides (same rule for every machine)."""
    done, unknown = fail_stale(study, check_pid=not is_heartbeat_enabled(study._storage))
    for number, why, retried in done:
        log.warning("trial %d was still RUNNING but %s: failed it%s", number, why,
                    ", queued a retry with the same parameters" if retried
                    else f" (not retried: already retried {MAX_RETRY} times)")
    if at_start and unknown:
        n = len(unknown)
        log.warning("%d trial%s still RUNNING from a previous run or another worker (%s); if no worker runs "
                    "%s any more, fail %s with: %s", n, " is" if n == 1 else "s are",
                    "; ".join(f"#{num}: {why}" for num, why in unknown), "it" if n == 1 else "them",
                    "it" if n == 1 else "them", stale_hint(cfg))
