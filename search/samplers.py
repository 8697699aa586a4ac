"""The configured Optuna sampler and pruner of a study."""
from __future__ import annotations

from typing import Optional

import logging

import optuna

from ghostnas.space import SearchSpace

from .config import ConfigError
from .study_config import StudyConfig

__all__ = ["make_sampler", "make_pruner", "population_options"]
log = logging.getLogger("ghostnas.search")


def make_sampler(cfg: StudyConfig, space: SearchSpace, seed: Optional[int] = None) -> optuna.samplers.BaseSampler:
    """The configured Optuna sampler (seeded; workers pass their own seed offset)."""
    opts = {k: v for k, v in cfg.sampler.items() if k != "name"}
    s = cfg.seed if seed is None else seed
    name = cfg.sampler["name"]
    try:
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=s, **opts)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=s, **population_options(cfg, opts))
        if name == "nsga3":
            return optuna.samplers.NSGAIIISampler(seed=s, **population_options(cfg, opts))
        if name == "random":
            return optuna.samplers.RandomSampler(seed=s, **opts)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=s, **opts)
        grid = {a.name: list(a.choices) for a in space.axes if not a.fixed}
        if space.cardinality > 100_000:
            raise ConfigError(f"sampler 'grid': space {space.name} has {space.cardinality:,} points; "
                              "fix most axes (scalars) for a grid")
        return optuna.samplers.GridSampler(grid, seed=s)
    except TypeError as e:
        raise ConfigError(f"sampler {name!r}: bad option: {e}") from None


def population_options(cfg: StudyConfig, opts: dict) -> dict:
    """Size a genetic sampler's population to the study: Optuna's default (50) is larger than a typical
    CPU study, which then never leaves its random first generation. Without an explicit
    ``population_size``, use a quarter of ``n_trials`` (between 4 and 50); warn when an explicit one
    leaves fewer than two generations."""
    opts = dict(opts)
    if "population_size" not in opts:
        opts["population_size"] = max(4, min(50, cfg.n_trials // 4))
    elif opts["population_size"] * 2 > cfg.n_trials:
        log.warning("sampler %s: population_size %d leaves fewer than two generations in %d trials; "
                    "the study is then close to random search", cfg.sampler["name"], opts["population_size"],
                    cfg.n_trials)
    return opts


def make_pruner(cfg: StudyConfig) -> optuna.pruners.BasePruner:
    opts = {k: v for k, v in cfg.pruner.items() if k != "name"}
    try:
        if cfg.pruner["name"] == "median":
            return optuna.pruners.MedianPruner(**opts)
        if cfg.pruner["name"] == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=cfg.fidelity.epochs, **opts)
    except TypeError as e:
        raise ConfigError(f"pruner {cfg.pruner['name']!r}: bad option: {e}") from None
    return optuna.pruners.NopPruner()
