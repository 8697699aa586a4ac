"""``ghostnas search | worker | fail-stale``: run a study, join one, recover from crashed workers."""
from __future__ import annotations

import argparse
import logging
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="run (or resume) an architecture search study from a TOML config")
    p.add_argument("--config", required=True, help="study TOML, e.g. quickstart")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable), e.g. --set study.n_trials=50")
    p.add_argument("--workers", type=int, default=None, help="worker processes on this machine (default: config)")
    p.add_argument("--allow-setup-change", action="store_true",
                   help="resume although the training setup (data, fidelity, seed) changed; every trial records "
                        "the setup it was trained with (setup_hash)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every trial (Optuna's INFO logs)")
    p.set_defaults(func=run_search)

    w = sub.add_parser("worker", help="join an existing study from any machine")
    w.add_argument("--storage", required=True, help="storage URL or journal path of the study")
    w.add_argument("--study", help="study name (optional when the storage holds one study)")
    w.add_argument("--index", type=int, default=1, help="worker index (offsets the sampler seed)")
    w.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    w.add_argument("-v", "--verbose", action="store_true", help="log every trial (Optuna's INFO logs)")
    w.set_defaults(func=run_worker_cmd)

    f = sub.add_parser("fail-stale", help="fail RUNNING trials left behind by crashed workers (and retry them)",
                       description="Fail the RUNNING trials of a study whose worker is gone: on this host a dead "
                                   "worker pid is detected; on a database storage a stopped heartbeat; with "
                                   "--older-than, any trial running longer than SECONDS whose worker cannot be "
                                   "checked from here (e.g. on another machine, journal storage). Each failed "
                                   "trial is queued again with the same parameters unless --no-retry.")
    f.add_argument("--storage", required=True, help="storage URL or journal path of the study")
    f.add_argument("--study", help="study name (optional when the storage holds one study)")
    f.add_argument("--older-than", type=float, default=None, metavar="SECONDS",
                   help="also fail trials of unknown fate running longer than this")
    f.add_argument("--no-retry", action="store_true", help="do not queue the failed trials again")
    f.set_defaults(func=run_fail_stale)


def _logging(verbose: bool) -> None:
    import optuna

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)


def _logs_above_the_bar():
    """Log records (``-v``) printed above the progress bar instead of through it."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm(loggers=[logging.getLogger(), logging.getLogger("optuna")])


def run_search(args: argparse.Namespace) -> int:
    from ghostnas.search.config import load_config
    from ghostnas.search.local_workers import run_study
    from ghostnas.search.study import StudyFailing
    from ghostnas.search.study_config import StudyConfig

    _logging(args.verbose)
    overrides = [*args.overrides, *(["study.allow_setup_change=true"] if args.allow_setup_change else [])]
    cfg = StudyConfig.from_dict(load_config(args.config, overrides))
    with _logs_above_the_bar():
        try:
            study = run_study(cfg, workers=args.workers, verbose=args.verbose)
        except StudyFailing as e:
            return _failing(e)
    return _finish(study, cfg)


def _failing(e: Exception) -> int:
    print(f"ghostnas: error: {e}", file=sys.stderr)
    return 1


def _finish(study, cfg) -> int:
    from ghostnas.analysis.pareto_plots import plot_front
    from ghostnas.search.readers import pareto_trials, trials_frame
    from ghostnas.search.local_workers import storage_url
    from ghostnas.search.storage import redact

    df = trials_frame(study)
    csv = cfg.run_dir / "trials.csv"
    df.to_csv(csv, index=False)
    written = [csv]
    if "macs" in cfg.objectives or len(cfg.objectives) == 1:
        written += plot_front(df, cfg.run_dir / "pareto", x="macs", y="accuracy",
                              title=f"{cfg.name}: accuracy vs MACs ({cfg.data['dataset']})")
    if "latency" in cfg.objectives:
        written += plot_front(df, cfg.run_dir / "pareto_latency", x="latency_ms", y="accuracy", x_scale=1.0,
                              x_label="latency (ms)", title=f"{cfg.name}: accuracy vs latency")
    front = pareto_trials(study)
    done = ((df["state"] == "COMPLETE") & df["reused_from"].isna()).sum()
    print(f"study {cfg.name}: {done} finished trials in {redact(storage_url(cfg))}")
    for t in front:
        vals = ", ".join(f"{o}={v:.4g}" for o, v in zip(cfg.objectives, t.values))
        print(f"  pareto trial #{t.number}: {vals} arch {t.user_attrs.get('arch_id')}")
    for p in written:
        print(f"wrote {p}")
    print(f"inspect: ghostnas results --storage {redact(storage_url(cfg))} --study {cfg.name}")
    return 0


def run_worker_cmd(args: argparse.Namespace) -> int:
    from ghostnas.search.local_workers import sigterm_as_interrupt
    from ghostnas.search.readers import load_stored_config
    from ghostnas.search.study import StudyFailing, run_worker

    _logging(args.verbose)
    cfg = load_stored_config(args.storage, args.study)
    with sigterm_as_interrupt(), _logs_above_the_bar():
        try:
            run_worker(cfg, worker_index=args.index, create=False,
                       progress_stream=False if args.no_progress else None)
        except StudyFailing as e:
            return _failing(e)
    return 0


def run_fail_stale(args: argparse.Namespace) -> int:
    from ghostnas.search.readers import open_existing_study
    from ghostnas.search.recovery import fail_stale

    if args.older_than is not None and not args.older_than >= 0:
        raise ValueError(f"--older-than {args.older_than:g} is not allowed; expected seconds >= 0")
    study = open_existing_study(args.storage, args.study, heartbeat=True)
    done, left = fail_stale(study, older_than=args.older_than, retry=not args.no_retry)
    for number, why, retried in done:
        print(f"failed trial #{number}: {why}" + ("; queued a retry with the same parameters" if retried else ""))
    for number, why in left:
        print(f"left trial #{number} RUNNING: {why}; its worker cannot be checked from here "
              "(pass --older-than SECONDS to fail it)")
    print(f"{len(done)} stale trial(s) failed, {len(left)} of unknown fate left RUNNING")
    return 0
