"""Progress displays (tqdm) for a terminal: shown when the stream is a TTY, silent otherwise.

:class:`TrainProgress` follows one training (``ghostnas train``): epoch, loss, accuracy, images/s
and ETA. The study's per-trial display is :class:`ghostnas.search.study._Progress`.
"""
from __future__ import annotations

import sys
from typing import Any, Optional

from tqdm import tqdm

__all__ = ["is_terminal", "progress_bar", "TrainProgress", "format_value"]


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is an interactive terminal (``isatty()`` true)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def progress_bar(total: int, desc: str, unit: str, stream: Any = None, initial: int = 0) -> tqdm:
    """A tqdm bar on ``stream`` (default stderr), disabled unless that stream is a terminal."""
    stream = stream if stream is not None else sys.stderr
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream, disable=not is_terminal(stream),
                dynamic_ncols=True, leave=True, mininterval=0.0, smoothing=0.3)


def format_value(name: str, value: Optional[float]) -> str:
    """An objective or measurement as people read it: accuracy ``0.9123``, MACs ``12.34M``,
    params ``1,234,567``, latency ``1.23 ms``."""
    if value is None:
        return "-"
    if name == "accuracy":
        return f"{value:.4f}"
    if name == "macs":
        return f"{value / 1e6:.2f}M"
    if name == "params":
        return f"{value:,.0f}"
    if name in ("latency", "latency_ms"):
        return f"{value:.2f} ms"
    return f"{value:.4g}"


class TrainProgress:
    """A ``train_proxy(progress=...)`` callback drawing one bar over the epochs.

    Args:
        epochs: Planned epochs.
        stream: Where to draw (default stderr); nothing is drawn unless it is a terminal.
        desc: The bar's label.
        acc_label: What the per-epoch accuracy is (``val acc``).
    """

    def __init__(self, epochs: int, stream: Any = None, desc: str = "train", acc_label: str = "val acc") -> None:
        self.bar = progress_bar(epochs, desc, "epoch", stream)
        self.acc_label = acc_label
        self.last_acc: Optional[float] = None

    @property
    def enabled(self) -> bool:
        return not self.bar.disable

    def __call__(self, info: dict[str, Any]) -> None:
        if info.get("accuracy") is not None:
            self.last_acc = info["accuracy"]
        parts = [f"loss {info['loss']:.4f}"]
        if self.last_acc is not None:
            parts.append(f"{self.acc_label} {self.last_acc:.4f}")
        if info.get("seconds"):
            parts.append(f"{info['images'] / info['seconds']:,.0f} img/s")
        self.bar.set_postfix_str(", ".join(parts), refresh=False)
        self.bar.update(1)

    def close(self, final: Optional[str] = None) -> None:
        """End the bar, with ``final`` (e.g. the test accuracy) as its last text."""
        if final:
            self.bar.set_postfix_str(final, refresh=False)
        self.bar.close()

    def __enter__(self) -> "TrainProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()
