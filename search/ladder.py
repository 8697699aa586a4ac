"""Fidelity ladders: train a fixed sample of architectures at a ladder of budgets, cached and resumable.

Every search trial and ablation point is a short proxy training. A ladder measures whether that
proxy ranks architectures as longer training does: a seeded sample of N architectures (or an
explicit list) is trained at each rung of a budget ladder (epochs and/or data fraction, e.g. 1, 2,
4, 8, 16 epochs); the top rung, trained with several seeds, is the reference. Each rung trains from
scratch with its own schedule (a 4-epoch rung is its own one-cycle schedule, not the first 4 epochs
of the top rung) and validates once at its end on the same held-out part of the training set
(never a test split). Zero-cost proxies (:mod:`.zero_cost`) of every architecture are computed at
initialisation on one fixed, seeded training minibatch.

Every (architecture, rung, seed) run is a JSON record in the run cache, written atomically and keyed
by a hash of the architecture dict, the rung's fidelity dict, the dataset spec, the split seed and
the training seed; proxies are cached the same way. A killed ladder resumes where it stopped, and a
ladder that shares runs with another (same architectures and recipe) reuses them.

A ladder config (``ghostnas/search/configs/fidelity_*.toml``)::

    name = "fidelity_quickstart"
    space = "ghostnet_cifar"          # shipped space name or .toml path (optional with `archs`)
    n_archs = 24                      # sampled with random.Random(sample_seed), distinct
    sample_seed = 0
    # archs = ["a.json", {family = "cifar", model = {...}, resolution = 32}]   # instead of sampling
    [space_overrides]                 # optional: replace keys of the space TOML, e.g. width = 0.25
    [data]      dataset, data_dir, download, split_seed (default 0)
    [fidelity]  the training recipe (train.Fidelity fields except epochs, fraction, eval_every)
    [ladder]    epochs = [1, 2, 4], fraction = 1.0 (or one per rung), seeds = [0], top_seeds = [0, 1]
    [proxies]   names (default all), batch_size (64), seed (0)
    [run]       device ("cpu"), threads (1)
    [output]    dir, runs_dir (default DIR/runs)

Main entry points: :func:`load_ladder_config` (:mod:`.ladder_config`), :func:`run_ladder` (train what is missing) and
:func:`load_ladder` (read what is finished); both return a :class:`LadderResult`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ghostnas import space as _space
from ghostnas.space import ArchConfig

from .data import ImageData, load_dataset, train_val_split
from .files import atomic_write_json, ensure_writable_dir, read_json_or_none
from .ladder_config import LadderConfig, Rung, load_ladder_config
from .train import Fidelity, TrainingDiverged, resolve_device, train_proxy
from .zero_cost import compute_proxy

__all__ = ["Rung", "LadderConfig", "LadderResult", "load_ladder_config", "run_ladder", "load_ladder",
           "run_key", "proxy_key"]
log = logging.getLogger("ghostnas.fidelity")


def _build(arch: ArchConfig) -> torch.nn.Module:
    """``ghostnas.space.build_arch`` (named ``build_model`` in older trees)."""
    fn = getattr(_space, "build_arch", None) or getattr(_space, "build_model")
    return fn(arch)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def run_key(arch: ArchConfig, fidelity: Fidelity, dataset: str, split_seed: int, seed: int) -> str:
    """Cache key of one run: hash of the architecture dict, the fidelity dict (without
    ``eval_every``, which changes how often one looks, not what is trained), the dataset spec, the
    validation split's seed and the training seed."""
    fid = {k: v for k, v in fidelity.to_dict().items() if k != "eval_every"}
    return _hash({"arch": arch.to_dict(), "fidelity": fid, "dataset": dataset, "split_seed": split_seed,
                  "seed": seed})


def proxy_key(arch: ArchConfig, dataset: str, split_seed: int, val: dict, batch_size: int, seed: int,
              resolution: Optional[int]) -> str:
    """Cache key of the zero-cost proxies of one architecture on one seeded training minibatch."""
    return _hash({"arch": arch.to_dict(), "dataset": dataset, "split_seed": split_seed, "val": val,
                  "batch_size": batch_size, "seed": seed, "resolution": resolution})


@dataclass
class LadderResult:
    """A ladder's architectures, finished run records and proxy values.

    Attributes:
        config: The ladder config.
        archs: The architectures, in sampling order.
        runs: ``{(arch_id, rung_index, seed): record}`` for every finished run.
        proxies: ``{arch_id: {proxy: {"value", "seconds", "cpu_s"}}}``.
        missing: ``(arch_id, rung_index, seed)`` not yet run.
        dataset: The dataset spec; ``num_classes`` its classes.
        train_sizes: Training images per rung; ``val_size`` the validation images.
        trained, reused: Runs trained by this call, and runs found in the cache.
    """

    config: LadderConfig
    archs: list[ArchConfig]
    runs: dict[tuple[str, int, int], dict]
    proxies: dict[str, dict[str, dict]]
    missing: list[tuple[str, int, int]]
    dataset: str
    num_classes: int
    train_sizes: list[int]
    val_size: int
    trained: int = 0
    reused: int = 0

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def rungs(self) -> tuple[Rung, ...]:
        return self.config.rungs

    def acc(self, rung: int, seed: int) -> np.ndarray:
        """Validation accuracy of every architecture at ``rung`` with ``seed`` (NaN where missing;
        chance, ``1/num_classes``, where the training diverged)."""
        out = []
        for a in self.archs:
            rec = self.runs.get((a.id, rung, seed))
            if rec is None:
                out.append(math.nan)
            else:
                out.append(1.0 / self.num_classes if rec.get("val_acc") is None else float(rec["val_acc"]))
        return np.array(out, dtype=float)

    def mean_acc(self, rung: int) -> np.ndarray:
        """Accuracy at ``rung`` averaged over that rung's seeds."""
        return np.mean([self.acc(rung, s) for s in self.config.rung_seeds(rung)], axis=0)

    def cpu_seconds(self, rung: int) -> np.ndarray:
        """Core-seconds (process CPU time) of each architecture's run at ``rung``, mean over seeds."""
        vals = [[float(self.runs[(a.id, rung, s)].get("cpu_s", math.nan)) if (a.id, rung, s) in self.runs
                 else math.nan for s in self.config.rung_seeds(rung)] for a in self.archs]
        return np.nanmean(np.array(vals, dtype=float), axis=1) if vals else np.array([])

    def proxy_values(self, name: str) -> np.ndarray:
        """Values of zero-cost proxy ``name`` per architecture (NaN where it failed or is missing)."""
        out = []
        for a in self.archs:
            v = self.proxies.get(a.id, {}).get(name, {}).get("value")
            out.append(math.nan if v is None else float(v))
        return np.array(out, dtype=float)

    def failed_runs(self) -> list[dict]:
        return [{"arch_id": k[0], "rung": k[1], "seed": k[2], "reason": r["failed"]}
                for k, r in self.runs.items() if r.get("failed")]


@dataclass
class _Plan:
    cfg: LadderConfig
    archs: list[ArchConfig]
    full: ImageData
    val: ImageData
    num_classes: int
    train_by_rung: list[ImageData]
    train_full: ImageData
    fidelities: dict[tuple[str, int], Fidelity]
    keys: dict[tuple[str, int, int], str]
    proxy_keys: dict[str, str]


def _resolution(cfg: LadderConfig, arch: ArchConfig, data: ImageData) -> Optional[int]:
    if cfg.recipe.get("resolution") is not None:
        return None
    return arch.resolution if arch.resolution != data.image_size else None


def _plan(cfg: LadderConfig) -> _Plan:
    d = cfg.data
    full = load_dataset(d["dataset"], d.get("data_dir"), d.get("download", False))
    archs = cfg.architectures(full.num_classes)
    base = cfg.fidelity(cfg.top)
    train_by_rung, val = [], None
    for rung in cfg.rungs:
        tr, va = train_val_split(full, base.val_fraction, seed=cfg.split_seed, fraction=rung.fraction,
                                 val_size=base.val_size)
        if val is not None and not torch.equal(val.y, va.y):  # same split seed: the same images
            raise RuntimeError("validation split changed between rungs")
        train_by_rung.append(tr)
        val = va
    train_full = train_val_split(full, base.val_fraction, seed=cfg.split_seed, val_size=base.val_size)[0]
    fidelities, keys, pkeys = {}, {}, {}
    val_spec = {"val_fraction": base.val_fraction, "val_size": base.val_size}
    for a in archs:
        res = _resolution(cfg, a, full)
        for i, rung in enumerate(cfg.rungs):
            f = cfg.fidelity(rung, res)
            fidelities[(a.id, i)] = f
            for s in cfg.rung_seeds(i):
                keys[(a.id, i, s)] = run_key(a, f, d["dataset"], cfg.split_seed, s)
        pkeys[a.id] = proxy_key(a, d["dataset"], cfg.split_seed, val_spec, cfg.proxy_batch, cfg.proxy_seed,
                                res or base.resolution)
    return _Plan(cfg, archs, full, val, full.num_classes, train_by_rung, train_full, fidelities, keys, pkeys)


def _run_path(cfg: LadderConfig, key: str) -> Path:
    return cfg.runs_dir / f"{key}.json"


def _proxy_path(cfg: LadderConfig, key: str) -> Path:
    return cfg.runs_dir / "proxies" / f"{key}.json"


def _valid_run(rec: Any, key: str) -> bool:
    return isinstance(rec, dict) and rec.get("key") == key and ("val_acc" in rec)


def _collect(plan: _Plan, trained: int = 0, reused: int = 0) -> LadderResult:
    cfg = plan.cfg
    runs, missing = {}, []
    for k, key in plan.keys.items():
        rec = read_json_or_none(_run_path(cfg, key))
        if _valid_run(rec, key):
            runs[k] = rec
        else:
            missing.append(k)
    proxies = {}
    for a in plan.archs:
        rec = read_json_or_none(_proxy_path(cfg, plan.proxy_keys[a.id]))
        vals = rec.get("values", {}) if isinstance(rec, dict) else {}
        proxies[a.id] = {n: vals[n] for n in cfg.proxy_names if n in vals}
    return LadderResult(cfg, plan.archs, runs, proxies, missing, cfg.data["dataset"], plan.num_classes,
                        [len(t) for t in plan.train_by_rung], len(plan.val), trained, reused)


def load_ladder(cfg: LadderConfig) -> LadderResult:
    """The ladder's finished runs and proxies, read from the run cache; trains nothing.

    Loads the dataset (to draw the same architectures and split) but no model is built.
    """
    return _collect(_plan(cfg))


def _proxy_batch(plan: _Plan, resolution: Optional[int]) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = plan.cfg
    train = plan.train_full  # the whole training part (fraction 1), never the validation images
    g = torch.Generator().manual_seed(cfg.proxy_seed)
    idx = torch.randperm(len(train), generator=g)[:cfg.proxy_batch]
    x = train.normalize(train.x[idx])
    if resolution is not None and resolution != x.shape[-1]:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)
    return x, train.y[idx]


def _compute_proxies(plan: _Plan, arch: ArchConfig, have: dict, device: torch.device) -> dict:
    cfg = plan.cfg
    res = plan.fidelities[(arch.id, 0)].resolution
    x, y = _proxy_batch(plan, res)
    x, y = x.to(device), y.to(device)
    torch.manual_seed(cfg.proxy_seed)
    model = _build(arch).to(device)
    out = dict(have)
    for name in cfg.proxy_names:
        if name in out:
            continue
        c0 = time.process_time()
        try:
            score = compute_proxy(name, model, x, y, seed=cfg.proxy_seed)
            value: Optional[float] = score.value
            seconds = score.seconds
            err = None
        except (ValueError, RuntimeError) as e:
            value, seconds, err = None, math.nan, f"{type(e).__name__}: {e}"
        out[name] = {"value": value, "seconds": seconds, "cpu_s": time.process_time() - c0}
        if err:
            out[name]["error"] = err
    return out


def run_ladder(cfg: LadderConfig, progress: Optional[Callable[[str], None]] = None) -> LadderResult:
    """Run (or resume) the ladder: compute missing proxies, then train every missing run.

    Order: proxies of all architectures, then rung by rung from the cheapest, seed by seed,
    architecture by architecture. Each finished run is written atomically to
    ``cfg.runs_dir/KEY.json`` at once, so a killed ladder loses at most the run in progress.

    Args:
        cfg: The ladder config.
        progress: Called with one line per finished run (default: the ``ghostnas.fidelity`` logger).

    Returns:
        The complete :class:`LadderResult` (``trained`` / ``reused`` count this call's work).
    """
    prev_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    try:
        return _run(cfg, progress or log.info)
    finally:
        torch.set_num_threads(prev_threads)


def _warm_up() -> None:
    """Pay one-off costs before anything is timed: the first optimizer step imports torch._dynamo
    (~1 s), which would otherwise be charged to the first architecture's core-seconds."""
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.AdamW([w], lr=0.1)
    w.sum().backward()
    opt.step()


def _run(cfg: LadderConfig, say: Callable[[str], None]) -> LadderResult:
    ensure_writable_dir(cfg.out_dir)
    ensure_writable_dir(cfg.runs_dir, "run cache folder")
    plan = _plan(cfg)
    atomic_write_json(cfg.out_dir / "ladder.json", {
        "config": cfg.to_dict(), "archs": [{"id": a.id, "arch": a.to_dict()} for a in plan.archs],
        "runs": {f"{aid}/rung{i}/seed{s}": k for (aid, i, s), k in plan.keys.items()},
        "val_size": len(plan.val), "train_sizes": [len(t) for t in plan.train_by_rung]})
    device = resolve_device(cfg.device)
    _warm_up()

    for n, a in enumerate(plan.archs):
        path = _proxy_path(cfg, plan.proxy_keys[a.id])
        rec = read_json_or_none(path)
        have = rec.get("values", {}) if isinstance(rec, dict) and rec.get("key") == plan.proxy_keys[a.id] else {}
        if all(name in have for name in cfg.proxy_names):
            continue
        values = _compute_proxies(plan, a, have, device)
        atomic_write_json(path, {"key": plan.proxy_keys[a.id], "arch_id": a.id, "arch": a.to_dict(),
                                 "dataset": cfg.data["dataset"], "batch_size": cfg.proxy_batch,
                                 "seed": cfg.proxy_seed, "threads": torch.get_num_threads(), "values": values})
        say(f"proxies {n + 1}/{len(plan.archs)} {a.id}: "
            + ", ".join(f"{k} {v['value']:.4g}" if v["value"] is not None else f"{k} failed"
                        for k, v in values.items()))

    todo = [k for k in plan.keys if not _valid_run(read_json_or_none(_run_path(cfg, plan.keys[k])), plan.keys[k])]
    order = {a.id: i for i, a in enumerate(plan.archs)}
    todo.sort(key=lambda k: (k[1], cfg.rung_seeds(k[1]).index(k[2]), order[k[0]]))
    reused = len(plan.keys) - len(todo)
    if reused:
        say(f"reusing {reused} cached run(s) of {len(plan.keys)}; {len(todo)} to train")
    budget_total = sum(cfg.rungs[k[1]].budget for k in todo)
    budget_done, cpu_done, t_start = 0.0, 0.0, time.perf_counter()
    for j, (aid, i, seed) in enumerate(todo):
        arch = plan.archs[order[aid]]
        key = plan.keys[(aid, i, seed)]
        fid = plan.fidelities[(aid, i)]
        torch.manual_seed(seed)
        model = _build(arch)
        params = sum(p.numel() for p in model.parameters())
        c0, t0 = time.process_time(), time.perf_counter()
        try:
            res = train_proxy(model, plan.train_by_rung[i], plan.val, fid, seed=seed, device=cfg.device)
            body = res.to_dict()
        except TrainingDiverged as e:
            body = {"val_acc": None, "failed": f"diverged: {e}", "wall_s": time.perf_counter() - t0}
        cpu = time.process_time() - c0
        body["run_wall_s"] = time.perf_counter() - t0  # the same span as cpu_s (wall_s: the loop only)
        rec = {"key": key, "arch_id": aid, "arch": arch.to_dict(), "rung": cfg.rungs[i].to_dict(), "seed": seed,
               "fidelity": fid.to_dict(), "dataset": cfg.data["dataset"], "split_seed": cfg.split_seed,
               "train_size": len(plan.train_by_rung[i]), "val_size": len(plan.val), "params": params,
               **body, "cpu_s": cpu, "threads": torch.get_num_threads(), "torch": torch.__version__,
               "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write_json(_run_path(cfg, key), rec)
        budget_done += cfg.rungs[i].budget
        cpu_done += cpu
        elapsed = time.perf_counter() - t_start
        eta = elapsed / budget_done * (budget_total - budget_done) if budget_done else math.nan
        acc = "diverged" if rec["val_acc"] is None else f"acc {rec['val_acc']:.4f}"
        say(f"run {j + 1}/{len(todo)} rung {cfg.rungs[i].label} seed {seed} arch {aid}: {acc} "
            f"({rec['wall_s']:.1f} s wall, {cpu:.1f} core-s); about {eta / 60:.0f} min left")
    return _collect(plan, trained=len(todo), reused=reused)
