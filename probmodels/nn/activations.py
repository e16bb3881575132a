"""Activation functions by name.

The accepted names are the ``Activation`` literal; `make_activation` returns the
torch module (``"relu"`` -> ``nn.ReLU()``, ``"silu"`` -> ``nn.SiLU()`` and so on).
"""

from __future__ import annotations

import typing
from typing import Literal

from torch import nn

from probmodels.nn._validation import check_option

__all__ = ["ACTIVATIONS", "Activation", "make_activation"]

Activation = Literal["relu", "leaky_relu", "elu", "silu", "gelu", "tanh", "sigmoid", "softplus"]
"""Accepted activation names."""

ACTIVATIONS: tuple[str, ...] = typing.get_args(Activation)
"""The accepted activation names, as a tuple (the values of :data:`Activation`)."""

# Keys must equal ACTIVATIONS; tests/nn/test_mlp.py checks it.
_ACTIVATION_LAYERS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
}


def make_activation(activation: Activation) -> nn.Module:
    """Return a new torch activation module.

    Parameters
    ----------
    activation : {"relu", "leaky_relu", "elu", "silu", "gelu", "tanh", "sigmoid", "softplus"}
        The activation's name; torch's default parameters are used.

    Returns
    -------
    nn.Module
        An elementwise module (output shape = input shape).

    Raises
    ------
    ValueError
        If ``activation`` is not one of `ACTIVATIONS`.
    """
    check_option(activation, "activation", ACTIVATIONS, "make_activation")
    return _ACTIVATION_LAYERS[activation]()
