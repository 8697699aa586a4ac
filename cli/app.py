"""The ``ghostnas`` command line.

Each group of subcommands lives in its own module with a ``register(subparsers)`` function;
:data:`COMMAND_MODULES` lists them. A subcommand handler returns an exit status (or None for 0)
and reports bad input by raising ``ValueError`` (or a subclass) with a one-line message: the CLI
prints ``ghostnas: error: <message>`` and exits with status 2, without a traceback
(set ``GHOSTNAS_DEBUG=1`` to see one).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional, Sequence

# libgomp's default spin-waiting makes torch's OpenMP barriers stall for whole scheduler slices when
# the cores are shared (other trials, workers, jobs): a 2-thread GhostNet step was measured >100x
# slower. Passive waiting costs nothing measurable when the machine is idle. Must precede torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

COMMAND_MODULES = [
    "ghostnas.cli.models",
    "ghostnas.cli.ablate",
    "ghostnas.cli.space",
    "ghostnas.cli.search",
    "ghostnas.cli.results",
    "ghostnas.cli.train",
    "ghostnas.cli.profile",
    "ghostnas.cli.latency",
    "ghostnas.cli.similarity",
    "ghostnas.cli.redundancy",
    "ghostnas.cli.analysis",
    "ghostnas.cli.fidelity",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2, like every other bad input
        self.exit(2, f"ghostnas: error: {message}\n")


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("ghostnas")
    except Exception:  # noqa: BLE001 - running from a source tree without metadata
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ghostnas", description="GhostNet architecture search, ablations and analysis.")
    parser.add_argument("--version", action="version", version=f"ghostnas {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return " ".join(text.split())


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("ghostnas: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as e:
        if os.environ.get("GHOSTNAS_DEBUG"):
            raise
        print(f"ghostnas: error: {_one_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
