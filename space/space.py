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

**Inheritance**: ``extends = "NAME"`` (a shipped space) or ``extends = "other.toml"`` (relative to
the extending file) starts from that space and applies this file's keys on top: tables merge key by
key, other values (arrays included) replace, ``[stages.N]`` merges into stage ``N`` of the base
(0-based) while a ``[[stages]]`` list replaces all stages; ``name`` is never inherited. Cycles are
refused. :func:`resolve_space_file` / :func:`resolve_extends` give the effective spec.

**Equivalent choices** (family ``ghostnet``): two choices of a stage axis that build the same model
config at every depth of the stage (e.g. ``se_ratio`` ``"table"`` and ``0`` in a stage whose table
rows have no SE) are merged at load time: the default (else the first) is kept, the other is an
alias (:attr:`Axis.merged`) that :meth:`SearchSpace.config_from_params` still accepts, mapping it
to the kept value -- the same config, so the same architecture id. :attr:`SearchSpace.cardinality`
counts distinct architectures (model config + resolution). The schema: ``docs/spaces.md``.
"""
from __future__ import annotations

import copy
import itertools
import math
import random
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from ghostnas.ghostnet import (GHOSTNET_STAGES, BlockSpec, CifarNetConfig, GhostNetConfig, cifar_conv_layers,
                               default_resolution)

from .config import ArchConfig
from .tomlconfig import read_toml, resolve_named

__all__ = ["SearchSpace", "Axis", "load_space", "SPACE_DIR", "list_spaces", "resolve_extends", "resolve_space_file"]

SPACE_DIR = Path(__file__).resolve().parent / "spaces"
_STAGE_AXES = ("ratio", "dw_size", "se_ratio", "kernel", "exp_mult", "out_mult", "depth")
_GHOST_TOP = {"family", "name", "description", "num_classes", "global", "defaults", "default", "stages"}
_COST_METRICS = ("macs", "params")
_GHOST_GLOBAL = {"width", "resolution", "dropout", "version"}
_CIFAR_TOP = {"family", "name", "description", "num_classes", "arch", "ratio", "dw_size", "granularity",
              "width", "resolution", "default"}


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


class SearchSpace:
    """A search space: ordered axes plus the rule that turns their values into an ArchConfig.

    Build it with :func:`load_space` or ``SearchSpace(spec_dict)``. Main methods: :meth:`suggest` (Optuna,
    define-by-run), :meth:`sample`, :meth:`grid`, :meth:`default`, :meth:`config_from_params`.
    """

    def __init__(self, spec: dict[str, Any], num_classes: Optional[int] = None, merge: bool = True) -> None:
        """Build and validate a space.

        Args:
            spec: The space spec (a parsed space TOML; ``extends`` resolved from the working folder).
            num_classes: Override the spec's ``num_classes`` (the data's classes).
            merge: Merge equivalent choices (module docs); ``False`` keeps every written choice
                (diagnostics and tests: it builds the same configs).
        """
        spec = dict(spec)
        self._merge = merge
        #: The spaces this one extends, nearest first (``load_space`` / an inline ``extends``).
        self.extends: list[str] = []
        if "extends" in spec:  # an inline spec: relative paths are relative to the working folder
            spec, self.extends = resolve_extends(spec, Path.cwd())
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
        self._merge_equivalent()

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

    # ---- equivalent choices --------------------------------------------------------------------
    def _stage_rows(self, i: int, name: str, value: Any, depth: int) -> tuple:
        """The block rows of stage ``i`` at ``depth`` with axis ``name`` at ``value``, the rest default."""
        p = dict(self._default)
        p[name] = value
        p[f"stage{i}.depth"] = depth
        return tuple(self._row(p, f"stage{i}", self.stages[i], b) for b in range(depth))

    def _merge_equivalent(self) -> None:
        """Merge the choices of each stage axis that give the same rows at every depth of the stage.

        A stage axis only sets its own field of the stage's rows (kernel, exp, out, SE ratio, s, d),
        so comparing the rows with the other axes at their defaults decides it for every point.
        Also records, per (axis, depth), how many distinct rows the kept choices give
        (:attr:`cardinality`).
        """
        self._aliases: dict[str, dict[Any, Any]] = {}
        self._n_distinct: dict[tuple[str, int], int] = {}
        if self.family != "ghostnet":
            return
        merge = self._merge
        for i, st in enumerate(self.stages):
            depths = st["axes"]["depth"]
            for kind in _STAGE_AXES:
                if kind == "depth" or kind in st["per_block"]:
                    continue
                name = f"stage{i}.{kind}"
                axis = self._axis[name]
                groups: dict[tuple, list[int]] = {}
                for j, v in enumerate(axis.choices):
                    groups.setdefault(tuple(self._stage_rows(i, name, v, d) for d in depths), []).append(j)
                dflt = next(j for j, v in enumerate(axis.choices) if v == self._default[name])
                keep, merged = set(), []
                for members in groups.values():
                    rep = dflt if dflt in members else members[0]
                    keep.add(rep)
                    merged += [(axis.choices[j], axis.choices[rep]) for j in members if j != rep]
                kept = tuple(v for j, v in enumerate(axis.choices) if j in keep)
                for d in depths:
                    self._n_distinct[(name, d)] = len({self._stage_rows(i, name, v, d) for v in kept})
                if merged and merge:
                    self._aliases[name] = {v: rep for v, rep in merged}
                    self._axis[name] = Axis(name, kept, tuple(merged), axis.choices)
        self.axes = [self._axis[a.name] for a in self.axes]

    def _canonical(self, name: str, value: Any) -> Any:
        """A merged-away choice of ``name`` as the kept choice it equals (anything else unchanged)."""
        aliases = self._aliases.get(name)
        if not aliases:
            return value
        for dropped, kept in aliases.items():
            if value == dropped and type(value) is not bool and isinstance(value, str) == isinstance(dropped, str):
                return kept
        return value

    # ---- points -------------------------------------------------------------------------------
    @cached_property
    def cardinality(self) -> int:
        """Number of distinct architectures (model config + resolution) in the space.

        Equivalent choices count once (they are merged), and per-block axes count only for the
        blocks a stage's depth builds: for a ``ghostnet`` space, the product over ``width`` and
        ``resolution`` choices and, per stage, the sum over its depth choices ``d`` of (distinct
        rows each stage axis gives at depth ``d``, multiplied) x (choices of each per-block axis)^d.
        For a ``cifar`` space, the product of the axes' choice counts.
        """
        if self.family != "ghostnet":
            return math.prod(len(a.choices) for a in self.axes)
        n = len(self._axis["width"].choices) * len(self._axis["resolution"].choices)
        for i, st in enumerate(self.stages):
            total = 0
            for d in st["axes"]["depth"]:
                k = 1
                for kind in _STAGE_AXES:
                    if kind != "depth" and kind not in st["per_block"]:
                        k *= self._n_distinct[(f"stage{i}.{kind}", d)]
                for kind in st["per_block"]:
                    k *= len(self._axis[f"stage{i}.block0.{kind}"].choices) ** d
                total += k
            n *= total
        return n

    @property
    def n_assignments(self) -> int:
        """Number of assignments of the (merged) axes, per-block axes past a stage's depth included
        (the size of a full grid over the searched axes)."""
        return math.prod(len(a.choices) for a in self.axes)

    @property
    def merged(self) -> dict[str, tuple]:
        """``{axis: ((dropped, kept), ...)}`` for every axis with merged equivalent choices."""
        return {a.name: a.merged for a in self.axes if a.merged}

    def max_cost(self, metric: str = "macs") -> int:
        """The largest analytic ``metric`` (``"macs"`` or ``"params"``) of the space, by a fixed search.

        Start from the costliest corner (every axis at its largest choice: width, resolution,
        ``d``, numeric kernels and SE ratios, multipliers, depth), then, one axis at a time, give
        each ``s`` axis and each axis with a ``"table"`` choice the choice that costs most. For a
        ``cifar`` space that is exact: channel counts do not depend on ``s`` or ``d``, so the cost is
        a sum of per-layer terms, each maximised on its own (``s`` is not monotone: with a large
        ``d`` a larger ``s`` can cost more). For a ``ghostnet`` space, width, ``out_mult``, depth and
        kernel also interact through the shortcuts (a stage narrower than the next gets a costly
        projection shortcut), so those axes join a coordinate ascent that repeats until no single
        change costs more: a deterministic local maximum, checked against brute force on small
        spaces by the tests. Used as the fixed hypervolume reference of MACs / params objectives
        (:mod:`ghostnas.analysis.hypervolume`); a trial beyond it adds no volume and is reported.

        Args:
            metric: ``"macs"`` or ``"params"`` (at this space's ``num_classes``).

        Returns:
            The cost (an integer), cached per space.
        """
        if metric not in _COST_METRICS:
            raise ValueError(f"space {self.name}: no analytic maximum for {metric!r}; choose from "
                             f"{', '.join(_COST_METRICS)}")
        cache = self.__dict__.setdefault("_max_cost", {})
        if metric not in cache:
            cache[metric] = self._costliest(metric)
        return cache[metric][0]

    def _costliest(self, metric: str) -> tuple[int, dict]:
        from .counts import analytic_counts

        def cost(params: Mapping[str, Any]) -> int:
            return int(getattr(analytic_counts(self.config_from_params(params)), metric))

        p, per_block, coupled = {}, [], []
        for a in self.axes:
            numeric = [v for v in a.choices if v != "table"]
            p[a.name] = max(numeric) if numeric else a.choices[0]
            kind = a.name.split(".")[-1]
            if a.fixed:
                continue
            if kind == "ratio" or len(numeric) < len(a.choices):
                per_block.append(a)
            if self.family == "ghostnet" and kind in ("width", "out_mult", "depth", "kernel"):
                coupled.append(a)
        best = cost(p)
        for _ in range(8):
            changed = False
            for a in per_block + coupled:
                for v in a.choices:
                    if v != p[a.name]:
                        c = cost({**p, a.name: v})
                        if c > best:
                            p, best, changed = {**p, a.name: v}, c, True
            if not changed or not coupled:
                break
        return best, p

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
        params = {k: self._canonical(k, v) for k, v in params.items()}
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
            params[a.name] = a.choices[0] if a.fixed else self._suggest_axis(trial, a)
        return self.config_from_params(params)

    @staticmethod
    def _suggest_axis(trial: Any, a: Axis) -> Any:
        """``suggest_categorical`` over the merged choices; a study begun before the merge keeps the
        choices it started with (Optuna cannot change a categorical's choices within a study), and
        the value is then mapped to its kept equivalent by :meth:`config_from_params`."""
        try:
            return trial.suggest_categorical(a.name, list(a.choices))
        except ValueError as e:
            if not a.merged or "dynamic value space" not in str(e):
                raise
            return trial.suggest_categorical(a.name, list(a.written))

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
        """Human-readable listing of the effective axes (after ``extends`` and merging) and the cardinality."""
        lines = [f"space {self.name} (family {self.family}, {self.num_classes} classes)"]
        if self.extends:
            lines.append("extends " + " <- ".join(self.extends) + " (effective space shown)")
        if self.description:
            lines.append(self.description)
        width = max(len(a.name) for a in self.axes)
        for a in self.axes:
            tag = "fixed" if a.fixed else f"{len(a.choices)} choices"
            line = f"  {a.name:<{width}}  {tag:<11} {list(a.choices)}  default {self._default[a.name]!r}"
            if a.merged:
                line += "  (merged: " + ", ".join(f"{d!r} = {k!r}" for d, k in a.merged) + ": same network)"
            lines.append(line)
        searched = sum(not a.fixed for a in self.axes)
        card = self.cardinality
        lines.append(f"{len(self.axes)} axes ({searched} searched); cardinality {card:,} distinct architectures"
                     + (f" (≈1e{math.log10(card):.1f})" if card > 1 else ""))
        merged = self.merged
        if merged:
            lines.append(f"{len(merged)} axis/axes had choices that build the same network (merged, listed above); "
                         "cardinality counts each architecture once")
        return "\n".join(lines)

    def to_toml(self) -> str:
        """The effective space spec (``extends`` resolved, choices as written) as TOML text."""
        return _to_toml(self.spec)


# ---- extends ---------------------------------------------------------------------------------------


def _toml_value(v: Any) -> str:
    import json

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


def _to_toml(spec: Mapping[str, Any]) -> str:
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


def list_spaces() -> list[str]:
    """Names of the spaces shipped in the package (``ghostnas/space/spaces``)."""
    return sorted(p.stem for p in SPACE_DIR.glob("*.toml"))


def load_space(path_or_name: Union[str, Path], num_classes: Optional[int] = None) -> SearchSpace:
    """Load a space from a TOML file, or a shipped one by name (``ghostnet``, ``ghost_vgg16_cifar``...),
    with its ``extends`` chain resolved (``space.spec`` is the effective spec).

    Raises:
        ValueError: unknown name, missing file, malformed TOML, an ``extends`` cycle or unknown
            parent, or an invalid axis (named).
    """
    p = resolve_named(path_or_name, SPACE_DIR, "space", "space file")
    spec, parents = resolve_space_file(p)
    space = SearchSpace(spec, num_classes)
    space.extends = parents
    return space
