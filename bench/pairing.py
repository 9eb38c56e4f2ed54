"""Helpers the bench files share: pytest-benchmark's fastest round, and PyTorch held at one
thread for a paired timing (the bench compares one thread with one thread)."""


def best(benchmark):
    """pytest-benchmark's fastest round, or None with --benchmark-disable (nothing timed)."""
    stats = getattr(benchmark, "stats", None)
    return stats.stats.min if stats is not None else None


class one_torch_thread:
    """`with one_torch_thread():` PyTorch on one intra-op thread inside the block."""

    def __enter__(self):
        import torch
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch
        torch.set_num_threads(self.threads)
