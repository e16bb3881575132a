"""Size formulas, interpolation, UpsampleBlock, ConvEncoder and ConvDecoder."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from probmodels.nn import (
    UPSAMPLE_MODES,
    ConvDecoder,
    ConvEncoder,
    UpsampleBlock,
    conv_output_size,
    transpose_conv_output_size,
)

TOL64 = 1e-12  # float64 interpolation of small numbers
TOL32 = 1e-6  # float32 copies and short sums


def test_transpose_conv_output_size_matches_torch_over_a_grid():
    checked = rejected = 0
    for n, k, s, p, q, d in itertools.product((1, 2, 3, 5, 7), (1, 2, 3, 4), (1, 2, 3), (0, 1, 2), (0, 1, 2), (1, 2)):
        layer = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=q, dilation=d, bias=False)
        x = torch.zeros(1, 1, n, n)
        try:
            expected = transpose_conv_output_size(n, k, s, p, q, d)
        except ValueError:
            # Whatever the formula rejects, torch rejects too, or returns an empty map
            # (some kernels give a 0x0 output instead of raising).
            try:
                out = layer(x)
            except (RuntimeError, ValueError):
                pass
            else:
                assert out.numel() == 0, (n, k, s, p, q, d)
            rejected += 1
            continue
        assert layer(x).shape[-2:] == (expected, expected), (n, k, s, p, q, d)
        assert expected == (n - 1) * s - 2 * p + d * (k - 1) + q + 1
        checked += 1
    assert checked > 500 and rejected > 100


def test_conv_output_size_matches_torch_over_a_grid():
    checked = rejected = 0
    for n, k, s, p, d in itertools.product((1, 2, 3, 5, 8), (1, 2, 3, 4), (1, 2, 3), (0, 1, 2), (1, 2)):
        try:
            expected = conv_output_size(n, k, s, p, d)
        except ValueError:
            with pytest.raises(RuntimeError):
                F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d)
            rejected += 1
            continue
        out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d)
        assert out.shape[-2:] == (expected, expected), (n, k, s, p, d)
        checked += 1
    assert checked > 250 and rejected > 50


def test_transpose_conv_output_size_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"output_padding must be smaller than stride or dilation.*output_padding=2, stride=2"):
        transpose_conv_output_size(4, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"= -2 is not positive; reduce padding=2"):
        transpose_conv_output_size(1, 2, padding=2)
    with pytest.raises(ValueError, match=r"kernel_size must be a positive integer; received 0"):
        transpose_conv_output_size(4, 0)


def test_conv_output_size_rejects_a_kernel_larger_than_the_input():
    with pytest.raises(ValueError, match=r"dilated kernel spans 5 pixels.*size \+ 2\*padding = 3"):
        conv_output_size(3, 3, dilation=2)


def test_nearest_interpolation_repeats_pixels(rng):
    x = rng.normal(size=(2, 3, 4, 5))
    out = nn.Upsample(scale_factor=2, mode="nearest")(torch.from_numpy(x))
    assert out.shape == (2, 3, 8, 10)
    np.testing.assert_array_equal(out.numpy(), np.repeat(np.repeat(x, 2, axis=2), 2, axis=3))


def linear_upsample_1d(x, axis, scale=2):
    """Half-pixel linear interpolation (align_corners=False): source = (o + 0.5)/scale - 0.5, clamped."""
    n = x.shape[axis]
    src = np.clip((np.arange(n * scale) + 0.5) / scale - 0.5, 0, None)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = src - i0
    shape = [1] * x.ndim
    shape[axis] = -1
    return np.take(x, i0, axis=axis) * (1 - lam).reshape(shape) + np.take(x, i1, axis=axis) * lam.reshape(shape)


def test_bilinear_interpolation_matches_numpy(rng):
    x = rng.normal(size=(2, 3, 4, 5))
    out = F.interpolate(torch.from_numpy(x), scale_factor=2, mode="bilinear", align_corners=False)
    assert out.shape == (2, 3, 8, 10)
    expected = linear_upsample_1d(linear_upsample_1d(x, 2), 3)
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=TOL64)


@pytest.mark.parametrize("mode", UPSAMPLE_MODES)
def test_upsample_block_doubles_size_and_maps_channels(mode):
    block = UpsampleBlock(6, 4, mode=mode)
    assert block(torch.randn(3, 6, 5, 7)).shape == (3, 4, 10, 14)


def test_upsample_block_layers():
    up = UpsampleBlock(6, 4, mode="transpose").up
    assert isinstance(up, nn.ConvTranspose2d)
    assert (up.kernel_size, up.stride, up.padding) == ((4, 4), (2, 2), (1, 1))
    for mode in ("nearest", "bilinear", "bicubic"):
        interp, conv = UpsampleBlock(6, 4, mode=mode).up
        assert isinstance(interp, nn.Upsample) and interp.mode == mode and interp.scale_factor == 2
        assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.padding == (1, 1)


def test_nearest_upsample_block_interpolates_before_the_conv(rng):
    block = UpsampleBlock(1, 1, mode="nearest")
    conv = block.up[1]
    with torch.no_grad():  # identity 3x3 kernel: the block reduces to its interpolation
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 1.0
        conv.bias.zero_()
    x = rng.normal(size=(1, 1, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(
        block(torch.from_numpy(x)).detach().numpy(), np.repeat(np.repeat(x, 2, axis=2), 2, axis=3), rtol=0, atol=TOL32
    )


def test_unknown_upsample_mode_lists_accepted_values():
    with pytest.raises(ValueError, match=r"unknown upsample mode 'linear'.*'transpose', 'nearest', 'bilinear', 'bicubic'"):
        UpsampleBlock(2, 2, mode="linear")
    with pytest.raises(ValueError, match=r"unknown upsample 'pixelshuffle'.*'transpose'"):
        ConvDecoder(4, (1, 8, 8), (8,), upsample="pixelshuffle")


ENCODER_CASES = [
    ((1, 8, 8), (16,), (16, 4, 4)),
    ((1, 8, 8), (16, 32), (32, 2, 2)),
    ((1, 8, 8), (8, 16, 32), (32, 1, 1)),
    ((1, 28, 28), (32, 64), (64, 7, 7)),
    ((3, 12, 16), (8, 8), (8, 3, 4)),
]


@pytest.mark.parametrize(("input_shape", "channels", "feature_shape"), ENCODER_CASES)
@pytest.mark.parametrize("norm", [None, "batch", "group"])
def test_encoder_shapes(input_shape, channels, feature_shape, norm):
    enc = ConvEncoder(input_shape, channels, 10, norm=norm)
    assert enc.feature_shape == feature_shape
    assert enc.features(torch.randn(2, *input_shape)).shape == (2, *feature_shape)
    assert enc(torch.randn(2, *input_shape)).shape == (2, 10)
    assert enc(torch.randn(3, 2, *input_shape)).shape == (3, 2, 10)


def test_encoder_layers_and_norm_placement():
    enc = ConvEncoder((1, 8, 8), (16, 32), 10, norm="batch", activation="silu")
    assert [type(m) for m in enc.features] == [nn.Conv2d, nn.BatchNorm2d, nn.SiLU] * 2
    assert all(m.stride == (2, 2) and m.kernel_size == (3, 3) for m in enc.features if isinstance(m, nn.Conv2d))
    assert enc.head.in_features == 32 * 2 * 2


DECODER_CASES = [
    ((1, 8, 8), (16,), (16, 4, 4)),
    ((1, 8, 8), (32, 16), (32, 2, 2)),
    ((1, 8, 8), (32, 16, 8), (32, 1, 1)),
    ((1, 28, 28), (64, 32), (64, 7, 7)),
    ((3, 12, 16), (8, 8), (8, 3, 4)),
]


@pytest.mark.parametrize(("output_shape", "channels", "start_shape"), DECODER_CASES)
@pytest.mark.parametrize("upsample", UPSAMPLE_MODES)
def test_decoder_shapes_for_every_upsample_mode(output_shape, channels, start_shape, upsample):
    dec = ConvDecoder(5, output_shape, channels, upsample=upsample, norm="group")
    assert dec.start_shape == start_shape
    assert dec.project(torch.randn(2, 5)).shape == (2, *start_shape)
    assert dec(torch.randn(2, 5)).shape == (2, *output_shape)
    assert dec(torch.randn(4, 2, 5)).shape == (4, 2, *output_shape)


def test_decoder_layers_and_norm_placement():
    dec = ConvDecoder(5, (1, 28, 28), (64, 32), upsample="bilinear", norm="batch")
    types = [type(m) for m in dec.stages]
    assert types == [UpsampleBlock, nn.BatchNorm2d, nn.ReLU] * 2 + [nn.Conv2d]
    assert [(b.up[1].in_channels, b.up[1].out_channels) for b in dec.stages if isinstance(b, UpsampleBlock)] == [(64, 64), (64, 32)]
    assert dec.stages[-1].out_channels == 1


def test_encoder_decoder_round_trip_shapes():
    enc = ConvEncoder((1, 28, 28), (32, 64), 2 * 8)
    dec = ConvDecoder(8, (1, 28, 28), (64, 32))
    x = torch.randn(3, 1, 28, 28)
    mean = enc(x)[..., :8]
    assert dec(mean).shape == x.shape


@pytest.mark.parametrize("cls", ["encoder", "decoder"])
@pytest.mark.parametrize(
    ("shape", "channels", "match"),
    [
        ((1, 28, 28), (8, 16, 32), r"divisible by 2\*\*3 = 8; received height=28, width=28.*at most 2 stage"),
        ((1, 8, 12), (8, 8, 8), r"divisible by 2\*\*3 = 8; received height=8, width=12.*at most 2 stage"),
        ((1, 7, 7), (8,), r"divisible by 2\*\*1 = 2; received height=7, width=7.*even height and width"),
    ],
)
def test_unreachable_shapes_raise(cls, shape, channels, match):
    with pytest.raises(ValueError, match=match):
        if cls == "encoder":
            ConvEncoder(shape, channels, 4)
        else:
            ConvDecoder(4, shape, channels)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(input_shape=(28, 28), channels=(8,)), r"input_shape must be \(channel, height, width\)"),
        (dict(input_shape=(1, 8, 8), channels=()), r"channels must name at least one stage"),
        (dict(input_shape=(1, 8, 8), channels=(8, 0)), r"channels\[1\] must be a positive integer"),
        (dict(input_shape=(1, 8, 8), channels=(8,), norm="instance", activation="swish"), r"unknown activation 'swish'"),
        (dict(input_shape=(1, 8, 8), channels=(8,), norm="bn"), r"unknown norm 'bn'"),
    ],
)
def test_encoder_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvEncoder(out_features=4, **kwargs)


def test_forward_checks_the_input_shape():
    with pytest.raises(ValueError, match=r"ConvEncoder: expected input of shape \(\.\.\., 1, 8, 8\); received shape \(2, 1, 28, 28\)"):
        ConvEncoder((1, 8, 8), (8,), 4)(torch.randn(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"ConvDecoder: expected input of shape \(\.\.\., 4\); received shape \(2, 5\)"):
        ConvDecoder(4, (1, 8, 8), (8,))(torch.randn(2, 5))
