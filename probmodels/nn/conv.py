r"""Convolutional encoder and decoder, up-sampling blocks and size formulas.

Sizes (per spatial axis, as in the torch documentation of ``nn.Conv2d`` and
``nn.ConvTranspose2d``) for input size :math:`n`, kernel :math:`k`, stride
:math:`s`, padding :math:`p`, output padding :math:`q` and dilation :math:`d`:

.. math::

    n_\text{conv} = \left\lfloor \frac{n + 2p - d(k - 1) - 1}{s} \right\rfloor + 1,
    \qquad
    n_\text{transpose} = (n - 1)s - 2p + d(k - 1) + q + 1 .

A transpose convolution scatters each input pixel times the kernel into the
output (input pixel :math:`(i, j)` adds :math:`x_{ij} K` to the output window
starting at :math:`(is, js)`), which is the adjoint of the convolution with the
same kernel: a 2x2 input and a 2x2 kernel with stride 1 give a 3x3 output.

Up-sampling stages (`UpsampleBlock`) double height and width either with a
learned ``nn.ConvTranspose2d(kernel_size=4, stride=2, padding=1)``
(``upsample="transpose"``) or with a fixed ``nn.Upsample(scale_factor=2, mode=...)``
followed by a 3x3 convolution (``"nearest"``, ``"bilinear"``, ``"bicubic"``).
Down-sampling stages in `ConvEncoder` are ``nn.Conv2d(kernel_size=3, stride=2,
padding=1)``, which halve an even size exactly. Both encoder and decoder
therefore need height and width divisible by ``2 ** n_stages``.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from probmodels.nn._validation import (
    check_channel_sizes,
    check_image_shape,
    check_nonnegative_int,
    check_option,
    check_positive_int,
)
from probmodels.nn.activations import Activation, make_activation
from probmodels.nn.norm import NormKind, make_norm

__all__ = [
    "UPSAMPLE_MODES",
    "ConvDecoder",
    "ConvEncoder",
    "UpsampleBlock",
    "UpsampleMode",
    "conv_output_size",
    "transpose_conv_output_size",
]

UpsampleMode = Literal["transpose", "nearest", "bilinear", "bicubic"]
"""How an `UpsampleBlock` doubles the resolution: learned or interpolated."""

UPSAMPLE_MODES: tuple[str, ...] = typing.get_args(UpsampleMode)
"""The accepted up-sampling modes, as a tuple (the values of :data:`UpsampleMode`)."""


def conv_output_size(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    r"""Output size of ``nn.Conv2d`` along one spatial axis.

    Parameters
    ----------
    size, kernel_size, stride, padding, dilation : int
        Input size :math:`n`, kernel :math:`k`, stride :math:`s`, padding
        :math:`p` and dilation :math:`d` along that axis.

    Returns
    -------
    int
        :math:`\lfloor (n + 2p - d(k - 1) - 1) / s \rfloor + 1`.

    Raises
    ------
    ValueError
        If an argument is out of range or the dilated kernel does not fit in the
        padded input.
    """
    owner = "conv_output_size"
    for name, value in (
        ("size", size),
        ("kernel_size", kernel_size),
        ("stride", stride),
        ("dilation", dilation),
    ):
        check_positive_int(value, name, owner)
    check_nonnegative_int(padding, "padding", owner)
    span = dilation * (kernel_size - 1) + 1
    if size + 2 * padding < span:
        raise ValueError(
            f"{owner}: the dilated kernel spans {span} pixels but the padded input has only "
            f"size + 2*padding = {size + 2 * padding}; increase padding or use a smaller kernel."
        )
    return (size + 2 * padding - span) // stride + 1


def transpose_conv_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int:
    r"""Output size of ``nn.ConvTranspose2d`` along one spatial axis.

    Parameters
    ----------
    size, kernel_size, stride, padding, output_padding, dilation : int
        Input size :math:`n`, kernel :math:`k`, stride :math:`s`, padding
        :math:`p`, output padding :math:`q` and dilation :math:`d`.

    Returns
    -------
    int
        :math:`(n - 1)s - 2p + d(k - 1) + q + 1`.

    Raises
    ------
    ValueError
        If an argument is out of range, if ``output_padding`` is not smaller than
        ``stride`` or ``dilation`` (torch's rule), or if the result is not positive.

    Examples
    --------
    >>> transpose_conv_output_size(2, kernel_size=2)  # the seed's 2x2 -> 3x3
    3
    >>> transpose_conv_output_size(7, kernel_size=4, stride=2, padding=1)
    14
    """
    owner = "transpose_conv_output_size"
    for name, value in (
        ("size", size),
        ("kernel_size", kernel_size),
        ("stride", stride),
        ("dilation", dilation),
    ):
        check_positive_int(value, name, owner)
    check_nonnegative_int(padding, "padding", owner)
    check_nonnegative_int(output_padding, "output_padding", owner)
    if output_padding >= max(stride, dilation):
        raise ValueError(
            f"{owner}: output_padding must be smaller than stride or dilation; received "
            f"output_padding={output_padding}, stride={stride}, dilation={dilation}. "
            f"Use output_padding < {max(stride, dilation)}."
        )
    out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if out < 1:
        raise ValueError(
            f"{owner}: the output size (size-1)*stride - 2*padding + dilation*(kernel_size-1) "
            f"+ output_padding + 1 = {out} is not positive; reduce padding={padding}."
        )
    return out


class UpsampleBlock(nn.Module):
    """Double height and width and map ``in_channels`` to ``out_channels``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of input and output.
    mode : {"transpose", "nearest", "bilinear", "bicubic"}, default "transpose"
        ``"transpose"``: a learned ``nn.ConvTranspose2d(in, out, kernel_size=4,
        stride=2, padding=1)`` (size ``(n-1)*2 - 2 + 3 + 1 = 2n``). Otherwise
        ``nn.Upsample(scale_factor=2, mode=mode)`` (``align_corners=False`` for
        the linear modes) then ``nn.Conv2d(in, out, kernel_size=3, padding=1)``.

    Notes
    -----
    Input ``(batch, in_channels, height, width)``, output
    ``(batch, out_channels, 2 * height, 2 * width)``. Shared by `ConvDecoder`
    and `UNet`.
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, mode: UpsampleMode = "transpose"
    ) -> None:
        super().__init__()
        owner = "UpsampleBlock"
        check_positive_int(in_channels, "in_channels", owner)
        check_positive_int(out_channels, "out_channels", owner)
        self.mode = check_option(mode, "upsample mode", UPSAMPLE_MODES, owner)
        self.up: nn.Module
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(
                in_channels, out_channels, kernel_size=4, stride=2, padding=1
            )
        else:
            align = None if mode == "nearest" else False
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode=mode, align_corners=align),
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, H, W)`` to ``(batch, out_channels, 2H, 2W)``."""
        return self.up(x)


def _check_reachable(height: int, width: int, n_stages: int, owner: str, what: str) -> None:
    """Raise unless height and width are divisible by ``2 ** n_stages``."""
    factor = 2**n_stages
    if height % factor == 0 and width % factor == 0:
        return

    def twos(n: int) -> int:
        k = 0
        while n % 2 == 0:
            n //= 2
            k += 1
        return k

    max_stages = min(twos(height), twos(width))
    fix = (
        f"use at most {max_stages} stage(s) (len(channels) <= {max_stages})"
        if max_stages > 0
        else "use an even height and width"
    )
    raise ValueError(
        f"{owner}: {n_stages} stage(s) that each {what} height and width need both to be "
        f"divisible by 2**{n_stages} = {factor}; received height={height}, width={width}. "
        f"Either {fix}, or pad/crop the images to a multiple of {factor}."
    )


def _flatten_batch(
    x: torch.Tensor, event_shape: tuple[int, ...], owner: str
) -> tuple[torch.Size, torch.Tensor]:
    """Check ``x.shape == batch_shape + event_shape`` and return (batch_shape, x as (N,) + event_shape)."""
    k = len(event_shape)
    if x.dim() < k or tuple(x.shape[x.dim() - k :]) != event_shape:
        raise ValueError(
            f"{owner}: expected input of shape (..., {', '.join(map(str, event_shape))}); "
            f"received shape {tuple(x.shape)}."
        )
    batch_shape = x.shape[: x.dim() - k]
    return batch_shape, x.reshape(-1, *event_shape)


class ConvEncoder(nn.Module):
    """Strided convolutions, then flatten and a linear layer.

    Stage :math:`i` is ``Conv2d(c_{i-1}, channels[i], kernel_size=3, stride=2,
    padding=1)``, norm, activation, halving height and width; then the feature map
    ``(channels[-1], H / 2**n, W / 2**n)`` is flattened and mapped linearly to
    ``out_features``.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channel, height, width)`` of one image; height and width must be
        divisible by ``2 ** len(channels)``.
    channels : sequence of int, default (32, 64)
        Output channels of each stride-2 stage, ``n = len(channels) >= 1`` stages.
    out_features : int
        Size of the output vector (for a VAE encoder, e.g. ``2 * latent_dim``).
    norm : {"batch", "instance", "layer", "group"} or None, default None
        Normalization after each convolution (`make_norm`).
    activation : Activation, default "relu"
        Activation after each normalization.

    Raises
    ------
    ValueError
        If the shape cannot be halved ``len(channels)`` times, or for bad sizes or
        option names.

    Examples
    --------
    >>> enc = ConvEncoder((1, 28, 28), channels=(32, 64), out_features=20)  # 28 -> 14 -> 7
    >>> enc(torch.zeros(5, 1, 28, 28)).shape
    torch.Size([5, 20])
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        channels: Sequence[int] = (32, 64),
        out_features: int = 32,
        *,
        norm: NormKind | None = None,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        owner = "ConvEncoder"
        self.input_shape = check_image_shape(input_shape, "input_shape", owner)
        self.channels = check_channel_sizes(channels, "channels", owner)
        self.out_features = check_positive_int(out_features, "out_features", owner)
        c, h, w = self.input_shape
        n = len(self.channels)
        _check_reachable(h, w, n, owner, "halve")
        layers: list[nn.Module] = []
        c_in = c
        for c_out in self.channels:
            layers += [
                nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1),
                make_norm(norm, c_out),
                make_activation(activation),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        # (N, channels[-1], H / 2**n, W / 2**n) -> (N, channels[-1] * H * W / 4**n)
        self.feature_shape = (self.channels[-1], h // 2**n, w // 2**n)
        self.head = nn.Linear(self.channels[-1] * (h // 2**n) * (w // 2**n), self.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images ``batch_shape + (C, H, W)`` to ``batch_shape + (out_features,)``."""
        batch_shape, x = _flatten_batch(x, self.input_shape, "ConvEncoder")
        y = self.head(self.features(x).flatten(1))
        return y.reshape(*batch_shape, self.out_features)


class ConvDecoder(nn.Module):
    """A linear layer to a small grid, then up-sampling stages to ``output_shape``.

    The input vector is mapped linearly to ``channels[0] * H0 * W0`` values,
    reshaped to ``(channels[0], H0, W0)`` with ``H0 = H / 2**n`` and
    ``W0 = W / 2**n`` (``n = len(channels)``) and passed through an activation.
    Stage :math:`i` is an `UpsampleBlock` from ``channels[i-1]`` (``channels[0]``
    for the first) to ``channels[i]``, norm, activation. A final 3x3 convolution
    maps ``channels[-1]`` to the ``C`` output channels, with no activation (the
    output is unconstrained: logits or means).

    Parameters
    ----------
    in_features : int
        Size of the input vector (for a VAE decoder, the latent dimension).
    output_shape : tuple of int
        ``(channel, height, width)`` of the output image; height and width must be
        divisible by ``2 ** len(channels)``.
    channels : sequence of int, default (64, 32)
        Channels after each up-sampling stage (``n = len(channels) >= 1``
        stages); the mirror of a `ConvEncoder`'s ``channels``.
    upsample : {"transpose", "nearest", "bilinear", "bicubic"}, default "transpose"
        How each stage doubles the resolution (see `UpsampleBlock`).
    norm : {"batch", "instance", "layer", "group"} or None, default None
        Normalization after each up-sampling stage.
    activation : Activation, default "relu"
        Activation after the first linear layer and after each normalization.

    Raises
    ------
    ValueError
        If ``output_shape`` cannot be reached by doubling ``len(channels)``
        times from an integer grid, or for bad sizes or option names.

    Examples
    --------
    >>> dec = ConvDecoder(20, (1, 28, 28), channels=(64, 32), upsample="bilinear")  # 7 -> 14 -> 28
    >>> dec(torch.zeros(5, 20)).shape
    torch.Size([5, 1, 28, 28])
    """

    def __init__(
        self,
        in_features: int,
        output_shape: tuple[int, int, int],
        channels: Sequence[int] = (64, 32),
        *,
        upsample: UpsampleMode = "transpose",
        norm: NormKind | None = None,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        owner = "ConvDecoder"
        self.in_features = check_positive_int(in_features, "in_features", owner)
        self.output_shape = check_image_shape(output_shape, "output_shape", owner)
        self.channels = check_channel_sizes(channels, "channels", owner)
        self.upsample = check_option(upsample, "upsample", UPSAMPLE_MODES, owner)
        c, h, w = self.output_shape
        n = len(self.channels)
        _check_reachable(h, w, n, owner, "double")
        self.start_shape = (self.channels[0], h // 2**n, w // 2**n)
        self.project = nn.Sequential(
            nn.Linear(
                self.in_features, self.channels[0] * self.start_shape[1] * self.start_shape[2]
            ),
            # (N, channels[0] * H0 * W0) -> (N, channels[0], H0, W0)
            nn.Unflatten(1, self.start_shape),
            make_activation(activation),
        )
        layers: list[nn.Module] = []
        c_in = self.channels[0]
        for c_out in self.channels:
            layers += [
                UpsampleBlock(c_in, c_out, mode=upsample),
                make_norm(norm, c_out),
                make_activation(activation),
            ]
            c_in = c_out
        layers.append(nn.Conv2d(c_in, c, kernel_size=3, padding=1))
        self.stages = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map ``batch_shape + (in_features,)`` to ``batch_shape + (C, H, W)``."""
        batch_shape, z = _flatten_batch(z, (self.in_features,), "ConvDecoder")
        x = self.stages(self.project(z))
        return x.reshape(*batch_shape, *self.output_shape)
