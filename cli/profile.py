"""``ghostnas profile``: params, four FLOP counts side by side, and latency of one network.

``NAME_OR_CONFIG`` is a registry name (``ghostnas models``) or a path to a JSON file holding one
of:

* a model config with a family key: ``{"family": "ghostnet", ...GhostNetConfig.to_dict()...}`` or
  ``{"family": "cifar", ...CifarNetConfig.to_dict()...}``;
* an ArchConfig-shaped object: ``{"family": "ghostnet"|"cifar", "model": {...}, "resolution": N}``
  (``resolution`` is the default ``--input``).

Without ``family`` the family is inferred: an ``arch`` key means CIFAR, else GhostNet
(``ghostnas.space.load_model_spec``). The default input is the config's resolution, else 32 for
CIFAR models, else 224 (``ghostnas.ghostnet.default_resolution``). Latency runs with ``OMP_WAIT_POLICY=PASSIVE`` unless that variable is already set (OpenMP
spin-waiting on a shared CPU can make 2-thread inference 100x slower).

``--backend`` picks the runtime that is timed (same protocol for all): ``torch`` (default; eager, or
``--fused`` / ``--deploy``), ``onnxruntime`` or ``openvino`` (both run the BN-folded ONNX export;
``--precision bf16`` asks OpenVINO for bf16, used only where the CPU supports it). ``--onnx PATH``
writes that export (opset 17, fixed batch x C x H x W input).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="params, FLOPs (analytic, fvcore, thop, FlopCounterMode) and latency",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="NAME_OR_CONFIG", nargs="?",
                   help="registry model name, path to a config / architecture JSON (ghostnas export), or a run folder")
    p.add_argument("--run", metavar="DIR", help="a `ghostnas train` run folder: its architecture and trained weights")
    p.add_argument("--input", type=int, default=None, metavar="N",
                   help="input height = width (default: config resolution, 32 for CIFAR, else 224)")
    p.add_argument("--batch", type=int, default=1, help="batch size for latency (default 1)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for latency (default 2)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="latency device (default cpu)")
    p.add_argument("--channels-last", action="store_true", help="measure latency in channels_last")
    p.add_argument("--fused", action="store_true", help="measure latency of the BN-folded model")
    p.add_argument("--deploy", action="store_true",
                   help="measure latency of the deploy path: BN folded + channels_last + frozen TorchScript")
    p.add_argument("--backend", default="torch", metavar="NAME",
                   help="latency backend: torch (default), onnxruntime or openvino")
    p.add_argument("--precision", default="f32", metavar="P",
                   help="inference precision: f32 (default) or bf16 (openvino only)")
    p.add_argument("--clock", default="wall", metavar="C",
                   help="timer: wall (default) or cpu (process CPU time, --threads 1 only; steadier on a shared CPU)")
    p.add_argument("--onnx", default=None, metavar="PATH",
                   help="also export the BN-folded network to this ONNX file (opset 17, fixed input shape)")
    p.add_argument("--min-run-time", type=float, default=1.0, metavar="S", help="seconds of timing (default 1)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Count the model four ways, optionally export it to ONNX and time it; print or dump JSON.

    Args:
        args: The parsed command line.

    Returns:
        The exit status (0).
    """
    if not args.no_latency and "torch" not in sys.modules:
        # On a CPU shared with other jobs, OpenMP spin-waiting makes multi-threaded batch-1
        # inference up to 100x slower; sleeping waits avoid it. Only effective before torch loads.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ghostnas.ghostnet import default_resolution
    from ghostnas.search.runs import build_model_from
    from ghostnas.space import count_flops

    _check_args(args)
    model, spec = build_model_from(args.target, run=args.run)  # a run folder brings its trained weights
    cfg, label = spec.config, spec.label
    res = args.input or spec.resolution or default_resolution(cfg)
    report = count_flops(model, (cfg.in_chans, res, res), analytic_config=cfg)
    onnx_path = None
    if args.onnx:
        from ghostnas.space.onnx_export import DEFAULT_OPSET, export_onnx

        data = export_onnx(model, args.onnx, (cfg.in_chans, res, res), batch=args.batch)
        onnx_path = {"path": args.onnx, "opset": DEFAULT_OPSET, "bytes": len(data),
                     "input": [args.batch, cfg.in_chans, res, res]}
    latency = None if args.no_latency else _latency(args, model, (cfg.in_chans, res, res))
    if args.json:
        out = {"model": label, "input": res, "params": report.params, **report.to_dict(),
               "latency": None if latency is None else {
                   **latency.to_dict(), "fused": args.fused or args.deploy or args.backend != "torch",
                   "deploy": args.deploy, "precision_requested": args.precision},
               "onnx": onnx_path}
        out["model"] = label  # FlopReport.to_dict's "model" is the counted module's name, not the user's label
        print(json.dumps(out, indent=2))
        return 0
    print(f"{label}: {report}")
    if onnx_path is not None:
        print(f"onnx: wrote {args.onnx} (opset {onnx_path['opset']}, BN folded, input "
              f"{'x'.join(map(str, onnx_path['input']))}, {onnx_path['bytes']:,} bytes)")
    if latency is not None:
        print(f"latency{_latency_kind(args, latency)}: {latency}")
    return 0


def _check_args(args: argparse.Namespace) -> None:
    """One ValueError naming the first bad option."""
    from ghostnas.space.backends import check_backend
    from ghostnas.space.latency import CLOCKS

    for name in ("batch", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.input is not None and args.input < 1:
        raise ValueError(f"--input must be a positive integer, got {args.input}")
    if not args.min_run_time > 0:
        raise ValueError(f"--min-run-time must be > 0, got {args.min_run_time}")
    if args.clock not in CLOCKS:
        raise ValueError(f"--clock must be one of {', '.join(CLOCKS)}, got {args.clock!r}")
    if args.no_latency:
        return
    check_backend(args.backend, args.precision)
    if args.backend != "torch" and (args.fused or args.deploy or args.channels_last or args.device != "cpu"):
        raise ValueError(f"--fused/--deploy/--channels-last/--device apply to the torch backend; "
                         f"{args.backend} always runs the BN-folded ONNX export on the CPU")
    if args.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise ValueError("--device cuda requested but CUDA is not available")


def _latency(args: argparse.Namespace, model: Any, shape: tuple[int, int, int]) -> Any:
    """The latency the options ask for: another backend's BN-folded ONNX export, torch fused/deploy, or eager."""
    from ghostnas.space import measure_deploy_latency, measure_latency

    if args.backend != "torch":
        return measure_deploy_latency(model, shape, backend=args.backend, precision=args.precision, batch=args.batch,
                                      threads=args.threads, min_run_time=args.min_run_time, clock=args.clock)
    timing = dict(batch=args.batch, device=args.device, threads=args.threads,
                  channels_last=args.channels_last or args.deploy, min_run_time=args.min_run_time, clock=args.clock)
    if args.deploy or args.fused:
        return measure_deploy_latency(model, shape, script=args.deploy, **timing)
    return measure_latency(model, shape, **timing)


def _latency_kind(args: argparse.Namespace, latency: Any) -> str:
    if args.backend != "torch":
        kind = f" ({args.backend} {latency.backend_version}, {latency.threads} thread(s), {latency.precision}"
        if args.precision != latency.precision:
            kind += f"; {args.precision} requested, not supported by this CPU"
        return kind + ", BN-folded ONNX export)"
    return " (deploy: fused + channels_last + TorchScript)" if args.deploy else " (fused)" if args.fused else ""
