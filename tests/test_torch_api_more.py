"""More of the PyTorch surface, each the same code on tinygrad_nm and on torch, on every backend:
mode/unique/bincount (hypothesis: ties), movedim and Tensor.unfold (hypothesis: shapes, dims,
windows), the margin, embedding and likelihood losses (functions and modules), nn.utils.rnn's
pad_sequence, set_printoptions and use_deterministic_algorithms."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tinygrad_nm as tnm  # noqa: E402
from fuzz_torch_helpers import fuzz  # noqa: E402
from torch_api_helpers import case, matches_torch, rnd, run_both  # noqa: E402

SIGNS = np.array([1.0, -1.0, -1.0, 1.0, 1.0, -1.0])
LABELS = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])

CASES = [
    case("margin_ranking", lambda M, a, b: (M.nn.functional.margin_ranking_loss(a, b, M.tensor(SIGNS, dtype=a.dtype)),
                                            M.nn.MarginRankingLoss(0.5, reduce=False)(a, b, M.tensor(SIGNS, dtype=a.dtype))),
         rnd((6,)), rnd((6,), seed=1)),
    case("hinge_embedding", lambda M, a: (M.nn.functional.hinge_embedding_loss(a, M.tensor(SIGNS, dtype=a.dtype)),
                                          M.nn.HingeEmbeddingLoss(1.5, reduction="sum")(a, M.tensor(SIGNS, dtype=a.dtype))),
         rnd((6,))),
    case("soft_margin", lambda M, a: M.nn.SoftMarginLoss(size_average=False)(a, M.tensor(SIGNS, dtype=a.dtype)), rnd((6,))),
    case("cosine_embedding", lambda M, a, b: (
        M.nn.functional.cosine_embedding_loss(a, b, M.tensor(SIGNS[:4], dtype=a.dtype), margin=0.2),
        M.nn.CosineEmbeddingLoss(reduction="none")(a, b, M.tensor(SIGNS[:4], dtype=a.dtype))),
        rnd((4, 5)), rnd((4, 5), seed=1)),
    case("triplet_margin", lambda M, a, p, n: (M.nn.functional.triplet_margin_loss(a, p, n),
                                               M.nn.TripletMarginLoss(margin=2.0, p=1, swap=True, reduction="none")(a, p, n)),
         rnd((4, 5)), rnd((4, 5), seed=1), rnd((4, 5), seed=2)),
    case("multilabel_soft_margin", lambda M, a: (
        M.nn.MultiLabelSoftMarginLoss()(a, M.tensor(LABELS, dtype=a.dtype)),
        M.nn.functional.multilabel_soft_margin_loss(a, M.tensor(LABELS, dtype=a.dtype), reduction="none")),
        rnd((4, 3))),
    case("poisson_nll", lambda M, a, t: (M.nn.PoissonNLLLoss()(a, t.abs()), M.nn.PoissonNLLLoss(False, True)(a.abs() + 0.1, t.abs() * 3),
                                         M.nn.functional.poisson_nll_loss(a, t.abs() * 3, full=True, reduction="none")),
         rnd((3, 4)), rnd((3, 4), seed=1)),
    case("gaussian_nll", lambda M, a, t, v: (M.nn.GaussianNLLLoss()(a, t, v.abs()),
                                             M.nn.GaussianNLLLoss(full=True, eps=0.5, reduction="sum")(a, t, v.abs()),
                                             M.nn.functional.gaussian_nll_loss(a, t, v[:, 0].abs(), reduction="none")),
         rnd((3, 4)), rnd((3, 4), seed=1), rnd((3, 4), seed=2)),
    case("pad_sequence", lambda M, a, b, c: (M.nn.utils.rnn.pad_sequence([a, b, c]),
                                             M.nn.utils.rnn.pad_sequence([a, b, c], batch_first=True, padding_value=-1.0),
                                             M.nn.utils.rnn.pad_sequence([a, b, c], True, 0.5, padding_side="left")),
         rnd((3, 2)), rnd((1, 2), seed=1), rnd((4, 2), seed=2)),
    case("movedim", lambda M, a: (a.movedim(0, -1), M.movedim(a, (0, 2), (1, 0)), a.moveaxis(-1, 0)), rnd((2, 3, 4))),
    case("diff_prepend_append", lambda M, a, p, q: (M.diff(a, prepend=p, append=q), M.diff(a, 2, 0, prepend=a[:1] * 2)),
         rnd((3, 4)), rnd((3, 1), seed=1), rnd((3, 2), seed=2)),
    case("repeat_interleave_output_size", lambda M, a: (a.repeat_interleave(2, output_size=12),
                                                        M.repeat_interleave(a, M.tensor([1, 0, 2]), 0, output_size=3)),
         rnd((3, 2))),
    case("mode_values", lambda M, a: (a.mode(1).values, M.mode(a, 0, keepdim=True).values, a.mode().values),
         np.array([[1.0, 2.0, 2.0, 0.5], [3.0, 3.0, 1.0, 1.0], [0.5, 0.5, 0.5, 2.0]])),
]


test_matches_torch = matches_torch(CASES)


@fuzz(30)
@given(data=st.data())
def test_mode_unique_bincount_match_torch_with_ties(backend, data):
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    values = np.array(data.draw(st.lists(st.integers(0, 3), min_size=int(np.prod(shape)),
                                         max_size=int(np.prod(shape))))).reshape(shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    ours, theirs = tnm.tensor(values * 0.5), torch.tensor(values * 0.5)
    m, n = ours.mode(dim), theirs.mode(dim)
    np.testing.assert_array_equal(m.values.numpy(), n.values.numpy())
    np.testing.assert_array_equal(m.indices.numpy(), n.indices.numpy())
    for kw in (dict(), dict(return_inverse=True, return_counts=True), dict(dim=dim, return_inverse=True)):
        u, v = ours.unique(**kw), theirs.unique(**kw)
        for a, b in zip(u if isinstance(u, tuple) else (u,), v if isinstance(v, tuple) else (v,)):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    flat = values.reshape(-1)
    minlength = data.draw(st.integers(0, 6))
    weights = flat * 0.25 + 1
    np.testing.assert_array_equal(tnm.tensor(flat).bincount(minlength=minlength).numpy(),
                                  torch.tensor(flat).bincount(minlength=minlength).numpy())
    ours_w = tnm.bincount(tnm.tensor(flat), tnm.tensor(weights, dtype=tnm.float32))
    theirs_w = torch.bincount(torch.tensor(flat), torch.tensor(weights, dtype=torch.float32))
    assert str(ours_w.dtype) == str(theirs_w.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours_w.numpy(), theirs_w.numpy())


@fuzz(30)
@given(data=st.data())
def test_unfold_matches_torch(backend, data):
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    size = data.draw(st.integers(0, shape[dim]))
    step = data.draw(st.integers(1, 3))
    a = np.random.default_rng(0).uniform(-1, 1, size=shape)
    run_both(lambda M, x: x.unfold(dim, size, step), [a], "float64", True, backend)


def test_unfold_and_movedim_refuse_bad_arguments(backend):
    x = tnm.ones(2, 3)
    with pytest.raises(RuntimeError, match=r"unfold: size 4 does not fit dim 1 of shape \(2, 3\)"):
        x.unfold(1, 4, 1)
    with pytest.raises(RuntimeError, match="unfold: step must be positive"):
        x.unfold(0, 1, 0)
    with pytest.raises(ValueError, match="movedim: source"):
        x.movedim((0, 1), 0)


def test_integer_outputs_and_errors(backend):
    with pytest.raises(RuntimeError, match="bincount: expected a 1-D tensor of non-negative integers"):
        tnm.tensor([0.5, 1.0]).bincount()
    with pytest.raises(RuntimeError, match=r"bincount: the input holds a negative value \(-1\)"):
        tnm.tensor([1, -1]).bincount()
    with pytest.raises(IndexError, match="mode: dim 0"):
        tnm.ones(0).mode()
    with pytest.raises(RuntimeError, match=r"pad_sequence: sequence 1 has shape \(2, 3\)"):
        tnm.nn.utils.rnn.pad_sequence([tnm.ones(2, 2), tnm.ones(2, 3)])
    with pytest.raises(ValueError, match="triplet_margin_loss: the inputs' shapes differ"):
        tnm.nn.functional.triplet_margin_loss(tnm.ones(2, 3), tnm.ones(2, 3), tnm.ones(3, 3))
    with pytest.raises(ValueError, match="gaussian_nll_loss: var has negative entries"):
        tnm.nn.functional.gaussian_nll_loss(tnm.ones(2), tnm.ones(2), -tnm.ones(2))


def test_unpad_sequence_undoes_pad_sequence(backend):
    from tinygrad_nm.nn.utils.rnn import pad_sequence, unpad_sequence
    seqs = [tnm.tensor(rnd((n, 2), seed=n)) for n in (3, 1, 2)]
    for batch_first in (False, True):
        back = unpad_sequence(pad_sequence(seqs, batch_first), [3, 1, 2], batch_first)
        for a, b in zip(back, seqs):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_print_options_as_torch(backend):
    x, y = tnm.tensor([1.123456, 2e-5, 300.0]), torch.tensor([1.123456, 2e-5, 300.0])
    try:
        for kw in (dict(precision=2), dict(sci_mode=True), dict(profile="short"), dict(threshold=5, edgeitems=2)):
            tnm.set_printoptions(**kw)
            torch.set_printoptions(**kw)
            ours, theirs = repr(x), repr(y)
            assert ours[len("Tensor("):ours.index("]") + 1] == theirs[len("tensor("):theirs.index("]") + 1]
            long_ours, long_theirs = repr(tnm.arange(10.0)), repr(torch.arange(10.0))
            assert ("..." in long_ours) == ("..." in long_theirs)
    finally:
        tnm.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")
    assert repr(x).startswith("Tensor([1.1235e+00, 2.0000e-05, 3.0000e+02]")
    with pytest.raises(ValueError, match="profile must be one of"):
        tnm.set_printoptions(profile="long")


def test_use_deterministic_algorithms_is_recorded(backend):
    try:
        tnm.use_deterministic_algorithms(True)
        assert tnm.are_deterministic_algorithms_enabled()
    finally:
        tnm.use_deterministic_algorithms(False)
    assert not tnm.are_deterministic_algorithms_enabled()


def test_in_place_ops_that_make_their_result_first_raise_on_partial_overlap_as_torch(backend):
    ops = [lambda a: a.sub_(a.t(), alpha=2), lambda a: a.add_(a[0], alpha=3), lambda a: a.lerp_(a.t(), 0.5),
           lambda a: a.addcmul_(a.t(), a), lambda a: a.addcdiv_(a, a.t()), lambda a: a.pow_(a.t()),
           lambda a: a.add_(a, alpha=2), lambda a: a.lerp_(a, 0.3), lambda a: a.clamp_(max=a.t())]
    for op in ops:
        outcomes = []
        for M in (tnm, torch):
            a = M.tensor(rnd((3, 3)) + 3)
            try:
                op(a)
                outcomes.append(("wrote", np.round(a.numpy(), 6).tolist()))
            except RuntimeError as e:
                assert "refer to a single memory location" in str(e)
                outcomes.append(("raised", None))
        assert outcomes[0] == outcomes[1]


def test_edge_cases_as_torch(backend):
    assert np.isnan(tnm.tensor([]).median().item()) and np.isnan(torch.tensor([]).median().item())
    with pytest.raises(IndexError):
        tnm.empty(0).median(0)
    counts = [1, 2, 0, 3]
    assert tnm.repeat_interleave(tnm.tensor(counts)).tolist() == torch.repeat_interleave(torch.tensor(counts)).tolist()
    with pytest.raises(RuntimeError, match="output_size=5"):
        tnm.ones(3).repeat_interleave(2, output_size=5)
    # without replacement, once the nonzero weights run out the zero-weight categories follow in order
    assert tnm.multinomial(tnm.tensor([1.0, 0.0, 0.0]), 2).tolist() == torch.multinomial(
        torch.tensor([1.0, 0.0, 0.0]), 2).tolist() == [0, 1]
    drawn = tnm.multinomial(tnm.tensor([[0.0, 2.0, 0.0, 1.0]]), 4)[0].tolist()
    assert sorted(drawn[:2]) == [1, 3] and drawn[2:] == [0, 2]
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        tnm.multinomial(tnm.tensor([1.0, 1.0]), 3)
