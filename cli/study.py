"""``ghostnas search | worker | results | export | train``: Optuna studies from the command line."""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="run (or resume) an architecture search study from a TOML config")
    p.add_argument("--config", required=True, help="study TOML, e.g. quickstart")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable), e.g. --set study.n_trials=50")
    p.add_argument("--workers", type=int, default=None, help="worker processes on this machine (default: config)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every trial (Optuna's INFO logs)")
    p.set_defaults(func=run_search)

    w = sub.add_parser("worker", help="join an existing study from any machine")
    w.add_argument("--storage", required=True, help="storage URL or journal path of the study")
    w.add_argument("--study", required=True, help="study name")
    w.add_argument("--index", type=int, default=1, help="worker index (offsets the sampler seed)")
    w.add_argument("-v", "--verbose", action="store_true")
    w.set_defaults(func=run_worker_cmd)

    f = sub.add_parser("fail-stale", help="fail RUNNING trials left behind by crashed workers (and retry them)",
                       description="Fail the RUNNING trials of a study whose worker is gone: on this host a dead "
                                   "worker pid is detected; on a database storage a stopped heartbeat; with "
                                   "--older-than, any trial running longer than SECONDS whose worker cannot be "
                                   "checked from here (e.g. on another machine, journal storage). Each failed "
                                   "trial is queued again with the same parameters unless --no-retry.")
    f.add_argument("--storage", required=True, help="storage URL or journal path of the study")
    f.add_argument("--study", required=True, help="study name")
    f.add_argument("--older-than", type=float, default=None, metavar="SECONDS",
                   help="also fail trials of unknown fate running longer than this")
    f.add_argument("--no-retry", action="store_true", help="do not queue the failed trials again")
    f.set_defaults(func=run_fail_stale)

    r = sub.add_parser("results", help="print a study's trial table and Pareto-optimal architectures")
    r.add_argument("--storage", required=True)
    r.add_argument("--study", required=True)
    r.add_argument("--csv", help="also write the trial table as CSV")
    r.add_argument("--parquet", help="also write the trial table as Parquet (needs pyarrow)")
    r.set_defaults(func=run_results)

    e = sub.add_parser("export", help="write one trial's architecture JSON and the command that retrains it")
    e.add_argument("--storage", required=True)
    e.add_argument("--study", required=True)
    e.add_argument("--trial", type=int, required=True)
    e.add_argument("--out", help="output JSON (default arch-<id>.json)")
    e.set_defaults(func=run_export)

    t = sub.add_parser("train", help="train one architecture (JSON or registry name) at a given fidelity")
    t.add_argument("--arch", required=True, help="architecture JSON file (from export) or a registry model name")
    t.add_argument("--data", default="digits", help="dataset spec (digits, cifar10, npz:PATH, ...)")
    t.add_argument("--data-dir")
    t.add_argument("--download", action="store_true")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="fidelity override, e.g. --set epochs=200")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--out", required=True, help="folder for metrics.json and model.pt")
    t.set_defaults(func=run_train)


def _logging(verbose: bool) -> None:
    import optuna

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While running trials, SIGTERM (batch schedulers, `kill`) ends a worker like Ctrl-C: the
    running trial is failed with reason 'interrupted' and queued again, not left RUNNING."""
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


def _storage_url(cfg) -> str:
    return cfg.storage or str((cfg.run_dir / "study.journal").resolve())


def run_search(args: argparse.Namespace) -> int:
    from ghostnas.search.config import load_config
    from ghostnas.search.storage import redact
    from ghostnas.search.study_config import StudyConfig
    from ghostnas.search.study import open_study, run_worker
    from ghostnas.search.objective import prepare_data

    _logging(args.verbose)
    raw = load_config(args.config, args.overrides)
    cfg = StudyConfig.from_dict(raw)
    workers = args.workers if args.workers is not None else cfg.workers
    if workers < 1:
        raise ValueError(f"--workers {workers} is not allowed; expected an integer >= 1")
    if workers > 1 and cfg.storage == "memory":
        raise ValueError("--workers > 1 needs a shared storage (journal file or database), not 'memory'")
    prepare_data(cfg)  # a bad data set fails before the study is created
    open_study(cfg)  # create (or validate) before any worker starts
    url = _storage_url(cfg)
    procs = []
    env = None
    if redact(url) != url:  # a password: hand it over in the environment, not on the command line (ps)
        env = {**os.environ, "GHOSTNAS_STORAGE_URL": url}
        url = "env:GHOSTNAS_STORAGE_URL"
    for i in range(1, workers):
        cmd = [sys.executable, "-m", "ghostnas.cli", "worker", "--storage", url, "--study", cfg.name,
               "--index", str(i)] + (["-v"] if args.verbose else [])
        procs.append(subprocess.Popen(cmd, env=env))
    try:
        with _sigterm_as_interrupt():
            study = run_worker(cfg, worker_index=0)
    except KeyboardInterrupt:
        for p in procs:  # pass the interrupt on: each worker fails and requeues its trial
            if p.poll() is None:
                p.terminate()
        raise
    finally:
        for i, p in enumerate(procs, 1):
            rc = p.wait()
            if rc != 0:
                print(f"ghostnas: warning: worker {i} (pid {p.pid}) exited with status {rc}", file=sys.stderr)
    return _finish(study, cfg)


def _finish(study, cfg) -> int:
    from ghostnas.analysis.pareto import plot_front
    from ghostnas.search.readers import pareto_trials, trials_frame
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
    done = (df["state"] == "COMPLETE").sum()
    print(f"study {cfg.name}: {done} finished trials in {redact(_storage_url(cfg))}")
    for t in front:
        vals = ", ".join(f"{o}={v:.4g}" for o, v in zip(cfg.objectives, t.values))
        print(f"  pareto trial #{t.number}: {vals} arch {t.user_attrs.get('arch_id')}")
    for p in written:
        print(f"wrote {p}")
    print(f"inspect: ghostnas results --storage {redact(_storage_url(cfg))} --study {cfg.name}")
    return 0


def run_worker_cmd(args: argparse.Namespace) -> int:
    from ghostnas.search.readers import load_stored_config
    from ghostnas.search.study import run_worker

    _logging(args.verbose)
    cfg = load_stored_config(args.storage, args.study)
    with _sigterm_as_interrupt():
        run_worker(cfg, worker_index=args.index, create=False)
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


def run_results(args: argparse.Namespace) -> int:
    import pandas as pd

    from ghostnas.search.readers import open_existing_study, pareto_trials, trials_frame

    study = open_existing_study(args.storage, args.study)
    df = trials_frame(study)
    cols = [c for c in ["number", "state", *study.user_attrs.get("objectives", []), "macs", "params",
                        "arch_id", "train_s", "feasible", "fail_reason"] if c in df.columns]
    cols = list(dict.fromkeys(cols))
    with pd.option_context("display.max_rows", 200, "display.width", 160, "display.max_colwidth", 40):
        print(df[cols].to_string(index=False))
    front = pareto_trials(study)
    print(f"\nPareto-optimal trials ({len(front)}): {', '.join('#' + str(t.number) for t in front)}")
    if args.csv:
        df.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if args.parquet:
        try:
            df.to_parquet(args.parquet, index=False)
        except ImportError as e:
            raise ValueError(f"--parquet needs pyarrow: {e}") from None
        print(f"wrote {args.parquet}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    import shlex

    from ghostnas.search.files import atomic_write_json, ensure_writable_dir
    from ghostnas.search.readers import open_existing_study
    from ghostnas.space import ArchConfig

    study = open_existing_study(args.storage, args.study)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if args.trial not in trials:
        raise ValueError(f"trial {args.trial} not found in study {args.study!r} ({len(trials)} trials)")
    t = trials[args.trial]
    if "arch" not in t.user_attrs:
        raise ValueError(f"trial {args.trial} has no architecture recorded (state {t.state.name})")
    arch = ArchConfig.from_json(t.user_attrs["arch"])
    out = Path(args.out or f"arch-{arch.id}.json")
    ensure_writable_dir(out.parent if str(out.parent) else Path("."))
    atomic_write_json(out, arch.to_dict())
    cfg = study.user_attrs.get("ghostnas_config", {})
    data = cfg.get("data", {}).get("dataset", "digits")
    cmd = ["ghostnas", "train", "--arch", str(out), "--data", data, "--set", "epochs=200", "--set", "fraction=1.0",
           "--set", "lr=0.1", "--set", "weight_decay=5e-4", "--set", "schedule=cosine", "--out", f"runs/retrain-{arch.id}"]
    print(f"wrote {out} (trial #{t.number}, arch {arch.id}, {t.user_attrs.get('macs', 0) / 1e6:.2f}M MACs, "
          f"{t.user_attrs.get('params', 0):,} params)")
    print("retrain at full fidelity:")
    print("  " + " ".join(shlex.quote(c) for c in cmd))
    return 0


def run_train(args: argparse.Namespace) -> int:
    import time

    import torch

    from ghostnas.ghostnet import list_models, model_config
    from ghostnas.search.config import apply_overrides
    from ghostnas.search.data import load_dataset, train_val_split
    from ghostnas.search.files import atomic_save_torch, atomic_write_json, ensure_writable_dir
    from ghostnas.search.train import Fidelity, train_proxy
    from ghostnas.space import ArchConfig, build_model

    data = load_dataset(args.data, args.data_dir, args.download)
    if Path(args.arch).is_file():
        try:
            arch = ArchConfig.from_json(Path(args.arch).read_text())
        except UnicodeDecodeError:
            raise ValueError(f"architecture file {args.arch!r} is not text JSON") from None
        model_cfg = arch.model
        if model_cfg.num_classes != data.num_classes:
            from dataclasses import replace
            model_cfg = replace(model_cfg, num_classes=data.num_classes)
        resolution = arch.resolution
    elif args.arch in list_models():
        model_cfg = model_config(args.arch, num_classes=data.num_classes)
        resolution = None
    else:
        raise ValueError(f"--arch {args.arch!r} is neither an architecture JSON file nor a registry model "
                         f"({', '.join(list_models())})")
    fid = Fidelity.from_dict(apply_overrides({}, args.overrides))
    if resolution is not None and fid.resolution is None and resolution != data.image_size:
        fid = Fidelity.from_dict({**fid.to_dict(), "resolution": resolution})
    out = ensure_writable_dir(args.out)
    train, val = train_val_split(data, fid.val_fraction, seed=args.seed, fraction=fid.fraction, val_size=fid.val_size)
    torch.manual_seed(args.seed)
    model = build_model(model_cfg)
    t0 = time.time()
    res = train_proxy(model, train, val, fid, seed=args.seed, device=args.device,
                      report=lambda e, a: print(f"epoch {e + 1}/{fid.epochs}: val acc {a:.4f}", flush=True))
    model.to("cpu").to(memory_format=torch.contiguous_format)
    atomic_save_torch(model.state_dict(), out / "model.pt")
    atomic_write_json(out / "metrics.json", {**res.to_dict(), "fidelity": fid.to_dict(), "data": args.data,
                                             "eval_split": f"held-out validation part of {data.name} train",
                                             "wall_s": time.time() - t0})
    print(f"val acc {res.val_acc:.4f} (held-out part of {data.name} train); wrote {out / 'model.pt'}, {out / 'metrics.json'}")
    return 0
