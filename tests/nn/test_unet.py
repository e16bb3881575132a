"""Sinusoidal time embedding, TimeMLP and UNet."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from probmodels.nn import UPSAMPLE_MODES, SinusoidalTimeEmbedding, TimeMLP, UNet, UpsampleBlock

TOL_EMB = 1e-6  # angles in float64, result rounded once to float32 (|values| <= 1)


def numpy_embedding(t, dim, max_period=10000.0):
    """e(t) = (sin(t w_0..m-1), cos(t w_0..m-1)), w_i = P^(-i/m), m = dim/2 (Vaswani et al. 2017)."""
    m = dim // 2
    omega = max_period ** (-np.arange(m) / m)
    angle = np.asarray(t, dtype=np.float64)[..., None] * omega
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=-1)


@pytest.mark.parametrize("dim", [2, 16, 64])
def test_sinusoidal_embedding_matches_numpy_for_integer_steps(dim):
    t = torch.tensor([0, 1, 7, 250, 999])
    emb = SinusoidalTimeEmbedding(dim)(t)
    assert emb.shape == (5, dim) and emb.dtype == torch.float32
    np.testing.assert_allclose(emb.numpy(), numpy_embedding(t.numpy(), dim), rtol=0, atol=TOL_EMB)


def test_sinusoidal_embedding_of_real_steps_keeps_float64():
    t = torch.tensor([0.0, 0.5, 12.25, 999.75], dtype=torch.float64)
    emb = SinusoidalTimeEmbedding(8, max_period=100.0)(t)
    assert emb.dtype == torch.float64
    np.testing.assert_allclose(emb.numpy(), numpy_embedding(t.numpy(), 8, 100.0), rtol=0, atol=1e-12)


def test_sinusoidal_embedding_known_values():
    emb = SinusoidalTimeEmbedding(4)(torch.tensor([0, 1]))
    # m = 2: w = (1, 1/100); t = 0 gives sines 0 and cosines 1.
    expected = [[0.0, 0.0, 1.0, 1.0], [math.sin(1.0), math.sin(0.01), math.cos(1.0), math.cos(0.01)]]
    np.testing.assert_allclose(emb.numpy(), expected, rtol=0, atol=TOL_EMB)


def test_sinusoidal_embedding_rejects_odd_dim():
    with pytest.raises(ValueError, match=r"dim must be even.*received dim=7. Use dim=8"):
        SinusoidalTimeEmbedding(7)


@pytest.mark.parametrize("batch", [1, 5])
def test_time_mlp_output_shape_equals_input_shape(batch):
    net = TimeMLP(2, hidden=32, depth=3, time_dim=16)
    x = torch.randn(batch, 2)
    assert net(x, torch.randint(0, 1000, (batch,))).shape == x.shape
    assert net(x, torch.tensor(3)).shape == x.shape  # one t for the whole batch


def test_time_mlp_uses_the_timestep():
    net = TimeMLP(2, hidden=32, depth=2, time_dim=16)
    x = torch.randn(4, 2)
    out_0, out_500 = net(x, torch.zeros(4, dtype=torch.long)), net(x, torch.full((4,), 500))
    assert (out_0 - out_500).abs().max() > 1e-3
    # a scalar t equals the same t repeated per example (float32 tolerance)
    torch.testing.assert_close(net(x, torch.tensor(500)), out_500, rtol=1e-5, atol=1e-5)


def test_time_mlp_layers():
    net = TimeMLP(3, hidden=64, depth=3, time_dim=32)
    assert [(m.in_features, m.out_features) for m in net.layers] == [(3, 64), (64, 64), (64, 64)]
    assert len(net.time_proj) == 3 and isinstance(net.act, nn.SiLU)
    assert (net.out.in_features, net.out.out_features) == (64, 3)


def test_time_mlp_bad_inputs():
    net = TimeMLP(2, hidden=8, depth=1, time_dim=4)
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, 2\); received shape \(5, 3\)"):
        net(torch.randn(5, 3), torch.zeros(5))
    with pytest.raises(ValueError, match=r"t must have shape \(\) or batch_shape = \(5,\).*received shape \(4,\)"):
        net(torch.randn(5, 2), torch.zeros(4))


@pytest.mark.parametrize("upsample", UPSAMPLE_MODES)
def test_unet_output_shape_equals_input_shape_on_8x8(upsample):
    net = UNet(1, base_channels=16, channel_mults=(1, 2), num_groups=8, upsample=upsample)
    x = torch.randn(3, 1, 8, 8)
    assert net(x, torch.tensor([0, 10, 999])).shape == x.shape


@pytest.mark.parametrize(("shape", "mults"), [((2, 3, 16, 12), (1, 2, 4)), ((2, 1, 8, 8), (1,)), ((2, 1, 8, 8), (1, 1, 2, 2))])
def test_unet_other_depths(shape, mults):
    net = UNet(shape[1], base_channels=8, channel_mults=mults, num_groups=4)
    assert net(torch.randn(shape), torch.tensor(5)).shape == shape


def test_unet_structure():
    net = UNet(1, base_channels=16, channel_mults=(1, 2, 2), num_groups=8, upsample="bilinear", out_channels=2)
    assert all(isinstance(m, UpsampleBlock) and m.mode == "bilinear" for m in net.upsamples)
    assert len(net.upsamples) == len(net.downsamples) == 2
    assert all(m.stride == (2, 2) for m in net.downsamples)
    norms = [m for m in net.modules() if isinstance(m, nn.GroupNorm)]
    assert norms and all(m.num_groups == 8 for m in norms)
    # skip connections: the up blocks take (channels from below + skip channels)
    assert [b.conv1.in_channels for b in net.up_blocks] == [32 + 32, 32 + 32, 32 + 16]
    assert net(torch.randn(2, 1, 8, 8), torch.tensor([1, 2])).shape == (2, 2, 8, 8)


def test_unet_uses_the_timestep():
    net = UNet(1, base_channels=8, channel_mults=(1, 2), num_groups=4)
    x = torch.randn(2, 1, 8, 8)
    assert (net(x, torch.tensor([0, 0])) - net(x, torch.tensor([700, 700]))).abs().max() > 1e-4


def test_unet_batched_equals_looped():
    net = UNet(1, base_channels=8, channel_mults=(1, 2), num_groups=4).eval()
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([3, 30, 300])
    looped = torch.cat([net(x[i : i + 1], t[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(net(x, t), looped, rtol=1e-4, atol=1e-5)  # float32, different reduction order


def test_unet_rejects_indivisible_spatial_size():
    net = UNet(1, base_channels=8, channel_mults=(1, 2, 2), num_groups=4)
    with pytest.raises(ValueError, match=r"divisible by 2\*\*2 = 4; received height=6, width=8.*fewer channel_mults"):
        net(torch.randn(2, 1, 6, 8), torch.zeros(2))


def test_unet_rejects_wrong_channels():
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, 1, height, width\); received shape \(2, 3, 8, 8\)"):
        UNet(1, base_channels=8, num_groups=4)(torch.randn(2, 3, 8, 8), torch.zeros(2))


def test_unet_rejects_groups_not_dividing_widths():
    with pytest.raises(ValueError, match=r"num_groups=8 must divide every level width.*\[12, 24\].*\[12\]"):
        UNet(1, base_channels=12, channel_mults=(1, 2), num_groups=8)


def test_unet_rejects_bad_options():
    with pytest.raises(ValueError, match=r"unknown upsample 'conv'"):
        UNet(1, base_channels=8, num_groups=4, upsample="conv")
    with pytest.raises(ValueError, match=r"channel_mults must be a non-empty sequence"):
        UNet(1, base_channels=8, num_groups=4, channel_mults=())


def test_float64_networks_accept_integer_timesteps():
    t = torch.tensor([1, 500])
    mlp = TimeMLP(2, hidden=8, depth=1, time_dim=4).double()
    assert mlp(torch.randn(2, 2, dtype=torch.float64), t).dtype == torch.float64
    unet = UNet(1, base_channels=8, channel_mults=(1, 2), num_groups=4).double()
    assert unet(torch.randn(2, 1, 8, 8, dtype=torch.float64), t).dtype == torch.float64


@pytest.mark.parametrize("t", [torch.tensor([1, 2]), 7, 3.5])
def test_timesteps_follow_the_input_device(t):
    # "meta" tensors stand in for an accelerator: mixing them with CPU tensors
    # raises, so a timestep or frequency table left on the CPU would fail here.
    mlp = TimeMLP(2, hidden=8, depth=1, time_dim=4).to("meta")
    assert mlp(torch.empty(2, 2, device="meta"), t).device.type == "meta"
    unet = UNet(1, base_channels=8, channel_mults=(1, 2), num_groups=4).to("meta")
    assert unet(torch.empty(2, 1, 8, 8, device="meta"), t).device.type == "meta"
