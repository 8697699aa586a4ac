"""`ghostnas profile`: counters and latency of a registry model or a config file, and its errors."""
import json
import subprocess
import sys

import pytest
import torch

from ghostnas.cli import main
from ghostnas.ghostnet import CifarNetConfig, model_config
from ghostnas.space import analytic_counts


pytestmark = pytest.mark.usefixtures("one_thread")


def test_cli_profile_json_name_and_config(tmp_path, capsys):
    assert main(["profile", "ghost_vgg16_cifar", "--json", "--no-latency"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model"] == "ghost_vgg16_cifar" and d["input"] == 32 and d["params"] == 7_651_114
    assert d["counters"]["analytic"]["total"] == 158_699_520
    assert d["counters"]["flop_counter_mode"]["total"] == 2 * 158_699_520
    assert d["counters"]["fvcore"]["unit"] == "MACs" and d["latency"] is None

    cfg = CifarNetConfig.uniform("vgg16", 3, 5, width=0.125)
    path = tmp_path / "arch.json"
    path.write_text(json.dumps({"family": "cifar", "model": cfg.to_dict(), "resolution": 33}))
    assert main(["profile", str(path), "--json", "--threads", "1", "--min-run-time", "0.05", "--fused"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["input"] == 33 and d["counters"]["analytic"]["total"] == analytic_counts(cfg, 33).macs
    assert d["model"] == "arch.json"  # the user's label, not the counted module's name
    assert d["latency"]["threads"] == 1 and d["latency"]["median_ms"] > 0 and d["latency"]["fused"]

    flat = tmp_path / "ghost.json"
    flat.write_text(json.dumps({"family": "ghostnet", **model_config("ghostnet_050", num_classes=10).to_dict()}))
    assert main(["profile", str(flat), "--input", "64", "--no-latency"]) == 0
    out = capsys.readouterr().out
    assert "fvcore" in out and "params" in out and "thop" in out
    assert f"{analytic_counts(model_config('ghostnet_050', num_classes=10), 64).macs:,}" in out


@pytest.mark.parametrize("args, message", [
    (["no_such_model"], "unknown model"),
    (["ghostnet_100", "--threads", "0"], "threads"),
    (["ghostnet_100", "--input", "-3"], "input"),
    (["missing.json"], "missing.json"),
])
def test_cli_profile_bad_input(args, message, capsys):
    assert main(["profile", *args, "--no-latency"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ghostnas: error:") and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cli_profile_cuda_unavailable(capsys):
    assert main(["profile", "ghostnet_050", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ghostnas: error:") and "CUDA" in err and len(err.strip().splitlines()) == 1


def test_cli_profile_bad_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    for text, message in ((json.dumps({"family": "ghostnet", "width": -1}), "width"),
                          (json.dumps({"family": "cifar", "arch": "vgg16", "colour": 1}), "colour"),
                          (json.dumps({"family": "alexnet"}), "family"),
                          ("{not json", "JSON")):
        bad.write_text(text)
        assert main(["profile", str(bad), "--no-latency"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ghostnas: error:") and message in err and len(err.strip().splitlines()) == 1


def test_cli_profile_subprocess_errors_have_no_traceback():
    for args in (["no_such_model"], ["ghostnet_100", "--device", "tpu"]):
        out = subprocess.run([sys.executable, "-m", "ghostnas.cli", "profile", *args],
                             capture_output=True, text=True)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert out.stderr.startswith("ghostnas: error:") and len(out.stderr.strip().splitlines()) == 1
