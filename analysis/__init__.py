"""Analysis: feature maps and their redundancy, study Pareto fronts, reports.

* Feature maps (paper issue 6): :func:`capture_features` (intrinsic and ghost maps of Ghost
  modules separately), channel cosine / MSE and linear / RBF / unbiased / minibatch CKA,
  :func:`redundancy_summary`, the paper's MSE-versus-d least-squares experiment
  (:func:`mse_vs_d`), and :func:`write_similarity_report` (``ghostnas similarity``).
* Studies: trained trials and fronts (:mod:`.fronts`), hypervolume (:mod:`.hypervolume`),
  parameter importances (:mod:`.importances`), figures (:mod:`.pareto_plots`),
  :func:`analyze_study` (``ghostnas pareto``) and :func:`write_report` (``ghostnas report``).
* Ablations: :func:`run_and_report` (``ghostnas ablate``), :func:`write_ablation_report`,
  :func:`write_budget_report`; their statistics in :mod:`.ablation_stats`; README blocks in
  :mod:`.results_readme`.
* The paper's reference numbers: :mod:`.paper`; figure style and saving: :mod:`.style`.

Import :mod:`ghostnas.analysis.figures` for the feature-map plots (it loads matplotlib).
"""
from .ablation_report import AblationOutcome, kendall_tau, run_and_report, write_ablation_report, write_budget_report
from .features import LayerMaps, capture_features, is_ghost_module, resolve_layers
from .fronts import front_indices, markdown_table, study_directions, study_objectives, trained_mask
from .hypervolume import Reference, hypervolume, hypervolume_history, reference_point
from .importances import IMPORTANCE_WARN_TRIALS, MIN_IMPORTANCE_TRIALS, param_importances
from .paper import PAPER_TABLE2_UNVERIFIED, paper_references, paper_rows, paper_table
from .pareto_plots import plot_front
from .redundancy import DEFAULT_DS, RedundancySummary, fit_depthwise_filter, mse_table_markdown, mse_vs_d, redundancy_summary
from .report import write_report
from .cka import (MinibatchCKA, center_gram, cka, cka_matrix, gram_linear, gram_rbf, hsic_biased, hsic_unbiased,
                  linear_cka, minibatch_cka, rbf_cka, unbiased_cka)
from .similarity import channel_cosine, channel_mse, channel_similarity, normalize_maps
from .similarity_report import SimilarityReport, load_model, write_similarity_report
from .study_analysis import AnalysisOptions, StudyAnalysis, analyze_study
from .style import OKABE_ITO, OKABE_ITO_CYCLE, save_figure

__all__ = [
    # feature maps, similarity, redundancy
    "DEFAULT_DS", "LayerMaps", "MinibatchCKA", "RedundancySummary", "capture_features", "center_gram",
    "channel_cosine", "channel_mse", "channel_similarity", "cka", "cka_matrix", "fit_depthwise_filter",
    "gram_linear", "gram_rbf", "hsic_biased", "hsic_unbiased", "is_ghost_module", "linear_cka", "minibatch_cka",
    "mse_table_markdown", "mse_vs_d", "normalize_maps", "rbf_cka", "redundancy_summary", "resolve_layers",
    "unbiased_cka", "SimilarityReport", "load_model", "write_similarity_report",
    # study analysis (Pareto fronts, hypervolume, importances, reports)
    "AnalysisOptions", "IMPORTANCE_WARN_TRIALS", "MIN_IMPORTANCE_TRIALS", "Reference", "StudyAnalysis",
    "analyze_study", "front_indices", "hypervolume", "hypervolume_history", "markdown_table", "param_importances",
    "plot_front", "reference_point",
    "study_directions", "study_objectives", "trained_mask", "write_report",
    # ablations
    "AblationOutcome", "kendall_tau", "run_and_report", "write_ablation_report", "write_budget_report",
    # the paper's numbers; figure style
    "PAPER_TABLE2_UNVERIFIED", "paper_references", "paper_rows", "paper_table",
    "OKABE_ITO", "OKABE_ITO_CYCLE", "save_figure",
]
