"""Experiment configs (studies, ablations, fidelity ladders) by path or by shipped name.

The examples ship inside the package (``ghostnas/search/configs/*.toml``), so
``ghostnas search --config quickstart`` works from an installed wheel as well as from a clone.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ghostnas.space.tomlconfig import (ConfigError, apply_overrides, check_choice, check_keys, parse_value, read_toml,
                                       resolve_named)

__all__ = ["CONFIG_DIR", "list_configs", "config_path", "load_config", "ConfigError", "apply_overrides",
           "check_choice", "check_keys", "parse_value"]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def list_configs() -> list[str]:
    """Names of the shipped example configs."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def config_path(path_or_name: str | Path) -> Path:
    """The file of a config given by path or shipped name (``quickstart``, ``vgg16_ratio``, ...)."""
    return resolve_named(path_or_name, CONFIG_DIR, "config")


def load_config(path_or_name: str | Path, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Read a config by path or shipped name and apply ``--set`` overrides.

    Raises:
        ConfigError: unknown name, missing file or malformed TOML (with the parser's line/column).
    """
    return read_toml(config_path(path_or_name), "config", overrides)
