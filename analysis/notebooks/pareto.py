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
# # Pareto analysis of an architecture-search study
#
# load a study → trial table → Pareto front (with the paper's models when comparable) →
# hypervolume history → parameter importances.
#
# The defaults read the quick start's study (`ghostnas search --config quickstart`
# writes `runs/quickstart/study.journal`). The test suite executes this notebook top to bottom on a
# tiny study it makes itself, passing `GHOSTNAS_NB_STORAGE` / `GHOSTNAS_NB_STUDY` /
# `GHOSTNAS_NB_OUT`. `ghostnas pareto` and `ghostnas report` make the same figures from the
# command line.

# %% tags=["parameters"]
import os
import tempfile

# default: the quick start's journal, from the repository root or from analysis/notebooks/
_default = next((p for p in ("runs/quickstart/study.journal", "../../runs/quickstart/study.journal")
                 if os.path.isfile(p)), "runs/quickstart/study.journal")
STORAGE = os.environ.get("GHOSTNAS_NB_STORAGE", _default)
STUDY = os.environ.get("GHOSTNAS_NB_STUDY", "quickstart")
OUT = os.environ.get("GHOSTNAS_NB_OUT") or tempfile.mkdtemp(prefix="pareto_nb_")

# %%
import pandas as pd

from ghostnas.analysis import (hypervolume_history, paper_references, param_importances, plot_front,
                               reference_point, study_directions, study_objectives, trained_mask)
from ghostnas.search.readers import open_existing_study, pareto_trials, trials_frame

if not os.path.exists(STORAGE.removeprefix("journal:")) and "://" not in STORAGE:
    raise FileNotFoundError(f"{STORAGE} not found: run `ghostnas search --config quickstart` "
                            "first, or set GHOSTNAS_NB_STORAGE / GHOSTNAS_NB_STUDY")
study = open_existing_study(STORAGE, STUDY)
objectives = study_objectives(study)
directions = study_directions(study)
cfg = study.user_attrs.get("ghostnas_config", {})
print(f"study {STUDY}: objectives {list(zip(objectives, directions))}, sampler {cfg.get('sampler')}, "
      f"{len(study.trials)} trials")

# %% [markdown]
# ## Trial table
# Rejected trials (over the analytic budget) were never trained: their accuracy of 0 is a
# placeholder. Reused trials repeat an earlier trial's architecture and values.

# %%
df = trials_frame(study)
print(df["state"].value_counts().to_dict(), "| trained:", int(trained_mask(df).sum()))
cols = ["number", "state", *objectives] + [c for c in ("macs", "params", "latency_ms") if c not in objectives]
df[cols + ["feasible", "rejected", "arch_id"]]

# %% [markdown]
# ## Pareto front
# Pareto-optimal trials are Optuna's `best_trials` (feasible, non-dominated in all objectives),
# without reused architectures. The paper's hand-made CIFAR-10 models are drawn only when the
# study is comparable (CIFAR-10 at 32 px).

# %%
front = pareto_trials(study)
pareto = pd.DataFrame([{"number": t.number, **dict(zip(objectives, t.values)), "arch_id": t.user_attrs.get("arch_id")}
                       for t in front])
data = cfg.get("data", {}).get("dataset", "unknown")
res = cfg.get("space", {}).get("global", {}).get("resolution") if isinstance(cfg.get("space"), dict) else None
refs, ref_note = paper_references(data, None if res is None else (res if isinstance(res, list) else [res]))
print(ref_note)
# The study's own trials fill the axes; paper models beyond them are arrows at the edge.
files = plot_front(df, os.path.join(OUT, "front_macs"), x="macs", y="accuracy", references=refs,
                   budget=cfg.get("constraints", {}).get("macs_max"), note=ref_note,
                   title=f"{STUDY}: accuracy vs MACs ({data})")
print("Pareto-optimal trials:", list(pareto["number"]) if len(pareto) else [])
pareto

# %%
from IPython.display import Image, display

display(Image(filename=str(files[0])))

# %% [markdown]
# ## Hypervolume history
# The reference point is fixed, never taken from the trials: the study config's `[pareto] reference`,
# else its constraints (accuracy 0), else the search space's analytic maximum MACs / params
# (latency needs `[pareto] reference`). Accuracy enters as (1 − acc) / (1 − ref) and costs divided by
# their reference, so the hypervolume is a fraction of that box (0 to 1) and studies with the same
# reference compare.

# %%
if len(objectives) >= 2:
    ref = reference_point(objectives, cfg)
    numbers, hv, _ = hypervolume_history(df, objectives, directions, ref)
    assert all(b >= a - 1e-12 for a, b in zip(hv, hv[1:])), "hypervolume never decreases"
    print("reference point:", ref.text())
    print(pd.DataFrame({"trial": numbers, "hypervolume": hv}).tail().to_string(index=False))
else:
    print("one objective: no hypervolume")

# %% [markdown]
# ## Parameter importances
# Optuna's fANOVA, one target per objective, on the trained feasible trials, as mean ± sd over
# bootstrap resamples of the trials; below 20 trials they carry a warning, below 5 a note says
# why there are none.

# %%
imps = param_importances(study, objectives)
for o, r in imps.items():
    if "importances" in r:
        top = list(r["importances"])[:5]
        print(f"{o}: " + ", ".join(f"{k} {r['importances'][k]:.2f} ± {r['sd'][k]:.2f}" for k in top)
              + (f"  [{r['warning']}]" if "warning" in r else ""))
    else:
        print(f"{o}: {r['note']}")
