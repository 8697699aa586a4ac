"""Search spaces over Ghost architectures (data, loaded from TOML) and measurement.

Knows models, not training or Optuna internals (``suggest`` takes any object with
``suggest_categorical``).
"""
from .config import ArchConfig, build_model
from .space import SPACE_DIR, Axis, SearchSpace, list_spaces, load_space

__all__ = ["ArchConfig", "Axis", "SPACE_DIR", "SearchSpace", "build_model", "list_spaces", "load_space"]
