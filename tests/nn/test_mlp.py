"""MLP and activations: shapes, layer order, and the forward map against a hand composition."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from probmodels.nn import ACTIVATIONS, MLP, make_activation
from probmodels.nn.activations import _ACTIVATION_LAYERS

TOL32 = 1e-5  # float32, a few layers deep


@pytest.mark.parametrize("batch_shape", [(), (5,), (2, 3)])
@pytest.mark.parametrize(("hidden", "norm"), [((), None), ((16,), None), ((16, 8), "layer"), ((16, 8), "batch"), ((8, 8), "group")])
def test_output_shape(batch_shape, hidden, norm):
    # eval mode: batch norm of a single example (batch_shape ()) uses running statistics
    net = MLP(3, hidden, 4, norm=norm).eval()
    assert net(torch.randn(*batch_shape, 3)).shape == (*batch_shape, 4)


def test_layer_order_and_norm_placement():
    net = MLP(3, (16, 8), 2, activation="gelu", norm="layer", dropout=0.25)
    types = [type(m) for m in net.net]
    block = [nn.Linear, nn.LayerNorm, nn.GELU, nn.Dropout]
    assert types == block + block + [nn.Linear]
    assert [m.normalized_shape for m in net.net if isinstance(m, nn.LayerNorm)] == [(16,), (8,)]
    assert [(m.in_features, m.out_features) for m in net.net if isinstance(m, nn.Linear)] == [(3, 16), (16, 8), (8, 2)]
    assert net.net[3].p == 0.25


def test_no_norm_and_no_dropout_add_no_layers():
    net = MLP(3, (16,), 2)
    assert [type(m) for m in net.net] == [nn.Linear, nn.ReLU, nn.Linear]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_equals_hand_composition(activation):
    net = MLP(3, (5, 4), 2, activation=activation).eval()
    x = torch.randn(6, 3)
    lin = [m for m in net.net if isinstance(m, nn.Linear)]
    phi = {
        "relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu, "silu": F.silu,
        "gelu": F.gelu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "softplus": F.softplus,
    }[activation]
    h = phi(x @ lin[0].weight.T + lin[0].bias)
    h = phi(h @ lin[1].weight.T + lin[1].bias)
    expected = h @ lin[2].weight.T + lin[2].bias
    torch.testing.assert_close(net(x), expected, rtol=TOL32, atol=TOL32)


def test_activation_table_covers_the_literal():
    assert set(_ACTIVATION_LAYERS) == set(ACTIVATIONS)
    for name in ACTIVATIONS:
        assert isinstance(make_activation(name), _ACTIVATION_LAYERS[name])


def test_batch_norm_pools_all_leading_axes():
    # (2, 5, 3) is treated as 10 examples: same as the flattened call.
    net = MLP(3, (8,), 2, norm="batch").train()
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(net(x), net(x.reshape(10, 3)).reshape(2, 5, 2), rtol=0, atol=0)


def test_unknown_activation_lists_accepted_values():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*'relu'.*'silu'"):
        MLP(3, (4,), 1, activation="swish")


def test_instance_norm_is_rejected_for_vectors():
    with pytest.raises(ValueError, match=r"norm='instance'.*needs images"):
        MLP(3, (4,), 1, norm="instance")


@pytest.mark.parametrize("dropout", [-0.1, 1.0, "0.5"])
def test_bad_dropout(dropout):
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\)"):
        MLP(3, (4,), 1, dropout=dropout)


@pytest.mark.parametrize(("hidden", "match"), [((4, 0), r"hidden\[1\] must be a positive integer"), (16, r"hidden must be a sequence")])
def test_bad_hidden(hidden, match):
    with pytest.raises(ValueError, match=match):
        MLP(3, hidden, 1)


def test_wrong_feature_axis():
    with pytest.raises(ValueError, match=r"expected input of shape \(\.\.\., 3\); received shape \(5, 4\)"):
        MLP(3, (4,), 1)(torch.randn(5, 4))
