"""nn layers, activations and functional ops against PyTorch (forward and backward) on every backend."""
import numpy as np
import pytest

import tinygrad_nm as tnm
import tinygrad_nm.nn.functional as F
from tinygrad_nm import Tensor, nn

from nn_torch_helpers import compare, copy_weights, tol, torch, vals

TF = torch.nn.functional
X = np.random.default_rng(0).standard_normal((3, 4)) * 2
X[0, 0] = 0.0  # the kink of the piecewise activations: PyTorch picks the gradient of the x <= 0 side


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,ours,theirs", [
    ("relu", F.relu, TF.relu), ("sigmoid", F.sigmoid, torch.sigmoid), ("tanh", F.tanh, torch.tanh),
    ("silu", F.silu, TF.silu), ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    ("elu", lambda x: F.elu(x, 1.5), lambda x: TF.elu(x, 1.5)),
    ("gelu", F.gelu, TF.gelu), ("gelu_tanh", lambda x: F.gelu(x, "tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    ("softplus", lambda x: F.softplus(x * 10, 0.5, 8), lambda x: TF.softplus(x * 10, 0.5, 8)),
    ("softmax", lambda x: F.softmax(x, dim=0), lambda x: TF.softmax(x, dim=0)),
    ("log_softmax", lambda x: F.log_softmax(x, dim=1), lambda x: TF.log_softmax(x, dim=1)),
    ("logsigmoid", lambda x: F.logsigmoid(x * 20), lambda x: TF.logsigmoid(x * 20)),
    ("normalize", F.normalize, TF.normalize), ("normalize_p1", lambda x: F.normalize(x, 1.0, 0),
                                               lambda x: TF.normalize(x, 1.0, 0)),
    ("pad", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), lambda x: TF.pad(x, (1, 2, 0, 1), value=0.5)),
    ("pad_crop", lambda x: F.pad(x, (-1, 1)), lambda x: TF.pad(x, (-1, 1))),
    ("pad_reflect", lambda x: F.pad(x[None], (3, 2, 1, 2), "reflect"), lambda x: TF.pad(x[None], (3, 2, 1, 2), "reflect")),
    ("pad_replicate", lambda x: F.pad(x[None], (1, 5), "replicate"), lambda x: TF.pad(x[None], (1, 5), "replicate")),
    ("pad_circular", lambda x: F.pad(x[None], (2, 4, 1, 0), "circular"),
     lambda x: TF.pad(x[None], (2, 4, 1, 0), "circular")),
    ("layer_norm", lambda x: F.layer_norm(x, (4,)), lambda x: TF.layer_norm(x, (4,))),
])
def test_functional_matches_torch(backend, dtype, name, ours, theirs):
    compare(ours, theirs, [X], dtype)


@pytest.mark.parametrize("make", [
    lambda: (nn.ReLU(), torch.nn.ReLU()), lambda: (nn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)),
    lambda: (nn.ELU(), torch.nn.ELU()), lambda: (nn.GELU(), torch.nn.GELU()), lambda: (nn.SiLU(), torch.nn.SiLU()),
    lambda: (nn.Softplus(2.0), torch.nn.Softplus(2.0)), lambda: (nn.Sigmoid(), torch.nn.Sigmoid()),
    lambda: (nn.Tanh(), torch.nn.Tanh()), lambda: (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
    lambda: (nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1)), lambda: (nn.Identity(), torch.nn.Identity()),
    lambda: (nn.Flatten(), torch.nn.Flatten()), lambda: (nn.Flatten(0, 1), torch.nn.Flatten(0, 1)),
    lambda: (nn.Unflatten(1, (2, 2)), torch.nn.Unflatten(1, (2, 2))),
    lambda: (nn.Linear(4, 3), torch.nn.Linear(4, 3)), lambda: (nn.Linear(4, 2, bias=False), torch.nn.Linear(4, 2, bias=False)),
    lambda: (nn.LayerNorm(4), torch.nn.LayerNorm(4)), lambda: (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)),
    lambda: (nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4)),
])
def test_modules_match_torch_forward_backward_and_repr(backend, make):
    ours, theirs = make()
    ours.double()
    theirs.double()
    copy_weights(ours, theirs)
    params = dict(ours.named_parameters())
    with torch.no_grad():  # non-trivial affine parameters
        for name, p in theirs.named_parameters():
            p.add_(torch.tensor(np.random.default_rng(1).standard_normal(tuple(p.shape))) * 0.1)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    compare(ours, theirs, [X], "float64")
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(vals(params[name].grad), p.grad.numpy(), **tol("float64"))
    assert repr(ours) == repr(theirs)


def test_linear_on_three_dimensional_input_and_its_errors(backend):
    lin, ref = nn.Linear(4, 2), torch.nn.Linear(4, 2)
    copy_weights(lin, ref)
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(vals(lin(Tensor(x))), ref(torch.tensor(x)).detach().numpy(), **tol("float32"))
    with pytest.raises(ValueError, match=r"Linear\(in_features=4, out_features=2, bias=True\): expected input with "
                                         r"last dimension 4, got shape \(3, 5\)"):
        lin(Tensor(np.zeros((3, 5))))


def test_pytorch_default_initialisations(backend):
    tnm.manual_seed(0)
    lin = nn.Linear(100, 50)
    bound = 1 / 10
    assert np.abs(vals(lin.weight)).max() <= bound and np.abs(vals(lin.bias)).max() <= bound
    assert abs(vals(lin.weight).std() - bound / np.sqrt(3)) < 0.1 * bound
    emb = nn.Embedding(200, 20, padding_idx=3)
    w = vals(emb.weight)
    assert abs(w.std() - 1) < 0.05 and abs(w.mean()) < 0.05 and not w[3].any()
    for norm in (nn.LayerNorm(5), nn.GroupNorm(1, 5), nn.BatchNorm1d(5)):
        assert vals(norm.weight).tolist() == [1.0] * 5 and vals(norm.bias).tolist() == [0.0] * 5


def test_embedding_matches_torch_and_padding_row_gets_no_gradient(backend):
    emb, ref = nn.Embedding(6, 3, padding_idx=1, dtype="float64"), torch.nn.Embedding(6, 3, padding_idx=1).double()
    copy_weights(emb, ref)
    idx = np.array([[0, 1, 5], [1, 1, 2]])
    out, tout = emb(Tensor(idx)), ref(torch.tensor(idx))
    np.testing.assert_allclose(vals(out), tout.detach().numpy())
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    np.testing.assert_allclose(vals(emb.weight.grad), ref.weight.grad.numpy())
    assert not vals(emb.weight.grad)[1].any()
    with pytest.raises(IndexError, match="embedding: index 6 is out of range for 6 embeddings"):
        emb(Tensor([6]))
    with pytest.raises(TypeError, match="indices must be an integer tensor"):
        emb(Tensor([0.0]))
    frozen = nn.Embedding.from_pretrained(Tensor(np.eye(3)))
    assert not frozen.weight.requires_grad and vals(frozen(Tensor([2])))[0].tolist() == [0, 0, 1]


def test_dropout_trains_and_evals(backend):
    tnm.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = Tensor.ones(40, 50, requires_grad=True)
    out = drop(x)
    kept = vals(out) != 0
    assert 0.7 < kept.mean() < 0.8 and np.allclose(vals(out)[kept], 1 / 0.75)
    out.sum().backward()
    np.testing.assert_array_equal(vals(x.grad), np.where(kept, np.float32(1 / 0.75), 0.0))  # the mask, scaled
    drop.eval()
    assert drop(x) is x
    assert F.dropout(x, 0.5, training=False) is x and not vals(F.dropout(x, 1.0)).any()
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_running_stats_follow_torch_through_train_and_eval(backend, momentum):
    for ours, theirs, shape in ((nn.BatchNorm1d(3, momentum=momentum), torch.nn.BatchNorm1d(3, momentum=momentum), (5, 3)),
                                (nn.BatchNorm1d(3, momentum=momentum), torch.nn.BatchNorm1d(3, momentum=momentum), (4, 3, 2)),
                                (nn.BatchNorm2d(3, momentum=momentum), torch.nn.BatchNorm2d(3, momentum=momentum), (2, 3, 2, 2))):
        rng = np.random.default_rng(3)
        for _ in range(3):
            x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
            np.testing.assert_allclose(vals(ours(Tensor(x))), theirs(torch.tensor(x)).detach().numpy(), **tol("float32"))
        for name, buf in theirs.named_buffers():
            np.testing.assert_allclose(vals(getattr(ours, name)), buf.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
        assert int(ours.num_batches_tracked.item()) == 3
        assert list(ours.state_dict()) == list(theirs.state_dict())
        ours.eval()
        theirs.eval()
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(vals(ours(Tensor(x))), theirs(torch.tensor(x)).detach().numpy(), **tol("float32"))
        assert int(ours.num_batches_tracked.item()) == 3  # eval() leaves the statistics alone


def test_norm_layers_name_the_expected_shapes(backend):
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\): expected 4 channels in dimension 1, got input of shape \(2, 3\)"):
        nn.BatchNorm1d(4)(Tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(4\): expected 4D input, got 2D"):
        nn.BatchNorm2d(4)(Tensor(np.zeros((2, 4))))
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        nn.BatchNorm1d(2)(Tensor(np.zeros((1, 2))))
    with pytest.raises(ValueError, match=r"LayerNorm\(\(3,\).*expected input of shape \(\*, 3\), got \(2, 4\)"):
        nn.LayerNorm(3)(Tensor(np.zeros((2, 4))))
    with pytest.raises(ValueError, match=r"num_channels \(5\) must be divisible by num_groups \(2\)"):
        nn.GroupNorm(2, 5)


def test_one_hot_matches_torch(backend):
    labels = np.array([[0, 2], [3, 1]])
    np.testing.assert_array_equal(F.one_hot(Tensor(labels)).numpy(), TF.one_hot(torch.tensor(labels)).numpy())
    assert F.one_hot(Tensor([1]), 4).numpy().tolist() == [[0, 1, 0, 0]] and F.one_hot(Tensor([1])).dtype == "int64"
    with pytest.raises(ValueError, match="smaller than num_classes"):
        F.one_hot(Tensor([3]), 2)


def test_functional_layers_match_torch(backend):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    compare(F.linear, TF.linear, [x, w, b])
    x4, g, beta = rng.standard_normal((2, 4, 3)), rng.standard_normal(4), rng.standard_normal(4)
    compare(lambda x, g, b: F.group_norm(x, 2, g, b), lambda x, g, b: TF.group_norm(x, 2, g, b), [x4, g, beta])
    compare(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True),
            lambda x, g, b: TF.batch_norm(x, None, None, g, b, training=True), [x4, g, beta])
