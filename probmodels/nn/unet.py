r"""Noise-prediction networks :math:`\epsilon_\theta(x_t, t)` for diffusion models.

Timesteps enter through the sinusoidal embedding of Vaswani et al. (2017), as
used by Ho et al. (2020) for DDPM: for an even ``dim`` :math:`= 2m`,

.. math::

    \omega_i = P^{-i/m}, \quad i = 0, \dots, m - 1, \qquad
    e(t) = \bigl(\sin(t\omega_0), \dots, \sin(t\omega_{m-1}),
                 \cos(t\omega_0), \dots, \cos(t\omega_{m-1})\bigr),

with :math:`P` = ``max_period`` = 10000 (sines first, then cosines, the layout of
the DDPM reference code; the transformer interleaves the two, which is a fixed
permutation of the same features).

`TimeMLP` is the denoiser for vectors (toy 2-D data), `UNet` the one for images:
GroupNorm residual blocks that add a projection of the time embedding,
stride-2 convolutions down, `UpsampleBlock` stages up, and skip connections
that concatenate each down-path level with the up-path at the same resolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn

from probmodels.nn._validation import check_dropout, check_option, check_positive_int
from probmodels.nn.activations import Activation, make_activation
from probmodels.nn.conv import UPSAMPLE_MODES, UpsampleBlock, UpsampleMode
from probmodels.nn.norm import make_norm

__all__ = ["SinusoidalTimeEmbedding", "TimeMLP", "UNet"]


def _broadcast_t(
    t: torch.Tensor | int | float, x: torch.Tensor, batch_shape: torch.Size, owner: str
) -> torch.Tensor:
    """Return the timesteps ``t`` broadcast to ``batch_shape``, on ``x``'s device and in its dtype.

    The cast makes the embedding come out in the network's dtype (float64 networks
    included); integer steps are exact in float32 up to 2**24.
    """
    t = torch.as_tensor(t, device=x.device)
    try:
        return t.expand(batch_shape).to(x.dtype)
    except RuntimeError:
        raise ValueError(
            f"{owner}: timesteps t must have shape () or batch_shape = {tuple(batch_shape)}, "
            f"one per example; received shape {tuple(t.shape)}."
        ) from None


class SinusoidalTimeEmbedding(nn.Module):
    """Sinusoidal embedding of integer or real timesteps (no parameters).

    Parameters
    ----------
    dim : int
        Embedding size :math:`2m`; must be even.
    max_period : float, default 10000.0
        :math:`P`, the longest wavelength is :math:`2\\pi P`.

    Notes
    -----
    ``forward(t)`` maps ``t`` of any shape (usually ``(batch,)``) to
    ``t.shape + (dim,)``. The angles are computed in float64, so that
    :math:`t\\omega_i` for :math:`t` up to thousands keeps its precision, and
    the result is cast to ``t``'s dtype when ``t`` is floating, else to torch's
    default dtype.
    """

    def __init__(self, dim: int, *, max_period: float = 10000.0) -> None:
        super().__init__()
        owner = "SinusoidalTimeEmbedding"
        check_positive_int(dim, "dim", owner)
        if dim % 2 != 0:
            raise ValueError(
                f"{owner}: dim must be even (half sines, half cosines); received dim={dim}. "
                f"Use dim={dim + 1}."
            )
        if not max_period > 1.0:
            raise ValueError(f"{owner}: max_period must be > 1; received {max_period!r}.")
        self.dim = dim
        self.max_period = float(max_period)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """Embed timesteps ``t`` (any shape) into ``t.shape + (dim,)``."""
        t = torch.as_tensor(t)
        out_dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
        m = self.dim // 2
        i = torch.arange(m, dtype=torch.float64, device=t.device)
        omega = torch.exp(-math.log(self.max_period) * i / m)  # (m,)
        angle = t.to(torch.float64)[..., None] * omega  # t.shape + (m,)
        return torch.cat([angle.sin(), angle.cos()], dim=-1).to(out_dtype)


class TimeMLP(nn.Module):
    r"""MLP noise predictor :math:`\epsilon_\theta(x_t, t)` for vectors.

    With :math:`e = \phi(A\,\mathrm{emb}(t) + a)` the projected time embedding,

    .. math::

        h_0 = x_t, \qquad
        h_\ell = \phi(W_\ell h_{\ell-1} + b_\ell + U_\ell e), \quad \ell = 1..L,
        \qquad \epsilon_\theta = W_{L+1} h_L + b_{L+1},

    so the time enters every hidden layer (``L = depth``).

    Parameters
    ----------
    data_dim : int
        Size :math:`D` of each data vector.
    hidden : int, default 256
        Width of every hidden layer.
    depth : int, default 3
        Number of hidden layers :math:`L`.
    time_dim : int, default 128
        Size of the sinusoidal embedding (even).
    activation : Activation, default "silu"
        :math:`\phi`.

    Notes
    -----
    ``forward(x, t)``: ``x`` of shape ``(batch, D)`` (or any ``batch_shape +
    (D,)``), ``t`` of shape ``(batch,)`` or ``()``, integer or real timesteps;
    returns ``batch_shape + (D,)``.
    """

    def __init__(
        self,
        data_dim: int,
        hidden: int = 256,
        depth: int = 3,
        *,
        time_dim: int = 128,
        activation: Activation = "silu",
    ) -> None:
        super().__init__()
        owner = "TimeMLP"
        self.data_dim = check_positive_int(data_dim, "data_dim", owner)
        check_positive_int(hidden, "hidden", owner)
        check_positive_int(depth, "depth", owner)
        self.time_embed = nn.Sequential(
            SinusoidalTimeEmbedding(time_dim),
            nn.Linear(time_dim, hidden),
            make_activation(activation),
        )
        self.layers = nn.ModuleList(
            nn.Linear(data_dim if i == 0 else hidden, hidden) for i in range(depth)
        )
        self.time_proj = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(depth))
        self.act = make_activation(activation)
        self.out = nn.Linear(hidden, data_dim)

    def time_features(self, t: torch.Tensor) -> list[torch.Tensor]:
        r"""The time terms :math:`U_\ell e(t)` of every hidden layer, each ``t.shape + (hidden,)``.

        Samplers that visit every timestep compute them once for all ``t`` and pass
        the rows of a step to :meth:`forward` as ``features=``.
        """
        e = self.time_embed(t)
        return [proj(e) for proj in self.time_proj]

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor | None = None,
        *,
        features: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Predict the noise: ``batch_shape + (D,)`` from ``x`` and timesteps ``t``, or from
        precomputed :meth:`time_features` (rows that broadcast against the batch)."""
        if x.dim() < 1 or x.shape[-1] != self.data_dim:
            raise ValueError(
                f"TimeMLP: expected x of shape (batch, {self.data_dim}); received shape {tuple(x.shape)}."
            )
        if features is None:
            if t is None:
                raise ValueError("TimeMLP: pass the timesteps t, or features=time_features(t).")
            features = self.time_features(_broadcast_t(t, x, x.shape[:-1], "TimeMLP"))
        h = x
        for layer, feature in zip(self.layers, features):
            if feature.dim() == 1:
                # one row shared by the batch (a sampler's step) joins the bias: one pass fewer
                lin = cast(nn.Linear, layer)
                h = self.act(nn.functional.linear(h, lin.weight, lin.bias + feature))
            else:
                h = self.act(layer(h) + feature)
        return self.out(h)


class _ResBlock(nn.Module):
    """GroupNorm residual block with the time embedding added after the first conv (Ho et al. 2020)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        time_dim: int,
        *,
        num_groups: int,
        activation: Activation,
        dropout: float,
    ) -> None:
        super().__init__()
        self.norm1 = make_norm("group", in_channels, num_groups=num_groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.time = nn.Linear(time_dim, out_channels)
        self.norm2 = make_norm("group", out_channels, num_groups=num_groups)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.act = make_activation(activation)
        self.skip = (
            nn.Conv2d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        h = h + self.time(self.act(emb))[:, :, None, None]  # (batch, out) -> (batch, out, 1, 1)
        h = self.conv2(self.dropout(self.act(self.norm2(h))))
        return h + self.skip(x)


class UNet(nn.Module):
    r"""Small U-Net noise predictor :math:`\epsilon_\theta(x_t, t)` for images.

    With ``L = len(channel_mults)`` levels of widths
    ``c_i = base_channels * channel_mults[i]``:

    1. a 3x3 stem convolution ``in_channels -> c_0``;
    2. down path: at level ``i`` a residual block to ``c_i`` (its output is kept
       as the skip of level ``i``), then, except at the last level, a stride-2
       3x3 convolution halving height and width;
    3. a middle residual block at the lowest resolution;
    4. up path: at level ``i = L-1, ..., 0`` the skip of level ``i`` is
       concatenated on the channel axis and a residual block maps to ``c_i``;
       except at level 0 an `UpsampleBlock` (``upsample``) doubles the resolution;
    5. GroupNorm, activation and a 3x3 convolution to ``out_channels``.

    Each residual block is ``x + conv(act(GN(conv(act(GN(x))) + W e))))`` with
    the time embedding ``e`` (Ho et al. 2020, appendix B), GroupNorm from
    ``make_norm("group", ..., num_groups=num_groups)``.

    Parameters
    ----------
    in_channels : int
        Channels ``C`` of the images.
    base_channels : int, default 32
        Width of level 0.
    channel_mults : sequence of int, default (1, 2)
        Width multiplier per level; ``len(channel_mults) - 1`` down-samplings,
        so height and width must be divisible by ``2 ** (len(channel_mults) - 1)``.
    num_groups : int, default 8
        GroupNorm groups; must divide ``base_channels * m`` for each multiplier.
    time_dim : int, optional
        Size of the time embedding; default ``4 * base_channels``. Must be even.
    upsample : {"transpose", "nearest", "bilinear", "bicubic"}, default "nearest"
        How the up path doubles the resolution (see `UpsampleBlock`).
    activation : Activation, default "silu"
    dropout : float, default 0.0
        Dropout inside each residual block.
    out_channels : int, optional
        Output channels, default ``in_channels``.

    Notes
    -----
    ``forward(x, t)``: ``x`` of shape ``(batch, C, H, W)``, ``t`` of shape
    ``(batch,)`` or ``()``; returns ``(batch, out_channels, H, W)``.

    Examples
    --------
    >>> net = UNet(1, base_channels=16, channel_mults=(1, 2), num_groups=8)
    >>> net(torch.zeros(4, 1, 8, 8), torch.tensor([0, 10, 100, 999])).shape
    torch.Size([4, 1, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 32,
        channel_mults: Sequence[int] = (1, 2),
        *,
        num_groups: int = 8,
        time_dim: int | None = None,
        upsample: UpsampleMode = "nearest",
        activation: Activation = "silu",
        dropout: float = 0.0,
        out_channels: int | None = None,
    ) -> None:
        super().__init__()
        owner = "UNet"
        self.in_channels = check_positive_int(in_channels, "in_channels", owner)
        check_positive_int(base_channels, "base_channels", owner)
        check_positive_int(num_groups, "num_groups", owner)
        check_option(upsample, "upsample", UPSAMPLE_MODES, owner)
        p = check_dropout(dropout, owner)
        if (
            isinstance(channel_mults, (str, bytes))
            or not isinstance(channel_mults, Sequence)
            or not channel_mults
        ):
            raise ValueError(
                f"{owner}: channel_mults must be a non-empty sequence of positive ints, one per "
                f"level, such as (1, 2); received {channel_mults!r}."
            )
        mults = [
            check_positive_int(m, f"channel_mults[{i}]", owner) for i, m in enumerate(channel_mults)
        ]
        widths = [base_channels * m for m in mults]
        bad = [c for c in widths if c % num_groups != 0]
        if bad:
            raise ValueError(
                f"{owner}: num_groups={num_groups} must divide every level width "
                f"base_channels * channel_mults = {widths} (GroupNorm needs equal groups); "
                f"{bad} are not divisible. Change num_groups or base_channels."
            )
        self.out_channels = (
            in_channels
            if out_channels is None
            else check_positive_int(out_channels, "out_channels", owner)
        )
        time_dim = (
            4 * base_channels
            if time_dim is None
            else check_positive_int(time_dim, "time_dim", owner)
        )
        self.channel_mults = tuple(mults)
        block: dict[str, Any] = dict(num_groups=num_groups, activation=activation, dropout=p)

        self.time_embed = nn.Sequential(
            SinusoidalTimeEmbedding(time_dim),
            nn.Linear(time_dim, time_dim),
            make_activation(activation),
            nn.Linear(time_dim, time_dim),
        )
        self.stem = nn.Conv2d(in_channels, widths[0], kernel_size=3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        c = widths[0]
        for i, w in enumerate(widths):
            self.down_blocks.append(_ResBlock(c, w, time_dim, **block))
            c = w
            if i < len(widths) - 1:
                self.downsamples.append(nn.Conv2d(w, w, kernel_size=3, stride=2, padding=1))
        self.mid_block = _ResBlock(c, c, time_dim, **block)
        # Run in the order levels L-1, ..., 0.
        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for i in reversed(range(len(widths))):
            self.up_blocks.append(_ResBlock(c + widths[i], widths[i], time_dim, **block))
            c = widths[i]
            if i > 0:
                self.upsamples.append(UpsampleBlock(c, c, mode=upsample))
        self.head = nn.Sequential(
            make_norm("group", c, num_groups=num_groups),
            make_activation(activation),
            nn.Conv2d(c, self.out_channels, kernel_size=3, padding=1),
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predict the noise ``(batch, out_channels, H, W)`` from ``x`` ``(batch, C, H, W)`` and ``t``."""
        owner = "UNet"
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{owner}: expected x of shape (batch, {self.in_channels}, height, width); "
                f"received shape {tuple(x.shape)}."
            )
        n_down = len(self.channel_mults) - 1
        factor = 2**n_down
        height, width = x.shape[-2:]
        if height % factor or width % factor:
            raise ValueError(
                f"{owner}: with len(channel_mults) = {n_down + 1} the U-Net halves the image "
                f"{n_down} time(s), so height and width must be divisible by 2**{n_down} = "
                f"{factor}; received height={height}, width={width}. Pad the images to a "
                f"multiple of {factor} or use fewer channel_mults."
            )
        t = _broadcast_t(t, x, x.shape[:1], owner)
        emb = self.time_embed(t)  # (batch, time_dim)
        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.down_blocks):
            h = block(h, emb)
            skips.append(h)
            if i < n_down:
                h = self.downsamples[i](h)
        h = self.mid_block(h, emb)
        for j, block in enumerate(self.up_blocks):
            # (batch, c, h, w) ++ (batch, c_i, h, w) -> (batch, c + c_i, h, w)
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if j < n_down:
                h = self.upsamples[j](h)
        return self.head(h)
