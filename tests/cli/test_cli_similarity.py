"""`ghostnas similarity`: figures and tables from a model config and weights, a torchvision model, errors."""
import json

import numpy as np
import pytest
import torch

from ghostnas.ghostnet import CifarNetConfig, build_model


@pytest.fixture(scope="module")
def cli_inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    g = np.random.default_rng(0)
    x = (g.random((12, 32, 32, 3)) * 255).astype(np.uint8)
    np.savez(d / "tiny.npz", x=x, y=np.arange(12) % 10)
    cfg = CifarNetConfig.uniform("vgg16", 2, 3, num_classes=10, width=0.125)
    (d / "model.json").write_text(cfg.to_json())
    torch.manual_seed(0)
    torch.save(build_model(cfg).state_dict(), d / "w.pt")
    return d


def test_cli_similarity_writes_figures_and_tables(cli_inputs, tmp_path, capsys):
    from ghostnas.cli import main

    d = cli_inputs
    out = tmp_path / "out"
    rc = main(["similarity", "--model", str(d / "model.json"), "--weights", str(d / "w.pt"),
               "--layer", "features.1", "--layer", "features.0", "--cka-layer", "features.3", "--data", f"npz:{d / 'tiny.npz'}",
               "--n", "8", "--top-k", "2", "--ds", "1,3", "--out", str(out)])
    assert rc == 0
    for stem in ("fig1_features.1", "fig1_features.0", "fig4_features.1", "channel_cosine_features.1",
                 "cka_linear", "cka_unbiased", "mse_vs_d"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000
    assert not (out / "fig4_features.0.png").exists()   # plain layer: no Figure 4
    s = json.loads((out / "summary.json").read_text())
    assert s["batch"] == 8 and set(s["layers"]) == {"features.1", "features.0"}
    assert 0.0 <= s["layers"]["features.1"]["fraction_redundant"] <= 1.0
    assert len(s["layers"]["features.1"]["top_pairs"]) == 2
    assert len(s["cka_linear"]) == 3 and s["cka_linear"][0][0] == pytest.approx(1.0)
    assert not (out / "fig1_features.3.png").exists()   # CKA-only layer
    md = (out / "mse_vs_d.md").read_text()
    assert "UNVERIFIED" in md and "d=3" in md
    for row in s["mse_vs_d"].values():
        assert row["3"] <= row["1"] + 1e-12
    assert "features.1: 8 maps" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["--layer", "features.99"], "unknown layer(s) 'features.99'"),
    (["--layer", "features.1", "--n", "2"], "--n must be at least 4"),
    (["--layer", "features.1", "--ds", "1,4"], "--ds"),
    (["--layer", "features.1", "--weights", "missing.pt"], "does not exist"),
])
def test_cli_similarity_bad_input_exits_2_with_one_line(cli_inputs, tmp_path, capsys, argv, needle):
    from ghostnas.cli import main

    d = cli_inputs
    rc = main(["similarity", "--model", str(d / "model.json"), "--data", f"npz:{d / 'tiny.npz'}",
               "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err and err.count("\n") == 1


def test_cli_similarity_torchvision_model_with_resize(cli_inputs, tmp_path):
    from ghostnas.cli import main

    out = tmp_path / "tv"
    rc = main(["similarity", "--model", "torchvision:resnet18", "--layer", "layer1", "--data",
               f"npz:{cli_inputs / 'tiny.npz'}", "--n", "4", "--resize", "48", "--top-k", "1", "--max-maps", "8",
               "--label", "untrained", "--out", str(out)])
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["layers"]["layer1"]["shape"] == [64, 12, 12] and s["label"] == "untrained"
    assert (out / "fig1_layer1.png").exists() and not (out / "cka_linear.png").exists()
