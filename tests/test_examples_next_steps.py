"""The next-step examples run and give the answers their docstrings promise (short versions)."""
import numpy as np
import pytest

from tinygrad_nm.cli import main
from tinygrad_nm.examples import digits, large_rectangles, layers, matrices, sequences
from tinygrad_nm.examples.walkthrough import gradient_descent


def test_matrices_match_the_scalar_loops(backend):
    loop_weights, loop_losses = gradient_descent(epochs=3, n=100)
    weights, losses = matrices.matrix_gradient_descent(epochs=3, n=100)
    np.testing.assert_allclose(losses, loop_losses, rtol=1e-5)
    np.testing.assert_allclose(weights, loop_weights, rtol=1e-5)


@pytest.mark.slow  # hundreds of steps: minutes in the CUDA simulator (dev.sh skips slow there)
def test_matrices_learn_the_average(backend):
    weights, losses = matrices.matrix_gradient_descent(epochs=300)
    assert losses[-1] < 1e-5 and np.allclose(weights, 0.25, atol=0.01)


@pytest.mark.slow  # hundreds of steps: minutes in the CUDA simulator (dev.sh skips slow there)
def test_layers_learn_what_the_neuron_cannot(backend):
    results = layers.compare(epochs=15, n=300)
    neuron, network = results["darkest pixel"]
    assert network < neuron / 2


def test_large_rectangles_learn_the_average(backend):
    loss, seconds = large_rectangles.train_average(size=10, epochs=4, n=500)
    assert loss < 1e-3 and seconds > 0


@pytest.mark.slow  # hundreds of steps: minutes in the CUDA simulator (dev.sh skips slow there)
def test_digits_example_reproduces_the_train_command(backend, capsys):
    pytest.importorskip("sklearn")
    accuracies = digits.train_digits(epochs=2, hidden=(8,), batch_size=256, lr=0.5, log=lambda line: None)
    assert len(accuracies) == 2 and accuracies[-1] > 0.3  # 12 steps of a tiny MLP: far above guessing
    main(["train", "--task", "digits", "--epochs", "2", "--hidden", "8", "--batch-size", "256", "--lr", "0.5",
          "--backend", backend, "--no-plot", "--no-progress"])
    out = capsys.readouterr().out
    assert f"held-out accuracy after 2 epochs: {100 * accuracies[-1]:.2f}%" in out


@pytest.mark.slow  # many small ops per step: minutes in the CUDA simulator (dev.sh skips slow there)
@pytest.mark.parametrize("model,sizes", [("lstm", {"hidden": 16}), ("transformer", {"width": 16})])
def test_sequence_models_learn_the_digits_row_by_row(backend, model, sizes):
    pytest.importorskip("sklearn")
    # 48 steps on 256 images (24 on 128 on the pure-Python backend, where 256 take half a minute)
    limit = 128 if backend == "python" else 256
    accuracies = sequences.train_sequences(model, epochs=6, lr=2e-2, limit=limit, log=lambda line: None, **sizes)
    assert len(accuracies) == 6 and accuracies[-1] > 0.3  # far above guessing (0.1)
