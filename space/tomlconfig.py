"""TOML files for spaces and experiment configs: reading by path or shipped name, ``--set key=value``
overrides and strict key checking. The one place a TOML file is read in the suite."""
from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Iterable, Mapping

__all__ = ["read_toml", "resolve_named", "apply_overrides", "parse_value", "check_choice", "check_keys", "ConfigError"]


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file/key and the problem."""


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value as a TOML value (``3``, ``0.5``, ``true``, ``[2, 3]``, ``"x"``);
    anything that is not valid TOML is taken as a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(cfg: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``cfg`` with each ``a.b.c=value`` override applied."""
    cfg = copy.deepcopy(cfg)
    for item in overrides or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set study.n_trials=20")
        node = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {key}: {p!r} is a value, not a section")
            node = nxt
        node[parts[-1]] = parse_value(value.strip())
    return cfg


def resolve_named(path_or_name: str | Path, folder: Path, what: str, file_label: str | None = None) -> Path:
    """A path as given, or, for a bare name without a suffix that is not a file here, the shipped
    ``folder/NAME.toml``.

    Raises:
        ConfigError: a bare name that is not shipped (listing the shipped names), or a missing file.
    """
    p = Path(path_or_name)
    if not p.suffix and not p.is_file() and len(p.parts) == 1:
        shipped = folder / f"{p.name}.toml"
        if not shipped.is_file():
            names = ", ".join(sorted(q.stem for q in folder.glob("*.toml")))
            raise ConfigError(f"unknown {what} {str(path_or_name)!r}; shipped: {names} (or give a .toml path)")
        return shipped
    if not p.is_file():
        raise ConfigError(f"{file_label or what} {str(p)!r} not found")
    return p


def read_toml(path: Path, what: str = "config", overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Parse a TOML file and apply ``--set`` overrides.

    Raises:
        ConfigError: missing file, not UTF-8, or malformed TOML (with the parser's line/column).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} not found")
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{what} {str(path)!r} is not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {str(path)!r} is not UTF-8 text") from None
    return apply_overrides(cfg, overrides)


def check_choice(value: Any, allowed: Iterable[Any], where: str) -> Any:
    """Return ``value`` if it is one of ``allowed``; else raise ConfigError naming ``where`` and the choices."""
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(f"{where} = {value!r} is not allowed; choose from {', '.join(map(str, allowed))}")
    return value


def check_keys(section: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Raise ConfigError naming any key of ``section`` that is not in ``allowed``."""
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where} must be a table, got {type(section).__name__}")
    allowed = set(allowed)
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(unknown)}; valid: {', '.join(sorted(allowed))}")
