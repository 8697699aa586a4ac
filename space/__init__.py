"""Search spaces over Ghost architectures (data, loaded from TOML) and measurement.

Knows models, not training or Optuna internals (``suggest`` takes any object with
``suggest_categorical``). Modules: :mod:`.config` (``ArchConfig``, ``build_arch``,
``load_model_spec``), :mod:`.space` (search spaces), :mod:`.counts` (analytic params/MACs),
:mod:`.flops` (four FLOP counters side by side), :mod:`.latency` (timing, deploy latency),
:mod:`.tomlconfig` (TOML reading).
"""
from .config import ArchConfig, ModelSpec, build_arch, load_model_spec
from .counts import Counts, analytic_counts, built_counts, input_shape, resolve_config
from .flops import CounterResult, FlopReport, count_flops
from .latency import LatencyResult, measure_deploy_latency, measure_latency
from .space import SPACE_DIR, Axis, SearchSpace, list_spaces, load_space

__all__ = [
    "ArchConfig", "Axis", "CounterResult", "Counts", "FlopReport", "LatencyResult", "ModelSpec", "SPACE_DIR",
    "SearchSpace", "analytic_counts", "build_arch", "built_counts", "count_flops", "input_shape", "list_spaces",
    "load_model_spec", "load_space", "measure_deploy_latency", "measure_latency", "resolve_config",
]
