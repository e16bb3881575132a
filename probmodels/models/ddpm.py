r"""Denoising diffusion probabilistic model (Ho et al. 2020) as a Pyro latent chain.

Model (reverse process), with :math:`T` steps and data :math:`x_0`:

.. math::

    x_T &\sim \mathcal N(0, I), \\
    x_{t-1} \mid x_t &\sim \mathcal N(\mu_\theta(x_t, t), \sigma_t^2 I),
        \qquad t = T, \dots, 2, \\
    x_0 \mid x_1 &\sim p_\theta(x_0 \mid x_1)
        = \mathcal N(\mu_\theta(x_1, 1), \sigma_1^2 I) \text{ (continuous data) or its
          discretisation to the data grid (image data, Ho et al. eq. 13).}

Guide: the fixed forward process in its posterior factorisation
(Ho et al. eq. 5, the seed notes' ELBO section with :math:`z = x_{1:T}`),

.. math::

    q(x_{1:T} \mid x_0) = q(x_T \mid x_0) \prod_{t=2}^{T} q(x_{t-1} \mid x_t, x_0),

sampled in the model's order (:math:`x_T` first), so that every latent site's
model parent is already drawn and Pyro's ``TraceMeanField_ELBO`` replaces each
log-ratio by the analytic Gaussian KL. The negative ELBO is then the DDPM bound

.. math::

    L = \underbrace{\mathrm{KL}(q(x_T \mid x_0) \,\|\, p(x_T))}_{L_T}
      + \sum_{t=2}^{T} \underbrace{\mathbb E_q\,\mathrm{KL}(q(x_{t-1} \mid x_t, x_0)
            \,\|\, p_\theta(x_{t-1} \mid x_t))}_{L_{t-1}}
      \underbrace{- \,\mathbb E_q \log p_\theta(x_0 \mid x_1)}_{L_0}.

Since each term depends on :math:`x_t` only through its marginal
:math:`q(x_t \mid x_0)`, drawing one :math:`t \sim \mathcal U\{1..T\}` per example
and scaling its term by :math:`T` is an unbiased estimate of :math:`L` at the cost
of one network call (``objective="elbo"``). The default objective is Ho et al.'s
:math:`L_\text{simple} = \mathbb E_{t, x_0, \epsilon}\|\epsilon - \epsilon_\theta(x_t, t)\|^2`
(eq. 14). All coefficients come from :class:`probmodels._diffusion.Diffusion`.

Sites (``N`` examples, data shape ``D`` = ``data_shape``, ``k = len(D)``):

=============  ===========  ===========  =======================
site           batch_shape  event_shape  plates
=============  ===========  ===========  =======================
``x_{T}``      (N,)         D            data (dim -1)
...            (N,)         D            data
``x_1``        (N,)         D            data
``x_0``        (N,)         D            data (observed)
=============  ===========  ===========  =======================

The latent site of step :math:`t` is named ``f"x_{t}"`` (``"x_1000"`` ... ``"x_1"``
for the default :math:`T = 1000`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Literal, Sequence, get_args

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from torch import nn

from probmodels._diffusion import (
    PREDICTIONS,
    SCHEDULES,
    VARIANCES,
    Diffusion,
    Prediction,
    Schedule,
    Variance,
    beta_schedule,
    gaussian_kl,
)
from probmodels._validation import check_choice, check_finite, check_float, check_int, check_seed
from probmodels.infer import limit_threads, resolve_seed
from probmodels.nn import TimeMLP, UNet
from probmodels.results import FitResult
from probmodels.train import LR_SCHEDULES, LRSchedule, TrainConfig, resolve_device, train

__all__ = [
    "DDPM",
    "DDPMEvaluation",
    "DDPMFit",
    "mmd2",
]

Decoder = Literal["gaussian", "discretized"]
DECODERS: tuple[str, ...] = get_args(Decoder)
Objective = Literal["simple", "elbo", "chain"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)
Sampler = Literal["ancestral", "ddim"]
SAMPLERS: tuple[str, ...] = get_args(Sampler)

_LOG2 = math.log(2.0)

#: defaults of :meth:`DDPM.fit` (documented there): the plain PyTorch recipe of
#: shared/NOTES.md (49 s, MMD^2 0.003 on two moons on an idle 2-core CPU) plus EMA
FIT_DEFAULTS: dict[str, Any] = {
    "steps": 7000, "batch_size": 512, "lr": 2e-3, "schedule": "onecycle",
    "objective": "simple", "ema_decay": 0.995, "grad_clip": 1.0, "weight_decay": 0.0,
}


# =============================================================== decoder


class DiscretizedGaussian(dist.TorchDistribution):
    r"""A Gaussian discretised to the grid of ``num_levels`` values in ``[-1, 1]`` (Ho et al. eq. 13).

    With half bin width :math:`\delta = 1 / (K - 1)`,
    :math:`P(x) = \Phi((x + \delta - \mu)/\sigma) - \Phi((x - \delta - \mu)/\sigma)`,
    the outer bins extended to :math:`\pm\infty`. Elementwise (event shape ``()``).
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc, scale, num_levels: int, validate_args=None):
        self.loc, self.scale = torch.broadcast_tensors(torch.as_tensor(loc), torch.as_tensor(scale))
        self.num_levels = int(num_levels)
        super().__init__(self.loc.shape, torch.Size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return DiscretizedGaussian(self.loc.expand(batch_shape), self.scale.expand(batch_shape),
                                   self.num_levels)

    def log_prob(self, value):
        delta = 1.0 / (self.num_levels - 1)
        upper = (value + delta - self.loc) / self.scale
        lower = (value - delta - self.loc) / self.scale
        # Phi(b) - Phi(a) = Phi(-a) - Phi(-b): use the lower tail, where log_ndtr is accurate
        flip = (lower + upper) > 0
        a = torch.where(flip, -upper, lower)
        b = torch.where(flip, -lower, upper)
        log_b = torch.special.log_ndtr(b)
        log_a = torch.special.log_ndtr(a)
        middle = log_b + torch.log1p(-torch.exp((log_a - log_b).clamp(max=-1e-12)))
        bottom = value <= -1.0 + delta / 2
        top = value >= 1.0 - delta / 2
        return torch.where(bottom, torch.special.log_ndtr(upper),
                           torch.where(top, torch.special.log_ndtr(-lower), middle))

    def sample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            x = self.loc.expand(shape) + self.scale.expand(shape) * torch.randn(shape, dtype=self.loc.dtype,
                                                                                 device=self.loc.device)
            k = self.num_levels - 1
            return (torch.round((x.clamp(-1.0, 1.0) + 1.0) * k / 2) * 2 / k - 1.0)


# =============================================================== MMD


def mmd2(x, y, *, bandwidths: Sequence[float] = (0.05, 0.1, 0.2, 0.5, 1.0),
         unbiased: bool = True) -> float:
    r"""Squared maximum mean discrepancy between two samples.

    The kernel is a sum of Gaussian kernels,
    :math:`k(a, b) = \sum_h \exp(-\|a - b\|^2 / (2 h^2))`, and

    .. math::

        \mathrm{MMD}^2 = \frac{1}{n(n-1)}\sum_{i \ne j} k(x_i, x_j)
                       + \frac{1}{m(m-1)}\sum_{i \ne j} k(y_i, y_j)
                       - \frac{2}{nm}\sum_{i, j} k(x_i, y_j)

    (the unbiased U-statistic of Gretton et al. 2012; ``unbiased=False`` keeps
    the diagonals and divides by :math:`n^2` and :math:`m^2`, which adds about
    :math:`k(0)(1/n + 1/m) = 0.005` for 2,000 points each).

    Parameters
    ----------
    x, y : array_like
        Samples of shape ``(n, d)`` and ``(m, d)`` (images are flattened).
    bandwidths : sequence of float
        The :math:`h` of each Gaussian kernel.
    unbiased : bool, default True

    Returns
    -------
    float
        Computed in float64.
    """
    x, y = (torch.as_tensor(a.detach().cpu() if isinstance(a, torch.Tensor) else np.asarray(a),
                            dtype=torch.float64) for a in (x, y))
    x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    if x.shape[1] != y.shape[1] or x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(
            f"mmd2 needs two samples of shape (n, d) and (m, d) with n, m >= 2; received "
            f"{tuple(x.shape)} and {tuple(y.shape)}. Flatten them to the same d."
        )
    h2 = torch.as_tensor([float(h) ** 2 for h in bandwidths], dtype=torch.float64)

    def kernel_sum(a, b, same: bool) -> torch.Tensor:
        d2 = torch.cdist(a, b).pow(2)  # (n, m)
        k = torch.exp(-d2[..., None] / (2 * h2)).sum(-1)
        total = k.sum()
        if same and unbiased:
            n = a.shape[0]
            return (total - k.diagonal().sum()) / (n * (n - 1))
        return total / (a.shape[0] * b.shape[0])

    return float(kernel_sum(x, x, True) + kernel_sum(y, y, True) - 2 * kernel_sum(x, y, False))


# =============================================================== the model


def _time_projections(net: TimeMLP, T: int, dtype, device) -> list[torch.Tensor]:
    """``proj_l(embed(t))`` for ``t = 0..T``, each ``(T + 1, hidden)``: one batched pass
    before sampling instead of one embedding per step."""
    e = net.time_embed(torch.arange(T + 1, dtype=dtype, device=device))  # (T + 1, hidden)
    return [proj(e) for proj in net.time_proj]


def _timemlp_cached(net: TimeMLP, x: torch.Tensor, t: int,
                    projections: list[torch.Tensor] | None = None) -> torch.Tensor:
    """``net(x, t)`` for one timestep shared by the whole batch, embedding ``t`` once.

    `TimeMLP` embeds a timestep per row; when every row has the same ``t`` (the
    chain and the samplers) the embedding and its projections are one row,
    broadcast over the batch, which makes sampling about twice as fast; with
    ``projections`` from :func:`_time_projections` they are looked up. Tested
    equal to ``net(x, t)``.
    """
    if projections is None:
        e = net.time_embed(torch.full((1,), float(t), dtype=x.dtype, device=x.device))  # (1, hidden)
        rows = [proj(e) for proj in net.time_proj]
    else:
        rows = [p[t] for p in projections]
    h = x
    for layer, row in zip(net.layers, rows):
        h = net.act(layer(h) + row)
    return net.out(h)


class DDPM:
    r"""Denoising diffusion probabilistic model: a Pyro model/guide pair over ``x_T, ..., x_1``.

    Parameters
    ----------
    data_shape : tuple of int
        Shape of one example: ``(D,)`` for vectors, ``(C, H, W)`` for images.
    timesteps : int, default 1000
        :math:`T \ge 1`.
    schedule : {"linear", "cosine"}, default "linear"
        Noise schedule (:func:`probmodels._diffusion.beta_schedule`); linear runs
        from ``beta_start`` to ``beta_end``.
    prediction : {"epsilon", "x0", "v"}, default "epsilon"
        What the denoiser predicts: the noise (Ho et al.), the clean data, or
        :math:`v = \sqrt{\bar\alpha_t}\epsilon - \sqrt{1-\bar\alpha_t} x_0`.
    variance : {"posterior", "beta"}, default "posterior"
        Reverse-step variance :math:`\sigma_t^2 = \tilde\beta_t` or :math:`\beta_t`
        for :math:`t \ge 2` (:math:`\sigma_1^2 = \beta_1` either way).
    decoder : {"gaussian", "discretized"}, default "gaussian"
        :math:`p(x_0 \mid x_1)`: a Gaussian density for continuous data, or the
        Gaussian discretised to ``num_levels`` grey levels for image data scaled
        to ``[-1, 1]`` (8-bit images: 256 levels; the 8x8 digits: 17 levels,
        ``x = pixels / 8 - 1``).
    num_levels : int, default 256
        Number of grey levels of the discretised decoder.
    denoiser : torch.nn.Module, optional
        A network ``denoiser(x_t, t)`` with ``x_t`` of shape ``(batch,) + data_shape``
        and integer ``t`` of shape ``(batch,)``. Default: ``TimeMLP(D, hidden, depth)``
        for vectors, ``UNet(C, base_channels, channel_mults, num_groups=num_groups)``
        for images. :meth:`fit` re-initialises the default networks from its
        ``seed`` but trains a denoiser passed here from its current weights
        (fine-tuning a pre-trained network); ``fit`` trains a copy, so the
        module passed in keeps its weights.
    hidden, depth : int, default 128, 3
        Width and number of hidden layers of the default `TimeMLP`.
    base_channels : int, default 32
    channel_mults : sequence of int, default (1, 2)
        Widths of the default `UNet`: stage ``i`` has ``base_channels * channel_mults[i]``
        channels.
    num_groups : int, default 8
        Groups of the default `UNet`'s group normalisation; every stage width
        ``base_channels * m`` must be divisible by it (checked here).
    beta_start, beta_end : float, default 1e-4, 0.02
        End points of the linear schedule.

    Attributes
    ----------
    diffusion : probmodels._diffusion.Diffusion
        The coefficients (float64 buffers indexed by ``t = 0..T``).
    denoiser : torch.nn.Module
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        *,
        timesteps: int = 1000,
        schedule: Schedule = "linear",
        prediction: Prediction = "epsilon",
        variance: Variance = "posterior",
        decoder: Decoder = "gaussian",
        num_levels: int = 256,
        denoiser: nn.Module | None = None,
        hidden: int = 128,
        depth: int = 3,
        base_channels: int = 32,
        channel_mults: Sequence[int] = (1, 2),
        num_groups: int = 8,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
    ) -> None:
        if isinstance(data_shape, (int, np.integer)):
            data_shape = (data_shape,)
        if (isinstance(data_shape, (str, bytes)) or not isinstance(data_shape, Sequence)
                or len(data_shape) not in (1, 3)):
            raise ValueError(
                f"data_shape must be the shape of one example, (D,) for vectors or (C, H, W) for "
                f"images; got {data_shape!r}. Pass e.g. data_shape=(2,) or data_shape=(1, 8, 8)."
            )
        self.data_shape = tuple(check_int(d, f"data_shape[{i}]", minimum=1) for i, d in enumerate(data_shape))
        self.timesteps = check_int(timesteps, "timesteps", minimum=1)
        self.schedule = check_choice(schedule, "schedule", SCHEDULES)
        self.prediction = check_choice(prediction, "prediction", PREDICTIONS)
        self.variance = check_choice(variance, "variance", VARIANCES)
        self.decoder = check_choice(decoder, "decoder", DECODERS)
        self.num_levels = check_int(num_levels, "num_levels", minimum=2)
        num_groups = check_int(num_groups, "num_groups", minimum=1)
        if denoiser is None and len(self.data_shape) == 3:
            _check_unet_widths(base_channels, channel_mults, num_groups)
        self.config = {
            "data_shape": list(self.data_shape), "timesteps": self.timesteps, "schedule": self.schedule,
            "prediction": self.prediction, "variance": self.variance, "decoder": self.decoder,
            "num_levels": self.num_levels, "hidden": hidden, "depth": depth,
            "base_channels": base_channels, "channel_mults": list(channel_mults),
            "num_groups": num_groups, "beta_start": beta_start, "beta_end": beta_end, "custom_denoiser": denoiser is not None,
        }
        betas = beta_schedule(self.schedule, self.timesteps, beta_start=beta_start, beta_end=beta_end)
        self.diffusion = Diffusion(betas, variance=self.variance)
        if denoiser is None:
            if len(self.data_shape) == 1:
                denoiser = TimeMLP(self.data_shape[0], hidden, depth)
            else:
                denoiser = UNet(self.data_shape[0], base_channels, tuple(channel_mults),
                                num_groups=num_groups)
        elif not isinstance(denoiser, nn.Module):
            raise TypeError(
                f"denoiser must be a torch.nn.Module called as denoiser(x_t, t); got "
                f"{type(denoiser).__name__}. Pass e.g. probmodels.nn.TimeMLP(D)."
            )
        self.denoiser = denoiser

    # ------------------------------------------------------------ helpers
    @property
    def event_dim(self) -> int:
        return len(self.data_shape)

    @property
    def num_dims(self) -> int:
        """Number of scalar dimensions of one example (for bits per dimension)."""
        return int(np.prod(self.data_shape))

    @property
    def device(self) -> torch.device:
        p = next(self.denoiser.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the model computes in: that of the denoiser's parameters (torch's
        default dtype when the DDPM is built or loaded; the default dtype for a
        denoiser without parameters). Data, noise and the chain follow it."""
        p = next(self.denoiser.parameters(), None)
        return p.dtype if p is not None else torch.get_default_dtype()

    def _denoise(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """Denoiser output at ``t`` (an int shared by the batch, or a ``(batch,)`` tensor)."""
        if isinstance(t, int):
            if type(self.denoiser) is TimeMLP:
                return _timemlp_cached(self.denoiser, x_t, t, getattr(self, "_projections", None))
            t = torch.full(x_t.shape[:1], t, dtype=torch.long, device=x_t.device)
        return self.denoiser(x_t, t)

    def _p_mean_var(self, x_t: torch.Tensor, t):
        return self.diffusion.p_mean_var(x_t, t, self._denoise(x_t, t), self.prediction)

    def _decoder_dist(self, x_1: torch.Tensor):
        r""":math:`p_\theta(x_0 \mid x_1)`, elementwise (batch_shape ``(N,) + D``)."""
        mean, var = self._p_mean_var(x_1, 1)
        scale = var.sqrt().expand_as(mean)
        if self.decoder == "discretized":
            return DiscretizedGaussian(mean, scale, self.num_levels)
        return dist.Normal(mean, scale)

    def check_data(self, data, name: str = "data") -> torch.Tensor:
        """Return ``data`` as a tensor of shape ``(N,) + data_shape`` in the model's
        :attr:`dtype` (float32 unless torch's default dtype was changed), on the CPU,
        after checking it.

        Raises
        ------
        ValueError
            For a wrong shape, NaN or infinite values, or (with the discretised
            decoder) values outside ``[-1, 1]``.
        """
        if isinstance(data, torch.Tensor):
            array = data.detach().cpu().numpy()
        else:
            array = np.asarray(data)
        expected = "(N, " + ", ".join(map(str, self.data_shape)) + ")"
        if array.ndim != 1 + self.event_dim or tuple(array.shape[1:]) != self.data_shape:
            hint = ""
            if tuple(array.shape) == self.data_shape:
                hint = f" For a single example use {name}[None]."
            elif array.ndim == self.event_dim and tuple(array.shape[1:]) == self.data_shape[1:] and self.data_shape[0] == 1:
                hint = f" Add the channel axis with {name}[:, None]."
            raise ValueError(
                f"{name} must have shape {expected}, one row per example with data_shape="
                f"{self.data_shape}; received shape {tuple(array.shape)}.{hint or ' Reshape it, or build DDPM(data_shape=...) to match.'}"
            )
        if array.shape[0] < 1:
            raise ValueError(f"{name} must hold at least one example; received shape {tuple(array.shape)}.")
        check_finite(array, name)
        if self.decoder == "discretized" and (array.min() < -1.0 - 1e-6 or array.max() > 1.0 + 1e-6):
            raise ValueError(
                f"{name} must lie in [-1, 1] for decoder='discretized'; received values in "
                f"[{array.min():.4g}, {array.max():.4g}]. Scale the pixels, e.g. x = pixels / 127.5 - 1 "
                f"for 8-bit images or x = pixels / 8 - 1 for the 0..16 digits."
            )
        if self.decoder == "discretized":
            # the bins of DiscretizedGaussian are centred on -1 + 2 i / (K - 1); off-grid
            # values would be scored by overlapping bins (probabilities summing past 1)
            K = self.num_levels
            level = (array.astype(np.float64) + 1.0) * (K - 1) / 2.0
            off = np.abs(level - np.round(level))
            if off.max() > 1e-3:
                i = int(np.argmax(off.reshape(-1)))
                raise ValueError(
                    f"{name} must lie on the {K} grey levels -1 + 2 i / {K - 1} (i = 0..{K - 1}) for "
                    f"decoder='discretized' with num_levels={K}; value {array.reshape(-1)[i]:.6g} "
                    f"(flat index {i}) is {off.max():.3g} of a level away. Scale integer pixels p in "
                    f"0..{K - 1} as x = 2 p / {K - 1} - 1 (8-bit: pixels / 127.5 - 1 with "
                    f"num_levels=256), or use decoder='gaussian' for continuous data."
                )
        return torch.as_tensor(np.ascontiguousarray(array), dtype=self.dtype)

    # ------------------------------------------------------------ the Pyro pair
    def model(self, x0: torch.Tensor | None = None, num_samples: int | None = None):
        """Reverse process ``x_T -> ... -> x_1 -> x_0``; ``x0=None`` simulates ``num_samples`` examples.

        Parameters
        ----------
        x0 : torch.Tensor, optional
            Observed data of shape ``(N,) + data_shape`` in the model's :attr:`dtype`.
        num_samples : int, optional
            Number of examples to simulate when ``x0`` is None.

        Returns
        -------
        torch.Tensor
            ``x_0``, shape ``(N,) + data_shape``.
        """
        pyro.module("ddpm_denoiser", self.denoiser)
        T, k = self.timesteps, self.event_dim
        if x0 is None:
            if num_samples is None:
                raise ValueError("model() needs x0 or num_samples; pass e.g. num_samples=100 to simulate.")
            n = num_samples
        else:
            n = x0.shape[0]
        device = self.device
        with pyro.plate("data", n, dim=-1):
            zeros = torch.zeros((n,) + self.data_shape, dtype=self.dtype, device=device)
            x = pyro.sample(f"x_{T}", dist.Normal(zeros, 1.0).to_event(k))
            for t in range(T, 1, -1):
                # Ho et al. eq. 1: p(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I)
                mean, var = self._p_mean_var(x, t)
                x = pyro.sample(f"x_{t - 1}", dist.Normal(mean, var.sqrt()).to_event(k))
            return pyro.sample("x_0", self._decoder_dist(x).to_event(k), obs=x0)

    def guide(self, x0: torch.Tensor | None = None, num_samples: int | None = None):
        """Forward process ``q(x_T | x_0) prod_t q(x_{t-1} | x_t, x_0)`` (no parameters)."""
        if x0 is None:
            raise ValueError("guide() conditions on the data; pass x0 of shape (N,) + data_shape.")
        T, k = self.timesteps, self.event_dim
        d = self.diffusion
        with pyro.plate("data", x0.shape[0], dim=-1):
            mean, var = d.q_mean_var(x0, T)  # eq. 4
            x = pyro.sample(f"x_{T}", dist.Normal(mean, var.sqrt().expand_as(mean)).to_event(k))
            for t in range(T, 1, -1):
                mean, var = d.q_posterior(x0, x, t)  # eqs. 6-7
                x = pyro.sample(f"x_{t - 1}", dist.Normal(mean, var.sqrt().expand_as(mean)).to_event(k))

    # ------------------------------------------------------------ bound terms
    def _sum_event(self, value: torch.Tensor) -> torch.Tensor:
        return value.reshape(value.shape[0], -1).sum(-1)

    def prior_term(self, x0: torch.Tensor) -> torch.Tensor:
        r""":math:`L_T = \mathrm{KL}(q(x_T \mid x_0) \,\|\, \mathcal N(0, I))` per example, shape ``(N,)``."""
        mean, var = self.diffusion.q_mean_var(x0, self.timesteps)
        return self._sum_event(gaussian_kl(mean, var.expand_as(mean), torch.zeros_like(mean),
                                           torch.ones_like(mean)))

    def _check_t(self, t, x0: torch.Tensor):
        """``t`` as an int or a ``(N,)`` long tensor after checking ``1 <= t <= T``."""
        T = self.timesteps
        if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
            if not 1 <= int(t) <= T:
                raise ValueError(f"t must be in 1..{T} (timesteps={T}); received t={int(t)}.")
            return int(t)
        if isinstance(t, torch.Tensor) and t.dim() == 0 and not t.is_floating_point() and t.dtype != torch.bool:
            return self._check_t(int(t), x0)
        if isinstance(t, torch.Tensor) and not t.is_floating_point() and t.dtype != torch.bool:
            if t.shape != x0.shape[:1]:
                raise ValueError(f"t must be an int or a tensor of shape ({x0.shape[0]},), one step "
                                 f"per example; received shape {tuple(t.shape)}.")
            if t.numel() and (int(t.min()) < 1 or int(t.max()) > T):
                raise ValueError(f"t must be in 1..{T} (timesteps={T}); received values in "
                                 f"{int(t.min())}..{int(t.max())}.")
            return t.long()
        raise TypeError(f"t must be an int or an integer tensor of shape (N,); received "
                        f"{type(t).__name__}{'' if not isinstance(t, torch.Tensor) else ' of dtype ' + str(t.dtype)}.")

    def step_term(self, x0: torch.Tensor, t, noise: torch.Tensor | None = None) -> torch.Tensor:
        r"""One draw of :math:`L_{t-1}` (:math:`t \ge 2`) or :math:`L_0` (:math:`t = 1`) per example.

        ``x_t`` is drawn from :math:`q(x_t \mid x_0)` with ``noise`` (standard
        normal of ``x0``'s shape; fresh when None). ``t`` is an int or a
        ``(N,)`` integer tensor with values in ``1..T``. Returns shape ``(N,)``.
        """
        t = self._check_t(t, x0)
        d = self.diffusion
        if noise is None:
            noise = torch.randn_like(x0)
        x_t = d.q_sample(x0, t, noise)
        mean_p, var_p = self._p_mean_var(x_t, t)
        mean_q, var_q = d.q_posterior(x0, x_t, t)
        first = (t == 1) if isinstance(t, int) else (t == 1).reshape((-1,) + (1,) * self.event_dim)
        # t = 1 has var_q = 0 (x_0 is known); a dummy 1 keeps the unused KL finite
        var_q_safe = torch.where(torch.as_tensor(first, device=x0.device), torch.ones_like(var_q), var_q)
        kl = gaussian_kl(mean_q, var_q_safe.expand_as(mean_q), mean_p, var_p.expand_as(mean_p))
        if self.decoder == "discretized":
            nll = -DiscretizedGaussian(mean_p, var_p.sqrt().expand_as(mean_p), self.num_levels).log_prob(x0)
        else:
            nll = -dist.Normal(mean_p, var_p.sqrt().expand_as(mean_p)).log_prob(x0)
        if isinstance(t, int):
            return self._sum_event(nll if t == 1 else kl)
        return self._sum_event(torch.where(first, nll, kl))

    def sampled_bound(self, x0: torch.Tensor) -> torch.Tensor:
        r"""Unbiased one-timestep estimate of the negative ELBO per example, shape ``(N,)``.

        :math:`L_T + T \cdot L_{t-1}` with :math:`t \sim \mathcal U\{1, \dots, T\}`
        drawn per example (:math:`L_{t-1}` is :math:`L_0` at :math:`t = 1`).
        """
        t = torch.randint(1, self.timesteps + 1, (x0.shape[0],), device=x0.device)
        return self.prior_term(x0) + self.timesteps * self.step_term(x0, t)

    def full_bound(self, x0: torch.Tensor) -> torch.Tensor:
        r"""One draw of the whole bound :math:`L_T + \sum_t L_{t-1} + L_0` per example, shape ``(N,)``.

        Each :math:`x_t` is drawn from its marginal :math:`q(x_t \mid x_0)`
        (independently for each ``t``), so it costs ``T`` network calls.
        """
        total = self.prior_term(x0)
        for t in range(1, self.timesteps + 1):
            total = total + self.step_term(x0, t)
        return total

    def simple_loss(self, x0: torch.Tensor) -> torch.Tensor:
        r"""Ho et al.'s :math:`L_\text{simple}` (eq. 14) for the chosen parameterisation, a scalar."""
        d = self.diffusion
        t = torch.randint(1, self.timesteps + 1, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        output = self.denoiser(d.q_sample(x0, t, noise), t)
        return (output - d.target(x0, t, noise, self.prediction)).pow(2).mean()

    # ------------------------------------------------------------ fitting
    def fit(
        self,
        data,
        *,
        steps: int = FIT_DEFAULTS["steps"],
        batch_size: int = FIT_DEFAULTS["batch_size"],
        lr: float = FIT_DEFAULTS["lr"],
        schedule: LRSchedule = FIT_DEFAULTS["schedule"],
        objective: Objective = FIT_DEFAULTS["objective"],
        ema_decay: float = FIT_DEFAULTS["ema_decay"],
        grad_clip: float | None = FIT_DEFAULTS["grad_clip"],
        weight_decay: float = FIT_DEFAULTS["weight_decay"],
        device: str | torch.device | None = None,
        seed: int | None = None,
        progress: bool = False,
        checkpoint: str | None = None,
        checkpoint_every: int = 50,
        resume: str | None = None,
        num_threads: int | None = 1,
    ) -> "DDPMFit":
        r"""Train a copy of the denoiser and return it in a :class:`DDPMFit`.

        This DDPM is left as it was; ``fit.ddpm`` is the trained copy (its
        ``model``/``guide`` are the fitted Pyro pair). The default networks are
        re-initialised from ``seed``; a ``denoiser`` passed to :class:`DDPM` is
        trained from its current weights (fine-tuning).

        Parameters
        ----------
        data : array_like
            Training examples, shape ``(N,) + data_shape`` (standardise
            continuous data per coordinate; scale images to ``[-1, 1]``).
        steps : int, default 7000
            Optimiser steps (minibatches); rounded up to whole passes over the
            data (epochs of :func:`probmodels.train.train`, which runs the
            loop: progress, NaN guard, checkpoints, devices, ``torchrun`` data
            parallelism, EMA).
        batch_size : int, default 512
        lr : float, default 2e-3
            Peak learning rate (Adam).
        schedule : {"constant", "cosine", "onecycle"}, default "onecycle"
            Learning-rate schedule over the run (the noise schedule is
            ``DDPM(schedule=...)``).
        objective : {"simple", "elbo", "chain"}, default "simple"
            ``"simple"``: :math:`L_\text{simple}` (Ho et al. eq. 14);
            ``"elbo"``: the unbiased one-timestep estimate of the negative ELBO
            (:meth:`sampled_bound`, per example); ``"chain"``: Pyro's
            ``TraceMeanField_ELBO`` on the whole chain (``T`` network calls a
            step; for small ``T`` only).
        ema_decay : float, default 0.995
            Decay of the exponential moving average of the weights used by the
            fit (``0`` keeps the last weights).
        grad_clip : float or None, default 1.0
            Clip the gradient norm.
        weight_decay : float, default 0.0
        device : str, torch.device or None
            ``None``: CPU, or the local GPU under ``torchrun`` with NCCL.
        seed : int, optional
            Seeds the initial weights (of the default networks), the training
            order and the noise; ``None`` draws one and records it.
        progress : bool, default False
        checkpoint, checkpoint_every, resume :
            Checkpoint file, epochs between checkpoints, and a checkpoint to
            resume from (see :func:`probmodels.train.train`).
        num_threads : int or None, default 1
            Torch intra-op threads during training (restored afterwards);
            ``None`` leaves the setting alone. One thread is as fast as two for
            the default network on an idle 2-core machine and several times
            faster on a busy one.

        Returns
        -------
        DDPMFit
        """
        x = self.check_data(data)
        steps = check_int(steps, "steps", minimum=1)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        lr = check_float(lr, "lr", positive=True)
        try:
            schedule = check_choice(schedule, "schedule", LR_SCHEDULES)
        except ValueError as exc:
            hint = (f" {schedule!r} is a noise schedule: pass it as DDPM(data_shape, schedule={schedule!r})."
                    if isinstance(schedule, str) and schedule in SCHEDULES else "")
            raise ValueError(
                f"fit(schedule=...) is the learning-rate schedule of fit(); the noise schedule is "
                f"DDPM(schedule=...). {exc}{hint}"
            ) from None
        objective = check_choice(objective, "objective", OBJECTIVES)
        ema_decay = check_float(ema_decay, "ema_decay", minimum=0.0, maximum=0.99999)
        if grad_clip is not None:
            grad_clip = check_float(grad_clip, "grad_clip", positive=True)
        weight_decay = check_float(weight_decay, "weight_decay", minimum=0.0)
        seed = resolve_seed(seed)
        # the fit owns a trained copy; this DDPM (and earlier fits) keep their weights
        trained = copy.deepcopy(self)
        trained.diffusion.to(resolve_device(device))

        if objective == "simple":
            loss_fn = trained.simple_loss
        elif objective == "elbo":
            def loss_fn(batch):  # nats per dimension, so the scale does not grow with D
                return trained.sampled_bound(batch).mean() / trained.num_dims
        else:
            elbo = pyro.infer.TraceMeanField_ELBO()

            def loss_fn(batch):
                return elbo.differentiable_loss(trained.model, trained.guide, batch) / (batch.shape[0] * trained.num_dims)

        per_epoch = math.ceil(x.shape[0] / batch_size)
        epochs = math.ceil(steps / per_epoch)
        config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                             schedule=schedule, grad_clip=grad_clip,
                             ema_decay=ema_decay if ema_decay > 0 else None, device=device,
                             progress=progress, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                             cpu_threads=num_threads)
        options = {"steps": epochs * per_epoch, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                   "schedule": schedule, "objective": objective, "ema_decay": ema_decay,
                   "grad_clip": grad_clip, "weight_decay": weight_decay}
        # files and checkpoints written before num_groups existed lack it: keep their
        # fingerprint when it has its default
        fingerprint_config = {k: v for k, v in self.config.items()
                              if not (k == "num_groups" and v == 8)}
        with pyro.get_param_store().scope(), limit_threads(num_threads):
            if not trained.config["custom_denoiser"]:
                # the seed fixes the initial weights of the default networks too; a denoiser
                # the user passed is trained from its current weights (fine-tuning)
                with torch.random.fork_rng(devices=[]):  # the weights are drawn on the CPU
                    torch.manual_seed(seed)
                    _reset_parameters(trained.denoiser)
            run = train(loss_fn, trained.denoiser, x, config, seed=seed, resume=resume, description="DDPM",
                        fingerprint={"model": "DDPM", "objective": objective, **fingerprint_config,
                                     "denoiser": type(self.denoiser).__name__,
                                     "parameter_shapes": {k: list(v.shape) for k, v in
                                                          self.denoiser.state_dict().items()}})
        trained.diffusion.to(trained.device)
        return DDPMFit(draws={}, method=objective, seed=seed, losses=run.train_loss, options=options,
                       diagnostics={"seconds": run.seconds, "steps": run.steps, "epochs": run.epochs,
                                    "num_examples": int(x.shape[0]), "world_size": run.world_size},
                       ddpm=trained)


# =============================================================== training helpers


def _check_unet_widths(base_channels, channel_mults, num_groups: int) -> None:
    """Check that the default UNet's group norms can split every stage width into ``num_groups``."""
    base = check_int(base_channels, "base_channels", minimum=1)
    if isinstance(channel_mults, (str, bytes)) or not isinstance(channel_mults, Sequence) or not channel_mults:
        raise ValueError(f"channel_mults must be a non-empty sequence of positive ints, e.g. (1, 2); "
                         f"got {channel_mults!r}.")
    mults = [check_int(m, f"channel_mults[{i}]", minimum=1) for i, m in enumerate(channel_mults)]
    widths = [base * m for m in mults]
    bad = [w for w in widths if w % num_groups]
    if bad:
        g = math.gcd(*widths)
        groups = max(d for d in range(1, num_groups + 1) if g % d == 0)
        base_fix = -(-base // num_groups) * num_groups
        raise ValueError(
            f"DDPM: the default UNet's stage widths base_channels * channel_mults = {widths} "
            f"(base_channels={base}, channel_mults={tuple(mults)}) must each be divisible by "
            f"num_groups={num_groups}, the groups of its group normalisation; {bad} are not. "
            f"Pass DDPM(..., base_channels={base_fix}) (a multiple of num_groups) or "
            f"DDPM(..., num_groups={groups}) (a divisor of every width)."
        )


def _reset_parameters(module: nn.Module) -> None:
    """Re-initialise every sub-module that can, so ``seed`` fixes the initial weights."""
    for m in module.modules():
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()


# =============================================================== results


@dataclass
class DDPMEvaluation:
    r"""The negative ELBO of data under a fitted DDPM.

    Attributes
    ----------
    nats : float
        Mean negative ELBO per example, nats (an upper bound on
        :math:`-\log p(x_0)`).
    nats_se : float
        Its Monte Carlo standard error (over the draws of the chain, for these
        examples).
    bits_per_dim : float
        ``nats / (num_dims * ln 2)``.
    bits_per_dim_se : float
    per_example : numpy.ndarray
        Shape ``(N,)``: each example's estimate (mean over ``num_draws``).
    terms : numpy.ndarray
        Shape ``(T + 1,)``: mean over examples of :math:`L_0, L_1, \dots, L_{T-1}, L_T`
        (entry ``t`` is the term of step ``t + 1``'s KL, entry 0 the decoder,
        entry ``T`` the prior term).
    num_draws : int
    """

    nats: float
    nats_se: float
    bits_per_dim: float
    bits_per_dim_se: float
    per_example: np.ndarray
    terms: np.ndarray
    num_draws: int

    def __repr__(self) -> str:
        return (f"DDPMEvaluation(nats={self.nats:.4f} ± {self.nats_se:.4f}, bits_per_dim="
                f"{self.bits_per_dim:.4f} ± {self.bits_per_dim_se:.4f}, N={self.per_example.size}, "
                f"num_draws={self.num_draws})")


@dataclass
class DDPMFit(FitResult):
    """The result of :meth:`DDPM.fit`: the trained (EMA) denoiser, its losses and options.

    ``draws`` is empty (the weights are point estimates); ``losses`` holds the
    training objective at each step.
    """

    ddpm: DDPM | None = None

    model_name = "DDPM"

    @property
    def denoiser(self) -> nn.Module:
        return self.ddpm.denoiser

    def to_arviz(self):
        raise NotImplementedError(
            "a DDPM fit holds point-estimated network weights, not posterior draws, so there is "
            "nothing to export to ArviZ; use fit.sample(n) and fit.evaluate(x) instead."
        )

    def _generator_seed(self, seed):
        seed = check_seed(seed)
        return self.seed if seed is None else seed

    def _sampling_steps(self, steps, sampler):
        T = self.ddpm.timesteps
        if steps is None:
            steps = T
        steps = check_int(steps, "steps", minimum=1)
        if steps > T:
            raise ValueError(
                f"steps must be at most the number of diffusion steps T={T}; got steps={steps}. "
                f"Pass steps <= {T} (steps={T} runs every step)."
            )
        if sampler is None:
            sampler = "ancestral" if steps == T else "ddim"
        sampler = check_choice(sampler, "sampler", SAMPLERS)
        if sampler == "ancestral" and steps != T:
            raise ValueError(
                f"ancestral sampling runs all T={T} steps of the model; got steps={steps}. "
                f"Use sampler='ddim' for fewer steps, or steps={T}."
            )
        return steps, sampler

    @torch.no_grad()
    def _run(self, n: int, steps: int, sampler: str, seed: int, frames: Sequence[int] | None):
        """Draw ``n`` examples; returns the final tensor and ``{t: x_t}`` for ``t`` in ``frames``."""
        ddpm = self.ddpm
        ddpm.denoiser.eval()
        recorded: dict[int, torch.Tensor] = {}
        device = ddpm.device
        if type(ddpm.denoiser) is TimeMLP:
            # every step's time projections in one pass (no gradients here)
            ddpm._projections = _time_projections(ddpm.denoiser, ddpm.timesteps,
                                                   ddpm.dtype, device)
        try:
            return self._run_sampler(ddpm, n, steps, sampler, seed, frames, recorded, device)
        finally:
            ddpm._projections = None

    def _run_sampler(self, ddpm, n, steps, sampler, seed, frames, recorded, device):
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            if sampler == "ancestral":
                with pyro.get_param_store().scope():
                    if frames:
                        tr = pyro.poutine.trace(ddpm.model).get_trace(None, n)
                        for t in frames:
                            recorded[t] = tr.nodes[f"x_{t}"]["value"]
                        out = tr.nodes["x_0"]["value"]
                    else:
                        out = ddpm.model(None, n)
            else:
                out = _ddim(ddpm, n, steps, recorded if frames is not None else None, frames or ())
        return out, recorded

    def sample(self, n: int, *, steps: int | None = None, sampler: Sampler | None = None,
               seed: int | None = None, num_threads: int | None = None) -> np.ndarray:
        """Draw ``n`` new examples, shape ``(n,) + data_shape``.

        Parameters
        ----------
        n : int
        steps : int, optional
            Denoising steps, at most ``T``. ``None`` or ``T``: ancestral sampling
            through :meth:`DDPM.model` (``x_T ~ N(0, I)``, then each
            ``x_{t-1} | x_t``, and ``x_0`` from the decoder); fewer: the
            deterministic DDIM sampler (Song et al. 2021, eta = 0) on ``steps``
            evenly spaced timesteps, which returns the final prediction of
            ``x_0``; with ``decoder="discretized"`` the predictions are clipped
            to ``[-1, 1]`` at every step and the result is rounded to the
            nearest of the ``num_levels`` grey levels (no draw from the
            discretised decoder); with the Gaussian decoder it is neither
            clipped nor rounded.
        sampler : {"ancestral", "ddim"}, optional
            Force a sampler (DDIM with ``steps=T`` is allowed).
        seed : int, optional
            Defaults to the fit's seed, so repeated calls agree; the global RNG
            state is left as it was.
        num_threads : int, optional
            Torch intra-op threads while sampling (see :meth:`DDPM.fit`).
        """
        n = check_int(n, "n", minimum=1)
        steps, sampler = self._sampling_steps(steps, sampler)
        with limit_threads(num_threads):
            out, _ = self._run(n, steps, sampler, self._generator_seed(seed), None)
        return out.cpu().numpy()

    def trajectory(self, n: int, *, steps: int | None = None, sampler: Sampler | None = None,
                   num_frames: int = 6, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The denoising path of ``n`` examples at ``num_frames`` timesteps from ``T`` to 0.

        The timesteps are those the sampler visits whose log signal-to-noise
        ratio :math:`\\log(\\bar\\alpha_t / (1 - \\bar\\alpha_t))` is closest to
        ``num_frames - 1`` evenly spaced levels from step ``T``'s up to (not
        including) step 1's, then ``x_0`` (fewer frames when two levels pick the
        same step).

        Returns
        -------
        timesteps : numpy.ndarray
            Shape ``(num_frames,)``, decreasing, ending with 0.
        frames : numpy.ndarray
            Shape ``(num_frames, n) + data_shape``: ``x_t`` at each timestep.
        """
        n = check_int(n, "n", minimum=1)
        num_frames = check_int(num_frames, "num_frames", minimum=2)
        steps, sampler = self._sampling_steps(steps, sampler)
        T = self.ddpm.timesteps
        grid = _ddim_timesteps(T, steps) if sampler == "ddim" else np.arange(1, T + 1)
        # frames among the timesteps the sampler visits (x_0 added at the end), spaced
        # evenly in log SNR_t = log(alpha_bar_t / (1 - alpha_bar_t)) so that they show
        # the change; the top level (x_1, next to x_0) is left out
        ab = self.ddpm.diffusion.alphas_cumprod.cpu()[torch.as_tensor(grid)].numpy()
        log_snr = np.log(ab) - np.log1p(-ab)
        levels = np.linspace(log_snr[-1], log_snr[0], num_frames)[:-1]
        pick = np.unique(np.abs(log_snr[None, :] - levels[:, None]).argmin(1))[::-1]
        frames = [int(grid[i]) for i in pick]
        out, recorded = self._run(n, steps, sampler, self._generator_seed(seed), frames)
        ts = np.array(frames + [0])
        return ts, np.stack([recorded[t].cpu().numpy() for t in frames] + [out.cpu().numpy()])

    @torch.no_grad()
    def evaluate(self, x, *, num_draws: int = 2, batch_size: int = 1024,
                 seed: int | None = None, num_threads: int | None = None) -> DDPMEvaluation:
        """Negative ELBO of ``x`` in nats per example and bits per dimension.

        Every example gets ``num_draws`` independent draws of the whole bound
        (:meth:`DDPM.full_bound`, ``T`` network calls per batch and draw); the
        Monte Carlo standard error comes from the spread of the draws within
        each example (with ``num_draws=1``, from the spread across examples,
        which also counts their differences and is conservative).

        Parameters
        ----------
        x : array_like
            Shape ``(N,) + data_shape``, scaled as the training data.
        num_draws : int, default 2
        batch_size : int, default 1024
        seed : int, optional
            Defaults to the fit's seed.
        num_threads : int, optional
            Torch intra-op threads (see :meth:`DDPM.fit`).
        """
        ddpm = self.ddpm
        x = ddpm.check_data(x, "x").to(ddpm.device)
        num_draws = check_int(num_draws, "num_draws", minimum=1)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        T = ddpm.timesteps
        ddpm.denoiser.eval()
        values = np.empty((num_draws, x.shape[0]))
        terms = np.zeros(T + 1)
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []), \
                limit_threads(num_threads):
            torch.manual_seed(self._generator_seed(seed))
            for r in range(num_draws):
                for lo in range(0, x.shape[0], batch_size):
                    batch = x[lo:lo + batch_size]
                    prior = ddpm.prior_term(batch).double()
                    total = prior.clone()
                    terms[T] += prior.sum().item()
                    for t in range(1, T + 1):
                        term = ddpm.step_term(batch, t).double()
                        terms[t - 1] += term.sum().item()
                        total += term
                    values[r, lo:lo + batch.shape[0]] = total.cpu().numpy()
        n = x.shape[0]
        per_example = values.mean(0)
        nats = float(per_example.mean())
        if num_draws > 1:
            # variance of the mean over examples of per-example means of the draws
            se = float(np.sqrt(values.var(0, ddof=1).sum() / num_draws) / n)
        else:
            se = float(per_example.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        scale = 1.0 / (ddpm.num_dims * _LOG2)
        return DDPMEvaluation(nats=nats, nats_se=se, bits_per_dim=nats * scale, bits_per_dim_se=se * scale,
                              per_example=per_example, terms=terms / (n * num_draws), num_draws=num_draws)

    # ------------------------------------------------------------ plots
    def plot_samples(self, n: int = 1000, *, steps: int | None = None, seed: int | None = None,
                     data=None, ax=None):
        """Scatter of ``n`` samples (2-D data, over ``data`` if given) or a grid of images."""
        samples = self.sample(n, steps=steps, seed=seed)
        ax = _axes(ax)
        if self.ddpm.event_dim == 1:
            if data is not None:
                d = np.asarray(data)
                ax.scatter(d[:, 0], d[:, 1], s=3, color="0.75", label="data")
            ax.scatter(samples[:, 0], samples[:, -1], s=3, color="C0", label="DDPM samples")
            ax.set_aspect("equal")
            ax.legend(frameon=False, loc="upper right", markerscale=3)
        else:
            ax.imshow(_image_grid(samples), cmap="gray_r" if self.ddpm.data_shape[0] == 1 else None,
                      vmin=-1, vmax=1)
            ax.axis("off")
        ax.set_title(f"{n} samples, {'T=' + str(self.ddpm.timesteps) if steps in (None, self.ddpm.timesteps) else str(steps) + ' DDIM steps'}")
        return ax

    def plot_trajectory(self, n: int = 500, *, steps: int | None = None, num_frames: int = 6,
                        seed: int | None = None, ax=None):
        """The reverse process from ``x_T`` to ``x_0`` at ``num_frames`` timesteps, left to right.

        2-D data: one scatter of ``n`` points per timestep, side by side;
        images: one row per example (at most 8), one column per timestep.
        """
        ts, frames = self.trajectory(n, steps=steps, num_frames=num_frames, seed=seed)
        ax = _axes(ax)
        if self.ddpm.event_dim == 1:
            lo, hi = np.quantile(frames[..., 0], [0.001, 0.999])
            shift = 1.15 * (hi - lo)
            top = np.quantile(frames[..., -1], 0.999)
            for k, (t, x) in enumerate(zip(ts, frames)):
                ax.scatter(x[:, 0] + k * shift, x[:, -1], s=2, color="C0" if t == 0 else "0.4")
                ax.text(k * shift + (lo + hi) / 2, top, f"t = {t}", ha="center", va="bottom")
            ax.set_aspect("equal")
            ax.set_xticks([])
        else:
            rows = min(n, 8)
            # (frames, rows, C, H, W) -> a grid with one row per example, one column per frame
            grid = np.concatenate([_image_grid(frames[:, i], ncols=len(ts)) for i in range(rows)], axis=0)
            ax.imshow(grid, cmap="gray_r" if self.ddpm.data_shape[0] == 1 else None, vmin=-1, vmax=1)
            ax.axis("off")
            ax.set_title("t = " + ", ".join(str(t) for t in ts), fontsize="small")
        return ax

    # ------------------------------------------------------------ persistence
    def _state(self):
        ddpm = self.ddpm
        if ddpm.config["custom_denoiser"]:
            raise ValueError(
                "this fit uses a custom denoiser, which save() cannot rebuild; save its "
                "state_dict with torch.save(fit.denoiser.state_dict(), path) instead."
            )
        arrays = {f"param/{k}": v.detach().cpu().numpy() for k, v in ddpm.denoiser.state_dict().items()}
        return {"config": ddpm.config}, arrays

    @classmethod
    def _from_state(cls, common, meta, arrays):
        config = dict(meta["config"])
        config.pop("custom_denoiser")
        config.setdefault("num_groups", 8)  # files saved before num_groups was an argument
        # building the denoiser draws initial weights, which the saved ones replace: the
        # caller's global RNG is left as it was
        with torch.random.fork_rng(devices=[]):
            ddpm = DDPM(tuple(config.pop("data_shape")), **config)
        # load_state_dict converts the saved arrays to the parameters' dtype (torch's
        # default dtype when loading), so a float32 file loads into a float64 session
        state = {k[len("param/"):]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("param/")}
        ddpm.denoiser.load_state_dict(state)
        ddpm.denoiser.eval()
        return cls(ddpm=ddpm, **common)


def _ddim_timesteps(T: int, steps: int) -> np.ndarray:
    """``steps`` increasing timesteps evenly spread over ``1..T``, ending at ``T``."""
    if steps == 1:  # one jump from x_T straight to x_0
        return np.array([T])
    return np.unique(np.round(np.linspace(1, T, steps)).astype(int))


def _ddim(ddpm: DDPM, n: int, steps: int, recorded: dict | None, frames) -> torch.Tensor:
    r"""Deterministic DDIM sampling (Song et al. 2021, eq. 12 with :math:`\sigma = 0`)."""
    d = ddpm.diffusion
    taus = _ddim_timesteps(ddpm.timesteps, steps)
    x = torch.randn((n,) + ddpm.data_shape, dtype=ddpm.dtype, device=ddpm.device)
    prev = np.concatenate([[0], taus[:-1]])
    for tau, tau_prev in zip(taus[::-1].tolist(), prev[::-1].tolist()):
        if recorded is not None and tau in frames:
            recorded[tau] = x
        x0, eps = d.predict_x0_eps(x, tau, ddpm._denoise(x, tau), ddpm.prediction)
        if ddpm.decoder == "discretized":
            x0 = x0.clamp(-1.0, 1.0)
            eps = (x - d.coef("sqrt_alphas_cumprod", tau, x) * x0) / d.coef("sqrt_one_minus_alphas_cumprod", tau, x)
        # (1) predicted x_0, (2) direction pointing to x_t, eq. 12
        x = d.coef("sqrt_alphas_cumprod", tau_prev, x) * x0 + d.coef("sqrt_one_minus_alphas_cumprod", tau_prev, x) * eps
    if ddpm.decoder == "discretized":
        # the deterministic sampler ends at the nearest of the K grey levels (ancestral
        # sampling draws a level from the discretised decoder)
        K = ddpm.num_levels
        x = torch.round((x + 1.0) * (K - 1) / 2.0).clamp(0, K - 1) * (2.0 / (K - 1)) - 1.0
    return x


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 5))
    return ax


def _image_grid(images: np.ndarray, ncols: int | None = None) -> np.ndarray:
    """``(n, C, H, W)`` images -> one ``(rows * (H+1), cols * (W+1))`` (or ``(..., C)``) array."""
    n, c, h, w = images.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.full((nrows * (h + 1), ncols * (w + 1), c), -1.0)
    for i in range(n):
        r, col = divmod(i, ncols)
        grid[r * (h + 1):r * (h + 1) + h, col * (w + 1):col * (w + 1) + w] = images[i].transpose(1, 2, 0)
    return grid[..., 0] if c == 1 else (grid + 1) / 2
