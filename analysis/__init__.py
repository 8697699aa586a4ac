"""Analysis: feature-map capture, channel similarity and CKA, redundancy, figures.

The feature-map half of issue 6: :func:`capture_features` (intrinsic and ghost maps of Ghost
modules separately), channel cosine / MSE and linear / RBF / unbiased / minibatch CKA,
:func:`redundancy_summary`, the paper's MSE-versus-d least-squares experiment
(:func:`mse_vs_d`), and the paper's Figure 1 / Figure 4, heatmaps and MSE plots.
Import :mod:`ghostnas.analysis.figures` for the plots (it loads matplotlib).
"""
from .features import LayerMaps, capture_features, is_ghost_module, layer_names, resolve_layers
from .redundancy import (DEFAULT_DS, PAPER_TABLE2_UNVERIFIED, RedundancySummary, fit_depthwise_filter,
                         layer_redundancy, mse_table_markdown, mse_vs_d, redundancy_summary)
from .pareto import (StudyAnalysis, analyze_study, hypervolume, hypervolume_history, paper_references,
                     param_importances, plot_front, reference_point)
from .report import write_report
from .similarity import (MinibatchCKA, center_gram, channel_cosine, channel_mse, channel_similarity, cka,
                         cka_matrix, gram_linear, gram_rbf, hsic_biased, hsic_unbiased, linear_cka,
                         minibatch_cka, normalize_maps, rbf_cka, unbiased_cka)

__all__ = [
    "DEFAULT_DS", "LayerMaps", "MinibatchCKA", "PAPER_TABLE2_UNVERIFIED", "RedundancySummary", "capture_features",
    "center_gram", "channel_cosine", "channel_mse", "channel_similarity", "cka", "cka_matrix",
    "fit_depthwise_filter", "gram_linear", "gram_rbf", "hsic_biased", "hsic_unbiased", "is_ghost_module",
    "layer_names", "layer_redundancy", "linear_cka", "minibatch_cka", "mse_table_markdown", "mse_vs_d",
    "normalize_maps", "rbf_cka", "redundancy_summary", "resolve_layers", "unbiased_cka",
    # study analysis (Pareto fronts, hypervolume, importances, reports)
    "StudyAnalysis", "analyze_study", "hypervolume", "hypervolume_history",
    "paper_references", "param_importances", "plot_front", "reference_point", "write_report",
]
