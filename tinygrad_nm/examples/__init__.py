"""Runnable programs: the walkthrough's, in order, then the next steps it leaves to the reader.

    python -m tinygrad_nm.examples.walkthrough        programs 1-8: scalar loops, autograd, a layer
    python -m tinygrad_nm.examples.matrices           program 5 as matrices: same answer, ~500x faster
    python -m tinygrad_nm.examples.layers             biases and two hidden layers: what a neuron can't learn
    python -m tinygrad_nm.examples.large_rectangles   up to 100x100 rectangles, on every backend
    python -m tinygrad_nm.examples.digits             handwritten digits (or MNIST) with an MLP

Each takes --backend NAME. `tinygrad-nm train` runs the last steps with progress bars, plots and
checkpoints.
"""
