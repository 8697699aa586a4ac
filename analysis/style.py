"""Figure style shared by every analysis plot: colour palette, colour maps, rc defaults, saving.

* :data:`OKABE_ITO`: the Okabe-Ito colours by name, distinguishable with the common colour-vision
  deficiencies; :data:`OKABE_ITO_CYCLE` the same colours ordered for contrast on white (yellow
  last), for series drawn one colour each.
* :data:`MAP_CMAP` / :data:`SIM_CMAP`: perceptually uniform, colour-blind-safe colour maps for
  feature maps and similarity matrices.
* :func:`pyplot` loads matplotlib with the non-interactive ``Agg`` backend and the rc defaults
  (:data:`RC_DEFAULTS`); :func:`save_figure` writes one figure in several formats without
  run-dependent metadata, so reruns give identical files.

matplotlib is imported only when a function here is called, so importing this module is cheap.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

__all__ = ["OKABE_ITO", "OKABE_ITO_CYCLE", "MAP_CMAP", "SIM_CMAP", "RC_DEFAULTS", "pyplot", "save_figure", "save_with_footer"]

OKABE_ITO: dict[str, str] = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00", "sky": "#56B4E9",
    "purple": "#CC79A7", "yellow": "#F0E442", "grey": "#999999", "black": "#000000"}

OKABE_ITO_CYCLE: tuple[str, ...] = tuple(OKABE_ITO[c] for c in (
    "vermillion", "blue", "green", "orange", "purple", "sky", "black", "yellow"))

MAP_CMAP = "cividis"
SIM_CMAP = "viridis"

# svg.hashsalt: stable element ids, so reruns give identical SVGs.
RC_DEFAULTS: dict[str, Any] = {"svg.hashsalt": "ghostnas"}

# Metadata that changes from run to run (or from one matplotlib to the next) is left out.
_METADATA = {"svg": {"Date": None}, "png": {"Software": None}}


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the ``Agg`` backend with :data:`RC_DEFAULTS` applied.

    Returns:
        The ``matplotlib.pyplot`` module.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(RC_DEFAULTS)
    return plt


def save_figure(fig: Any, path_stem: Union[str, os.PathLike], formats: Sequence[str] = ("png", "svg"), *,
                dpi: float = 130, bbox_inches: Optional[str] = "tight", close: bool = True) -> list[Path]:
    """Write ``fig`` as ``<path_stem>.<format>`` for each format, creating the folder if needed.

    Args:
        fig: A matplotlib ``Figure``.
        path_stem: Output path without extension; the extension is appended, not substituted, so
            stems with dots (``fig1_features.1``) are kept whole.
        formats: File formats (matplotlib names), written in this order.
        dpi: Resolution of raster formats.
        bbox_inches: ``"tight"`` crops to the drawn artists (text placed outside the axes
            included); ``None`` keeps the figure's own size.
        close: Close the figure afterwards (frees its memory).

    Returns:
        The written files, in the order of ``formats``.
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    pyplot()  # rc defaults (svg.hashsalt) must be in place when the file is written
    paths = []
    for ext in formats:
        path = stem.with_name(f"{stem.name}.{ext}")
        fig.savefig(path, dpi=dpi, bbox_inches=bbox_inches, metadata=_METADATA.get(ext))
        paths.append(path)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return paths


def save_with_footer(fig: Any, title: str, footer: str, path_stem: Union[str, os.PathLike],
                     missing_runs: Sequence[Any] = ()) -> list[Path]:
    """Give ``fig`` a title and a one-line footer (plus the count of missing runs), then save it.

    Args:
        fig: A matplotlib ``Figure`` (its axes are laid out to leave room for both lines).
        title: The figure's title.
        footer: The provenance line under the axes.
        path_stem: Output path without extension (see :func:`save_figure`).
        missing_runs: Runs the figure lacks; a non-empty list adds "N run(s) missing." to the footer.

    Returns:
        The written files.
    """
    if missing_runs:
        footer += f" {len(missing_runs)} run(s) missing."
    fig.suptitle(title, fontsize=11)
    fig.text(0.5, 0.015, footer, ha="center", fontsize=8, color="#333333")
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    return save_figure(fig, path_stem, dpi=130, bbox_inches=None)
