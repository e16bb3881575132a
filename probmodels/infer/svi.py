"""Stochastic variational inference: the SVI loop, its NaN guard and importance draws.

The functions here know nothing about any particular model. A model hands
them its Pyro ``model`` / ``guide`` callables and the arguments to call them
with, and gets back a plain record (:class:`SVIRun`); the fit template of
:mod:`probmodels.infer.pipeline` turns it into a result. Call them inside
:func:`probmodels.infer.runtime.pyro_section`, which owns the parameter store,
the random states and the threads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyro
import pyro.poutine as poutine
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.importance import vectorized_importance_weights

from probmodels._validation import check_choice, check_float, check_int
from probmodels.infer.config import SCHEDULES, Schedule
from probmodels.infer.runtime import progress_bar

__all__ = [
    "NonFiniteLossError",
    "SVIRun",
    "first_nonfinite_site",
    "importance_draws",
    "run_svi",
]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the message names the step and site."""


@dataclass
class SVIRun:
    """What an SVI run produced.

    Attributes
    ----------
    losses : numpy.ndarray
        The loss (negative ELBO estimate, nats) at every step taken, shape ``(steps,)``.
    converged : bool
        Whether the smoothed loss stopped improving before ``steps`` ran out.
    num_steps : int
        Steps taken.
    seconds : float
        Wall-clock time of the loop.
    params : dict of str to numpy.ndarray
        The fitted Pyro parameters (unconstrained values are not stored; these
        are the constrained values ``pyro.param`` returns).
    """

    losses: np.ndarray
    converged: bool
    num_steps: int
    seconds: float
    params: dict[str, np.ndarray] = field(default_factory=dict)


def _make_optimizer(lr: float, schedule: str, steps: int, lr_decay: float):
    """Pyro's Adam with the learning rate following ``schedule`` over ``steps``."""
    adam_args = {"lr": lr, "betas": (0.9, 0.999)}
    if schedule == "constant":
        return pyro.optim.Adam(adam_args)  # type: ignore[attr-defined]
    wrapped = {"optimizer": torch.optim.Adam, "optim_args": adam_args}
    if schedule == "exponential":
        # lr_t = lr * gamma**t with gamma chosen so that lr_steps = lr * lr_decay
        return pyro.optim.ExponentialLR({**wrapped, "gamma": lr_decay ** (1.0 / max(steps, 1))})  # type: ignore[attr-defined]
    if schedule == "onecycle":
        return pyro.optim.OneCycleLR({**wrapped, "max_lr": lr, "total_steps": max(steps, 1)})  # type: ignore[attr-defined]
    return pyro.optim.CosineAnnealingLR({**wrapped, "T_max": steps, "eta_min": lr * lr_decay})  # type: ignore[attr-defined]


def first_nonfinite_site(model, guide, args, kwargs) -> str:
    """Name the first site (guide first, then model) whose value or log-density is not finite."""
    try:
        guide_tr = poutine.trace(guide).get_trace(*args, **kwargs)
        model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(*args, **kwargs)
    except Exception as exc:  # the failure itself is the diagnosis
        return f"re-running the model raised {type(exc).__name__}: {exc}"
    for name, value in pyro.get_param_store().items():
        if not torch.isfinite(value).all():
            return f"parameter {name!r} is not finite"
    for label, tr in (("guide", guide_tr), ("model", model_tr)):
        for name, site in tr.nodes.items():
            if site["type"] != "sample":
                continue
            value = site["value"]
            if (
                torch.is_tensor(value)
                and value.is_floating_point()
                and not torch.isfinite(value).all()
            ):
                return f"{label} site {name!r} has a non-finite value"
            lp = site["fn"].log_prob(value)
            if not torch.isfinite(lp).all():
                return f"{label} site {name!r} has a non-finite log-density"
    return "no single site is non-finite on a fresh draw (the gradient step itself overflowed)"


def run_svi(
    model: Callable,
    guide: Callable,
    *args,
    steps: int = 2000,
    lr: float = 0.01,
    schedule: Schedule = "constant",
    lr_decay: float = 0.1,
    num_particles: int = 1,
    vectorize_particles: bool = False,
    max_plate_nesting: int | None = None,
    loss: pyro.infer.ELBO | None = None,
    min_steps: int = 200,
    window: int = 100,
    convergence: bool = True,
    average: bool = False,
    progress: bool = True,
    seed: int,
    description: str = "SVI",
    **kwargs,
) -> SVIRun:
    """Run SVI on ``model``/``guide`` in a fresh parameter store.

    Parameters
    ----------
    model, guide : callable
        A Pyro pair, called as ``model(*args, **kwargs)``.
    steps : int
        Maximum number of optimisation steps.
    lr : float
        Adam learning rate.
    schedule : {"constant", "cosine", "exponential", "onecycle"}
        Learning-rate schedule over ``steps``; the decaying ones end at
        ``lr * lr_decay``, ``"onecycle"`` peaks at ``lr``.
    num_particles, vectorize_particles, max_plate_nesting
        Passed to the ELBO (``Trace_ELBO`` unless ``loss`` is given).
    min_steps, window, convergence
        Convergence detection on the smoothed loss: after ``min_steps``, the loop
        stops when the mean loss over the last ``window`` steps is no longer lower
        than the mean over the window before it by more than two standard errors
        of their difference (the loss is noisy; this asks "is it still improving
        detectably?"), twice in a row.
    average : bool
        Polyak-Ruppert averaging: end with the mean of the (unconstrained)
        parameters over the last ``window`` steps instead of the last iterate,
        which removes most of the jitter a constant learning rate leaves. Meant
        for models with few parameters (it keeps one copy of them).
    progress : bool
        Show a progress bar with the running loss.
    seed : int
        Seeds Pyro, torch, numpy and ``random`` before the run.

    Returns
    -------
    SVIRun
        Loss history and fitted parameters. The parameter store is left
        holding the fitted parameters.

    Raises
    ------
    NonFiniteLossError
        When the loss becomes NaN or infinite; names the step and the site.
    """
    steps = check_int(steps, "steps", minimum=1)
    lr = check_float(lr, "lr", positive=True)
    schedule = check_choice(schedule, "schedule", SCHEDULES)
    num_particles = check_int(num_particles, "num_particles", minimum=1)
    window = check_int(window, "window", minimum=5)
    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    optim = _make_optimizer(lr, schedule, steps, lr_decay)
    elbo = loss or Trace_ELBO(
        num_particles=num_particles,
        vectorize_particles=vectorize_particles,
        max_plate_nesting=max_plate_nesting if max_plate_nesting is not None else float("inf"),
    )
    svi = SVI(model, guide, optim, elbo)
    losses = np.empty(steps)
    converged = False
    strikes = 0
    start = time.perf_counter()
    bar = progress_bar(steps, description, progress)
    step = 0
    averaged: dict[str, torch.Tensor] = {}
    try:
        for step in range(steps):
            try:
                value = svi.step(*args, **kwargs)
            except ValueError as exc:
                # Pyro's argument validation meets the NaN before the loss does
                if "invalid values" not in str(exc):
                    raise
                value = float("nan")
            if not math.isfinite(value):
                with pyro.validation_enabled(False):
                    site = first_nonfinite_site(model, guide, args, kwargs)
                raise NonFiniteLossError(
                    f"SVI loss became {value} at step {step} (of {steps}); {site}. "
                    f"Try a smaller learning rate (got lr={lr}), check the data for "
                    "extreme values, or use priors on the scale of the data."
                )
            losses[step] = value
            if average:
                averaged = _update_average(averaged, step, window)
            if isinstance(optim, pyro.optim.PyroLRScheduler):
                optim.step()
            if bar is not None and (step % 25 == 0 or step == steps - 1):
                bar.set_postfix(loss=f"{value:.4g}", refresh=False)
                bar.update(min(25, steps - bar.n) if step % 25 == 0 else steps - bar.n)
            if convergence and step + 1 >= max(min_steps, 2 * window) and (step + 1) % window == 0:
                last = losses[step + 1 - window : step + 1]
                prev = losses[step + 1 - 2 * window : step + 1 - window]
                se = math.sqrt((last.var() + prev.var()) / window)
                if prev.mean() - last.mean() <= 2.0 * se:
                    strikes += 1
                    if strikes >= 2:
                        converged = True
                        break
                else:
                    strikes = 0
    finally:
        if bar is not None:
            bar.close()
    num_steps = step + 1
    if average and averaged:
        with torch.no_grad():
            for name, unconstrained in pyro.get_param_store().named_parameters():
                unconstrained.copy_(averaged[name])
    seconds = time.perf_counter() - start
    params = {
        name: pyro.param(name).detach().cpu().numpy().copy()
        for name in pyro.get_param_store().keys()
    }
    return SVIRun(losses[:num_steps].copy(), converged, num_steps, seconds, params)


def _update_average(averaged: dict, step: int, window: int) -> dict:
    """Running mean of the unconstrained parameters over the current window of steps."""
    count = step % window  # restart at each window so the mean covers the last one
    with torch.no_grad():
        for name, unconstrained in pyro.get_param_store().named_parameters():
            if count == 0 or name not in averaged:
                averaged[name] = unconstrained.detach().clone()
            else:
                averaged[name] += (unconstrained.detach() - averaged[name]) / (count + 1)
    return averaged


# ----------------------------------------------------------- draws and PSIS


#: numbers of one batch of importance draws x data (256 MB of float64)
IMPORTANCE_BATCH_NUMBERS = 2**25


def importance_draws(
    model: Callable,
    guide: Callable,
    *args,
    num_samples: int,
    max_plate_nesting: int,
    sites: list[str],
    data_size: int = 1,
    **kwargs,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draw ``num_samples`` from the guide, vectorised, with their log importance weights.

    The draws are made in batches of at most ``IMPORTANCE_BATCH_NUMBERS / data_size``
    (``data_size``: the number of observations the model scores), so that the
    temporary draws x data arrays stay bounded; one batch when the data are small.

    Returns
    -------
    draws : dict of str to numpy.ndarray
        For each name in ``sites``, the guide's values with the vectorising dimension
        first: shape ``(num_samples,) + (max_plate_nesting plate dims) + event_shape``,
        plate dims of size 1 where the site is outside that plate.
    log_weights : numpy.ndarray
        ``log p(data, theta) - log q(theta)`` for each draw, shape ``(num_samples,)``.
    """
    batch = max(1, min(num_samples, IMPORTANCE_BATCH_NUMBERS // max(int(data_size), 1)))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in sites}
    weights = []
    for start in range(0, num_samples, batch):
        size = min(batch, num_samples - start)
        with torch.no_grad():
            log_w, _, guide_tr = vectorized_importance_weights(
                model,
                guide,
                *args,
                num_samples=size,
                max_plate_nesting=max_plate_nesting,
                **kwargs,
            )
        # value shape: (size,) + the site's dims right of the vectorising plate
        # (plate dims, size 1 where the site is outside that plate) + event dims
        for name in sites:
            parts[name].append(guide_tr.nodes[name]["value"].detach().cpu().numpy())
        weights.append(log_w.reshape(size).cpu().numpy().astype(np.float64))
        del guide_tr, log_w
    draws = {name: v[0] if len(v) == 1 else np.concatenate(v) for name, v in parts.items()}
    return draws, np.concatenate(weights)
