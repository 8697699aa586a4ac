"""A study on this machine: the first worker in this process, the others as child processes.

SIGTERM (batch schedulers, ``kill``) ends a worker like Ctrl-C: the running trial is failed with
reason 'interrupted' and queued again, not left RUNNING; the interrupt is passed on to the children.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from typing import Iterator

import optuna

from .objective import prepare_data
from .storage import redact
from .study import StudyFailing, open_study, run_worker
from .study_config import StudyConfig

__all__ = ["run_study", "sigterm_as_interrupt", "storage_url", "gpu_assignment"]


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises KeyboardInterrupt (in the main thread)."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (embedded use)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def storage_url(cfg: StudyConfig) -> str:
    """The study's storage URL (the default journal file in the run folder when none is configured)."""
    return cfg.storage or str((cfg.run_dir / "study.journal").resolve())


def gpu_assignment(device: str, workers: int) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` for each of ``workers`` local workers: one GPU each (round robin) when the
    study trains on CUDA and this machine has several GPUs; empty otherwise (nothing is changed).
    Respects an existing ``CUDA_VISIBLE_DEVICES`` list."""
    if device not in ("auto", "cuda") or workers < 2:
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
    else:
        import torch
        ids = [str(i) for i in range(torch.cuda.device_count())]
    if len(ids) < 2:
        return []
    return [ids[i % len(ids)] for i in range(workers)]


def run_study(cfg: StudyConfig, workers: int | None = None, verbose: bool = False) -> optuna.Study:
    """Run (or resume) a study with ``workers`` processes on this machine until it has ``n_trials``.

    Args:
        cfg: The study config.
        workers: Worker processes (default: the config's ``study.workers``).
        verbose: Pass ``-v`` to the child workers.

    Returns:
        The study, after every worker has stopped. Children that exit non-zero are reported on stderr.

    Raises:
        ValueError: bad worker count, ``memory`` storage with several workers, bad data (before the
            study is created).
    """
    workers = cfg.workers if workers is None else workers
    if workers < 1:
        raise ValueError(f"--workers {workers} is not allowed; expected an integer >= 1")
    if workers > 1 and cfg.storage == "memory":
        raise ValueError("--workers > 1 needs a shared storage (journal file or database), not 'memory'")
    prepare_data(cfg)  # a bad data set fails before the study is created
    open_study(cfg)  # create (or validate) before any worker starts
    url = storage_url(cfg)
    env = None
    if redact(url) != url:  # a password: hand it over in the environment, not on the command line (ps)
        env = {**os.environ, "GHOSTNAS_STORAGE_URL": url}
        url = "env:GHOSTNAS_STORAGE_URL"
    procs = []
    gpus = gpu_assignment(cfg.device, workers)
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[0]  # this process is worker 0; torch has not used CUDA yet
    for i in range(1, workers):
        cmd = [sys.executable, "-m", "ghostnas.cli", "worker", "--storage", url, "--study", cfg.name,
               "--index", str(i), "--no-progress"] + (["-v"] if verbose else [])  # one bar: this process's
        child_env = env
        if gpus:
            child_env = {**(env or os.environ), "CUDA_VISIBLE_DEVICES": gpus[i]}
        procs.append(subprocess.Popen(cmd, env=child_env))
    failing = False
    try:
        with sigterm_as_interrupt():
            return run_worker(cfg, worker_index=0)
    except KeyboardInterrupt:
        for p in procs:  # pass the interrupt on: each worker fails and requeues its trial
            if p.poll() is None:
                p.terminate()
        raise
    except StudyFailing:
        failing = True  # each worker stops on the same streak and says so itself (exit status 1)
        raise
    finally:
        for i, p in enumerate(procs, 1):
            rc = p.wait()
            if rc != 0 and not (failing and rc == 1):
                print(f"ghostnas: warning: worker {i} (pid {p.pid}) exited with status {rc}", file=sys.stderr)
