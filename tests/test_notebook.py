"""examples/walkthrough.ipynb, executed top to bottom in a fresh kernel (nbclient), so the notebook
never goes stale: every cell runs without an error, each program prints the walkthrough's answer,
and the plots are drawn inline."""
import os

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook tools come with the test extra")
nbclient = pytest.importorskip("nbclient", reason="the notebook tools come with the test extra")
pytest.importorskip("ipykernel", reason="the notebook tools come with the test extra")
pytest.importorskip("sklearn", reason="the digits step needs scikit-learn (the digits extra)")

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                        "walkthrough.ipynb")


def test_walkthrough_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # the kernel inherits the environment: no calibration cache of the user's, the default backend
    monkeypatch.setenv("TINYGRAD_NM_RATES", str(tmp_path / "rates.json"))
    monkeypatch.delenv("TINYGRAD_NM_BACKEND", raising=False)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    text = "".join(o.get("text", "") for c in code for o in c.outputs if o.output_type == "stream")
    for answer in ("one neuron: 0.684", "all weights 0.25 (the average): 0.45", "untrained loss 0.44",
                   "d(x**2)/dx at 2 = 4", "autograd: [3.78, 2.5675, 1.4175, 7.5075]",
                   "analytic: [3.78, 2.5675, 1.4175, 7.5075]", "learned weights [0.252, 0.249, 0.251, 0.248]",
                   "relu(neuron) on the first rectangle: 0.576", "[2, 5, 7, 3] @ W.T + b = [4, 10]; class B",
                   "weights [0.252, 0.249, 0.251, 0.248], loss 1.1e-06", "matmul 1024x1024x1024"):
        assert answer in text, f"the notebook no longer prints {answer!r}"
    accuracy = float(text.split("held-out accuracy after 30 epochs: ")[1].split("%")[0])
    assert accuracy > 95
    images = [o for c in code for o in c.outputs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(images) == 5  # rectangles, program 5's loss, loops vs matrices, time per epoch, digits
