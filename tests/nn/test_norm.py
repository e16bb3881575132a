"""make_norm against numpy oracles written from the seed's normalization formulas.

Oracle (seed, section 3.1/3.2): mu and the biased variance sigma^2 over the axes
of each kind, x_hat = (x - mu) / sqrt(sigma^2 + eps), y = gamma_c * x_hat + beta_c.
Inputs are float64, so torch and numpy agree to rounding: tolerance 1e-10.
"""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from probmodels.nn import NORM_KINDS, default_num_groups, make_norm
from probmodels.nn.norm import NormKind

EPS = 1e-5  # torch's default epsilon for every norm layer
TOL = 1e-10  # float64 end to end


def normalize(x, axes, eps=EPS):
    """(x - mean) / sqrt(biased var + eps) over ``axes``, statistics kept broadcastable."""
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


def affine(x_hat, gamma, beta):
    """gamma_c * x_hat + beta_c with c the axis 1 of (N, C, ...) inputs."""
    shape = (1, -1) + (1,) * (x_hat.ndim - 2)
    return gamma.reshape(shape) * x_hat + beta.reshape(shape)


def batch_oracle(x, gamma, beta):
    # mu_c, sigma_c^2 over (n, h, w)
    return affine(normalize(x, (0, 2, 3)), gamma, beta)


def instance_oracle(x, gamma, beta):
    # mu_{n,c}, sigma_{n,c}^2 over (h, w)
    return affine(normalize(x, (2, 3)), gamma, beta)


def layer_oracle(x, gamma, beta):
    # mu_n, sigma_n^2 over (c, h, w)
    return affine(normalize(x, (1, 2, 3)), gamma, beta)


def group_oracle(x, gamma, beta, groups):
    # mu_{n,g}, sigma_{n,g}^2 over the channels of group g and (h, w)
    n, c, h, w = x.shape
    xg = x.reshape(n, groups, c // groups, h, w)
    return affine(normalize(xg, (2, 3, 4)).reshape(n, c, h, w), gamma, beta)


def set_affine(layer, gamma, beta):
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(gamma))
        layer.bias.copy_(torch.as_tensor(beta))


@pytest.fixture
def images(rng):
    # (batch, channel, height, width) with per-channel offsets and scales so that
    # pooling over the wrong axes changes the result.
    x = rng.normal(size=(4, 6, 5, 3)) * rng.uniform(0.5, 3.0, size=(1, 6, 1, 1))
    return x + rng.normal(scale=2.0, size=(1, 6, 1, 1)) + rng.normal(size=(4, 1, 1, 1))


@pytest.fixture
def gamma_beta(rng):
    return rng.uniform(0.5, 2.0, size=6), rng.normal(size=6)


@pytest.mark.parametrize(
    ("kind", "num_groups", "oracle"),
    [
        ("batch", None, batch_oracle),
        ("instance", None, instance_oracle),
        ("layer", None, layer_oracle),
        ("group", 3, lambda x, g, b: group_oracle(x, g, b, 3)),
        ("group", 2, lambda x, g, b: group_oracle(x, g, b, 2)),
        ("group", None, lambda x, g, b: group_oracle(x, g, b, 6)),  # default: 6 divides 6
    ],
)
def test_training_mode_matches_oracle(kind, num_groups, oracle, images, gamma_beta):
    layer = make_norm(kind, 6, num_groups=num_groups).double().train()
    set_affine(layer, *gamma_beta)
    y = layer(torch.from_numpy(images)).detach().numpy()
    np.testing.assert_allclose(y, oracle(images, *gamma_beta), rtol=0, atol=TOL)


@pytest.mark.parametrize(
    ("kind", "num_groups", "oracle"),
    [
        ("instance", None, instance_oracle),
        ("layer", None, layer_oracle),
        ("group", 3, lambda x, g, b: group_oracle(x, g, b, 3)),
    ],
)
def test_eval_mode_without_running_stats_matches_oracle(kind, num_groups, oracle, images, gamma_beta):
    # Instance, layer and group norm use the current sample's statistics in eval mode too.
    layer = make_norm(kind, 6, num_groups=num_groups).double()
    set_affine(layer, *gamma_beta)
    layer(torch.from_numpy(images))  # a training pass must not change eval behaviour
    y = layer.eval()(torch.from_numpy(images)).detach().numpy()
    np.testing.assert_allclose(y, oracle(images, *gamma_beta), rtol=0, atol=TOL)


def test_batch_norm_running_statistics_and_eval(rng, gamma_beta):
    layer = make_norm("batch", 6).double()
    set_affine(layer, *gamma_beta)
    momentum = layer.momentum
    assert momentum == 0.1
    running_mean, running_var = np.zeros(6), np.ones(6)
    for step in range(3):
        x = rng.normal(loc=step, scale=1.0 + step, size=(5, 6, 4, 4))
        layer.train()(torch.from_numpy(x))
        count = x.shape[0] * x.shape[2] * x.shape[3]
        mean = x.mean(axis=(0, 2, 3))
        # torch stores the unbiased variance (N*H*W - 1 denominator) in running_var,
        # while normalizing with the biased one (the seed's formula).
        unbiased = x.var(axis=(0, 2, 3)) * count / (count - 1)
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * unbiased
        np.testing.assert_allclose(layer.running_mean.numpy(), running_mean, rtol=0, atol=TOL)
        np.testing.assert_allclose(layer.running_var.numpy(), running_var, rtol=0, atol=TOL)

    x_test = rng.normal(size=(2, 6, 4, 4))
    y = layer.eval()(torch.from_numpy(x_test)).detach().numpy()
    shape = (1, 6, 1, 1)
    x_hat = (x_test - running_mean.reshape(shape)) / np.sqrt(running_var.reshape(shape) + EPS)
    np.testing.assert_allclose(y, affine(x_hat, *gamma_beta), rtol=0, atol=TOL)
    # and eval output differs from the batch-statistics output
    assert not np.allclose(y, batch_oracle(x_test, *gamma_beta), atol=1e-3)


def test_vector_norms_match_oracle(rng):
    x = rng.normal(loc=3.0, scale=2.0, size=(7, 5)) + rng.normal(size=(7, 1))
    gamma, beta = rng.uniform(0.5, 2.0, size=5), rng.normal(size=5)

    batch = make_norm("batch", 5, spatial=False).double().train()
    set_affine(batch, gamma, beta)
    expected = gamma * normalize(x, (0,)) + beta  # over the batch, per feature
    np.testing.assert_allclose(batch(torch.from_numpy(x)).detach().numpy(), expected, rtol=0, atol=TOL)

    layer = make_norm("layer", 5, spatial=False).double()
    set_affine(layer, gamma, beta)
    expected = gamma * normalize(x, (1,)) + beta  # over the features, per sample
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), expected, rtol=0, atol=TOL)


def test_group_norm_with_one_group_is_layer_norm_over_chw(images, gamma_beta):
    gamma, beta = gamma_beta
    x = torch.from_numpy(images)
    gn = nn.GroupNorm(1, 6).double()
    set_affine(gn, gamma, beta)
    c, h, w = x.shape[1:]
    # nn.LayerNorm((C, H, W)) learns one (gamma, beta) per pixel; with the
    # per-channel values broadcast over (H, W) it is the same map.
    ln = F.layer_norm(
        x,
        (c, h, w),
        weight=torch.from_numpy(gamma)[:, None, None].expand(c, h, w),
        bias=torch.from_numpy(beta)[:, None, None].expand(c, h, w),
        eps=EPS,
    )
    torch.testing.assert_close(gn(x), ln, rtol=0, atol=TOL)
    torch.testing.assert_close(make_norm("layer", 6).double()(x), F.layer_norm(x, (c, h, w), eps=EPS), rtol=0, atol=TOL)


def test_group_norm_with_one_channel_per_group_is_instance_norm(images, gamma_beta):
    x = torch.from_numpy(images)
    gn, inorm = make_norm("group", 6, num_groups=6).double(), make_norm("instance", 6).double()
    set_affine(gn, *gamma_beta)
    set_affine(inorm, *gamma_beta)
    torch.testing.assert_close(gn(x), inorm(x), rtol=0, atol=TOL)


@pytest.mark.parametrize(
    ("kind", "spatial", "num_groups", "expected"),
    [
        ("batch", True, None, nn.BatchNorm2d),
        ("batch", False, None, nn.BatchNorm1d),
        ("instance", True, None, nn.InstanceNorm2d),
        ("layer", True, None, nn.GroupNorm),
        ("layer", False, None, nn.LayerNorm),
        ("group", True, 4, nn.GroupNorm),
        ("group", False, 4, nn.GroupNorm),
        (None, True, None, nn.Identity),
        (None, False, None, nn.Identity),
    ],
)
def test_make_norm_returns_torch_layers(kind, spatial, num_groups, expected):
    layer = make_norm(kind, 8, spatial=spatial, num_groups=num_groups)
    assert type(layer) is expected
    if isinstance(layer, nn.GroupNorm):
        assert layer.num_groups == (1 if kind == "layer" else num_groups)
    if isinstance(layer, nn.InstanceNorm2d):
        assert layer.affine


def test_every_kind_is_accepted():
    assert NORM_KINDS == ("batch", "instance", "layer", "group")
    assert NORM_KINDS == NormKind.__args__
    for kind in NORM_KINDS:
        assert isinstance(make_norm(kind, 4), nn.Module)


@pytest.mark.parametrize(("channels", "groups"), [(1, 1), (7, 7), (8, 8), (32, 32), (48, 24), (64, 32), (96, 32), (66, 22)])
def test_default_num_groups_is_largest_divisor_at_most_32(channels, groups):
    assert default_num_groups(channels) == groups
    assert make_norm("group", channels).num_groups == groups


def test_unknown_kind_lists_accepted_values():
    with pytest.raises(ValueError, match=r"unknown norm 'bn'.*'batch', 'instance', 'layer', 'group'"):
        make_norm("bn", 4)


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match=r"num_groups=4 and num_channels=6.*\[1, 2, 3, 6\]"):
        make_norm("group", 6, num_groups=4)


def test_instance_norm_rejects_vectors():
    with pytest.raises(ValueError, match=r"norm='instance'.*spatial=False.*'layer' or 'batch'"):
        make_norm("instance", 6, spatial=False)


def test_num_groups_only_for_group_norm():
    with pytest.raises(ValueError, match=r"num_groups=2 only applies to norm='group'"):
        make_norm("batch", 6, num_groups=2)


@pytest.mark.parametrize("bad", [0, -3, 2.0, True])
def test_num_channels_must_be_positive_int(bad):
    with pytest.raises(ValueError, match=r"num_channels must be a positive integer"):
        make_norm("layer", bad)


@pytest.mark.parametrize(("channels", "groups"), [(1, 1), (2, 1), (7, 1), (8, 4), (64, 32), (256, 32)])
def test_default_num_groups_for_vectors_keeps_two_features_per_group(channels, groups):
    assert default_num_groups(channels, spatial=False) == groups


def test_vector_group_norm_matches_oracle(rng):
    x = rng.normal(size=(5, 8)) * rng.uniform(0.5, 3.0, size=8)
    gamma, beta = rng.uniform(0.5, 2.0, size=8), rng.normal(size=8)
    layer = make_norm("group", 8, spatial=False).double()  # 4 groups of 2 features
    set_affine(layer, gamma, beta)
    expected = gamma * normalize(x.reshape(5, 4, 2), (2,)).reshape(5, 8) + beta
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), expected, rtol=0, atol=TOL)


def test_vector_group_norm_rejects_one_feature_per_group():
    with pytest.raises(ValueError, match=r"one feature in each group.*norm='layer'"):
        make_norm("group", 8, spatial=False, num_groups=8)


@pytest.mark.parametrize("kind", ["layer", "group"])
def test_a_vector_of_one_feature_cannot_be_normalized_per_example(kind):
    """LayerNorm(1) maps every input to its beta; it used to be built silently (layer) or
    refused with the impossible advice 'use fewer groups' (group, where G = 1 already)."""
    silent = torch.nn.LayerNorm(1)
    assert torch.equal(silent(torch.tensor([[3.0], [-7.0]])), silent(torch.tensor([[0.5], [9.0]])))
    with pytest.raises(ValueError, match=r"num_channels=1\. Widen the layer to at least 2 features, or use "
                                         r"norm='batch' or None"):
        make_norm(kind, 1, spatial=False)
    make_norm("batch", 1, spatial=False)        # normalizes over the batch: fine
    make_norm(kind, 1)                          # images: over the spatial positions: fine
