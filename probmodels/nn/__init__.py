"""Neural building blocks shared by the models (plain torch; never imports pyro).

Normalization (`make_norm`), activations by name, `MLP`, convolutional
`ConvEncoder` / `ConvDecoder` with `UpsampleBlock` (transpose convolution or
interpolation), size formulas for convolutions, and the diffusion denoisers
`TimeMLP` and `UNet` with `SinusoidalTimeEmbedding`.
"""

from probmodels.nn.activations import ACTIVATIONS, Activation, make_activation
from probmodels.nn.conv import (
    UPSAMPLE_MODES,
    ConvDecoder,
    ConvEncoder,
    UpsampleBlock,
    UpsampleMode,
    conv_output_size,
    transpose_conv_output_size,
)
from probmodels.nn.mlp import MLP
from probmodels.nn.norm import NORM_KINDS, NormKind, default_num_groups, make_norm
from probmodels.nn.unet import SinusoidalTimeEmbedding, TimeMLP, UNet

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "ConvDecoder",
    "ConvEncoder",
    "MLP",
    "NORM_KINDS",
    "NormKind",
    "SinusoidalTimeEmbedding",
    "TimeMLP",
    "UNet",
    "UPSAMPLE_MODES",
    "UpsampleBlock",
    "UpsampleMode",
    "conv_output_size",
    "default_num_groups",
    "make_activation",
    "make_norm",
    "transpose_conv_output_size",
]
