"""Running a study: create or resume it, and run worker loops until it has ``n_trials`` trials.

A study config (TOML) names the space, data, fidelity, objectives, constraints, sampler,
pruner, number of trials, seed and storage. The resolved config is stored on the study
(``study.user_attrs["ghostnas_config"]``), so ``ghostnas worker --storage URL --study NAME``
can join from any machine with nothing but the storage URL, and a resume with different
objectives or a different space is refused instead of silently mixing results.

See :mod:`ghostnas.search.objective` for what one trial does and how trials are counted, and
:mod:`ghostnas.search.recovery` for crashed workers.
"""
from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import sys
import time
import warnings
from typing import Any, Callable, Optional

import optuna
import torch
from optuna.trial import TrialState

from .config import ConfigError
from .files import ensure_writable_dir
from .objective import SurplusTrial, TrialObjective, prepare_data
from .progress import format_value, is_terminal, progress_bar
from .recovery import reap, stale_hint, stale_trials, trial_age_s, worker_identity
from .samplers import make_pruner, make_sampler
from .storage import open_storage, redact, retry_trial
from .study_config import StudyConfig

__all__ = ["StudyFailing", "failure_streak", "open_study", "run_worker"]
log = logging.getLogger("ghostnas.search")


def _config_to_storage_dict(cfg: StudyConfig) -> dict[str, Any]:
    return json.loads(json.dumps(cfg.raw, default=str))


def resume_seed(base_seed: int, n_existing: int) -> int:
    """The sampler seed for a study that already holds ``n_existing`` trials: the configured seed for
    a new study (reproducible), a different one on every resume, so an extended or resumed study
    continues with new proposals instead of replaying the seeded sequence from its start."""
    if n_existing == 0:
        return base_seed
    blob = f"{base_seed}:{n_existing}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little")


def _changed_setup(stored: dict, current: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(stored) | set(current))
    out = []
    for k in keys:
        a, b = stored.get(k), current.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changed_setup(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k} {a!r} -> {b!r}")
    return out


def _check_resume(study: optuna.Study, cfg: StudyConfig) -> None:
    """Refuse a resume with other objectives, another space, or (unless allowed) another training setup."""
    stored = study.user_attrs.get("ghostnas_signature")
    if stored is None:
        raise ConfigError(f"study {cfg.name!r} exists in this storage but was not created by ghostnas; "
                          "use another study name")
    if stored != cfg.signature:
        diff = [k for k in cfg.signature if stored.get(k) != cfg.signature[k]]
        what = " and ".join("objectives " + str(stored["objectives"]) if k == "objectives" else "a different search space"
                            for k in diff)
        raise ConfigError(f"study {cfg.name!r} already exists with {what}; this config asks for "
                          f"{'objectives ' + str(list(cfg.objectives)) if 'objectives' in diff else 'another space'}"
                          "; use a new study name (--set study.name=...) or the original config")
    setups = study.user_attrs.get("ghostnas_setups") or []
    if setups and setups[-1]["hash"] != cfg.setup_hash:
        changed = _changed_setup(setups[-1]["setup"], cfg.setup)
        if not cfg.allow_setup_change:
            raise ConfigError(f"study {cfg.name!r} was trained with another setup ({'; '.join(changed)}); resume "
                              "with the original settings, use a new study name, or pass --allow-setup-change "
                              "(every trial then records the setup it was trained with)")
        log.warning("study %s: training setup changed (%s); new trials record setup %s", cfg.name,
                    "; ".join(changed), cfg.setup_hash)
    if not setups or setups[-1]["hash"] != cfg.setup_hash:
        study.set_user_attr("ghostnas_setups", setups + [{"hash": cfg.setup_hash, "setup": cfg.setup}])
        study.set_user_attr("ghostnas_config", _config_to_storage_dict(cfg))  # workers join with this setup


def open_study(cfg: StudyConfig, create: bool = True, sampler_seed: Optional[int] = None) -> optuna.Study:
    """Create or load the study; refuse a resume whose objectives, space or training setup differ.

    Args:
        cfg: The study config.
        create: Create the study if it does not exist (else a ConfigError).
        sampler_seed: Base sampler seed (default: the config's seed); on a resume it is mixed with the
            number of trials already in the study (:func:`resume_seed`).

    Returns:
        The study, with the configured sampler and pruner.
    """
    ensure_writable_dir(cfg.run_dir, "run folder")
    storage = open_storage(cfg.storage, cfg.run_dir, heartbeat_interval=cfg.heartbeat_interval,
                           grace_period=cfg.grace_period)
    space = cfg.space()
    base_seed = cfg.seed if sampler_seed is None else sampler_seed
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    if cfg.name in existing:
        study = optuna.load_study(study_name=cfg.name, storage=storage, pruner=make_pruner(cfg),
                                  sampler=optuna.samplers.RandomSampler())
        _check_resume(study, cfg)
        n_existing = len(study.get_trials(deepcopy=False))
        study.sampler = make_sampler(cfg, space, resume_seed(base_seed, n_existing))
        return study
    if not create:
        raise ConfigError(f"study {cfg.name!r} not found in {redact(cfg.storage or str(cfg.run_dir / 'study.journal'))}")
    study = optuna.create_study(study_name=cfg.name, storage=storage, sampler=make_sampler(cfg, space, base_seed),
                                pruner=make_pruner(cfg), directions=cfg.directions)
    study.set_user_attr("ghostnas_signature", cfg.signature)
    study.set_user_attr("ghostnas_config", _config_to_storage_dict(cfg))
    study.set_user_attr("ghostnas_setups", [{"hash": cfg.setup_hash, "setup": cfg.setup}])
    study.set_user_attr("objectives", list(cfg.objectives))
    with warnings.catch_warnings():  # experimental since 3.2, stable in practice; the dashboard shows the names
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(cfg.objectives))
    return study


def _counts(study: optuna.Study) -> dict[str, int]:
    c = {"complete": 0, "reused": 0, "running": 0, "failed": 0, "pruned": 0, "waiting": 0}
    for t in study.get_trials(deepcopy=False):
        key = {TrialState.COMPLETE: "complete", TrialState.RUNNING: "running", TrialState.FAIL: "failed",
               TrialState.PRUNED: "pruned", TrialState.WAITING: "waiting"}[t.state]
        if key == "failed" and str(t.user_attrs.get("fail_reason", "")).startswith("surplus"):
            continue
        if key in ("complete", "pruned") and t.user_attrs.get("reused_from") is not None:
            key = "reused"  # an architecture already evaluated (or stopped early) at this setup is not a new trial
        c[key] += 1
    return c

class _QuietOptunaFailures(logging.Filter):
    """Drop Optuna's 'Trial N failed ...' records (with their tracebacks) for trials that the
    guarded objective already reported in one line; GHOSTNAS_DEBUG=1 keeps them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if os.environ.get("GHOSTNAS_DEBUG"):
            return True
        msg = str(record.msg)
        return not (msg.startswith("Trial ") and " failed with " in msg)


class _Progress:
    """A progress bar over the study's trials on a terminal (tqdm): trials done/total, running, failed
    and pruned trials, the best value of each objective so far, ETA. Silent when the stream is not a
    terminal; each finished trial is also logged at INFO (``-v``)."""

    def __init__(self, cfg: StudyConfig, stream: Any = None) -> None:
        self.cfg = cfg
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = is_terminal(self.stream)
        self.bar: Any = None

    def start(self, study: optuna.Study) -> None:
        """Draw the bar at the study's current count (a resumed study starts where it is)."""
        if self.bar is None:
            done = min(_counts(study)["complete"], self.cfg.n_trials)
            self.bar = progress_bar(self.cfg.n_trials, f"[{self.cfg.name}]", "trial", self.stream, initial=done)

    def _best(self, study: optuna.Study) -> str:
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if not t.user_attrs.get("rejected") and t.values is not None]
        if not done:
            return ""
        parts = []
        for i, (o, d) in enumerate(zip(self.cfg.objectives, self.cfg.directions)):
            pick = max if d == "maximize" else min
            parts.append(f"{o} {format_value(o, pick(t.values[i] for t in done))}")
        return "best " + ", ".join(parts)

    def __call__(self, study: optuna.Study, trial: Optional[optuna.trial.FrozenTrial] = None) -> None:
        """Optuna's per-trial callback: update the bar and log the line."""
        c, text = self._update(study)
        log.info("[%s] %d/%d done, %s", self.cfg.name, c["complete"], self.cfg.n_trials, text)

    def _update(self, study: optuna.Study) -> tuple[dict[str, int], str]:
        self.start(study)
        c = _counts(study)
        status = [f"{c['running']} running"] + [f"{c[k]} {k}" for k in ("failed", "pruned") if c[k]]
        best = self._best(study)
        text = ", ".join(status + ([best] if best else []))
        if self.enabled:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(max(min(c["complete"], self.cfg.n_trials) - self.bar.n, 0))
            self.bar.refresh()
        return c, text

    def close(self, study: Optional[optuna.Study] = None) -> None:
        """Final counts, then end the bar."""
        if self.bar is None:
            return
        if study is not None and self.enabled:
            self._update(study)
        self.bar.close()


class _NotATerminal:
    """A stream that is not a terminal: the progress bar stays off."""

    def isatty(self) -> bool:
        return False


_NOT_A_TERMINAL = _NotATerminal()


def _guarded(objective: TrialObjective, study: optuna.Study) -> Callable[[optuna.Trial], Any]:
    """``objective`` wrapped for :func:`run_worker`: records who ran a trial and why it failed,
    pruned or was interrupted (queuing an interrupted trial again with the same parameters)."""

    def guarded(trial: optuna.Trial) -> Any:
        trial.set_user_attr("worker", worker_identity())
        before = trial.user_attrs.get("fail_reason")
        try:
            return objective(trial)
        except optuna.TrialPruned as e:
            trial.set_user_attr("prune_reason", str(e))
            raise
        except SurplusTrial:
            raise
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM (a scheduler preempting the job): Optuna fails the trial; queue it
            # again with the same parameters so the next run continues it.
            trial.set_user_attr("fail_reason", "interrupted (SIGINT/SIGTERM)")
            try:
                queued = retry_trial(study, study._storage.get_trial(trial._trial_id))
            except Exception:  # noqa: BLE001 - never mask the interrupt
                queued = False
            log.warning("trial %d interrupted%s", trial.number,
                        "; queued a retry with the same parameters" if queued else "")
            raise
        except Exception as e:
            reason = trial.user_attrs.get("fail_reason")
            if reason is None or reason == before:
                text = " ".join(str(e).split())[:300]
                oom = isinstance(e, MemoryError) or "out of memory" in text.lower()
                reason = f"{'out of memory: ' if oom else ''}{type(e).__name__}: {text}"
                trial.set_user_attr("fail_reason", reason)
            log.warning("trial %d failed: %s", trial.number, reason)
            # Free a failed (e.g. out-of-memory) attempt's tensors before the next trial. Only on
            # failure: a full collection costs ~0.2 s, 10% of a small trial.
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise


    return guarded


class StudyFailing(RuntimeError):
    """Every one of the last ``[study] max_consecutive_failures`` trials since the worker started
    failed: the cause is most likely the setup (a learning rate that diverges, data or a device that
    cannot work), not the architectures, and more trials would only burn compute. Rerunning the
    command resumes the study with a fresh count."""


# Failures that say nothing about the setup: a trial over n_trials, a preempted or crashed worker.
_NOT_THE_TRIALS_FAULT = ("surplus", "interrupted", "stale")


def failure_streak(study: optuna.Study, after: int = -1) -> list[optuna.trial.FrozenTrial]:
    """The trials that failed after the last trial that completed or was pruned, oldest first.

    Failures of the infrastructure (surplus trials, interrupted or stale workers, trials queued
    again with the same parameters, failures without a recorded reason) neither count nor end a streak.

    Args:
        study: The study.
        after: Only trials numbered above this count (a worker passes the last number it found at
            its start, so that rerunning after fixing the cause starts a fresh count).

    Returns:
        The failed trials, ordered by the time they ended.
    """
    ended = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                TrialState.FAIL)) if t.number > after]
    retried = {t.user_attrs.get("retry_of") for t in ended} - {None}
    ended.sort(key=lambda t: (t.datetime_complete.timestamp() if t.datetime_complete else 0.0, t.number))
    streak = []
    for t in reversed(ended):
        if t.state != TrialState.FAIL:
            break
        reason = str(t.user_attrs.get("fail_reason") or "")
        if reason and not reason.startswith(_NOT_THE_TRIALS_FAULT) and t.number not in retried:
            streak.append(t)
    return streak[::-1]


def _check_failing(study: optuna.Study, cfg: StudyConfig, after: int, worker_index: int) -> None:
    streak = failure_streak(study, after)
    if len(streak) >= cfg.max_consecutive_failures:
        last = streak[-1]
        who = f" (worker {worker_index})" if worker_index else ""
        raise StudyFailing(
            f"study {cfg.name}{who}: the last {len(streak)} trials all failed (trial #{last.number}: "
            f"{last.user_attrs['fail_reason']}); stopping. Fix the cause and rerun the same command to resume, "
            f"or raise [study] max_consecutive_failures (now {cfg.max_consecutive_failures})")


def _should_stop(c: dict[str, int], cfg: StudyConfig, cardinality: int) -> bool:
    """Whether the worker loop is done: ``n_trials`` complete, or the space is exhausted."""
    if c["complete"] >= cfg.n_trials:
        return True
    if c["complete"] >= cardinality:
        log.warning("study %s: all %d architectures of the space are evaluated; stopping below "
                    "n_trials=%d", cfg.name, c["complete"], cfg.n_trials)
        return True
    if c["reused"] > max(50, 5 * cfg.n_trials):
        log.warning("study %s: the sampler keeps proposing architectures already evaluated (%d repeats); "
                    "the space looks exhausted at %d distinct architectures: stopping", cfg.name,
                    c["reused"], c["complete"])
        return True
    return False


def run_worker(cfg: StudyConfig, worker_index: int = 0, create: bool = True,
               progress_stream: Any = None) -> optuna.Study:
    """Run trials in this process until the study has ``n_trials`` complete trials.

    Each trial goes through ``study.optimize(n_trials=1)``, so Optuna's heartbeat, stale-trial
    failing and retry callback work on RDB storages; any exception inside a trial is recorded on
    it (``fail_reason``) and the loop goes on. A progress bar goes to ``progress_stream`` (default
    stderr) when it is a terminal; pass ``False`` for none.

    Raises:
        StudyFailing: the last ``[study] max_consecutive_failures`` trials all failed.
    """
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    prepare_data(cfg)  # bad data fails here, before the study is created
    # Each worker gets its own sampler seed: identical seeds would propose identical points.
    study = open_study(cfg, create=create, sampler_seed=cfg.seed + worker_index)
    objective = TrialObjective(cfg, study)
    progress = _Progress(cfg, progress_stream if progress_stream is not False else _NOT_A_TERMINAL)
    quiet = _QuietOptunaFailures()
    optuna_log = logging.getLogger("optuna.study._optimize")
    optuna_log.addFilter(quiet)

    guarded = _guarded(objective, study)
    first_number = len(study.get_trials(deepcopy=False))  # failures before this worker started do not count
    try:
        progress.start(study)
        reap(study, cfg, at_start=True)
        waited_hint = False
        while True:
            c = _counts(study)
            if _should_stop(c, cfg, objective.space.cardinality):
                break
            if c["failed"] >= cfg.max_consecutive_failures:  # only then read the trials again
                _check_failing(study, cfg, after=first_number - 1, worker_index=worker_index)
            # WAITING trials (retries) are not counted: the next study.ask picks them up.
            if c["complete"] + c["running"] >= cfg.n_trials:
                # Other workers hold the remaining trials; wait in case one fails or its worker dies.
                time.sleep(1.0)
                reap(study, cfg, at_start=False)
                if not waited_hint:
                    _, unknown = stale_trials(study)
                    unknown = [(t, w) for t, w in unknown if (trial_age_s(t) or 0) > 60]
                    if unknown:
                        log.warning("waiting for trial(s) %s running in other workers; if those workers are "
                                    "gone, fail the trials with: %s",
                                    ", ".join(f"#{n}" for n, _ in [(t.number, w) for t, w in unknown]),
                                    stale_hint(cfg))
                        waited_hint = True
                continue
            reap(study, cfg, at_start=False)
            study.optimize(guarded, n_trials=1, catch=(Exception,), callbacks=[progress], gc_after_trial=False)
    finally:
        optuna_log.removeFilter(quiet)
        try:
            progress.close(study)
        except Exception:  # noqa: BLE001 - a display never masks the real outcome
            pass
    return study
