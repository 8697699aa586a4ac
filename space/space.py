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

import itertools
import math
import random
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from ghostnas.ghostnet import (GHOSTNET_STAGES, BlockSpec, CifarNetConfig, GhostNetConfig, cifar_conv_layers,
                               default_resolution)

from .config import ArchConfig
from .equivalence import costliest, distinct_count, merge_equivalent
from .spec import (SPACE_DIR, STAGE_AXES, Axis, _base_rows, _check_keys, _check_value, _choices, _err, _is_int,
                   resolve_extends, resolve_space_file, spec_to_toml)
from .tomlconfig import resolve_named

__all__ = ["SearchSpace", "Axis", "load_space", "SPACE_DIR", "list_spaces", "resolve_extends", "resolve_space_file"]

_STAGE_AXES = STAGE_AXES
_GHOST_TOP = {"family", "name", "description", "num_classes", "global", "defaults", "default", "stages"}
_GHOST_GLOBAL = {"width", "resolution", "dropout", "version"}
_CIFAR_TOP = {"family", "name", "description", "num_classes", "arch", "ratio", "dw_size", "granularity",
              "width", "resolution", "default"}


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
        merge_equivalent(self, self._merge)

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

    # ---- equivalent choices (ghostnas.space.equivalence) ---------------------------------------
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
        """Number of distinct architectures (model config + resolution): equivalent choices count
        once, per-block axes only for the blocks a stage's depth builds
        (:func:`~ghostnas.space.equivalence.distinct_count`)."""
        return distinct_count(self)

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
        """The largest analytic ``metric`` (``"macs"`` or ``"params"``, at this space's
        ``num_classes``) of an architecture of the space, cached: the costliest corner improved one
        axis at a time (:func:`~ghostnas.space.equivalence.costliest`). The fixed hypervolume
        reference of MACs / params objectives (:mod:`ghostnas.analysis.hypervolume`).
        """
        cache = self.__dict__.setdefault("_max_cost", {})
        if metric not in cache:
            cache[metric] = costliest(self, metric)
        return cache[metric][0]

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
        return spec_to_toml(self.spec)


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
