"""``ghostnas latency``: the per-layer latency predictor (``ghostnas.space.latency_predictor``).

* ``build-table --space S --backend B [--samples N]`` -- measure every distinct layer of N sampled
  architectures of space S (its default point first) on backend B, fully measure a few of them to fit
  the correction, and cache the table (``$GHOSTNAS_CACHE/latency/``, default
  ``~/.cache/ghostnas/latency/``; one file per backend, version, threads, precision, clock and CPU).
* ``predict NAME_OR_JSON --backend B`` -- predicted batch-1 latency of a registry model or an
  architecture / model JSON (``ghostnas export`` output) from that table; layers missing from the
  table are measured now and added (``--no-measure``: fail instead).

The backend defaults to onnxruntime where it is installed, else torch (as for new studies).
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default=None, metavar="NAME",
                   help="torch, onnxruntime or openvino (default: onnxruntime if installed, else torch)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    p.add_argument("--precision", default="f32", metavar="P", help="f32 (default) or bf16 (openvino)")
    p.add_argument("--clock", default="wall", metavar="C",
                   help="wall (default) or cpu (process CPU time, one thread; steadier on a shared CPU)")
    p.add_argument("--json", action="store_true", help="print JSON")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("latency", help="per-layer latency tables and predictions for search",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    lsub = p.add_subparsers(dest="latency_command", metavar="SUBCOMMAND", parser_class=type(p))
    b = lsub.add_parser("build-table", help="measure the layers of a space into the cached table")
    b.add_argument("--space", required=True, help="shipped space name or space TOML path")
    b.add_argument("--samples", type=int, default=20, help="architectures sampled (default 20)")
    b.add_argument("--calibrate", type=int, default=8,
                   help="of them, networks measured whole to fit the correction (default 8)")
    b.add_argument("--resolution", type=int, default=None, help="override the samples' resolution")
    b.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    _common(b)
    b.set_defaults(func=run_build)
    q = lsub.add_parser("predict", help="predicted latency of a model from the cached table")
    q.add_argument("target", metavar="NAME_OR_JSON", help="registry model name or architecture/model JSON")
    q.add_argument("--input", type=int, default=None, metavar="N", help="input side (default: the JSON's or 224/32)")
    q.add_argument("--space", default=None, help="use this space's calibration (default: the model family's)")
    q.add_argument("--no-measure", action="store_true", help="fail if a layer is not in the table")
    _common(q)
    q.set_defaults(func=run_predict)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _check(args: argparse.Namespace) -> str:
    from ghostnas.space.backends import check_backend, default_backend

    backend = args.backend or default_backend()
    check_backend(backend, args.precision)
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.clock not in ("wall", "cpu"):
        raise ValueError(f"--clock must be wall or cpu, got {args.clock!r}")
    if args.clock == "cpu" and args.threads != 1:
        raise ValueError("--clock cpu needs --threads 1")
    return backend


def run_build(args: argparse.Namespace) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ghostnas.space.latency_predictor import build_table

    backend = _check(args)
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if not args.json else None
    table, stats = build_table(args.space, backend, args.samples, threads=args.threads, precision=args.precision,
                               clock=args.clock, calibrate=args.calibrate, resolution=args.resolution,
                               seed=args.seed, progress=say)
    if args.json:
        print(json.dumps({**stats, "table": str(table.path), "key": table.key}, indent=2))
        return 0
    c = stats["calibration"]
    k = table.key
    print(f"{stats['space']}: {stats['samples']} architectures, {stats['distinct_layers']} distinct layers "
          f"({stats['measured_layers']} measured now) on {k['backend']} {k['version']}, {k['threads']} thread(s), "
          f"{k['precision']}, {k['clock']} clock, in {stats['seconds']:.1f} s")
    rmspe = f", in-sample RMSPE {c['rmspe']:.1f}%" if c.get("rmspe") is not None else ""
    print(f"calibration: {c['model']} on {c['n']} network(s): {c['a']:.4f} x sum + {c['b'] * 1e3:.2f} us x layers "
          f"+ {c['d']:.4f} ms x Melem + {c['c']:.4f} ms{rmspe}")
    print(f"table: {table.path}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ghostnas.space.latency_predictor import predict_latency

    backend = _check(args)
    if args.input is not None and args.input < 1:
        raise ValueError(f"--input must be a positive integer, got {args.input}")
    pred = predict_latency(args.target, backend, threads=args.threads, precision=args.precision, clock=args.clock,
                           input_size=args.input, missing="error" if args.no_measure else "measure",
                           space=args.space)
    if args.json:
        print(json.dumps({"model": args.target, **pred.to_dict()}, indent=2))
    else:
        print(f"{args.target}: {pred}")
    return 0
