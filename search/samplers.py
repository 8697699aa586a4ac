"""The configured Optuna sampler and pruner of a study."""
from __future__ import annotations

from typing import Optional

import optuna

from ghostnas.space import SearchSpace

from .config import ConfigError
from .study_config import StudyConfig

__all__ = ["make_sampler", "make_pruner"]


def make_sampler(cfg: StudyConfig, space: SearchSpace, seed: Optional[int] = None) -> optuna.samplers.BaseSampler:
    """The configured Optuna sampler (seeded; workers pass their own seed offset)."""
    opts = {k: v for k, v in cfg.sampler.items() if k != "name"}
    s = cfg.seed if seed is None else seed
    name = cfg.sampler["name"]
    try:
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=s, **opts)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=s, **opts)
        if name == "nsga3":
            return optuna.samplers.NSGAIIISampler(seed=s, **opts)
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
