"""Declarative search spaces over Ghost architectures, loaded from TOML.

Two families:

``family = "ghostnet"``: a list of ``[[stages]]``, each with its base rows (the paper's Table 1
rows, ``[kernel, exp, out, se_ratio, stride]``) and per-stage axes. An axis given as a list is
searched (a categorical choice), a scalar is fixed. Axes:

* ``ratio`` – Ghost ratio ``s`` (integers ≥ 1)
* ``dw_size`` – cheap-op kernel ``d`` (odd)
* ``se_ratio`` – SE ratio in [0, 1) (0 = off) or ``"table"`` (as in the base rows)
* ``kernel`` – bottleneck depthwise kernel (odd) or ``"table"``
* ``exp_mult`` – multiplier of the base rows' expansion width (1.0 = table)
* ``out_mult`` – multiplier of the stage's output width (1.0 = table)
* ``depth`` – blocks in the stage: the first ``depth`` base rows; extra blocks repeat the last row
* ``per_block`` – list of axes (``ratio``, ``dw_size``) sampled separately for every block

plus ``[global]`` ``width`` (multiplier), ``resolution``, ``dropout``, ``version``.
``[defaults]`` gives every stage's axes unless the stage sets its own, and ``[default]`` names
the default point (else each axis's first choice).

``family = "cifar"``: ``arch`` (``vgg16`` / ``resnet56``), ``ratio`` and ``dw_size`` axes,
``granularity = "network"`` (one ``s``/``d`` for all convs) or ``"layer"`` (one per conv),
``width`` and ``resolution``.

Parameter names are stable and readable: ``width``, ``resolution``, ``stage3.ratio``,
``stage6.block2.dw_size``, ``layer7.ratio``.
"""
from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from ghostnas.ghostnet import (GHOSTNET_STAGES, BlockSpec, CifarNetConfig, GhostNetConfig, cifar_conv_layers,
                               default_resolution)

from .config import ArchConfig
from .tomlconfig import read_toml, resolve_named

__all__ = ["SearchSpace", "Axis", "load_space", "SPACE_DIR", "list_spaces"]

SPACE_DIR = Path(__file__).resolve().parent / "spaces"
_STAGE_AXES = ("ratio", "dw_size", "se_ratio", "kernel", "exp_mult", "out_mult", "depth")
_GHOST_TOP = {"family", "name", "description", "num_classes", "global", "defaults", "default", "stages"}
_GHOST_GLOBAL = {"width", "resolution", "dropout", "version"}
_CIFAR_TOP = {"family", "name", "description", "num_classes", "arch", "ratio", "dw_size", "granularity",
              "width", "resolution", "default"}


@dataclass(frozen=True)
class Axis:
    """One searchable (or fixed) parameter: its name and its allowed values (first = default)."""

    name: str
    choices: tuple

    @property
    def fixed(self) -> bool:
        """True when the axis has a single choice (not searched)."""
        return len(self.choices) == 1


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


class SearchSpace:
    """A search space: ordered axes plus the rule that turns their values into an ArchConfig.

    Build it with :func:`load_space` or ``SearchSpace(spec_dict)``. Main methods: :meth:`suggest` (Optuna,
    define-by-run), :meth:`sample`, :meth:`grid`, :meth:`default`, :meth:`config_from_params`.
    """

    def __init__(self, spec: dict[str, Any], num_classes: Optional[int] = None) -> None:
        spec = dict(spec)
        self.family = spec.get("family", "ghostnet")
        self.name = str(spec.get("name", "unnamed"))
        self.description = str(spec.get("description", ""))
        if num_classes is not None:
            spec["num_classes"] = num_classes
        self.num_classes = spec.get("num_classes", 1000 if self.family == "ghostnet" else 10)
        if not (_is_int(self.num_classes) and self.num_classes >= 1):
            raise _err(self.name, "num_classes", self.num_classes, "an integer >= 1")
        self.spec = spec
        if self.family == "ghostnet":
            self._init_ghostnet(spec)
        elif self.family == "cifar":
            self._init_cifar(spec)
        else:
            raise ValueError(f"space {self.name}: unknown family {self.family!r}; expected \"ghostnet\" or \"cifar\"")
        names = [a.name for a in self.axes]
        self._axis = dict(zip(names, self.axes))
        default = spec.get("default", {})
        _check_keys(self.name, "[default]", default, names)
        self._default = {}
        for a in self.axes:
            v = default.get(a.name, a.choices[0])
            if v not in a.choices:
                raise _err(self.name, a.name, v, f"one of its choices {list(a.choices)} (as default)")
            self._default[a.name] = v
        # Validate the whole space at the edge: every extreme point must build a valid config.
        self._check_resolutions()

    # ---- construction -------------------------------------------------------------------------
    def _init_ghostnet(self, spec: dict[str, Any]) -> None:
        n = self.name
        _check_keys(n, "the space", spec, _GHOST_TOP)
        glob = spec.get("global", {})
        _check_keys(n, "[global]", glob, _GHOST_GLOBAL)
        defaults = spec.get("defaults", {})
        _check_keys(n, "[defaults]", defaults, set(_STAGE_AXES) | {"per_block"})
        stages = spec.get("stages")
        if stages is None:
            stages = [{"rows": [[b.kernel, b.exp, b.out, b.se_ratio, b.stride] for b in s]} for s in GHOSTNET_STAGES]
        if not isinstance(stages, list) or not stages:
            raise ValueError(f"space {n}: stages must be a non-empty list of [[stages]] tables")
        axes: list[Axis] = []
        for key, kind, default in (("width", "width", 1.0), ("resolution", "resolution",
                                                              default_resolution(GhostNetConfig))):
            axes.append(Axis(key, _choices(n, key, kind, glob.get(key, default))))
        self.dropout = glob.get("dropout", 0.2)
        _check_value(n, "dropout", "dropout", self.dropout)
        self.version = glob.get("version", "v1")
        _check_value(n, "version", "version", self.version)
        self.stages: list[dict[str, Any]] = []
        for i, st in enumerate(stages):
            _check_keys(n, f"[[stages]] #{i}", st, set(_STAGE_AXES) | {"rows", "per_block"})
            stage = self._stage(f"stage{i}", st, defaults)
            axes += self._stage_axes(f"stage{i}", stage)
            self.stages.append(stage)
        self.axes = axes

    def _stage(self, where: str, st: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
        """One ``[[stages]]`` table: its base rows, per-block axes and every axis's choices."""
        n = self.name
        base = _base_rows(n, where, st.get("rows"))
        merged = {a: st.get(a, defaults.get(a)) for a in _STAGE_AXES}
        fallback = {"ratio": 2, "dw_size": 3, "se_ratio": "table", "kernel": "table",
                    "exp_mult": 1.0, "out_mult": 1.0, "depth": len(base)}
        per_block = st.get("per_block", defaults.get("per_block", []))
        if not isinstance(per_block, list) or any(p not in ("ratio", "dw_size") for p in per_block):
            raise _err(n, f"{where}.per_block", per_block, "a list drawn from [\"ratio\", \"dw_size\"]")
        choices = {a: _choices(n, f"{where}.{a}", a, merged[a] if merged[a] is not None else fallback[a])
                   for a in _STAGE_AXES}
        return {"base": base, "per_block": tuple(per_block), "axes": choices}

    @staticmethod
    def _stage_axes(where: str, stage: Mapping[str, Any]) -> list[Axis]:
        """The stage's axes in order: per-stage ones, then one per block for each per-block axis."""
        axes = [Axis(f"{where}.{a}", stage["axes"][a]) for a in _STAGE_AXES if a not in stage["per_block"]]
        for a in stage["per_block"]:
            for b in range(max(stage["axes"]["depth"])):
                axes.append(Axis(f"{where}.block{b}.{a}", stage["axes"][a]))
        return axes

    def _init_cifar(self, spec: dict[str, Any]) -> None:
        n = self.name
        _check_keys(n, "the space", spec, _CIFAR_TOP)
        self.arch = spec.get("arch", "vgg16")
        if self.arch not in ("vgg16", "resnet56"):
            raise _err(n, "arch", self.arch, "\"vgg16\" or \"resnet56\"")
        self.granularity = spec.get("granularity", "network")
        if self.granularity not in ("network", "layer"):
            raise _err(n, "granularity", self.granularity, "\"network\" or \"layer\"")
        self.n_layers = len(cifar_conv_layers(self.arch))
        ratio = _choices(n, "ratio", "ratio", spec.get("ratio", [2, 3, 4, 5]))
        dw = _choices(n, "dw_size", "dw_size", spec.get("dw_size", [3, 1, 5, 7]))
        axes = [Axis("width", _choices(n, "width", "width", spec.get("width", 1.0))),
                Axis("resolution", _choices(n, "resolution", "resolution", spec.get("resolution", default_resolution(CifarNetConfig))))]
        if self.granularity == "network":
            axes += [Axis("ratio", ratio), Axis("dw_size", dw)]
        else:
            for i in range(self.n_layers):
                axes += [Axis(f"layer{i}.ratio", ratio), Axis(f"layer{i}.dw_size", dw)]
        self.axes = axes

    def _check_resolutions(self) -> None:
        if self.family == "ghostnet":
            need = 2  # stem
            for st in self.stages:
                need *= max(math.prod(r[4] for r in st["base"][:d]) for d in st["axes"]["depth"])
            why = f"the network downsamples the input {need}x"
            if self.version == "v2":  # DFC attention avg-pools the last maps by 2 again
                need, why = need * 2, f"the network downsamples {need}x and v2 attention halves that again"
        else:
            need = 32 if self.arch == "vgg16" else 4
            why = f"{self.arch} downsamples the input {need}x"
        for r in self._axis["resolution"].choices:
            if r < need:
                raise _err(self.name, "resolution", r, f"at least {need}: {why}")

    # ---- points -------------------------------------------------------------------------------
    @property
    def cardinality(self) -> int:
        """Number of distinct parameter assignments (depth-masked per-block axes counted fully)."""
        return math.prod(len(a.choices) for a in self.axes)

    def default_params(self) -> dict[str, Any]:
        """The default value of every axis (a copy)."""
        return dict(self._default)

    def config_from_params(self, params: Mapping[str, Any]) -> ArchConfig:
        """The ArchConfig for a full assignment of the axes (missing ones take their default).

        Args:
            params: Parameter name to value (e.g. ``{"stage3.ratio": 4, "width": 1.0}``).

        Returns:
            The :class:`ArchConfig`.

        Raises:
            ValueError: unknown parameter names or values outside an axis's choices.
        """
        unknown = sorted(set(params) - set(self._axis))
        if unknown:
            raise ValueError(f"space {self.name}: unknown parameter(s) {', '.join(unknown)}; "
                             f"valid: {', '.join(list(self._axis)[:12])}{' ...' if len(self._axis) > 12 else ''}")
        p = dict(self._default)
        p.update(params)
        for k, v in params.items():
            if v not in self._axis[k].choices:
                raise _err(self.name, k, v, f"one of {list(self._axis[k].choices)}")
        if self.family == "cifar":
            return ArchConfig(self._cifar_model(p), int(p["resolution"]))
        return ArchConfig(self._ghostnet_model(p), int(p["resolution"]))

    def _cifar_model(self, p: Mapping[str, Any]) -> CifarNetConfig:
        if self.granularity == "network":
            ratios = (p["ratio"],) * self.n_layers
            dws = (p["dw_size"],) * self.n_layers
        else:
            ratios = tuple(p[f"layer{i}.ratio"] for i in range(self.n_layers))
            dws = tuple(p[f"layer{i}.dw_size"] for i in range(self.n_layers))
        return CifarNetConfig(self.arch, ratios, dws, num_classes=self.num_classes, width=float(p["width"]))

    def _ghostnet_model(self, p: Mapping[str, Any]) -> GhostNetConfig:
        stages = tuple(tuple(self._row(p, f"stage{i}", st, b) for b in range(p[f"stage{i}.depth"]))
                       for i, st in enumerate(self.stages))
        return GhostNetConfig(stages=stages, width=float(p["width"]), num_classes=self.num_classes,
                              dropout=self.dropout, version=self.version)

    @staticmethod
    def _row(p: Mapping[str, Any], pre: str, st: Mapping[str, Any], b: int) -> BlockSpec:
        """Block ``b`` of stage ``pre``: its base row (the last one repeated) with the axes applied."""
        k, e, o, se, s = st["base"][min(b, len(st["base"]) - 1)]
        if b >= len(st["base"]):
            s = 1  # repeated rows never downsample again
        kern = p[f"{pre}.kernel"]
        se_v = p[f"{pre}.se_ratio"]
        ratio = p[f"{pre}.block{b}.ratio"] if "ratio" in st["per_block"] else p[f"{pre}.ratio"]
        dw = p[f"{pre}.block{b}.dw_size"] if "dw_size" in st["per_block"] else p[f"{pre}.dw_size"]
        return BlockSpec(kernel=k if kern == "table" else kern,
                         exp=max(1, int(round(e * p[f"{pre}.exp_mult"]))),
                         out=max(1, int(round(o * p[f"{pre}.out_mult"]))),
                         se_ratio=se if se_v == "table" else float(se_v), stride=s,
                         ratio=ratio, dw_size=dw)

    def _active(self, params: Mapping[str, Any]) -> list[Axis]:
        """Axes that matter given the values so far (per-block axes beyond a stage's depth do not)."""
        return [a for a in self.axes if self._is_active(a.name, params)]

    def _is_active(self, name: str, params: Mapping[str, Any]) -> bool:
        parts = name.split(".")
        if len(parts) == 3 and parts[1].startswith("block"):
            depth = params.get(f"{parts[0]}.depth", self._default[f"{parts[0]}.depth"])
            return int(parts[1][5:]) < depth
        return True

    def suggest(self, trial: Any) -> ArchConfig:
        """Sample an architecture with an Optuna trial (define-by-run; fixed axes are not suggested)."""
        params: dict[str, Any] = {}
        for a in self.axes:
            if not self._is_active(a.name, params):
                continue
            params[a.name] = a.choices[0] if a.fixed else trial.suggest_categorical(a.name, list(a.choices))
        return self.config_from_params(params)

    def sample(self, rng: Union[random.Random, int, None] = None) -> ArchConfig:
        """A uniformly random architecture (``rng``: a ``random.Random`` or a seed)."""
        rng = rng if isinstance(rng, random.Random) else random.Random(rng)
        params: dict[str, Any] = {}
        for a in self.axes:
            if self._is_active(a.name, params):
                params[a.name] = rng.choice(a.choices)
        return self.config_from_params(params)

    def default(self) -> ArchConfig:
        """The space's default point (for the shipped GhostNet space: the paper's GhostNet 1.0×)."""
        return self.config_from_params({})

    def grid(self, axes: Mapping[str, Sequence[Any]]) -> list[ArchConfig]:
        """The Cartesian product of the given axes, everything else at its default.

        A key may be a parameter name (``stage3.ratio``) or a bare axis (``ratio``), which sets that
        axis in every stage/layer at once.
        """
        keys = list(axes)
        expanded = []
        for k in keys:
            if k in self._axis:
                expanded.append([k])
            else:
                names = [a.name for a in self.axes if a.name.split(".")[-1] == k]
                if not names:
                    raise ValueError(f"space {self.name}: unknown axis {k!r} for grid; "
                                     f"valid: {', '.join(sorted({a.name.split('.')[-1] for a in self.axes}))}")
                expanded.append(names)
        out = []
        for combo in itertools.product(*[list(axes[k]) for k in keys]):
            params = {n: v for names, v in zip(expanded, combo) for n in names}
            out.append(self.config_from_params(params))
        return out

    def describe(self) -> str:
        """Human-readable listing of the axes and the cardinality."""
        lines = [f"space {self.name} (family {self.family}, {self.num_classes} classes)"]
        if self.description:
            lines.append(self.description)
        width = max(len(a.name) for a in self.axes)
        for a in self.axes:
            tag = "fixed" if a.fixed else f"{len(a.choices)} choices"
            lines.append(f"  {a.name:<{width}}  {tag:<11} {list(a.choices)}  default {self._default[a.name]!r}")
        searched = sum(not a.fixed for a in self.axes)
        lines.append(f"{len(self.axes)} axes ({searched} searched); cardinality {self.cardinality:,} "
                     f"(≈1e{math.log10(self.cardinality):.1f})" if self.cardinality > 1 else
                     f"{len(self.axes)} axes; cardinality 1")
        return "\n".join(lines)


def list_spaces() -> list[str]:
    """Names of the spaces shipped in the package (``ghostnas/space/spaces``)."""
    return sorted(p.stem for p in SPACE_DIR.glob("*.toml"))


def load_space(path_or_name: Union[str, Path], num_classes: Optional[int] = None) -> SearchSpace:
    """Load a space from a TOML file, or a shipped one by name (``ghostnet``, ``ghost_vgg16_cifar``...).

    Raises:
        ValueError: unknown name, missing file, malformed TOML, or an invalid axis (named).
    """
    p = resolve_named(path_or_name, SPACE_DIR, "space", "space file")
    spec = read_toml(p, "space file")
    spec.setdefault("name", p.stem)
    return SearchSpace(spec, num_classes)
