"""The PyTorch-spelled API: the same program run on tinygrad_nm and on torch, forward and backward,
on every backend, in float32 and float64 (tests/torch_api_helpers.py)."""
import numpy as np
import pytest

from torch_api_helpers import case, rnd, run_both

TIES = np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 2.0, 2.0], [0.0, -1.0, 0.0, 5.0]])
WITH_ZERO = np.array([[1.5, 0.0, -2.0], [0.5, -1.0, 3.0]])
CASES = [
    # --- reductions: dim=/keepdim= --------------------------------------------------------------
    case("sum_dim_keepdim", lambda M, a: a.sum(dim=1, keepdim=True) * a, rnd((2, 3, 4))),
    case("sum_dims_tuple", lambda M, a: a.sum(dim=(0, 2)), rnd((2, 3, 4))),
    case("mean_dim", lambda M, a: a.mean(dim=-1), rnd((2, 3, 4))),
    case("torch_sum_fn", lambda M, a: M.sum(a, 1) + M.mean(a, dim=1), rnd((3, 4))),
    case("max_dim_values_indices", lambda M, a: a.max(dim=1), TIES),
    case("max_dim_keepdim", lambda M, a: a.max(0, keepdim=True), TIES),
    case("min_dim", lambda M, a: a.min(1), TIES),
    case("torch_max_fn", lambda M, a: M.max(a, 1).values * 2, TIES),
    case("max_all", lambda M, a: a.max() + a.min(), TIES),
    case("max_of_two", lambda M, a, b: a.max(b) + M.minimum(a, b), TIES, TIES.T.copy().reshape(3, 4)),
    case("amax_amin", lambda M, a: a.amax(1) + a.amin(dim=(0, 1)), TIES),
    case("argmax_argmin", lambda M, a: (a.argmax(), a.argmax(1), a.argmin(0, keepdim=True)), TIES, grad=False),
    case("argmax_nan", lambda M, a: (a.argmax(1), a.argmin(1)), np.array([[1.0, np.nan, 3.0], [2.0, 1.0, 0.0]]),
         grad=False),
    case("var_std", lambda M, a: a.var() + a.std(dim=1) .sum() + a.var(0, unbiased=False).sum(), rnd((3, 4))),
    case("var_correction", lambda M, a: a.var(dim=1, correction=0, keepdim=True) * a, rnd((3, 4))),
    case("logsumexp", lambda M, a: a.logsumexp(1) + M.logsumexp(a * 50, dim=0).sum(), rnd((3, 4))),
    case("any_all", lambda M, a: ((a > 0).any(), (a > 0).all(1), (a > -3).all(), a.any(0)), rnd((3, 4)), grad=False),
    case("prod", lambda M, a: a.prod(1), rnd((3, 5))),
    case("prod_with_zero", lambda M, a: a.prod(dim=1, keepdim=True) + a.prod(), WITH_ZERO),
    case("cumsum", lambda M, a: a.cumsum(1) + M.cumsum(a, dim=-1), rnd((2, 7))),
    case("cumsum_dim0", lambda M, a: a.cumsum(0), rnd((5, 3))),
    case("norm", lambda M, a: a.norm() + a.norm(1, 1).sum() + a.norm(3, dim=0).sum()
         + a.norm(float("inf"), 1).sum(), rnd((3, 4))),
    case("softmax_dim", lambda M, a: a.softmax(dim=0) + M.log_softmax(a, dim=1), rnd((3, 4))),
    # --- shape ------------------------------------------------------------------------------------
    case("view_flatten", lambda M, a: a.view(6, 4).flatten() * a.flatten(1, 2).reshape(-1), rnd((2, 3, 4))),
    case("flatten_middle", lambda M, a: a.flatten(start_dim=1, end_dim=2), rnd((2, 3, 4, 5))),
    case("view_as_reshape_as", lambda M, a, b: a.view_as(b) + a.reshape_as(b), rnd((2, 6)), rnd((3, 4), seed=1)),
    case("unflatten", lambda M, a: a.unflatten(1, (2, -1)), rnd((3, 8))),
    case("unsqueeze_squeeze", lambda M, a: a.unsqueeze(0).unsqueeze(-1).squeeze(0) + a.unsqueeze(2),
         rnd((3, 4))),
    case("squeeze_dim", lambda M, a: (a.squeeze(), a.squeeze(1), a.squeeze(0), a.squeeze(-1)), rnd((3, 1, 4, 1))),
    case("expand", lambda M, a: a.expand(2, 3, 4) * 2, rnd((3, 1))),
    case("expand_minus1", lambda M, a, b: a.expand(-1, 4) + a.expand_as(b), rnd((3, 1)), rnd((3, 4), seed=1)),
    case("repeat", lambda M, a: a.repeat(2, 3), rnd((2, 3))),
    case("repeat_new_dims", lambda M, a: a.repeat(2, 1, 2), rnd((3,))),
    case("cat", lambda M, a, b: M.cat([a, b, a], dim=1), rnd((2, 3)), rnd((2, 2), seed=1)),
    case("cat_dim0_concat", lambda M, a, b: M.concat((a, b)), rnd((2, 3)), rnd((4, 3), seed=1)),
    case("cat_many", lambda M, a: M.cat([a[i:i + 1] * (i + 1) for i in range(5)]), rnd((5, 3))),
    case("stack", lambda M, a, b: M.stack([a, b]) + M.stack([b, a], dim=2).permute(2, 0, 1),
         rnd((2, 3)), rnd((2, 3), seed=1)),
    case("split_chunk", lambda M, a: (*a.split(2, 1), *a.chunk(2), *M.split(a, [1, 4], dim=1)), rnd((3, 5))),
    case("chunk_uneven", lambda M, a: a.chunk(3, dim=1), rnd((2, 7))),
    case("chunk_split_empty", lambda M, a: (*a.chunk(3), *a.split(2), *a.chunk(2, 1)), rnd((0, 3)), grad=False),
    case("unbind", lambda M, a: a.unbind(1), rnd((2, 3))),
    case("flip", lambda M, a: a.flip(0) * a.flip(0, 2) + a.flip(-1), rnd((2, 3, 4))),
    case("permute_transpose_t", lambda M, a, b: a.permute(2, 0, 1).transpose(0, 2) + b.t().t()[None, None, 0],
         rnd((2, 3, 4)), rnd((1, 4), seed=1)),
    case("permute_tuple", lambda M, a: a.permute((1, 0, 2)), rnd((2, 3, 4))),
    case("mT", lambda M, a: a.mT * 2, rnd((2, 3, 4))),
    case("gather", lambda M, a: a.gather(1, M.tensor([[0, 0], [2, 1], [1, 1]])), rnd((3, 4))),
    # --- elementwise ----------------------------------------------------------------------------
    case("neg_square_reciprocal_rsqrt", lambda M, a: a.neg() + a.square() + a.reciprocal() + a.abs().rsqrt(),
         rnd((3, 4), 0.5, 2.0)),
    case("sign", lambda M, a: a.sign() * a, WITH_ZERO),
    case("clamp", lambda M, a: a.clamp(-1, 1) + a.clamp(min=0.5) + a.clip(max=-0.5) + M.clamp(a, -0.5, 0.5),
         np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])),
    case("clamp_tensors", lambda M, a, lo, hi: a.clamp(lo, hi), rnd((3, 4)), rnd((3, 4), -2, 0, seed=1),
         rnd((4,), 0, 2, seed=2)),
    case("maximum_minimum_ties", lambda M, a, b: M.maximum(a, b) * 3 + M.minimum(a, b),
         np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 0.0, 4.0, -1.0])),
    case("maximum_broadcast", lambda M, a, b: a.maximum(b), rnd((3, 1)), rnd((4,), seed=1)),
    case("where_fn", lambda M, a, b: M.where(a > b, a * 2, b), rnd((3, 4)), rnd((4,), seed=1)),
    case("where_scalar", lambda M, a: M.where(a > 0, a, 0.0) + M.where(a < 0, 1.0, a), rnd((3, 4))),
    case("where_method", lambda M, a, b: a.where(a > 0, b), rnd((3, 4)), rnd((3, 4), seed=1)),
    case("where_inf_branch", lambda M, a: M.where(a > 0, a.log(), a), rnd((3, 4))),
    case("masked_fill", lambda M, a: a.masked_fill(a > 1, 0.0) + a.masked_fill(M.tensor([True, False, True, False]), -1),
         rnd((3, 4))),
    case("comparisons", lambda M, a, b: (a.eq(b), a.ne(b), a.lt(b), a.le(1.0), a.gt(b), a.ge(b)), TIES, TIES[::-1].copy(),
         grad=False),
    case("isnan_isinf_isfinite", lambda M, a: (a.isnan(), a.isinf(), a.isfinite(), M.isnan(a)),
         np.array([1.0, np.nan, np.inf, -np.inf, 0.0]), grad=False),
    case("clone_contiguous", lambda M, a: a.clone() * a.contiguous(), rnd((3, 4))),
    case("to_dtype", lambda M, a: a.to(M.float64) * 2 + a.double(), rnd((3,))),
    case("int_inputs", lambda M, a: (a.float().mean(), a.sum(dim=0), a.max(0), a.prod(1), a.cumsum(1),
                                     a.argmax(1), a.clamp(0, 2), a.flip(1)), np.array([[1, 2, 3], [4, -5, 6]]),
         grad=False),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fn,inputs,grad", CASES)
def test_same_program_as_pytorch(backend, dtype, fn, inputs, grad):
    run_both(fn, inputs, dtype, grad, backend)


MORE = [
    case("narrow_index_select", lambda M, a: a.narrow(1, 1, 2) * a.index_select(1, M.tensor([2, 0])) +
         M.narrow(a, 1, -2, 2), rnd((3, 4))),
    case("tril_triu", lambda M, a: a.tril() + a.triu(1) * 2 + a.tril(-1) + M.triu(a, diagonal=-1), rnd((3, 4))),
    case("tril_batched", lambda M, a: a.tril(1), rnd((2, 4, 3))),
    case("bool_logic", lambda M, a, b: ((a > 0) & (b > 0), (a > 0) | (b < 0), (a > 0) ^ (b > 0), ~(a > 0),
                                         a.logical_and(b), M.logical_or(a, b), a.logical_not(), a.logical_xor(b)),
         np.array([1.0, 0.0, -2.0, 0.0]), np.array([0.5, 0.0, 0.0, -1.0]), grad=False),
    case("masked_by_logic", lambda M, a: a.masked_fill((a > 1) | (a < -1), 0.0) * 3, rnd((3, 4))),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fn,inputs,grad", MORE)
def test_more_of_the_same_program_as_pytorch(backend, dtype, fn, inputs, grad):
    run_both(fn, inputs, dtype, grad, backend)
