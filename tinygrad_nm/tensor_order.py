"""Orderings, spelled as in PyTorch: sort, argsort, topk, median, mode, unique, bincount.

`TensorOrder` is a mixin of Tensor (it never imports it). The order is found on the host (as a
boolean mask's positions are) and the values are gathered from self by it, so sort, topk,
median and mode are differentiable as gather is; unique and bincount count on the host and
return tensors without gradient.
"""
import numpy as np

from tinygrad_nm import dtypes as dt
from tinygrad_nm.tensor_reduce import ValuesIndices
from tinygrad_nm.tensor_shape import one_dim


class TensorOrder:
    __slots__ = ()

    def sort(self, dim=-1, descending=False, stable=False):
        """(values, indices) along dim, ascending or descending; equal elements keep their order
        (stable either way) and nan counts as the largest, as in PyTorch."""
        d = one_dim(dim, self.ndim, "sort")
        if not self.ndim:
            return ValuesIndices(self.clone(), type(self)(0, backend=self.backend))
        indices = type(self)(self._order(d, descending)[1], backend=self.backend)
        return ValuesIndices(self.gather(d, indices), indices)

    def _order(self, d, descending=False):
        """(the values on the host, the stable order along dim d of a tensor with dims)."""
        host = self.detach().numpy()
        if descending:  # the ascending stable order of the reversed row, reversed: ties stay in order, nan first
            return host, self.shape[d] - 1 - np.flip(np.argsort(np.flip(host, d), axis=d, kind="stable"), d)
        return host, np.argsort(host, axis=d, kind="stable")

    def argsort(self, dim=-1, descending=False, stable=False):
        return self.sort(dim, descending, stable).indices

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """The k largest (or smallest) elements along dim and their indices, in order."""
        d = one_dim(dim, self.ndim, "topk")
        n = self.shape[d] if self.ndim else 1
        if not 0 <= k <= n:
            raise RuntimeError(f"topk: selected index k={k} out of range for dim {d} of size {n} (shape {self.shape})")
        values, indices = self.sort(d, descending=largest)
        if not self.ndim:
            return ValuesIndices(values, indices)
        return ValuesIndices(values.narrow(d, 0, k), indices.narrow(d, 0, k))

    def median(self, dim=None, keepdim=False):
        """The lower median ((n - 1) // 2 in sorted order; nan if the row holds one), as PyTorch:
        a 0-d tensor without dim, (values, indices) with it."""
        if dim is None:
            return self.reshape(-1).median(0).values if self.numel() else self.new_full((), float("nan"))
        d = one_dim(dim, self.ndim, "median")
        if not self.ndim:
            return ValuesIndices(self.clone(), type(self)(0, backend=self.backend))
        n = self.shape[d]
        if not n:
            raise IndexError(f"median: dim {d} of shape {self.shape} is empty")
        host, order = self._order(d)
        nans = np.isnan(host).sum(axis=d, keepdims=True) if self.dtype.is_float else 0
        at = np.where(nans > 0, n - nans, (n - 1) // 2) * np.ones((*self.shape[:d], 1, *self.shape[d + 1:]), np.int64)
        indices = type(self)(np.take_along_axis(order, at, d), backend=self.backend)
        values = self.gather(d, indices)
        return ValuesIndices(values, indices) if keepdim else ValuesIndices(values.squeeze(d), indices.squeeze(d))

    def mode(self, dim=-1, keepdim=False):
        """The most frequent value along dim (the smallest of those tied) and the index of its last
        occurrence, as PyTorch's CPU kernel."""
        d = one_dim(dim, self.ndim, "mode")
        if not self.ndim:
            return ValuesIndices(self.clone(), type(self)(0, backend=self.backend))
        if not self.shape[d]:
            raise IndexError(f"mode: dim {d} of shape {self.shape} is empty")
        host, order = self._order(d)
        rows = np.moveaxis(np.take_along_axis(host, order, d), d, -1).reshape(-1, self.shape[d])
        positions = np.moveaxis(order, d, -1).reshape(rows.shape)
        at = np.empty(len(rows), np.int64)
        for r, (row, position) in enumerate(zip(rows, positions)):
            starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])  # runs of equal values, in order
            counts = np.diff(np.r_[starts, len(row)])
            best = starts[np.argmax(counts)]  # the first longest run: the smallest value of those tied
            at[r] = position[best:best + counts.max()].max()  # its last occurrence in self
        shape = (*self.shape[:d], *self.shape[d + 1:])
        indices = type(self)(at.reshape(shape), backend=self.backend).unsqueeze(d)
        values = self.gather(d, indices)
        return ValuesIndices(values, indices) if keepdim else ValuesIndices(values.squeeze(d), indices.squeeze(d))

    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):
        """The distinct values, ascending (of the flattened tensor, or the distinct slices along
        dim), and optionally where each element went and how often each value occurs."""
        d = None if dim is None else one_dim(dim, self.ndim, "unique")
        values, inverse, counts = np.unique(self.detach().numpy(), return_inverse=True, return_counts=True, axis=d,
                                            equal_nan=False)  # each nan its own value, as PyTorch
        out = [type(self)(values, dtype=self.dtype, backend=self.backend)]
        if return_inverse:
            out.append(type(self)(inverse.reshape(self.shape if d is None else -1), backend=self.backend))
        if return_counts:
            out.append(type(self)(counts, backend=self.backend))
        return out[0] if len(out) == 1 else tuple(out)

    def bincount(self, weights=None, minlength=0):
        """How often each value 0, 1, ... occurs in this 1-D tensor of non-negative integers (the
        sum of their weights, with weights): length max + 1, at least minlength."""
        if self.ndim != 1 or self.dtype.is_float or self.dtype is dt.bool_:
            raise RuntimeError(f"bincount: expected a 1-D tensor of non-negative integers, got shape {self.shape}, "
                               f"{self.dtype}")
        host = self.numpy()
        if host.size and host.min() < 0:
            raise RuntimeError(f"bincount: the input holds a negative value ({host.min()})")
        if weights is not None and tuple(weights.shape) != self.shape:
            raise RuntimeError(f"bincount: weights of shape {tuple(weights.shape)} do not match the input's "
                               f"{self.shape}")
        w = None if weights is None else weights.detach().numpy()
        counts = np.bincount(host, w, minlength=minlength)
        dtype = None if weights is None else weights.dtype if weights.dtype in (dt.float32, dt.float64) else dt.float64
        return type(self)(counts, dtype=dtype, backend=self.backend)
