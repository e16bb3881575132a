r"""Normalization layers: batch, instance, layer and group normalization.

Every kind standardizes its input over some axes and then applies a learned
per-channel affine map. For an image batch :math:`x_{n,c,h,w}` of shape
``(batch, channel, height, width)``

.. math::

    \hat{x}_{n,c,h,w} = \frac{x_{n,c,h,w} - \mu}{\sqrt{\sigma^2 + \epsilon}},
    \qquad
    y_{n,c,h,w} = \gamma_c \hat{x}_{n,c,h,w} + \beta_c ,

where the mean :math:`\mu` and the biased variance :math:`\sigma^2` are taken over

========== =============================================== ==================
kind       statistics taken over                           one pair per
========== =============================================== ==================
batch      :math:`(n, h, w)`                               channel :math:`c`
instance   :math:`(h, w)`                                  sample and channel
layer      :math:`(c, h, w)`                               sample :math:`n`
group      :math:`(h, w)` and the channels of a group g    sample and group
========== =============================================== ==================

Batch normalization keeps running estimates of :math:`\mu_c` and
:math:`\sigma_c^2` during training and uses them in evaluation mode; the other
kinds use the statistics of the current sample in both modes. For vectors
``(batch, features)`` batch normalization takes statistics over the batch and
layer normalization over the features of each sample; instance normalization
needs spatial axes and is rejected. ``epsilon`` is torch's default ``1e-5``.

The layers returned are torch's fused ones (``nn.BatchNorm2d``,
``nn.InstanceNorm2d``, ``nn.GroupNorm``, ...); this module only chooses them.
"""

from __future__ import annotations

import typing
from typing import Literal

from torch import nn

from probmodels.nn._validation import check_option, check_positive_int

__all__ = ["NORM_KINDS", "NormKind", "default_num_groups", "make_norm"]

NormKind = Literal["batch", "instance", "layer", "group"]
"""Accepted normalization names; ``None`` (no normalization) is accepted too."""

NORM_KINDS: tuple[str, ...] = typing.get_args(NormKind)
"""The accepted normalization names, as a tuple (the values of :data:`NormKind`)."""

_MAX_DEFAULT_GROUPS = 32  # Wu & He (2018) use G = 32 groups by default.


def default_num_groups(num_channels: int, *, spatial: bool = True) -> int:
    """Default number of groups for group normalization.

    Parameters
    ----------
    num_channels : int
        Number of channels :math:`C`.
    spatial : bool, default True
        ``False`` for vectors ``(batch, C)``, where a group of one feature would
        normalize a single number (constant output), so groups hold at least
        two features.

    Returns
    -------
    int
        The largest divisor :math:`G` of :math:`C` with :math:`G \\le 32` (Wu & He's
        default of 32 groups, reduced until it divides :math:`C`), and for vectors
        also :math:`C / G \\ge 2` (1 if :math:`C = 1`).
    """
    check_positive_int(num_channels, "num_channels", "default_num_groups")
    min_size = 1 if spatial else 2
    candidates = [
        g
        for g in range(1, min(num_channels, _MAX_DEFAULT_GROUPS) + 1)
        if num_channels % g == 0 and num_channels // g >= min_size
    ]
    return max(candidates, default=1)


def make_norm(
    norm: NormKind | None,
    num_channels: int,
    *,
    spatial: bool = True,
    num_groups: int | None = None,
) -> nn.Module:
    """Build the torch normalization layer named by ``norm``.

    Parameters
    ----------
    norm : {"batch", "instance", "layer", "group"} or None
        Which normalization (see the module docstring for the axes); ``None``
        returns ``nn.Identity()``.
    num_channels : int
        Number of channels :math:`C` (images ``(batch, C, height, width)``) or
        of features (vectors ``(batch, C)``).
    spatial : bool, default True
        ``True`` for images ``(batch, C, height, width)``, ``False`` for vectors
        ``(batch, C)``.
    num_groups : int, optional
        Only for ``norm="group"``: the number of groups :math:`G`, which must
        divide :math:`C` (and for vectors be smaller than :math:`C`). Defaults to
        ``default_num_groups(C, spatial=spatial)``.

    Returns
    -------
    nn.Module
        ======== ========================== =========================
        norm     spatial=True               spatial=False
        ======== ========================== =========================
        batch    ``BatchNorm2d(C)``         ``BatchNorm1d(C)``
        instance ``InstanceNorm2d(C,        ValueError
                 affine=True)``
        layer    ``GroupNorm(1, C)``        ``LayerNorm(C)``
        group    ``GroupNorm(G, C)``        ``GroupNorm(G, C)``
        None     ``Identity()``             ``Identity()``
        ======== ========================== =========================

        ``GroupNorm(1, C)`` normalizes each sample over :math:`(c, h, w)` with a
        per-channel :math:`\\gamma_c, \\beta_c`, which is layer normalization
        for images (``nn.LayerNorm((C, H, W))`` would learn one pair per pixel
        and fix the image size).

    Raises
    ------
    ValueError
        If ``norm`` is not one of `NORM_KINDS` or None, if ``num_channels`` is not
        a positive int, if ``num_groups`` does not divide ``num_channels`` or is
        given for a kind other than ``"group"``, if a group of vectors would hold
        a single feature, or if ``norm="instance"`` is asked for vectors.
    """
    owner = "make_norm"
    if norm is None:
        check_positive_int(num_channels, "num_channels", owner)
        return nn.Identity()
    check_option(norm, "norm", NORM_KINDS, owner)
    check_positive_int(num_channels, "num_channels", owner)
    if num_groups is not None and norm != "group":
        raise ValueError(
            f"{owner}: num_groups={num_groups!r} only applies to norm='group'; received "
            f"norm={norm!r}. Drop num_groups or use norm='group'."
        )
    if not spatial and num_channels == 1 and norm in ("layer", "group"):
        raise ValueError(
            f"{owner}: norm={norm!r} normalizes each example's features together, and a "
            f"vector of one feature normalizes to the constant beta (its output would not "
            f"depend on the input); received num_channels=1. Widen the layer to at least 2 "
            f"features, or use norm='batch' or None for it."
        )
    if norm == "batch":
        return nn.BatchNorm2d(num_channels) if spatial else nn.BatchNorm1d(num_channels)
    if norm == "instance":
        if not spatial:
            raise ValueError(
                f"{owner}: norm='instance' normalizes each channel over its spatial "
                f"positions (height, width), so it needs images; received spatial=False "
                f"(vectors of {num_channels} features). Use norm='layer' or 'batch' for vectors."
            )
        return nn.InstanceNorm2d(num_channels, affine=True)
    if norm == "layer":
        return nn.GroupNorm(1, num_channels) if spatial else nn.LayerNorm(num_channels)
    # norm == "group"
    if num_groups is None:
        num_groups = default_num_groups(num_channels, spatial=spatial)
    check_positive_int(num_groups, "num_groups", owner)
    if num_channels % num_groups != 0:
        divisors = [g for g in range(1, num_channels + 1) if num_channels % g == 0]
        raise ValueError(
            f"{owner}: num_groups must divide num_channels so that every group has "
            f"the same number of channels; received num_groups={num_groups} and "
            f"num_channels={num_channels}. Choose num_groups from {divisors}."
        )
    if not spatial and num_channels == num_groups:
        raise ValueError(
            f"{owner}: for vectors (spatial=False) num_groups={num_groups} equal to "
            f"num_channels={num_channels} puts one feature in each group, and normalizing "
            f"a single number gives the constant beta. Use fewer groups (at least two "
            f"features per group) or norm='layer'."
        )
    return nn.GroupNorm(num_groups, num_channels)
