"""Fidelity-ladder configs: the validated form of a ladder TOML (see :mod:`ghostnas.search.ladder`).

Every problem raises a one-line :class:`~ghostnas.search.config.ConfigError` naming the key.
"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from ghostnas.ghostnet import default_resolution
from ghostnas.space import ArchConfig, SearchSpace, load_space

from .config import ConfigError, check_keys, config_path, load_config
from .runs import resolve_model
from .train import Fidelity
from .zero_cost import PROXIES

__all__ = ["Rung", "LadderConfig", "load_ladder_config"]

_TOP = {"name", "description", "space", "space_overrides", "n_archs", "sample_seed", "archs", "data", "fidelity",
        "ladder", "proxies", "run", "output"}
_DATA = {"dataset", "data_dir", "download", "split_seed"}
_LADDER = {"epochs", "fraction", "seeds", "top_seeds"}
_PROXIES = {"names", "batch_size", "seed"}
_RUN = {"device", "threads"}
_OUTPUT = {"dir", "runs_dir"}
_RUNG_KEYS = ("epochs", "fraction", "eval_every")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int_list(v: Any, key: str, minimum: int = 0) -> tuple[int, ...]:
    if not isinstance(v, list) or not v or not all(_is_int(s) and s >= minimum for s in v):
        raise ConfigError(f"ladder config: {key} must be a non-empty list of integers >= {minimum}, got {v!r}")
    if len(set(v)) != len(v):
        raise ConfigError(f"ladder config: {key} has duplicates: {v!r}")
    return tuple(v)


@dataclass(frozen=True)
class Rung:
    """One budget of the ladder: ``epochs`` over a ``fraction`` of the training part."""

    epochs: int
    fraction: float

    @property
    def budget(self) -> float:
        """Epoch-equivalents of the full training part (epochs × fraction)."""
        return self.epochs * self.fraction

    @property
    def label(self) -> str:
        ep = f"{self.epochs} ep"
        return ep if self.fraction == 1.0 else f"{ep} × {self.fraction:g} data"

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "fraction": self.fraction}


@dataclass(frozen=True)
class LadderConfig:
    """A validated ladder config (see the module docs). ``raw`` keeps the resolved TOML dict."""

    name: str
    description: str
    space_label: str
    space_spec: Optional[dict]
    n_archs: int
    sample_seed: int
    explicit_archs: Optional[tuple[ArchConfig, ...]]
    data: dict
    split_seed: int
    recipe: dict
    rungs: tuple[Rung, ...]
    seeds: tuple[int, ...]
    top_seeds: tuple[int, ...]
    proxy_names: tuple[str, ...]
    proxy_batch: int
    proxy_seed: int
    device: str
    threads: Optional[int]
    out_dir: Path
    runs_dir: Path
    raw: dict = field(compare=False, repr=False)

    @property
    def top(self) -> Rung:
        """The reference rung (the largest budget)."""
        return self.rungs[-1]

    def rung_seeds(self, index: int) -> tuple[int, ...]:
        """Seeds trained at rung ``index`` (the top rung has its own)."""
        return self.top_seeds if index == len(self.rungs) - 1 else self.seeds

    def fidelity(self, rung: Rung, resolution: Optional[int] = None) -> Fidelity:
        """The rung's training recipe: validated once at the end (``eval_every = epochs``)."""
        d = {**self.recipe, "epochs": rung.epochs, "fraction": rung.fraction, "eval_every": rung.epochs}
        if resolution is not None and d.get("resolution") is None:
            d["resolution"] = resolution
        return Fidelity.from_dict(d)

    def space(self, num_classes: Optional[int] = None) -> Optional[SearchSpace]:
        return None if self.space_spec is None else SearchSpace(copy.deepcopy(self.space_spec), num_classes)

    def architectures(self, num_classes: Optional[int] = None) -> list[ArchConfig]:
        """The ladder's architectures: the explicit list, or ``n_archs`` distinct seeded samples.

        Raises:
            ConfigError: the space has fewer distinct architectures than ``n_archs``, or an explicit
                architecture's class count differs from ``num_classes``.
        """
        if self.explicit_archs is not None:
            archs = list(self.explicit_archs)
            for i, a in enumerate(archs):
                if num_classes is not None and a.model.num_classes != num_classes:
                    raise ConfigError(f"ladder config: archs[{i}] has {a.model.num_classes} classes but the "
                                      f"dataset {self.data['dataset']} has {num_classes}")
            return archs
        sp = self.space(num_classes)
        rng = random.Random(self.sample_seed)
        out: dict[str, ArchConfig] = {}
        for _ in range(200 * self.n_archs):
            a = sp.sample(rng)
            out.setdefault(a.id, a)
            if len(out) == self.n_archs:
                return list(out.values())
        raise ConfigError(f"ladder config: n_archs = {self.n_archs} but space {self.space_label} gave only "
                          f"{len(out)} distinct architectures in {200 * self.n_archs} draws")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "space": self.space_label, "n_archs": self.n_archs, "sample_seed": self.sample_seed,
                "data": self.data, "split_seed": self.split_seed, "recipe": self.recipe,
                "rungs": [r.to_dict() for r in self.rungs], "seeds": list(self.seeds),
                "top_seeds": list(self.top_seeds), "proxies": {"names": list(self.proxy_names),
                                                               "batch_size": self.proxy_batch, "seed": self.proxy_seed},
                "device": self.device, "threads": self.threads}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base_dir: Path = Path("."), out: Optional[str | Path] = None
                  ) -> "LadderConfig":
        """Validate a ladder config dict (one-line ConfigError naming the key on any problem).

        Args:
            raw: The parsed TOML (after ``--set`` overrides).
            base_dir: Folder of the config file: relative ``space`` / ``archs`` paths that do not
                exist from the working directory are looked up there.
            out: Output folder (overrides ``[output] dir``).
        """
        check_keys(raw, _TOP, "the ladder config")
        name = raw.get("name", "fidelity")
        if not isinstance(name, str) or not name:
            raise ConfigError("ladder config: name must be a non-empty string")
        sample_seed = raw.get("sample_seed", 0)
        if not _is_int(sample_seed):
            raise ConfigError(f"ladder config: sample_seed must be an integer, got {sample_seed!r}")

        space_spec, space_label, explicit, n_archs = _architectures(raw, base_dir)

        # --- data
        data = dict(raw.get("data", {}))
        check_keys(data, _DATA, "[data]")
        if not isinstance(data.get("dataset"), str) or not data["dataset"]:
            raise ConfigError("ladder config: [data] dataset must be a dataset name, e.g. \"digits\" or \"npz:PATH\"")
        split_seed = data.pop("split_seed", 0)
        if not _is_int(split_seed):
            raise ConfigError(f"ladder config: [data] split_seed must be an integer, got {split_seed!r}")

        recipe, rungs, seeds, top_seeds = _recipe_and_rungs(raw)
        names, pbatch, pseed = _proxy_options(raw)
        run = dict(raw.get("run", {}))
        check_keys(run, _RUN, "[run]")
        device = run.get("device", "cpu")
        if not isinstance(device, str) or not (device in ("auto", "cpu") or device.startswith("cuda")):
            raise ConfigError(f"ladder config: [run] device {device!r} is not allowed; expected auto, cpu or cuda")
        threads = run.get("threads", 1)
        if threads is not None and (not _is_int(threads) or threads < 1):
            raise ConfigError(f"ladder config: [run] threads must be an integer >= 1, got {threads!r}")
        output = dict(raw.get("output", {}))
        check_keys(output, _OUTPUT, "[output]")
        out_dir = Path(out) if out is not None else Path(output.get("dir", f"experiments/results/{name}"))
        runs_dir = Path(output["runs_dir"]) if "runs_dir" in output else out_dir / "runs"
        return cls(name=name, description=str(raw.get("description", "")), space_label=space_label,
                   space_spec=space_spec, n_archs=n_archs, sample_seed=sample_seed, explicit_archs=explicit,
                   data=data, split_seed=split_seed, recipe=recipe, rungs=rungs, seeds=seeds, top_seeds=top_seeds,
                   proxy_names=tuple(names), proxy_batch=pbatch, proxy_seed=pseed, device=device,
                   threads=threads, out_dir=out_dir, runs_dir=runs_dir, raw=raw)


def _architectures(raw: dict[str, Any], base_dir: Path) -> tuple[Any, str, Any, int]:
    """``(space_spec, space_label, explicit archs or None, n_archs)``: a space to sample from, or an explicit list."""
    archs_raw = raw.get("archs")
    overrides = raw.get("space_overrides", {})
    if not isinstance(overrides, dict):
        raise ConfigError("ladder config: [space_overrides] must be a table")
    space_spec, space_label, explicit = None, "explicit list", None
    if "space" in raw:
        space_spec, space_label = _resolve_space(raw["space"], overrides, base_dir)
    elif overrides:
        raise ConfigError("ladder config: [space_overrides] needs a 'space'")
    if archs_raw is not None:
        if not isinstance(archs_raw, list) or len(archs_raw) < 3:
            raise ConfigError("ladder config: archs must be a list of at least 3 architecture JSON dicts or files")
        explicit = tuple(_resolve_arch(a, i, base_dir) for i, a in enumerate(archs_raw))
        ids = [a.id for a in explicit]
        if len(set(ids)) != len(ids):
            raise ConfigError("ladder config: archs has duplicate architectures")
        n_archs = len(explicit)
        if "n_archs" in raw and raw["n_archs"] != n_archs:
            raise ConfigError(f"ladder config: n_archs = {raw['n_archs']!r} but archs lists {n_archs} "
                              "architectures; drop n_archs")
        if space_spec is None:
            space_label = f"explicit list ({n_archs} architectures)"
    else:
        if space_spec is None:
            raise ConfigError("ladder config: missing key 'space' (a shipped space name or a .toml path), "
                              "or give 'archs'")
        n_archs = raw.get("n_archs", 24)
        if not _is_int(n_archs) or n_archs < 3:
            raise ConfigError(f"ladder config: n_archs must be an integer >= 3, got {n_archs!r}")
    return space_spec, space_label, explicit, n_archs


def _recipe_and_rungs(raw: dict[str, Any]) -> tuple[dict[str, Any], tuple, tuple, tuple]:
    """``(recipe, rungs, seeds, top_seeds)`` from ``[fidelity]`` and ``[ladder]``."""
    recipe = dict(raw.get("fidelity", {}))
    if not isinstance(recipe, dict):
        raise ConfigError("ladder config: [fidelity] must be a table")
    for k in _RUNG_KEYS:
        if k in recipe:
            raise ConfigError(f"ladder config: [fidelity] {k}: the ladder sets it per rung; "
                              f"give the budgets in [ladder] epochs / fraction")
    if recipe.get("width", 1.0) != 1.0:
        raise ConfigError("ladder config: [fidelity] width: the ladder trains architectures as sampled; "
                          "set the width in [space_overrides] width")
    try:
        Fidelity.from_dict({**recipe, "epochs": 1})
    except ValueError as e:
        raise ConfigError(f"ladder config: [fidelity] {e}") from None
    lad = raw.get("ladder")
    if not isinstance(lad, dict):
        raise ConfigError("ladder config: missing table [ladder] (epochs = [1, 2, 4], ...)")
    check_keys(lad, _LADDER, "[ladder]")
    epochs = lad.get("epochs")
    if not isinstance(epochs, list) or len(epochs) < 2 or not all(_is_int(e) and e >= 1 for e in epochs):
        raise ConfigError(f"ladder config: [ladder] epochs must be a list of at least 2 integers >= 1, "
                          f"got {epochs!r}")
    fr = lad.get("fraction", 1.0)
    fractions = fr if isinstance(fr, list) else [fr] * len(epochs)
    if len(fractions) != len(epochs):
        raise ConfigError(f"ladder config: [ladder] fraction has {len(fractions)} values for "
                          f"{len(epochs)} rungs; give one per rung or a single number")
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
            raise ConfigError(f"ladder config: [ladder] fraction {f!r} is not allowed; expected a number in (0, 1]")
    rungs = tuple(Rung(int(e), float(f)) for e, f in zip(epochs, fractions))
    for i in range(1, len(rungs)):
        if not rungs[i].budget > rungs[i - 1].budget:
            raise ConfigError(f"ladder config: [ladder] rungs must grow in budget (epochs × fraction): "
                              f"rung {i + 1} ({rungs[i].label}) is not above rung {i} ({rungs[i - 1].label})")
    seeds = _int_list(lad.get("seeds", [0]), "[ladder] seeds")
    top_seeds = _int_list(lad.get("top_seeds", list(seeds)), "[ladder] top_seeds")
    return recipe, rungs, seeds, top_seeds


def _proxy_options(raw: dict[str, Any]) -> tuple[list, int, int]:
    """``(names, batch_size, seed)`` of ``[proxies]``."""
    prox = dict(raw.get("proxies", {}))
    check_keys(prox, _PROXIES, "[proxies]")
    names = prox.get("names", list(PROXIES))
    if not isinstance(names, list) or any(n not in PROXIES for n in names) or len(set(names)) != len(names):
        raise ConfigError(f"ladder config: [proxies] names must be distinct names from {', '.join(PROXIES)}, "
                          f"got {names!r}")
    pbatch = prox.get("batch_size", 64)
    if not _is_int(pbatch) or pbatch < 2:
        raise ConfigError(f"ladder config: [proxies] batch_size must be an integer >= 2, got {pbatch!r}")
    pseed = prox.get("seed", 0)
    if not _is_int(pseed):
        raise ConfigError(f"ladder config: [proxies] seed must be an integer, got {pseed!r}")
    return names, pbatch, pseed


def _local(p: Path, base_dir: Path) -> Path:
    return p if p.is_absolute() or p.exists() or not (base_dir / p).exists() else base_dir / p


def _resolve_space(ref: Any, overrides: dict, base_dir: Path) -> tuple[dict, str]:
    if not isinstance(ref, str) or not ref:
        raise ConfigError(f"ladder config: space must be a shipped space name or a .toml path, got {ref!r}")
    p = Path(ref)
    target: str | Path = _local(p, base_dir) if p.suffix else ref
    try:
        spec = copy.deepcopy(load_space(target).spec)
    except ValueError as e:
        raise ConfigError(f"ladder config: space: {e}") from None
    label = spec.get("name", p.stem)
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(spec.get(k), dict):
            spec[k] = {**spec[k], **v}
        else:
            spec[k] = v
    try:
        SearchSpace(copy.deepcopy(spec))  # validate now: nothing half-run on a bad axis
    except ValueError as e:
        raise ConfigError(f"ladder config: [space_overrides]: {e}" if overrides else f"ladder config: {e}") from None
    return spec, label


def _resolve_arch(item: Any, i: int, base_dir: Path) -> ArchConfig:
    where = f"ladder config: archs[{i}]"
    if isinstance(item, str):
        # Any file the other commands take: `ghostnas export` output, a model config JSON (at its
        # default resolution) or a `ghostnas train` run folder (its architecture).
        path = _local(Path(item), base_dir)
        if not path.exists():
            raise ConfigError(f"{where}: {item}: cannot be read (no such file or folder)")
        try:
            spec = resolve_model(str(path))
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
        return ArchConfig(spec.config, spec.resolution or default_resolution(spec.config))
    if isinstance(item, dict):
        data = item
    else:
        raise ConfigError(f"{where}: expected an architecture JSON dict or a .json file path, got {item!r}")
    try:
        return ArchConfig.from_dict(copy.deepcopy(data))
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from None


def load_ladder_config(path_or_name: str | Path, overrides: Iterable[str] = (), out: Optional[str | Path] = None
                       ) -> LadderConfig:
    """Read and validate a ladder config by path or shipped name (``fidelity_quickstart``)."""
    path = config_path(path_or_name)
    return LadderConfig.from_dict(load_config(path, overrides), base_dir=path.parent, out=out)
