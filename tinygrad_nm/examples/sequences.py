"""Next step: sequences. The 8x8 digits read one row at a time, as a sequence of 8 steps of 8
pixels, by a recurrent network and by a small Transformer encoder.

    python -m tinygrad_nm.examples.sequences [--backend numpy] [--model lstm|transformer] [--epochs 15]

An MLP or a CNN sees the whole image at once. A recurrent network (nn.LSTM) reads the rows in
order and carries what it has seen in its state; the class comes from the state after the last
row. A Transformer encoder (nn.TransformerEncoder) lets every row attend to every other row in
one step; the rows are embedded by a Linear layer plus a learned position vector, and the class
comes from their mean. Both are written as a PyTorch user writes them, with the library's layers:

    LSTM:        (N, 8, 8) -> LSTM 8->64 (batch_first) -> last h (N, 64) -> Linear 64->10
    Transformer: (N, 8, 8) -> Linear 8->32 + position (8, 32) -> 2 x TransformerEncoderLayer(32, 4 heads,
                 feed-forward 64, pre-norm) -> mean over rows -> LayerNorm -> Linear 32->10

Adam, lr 3e-3, batch 32; the split, the initial weights and the shuffles come from the seed.
"""
import argparse

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, data, nn, optim
from tinygrad_nm import functional as F
from tinygrad_nm.examples.digits import accuracy


class RowLSTM(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.lstm = nn.LSTM(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.head(h[-1])


class RowTransformer(nn.Module):
    def __init__(self, width=32, heads=4, layers=2):
        super().__init__()
        self.embed = nn.Linear(8, width)
        self.position = nn.Parameter(Tensor.randn(8, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.norm(self.encoder(self.embed(x) + self.position).mean(1)))


MODELS = {"lstm": RowLSTM, "transformer": RowTransformer}


def train_sequences(model_name="lstm", epochs=15, lr=3e-3, seed=0, limit=None, log=print, **sizes):
    """Returns the held-out accuracy after each epoch (`limit`: train on that many images only;
    `sizes`: the model's hidden= or width=)."""
    tnm.manual_seed(seed)
    x, y = data.digits()
    x = x.reshape(-1, 8, 8)  # (N, rows, pixels): a sequence of 8 rows
    x_train, y_train, x_test, y_test = data.split(x, y, 0.2, seed=seed, stratify=True)
    x_train, y_train = x_train[:limit], y_train[:limit]
    model = MODELS[model_name](**sizes)
    opt = optim.Adam(model.parameters(), lr=lr)
    loader = data.DataLoader(x_train, y_train, batch_size=32, seed=seed)
    accuracies = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        model.eval()
        accuracies.append(accuracy(model, x_test, y_test))
        log(f"epoch {epoch + 1:2d}: loss {loss.item():.3f}, held-out accuracy {accuracies[-1]:.1%}")
    return accuracies


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None, help="python, numpy, cython or numba_cuda (default: numpy)")
    parser.add_argument("--model", choices=sorted(MODELS), default="lstm")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.backend:
        tnm.set_backend(args.backend)
    train_sequences(args.model, args.epochs, seed=args.seed)


if __name__ == "__main__":
    main()
