"""The mixture's variational fit: a Laplace-started full-rank guide, refined by SVI, resampled.

1. Several starts of EM (k-means++ seeding) each give a mode; each is refined
   to the MAP of the unconstrained log joint and the guide is placed at it with
   the inverse Hessian as its covariance (:mod:`.start`). The start with the best
   ELBO (256 common draws) is kept.
2. SVI refines that guide with ``TraceEnum_ELBO`` (``z`` enumerated; the
   ``JitTraceEnum_ELBO`` variant by default), Polyak-averaged over the last
   window, and the refinement is kept only if its ELBO beats the start's
   (``diagnostics["svi_kept"]``): Adam moves each coordinate by about ``lr`` a
   step in absolute units, which for data in small units (1e-3) threw the means
   several component spreads away from a good start.
3. ``num_samples`` draws are taken; the PSIS k-hat of the guide against the
   exact posterior is reported, and with ``resample=True`` twice as many draws
   are Pareto-smoothed importance resampled.

With ``subsample_size`` the fit is minibatch SVI: the Laplace start comes from a
random subset of 5,000 points and SVI runs on a subsampled ``data`` plate for a
fixed number of steps, averaged over the last quarter; no PSIS (the full-data log
density is not computed).
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

import numpy as np
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch

from probmodels.diagnostics import KHAT_THRESHOLD, psis_khat, psis_resample
from probmodels.infer.pipeline import Outcome, Run
from probmodels.infer.runtime import quiet_jit, seed_stream
from probmodels.infer.svi import run_svi
from probmodels.models.gmm.sites import DTYPE, MAX_PLATE_NESTING, log_density, mixture_model
from probmodels.models.gmm.start import laplace, probe_elbo, set_guide, starts

__all__ = [
    "FULL_BATCH_MIN_STEPS",
    "FULL_BATCH_STEPS",
    "MINIBATCH_INIT_SIZE",
    "MINIBATCH_STEPS",
    "SVI_WINDOW",
    "fit_svi",
]

#: most SVI steps of the full-data refinement when ``steps`` is left at None; the
#: shared convergence rule (window of :data:`SVI_WINDOW` steps) usually stops it earlier
FULL_BATCH_STEPS = 300
#: the full-data refinement runs at least this many steps before it may stop
FULL_BATCH_MIN_STEPS = 100
#: convergence and Polyak-averaging window of the full-data refinement
SVI_WINDOW = 50
#: SVI steps of a minibatch fit when ``steps`` is left at None; always all of them
#: (no convergence test: minibatch noise hides progress) with Polyak averaging over
#: the last quarter
MINIBATCH_STEPS = 2000
#: size of the random subset the minibatch fit takes its Laplace start from
MINIBATCH_INIT_SIZE = 5000
#: draws of the ELBO probes that compare starts and the refinement
_PROBE_DRAWS = 256


def _best_start(problem, config, run: Run, minibatch: bool):
    """EM starts -> MAP -> Laplace; the start with the best probed ELBO.

    Returns ``(packing, (elbo, mode, scale_tril, em), number of starts, distinct modes)``.
    """
    x, w, N = problem.x, problem.w, problem.x.shape[0]
    if minibatch:
        rng = np.random.default_rng(seed_stream(run.seed, "subset"))
        sub = torch.as_tensor(rng.choice(N, size=min(N, MINIBATCH_INIT_SIZE), replace=False))
        x_init, w_init = x[sub], None if w is None else w[sub]
        shrink = math.sqrt(x_init.shape[0] / N)
    else:
        x_init, w_init, shrink = x, w, 1.0
    packing, found = starts(
        x_init,
        w_init,
        problem.priors,
        problem.layout,
        seed_stream(run.seed, "em"),
        config.num_starts,
    )
    best, seen = None, []  # type: ignore[var-annotated]
    probe = torch.Generator().manual_seed(seed_stream(run.seed, "probe"))
    for mode, lp, fitted in sorted(found, key=lambda s: -s[1]):
        if any(torch.allclose(mode, m, atol=1e-4, rtol=1e-4) for m in seen):
            continue
        seen.append(mode)
        L = laplace(x_init, w_init, packing, mode)
        if L is None:
            continue
        L = L * shrink
        eps = torch.randn((_PROBE_DRAWS, packing.dim), generator=probe, dtype=DTYPE)
        elbo = probe_elbo(mode, L, eps, packing, x_init, w_init) if not minibatch else lp
        if best is None or elbo > best[0]:
            best = (elbo, mode, L, fitted)
    if best is None:
        raise FloatingPointError(
            f"no EM start gave a mode with a finite Hessian ({len(found)} starts); components "
            "collapsed onto single points. Use fewer components or method='nuts'."
        )
    return packing, best, len(found), len(seen)


def _refine(problem, config, run: Run, packing, mode, L, steps: int, minibatch: bool):
    """SVI from the Laplace guide; returns ``(loc, scale_tril, svi run or None, kept)``."""
    x, w, layout = problem.x, problem.w, problem.layout
    B = config.subsample_size if minibatch else None
    model = partial(mixture_model, x, problem.priors, layout, weights=w, subsample_size=B)
    guide = pyro.infer.autoguide.AutoMultivariateNormal(
        poutine.block(model, expose=list(layout.sites)), init_scale=0.01
    )
    guide()  # builds the prototype; then its parameters are overwritten
    set_guide(guide, mode, L)
    if steps == 0:
        return mode, L, None, None
    elbo_class = pyro.infer.JitTraceEnum_ELBO if config.jit_compile else pyro.infer.TraceEnum_ELBO
    loss = elbo_class(
        num_particles=config.num_particles,
        vectorize_particles=config.num_particles > 1,
        max_plate_nesting=MAX_PLATE_NESTING,
        **({"ignore_jit_warnings": True} if config.jit_compile else {}),
    )
    schedule: dict[str, Any]
    if minibatch:
        # minibatch noise in the loss is larger than the progress the convergence rule
        # looks for (it stopped a 1e6-point fit after ~250 steps): run every step
        schedule = {"convergence": False, "window": max(5, steps // 4)}
    else:
        schedule = {
            "convergence": True,
            "window": min(SVI_WINDOW, max(5, steps // 2)),
            "min_steps": min(FULL_BATCH_MIN_STEPS, steps),
        }
    with quiet_jit():
        svi = run_svi(
            model,
            guide,
            steps=steps,
            lr=config.lr,
            schedule=config.schedule,
            lr_decay=config.lr_decay,
            loss=loss,
            progress=run.progress,
            seed=seed_stream(run.seed, "svi"),
            average=True,
            description="GMM SVI",
            **schedule,
        )
    with torch.no_grad():
        loc = guide.loc.detach().clone()
        tril = (guide.scale[..., None] * guide.scale_tril).detach().clone()
    if minibatch:
        return loc, tril, svi, None
    probe = torch.Generator().manual_seed(seed_stream(run.seed, "refine-probe"))
    eps = torch.randn((_PROBE_DRAWS, packing.dim), generator=probe, dtype=DTYPE)
    refined, start = (probe_elbo(a, b, eps, packing, x, w) for a, b in ((loc, tril), (mode, L)))
    kept = bool(np.isfinite(refined) and refined >= start)
    return (loc, tril, svi, kept) if kept else (mode, L, svi, kept)


def fit_svi(problem, config, run: Run) -> Outcome:
    """The variational fit of the module docstring."""
    x, w, N = problem.x, problem.w, problem.x.shape[0]
    S = config.num_samples
    minibatch = config.subsample_size is not None and config.subsample_size < N
    steps = (
        config.steps
        if config.steps is not None
        else (MINIBATCH_STEPS if minibatch else FULL_BATCH_STEPS)
    )
    start = time.perf_counter()
    packing, (elbo0, mode, L, fitted), num_starts, distinct = _best_start(
        problem, config, run, minibatch
    )
    problem.pivot = mode
    init_seconds = time.perf_counter() - start
    loc, tril, svi, kept = _refine(problem, config, run, packing, mode, L, steps, minibatch)

    # draws and PSIS
    q = dist.MultivariateNormal(loc, scale_tril=tril)
    gen = torch.Generator().manual_seed(seed_stream(run.seed, "draws"))
    resample = config.resample and not minibatch
    u = (
        loc
        + torch.randn((2 * S if resample else S, packing.dim), generator=gen, dtype=DTYPE) @ tril.T
    )
    khat = ess = float("nan")
    if not minibatch:
        with torch.no_grad():
            log_w = (log_density(u, packing, x, w) - q.log_prob(u)).numpy()
        khat = psis_khat(log_w[:S])
        p = np.exp(log_w - log_w.max())
        ess = float(p.sum() ** 2 / (p**2).sum())
        if resample and khat < KHAT_THRESHOLD:
            rng = np.random.default_rng(seed_stream(run.seed, "resample"))
            u = u[torch.as_tensor(psis_resample(log_w, rng, S))]
        else:
            u, resample = u[:S], False
    with torch.no_grad():
        values, _ = packing.unpack(u)
    diagnostics = {
        "khat": khat,
        "importance_ess": ess,
        "resampled": resample,
        "elbo_laplace": elbo0,
        "num_starts": num_starts,
        "distinct_modes": distinct,
        "init_seconds": init_seconds,
        "em_loglik": float(fitted["loglik"]) if not minibatch else float("nan"),
        "minibatch": minibatch,
        "num_steps": 0 if svi is None else svi.num_steps,
        "converged": None if svi is None else svi.converged,
        "svi_kept": kept,
    }
    return Outcome(
        draws={k: v.numpy()[None] for k, v in values.items()},  # (chain=1, draw, ...)
        losses=np.empty(0) if svi is None else svi.losses,
        diagnostics=diagnostics,
    )
