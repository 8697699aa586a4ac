"""The GhostNet paper's reference numbers, in one place.

* ``analysis/data/paper_cifar.csv`` (paper Tables 3-5, CIFAR-10, via the Paperspace blog): read
  once by :func:`paper_table`; :func:`paper_rows` selects one table and architecture (ablation
  reports), :func:`paper_references` the hand-made models comparable with a search study
  (Pareto fronts).
* :data:`PAPER_TABLE2_UNVERIFIED`: the paper's Table 2 (MSE versus d of the least-squares filter),
  *recalled, not verified* against the PDF, from pretrained ImageNet ResNet-50 maps whose
  normalisation is not known; compare orders of magnitude and the trend with d, not digits.

**Comparable references for a study**: the paper's hand-made CIFAR-10 models (VGG-16 / ResNet-56
and their Ghost versions) are returned only for a CIFAR-10 study at 32x32 pixels; for any other
study the note says that no comparable hand-made reference exists. The paper's numbers are test
accuracy after full training, a study's are proxy validation accuracy: comparable in kind, not in
training budget.
"""
from __future__ import annotations

import csv
import functools
import io
from importlib import resources
from typing import Any, Optional, Sequence

import pandas as pd

__all__ = ["PAPER_CSV", "PAPER_TABLE2_UNVERIFIED", "paper_table", "paper_rows", "paper_references"]

PAPER_CSV = "data/paper_cifar.csv"  # package resource of ghostnas.analysis

# GhostNet paper Table 2 (MSE of the red/green/blue pairs of Figure 1 for d = 1, 3, 5, 7).
# [recalled — UNVERIFIED]: no copy of the paper's Table 2 was available to check these values against.
PAPER_TABLE2_UNVERIFIED = pd.DataFrame(
    {1: [4.0e-3, 25.0e-3, 12.1e-3], 3: [3.3e-3, 24.3e-3, 11.2e-3],
     5: [3.3e-3, 24.1e-3, 11.1e-3], 7: [3.2e-3, 23.9e-3, 11.0e-3]},
    index=pd.Index(["paper red pair (UNVERIFIED)", "paper green pair (UNVERIFIED)",
                    "paper blue pair (UNVERIFIED)"], name="pair"))
PAPER_TABLE2_UNVERIFIED.columns.name = "d"


def _int_or_none(text: str) -> Optional[int]:
    return int(text) if text else None


@functools.lru_cache(maxsize=1)
def _read_table() -> tuple[dict[str, Any], ...]:
    text = resources.files(__package__).joinpath(PAPER_CSV).read_text(encoding="utf-8")
    return tuple({"table": int(r["table"]), "model": r["model"], "arch": r["arch"],
                  "ratio": _int_or_none(r["ratio"]), "dw_size": _int_or_none(r["dw_size"]),
                  "params_m": float(r["params_m"]), "flops_m": float(r["flops_m"]), "acc": float(r["acc"]),
                  "source": r["source"]} for r in csv.DictReader(io.StringIO(text)))


def paper_table() -> list[dict[str, Any]]:
    """Every row of ``analysis/data/paper_cifar.csv``, typed.

    Returns:
        One dict per row, in file order: ``table`` (int), ``model``, ``arch``, ``ratio`` and
        ``dw_size`` (int, None for a plain baseline), ``params_m``, ``flops_m``, ``acc`` (percent;
        floats) and ``source``. The dicts are fresh copies.
    """
    return [dict(r) for r in _read_table()]


def paper_rows(table: Optional[int], arch: str) -> list[dict[str, Any]]:
    """The paper's rows of one table for one architecture (ablation reports).

    Args:
        table: Paper table number (3, 4 or 5); None gives no rows.
        arch: ``vgg16`` or ``resnet56``.

    Returns:
        ``{"model", "ratio", "dw_size", "params_m", "flops_m", "acc", "source"}`` per row, in file
        order.
    """
    if table is None:
        return []
    keys = ("model", "ratio", "dw_size", "params_m", "flops_m", "acc", "source")
    return [{k: r[k] for k in keys} for r in paper_table() if r["table"] == int(table) and r["arch"] == arch]


def _is_cifar10(dataset: str) -> bool:
    d = dataset.lower().replace("-", "").replace("_", "")
    return "cifar10" in d and "cifar100" not in d


def paper_references(dataset: str, resolutions: Optional[Sequence[Any]]) -> tuple[list[dict], str]:
    """The paper's hand-made models comparable with a study, and a note saying which (or why none).

    Args:
        dataset: The study's dataset spec (``cifar10``, ``npz:.../cifar10/train.npz``, ``digits``...).
        resolutions: The study's input resolutions, or None when unknown.

    Returns:
        ``(references, note)``. For CIFAR-10 data at 32x32 pixels the references are the
        baselines and Ghost versions with d=3 (paper Tables 4-5), each
        ``{"label", "macs", "params", "accuracy", "table"}`` (accuracy as a fraction, ``table``
        as text); otherwise the list is empty and the note says why.
    """
    res_ok = resolutions is not None and all(str(r) == "32" for r in resolutions)
    if not (_is_cifar10(dataset) and res_ok):
        res_txt = "/".join(str(r) for r in resolutions) if resolutions else "unknown"
        return [], (f"No comparable hand-made reference: the study uses {dataset} at {res_txt} px; the paper's "
                    "hand-made models were measured on CIFAR-10 (32 px) and ImageNet (224 px).")
    refs, seen = [], set()
    for row in paper_table():
        if row["dw_size"] not in (None, 3) or row["model"] in seen:
            continue
        seen.add(row["model"])
        refs.append({"label": row["model"].replace(" d=3", ""), "macs": row["flops_m"] * 1e6,
                     "params": row["params_m"] * 1e6, "accuracy": row["acc"] / 100.0, "table": str(row["table"])})
    return refs, ("Stars: the paper's hand-made CIFAR-10 models (Tables 4-5, d=3; test accuracy after full "
                  "training; an arrow at the edge points to those beyond the axes), study points are proxy "
                  "validation accuracy.")
