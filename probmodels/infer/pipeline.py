"""The fit template: one pipeline every statistical model runs through.

A model (``BayesianAR``, ``GaussianMixture``) subclasses :class:`Model` and
declares only what is special about it:

- ``methods``: the inference methods it offers, the default first, and
  :meth:`Model.default_config` for each (an :class:`~probmodels.infer.config.SVIConfig`,
  :class:`~probmodels.infer.config.NUTSConfig` or a subclass with the model's own options);
- :meth:`Model._prepare`: data checks and the prepared problem (no randomness);
- one ``_fit_<method>(problem, config, run)`` per method, returning an
  :class:`Outcome`; NUTS needs only :meth:`Model._nuts_target` (what to sample)
  and :meth:`Model._from_nuts` (its samples as draws);
- :meth:`Model._postprocess` (e.g. the mixture's relabelling) and
  :meth:`Model._result` (the model's result class).

:func:`fit` then runs, in order: the options checked into a configuration ->
seed, progress, threads, device resolved -> the problem prepared -> the method,
inside :func:`~probmodels.infer.runtime.pyro_section` (one lock, the caller's
random states and parameter store kept, threads set) -> post-processing ->
diagnostics (PSIS k-hat, R-hat, ESS, divergences, tree depth, E-BFMI) -> the
standard warnings -> the result.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from probmodels import diagnostics as diag
from probmodels._validation import check_choice, check_int
from probmodels.infer.config import NUTSConfig, configure
from probmodels.infer.nuts import NUTSTarget, run_nuts
from probmodels.infer.runtime import pyro_section, resolve_device, resolve_progress, resolve_seed

__all__ = ["Model", "Outcome", "Run", "check_nuts", "fit", "neural_config", "warn_diagnostics"]

#: an E-BFMI below this means the momentum resampling barely moves the energy (Betancourt 2016)
_BFMI_THRESHOLD = 0.3
#: bulk and tail ESS below this per chain make the Monte Carlo error of the summaries large
_ESS_PER_CHAIN = 100


@dataclass(frozen=True)
class Run:
    """How one fit runs: its seed, progress bar, threads and device (resolved)."""

    seed: int
    progress: bool
    num_threads: int | None
    device: Any


@dataclass
class Outcome:
    """What a method produced: draws ``(chain, draw, ...)``, the loss history, diagnostics
    (scalars), per-draw statistics ``(chain, draw)`` and model-specific extras."""

    draws: dict[str, np.ndarray]
    losses: np.ndarray = field(default_factory=lambda: np.empty(0))
    diagnostics: dict[str, Any] = field(default_factory=dict)
    sample_stats: dict[str, np.ndarray] = field(default_factory=dict)
    #: arrays the model's result keeps besides the draws (e.g. where the missing values are)
    extras: dict[str, np.ndarray] = field(default_factory=dict)


class Model:
    """Base of the statistical models: the hooks :func:`fit` calls (see the module docstring)."""

    #: the inference methods, the default first
    methods: ClassVar[tuple[str, ...]] = ()

    def default_config(self, method: str):
        """The default configuration of ``method``."""
        raise NotImplementedError

    def _prepare(self, data, **data_options):
        raise NotImplementedError

    def _check_device(self, device) -> None:
        if device.type != "cpu":
            raise ValueError(
                f"{type(self).__name__} computes in float64 on the CPU, where its small "
                f"linear algebra is fastest; got device={str(device)!r}. Pass device=None or "
                f"'cpu' (the neural models, VAE and DDPM, run on GPUs)."
            )

    def _fit_nuts(self, problem, config: NUTSConfig, run: Run) -> Outcome:
        result = run_nuts(
            self._nuts_target(problem, config, run),
            config,
            seed=run.seed,
            progress=run.progress,
            num_threads=run.num_threads,
        )
        return Outcome(
            draws=self._from_nuts(problem, result.samples),
            sample_stats=result.sample_stats,
            diagnostics={
                "chain_seeds": result.chain_seeds,
                "parallel_chains": result.parallel,
                "nuts_seconds": result.seconds,
            },
        )

    def _nuts_target(self, problem, config: NUTSConfig, run: Run) -> NUTSTarget:
        raise NotImplementedError

    def _from_nuts(self, problem, samples: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(samples)

    def _postprocess(self, problem, outcome: Outcome) -> Outcome:
        return outcome

    def _result(self, problem, outcome: Outcome, *, method: str, seed: int, config):
        raise NotImplementedError


def fit(
    model: Model,
    data,
    *,
    method: str | None,
    seed: int | None,
    progress: bool | None,
    num_threads: int | None,
    device,
    options: Mapping[str, Any],
    data_options: Mapping[str, Any] | None = None,
    stacklevel: int = 3,
):
    """Run ``model`` through the template (see the module docstring); returns its result."""
    method = model.methods[0] if method is None else check_choice(method, "method", model.methods)
    if num_threads is not None:
        num_threads = check_int(num_threads, "num_threads", minimum=1)
    config = configure(model.default_config(method), options, method)
    run = Run(
        seed=resolve_seed(seed),
        progress=resolve_progress(progress),
        num_threads=num_threads,
        device=resolve_device(device),
    )
    model._check_device(run.device)
    start = time.perf_counter()
    problem = model._prepare(data, **dict(data_options or {}))
    with pyro_section(seed=run.seed, num_threads=num_threads):
        outcome = getattr(model, f"_fit_{method}")(problem, config, run)
        outcome = model._postprocess(problem, outcome)
    if method == "nuts":
        outcome.diagnostics.update(check_nuts(outcome.draws, outcome.sample_stats, config))
    outcome.diagnostics["seconds"] = time.perf_counter() - start
    warn_diagnostics(outcome.diagnostics, stacklevel=stacklevel + 1)
    return model._result(problem, outcome, method=method, seed=run.seed, config=config)


def neural_config(
    defaults,
    options: Mapping[str, Any],
    *,
    seed: int | None,
    progress: bool | None,
    num_threads: int | None,
    device,
):
    """The training configuration and seed of a neural model's fit (VAE, DDPM).

    ``options`` are laid over the model's ``defaults`` (a
    :class:`~probmodels.infer.config.TrainConfig` or subclass) as for every other
    fit; ``progress``, ``num_threads`` and ``device`` mean what they mean for every
    model (``num_threads``: torch threads while training on the CPU).
    """
    if num_threads is not None:
        num_threads = check_int(num_threads, "num_threads", minimum=1)
    config = configure(defaults, options, "svi")
    config = dataclasses.replace(
        config,
        progress=resolve_progress(progress),
        device=resolve_device(device),
        cpu_threads=num_threads,
    )
    return config, resolve_seed(seed)


def check_nuts(
    draws: Mapping[str, np.ndarray], stats: Mapping[str, np.ndarray], config: NUTSConfig
) -> dict[str, Any]:
    """The convergence numbers of a NUTS run: worst R-hat and ESS (and where), divergences,
    draws at the tree-depth limit and the lowest E-BFMI of the chains."""
    worst_rhat, rhat_at = -np.inf, None
    worst_ess, ess_at = np.inf, None
    for name, value in draws.items():
        x = np.asarray(value, dtype=float)
        r = np.atleast_1d(diag.rhat(x)) if x.shape[0] > 1 else np.full(1, np.nan)
        ess = np.minimum(np.atleast_1d(diag.ess_bulk(x)), np.atleast_1d(diag.ess_tail(x)))
        if np.isfinite(r).any() and np.nanmax(r) > worst_rhat:
            worst_rhat, rhat_at = float(np.nanmax(r)), name
        if np.isfinite(ess).any() and np.nanmin(ess) < worst_ess:
            worst_ess, ess_at = float(np.nanmin(ess)), name
    energy = np.asarray(stats["energy"], dtype=float)
    # E-BFMI per chain: E[(E_n - E_{n-1})^2] / Var(E) (Betancourt 2016, eq. 27; ddof=1 as ArviZ)
    bfmi = np.square(np.diff(energy, axis=1)).mean(1) / np.maximum(energy.var(1, ddof=1), 1e-300)
    return {
        "divergences": int(np.asarray(stats["diverging"]).sum()),
        "max_rhat": worst_rhat if rhat_at is not None else float("nan"),
        "max_rhat_site": rhat_at,
        "min_ess": worst_ess if ess_at is not None else float("nan"),
        "min_ess_site": ess_at,
        "max_tree_depth_hits": int(
            (np.asarray(stats["tree_depth"]) >= config.max_tree_depth).sum()
        ),
        "min_bfmi": float(bfmi.min()),
        "num_chains": int(energy.shape[0]),
        "num_draws": int(energy.shape[1]),
    }


def warn_diagnostics(d: Mapping[str, Any], *, stacklevel: int = 2) -> None:
    """The standard warnings of every fit, each naming its check, with numbers and advice."""
    messages = []
    khat = d.get("khat")
    if khat is not None and np.isfinite(khat) and khat > diag.KHAT_THRESHOLD:
        messages.append(
            f"PSIS check: k-hat {khat:.2f} > {diag.KHAT_THRESHOLD}, the approximation the draws "
            f"come from is not a reliable proposal for this posterior, so the draws may be "
            f"biased; use method='nuts' (and check its R-hat)."
        )
    if d.get("divergences"):
        messages.append(
            f"NUTS divergences check: {d['divergences']} divergent transitions of "
            f"{d['num_chains'] * d['num_draws']} draws; the draws may be biased. Raise "
            f"target_accept_prob (e.g. 0.95) or reparametrise the model."
        )
    rhat = d.get("max_rhat")
    if rhat is not None and np.isfinite(rhat) and rhat > diag.RHAT_THRESHOLD:
        messages.append(
            f"NUTS R-hat check: R-hat up to {rhat:.3f} (site {d['max_rhat_site']!r}) > "
            f"{diag.RHAT_THRESHOLD}: the chains have not mixed (several modes, or too short). "
            f"Run longer (warmup_steps, num_samples), inspect az.plot_trace(fit.to_arviz()), or "
            f"use fewer components / more informative priors."
        )
    ess = d.get("min_ess")
    if ess is not None and np.isfinite(ess) and ess < _ESS_PER_CHAIN * d.get("num_chains", 1):
        messages.append(
            f"NUTS ESS check: bulk/tail effective sample size down to {ess:.0f} (site "
            f"{d['min_ess_site']!r}), below {_ESS_PER_CHAIN} per chain; the summaries have a "
            f"large Monte Carlo error. Raise num_samples."
        )
    if d.get("max_tree_depth_hits"):
        messages.append(
            f"NUTS tree depth check: {d['max_tree_depth_hits']} draws reached max_tree_depth; "
            f"the sampler is inefficient (strong correlations or scales far apart). Raise "
            f"max_tree_depth or rescale the data."
        )
    bfmi = d.get("min_bfmi")
    if bfmi is not None and np.isfinite(bfmi) and bfmi < _BFMI_THRESHOLD:
        messages.append(
            f"NUTS E-BFMI check: energy BFMI {bfmi:.2f} < {_BFMI_THRESHOLD} in a chain: the "
            f"sampler explores the tails poorly (heavy tails or a funnel); reparametrise."
        )
    for message in messages:
        warnings.warn(message, UserWarning, stacklevel=stacklevel)
