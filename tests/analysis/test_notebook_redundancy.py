"""Execute analysis/notebooks/redundancy.py (jupytext percent format) top to bottom in a kernel."""
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[2] / "analysis" / "notebooks" / "redundancy.py"


def test_redundancy_notebook_runs(tmp_path, monkeypatch, execute_notebook):
    out = tmp_path / "figs"
    monkeypatch.setenv("GHOSTNAS_NB_OUT", str(out))
    monkeypatch.setenv("GHOSTNAS_NB_WIDTH", "0.25")
    monkeypatch.delenv("GHOSTNAS_NB_WEIGHTS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    code, text = execute_notebook(NOTEBOOK, tmp_path)
    for stem in ("fig1_features.1", "fig4_features.1", "channel_cosine_features.1", "cka_linear", "mse_vs_d"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000
    assert "maps have a partner with cosine" in text and "| pair |" in text
