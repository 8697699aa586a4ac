"""Data, proxy training, Optuna studies and paper ablations over Ghost search spaces.

The main entry points are re-exported here; each lives in a module named for what it holds.
"""
from .ablate import AblationConfig, run_ablation
from .config import list_configs, load_config
from .data import ImageData, load_dataset, train_val_split
from .objective import prepare_data
from .readers import load_stored_config, pareto_trials, trials_frame
from .recovery import fail_stale, stale_trials
from .study import StudyFailing, open_study, run_worker
from .study_config import OBJECTIVES, PRUNERS, SAMPLERS, StudyConfig
from .train import Fidelity, TrainingDiverged, TrainResult, evaluate, train_proxy

__all__ = ["AblationConfig", "run_ablation", "list_configs", "load_config", "ImageData", "load_dataset",
           "train_val_split", "prepare_data", "load_stored_config", "pareto_trials", "trials_frame", "fail_stale",
           "stale_trials", "StudyFailing", "open_study", "run_worker", "OBJECTIVES", "PRUNERS", "SAMPLERS",
           "StudyConfig", "Fidelity", "TrainingDiverged", "TrainResult", "evaluate", "train_proxy"]
