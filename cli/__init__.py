"""The ``ghostnas`` command line: one module per command or small group of commands.

Each command module parses its arguments, makes one call into the library
(:mod:`ghostnas.ghostnet`, :mod:`ghostnas.space`, :mod:`ghostnas.search`, :mod:`ghostnas.analysis`)
and prints the result. :func:`main` is the console entry point.
"""
from .app import build_parser, main

__all__ = ["main", "build_parser"]
