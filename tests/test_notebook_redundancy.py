"""Execute analysis/notebooks/redundancy.py (jupytext percent format) top to bottom in a kernel."""
import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = Path(__file__).resolve().parents[1] / "analysis" / "notebooks" / "redundancy.py"


def test_redundancy_notebook_runs(tmp_path, monkeypatch):
    nb = jupytext.read(NOTEBOOK)
    out = tmp_path / "figs"
    monkeypatch.setenv("GHOSTNAS_NB_OUT", str(out))
    monkeypatch.setenv("GHOSTNAS_NB_WIDTH", "0.25")
    monkeypatch.delenv("GHOSTNAS_NB_WEIGHTS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # A last cell reports the kernel's interpreter: it must be the one running the tests (the venv).
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('KERNEL', sys.executable)"))
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code)
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    for stem in ("fig1_features.1", "fig4_features.1", "channel_cosine_features.1", "cka_linear", "mse_vs_d"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000
    text = "".join(o.get("text", "") for c in code for o in c.get("outputs", []))
    assert "maps have a partner with cosine" in text and "| pair |" in text
    kernel_exe = text.split("KERNEL ")[1].split()[0]
    assert Path(kernel_exe).resolve() == Path(sys.executable).resolve()
