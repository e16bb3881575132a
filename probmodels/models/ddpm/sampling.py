r"""Sampling a fitted DDPM: ancestral sampling through the Pyro model, and DDIM.

Both run in the chain's standardised space and return data (``DDPM.from_unit``).
Every network call of a sampler shares one timestep across the batch; a denoiser
with ``time_features`` (the default ``TimeMLP``) gets its time terms for all
``t = 0..T`` in one batched pass before the loop (:func:`step_denoiser`), which
halves the time of ancestral sampling. The table is local to the call: nothing is
stored on the model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyro
import torch

__all__ = ["ancestral", "ddim", "ddim_timesteps", "step_denoiser"]


def step_denoiser(ddpm) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """``denoise(x_t, t)`` for one integer ``t`` shared by the batch, with the time terms of
    every step computed once (when the denoiser offers ``time_features``)."""
    net = ddpm.denoiser
    if not hasattr(net, "time_features"):
        return ddpm._denoise
    steps = torch.arange(ddpm.timesteps + 1, dtype=ddpm.dtype, device=ddpm.device)
    table = net.time_features(steps)  # each (T + 1, hidden)

    def denoise(x_t: torch.Tensor, t):
        if isinstance(t, int):
            return net(x_t, features=[rows[t] for rows in table])
        return ddpm._denoise(x_t, t)

    return denoise


def ancestral(ddpm, n: int, frames=()) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """``n`` draws of the model, ``x_T ~ N(0, I)`` to ``x_0``, traced through Pyro; returns
    ``x_0`` (data) and ``{t: x_t}`` (data units) for ``t`` in ``frames``."""
    denoise = step_denoiser(ddpm)
    # the chain's parameters are built here from checked coefficients: no per-step checks
    with pyro.get_param_store().scope(), pyro.validation_enabled(False):
        if frames:
            tr = pyro.poutine.trace(ddpm._reverse_chain).get_trace(None, n, denoise)
            recorded = {t: ddpm.from_unit(tr.nodes[f"x_{t}"]["value"]) for t in frames}
            return tr.nodes["x_0"]["value"], recorded
        return ddpm._reverse_chain(None, n, denoise), {}


def ddim_timesteps(T: int, steps: int) -> np.ndarray:
    """``steps`` increasing timesteps evenly spread over ``1..T``, ending at ``T``."""
    if steps == 1:  # one jump from x_T straight to x_0
        return np.array([T])
    return np.unique(np.round(np.linspace(1, T, steps)).astype(int))


def ddim(ddpm, n: int, steps: int, frames=()) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    r"""Deterministic DDIM sampling (Song et al. 2021, eq. 12 with :math:`\sigma = 0`)."""
    d = ddpm.diffusion
    denoise = step_denoiser(ddpm)
    taus = ddim_timesteps(ddpm.timesteps, steps)
    x = torch.randn((n,) + ddpm.data_shape, dtype=ddpm.dtype, device=ddpm.device)
    prev = np.concatenate([[0], taus[:-1]])
    recorded = {}
    for tau, tau_prev in zip(taus[::-1].tolist(), prev[::-1].tolist()):
        if tau in frames:
            recorded[tau] = ddpm.from_unit(x)
        x0, eps = d.predict_x0_eps(x, tau, denoise(x, tau), ddpm.prediction)
        if ddpm.decoder == "discretized":
            x0 = x0.clamp(-1.0, 1.0)
            eps = (x - d.coef("sqrt_alphas_cumprod", tau, x) * x0) / d.coef(
                "sqrt_one_minus_alphas_cumprod", tau, x
            )
        # (1) predicted x_0, (2) direction pointing to x_t, eq. 12
        x = (
            d.coef("sqrt_alphas_cumprod", tau_prev, x) * x0
            + d.coef("sqrt_one_minus_alphas_cumprod", tau_prev, x) * eps
        )
    if ddpm.decoder == "discretized":
        # the deterministic sampler ends at the nearest of the K grey levels (ancestral
        # sampling draws a level from the discretised decoder)
        K = ddpm.num_levels
        x = torch.round((x + 1.0) * (K - 1) / 2.0).clamp(0, K - 1) * (2.0 / (K - 1)) - 1.0
    return ddpm.from_unit(x), recorded
