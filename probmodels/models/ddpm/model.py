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
Continuous data is standardised per coordinate (``standardize``): the chain runs
on ``(x - loc) / sd`` and ``x_0``'s site has the decoder in the data's units, so
the bound and bits/dim include the Jacobian ``sum log sd``.

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
import os
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from torch import nn

from probmodels._diffusion import (
    PREDICTIONS,
    SCHEDULES,
    VARIANCES,
    Diffusion,
    Prediction,
    Schedule,
    TimestepSampling,
    Variance,
    Weighting,
    beta_schedule,
    gaussian_kl,
    sample_timesteps,
)
from probmodels._validation import check_bool, check_choice, check_finite, check_int
from probmodels.infer.pipeline import neural_config
from probmodels.infer.runtime import pyro_section
from probmodels.infer.train import train
from probmodels.models.ddpm.config import (
    DECODERS,
    MAX_TIMESTEPS,
    OBJECTIVES,
    DDPMTrainConfig,
    Decoder,
    Objective,
    check_unet_widths,
    warn_unstandardized,
)
from probmodels.models.ddpm.decoder import DiscretizedGaussian
from probmodels.nn import TimeMLP, UNet
from probmodels.results import result_class

if TYPE_CHECKING:
    from probmodels.models.ddpm.result import DDPMFit

__all__ = ["DDPM", "DDPMTrainConfig", "DECODERS", "Decoder", "OBJECTIVES", "Objective"]


class DDPM:
    r"""Denoising diffusion probabilistic model: a Pyro model/guide pair over ``x_T, ..., x_1``.

    Parameters
    ----------
    data_shape : tuple of int
        Shape of one example: ``(D,)`` for vectors, ``(C, H, W)`` for images.
    timesteps : int, default 1000
        :math:`T \ge 1`.
    noise_schedule : {"cosine", "linear"} or None, default None
        The noise schedule :math:`\beta_t` (:func:`probmodels._diffusion.beta_schedule`):
        Nichol and Dhariwal's cosine :math:`\bar\alpha_t`, or linear from ``beta_start`` to
        ``beta_end`` (Ho et al.). ``None``: cosine for vectors, linear for images. The
        cosine schedule spends more steps at low noise, where thin structures are
        resolved: on the 2-D sets of ``benchmarks/ddpm.py`` it took circles from MMD^2
        0.011 to 0.000 in the same time (docs/ddpm.md); on the digits it is not
        measured to help, so images keep the linear schedule.
        (``fit(schedule=...)`` is the learning-rate schedule, as for every model.)
    prediction : {"v", "epsilon", "x0"} or None, default None
        What the denoiser predicts:
        :math:`v = \sqrt{\bar\alpha_t}\epsilon - \sqrt{1-\bar\alpha_t} x_0` (Salimans and
        Ho 2022), the noise (Ho et al.), or the clean data. ``None``: ``"v"`` for vectors,
        ``"epsilon"`` for images. With the cosine schedule
        :math:`\bar\alpha_T \approx 2.4 \cdot 10^{-9}`, and the noise prediction's
        :math:`\hat x_0 = (x_T - \sqrt{1-\bar\alpha_T}\hat\epsilon)/\sqrt{\bar\alpha_T}`
        multiplies its error by :math:`2 \cdot 10^4` at DDIM's first step; :math:`v` stays
        well conditioned at every :math:`t`.
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
    standardize : bool or None, default None
        Continuous data (``decoder="gaussian"``): the chain runs on the data
        standardised per coordinate (per channel for images) with the training
        data's mean and sd, which the fit stores; samples are mapped back, and the
        bound counts the Jacobian (``sum log sd`` nats per example), so ``evaluate``
        and bits/dim are in the data's own units. ``None`` means True for the Gaussian
        decoder and False for the discretised one (images on the fixed grid in
        ``[-1, 1]``); ``False`` with far-from-standardised data warns.

    Attributes
    ----------
    diffusion : probmodels._diffusion.Diffusion
        The coefficients (float64 buffers indexed by ``t = 0..T``).
    denoiser : torch.nn.Module
    """

    def __init__(
        self,
        data_shape: Sequence[int] | int,
        *,
        timesteps: int = 1000,
        noise_schedule: Schedule | None = None,
        prediction: Prediction | None = None,
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
        standardize: bool | None = None,
    ) -> None:
        if isinstance(data_shape, (int, np.integer)):
            data_shape = (int(data_shape),)
        if (
            isinstance(data_shape, (str, bytes))
            or not isinstance(data_shape, Sequence)
            or len(data_shape) not in (1, 3)
        ):
            raise ValueError(
                f"data_shape must be the shape of one example, (D,) for vectors or (C, H, W) for "
                f"images; got {data_shape!r}. Pass e.g. data_shape=(2,) or data_shape=(1, 8, 8)."
            )
        self.data_shape = tuple(
            check_int(d, f"data_shape[{i}]", minimum=1) for i, d in enumerate(data_shape)
        )
        self.timesteps = check_int(timesteps, "timesteps", minimum=1)
        if self.timesteps > MAX_TIMESTEPS:
            raise ValueError(
                f"timesteps={self.timesteps} is beyond any diffusion chain (at most "
                f"{MAX_TIMESTEPS:,}; DDPMs use about 1,000). Pass e.g. timesteps=1000."
            )
        vectors = len(self.data_shape) == 1
        # the measured recipe for vectors; images keep Ho et al.'s until one is measured there
        if noise_schedule is None:
            noise_schedule = "cosine" if vectors else "linear"
        if prediction is None:
            prediction = "v" if vectors else "epsilon"
        self.noise_schedule = check_choice(noise_schedule, "noise_schedule", SCHEDULES)
        self.prediction = check_choice(prediction, "prediction", PREDICTIONS)
        self.variance = check_choice(variance, "variance", VARIANCES)
        self.decoder = check_choice(decoder, "decoder", DECODERS)
        self.num_levels = check_int(num_levels, "num_levels", minimum=2)
        if standardize is None:
            standardize = self.decoder == "gaussian"
        self.standardize = check_bool(standardize, "standardize")
        if self.standardize and self.decoder == "discretized":
            raise ValueError(
                "standardize=True needs continuous data, but decoder='discretized' models pixels on "
                "a fixed grid in [-1, 1]; leave standardize=None (False) for images."
            )
        num_groups = check_int(num_groups, "num_groups", minimum=1)
        if denoiser is None and len(self.data_shape) == 3:
            check_unet_widths(base_channels, channel_mults, num_groups)
        self.config = {
            "data_shape": list(self.data_shape),
            "timesteps": self.timesteps,
            "noise_schedule": self.noise_schedule,
            "standardize": self.standardize,
            "prediction": self.prediction,
            "variance": self.variance,
            "decoder": self.decoder,
            "num_levels": self.num_levels,
            "hidden": hidden,
            "depth": depth,
            "base_channels": base_channels,
            "channel_mults": list(channel_mults),
            "num_groups": num_groups,
            "beta_start": beta_start,
            "beta_end": beta_end,
            "custom_denoiser": denoiser is not None,
        }
        betas = beta_schedule(
            self.noise_schedule, self.timesteps, beta_start=beta_start, beta_end=beta_end
        )
        self.diffusion = Diffusion(betas, variance=self.variance)
        if denoiser is None:
            if len(self.data_shape) == 1:
                denoiser = TimeMLP(self.data_shape[0], hidden, depth)
            else:
                denoiser = UNet(
                    self.data_shape[0], base_channels, tuple(channel_mults), num_groups=num_groups
                )
        elif not isinstance(denoiser, nn.Module):
            raise TypeError(
                f"denoiser must be a torch.nn.Module called as denoiser(x_t, t); got "
                f"{type(denoiser).__name__}. Pass e.g. probmodels.nn.TimeMLP(D)."
            )
        self.denoiser = denoiser
        # the standardisation of continuous data, set by fit (identity until then)
        self.data_loc = torch.zeros(
            self.data_shape if len(self.data_shape) == 1 else (self.data_shape[0], 1, 1),
            dtype=torch.float64,
        )
        self.data_scale = torch.ones_like(self.data_loc)

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
        """Denoiser output at ``t`` (an int shared by the batch, or a ``(batch,)`` tensor).

        A denoiser with ``time_features`` (the default ``TimeMLP``) embeds a shared
        ``t`` once for the whole batch.
        """
        if isinstance(t, int):
            if hasattr(self.denoiser, "time_features"):
                rows = cast(Any, self.denoiser).time_features(
                    torch.full((1,), float(t), dtype=x_t.dtype, device=x_t.device)
                )
                return self.denoiser(x_t, features=rows)
            t = torch.full(x_t.shape[:1], t, dtype=torch.long, device=x_t.device)
        return self.denoiser(x_t, t)

    def _p_mean_var(self, x_t: torch.Tensor, t, denoise=None):
        out = (denoise or self._denoise)(x_t, t)
        return self.diffusion.p_mean_var(x_t, t, out, self.prediction)

    def _decoder_dist(self, x_1: torch.Tensor, denoise=None):
        r""":math:`p_\theta(x_0 \mid x_1)` in the data's units, elementwise (batch_shape ``(N,) + D``)."""
        mean, var = self._p_mean_var(x_1, 1, denoise)
        scale = var.sqrt().expand_as(mean)
        if self.decoder == "discretized":
            return DiscretizedGaussian(mean, scale, self.num_levels)
        loc, s = self._standardisation(mean)
        return dist.Normal(loc + s * mean, s * scale)

    # ------------------------------------------------------------ standardisation
    def _standardisation(self, like: torch.Tensor):
        """``(loc, scale)`` of the data's standardisation, in ``like``'s dtype and device."""
        return (
            self.data_loc.to(dtype=like.dtype, device=like.device),
            self.data_scale.to(dtype=like.dtype, device=like.device),
        )

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Data -> the standardised space the chain runs in (identity without standardisation)."""
        loc, s = self._standardisation(x)
        return (x - loc) / s

    def from_unit(self, z: torch.Tensor) -> torch.Tensor:
        """The chain's standardised space -> data."""
        loc, s = self._standardisation(z)
        return loc + s * z

    @property
    def log_scale_sum(self) -> float:
        """``sum log sd`` over one example's coordinates: the standardisation's Jacobian (nats)."""
        return float(torch.log(self.data_scale).expand(self.data_shape).sum())

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
            elif (
                array.ndim == self.event_dim
                and tuple(array.shape[1:]) == self.data_shape[1:]
                and self.data_shape[0] == 1
            ):
                hint = f" Add the channel axis with {name}[:, None]."
            raise ValueError(
                f"{name} must have shape {expected}, one row per example with data_shape="
                f"{self.data_shape}; received shape {tuple(array.shape)}.{hint or ' Reshape it, or build DDPM(data_shape=...) to match.'}"
            )
        if array.shape[0] < 1:
            raise ValueError(
                f"{name} must hold at least one example; received shape {tuple(array.shape)}."
            )
        if array.dtype == object or array.dtype.kind not in "iuf":
            raise TypeError(
                f"{name} must be real numbers, got dtype {array.dtype}; a DDPM models continuous "
                f"data (or images scaled to [-1, 1]). Convert it, e.g. {name}.astype(np.float32)."
            )
        check_finite(array, name)
        if self.decoder == "discretized" and (
            array.min() < -1.0 - 1e-6 or array.max() > 1.0 + 1e-6
        ):
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
        return self._reverse_chain(x0, num_samples, self._denoise)

    def _reverse_chain(self, x0, num_samples, denoise):
        """The model with the denoiser call ``denoise(x_t, t)`` (the samplers pass one that
        looks up precomputed time features)."""
        T, k = self.timesteps, self.event_dim
        if x0 is None:
            if num_samples is None:
                raise ValueError(
                    "model() needs x0 or num_samples; pass e.g. num_samples=100 to simulate."
                )
            n = num_samples
        else:
            n = x0.shape[0]
        device = self.device
        with pyro.plate("data", n, dim=-1):
            zeros = torch.zeros((n,) + self.data_shape, dtype=self.dtype, device=device)
            x = pyro.sample(f"x_{T}", dist.Normal(zeros, 1.0).to_event(k))
            for t in range(T, 1, -1):
                # Ho et al. eq. 1: p(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I)
                mean, var = self._p_mean_var(x, t, denoise)
                x = pyro.sample(f"x_{t - 1}", dist.Normal(mean, var.sqrt()).to_event(k))
            return pyro.sample("x_0", self._decoder_dist(x, denoise).to_event(k), obs=x0)

    def guide(self, x0: torch.Tensor | None = None, num_samples: int | None = None):
        """Forward process ``q(x_T | x_0) prod_t q(x_{t-1} | x_t, x_0)`` (no parameters)."""
        if x0 is None:
            raise ValueError("guide() conditions on the data; pass x0 of shape (N,) + data_shape.")
        T, k = self.timesteps, self.event_dim
        d = self.diffusion
        x0 = self.to_unit(x0)  # the chain runs on standardised data
        with pyro.plate("data", x0.shape[0], dim=-1):
            mean, var = d.q_mean_var(x0, T)  # eq. 4
            x = pyro.sample(f"x_{T}", dist.Normal(mean, var.sqrt().expand_as(mean)).to_event(k))
            for t in range(T, 1, -1):
                mean, var = d.q_posterior(x0, x, t)  # eqs. 6-7
                x = pyro.sample(
                    f"x_{t - 1}", dist.Normal(mean, var.sqrt().expand_as(mean)).to_event(k)
                )

    # ------------------------------------------------------------ bound terms
    def _sum_event(self, value: torch.Tensor) -> torch.Tensor:
        return value.reshape(value.shape[0], -1).sum(-1)

    def prior_term(self, x0: torch.Tensor) -> torch.Tensor:
        r""":math:`L_T = \mathrm{KL}(q(x_T \mid x_0) \,\|\, \mathcal N(0, I))` per example, shape ``(N,)``."""
        mean, var = self.diffusion.q_mean_var(self.to_unit(x0), self.timesteps)
        return self._sum_event(
            gaussian_kl(mean, var.expand_as(mean), torch.zeros_like(mean), torch.ones_like(mean))
        )

    def _check_t(self, t, x0: torch.Tensor):
        """``t`` as an int or a ``(N,)`` long tensor after checking ``1 <= t <= T``."""
        T = self.timesteps
        if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
            if not 1 <= int(t) <= T:
                raise ValueError(f"t must be in 1..{T} (timesteps={T}); received t={int(t)}.")
            return int(t)
        if (
            isinstance(t, torch.Tensor)
            and t.dim() == 0
            and not t.is_floating_point()
            and t.dtype != torch.bool
        ):
            return self._check_t(int(t), x0)
        if isinstance(t, torch.Tensor) and not t.is_floating_point() and t.dtype != torch.bool:
            if t.shape != x0.shape[:1]:
                raise ValueError(
                    f"t must be an int or a tensor of shape ({x0.shape[0]},), one step "
                    f"per example; received shape {tuple(t.shape)}."
                )
            if t.numel() and (int(t.min()) < 1 or int(t.max()) > T):
                raise ValueError(
                    f"t must be in 1..{T} (timesteps={T}); received values in "
                    f"{int(t.min())}..{int(t.max())}."
                )
            return t.long()
        raise TypeError(
            f"t must be an int or an integer tensor of shape (N,); received "
            f"{type(t).__name__}{'' if not isinstance(t, torch.Tensor) else ' of dtype ' + str(t.dtype)}."
        )

    def step_term(self, x0: torch.Tensor, t, noise: torch.Tensor | None = None) -> torch.Tensor:
        r"""One draw of :math:`L_{t-1}` (:math:`t \ge 2`) or :math:`L_0` (:math:`t = 1`) per example.

        ``x_t`` is drawn from :math:`q(x_t \mid x_0)` with ``noise`` (standard
        normal of ``x0``'s shape; fresh when None). ``t`` is an int or a
        ``(N,)`` integer tensor with values in ``1..T``. Returns shape ``(N,)``.
        """
        t = self._check_t(t, x0)
        d = self.diffusion
        x0 = self.to_unit(x0)
        if noise is None:
            noise = torch.randn_like(x0)
        x_t = d.q_sample(x0, t, noise)
        mean_p, var_p = self._p_mean_var(x_t, t)
        mean_q, var_q = d.q_posterior(x0, x_t, t)
        first = (t == 1) if isinstance(t, int) else (t == 1).reshape((-1,) + (1,) * self.event_dim)
        # t = 1 has var_q = 0 (x_0 is known); a dummy 1 keeps the unused KL finite
        var_q_safe = torch.where(
            torch.as_tensor(first, device=x0.device), torch.ones_like(var_q), var_q
        )
        kl = gaussian_kl(mean_q, var_q_safe.expand_as(mean_q), mean_p, var_p.expand_as(mean_p))
        if self.decoder == "discretized":
            nll = -DiscretizedGaussian(
                mean_p, var_p.sqrt().expand_as(mean_p), self.num_levels
            ).log_prob(x0)
        else:
            # in the data's units: the standardised density less the Jacobian sum log sd
            _, s = self._standardisation(x0)
            nll = -dist.Normal(mean_p, var_p.sqrt().expand_as(mean_p)).log_prob(x0) + torch.log(s)
        if isinstance(t, int):
            return self._sum_event(nll if t == 1 else kl)
        return self._sum_event(torch.where(torch.as_tensor(first), nll, kl))

    def sampled_bound(
        self, x0: torch.Tensor, *, timestep_sampling: TimestepSampling = "uniform"
    ) -> torch.Tensor:
        r"""Unbiased one-timestep estimate of the negative ELBO per example, shape ``(N,)``.

        :math:`L_T + T \cdot L_{t-1}` with :math:`t \sim \mathcal U\{1, \dots, T\}`
        drawn per example (:math:`L_{t-1}` is :math:`L_0` at :math:`t = 1`), independently
        or stratified over the batch (:func:`probmodels._diffusion.sample_timesteps`).
        """
        t = sample_timesteps(x0.shape[0], self.timesteps, timestep_sampling, device=x0.device)
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

    def simple_loss(
        self,
        x0: torch.Tensor,
        *,
        loss_weighting: Weighting = "none",
        snr_gamma: float = 5.0,
        timestep_sampling: TimestepSampling = "uniform",
    ) -> torch.Tensor:
        r"""Ho et al.'s :math:`L_\text{simple}` (eq. 14) for the chosen parameterisation, a scalar.

        The mean over the batch of :math:`w_t \|\text{target} - \text{output}\|^2 / D` with
        :math:`t` from :func:`~probmodels._diffusion.sample_timesteps` and :math:`w_t` from
        :meth:`~probmodels._diffusion.Diffusion.loss_weight` (1 unless ``loss_weighting="min_snr"``).
        """
        d = self.diffusion
        x0 = self.to_unit(x0)
        t = sample_timesteps(x0.shape[0], self.timesteps, timestep_sampling, device=x0.device)
        noise = torch.randn_like(x0)
        output = self.denoiser(d.q_sample(x0, t, noise), t)
        error = (output - d.target(x0, t, noise, self.prediction)).pow(2)
        if loss_weighting == "none":
            return error.mean()
        return (d.loss_weight(t, error, loss_weighting, self.prediction, snr_gamma) * error).mean()

    # ------------------------------------------------------------ fitting
    def default_config(self) -> DDPMTrainConfig:
        """The training options of :meth:`fit` (a :class:`DDPMTrainConfig`)."""
        return DDPMTrainConfig()

    def fit(
        self,
        data,
        *,
        seed: int | None = None,
        progress: bool | None = None,
        num_threads: int | None = 1,
        device=None,
        resume: str | os.PathLike | None = None,
        **options,
    ) -> DDPMFit:
        r"""Train a copy of the denoiser and return it in a :class:`DDPMFit`.

        This DDPM is left as it was; ``fit.ddpm`` is the trained copy (its
        ``model``/``guide`` are the fitted Pyro pair). The default networks are
        re-initialised from ``seed``; a ``denoiser`` passed to :class:`DDPM` is
        trained from its current weights (fine-tuning).

        Parameters
        ----------
        data : array_like
            Training examples, shape ``(N,) + data_shape`` (continuous data is
            standardised by the model, see ``standardize``; scale images to ``[-1, 1]``).
        seed : int, optional
            Seeds the initial weights (of the default networks), the training
            order and the noise; ``None`` draws one and records it.
        progress : bool or None
            A progress bar; ``None`` (default): on a terminal only.
        num_threads : int or None, default 1
            Torch intra-op threads during training (restored afterwards).
        device : str, torch.device or None
            ``None``: CPU, or the local GPU under ``torchrun`` with NCCL.
        resume : str or Path, optional
            Continue from a checkpoint written with ``checkpoint=``.
        **options
            The fields of :class:`DDPMTrainConfig`.

        Returns
        -------
        DDPMFit
        """
        config, seed = neural_config(
            self.default_config(),
            options,
            seed=seed,
            progress=progress,
            num_threads=num_threads,
            device=device,
        )
        x = self.check_data(data)
        # the fit owns a trained copy; this DDPM (and earlier fits) keep their weights
        trained = copy.deepcopy(self)
        if self.standardize:
            flat = (
                x.double().transpose(0, 1).reshape(self.data_shape[0], -1)
                if self.event_dim == 3
                else x.double()
            )
            axis = 1 if self.event_dim == 3 else 0
            loc, sd = flat.mean(axis), flat.std(axis)
            if bool((sd <= 0).any()):
                raise ValueError(
                    f"data has a constant coordinate (sd 0 at {torch.nonzero(sd <= 0).flatten().tolist()}); "
                    f"a diffusion model needs spread in every coordinate. Drop it, or pass "
                    f"DDPM(..., standardize=False)."
                )
            shape = trained.data_loc.shape
            trained.data_loc, trained.data_scale = loc.reshape(shape), sd.reshape(shape)
        else:
            warn_unstandardized(x, self.decoder)
        trained.diffusion.to(config.device)
        if config.objective == "simple":

            def loss_fn(batch):
                return trained.simple_loss(
                    batch,
                    loss_weighting=config.loss_weighting,
                    snr_gamma=config.snr_gamma,
                    timestep_sampling=config.timestep_sampling,
                )
        elif config.objective == "elbo":

            def loss_fn(batch):  # nats per dimension, so the scale does not grow with D
                return (
                    trained.sampled_bound(batch, timestep_sampling=config.timestep_sampling).mean()
                    / trained.num_dims
                )
        else:
            elbo = pyro.infer.TraceMeanField_ELBO()

            def loss_fn(batch):
                return elbo.differentiable_loss(trained.model, trained.guide, batch) / (
                    batch.shape[0] * trained.num_dims
                )

        # files and checkpoints written before num_groups existed lack it: keep their
        # fingerprint when it has its default
        fingerprint_config = {
            k: v for k, v in self.config.items() if not (k == "num_groups" and v == 8)
        }
        with pyro_section(num_threads=None):
            if not trained.config["custom_denoiser"]:
                # the seed fixes the initial weights of the default networks too; a denoiser
                # the user passed is trained from its current weights (fine-tuning)
                with torch.random.fork_rng(devices=[]):  # the weights are drawn on the CPU
                    torch.manual_seed(seed)
                    _reset_parameters(trained.denoiser)
            run = train(
                loss_fn,
                trained.denoiser,
                x,
                config,
                seed=seed,
                resume=resume,
                description="DDPM",
                fingerprint={
                    "model": "DDPM",
                    "objective": config.objective,
                    **fingerprint_config,
                    "denoiser": type(self.denoiser).__name__,
                    "parameter_shapes": {
                        k: list(v.shape) for k, v in self.denoiser.state_dict().items()
                    },
                },
            )
        trained.diffusion.to(trained.device)
        options = {**asdict(config), "device": str(config.device)}
        return result_class("DDPM")(
            draws={},
            method="svi",
            seed=seed,
            losses=run.train_loss,
            options=options,
            diagnostics={
                "seconds": run.seconds,
                "steps": run.steps,
                "epochs": run.epochs,
                "num_examples": int(x.shape[0]),
                "world_size": run.world_size,
            },
            ddpm=trained,
        )


def _reset_parameters(module: nn.Module) -> None:
    """Re-initialise every sub-module that can, so ``seed`` fixes the initial weights."""
    for m in module.modules():
        if m is not module and hasattr(m, "reset_parameters"):
            cast(Any, m).reset_parameters()
