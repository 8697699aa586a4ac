# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Feature-map redundancy in a Ghost network
#
# capture → similarity → the paper's Figure 1 / Figure 4 → MSE versus d (paper Table 2).
#
# The defaults are tiny (a ¼-width Ghost-VGG-16, 16 images) so the notebook runs in seconds on a
# CPU; the test suite executes it top to bottom. Set `WEIGHTS` (a state dict of a
# `ghost_vgg16_cifar` model) and `WIDTH = 1.0` to analyse a trained model, as
# `experiments/results/similarity/` does through `ghostnas similarity`.

# %% tags=["parameters"]
import os
import tempfile

WEIGHTS = os.environ.get("GHOSTNAS_NB_WEIGHTS")      # None: random init (labelled "untrained")
WIDTH = float(os.environ.get("GHOSTNAS_NB_WIDTH", "0.25"))
N_IMAGES = 16
TOP_K = 3
THRESHOLD = 0.9
# CIFAR-10 test arrays (npz with x, y): GHOSTNAS_NB_DATA, else the shared copy beside the repository
# (`../shared/data/cifar10/test.npz` from the repository root, or from analysis/notebooks/).
CIFAR_NPZ = os.environ.get("GHOSTNAS_NB_DATA") or next(
    (p for p in ("../shared/data/cifar10/test.npz", "../../../shared/data/cifar10/test.npz") if os.path.isfile(p)),
    "../shared/data/cifar10/test.npz")
OUT = os.environ.get("GHOSTNAS_NB_OUT") or tempfile.mkdtemp(prefix="redundancy_nb_")

# %%
import numpy as np
import torch

from ghostnas.analysis import (PAPER_TABLE2_UNVERIFIED, capture_features, channel_cosine, cka_matrix,
                               mse_table_markdown, mse_vs_d, redundancy_summary, save_figure)
from ghostnas.analysis import figures as figs
from ghostnas.ghostnet import create_model, load_checkpoint

torch.manual_seed(0)
model = create_model("ghost_vgg16_cifar", ratio=2, dw_size=3, width=WIDTH)
label = "untrained"
if WEIGHTS:
    load_checkpoint(model, WEIGHTS)
    label = os.path.basename(WEIGHTS)
model.eval()

# Real CIFAR-10 images when the shared arrays are there, otherwise smooth random images.
if os.path.isfile(CIFAR_NPZ):
    x_u8 = torch.from_numpy(np.load(CIFAR_NPZ)["x"][:N_IMAGES]).permute(0, 3, 1, 2)
    data_name = "CIFAR-10"
else:
    g = torch.Generator().manual_seed(0)
    x_u8 = (torch.nn.functional.avg_pool2d(torch.rand(N_IMAGES, 3, 36, 36, generator=g), 5, 1) * 255).to(torch.uint8)
    data_name = "synthetic"
mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
x = (x_u8.float() / 255 - mean) / std
print(data_name, tuple(x.shape), label)

# %% [markdown]
# ## Capture
# `features.0` is the plain first conv; `features.1` (the network's 2nd conv layer) is the first
# Ghost module: its intrinsic and ghost maps are captured separately.

# %%
layers = ["features.0", "features.1", "features.3", "features.7"]
feats = capture_features(model, layers, x)
for name, lm in feats.items():
    print(name, tuple(lm.output.shape), "ghost" if lm.is_ghost else "plain",
          tuple(lm.intrinsic.shape) if lm.is_ghost else "")

# %% [markdown]
# ## Similarity and redundancy

# %%
ghost_layer = feats["features.1"]
sim = channel_cosine(ghost_layer.output)
summary = redundancy_summary(sim, THRESHOLD, TOP_K, layer="features.1")
print(f"{summary.fraction_redundant:.1%} of {summary.num_maps} maps have a partner with cosine ≥ {THRESHOLD}")
print("top pairs:", [(i, j, round(s, 3)) for i, j, s in summary.top_pairs])
m = ghost_layer.intrinsic.shape[1]
own = torch.stack([sim[j // (ghost_layer.ratio - 1), m + j] for j in range(ghost_layer.ghost.shape[1])])
print(f"cosine of each intrinsic map with its own ghost: mean {own.mean():.3f}, min {own.min():.3f}")

cka = cka_matrix({k: v.output for k, v in feats.items()}, "linear")
assert torch.allclose(torch.diag(cka), torch.ones(len(feats), dtype=torch.float64))
cka

# %% [markdown]
# ## Figures: paper Figure 1, Figure 4, heatmaps

# %%
tag = f"ghost_vgg16_cifar ×{WIDTH} ({label}), {data_name}"
paths = []
paths += save_figure(figs.plot_feature_grid(ghost_layer.output[0], summary.top_pairs, image=x_u8[0],
                                            title=f"features.1 maps, top-{TOP_K} similar pairs — {tag}"),
                     os.path.join(OUT, "fig1_features.1"))
paths += save_figure(figs.plot_ghost_maps(ghost_layer.intrinsic[0], ghost_layer.ghost[0], ghost_layer.ratio,
                                          image=x_u8[0], dw_size=ghost_layer.dw_size,
                                          title=f"features.1 intrinsic vs ghost — {tag}"),
                     os.path.join(OUT, "fig4_features.1"))
paths += save_figure(figs.plot_similarity_heatmap(sim, title=f"channel cosine, features.1 — {tag}",
                                                  vmin=-1.0 if sim.min() < 0 else 0.0),
                     os.path.join(OUT, "channel_cosine_features.1"))
paths += save_figure(figs.plot_similarity_heatmap(cka, list(feats), title=f"linear CKA — {tag}",
                                                  xlabel="layer", ylabel="layer", cbar_label="linear CKA"),
                     os.path.join(OUT, "cka_linear"))
assert all(os.path.getsize(p) > 0 for p in paths)
paths

# %% [markdown]
# ## MSE versus d (paper Table 2)
# For each top pair, one d×d filter is fitted by least squares (float64) to map the first map to
# the second over every position of the batch; the MSE cannot grow with d.
# The paper's rows are recalled values (UNVERIFIED) from a pretrained ResNet-50: the table lists
# them, labelled; the plot draws them only if you set `SHOW_UNVERIFIED_PAPER = True` (marked UNVERIFIED).

# %%
table = mse_vs_d(ghost_layer.output, [(i, j) for i, j, _ in summary.top_pairs], (1, 3, 5, 7))
assert (table.diff(axis=1).iloc[:, 1:] <= 1e-12).all().all()
SHOW_UNVERIFIED_PAPER = False
save_figure(figs.plot_mse_vs_d(table, PAPER_TABLE2_UNVERIFIED if SHOW_UNVERIFIED_PAPER else None,
                               title=f"MSE vs d — {tag}"), os.path.join(OUT, "mse_vs_d"))
print(mse_table_markdown(table))
