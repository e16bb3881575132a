r"""The one source of diffusion coefficients: schedules and Gaussian closed forms.

The forward (noising) process of Ho et al. (2020), with :math:`t = 1, \dots, T`,

.. math::

    q(x_t \mid x_{t-1}) = \mathcal N(\sqrt{\alpha_t}\, x_{t-1}, \beta_t I), \qquad
    \alpha_t = 1 - \beta_t, \qquad \bar\alpha_t = \prod_{s \le t} \alpha_s,

has the closed forms (Ho et al. eqs. 4, 6, 7)

.. math::

    q(x_t \mid x_0) &= \mathcal N(\sqrt{\bar\alpha_t}\, x_0, (1 - \bar\alpha_t) I), \\
    q(x_{t-1} \mid x_t, x_0) &= \mathcal N(\tilde\mu_t, \tilde\beta_t I), \qquad
    \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t}\, x_0
                + \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}\, x_t, \qquad
    \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\, \beta_t .

Every array here is indexed by the paper's :math:`t` and has length
:math:`T + 1`: entry 0 stands for :math:`x_0` itself (:math:`\beta_0 = 0`,
:math:`\bar\alpha_0 = 1`), so ``alphas_cumprod[t - 1]`` is
:math:`\bar\alpha_{t-1}` for every :math:`t \ge 1` with no special case.
The schedules are pure functions computed in float64; :class:`Diffusion` keeps
them as float64 buffers and casts the gathered coefficients to the dtype of the
tensor they multiply. The Pyro chain, the training objectives, the bound
estimators and the samplers of :mod:`probmodels.models.ddpm` all read their
coefficients from here.

The denoiser's output is turned into a prediction of :math:`x_0` and of the noise
:math:`\epsilon` according to the parameterisation (``prediction``):

- ``"epsilon"``: the network predicts :math:`\epsilon` in
  :math:`x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon` (Ho et al.);
- ``"x0"``: the network predicts :math:`x_0`;
- ``"v"``: the network predicts
  :math:`v = \sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1-\bar\alpha_t}\, x_0`
  (Salimans and Ho 2022), so that
  :math:`x_0 = \sqrt{\bar\alpha_t} x_t - \sqrt{1-\bar\alpha_t}\, v`.

The reverse model's mean is the posterior mean with :math:`x_0` replaced by its
prediction, :math:`\mu_\theta(x_t, t) = \tilde\mu_t(x_t, \hat x_0)`, which for
``"epsilon"`` is Ho et al.'s eq. 11,
:math:`\frac{1}{\sqrt{\alpha_t}}(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\hat\epsilon)`.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np
import torch
from torch import nn

from probmodels._validation import check_choice, check_float, check_int

__all__ = [
    "Diffusion",
    "Prediction",
    "PREDICTIONS",
    "Schedule",
    "SCHEDULES",
    "TimestepSampling",
    "TIMESTEP_SAMPLINGS",
    "Variance",
    "VARIANCES",
    "Weighting",
    "WEIGHTINGS",
    "beta_schedule",
    "gaussian_kl",
    "sample_timesteps",
]

Schedule = Literal["linear", "cosine"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)
Prediction = Literal["epsilon", "x0", "v"]
PREDICTIONS: tuple[str, ...] = get_args(Prediction)
Variance = Literal["posterior", "beta"]
VARIANCES: tuple[str, ...] = get_args(Variance)
Weighting = Literal["none", "min_snr"]
WEIGHTINGS: tuple[str, ...] = get_args(Weighting)
TimestepSampling = Literal["uniform", "stratified"]
TIMESTEP_SAMPLINGS: tuple[str, ...] = get_args(TimestepSampling)

#: Nichol and Dhariwal (2021) clip the cosine schedule's betas at 0.999 so the
#: last step is not singular.
_MAX_COSINE_BETA = 0.999


def beta_schedule(
    schedule: Schedule,
    timesteps: int,
    *,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    cosine_s: float = 0.008,
) -> np.ndarray:
    r"""The noise variances :math:`\beta_1, \dots, \beta_T` in float64.

    Parameters
    ----------
    schedule : {"linear", "cosine"}
        ``"linear"``: evenly spaced from ``beta_start`` to ``beta_end``, both
        included (Ho et al. 2020 use 1e-4 to 0.02 with T = 1000).
        ``"cosine"``: Nichol and Dhariwal (2021) eq. 17,
        :math:`\bar\alpha_t = f(t)/f(0)`,
        :math:`f(t) = \cos^2\!\bigl(\frac{t/T + s}{1 + s}\frac{\pi}{2}\bigr)`,
        :math:`\beta_t = \min(1 - \bar\alpha_t/\bar\alpha_{t-1}, 0.999)`.
    timesteps : int
        :math:`T \ge 1`.
    beta_start, beta_end : float
        End points of the linear schedule, ``0 < beta_start <= beta_end < 1``.
    cosine_s : float
        Offset :math:`s` of the cosine schedule.

    Returns
    -------
    numpy.ndarray
        Shape ``(T,)``, float64: entry ``t - 1`` is :math:`\beta_t`.
    """
    schedule = check_choice(schedule, "schedule", SCHEDULES)
    timesteps = check_int(timesteps, "timesteps", minimum=1)
    if schedule == "linear":
        beta_start = check_float(beta_start, "beta_start", positive=True, maximum=0.999)
        beta_end = check_float(beta_end, "beta_end", positive=True, maximum=0.999)
        if beta_end < beta_start:
            raise ValueError(
                f"beta_end must be >= beta_start, got beta_start={beta_start}, "
                f"beta_end={beta_end}. Swap them, e.g. beta_start=1e-4, beta_end=0.02."
            )
        return np.linspace(beta_start, beta_end, timesteps, dtype=np.float64)
    s = check_float(cosine_s, "cosine_s", minimum=0.0)
    steps = np.arange(timesteps + 1, dtype=np.float64) / timesteps
    f = np.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    return np.minimum(1.0 - alphas_cumprod[1:] / alphas_cumprod[:-1], _MAX_COSINE_BETA)


def sample_timesteps(
    n: int, timesteps: int, sampling: TimestepSampling = "uniform", *, device=None
) -> torch.Tensor:
    r"""One timestep per example, each uniform on :math:`\{1, \dots, T\}`: a ``(n,)`` long tensor.

    ``"uniform"``: independent draws. ``"stratified"``: the interval :math:`[0, T)` is cut
    into ``n`` strata of width :math:`T/n`; example :math:`i` gets stratum :math:`\pi_i`
    (:math:`\pi` a random permutation) and
    :math:`t_i = \lfloor (\pi_i + u_i) T / n \rfloor + 1`, :math:`u_i \sim \mathcal U(0, 1)`,
    so each :math:`t_i` is still uniform on :math:`1..T` (an estimator built on it stays
    unbiased) while the batch covers the chain evenly (lower variance, as the
    low-discrepancy sampler of Kingma et al. 2021, appendix I).
    """
    if sampling == "uniform":
        return torch.randint(1, timesteps + 1, (n,), device=device)
    if sampling == "stratified":
        strata = torch.randperm(n, device=device).double()
        u = torch.rand(n, dtype=torch.float64, device=device)
        # float64: (pi + u) T / n is exact enough that floor never lands on T
        return (torch.floor((strata + u) * (timesteps / n)).long() + 1).clamp_(1, timesteps)
    raise ValueError(
        f"timestep_sampling must be one of {', '.join(map(repr, TIMESTEP_SAMPLINGS))}; got {sampling!r}."
    )


def gaussian_kl(mean_q, var_q, mean_p, var_p):
    r"""Elementwise :math:`\mathrm{KL}(\mathcal N(m_q, v_q) \,\|\, \mathcal N(m_p, v_p))` in nats.

    :math:`\tfrac12\bigl(\log(v_p/v_q) + (v_q + (m_q - m_p)^2)/v_p - 1\bigr)`;
    the arguments broadcast against each other.
    """
    return 0.5 * (torch.log(var_p / var_q) + (var_q + (mean_q - mean_p) ** 2) / var_p - 1.0)


class Diffusion(nn.Module):
    r"""Coefficients of a diffusion with ``T`` steps as float64 buffers of length ``T + 1``.

    Parameters
    ----------
    betas : array_like
        :math:`\beta_1, \dots, \beta_T`, shape ``(T,)``, each in ``(0, 1)``
        (from :func:`beta_schedule`).
    variance : {"posterior", "beta"}, default "posterior"
        The reverse-step variance :math:`\sigma_t^2` for :math:`t \ge 2`:
        :math:`\tilde\beta_t` (``"posterior"``) or :math:`\beta_t`
        (``"beta"``), the two choices of Ho et al. (2020, sec. 3.2). The decoder
        step :math:`t = 1` uses :math:`\sigma_1^2 = \beta_1` in both cases
        (:math:`\tilde\beta_1 = 0`).

    Attributes
    ----------
    betas, alphas, alphas_cumprod, sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod,
    posterior_variance, posterior_mean_coef_x0, posterior_mean_coef_xt, model_variance, snr :
        Buffers of shape ``(T + 1,)``, float64, indexed by :math:`t`
        (:math:`\beta_t`, :math:`\alpha_t`, :math:`\bar\alpha_t`,
        :math:`\sqrt{\bar\alpha_t}`, :math:`\sqrt{1-\bar\alpha_t}`,
        :math:`\tilde\beta_t`, the two coefficients of :math:`\tilde\mu_t`,
        :math:`\sigma_t^2`, the signal-to-noise ratio
        :math:`\bar\alpha_t / (1 - \bar\alpha_t)`); entry 0 describes :math:`x_0`
        (its SNR is infinite).
    """

    def __init__(self, betas, *, variance: Variance = "posterior") -> None:
        super().__init__()
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size < 1 or not np.all((betas > 0) & (betas < 1)):
            raise ValueError(
                f"betas must be a 1-D array of values in (0, 1); received shape {betas.shape} "
                f"with range [{betas.min() if betas.size else 'n/a'}, "
                f"{betas.max() if betas.size else 'n/a'}]. Use beta_schedule(...)."
            )
        self.variance = check_choice(variance, "variance", VARIANCES)
        T = betas.size
        beta = np.concatenate([[0.0], betas])  # index t = 0..T
        alpha = 1.0 - beta
        alpha_bar = np.cumprod(alpha)  # alpha_bar[0] = 1
        alpha_bar_prev = np.concatenate([[1.0], alpha_bar[:-1]])
        with np.errstate(divide="ignore", invalid="ignore"):
            # eq. 7; entry 0 is 0/0 and unused, set to 0
            post_var = np.where(
                np.arange(T + 1) > 0, beta * (1 - alpha_bar_prev) / (1 - alpha_bar), 0.0
            )
            coef_x0 = np.where(
                np.arange(T + 1) > 0, np.sqrt(alpha_bar_prev) * beta / (1 - alpha_bar), 1.0
            )
            coef_xt = np.where(
                np.arange(T + 1) > 0, np.sqrt(alpha) * (1 - alpha_bar_prev) / (1 - alpha_bar), 0.0
            )
        model_var = (post_var if self.variance == "posterior" else beta).copy()
        model_var[1] = beta[1]
        model_var[0] = 0.0
        self.timesteps = T
        for name, value in (
            ("betas", beta),
            ("alphas", alpha),
            ("alphas_cumprod", alpha_bar),
            ("sqrt_alphas_cumprod", np.sqrt(alpha_bar)),
            ("sqrt_one_minus_alphas_cumprod", np.sqrt(1.0 - alpha_bar)),
            ("posterior_variance", post_var),
            ("posterior_mean_coef_x0", coef_x0),
            ("posterior_mean_coef_xt", coef_xt),
            ("model_variance", model_var),
            ("snr", np.concatenate([[np.inf], alpha_bar[1:] / (1.0 - alpha_bar[1:])])),
        ):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float64))
        # mu_theta = coef_x0 * x0_hat + coef_xt * x_t with x0_hat = p_t x_t + q_t output
        # (predict_x0_eps), so mu_theta = (coef_x0 p_t + coef_xt) x_t + coef_x0 q_t output: two
        # coefficients per step and parameterisation, combined once here in float64
        a, b = np.sqrt(alpha_bar), np.sqrt(1.0 - alpha_bar)
        with np.errstate(divide="ignore", invalid="ignore"):
            linear = {
                "epsilon": (1.0 / a, -b / a),
                "x0": (np.zeros_like(a), np.ones_like(a)),
                "v": (a, -b),
            }
        self._mean_coefs = {}
        for prediction, (p_t, q_t) in linear.items():
            on_xt = np.where(np.arange(T + 1) > 0, coef_x0 * p_t + coef_xt, 0.0)
            on_out = np.where(np.arange(T + 1) > 0, coef_x0 * q_t, 0.0)
            names = (f"mean_coef_xt_{prediction}", f"mean_coef_out_{prediction}")
            for name, value in zip(names, (on_xt, on_out)):
                self.register_buffer(name, torch.as_tensor(value, dtype=torch.float64))
            self._mean_coefs[prediction] = names

    # ------------------------------------------------------------ gathering
    def coef(self, name: str, t, like: torch.Tensor) -> torch.Tensor:
        """Buffer ``name`` at timesteps ``t``, shaped to broadcast against ``like``.

        ``t`` is an int or a tensor of shape ``(batch,)`` (one step per example);
        the result has shape ``()`` or ``(batch,) + (1,) * (like.dim() - 1)``, in
        ``like``'s dtype and on its device.
        """
        buf = getattr(self, name)
        if isinstance(t, int):
            return buf[t].to(device=like.device, dtype=like.dtype)
        values = buf.to(like.device)[t.to(like.device)]
        # (batch,) -> (batch, 1, ..., 1) to broadcast over the event axes
        return values.reshape(values.shape + (1,) * (like.dim() - values.dim())).to(like.dtype)

    # ------------------------------------------------------------ closed forms
    def q_mean_var(self, x0: torch.Tensor, t):
        r"""Mean and variance of :math:`q(x_t \mid x_0)` (eq. 4)."""
        return (
            self.coef("sqrt_alphas_cumprod", t, x0) * x0,
            1.0 - self.coef("alphas_cumprod", t, x0),
        )

    def q_sample(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        r""":math:`x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t}\,\epsilon`."""
        return (
            self.coef("sqrt_alphas_cumprod", t, x0) * x0
            + self.coef("sqrt_one_minus_alphas_cumprod", t, x0) * noise
        )

    def q_posterior(self, x0: torch.Tensor, x_t: torch.Tensor, t):
        r"""Mean :math:`\tilde\mu_t(x_t, x_0)` and variance :math:`\tilde\beta_t` (eqs. 6-7)."""
        mean = (
            self.coef("posterior_mean_coef_x0", t, x0) * x0
            + self.coef("posterior_mean_coef_xt", t, x_t) * x_t
        )
        return mean, self.coef("posterior_variance", t, x_t)

    # ------------------------------------------------------------ parameterisations
    def predict_x0_eps(self, x_t: torch.Tensor, t, output: torch.Tensor, prediction: Prediction):
        r"""The predictions :math:`(\hat x_0, \hat\epsilon)` implied by the denoiser's ``output``."""
        a = self.coef("sqrt_alphas_cumprod", t, x_t)
        b = self.coef("sqrt_one_minus_alphas_cumprod", t, x_t)
        if prediction == "epsilon":
            eps = output
            x0 = (x_t - b * eps) / a
        elif prediction == "x0":
            x0 = output
            eps = (x_t - a * x0) / b
        elif prediction == "v":
            # a^2 + b^2 = 1 (Salimans and Ho 2022, appendix D)
            x0 = a * x_t - b * output
            eps = b * x_t + a * output
        else:
            raise ValueError(
                f"prediction must be one of {', '.join(map(repr, PREDICTIONS))}; got {prediction!r}."
            )
        return x0, eps

    def target(
        self, x0: torch.Tensor, t, noise: torch.Tensor, prediction: Prediction
    ) -> torch.Tensor:
        """What the denoiser should output for ``x_t = q_sample(x0, t, noise)``."""
        if prediction == "epsilon":
            return noise
        if prediction == "x0":
            return x0
        if prediction == "v":
            return (
                self.coef("sqrt_alphas_cumprod", t, x0) * noise
                - self.coef("sqrt_one_minus_alphas_cumprod", t, x0) * x0
            )
        raise ValueError(
            f"prediction must be one of {', '.join(map(repr, PREDICTIONS))}; got {prediction!r}."
        )

    def loss_weight(
        self,
        t,
        like: torch.Tensor,
        weighting: Weighting,
        prediction: Prediction,
        gamma: float = 5.0,
    ) -> torch.Tensor:
        r"""The weight of the squared error of the ``prediction`` target at steps ``t``.

        ``"none"``: 1 (Ho et al.'s :math:`L_\text{simple}`). ``"min_snr"``: Min-SNR-:math:`\gamma`
        of Hang et al. (2023), the weight :math:`\min(\mathrm{SNR}_t, \gamma)` of the
        :math:`x_0` error written for each target, since
        :math:`\|\epsilon - \hat\epsilon\|^2 = \mathrm{SNR}_t\|x_0 - \hat x_0\|^2` and
        :math:`\|v - \hat v\|^2 = (\mathrm{SNR}_t + 1)\|x_0 - \hat x_0\|^2`:
        :math:`\min(\mathrm{SNR}_t, \gamma)/\mathrm{SNR}_t` for ``"epsilon"``,
        :math:`\min(\mathrm{SNR}_t, \gamma)` for ``"x0"`` and
        :math:`\min(\mathrm{SNR}_t, \gamma)/(\mathrm{SNR}_t + 1)` for ``"v"``, with
        :math:`\mathrm{SNR}_t = \bar\alpha_t / (1 - \bar\alpha_t)`. Shaped as :meth:`coef`.
        """
        if weighting == "none":
            return torch.ones((), dtype=like.dtype, device=like.device)
        if weighting != "min_snr":
            raise ValueError(
                f"loss_weighting must be one of {', '.join(map(repr, WEIGHTINGS))}; got {weighting!r}."
            )
        snr = self.coef("snr", t, like)
        clipped = snr.clamp(max=gamma)
        if prediction == "epsilon":
            return clipped / snr
        if prediction == "x0":
            return clipped
        if prediction == "v":
            return clipped / (snr + 1.0)
        raise ValueError(
            f"prediction must be one of {', '.join(map(repr, PREDICTIONS))}; got {prediction!r}."
        )

    def p_mean_var(self, x_t: torch.Tensor, t, output: torch.Tensor, prediction: Prediction):
        r"""Mean :math:`\mu_\theta(x_t, t)` and variance :math:`\sigma_t^2` of :math:`p_\theta(x_{t-1} \mid x_t)`.

        :math:`\mu_\theta = \tilde\mu_t(x_t, \hat x_0)` (eq. 7 with the prediction of
        :meth:`predict_x0_eps`), linear in ``x_t`` and ``output`` with coefficients
        combined in float64 when the coefficients are built.
        """
        if prediction not in self._mean_coefs:
            raise ValueError(
                f"prediction must be one of {', '.join(map(repr, PREDICTIONS))}; got {prediction!r}."
            )
        on_xt, on_out = self._mean_coefs[prediction]
        mean = self.coef(on_xt, t, x_t) * x_t + self.coef(on_out, t, x_t) * output
        return mean, self.coef("model_variance", t, x_t)
