"""Space specs (a parsed space TOML): the :class:`Axis` type, value and key validation, ``extends``
resolution and TOML writing. :mod:`ghostnas.space.space` builds a :class:`~ghostnas.space.SearchSpace`
from the effective spec; the schema is ``docs/spaces.md``.

**Inheritance**: ``extends = "NAME"`` (a shipped space) or ``extends = "other.toml"`` (relative to
the extending file) starts from that space and applies this file's keys on top: tables merge key by
key, other values (arrays included) replace, ``[stages.N]`` merges into stage ``N`` of the base
(0-based) while a ``[[stages]]`` list replaces all stages; ``name`` is never inherited. Cycles are
refused.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

from ghostnas.ghostnet import GHOSTNET_STAGES

from .tomlconfig import read_toml, resolve_named

__all__ = ["SPACE_DIR", "Axis", "resolve_extends", "resolve_space_file", "spec_to_toml"]

SPACE_DIR = Path(__file__).resolve().parent / "spaces"
STAGE_AXES = ("ratio", "dw_size", "se_ratio", "kernel", "exp_mult", "out_mult", "depth")


@dataclass(frozen=True)
class Axis:
    """One searchable (or fixed) parameter: its name and its allowed values (first = default).

    Attributes:
        name: Parameter name (``stage3.ratio``).
        choices: The distinct choices, after merging equivalent ones.
        merged: ``((dropped, kept), ...)``: choices of the space file that give the same model
            config as a kept one (accepted by ``config_from_params``, never suggested).
        original: The choices as written in the space file (empty: same as ``choices``).
    """

    name: str
    choices: tuple
    merged: tuple = ()
    original: tuple = ()

    @property
    def fixed(self) -> bool:
        """True when the axis has a single choice (not searched)."""
        return len(self.choices) == 1

    @property
    def written(self) -> tuple:
        """The choices as written in the space file (before merging)."""
        return self.original or self.choices


def _err(space: str, axis: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"space {space}: axis {axis}: value {value!r} is not allowed; expected {allowed}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_value(space: str, axis: str, kind: str, v: Any) -> None:
    if kind == "ratio" and not (_is_int(v) and v >= 1):
        raise _err(space, axis, v, "an integer >= 1")
    if kind in ("dw_size",) and not (_is_int(v) and v >= 1 and v % 2 == 1):
        raise _err(space, axis, v, "an odd integer >= 1 (1, 3, 5, 7)")
    if kind == "kernel" and not (v == "table" or (_is_int(v) and v >= 1 and v % 2 == 1)):
        raise _err(space, axis, v, "an odd integer >= 1 or \"table\"")
    if kind == "se_ratio" and not (v == "table" or (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1)):
        raise _err(space, axis, v, "a number in [0, 1) or \"table\"")
    if kind in ("exp_mult", "out_mult", "width") and not (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0):
        raise _err(space, axis, v, "a number > 0")
    if kind == "depth" and not (_is_int(v) and v >= 1):
        raise _err(space, axis, v, "an integer >= 1")
    if kind == "resolution" and not (_is_int(v) and v >= 1):
        raise _err(space, axis, v, "a positive integer")
    if kind == "dropout" and not (isinstance(v, (int, float)) and 0 <= v < 1):
        raise _err(space, axis, v, "a number in [0, 1)")
    if kind == "version" and v not in ("v1", "v2"):
        raise _err(space, axis, v, "\"v1\" or \"v2\"")


def _choices(space: str, axis: str, kind: str, raw: Any) -> tuple:
    values = tuple(raw) if isinstance(raw, (list, tuple)) else (raw,)
    if not values:
        raise ValueError(f"space {space}: axis {axis}: empty choice list; give at least one value")
    if len(set(map(repr, values))) != len(values):
        raise ValueError(f"space {space}: axis {axis}: duplicate choices in {list(values)}")
    for v in values:
        _check_value(space, axis, kind, v)
    return values


def _check_keys(space: str, where: str, section: Mapping, allowed: Iterable[str]) -> None:
    if not isinstance(section, Mapping):
        raise ValueError(f"space {space}: {where} must be a table")
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise ValueError(f"space {space}: unknown key(s) in {where}: {', '.join(unknown)}; "
                         f"valid: {', '.join(sorted(allowed))}")


def _base_rows(space: str, where: str, rows: Any) -> list[tuple]:
    """Validate a stage's ``rows`` (``[kernel, exp, out, se_ratio, stride]`` each)."""
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"space {space}: {where}.rows must be a non-empty list of [kernel, exp, out, se_ratio, stride]")
    base = []
    for r in rows:
        if not (isinstance(r, list) and len(r) == 5):
            raise _err(space, f"{where}.rows", r, "[kernel, exp, out, se_ratio, stride]")
        k, e, o, se, s = r
        _check_value(space, f"{where}.rows.kernel", "kernel", k)
        for label, v in (("exp", e), ("out", o)):
            if not (_is_int(v) and v >= 1):
                raise _err(space, f"{where}.rows.{label}", v, "a positive integer width")
        _check_value(space, f"{where}.rows.se_ratio", "se_ratio", se)
        if s not in (1, 2):
            raise _err(space, f"{where}.rows.stride", s, "1 or 2")
        base.append((k, e, o, float(se), s))
    return base


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def spec_to_toml(spec: Mapping[str, Any]) -> str:
    """A space spec as TOML text (top-level values, then tables, then ``[[stages]]``)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in spec.items() if not isinstance(v, Mapping) and k != "stages"]
    for k, v in spec.items():
        if isinstance(v, Mapping):
            lines += ["", f"[{k}]"] + [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
    for st in spec.get("stages") or ():
        lines += ["", "[[stages]]"] + [f"{kk} = {_toml_value(vv)}" for kk, vv in st.items()]
    return "\n".join(lines) + "\n"


def _merge_tables(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        out[k] = _merge_tables(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) \
            else copy.deepcopy(v)
    return out


def _merge_spec(base: Mapping[str, Any], over: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``over`` applied on ``base`` (module docs: tables merge, ``[stages.N]`` merges into stage N)."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if k == "stages" and isinstance(v, Mapping):
            stages = out.get("stages")
            if stages is None:
                stages = [{"rows": [[b.kernel, b.exp, b.out, b.se_ratio, b.stride] for b in s]} for s in GHOSTNET_STAGES]
            if not isinstance(stages, list):
                raise ValueError(f"space {where}: [stages.N] overrides need a base space with [[stages]]")
            for key, sv in v.items():
                if not (str(key).isdigit() and int(key) < len(stages)):
                    raise ValueError(f"space {where}: [stages.{key}]: stage index must be an integer 0..{len(stages) - 1}")
                if not isinstance(sv, Mapping):
                    raise ValueError(f"space {where}: stages.{key} must be a table of stage keys")
                stages[int(key)] = _merge_tables(stages[int(key)], sv)
            out["stages"] = stages
        elif isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge_tables(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _space_label(path: Path) -> str:
    return path.stem if path.parent == SPACE_DIR.resolve() else str(path)


def _parent_path(ref: Any, base_dir: Path, where: str) -> Path:
    """The file ``extends = ref`` names: a shipped space name, or a path relative to ``base_dir``."""
    if not isinstance(ref, str) or not ref.strip():
        raise ValueError(f"space {where}: extends must be a shipped space name or a .toml path, got {ref!r}")
    p = Path(ref)
    if not p.suffix and len(p.parts) == 1 and not (base_dir / p).is_file():
        try:
            return resolve_named(ref, SPACE_DIR, "space").resolve()
        except ValueError as e:
            raise ValueError(f"space {where}: extends {ref!r}: {e}") from None
    q = p if p.is_absolute() else base_dir / p
    if not q.is_file():
        raise ValueError(f"space {where}: extends {ref!r}: no such file {str(q)!r}")
    return q.resolve()


def resolve_extends(spec: Mapping[str, Any], base_dir: Union[str, Path],
                    chain: Sequence[Path] = ()) -> tuple[dict[str, Any], list[str]]:
    """The effective spec of ``spec``: its ``extends`` chain resolved and its keys applied on top.

    Args:
        spec: A space spec (a parsed space TOML), possibly with ``extends``.
        base_dir: Folder relative ``extends`` paths are taken from (the spec file's folder).
        chain: The files already being resolved (for cycle detection).

    Returns:
        ``(effective spec without "extends", the extended spaces, nearest first)``.

    Raises:
        ValueError: an unknown parent, a cycle, or a bad ``[stages.N]`` override.
    """
    spec = dict(spec)
    ref = spec.pop("extends", None)
    if ref is None:
        return copy.deepcopy(spec), []
    where = str(spec.get("name") or (chain[-1].name if chain else "(inline spec)"))
    parent = _parent_path(ref, Path(base_dir), where)
    if parent in chain:
        loop = " -> ".join(_space_label(p) for p in (*chain[chain.index(parent):], parent))
        raise ValueError(f"space {where}: extends cycle {loop}; a space cannot extend itself")
    base, parents = resolve_space_file(parent, chain)
    base.pop("name", None)
    return _merge_spec(base, spec, where), [_space_label(parent), *parents]


def resolve_space_file(path: Union[str, Path], chain: Sequence[Path] = ()) -> tuple[dict[str, Any], list[str]]:
    """Read a space TOML and resolve its ``extends`` chain (:func:`resolve_extends`).

    Args:
        path: The space file.
        chain: Files already being resolved (internal; cycle detection).

    Returns:
        ``(effective spec, the extended spaces, nearest first)``; ``name`` defaults to the file stem.
    """
    path = Path(path).resolve()
    raw = read_toml(path, "space file")
    spec, parents = resolve_extends(raw, path.parent, (*chain, path))
    spec.setdefault("name", path.stem)
    return spec, parents
