"""tinygrad_nm.nn: PyTorch's torch.nn: Module, Parameter, layers, containers, losses, init, utils.

    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))
    loss = nn.CrossEntropyLoss(label_smoothing=0.1)(model(x), labels)
    loss.backward()                            # every parameter's .grad is filled

A Module's parameters are the nn.Parameter objects assigned to its attributes and those of its
submodules (including inside ModuleList, ModuleDict and Sequential); plain Tensors are not
parameters, and register_buffer() makes state that is saved but not trained.
`import tinygrad_nm.nn.functional as F` gives the functions (the same as tinygrad_nm.functional).
"""
from tinygrad_nm.nn import functional, init, utils  # noqa: F401
from tinygrad_nm.nn.conv import (AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, Conv1d, Conv2d, ConvTranspose1d,
                                 ConvTranspose2d, MaxPool1d, MaxPool2d, MaxUnpool1d, MaxUnpool2d)
from tinygrad_nm.nn.containers import MLP, ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from tinygrad_nm.nn.activation import (CELU, GLU, SELU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, Mish,
                                       PReLU, ReLU6, Softmax2d, Softmin, Softshrink, Softsign, Tanhshrink, Threshold)
from tinygrad_nm.nn.layers import (ACTIVATIONS, ELU, GELU, AlphaDropout, Bilinear, ChannelShuffle, CosineSimilarity,
                                   Dropout, Dropout1d, Dropout2d, Embedding, Flatten, Fold, Identity, LazyLinear, LeakyReLU, Linear,
                                   LogSoftmax, PairwiseDistance, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh, Unflatten,
                                   Unfold)
from tinygrad_nm.nn import padding as _padding
from tinygrad_nm.nn.padding import *  # noqa: F401,F403 (ZeroPad1d ... CircularPad3d)
from tinygrad_nm.nn.loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss, GaussianNLLLoss,
                                 HingeEmbeddingLoss, HuberLoss, KLDivLoss, L1Loss, MarginRankingLoss, MSELoss,
                                 MultiLabelSoftMarginLoss, NLLLoss, PoissonNLLLoss, SmoothL1Loss, SoftMarginLoss,
                                 TripletMarginLoss)
from tinygrad_nm.nn.hooks import RemovableHandle
from tinygrad_nm.nn.module import Module, StateDictError
from tinygrad_nm.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm, RMSNorm
from tinygrad_nm.nn.parameter import Parameter
from tinygrad_nm.nn.recurrent import GRU, LSTM, RNN
from tinygrad_nm.nn.resize import (AdaptiveAvgPool1d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, PixelShuffle, PixelUnshuffle,
                                   Upsample, UpsamplingBilinear2d, UpsamplingNearest2d)
from tinygrad_nm.nn.attention import (MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer,
                                      TransformerEncoder, TransformerEncoderLayer)

__all__ = ["Module", "Parameter", "StateDictError", "RemovableHandle", "Linear", "Identity", "Flatten", "Unflatten",
           "Dropout", "Embedding", "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
           "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "ReLU", "LeakyReLU",
           "ELU", "GELU", "SiLU", "Softplus", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Sequential", "ModuleList",
           "ModuleDict", "ParameterList", "MLP", "ACTIVATIONS", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
           "NLLLoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "functional", "init", "utils"]
__all__ += ["ReLU6", "Hardtanh", "Hardsigmoid", "Hardswish", "Mish", "LogSigmoid", "Softsign", "PReLU", "Dropout2d",
            "Upsample", "InstanceNorm2d", "ConvTranspose2d", "RNN", "LSTM", "GRU",
            "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder"]
__all__ += ["MarginRankingLoss", "HingeEmbeddingLoss", "CosineEmbeddingLoss", "TripletMarginLoss", "SoftMarginLoss",
            "MultiLabelSoftMarginLoss", "PoissonNLLLoss", "GaussianNLLLoss"]
__all__ += ["Transformer", "TransformerDecoder", "TransformerDecoderLayer", "ParameterDict"]
__all__ += ["UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle", "AdaptiveAvgPool1d",
            "AdaptiveMaxPool1d", "AdaptiveMaxPool2d"]
__all__ += ["CELU", "GLU", "SELU", "Hardshrink", "Softshrink", "Tanhshrink", "Threshold", "Softmin", "Softmax2d",
            "AlphaDropout", "Dropout1d", "Bilinear", "ChannelShuffle", "CosineSimilarity", "PairwiseDistance", "Fold",
            "Unfold", "RMSNorm"] + _padding.PADDING_LAYERS
__all__ += ["ConvTranspose1d", "MaxUnpool1d", "MaxUnpool2d", "LazyLinear"]
