"""Inference loops shared by every model: SVI and NUTS, seeding, progress.

The functions here know nothing about any particular model. A model hands
them its Pyro ``model`` / ``guide`` callables and the arguments to call them
with, and gets back plain records (:class:`SVIRun`, :class:`NUTSRun`) that the
model turns into a :class:`~probmodels.results.FitResult`.

Every stochastic entry point takes ``seed=``. ``seed=None`` draws a fresh seed
from the operating system and records it, so every fit can be reproduced.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
import warnings
from dataclasses import dataclass, field
from typing import Callable, Literal, get_args

import numpy as np
import pyro
import pyro.poutine as poutine
import torch
from pyro.infer import MCMC, NUTS, SVI, Trace_ELBO
from pyro.infer.importance import vectorized_importance_weights
from pyro.ops.stats import fit_generalized_pareto

from probmodels._validation import check_choice, check_float, check_int, check_seed

__all__ = [
    "NUTSRun",
    "NonFiniteLossError",
    "SVIRun",
    "Schedule",
    "SCHEDULES",
    "chain_seeds",
    "importance_draws",
    "limit_threads",
    "psis_khat",
    "resolve_seed",
    "run_nuts",
    "run_svi",
]

Schedule = Literal["constant", "cosine", "exponential"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)


class NonFiniteLossError(FloatingPointError):
    """The SVI loss became NaN or infinite; the message names the step and site."""


def resolve_seed(seed: int | None) -> int:
    """Return ``seed`` checked, or a fresh random seed (recorded by the caller)."""
    seed = check_seed(seed)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    return seed


@contextmanager
def limit_threads(num_threads: int | None):
    """Run the block with at most ``num_threads`` torch intra-op threads, then restore.

    Small statistical models (tensors of a few hundred numbers) gain nothing
    from intra-op parallelism and lose a lot to thread synchronisation when the
    cores are busy: measured here, an AR(1) SVI fit takes 1.4 s on one thread
    and 7.7-10.8 s on two while other processes load the machine. ``None``
    leaves the setting alone.
    """
    if num_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(check_int(num_threads, "num_threads", minimum=1))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def chain_seeds(seed: int, num_chains: int) -> list[int]:
    """Independent per-chain seeds derived from one seed (``numpy.random.SeedSequence``)."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(num_chains)]


# --------------------------------------------------------------------------- SVI


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
    adam_args = {"lr": lr, "betas": (0.9, 0.999)}
    if schedule == "constant":
        return pyro.optim.Adam(adam_args)
    if schedule == "exponential":
        # lr_t = lr * gamma**t with gamma chosen so that lr_steps = lr * lr_decay
        gamma = lr_decay ** (1.0 / max(steps, 1))
        return pyro.optim.ExponentialLR(
            {"optimizer": torch.optim.Adam, "optim_args": adam_args, "gamma": gamma}
        )
    return pyro.optim.CosineAnnealingLR(
        {"optimizer": torch.optim.Adam, "optim_args": adam_args, "T_max": steps,
         "eta_min": lr * lr_decay}
    )


def _first_nonfinite_site(model, guide, args, kwargs) -> str:
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
            if torch.is_tensor(value) and value.is_floating_point() and not torch.isfinite(value).all():
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
    schedule : {"constant", "cosine", "exponential"}
        Learning-rate schedule over ``steps``; the decaying ones end at ``lr * lr_decay``.
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
    bar = _progress_bar(steps, description, progress)
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
                    site = _first_nonfinite_site(model, guide, args, kwargs)
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


def _progress_bar(total: int, description: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=False, mininterval=0.5)


# ----------------------------------------------------------- draws and PSIS


def importance_draws(
    model: Callable,
    guide: Callable,
    *args,
    num_samples: int,
    max_plate_nesting: int,
    sites: list[str],
    **kwargs,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draw ``num_samples`` from the guide, vectorised, with their log importance weights.

    Returns
    -------
    draws : dict of str to numpy.ndarray
        For each name in ``sites``, the guide's values with the vectorising dimension
        first: shape ``(num_samples,) + (max_plate_nesting plate dims) + event_shape``,
        plate dims of size 1 where the site is outside that plate.
    log_weights : numpy.ndarray
        ``log p(data, theta) - log q(theta)`` for each draw, shape ``(num_samples,)``.
    """
    with torch.no_grad():
        log_w, _, guide_tr = vectorized_importance_weights(
            model, guide, *args, num_samples=num_samples,
            max_plate_nesting=max_plate_nesting, **kwargs,
        )
    # value shape: (num_samples,) + the site's dims right of the vectorising plate
    # (plate dims, size 1 where the site is outside that plate) + event dims
    draws = {name: guide_tr.nodes[name]["value"].detach().cpu().numpy() for name in sites}
    return draws, log_w.reshape(num_samples).cpu().numpy().astype(np.float64)


def psis_khat(log_weights: np.ndarray) -> float:
    """Pareto-smoothed importance sampling k-hat of a set of log weights.

    Same recipe as :func:`pyro.infer.importance.psis_diagnostic` (Vehtari et al.
    2015): fit a generalized Pareto distribution to the largest
    ``min(0.2 N, 3 sqrt N)`` weights. Values below 0.5 mean the guide is an
    excellent proposal for the posterior, above 0.7 that it is not reliable;
    ``-inf`` when all weights are equal (an exact proposal), ``inf`` when the
    tail is too short to fit.
    """
    lw = torch.as_tensor(np.asarray(log_weights, dtype=np.float64))
    n = lw.numel()
    if float(lw.max() - lw.min()) < 1e-12:
        return float("-inf")  # equal weights: the proposal is the posterior
    lw = torch.sort(lw - lw.max()).values
    cutoff_index = -int(math.ceil(min(0.2 * n, 3.0 * math.sqrt(n)))) - 1
    lw_cutoff = max(math.log(1.0e-15), float(lw[cutoff_index]))
    tail = lw[lw > lw_cutoff]
    if tail.numel() < 10:
        return float("inf")
    k, _ = fit_generalized_pareto(tail.exp() - math.exp(lw_cutoff))
    return float(k)


# -------------------------------------------------------------------- NUTS


@dataclass
class NUTSRun:
    """What a NUTS run produced.

    Attributes
    ----------
    samples : dict of str to numpy.ndarray
        Draws with shape ``(chain, draw) + site_shape``.
    diverging : numpy.ndarray
        Boolean ``(chain, draw)``: whether the transition ended in a divergence.
    seconds : float
        Wall-clock time, warm-up included (JIT compilation too).
    chain_seeds : list of int
        The seed each chain ran with.
    """

    samples: dict[str, np.ndarray]
    diverging: np.ndarray
    seconds: float
    chain_seeds: list[int]


def run_nuts(
    model: Callable | None,
    *args,
    potential_fn: Callable | None = None,
    initial_params: Callable[[int], dict] | None = None,
    num_samples: int = 1000,
    warmup_steps: int = 1000,
    num_chains: int = 2,
    jit_compile: bool = True,
    target_accept_prob: float = 0.8,
    max_tree_depth: int = 10,
    max_plate_nesting: int | None = None,
    progress: bool = True,
    seed: int,
    **kwargs,
) -> NUTSRun:
    """Run Pyro's NUTS, one chain after another, each from its own seed.

    Chains run sequentially in this process (no multiprocessing), so the
    result does not depend on the number of cores and seeds reproduce exactly.

    Parameters
    ----------
    model : callable or None
        The Pyro model, called as ``model(*args, **kwargs)``; ``None`` with
        ``potential_fn``.
    potential_fn : callable, optional
        Instead of a model: the potential energy of a dict of unconstrained
        parameters (``jit_compile`` then does nothing; compile it yourself).
    initial_params : callable, optional
        ``initial_params(chain)`` gives a chain's starting point; it is called
        after the chain's seed is set, so it may draw random numbers.
    num_samples, warmup_steps : int
        Kept draws and adaptation steps per chain.
    num_chains : int
        Independent chains (2 by default so that R-hat is defined).
    jit_compile : bool
        Compile the potential energy with the PyTorch JIT (about twice as fast
        here); ``False`` switches it off.
    target_accept_prob, max_tree_depth : float, int
        NUTS settings.
    seed : int
        Base seed; chain ``c`` runs with ``chain_seeds(seed, num_chains)[c]``.
    """
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0)
    num_chains = check_int(num_chains, "num_chains", minimum=1)
    seeds = chain_seeds(seed, num_chains)
    per_chain: list[dict[str, torch.Tensor]] = []
    diverging = np.zeros((num_chains, num_samples), dtype=bool)
    start = time.perf_counter()
    for c, chain_seed in enumerate(seeds):
        pyro.set_rng_seed(chain_seed)
        init = None if initial_params is None else initial_params(c)
        kernel = NUTS(
            model,
            potential_fn=potential_fn,
            jit_compile=jit_compile and potential_fn is None,
            ignore_jit_warnings=True,
            target_accept_prob=target_accept_prob,
            max_tree_depth=max_tree_depth,
            max_plate_nesting=max_plate_nesting,
        )
        mcmc = MCMC(
            kernel,
            num_samples=num_samples,
            warmup_steps=warmup_steps,
            initial_params=init,
            disable_progbar=not progress,
        )
        with warnings.catch_warnings():
            # the JIT tracer warns about Python-level shape logic it cannot see
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            # torch >= 2.9 deprecates torch.jit.trace, which Pyro's jit_compile uses
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.* is deprecated",
                                    category=DeprecationWarning)
            mcmc.run(*args, **kwargs)
        per_chain.append(mcmc.get_samples())
        divergent = mcmc.diagnostics().get("divergences", {}).get("chain 0", [])
        diverging[c, np.asarray(divergent, dtype=int)] = True
    seconds = time.perf_counter() - start
    samples = {
        name: np.stack([chain[name].detach().cpu().numpy() for chain in per_chain])
        for name in per_chain[0]
    }
    return NUTSRun(samples, diverging, seconds, seeds)
