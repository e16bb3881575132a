r"""Multilayer perceptron.

With hidden widths :math:`(d_1, \dots, d_L)` the network computes

.. math::

    h_0 = x, \qquad
    h_\ell = \operatorname{dropout}(\phi(\operatorname{norm}(W_\ell h_{\ell-1} + b_\ell))),
    \quad \ell = 1, \dots, L, \qquad
    y = W_{L+1} h_L + b_{L+1},

where :math:`W_\ell` has shape ``(d_ell, d_{ell-1})`` (rows are the units of
layer :math:`\ell`, as in ``nn.Linear`` and in the seed's two-layer example) and
:math:`\phi` is the activation. The output layer has no norm, activation or
dropout.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from probmodels.nn._validation import check_dropout, check_positive_int
from probmodels.nn.activations import Activation, make_activation
from probmodels.nn.norm import NormKind, make_norm

__all__ = ["MLP"]


class MLP(nn.Module):
    """Fully connected network ``in_features -> hidden... -> out_features``.

    Parameters
    ----------
    in_features : int
        Size :math:`d_0` of the last input axis.
    hidden : sequence of int
        Widths :math:`(d_1, \\dots, d_L)` of the hidden layers; ``()`` gives a
        single linear layer.
    out_features : int
        Size of the last output axis.
    activation : Activation, default "relu"
        Activation after each hidden layer (see `ACTIVATIONS`).
    norm : {"batch", "layer", "group"} or None, default None
        Normalization of each hidden layer, between the linear map and the
        activation (``make_norm(norm, width, spatial=False)``); ``"instance"``
        is rejected because vectors have no spatial axes.
    dropout : float, default 0.0
        Dropout probability after each hidden activation; ``0`` adds no layer.

    Attributes
    ----------
    net : nn.Sequential
        ``[Linear, norm, activation, Dropout] * L + [Linear]``, with the norm and
        dropout left out when not asked for.

    Raises
    ------
    ValueError
        For a non-positive size, an unknown ``activation`` or ``norm``, or a
        dropout outside ``[0, 1)``.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        *,
        activation: Activation = "relu",
        norm: NormKind | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        owner = "MLP"
        self.in_features = check_positive_int(in_features, "in_features", owner)
        self.out_features = check_positive_int(out_features, "out_features", owner)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise ValueError(
                f"{owner}: hidden must be a sequence of layer widths such as (64, 64); "
                f"received {hidden!r}."
            )
        widths = [check_positive_int(h, f"hidden[{i}]", owner) for i, h in enumerate(hidden)]
        p = check_dropout(dropout, owner)
        layers: list[nn.Module] = []
        d_in = in_features
        for d in widths:
            layers.append(nn.Linear(d_in, d))
            if norm is not None:
                layers.append(make_norm(norm, d, spatial=False))
            layers.append(make_activation(activation))
            if p > 0:
                layers.append(nn.Dropout(p))
            d_in = d
        layers.append(nn.Linear(d_in, out_features))
        self.hidden = tuple(widths)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the network to the last axis.

        Parameters
        ----------
        x : torch.Tensor
            Shape ``batch_shape + (in_features,)``; ``batch_shape`` may be empty
            or have several axes (they are flattened into one batch for the
            normalization layers, so batch norm pools over all of them).

        Returns
        -------
        torch.Tensor
            Shape ``batch_shape + (out_features,)``.
        """
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"MLP: expected input of shape (..., {self.in_features}); received shape "
                f"{tuple(x.shape)}. The last axis must hold the {self.in_features} features."
            )
        batch_shape = x.shape[:-1]
        # (prod(batch_shape), in_features): BatchNorm1d wants (batch, features).
        y = self.net(x.reshape(-1, self.in_features))
        return y.reshape(*batch_shape, self.out_features)
