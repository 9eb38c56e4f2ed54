"""nn.utils.rnn: sequences of different lengths padded into one batch, and back (PyTorch's
pad_sequence and unpad_sequence; packed sequences are not supported)."""
from tinygrad_nm.tensor_shape import cat, stack


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """The tensors of `sequences` (each (L_i, *rest), one rest shape) as one (L_max, B, *rest)
    tensor, or (B, L_max, *rest) with batch_first, each padded with `padding_value` at the end
    (or the start, padding_side="left"). Differentiable as cat is."""
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got {padding_side!r}")
    rest = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if s.ndim == 0 or tuple(s.shape[1:]) != rest:
            raise RuntimeError(f"pad_sequence: sequence {i} has shape {tuple(s.shape)}; every sequence must be "
                               f"(length, {', '.join(map(str, rest)) or '...'}) like sequence 0's {tuple(sequences[0].shape)}")
    longest = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        pad = s.new_full((longest - s.shape[0], *rest), padding_value)
        rows.append(cat([s, pad] if padding_side == "right" else [pad, s], 0) if pad.shape[0] else s)
    out = stack(rows, 0)
    return out if batch_first else out.transpose(0, 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """pad_sequence undone: the list of each sequence's first lengths[i] steps."""
    batch = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [batch[i, :int(n)] for i, n in enumerate(lengths)]
