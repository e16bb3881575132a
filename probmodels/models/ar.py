r"""Bayesian autoregression AR(p).

.. math::

    \mu &\sim p(\mu), \qquad \phi_i \sim p(\phi), \qquad \sigma \sim p(\sigma) \\
    Y_t &= \mu + \sum_{i=1}^{p} \phi_i Y_{t-i} + u_t, \qquad
    u_t \sim \mathcal{N}(0, \sigma^2), \qquad t = h+1, \dots, T

conditioned on the first :math:`h` values (``hold_back``, default :math:`p`).
The likelihood is vectorised over time through the lag matrix
:math:`X_{t,i} = Y_{t-i}` and kept per time step (so PSIS-LOO works). Several
series (DataFrame columns) are independent and share nothing but the prior.

Sites (``S`` series, ``n = T - h`` modelled steps):

======  ===========  ===========  ==================================
site    batch_shape  event_shape  plates
======  ===========  ===========  ==================================
mu      (S,)         ()           series (dim -1)
phi     (S,)         (p,)         series
sigma   (S,)         ()           series
y       (n, S)       ()           time (dim -2), series (observed)
======  ===========  ===========  ==================================

Default priors (weakly informative, scaled to each series ``y``; ``rms`` is
the root mean square of ``y``, ``sd`` its standard deviation):
``mu ~ Normal(0, 10 rms)``, ``phi_i ~ Normal(0, 1)``,
``sigma ~ HalfNormal(2 sd)``. A stationary AR process has innovation scale
below ``sd``, and the intercept of a process with mean ``m`` is ``m (1 - sum phi)``,
within a few ``rms``.

The default variational guide is exact given sigma: with Normal priors on
``(mu, phi)`` the conditional posterior of ``beta = (mu, phi)`` given
``sigma`` is the conjugate Gaussian of Bayesian linear regression on
``Z = [1, X]``,

.. math::

    \Lambda = Z^\top Z / \sigma^2 + \Lambda_0, \qquad
    m = \Lambda^{-1} (Z^\top y / \sigma^2 + \Lambda_0 m_0),

computed in centred coordinates (``y - c``, ``X - c`` with ``c`` the series
mean, so a level far above the spread costs no precision) and sampled as
``phi`` from its marginal, then ``mu | phi``. Only ``q(sigma)``
(``sigma^-2 ~ Gamma`` per series) is fitted by SVI, so the posterior correlations of the
coefficients are exact and the only approximation is one-dimensional. Other
priors on ``mu``/``phi`` fall back to ``AutoMultivariateNormal``. The PSIS
k-hat of the guide against the model is reported in ``fit.diagnostics``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Mapping, Sequence, get_args

import numpy as np
import pandas as pd
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.distributions import constraints
from pyro.distributions.transforms import PowerTransform

from probmodels import _priors
from probmodels._validation import check_choice, check_int, check_keys, check_options
from probmodels.data import TimeSeriesData, as_time_series, extend_index
from probmodels.infer import (importance_draws, limit_threads, psis_khat, resolve_seed, run_nuts,
                              run_svi)
from probmodels.results import FitResult, index_from_json, index_to_json

__all__ = ["ARFit", "BayesianAR", "OrderComparison", "compare_orders", "lag_matrix"]

DTYPE = torch.float64
SITES = ("mu", "phi", "sigma")
Method = Literal["svi", "nuts"]
METHODS: tuple[str, ...] = get_args(Method)
Guide = Literal["auto", "conjugate", "multivariate_normal", "normal"]
GUIDES: tuple[str, ...] = get_args(Guide)

#: defaults of the options each method accepts (documented in BayesianAR.fit)
SVI_DEFAULTS: dict[str, Any] = {
    "guide": "auto", "steps": 1000, "lr": 0.02, "schedule": "constant",
    "num_particles": 16, "num_samples": 4000, "num_threads": 1,
}
NUTS_DEFAULTS: dict[str, Any] = {
    "num_samples": 1000, "warmup_steps": 1000, "num_chains": 2, "jit_compile": True,
    "target_accept_prob": 0.8, "max_tree_depth": 10, "num_threads": 1,
}
MAX_PLATE_NESTING = 2  # time (dim -2), series (dim -1)


def lag_matrix(y: torch.Tensor, order: int, hold_back: int) -> torch.Tensor:
    """The lag matrix ``X[t, s, i] = y[hold_back + t - 1 - i, s]``.

    Parameters
    ----------
    y : torch.Tensor
        Series, shape ``(time, series)``.
    order : int
        Number of lags ``p``.
    hold_back : int
        First modelled time step (``>= order``).

    Returns
    -------
    torch.Tensor
        Shape ``(time - hold_back, series, order)``; column ``i`` holds lag ``i + 1``.
    """
    T = y.shape[0]
    # one slice per lag, no loop over time
    return torch.stack([y[hold_back - 1 - i : T - 1 - i] for i in range(order)], dim=-1)


def _recurse(mu: torch.Tensor, phi: torch.Tensor, u: torch.Tensor, init: torch.Tensor) -> torch.Tensor:
    """Run the AR recursion forward from ``init``.

    With ``B`` the same leading batch shape for every argument: mu ``B + (S,)``,
    phi ``B + (S, p)``, u ``B + (steps, S)`` innovations, init ``B + (p, S)`` the
    last p values, oldest first. Returns y ``B + (steps, S)``. Simulation is
    sequential by nature; the loop is over new steps, vectorised over draws and series.
    """
    # lags[..., s, i] = y_{t-1-i}: newest first
    lags = init.flip(-2).transpose(-1, -2)
    out = []
    for t in range(u.shape[-2]):
        y_t = mu + (phi * lags).sum(-1) + u[..., t, :]
        out.append(y_t)
        lags = torch.cat([y_t.unsqueeze(-1), lags[..., :-1]], dim=-1)
    return torch.stack(out, dim=-2)


@dataclass(frozen=True)
class _Design:
    """Everything the model and guide need from one data set (float64)."""

    y: torch.Tensor        # (T, S) the whole series
    target: torch.Tensor   # (n, S) modelled values y[h:]
    X: torch.Tensor        # (n, S, p) lag matrix
    center: torch.Tensor   # (S,) c: the mean of each series
    ZtZ: torch.Tensor      # (S, k, k) with the centred Z = [1, X - c], k = p + 1
    Zty: torch.Tensor      # (S, k): Z'(y - c), centred the same way
    hold_back: int


def _design(y: torch.Tensor, order: int, hold_back: int) -> _Design:
    X = lag_matrix(y, order, hold_back)
    target = y[hold_back:]
    # the regression is solved in centred coordinates: with a level c far above the
    # spread, [1, X]'[1, X] has condition number ~ (c / sd)^2 and float64 loses phi
    center = y.mean(0)
    Z = torch.cat([torch.ones_like(X[..., :1]), X - center.unsqueeze(-1)], dim=-1)  # (n, S, k)
    ZtZ = torch.einsum("nsi,nsj->sij", Z, Z)
    Zty = torch.einsum("nsi,ns->si", Z, target - center)
    return _Design(y, target, X, center, ZtZ, Zty, hold_back)


class BayesianAR:
    """Bayesian AR(p) model/guide pair with a fit API.

    Parameters
    ----------
    order : int
        The number of lags ``p >= 1``.
    priors : dict, optional
        Replacement priors by site name (``"mu"``, ``"phi"``, ``"sigma"``), each
        a ``pyro.distributions`` object. ``mu`` and ``sigma`` priors have event
        shape ``()`` and batch shape ``()`` or ``(series,)``; the ``phi`` prior
        either has event shape ``()`` (one prior per coefficient, batch ``()``,
        ``(p,)`` or ``(series, p)``) or event shape ``(p,)``. ``sigma``'s prior
        must have positive support. Missing sites get the defaults described in
        the module docstring. Parameters are converted to float64.
    hold_back : int, optional
        Number of initial values the likelihood conditions on (default ``order``).
        Use the same ``hold_back`` (the largest order) when comparing orders.

    Examples
    --------
    >>> import probmodels as pm
    >>> fit = pm.BayesianAR(order=2).fit(pm.datasets.load_sunspots(), seed=0)
    >>> fit.forecast(steps=10)  # doctest: +SKIP
    """

    def __init__(self, order: int, *, priors: Mapping[str, Any] | None = None,
                 hold_back: int | None = None):
        self.order = check_int(order, "order", minimum=1)
        self.hold_back = None if hold_back is None else check_int(hold_back, "hold_back", minimum=self.order)
        priors = check_keys(priors, "priors", SITES)
        for name, prior in priors.items():
            if not isinstance(prior, torch.distributions.Distribution):
                raise TypeError(
                    f"priors[{name!r}] must be a pyro.distributions object such as "
                    f"dist.Normal(0., 1.), got {type(prior).__name__}."
                )
        self.priors = {k: _priors.to_dtype(v, DTYPE) for k, v in priors.items()}
        for name, prior in self.priors.items():
            _priors.check_finite_params(prior, name)
        self._check_prior_shapes()
        self._autoguide = None

    def __repr__(self) -> str:
        extra = f", hold_back={self.hold_back}" if self.hold_back is not None else ""
        return f"BayesianAR(order={self.order}{extra})"

    # ------------------------------------------------------------- priors
    def _check_prior_shapes(self) -> None:
        p = self.order
        for name in ("mu", "sigma"):
            prior = self.priors.get(name)
            if prior is not None and (prior.event_shape != () or len(prior.batch_shape) > 1):
                raise ValueError(
                    f"the {name} prior must have event_shape () and batch_shape () or "
                    f"(series,), got batch {tuple(prior.batch_shape)}, event "
                    f"{tuple(prior.event_shape)}; use a scalar distribution such as dist.Normal(0., 1.)."
                )
        sigma = self.priors.get("sigma")
        if sigma is not None:
            # negative values must be outside the support; an upper bound (Uniform(0, b))
            # is fine (the conjugate guide then gives way to the multivariate normal one)
            if bool(_in_support(sigma, [-1.0, -1e-12]).any()):
                raise ValueError(
                    f"the sigma prior must have positive support, got {type(sigma).__name__} "
                    f"with support {sigma.support}; use e.g. dist.HalfCauchy(2.5) or dist.HalfNormal(1.)."
                )
        phi = self.priors.get("phi")
        if phi is not None:
            ok = (phi.event_shape == () and len(phi.batch_shape) <= 2
                  and (len(phi.batch_shape) == 0 or phi.batch_shape[-1] in (1, p))) or (
                phi.event_shape == (p,) and len(phi.batch_shape) <= 1)
            if not ok:
                raise ValueError(
                    f"the phi prior must have event_shape () with batch_shape (), ({p},) or "
                    f"(series, {p}), or event_shape ({p},); got batch {tuple(phi.batch_shape)}, "
                    f"event {tuple(phi.event_shape)}."
                )

    def _check_prior_series(self, num_series: int, columns: Sequence[str]) -> None:
        """A prior with a series axis must have one entry per series of the data (or one)."""
        for name, prior in self.priors.items():
            if name not in SITES:
                continue
            if name == "phi" and prior.event_shape == ():
                batch = tuple(prior.batch_shape)
                axis = batch[0] if len(batch) == 2 else None
            else:
                axis = prior.batch_shape[0] if len(prior.batch_shape) == 1 else None
            if axis is not None and axis not in (1, num_series):
                raise ValueError(
                    f"the {name} prior has batch_shape {tuple(prior.batch_shape)}: {axis} series, "
                    f"but the data have {num_series} ({list(columns)}). Give it one entry per "
                    f"series, or a scalar prior shared by all."
                )

    def default_priors(self, y: torch.Tensor) -> dict[str, Any]:
        """The default priors for data ``y`` of shape ``(time, series)`` (see module docstring)."""
        y = torch.as_tensor(y, dtype=DTYPE)
        if y.dim() == 1:
            y = y.unsqueeze(-1)
        rms = y.pow(2).mean(0).sqrt()
        sd = y.std(0)
        return {
            "mu": dist.Normal(torch.zeros_like(rms), 10.0 * rms),
            "phi": dist.Normal(torch.tensor(0.0, dtype=DTYPE), torch.tensor(1.0, dtype=DTYPE)),
            "sigma": dist.HalfNormal(2.0 * sd),
        }

    def resolved_priors(self, y: torch.Tensor) -> dict[str, Any]:
        """The priors a fit on ``y`` uses: the user's, defaults for the rest."""
        defaults = self.default_priors(y) if len(self.priors) < len(SITES) else {}
        return {name: self.priors.get(name, defaults.get(name)) for name in SITES}

    @staticmethod
    def _site_dists(priors: Mapping[str, Any], num_series: int, order: int):
        S, p = num_series, order
        mu = priors["mu"].expand((S,))
        sigma = priors["sigma"].expand((S,))
        phi = priors["phi"]
        if phi.event_shape == ():
            phi = phi.expand((S, p)).to_event(1)
        else:
            phi = phi.expand((S,))
        return mu, phi, sigma

    # -------------------------------------------------------- the Pyro pair
    def _hold_back_for(self, T: int) -> int:
        return self.order if self.hold_back is None else self.hold_back

    def _as_tensor(self, y) -> torch.Tensor:
        if isinstance(y, _Design):
            return y.y
        y = torch.as_tensor(y, dtype=DTYPE)
        return y.unsqueeze(-1) if y.dim() == 1 else y

    def _prepare(self, y) -> tuple[_Design, dict[str, Any]]:
        y = self._as_tensor(y)
        h = self._hold_back_for(y.shape[0])
        if y.shape[0] <= h:
            raise ValueError(
                f"order {self.order} (hold_back {h}) needs at least {h + 1} time steps, "
                f"got {y.shape[0]}; use a lower order or a longer series."
            )
        return _design(y, self.order, h), self.resolved_priors(y)

    def model(self, y=None, *, num_steps: int | None = None, num_series: int = 1,
              init: torch.Tensor | None = None):
        """The Pyro model.

        Parameters
        ----------
        y : torch.Tensor or array-like, optional
            Observed series, shape ``(time,)`` or ``(time, series)``. With
            ``y=None`` the model simulates a series of ``num_steps`` values whose
            first ``order`` values are ``init`` (default zeros); the innovations
            are the site ``u`` and the series the deterministic site ``y``. Without
            data the default priors are undefined (they are scaled to the data),
            so simulation needs every prior given in ``priors=``.
        """
        if y is None:
            return self._simulate(num_steps, num_series, init)
        design, priors = self._prepare(y)
        return _ar_model(design, priors, self.order)

    def guide(self, y=None, **kwargs):
        """The default guide (see module docstring); takes the model's arguments."""
        if y is None:
            raise ValueError("the guide needs the observed series y (the same argument as the model).")
        design, priors = self._prepare(y)
        if _conjugate_applicable(priors):
            return _conjugate_guide(design, priors, self.order)
        # one autoguide per data shape: its parameters are shaped by the data's series
        shape = tuple(design.y.shape)
        if self._autoguide is None or self._autoguide[0] != shape:
            self._autoguide = (shape, pyro.infer.autoguide.AutoMultivariateNormal(
                self.model, init_loc_fn=pyro.infer.autoguide.init_to_median, init_scale=0.01))
        return self._autoguide[1](y)

    def _simulate(self, num_steps, num_series, init):
        if len(self.priors) < len(SITES):
            missing = [s for s in SITES if s not in self.priors]
            raise ValueError(
                f"simulating without data needs every prior (defaults are scaled to the data); "
                f"missing {missing}. Pass priors={{...}} for all of mu, phi, sigma."
            )
        p = self.order
        num_steps = check_int(num_steps, "num_steps", minimum=p + 1)
        S = check_int(num_series, "num_series", minimum=1)
        init = torch.zeros(p, S, dtype=DTYPE) if init is None else torch.as_tensor(init, dtype=DTYPE).reshape(p, S)
        mu_d, phi_d, sigma_d = self._site_dists(self.priors, S, p)
        with pyro.plate("series", S, dim=-1):
            mu = pyro.sample("mu", mu_d)
            phi = pyro.sample("phi", phi_d)
            sigma = pyro.sample("sigma", sigma_d)
            with pyro.plate("time", num_steps - p, dim=-2):
                u = pyro.sample("u", dist.Normal(torch.zeros((), dtype=DTYPE), sigma))
        # drop the size-1 plate padding so every argument has u's batch shape B
        B = u.shape[:-2]
        init = init.expand(B + (p, S))
        y = _recurse(mu.reshape(B + (S,)), phi.reshape(B + (S, p)), u, init)
        return pyro.deterministic("y", torch.cat([init, y], dim=-2), event_dim=2)

    # ---------------------------------------------------------------- fit
    def fit(self, data, *, method: Method = "svi", seed: int | None = None,
            progress: bool = True, **options) -> "ARFit":
        """Fit the model to a series.

        Parameters
        ----------
        data : pandas.Series, pandas.DataFrame, numpy.ndarray or list
            The series (a DataFrame fits one independent series per column).
        method : {"svi", "nuts"}
            ``"svi"`` (default): the guide in the module docstring, fitted with
            Adam, then ``num_samples`` independent draws. ``"nuts"``: Pyro's NUTS.
        seed : int, optional
            Makes the fit reproducible; drawn at random and recorded when omitted.
        progress : bool
            Show a progress bar.
        **options
            For ``"svi"``: ``guide`` ("auto": conjugate when the mu and phi priors
            are Normal, else "multivariate_normal"; "normal" is mean-field, for
            comparison only), ``steps`` (1000; stops earlier once converged),
            ``lr`` (0.02), ``schedule`` ("constant", "cosine", "exponential"),
            ``num_particles`` (16, vectorised), ``num_samples`` (4000 draws).
            For ``"nuts"``: ``num_samples`` (1000), ``warmup_steps`` (1000),
            ``num_chains`` (2, run one after another), ``jit_compile`` (True),
            ``target_accept_prob`` (0.8), ``max_tree_depth`` (10).
            Both: ``num_threads`` (1): torch threads during the fit, restored
            afterwards (small models run fastest on one; ``None`` leaves torch's
            setting alone).

        Returns
        -------
        ARFit
        """
        method = check_choice(method, "method", METHODS)
        opts = check_options(options, method, SVI_DEFAULTS if method == "svi" else NUTS_DEFAULTS)
        seed = resolve_seed(seed)
        h = self._hold_back_for(0)
        ts = as_time_series(data, name="y", min_length=h + 2,
                            reason=f"order {self.order} with hold_back {h} conditions on the "
                                   f"first {h} values and needs at least 2 more to fit")
        if ts.num_steps - h < 5 * (self.order + 1):
            warnings.warn(
                f"short series check: {ts.num_steps - h} modelled steps for {self.order + 1} "
                "regression coefficients per series; the posterior will be dominated by the prior.",
                UserWarning, stacklevel=2,
            )
        self._check_prior_series(ts.num_series, ts.columns)
        sd = ts.values.std(axis=0)
        if np.any(sd == 0):
            const = [c for c, s in zip(ts.columns, sd) if s == 0]
            raise ValueError(f"series {const} are constant; an AR model needs variation in the data.")
        y = torch.as_tensor(ts.values, dtype=DTYPE)
        design, priors = self._prepare(y)
        model = partial(_ar_model, design, priors, self.order)
        start = time.perf_counter()
        with limit_threads(opts["num_threads"]):
            draws, losses, diagnostics, sample_stats = self._run(method, design, priors, model,
                                                                 opts, seed, progress)
        diagnostics["seconds"] = time.perf_counter() - start
        return ARFit(
            draws=draws, method=method, seed=seed, losses=losses, options=opts,
            diagnostics=diagnostics, sample_stats=sample_stats,
            ar=self, data=ts, priors_used=priors,
        )

    def _run(self, method, design, priors, model, opts, seed, progress):
        if method == "svi":
            draws, losses, diagnostics = self._fit_svi(design, priors, model, opts, seed, progress)
            sample_stats = {}
        else:
            run = run_nuts(
                model, num_samples=opts["num_samples"], warmup_steps=opts["warmup_steps"],
                num_chains=opts["num_chains"], jit_compile=opts["jit_compile"],
                target_accept_prob=opts["target_accept_prob"],
                max_tree_depth=opts["max_tree_depth"], max_plate_nesting=MAX_PLATE_NESTING,
                progress=progress, seed=seed,
            )
            draws = {k: run.samples[k] for k in SITES}
            losses = np.empty(0)
            sample_stats = {"diverging": run.diverging}
            diagnostics = {"divergences": int(run.diverging.sum()), "chain_seeds": run.chain_seeds}
            if diagnostics["divergences"]:
                warnings.warn(
                    f"NUTS divergences check: {diagnostics['divergences']} divergent transitions; "
                    "the draws may be biased. Raise target_accept_prob (e.g. 0.95).",
                    UserWarning, stacklevel=3,
                )
        return draws, losses, diagnostics, sample_stats

    def _fit_svi(self, design, priors, model, opts, seed, progress):
        guide_kind = check_choice(opts["guide"], "guide", GUIDES)
        if guide_kind == "auto":
            guide_kind = "conjugate" if _conjugate_applicable(priors) else "multivariate_normal"
        if guide_kind == "conjugate":
            if not _conjugate_applicable(priors):
                raise ValueError(
                    "guide='conjugate' needs Normal priors on mu and phi and a sigma prior "
                    "whose support is all of (0, inf) (no upper bound, as in Uniform(0, b)); "
                    "use guide='auto' or 'multivariate_normal' for other priors."
                )
            guide = partial(_conjugate_guide, design, priors, self.order)
        elif guide_kind == "multivariate_normal":
            guide = pyro.infer.autoguide.AutoMultivariateNormal(
                model, init_loc_fn=pyro.infer.autoguide.init_to_median, init_scale=0.01)
        else:
            guide = pyro.infer.autoguide.AutoNormal(
                model, init_loc_fn=pyro.infer.autoguide.init_to_median, init_scale=0.01)
        run = run_svi(
            model, guide, steps=opts["steps"], lr=opts["lr"], schedule=opts["schedule"],
            num_particles=opts["num_particles"], vectorize_particles=True,
            max_plate_nesting=MAX_PLATE_NESTING, progress=progress, seed=seed,
            # the guide starts at the flat-prior answer, so short windows suffice
            min_steps=100, window=50, average=True, description=f"AR({self.order}) SVI",
        )
        N = check_int(opts["num_samples"], "num_samples", minimum=10)
        S, p = design.y.shape[1], self.order
        raw, log_w = importance_draws(model, guide, num_samples=N,
                                      max_plate_nesting=MAX_PLATE_NESTING, sites=list(SITES))
        # (N, 1, S[, p]) -> (chain=1, draw=N, S[, p])
        draws = {
            "mu": raw["mu"].reshape(1, N, S),
            "phi": raw["phi"].reshape(1, N, S, p),
            "sigma": raw["sigma"].reshape(1, N, S),
        }
        khat = psis_khat(log_w)
        if khat > 0.7:
            warnings.warn(
                f"PSIS check: k-hat {khat:.2f} > 0.7, the variational posterior is not a "
                "reliable approximation here; use method='nuts'.",
                UserWarning, stacklevel=4,
            )
        diagnostics = {"guide": guide_kind, "khat": khat, "converged": run.converged,
                       "num_steps": run.num_steps, "svi_seconds": run.seconds,
                       "final_loss": float(np.mean(run.losses[-50:]))}
        return draws, run.losses, diagnostics


def _ar_model(design: _Design, priors: Mapping[str, Any], order: int):
    """The model on prepared data (see the module docstring's site table)."""
    n, S = design.target.shape
    mu_d, phi_d, sigma_d = BayesianAR._site_dists(priors, S, order)
    with pyro.plate("series", S, dim=-1):
        mu = pyro.sample("mu", mu_d)            # (S,)
        phi = pyro.sample("phi", phi_d)         # (S, p)
        sigma = pyro.sample("sigma", sigma_d)   # (S,)
        with pyro.plate("time", n, dim=-2):
            # X (n, S, p) * phi (S, p) -> (n, S); broadcasts over vectorised draws
            loc = mu + (design.X * phi).sum(-1)
            return pyro.sample("y", dist.Normal(loc, sigma), obs=design.target)


def _normal_params(prior, shape) -> tuple[torch.Tensor, torch.Tensor]:
    base = prior.base_dist if isinstance(prior, torch.distributions.Independent) else prior
    return base.loc.expand(shape), base.scale.expand(shape)


def _conjugate_applicable(priors) -> bool:
    def is_normal(d):
        if isinstance(d, torch.distributions.Independent):
            d = d.base_dist
        return type(d) is dist.Normal

    return is_normal(priors["mu"]) and is_normal(priors["phi"]) and _sigma_unbounded(priors["sigma"])


def _sigma_unbounded(prior) -> bool:
    """Whether the sigma prior's support reaches every large value, as the conjugate
    guide's q(sigma) (an inverse-Gamma precision) does; Uniform(0, b) does not."""
    return bool(_in_support(prior, [1e-6, 1.0, 1e6, 1e30]).all())


def _in_support(prior, values: Sequence[float]) -> torch.Tensor:
    """``prior.support.check`` of each value, broadcast over the prior's batch shape."""
    probe = torch.tensor(values, dtype=DTYPE)
    return prior.support.check(probe.reshape((len(values),) + (1,) * len(prior.batch_shape)))


def _conjugate_guide(design: _Design, priors: Mapping[str, Any], order: int):
    """q(sigma): sigma^-2 ~ Gamma (fitted); q(mu, phi | sigma): the exact conjugate conditional."""
    n, S = design.target.shape
    p = order
    k = p + 1
    if "sigma_shape" not in pyro.get_param_store():
        # start at the flat-prior answer: 1/sigma^2 | y ~ Gamma((n - k)/2, RSS/2)
        # a ridge relative to each column's own scale (an absolute 1e-9 shrank the
        # start towards 0 for data in units of 1e-6)
        diag = design.ZtZ.diagonal(dim1=-2, dim2=-1).clamp_min(1e-300)
        beta = torch.linalg.solve(design.ZtZ + torch.diag_embed(1e-9 * diag), design.Zty)
        c = design.center
        fitted = (design.target - c) - beta[:, 0] - ((design.X - c.unsqueeze(-1)) * beta[:, 1:]).sum(-1)
        init_shape = torch.full((S,), max(n - k, 2) / 2.0, dtype=DTYPE)
        init_rate = fitted.pow(2).sum(0).clamp_min(1e-300) / 2.0
    else:
        init_shape = init_rate = None
    shape = pyro.param("sigma_shape", lambda: init_shape, constraint=constraints.positive)
    rate = pyro.param("sigma_rate", lambda: init_rate, constraint=constraints.positive)
    mu_loc, mu_scale = _normal_params(priors["mu"], (S,))
    phi_loc, phi_scale = _normal_params(priors["phi"], (S, p))
    d0 = torch.cat([mu_scale.unsqueeze(-1), phi_scale], -1).pow(-2)       # (S, k) prior precisions
    # Centred coordinates b = (m, phi) with y - c = m + (X - c) phi + u, i.e.
    # mu = m + c (1 - sum phi): a shear of (mu, phi) with unit Jacobian. The prior
    # N(m_0, diag(1 / d0)) on (mu, phi) becomes, in b, precision T' D T and
    # information T' D (m_0 - e c), with T = [[1, -c 1'], [0, I]] and e = (1, 0, ..., 0).
    c = design.center                                                      # (S,)
    cc = c.unsqueeze(-1)
    prec0 = torch.diag_embed(d0)
    prec0[:, 0, 1:] = -cc * d0[:, :1]
    prec0[:, 1:, 0] = -cc * d0[:, :1]
    prec0[:, 1:, 1:] += (c.pow(2) * d0[:, 0]).reshape(S, 1, 1)
    v = torch.cat([(d0[:, 0] * (mu_loc - c)).unsqueeze(-1), d0[:, 1:] * phi_loc], -1)
    info0 = torch.cat([v[:, :1], v[:, 1:] - cc * v[:, :1]], -1)            # T' v, (S, k)
    with pyro.plate("series", S, dim=-1):
        # sigma = tau^(-1/2) with tau ~ Gamma: the family holds the exact posterior of
        # sigma under a flat prior, so only the prior's curvature is approximated
        q_sigma = dist.TransformedDistribution(dist.Gamma(shape, rate), [PowerTransform(-0.5)])
        sigma = pyro.sample("sigma", q_sigma)                                 # (..., S)
        inv_s2 = sigma.pow(-2).unsqueeze(-1)                                  # (..., S, 1)
        # Lambda = Z'Z / sigma^2 + Lambda_0 ;  Lambda b_mean = Z'(y - c) / sigma^2 + info_0
        precision = design.ZtZ * inv_s2.unsqueeze(-1) + prec0                 # (..., S, k, k)
        rhs = design.Zty * inv_s2 + info0                                     # (..., S, k)
        chol = torch.linalg.cholesky(precision)
        mean = torch.cholesky_solve(rhs.unsqueeze(-1), chol).squeeze(-1)       # (..., S, k)
        # phi from its marginal: precision = the Schur complement of Lambda_mm
        l_mm = precision[..., 0, 0]
        l_pm = precision[..., 1:, 0]
        prec_phi = precision[..., 1:, 1:] - l_pm.unsqueeze(-1) * l_pm.unsqueeze(-2) / l_mm[..., None, None]
        phi = pyro.sample("phi", dist.MultivariateNormal(mean[..., 1:], precision_matrix=prec_phi))
        # m | phi ~ N(m_mean - Lambda_mp (phi - phi_mean) / Lambda_mm, 1 / Lambda_mm); mu = m + c (1 - sum phi)
        m_loc = mean[..., 0] - (l_pm * (phi - mean[..., 1:])).sum(-1) / l_mm
        pyro.sample("mu", dist.Normal(m_loc + c * (1.0 - phi.sum(-1)), l_mm.rsqrt()))


# ------------------------------------------------------------------ results


@dataclass
class ARFit(FitResult):
    """The result of :meth:`BayesianAR.fit`.

    Draws: ``mu`` ``(chain, draw, series)``, ``phi`` ``(chain, draw, series, lag)``,
    ``sigma`` ``(chain, draw, series)`` (``series`` has length 1 for one series;
    :meth:`to_arviz` drops it then).
    """

    ar: BayesianAR | None = None
    data: TimeSeriesData | None = None
    priors_used: dict[str, Any] = field(default_factory=dict)

    model_name = "BayesianAR"

    # ---------------------------------------------------------- helpers
    @property
    def order(self) -> int:
        return self.ar.order

    @property
    def hold_back(self) -> int:
        return self.ar._hold_back_for(self.data.num_steps)

    def _flat(self, name: str) -> torch.Tensor:
        v = self.draws[name]
        return torch.as_tensor(v.reshape((-1,) + v.shape[2:]), dtype=DTYPE)

    def _observation_dist(self) -> dist.Normal:
        """Normal(loc, scale) of each modelled step under each draw: (draws, n, S)."""
        design = _design(torch.as_tensor(self.data.values, dtype=DTYPE), self.order, self.hold_back)
        mu, phi, sigma = self._flat("mu"), self._flat("phi"), self._flat("sigma")
        N = mu.shape[0]
        # condition the model on the draws inside a vectorising plate at dim -3
        values = {"mu": mu.reshape(N, 1, -1), "phi": phi.reshape(N, 1, mu.shape[-1], -1),
                  "sigma": sigma.reshape(N, 1, -1)}
        conditioned = poutine.condition(partial(_ar_model, design, self.priors_used, self.order), values)
        with torch.no_grad(), pyro.plate("_draws", N, dim=-MAX_PLATE_NESTING - 1):
            trace = poutine.trace(conditioned).get_trace()
        fn = trace.nodes["y"]["fn"]
        return dist.Normal(fn.loc.expand(N, *design.target.shape), fn.scale.expand(N, *design.target.shape)), design

    # ---------------------------------------------------------- public
    def log_likelihood(self, _obs=None) -> np.ndarray:
        """Pointwise log-likelihood, shape ``(chain, draw, time, series)`` over modelled steps."""
        obs, design = _obs or self._observation_dist()
        return self._shape_out(obs.log_prob(design.target).numpy())

    def posterior_predictive(self, *, seed: int | None = None, _obs=None) -> np.ndarray:
        """One-step-ahead replicated data ``(chain, draw, time, series)`` given the observed lags."""
        obs, _ = _obs or self._observation_dist()
        eps = torch.randn(obs.loc.shape, generator=self._rng(seed), dtype=DTYPE)
        return self._shape_out((obs.loc + obs.scale * eps).numpy())

    def predict(self, steps: int, *, seed: int | None = None) -> np.ndarray:
        """Simulated future paths, shape ``(chain * draw, steps, series)``.

        Each draw of ``(mu, phi, sigma)`` runs the recursion forward from the last
        ``order`` observed values, feeding each simulated value back in.
        ``seed`` defaults to the fit's seed, so repeated calls agree.
        """
        steps = check_int(steps, "steps", minimum=1)
        mu, phi, sigma = self._flat("mu"), self._flat("phi"), self._flat("sigma")
        y = torch.as_tensor(self.data.values, dtype=DTYPE)
        init = y[-self.order:].expand(mu.shape[:1] + (self.order, y.shape[1]))  # (N, p, S)
        eps = torch.randn((mu.shape[0], steps, y.shape[1]), generator=self._rng(seed), dtype=DTYPE)
        u = sigma.unsqueeze(-2) * eps                            # (N, steps, S)
        return _recurse(mu, phi, u, init).numpy()

    def forecast(self, steps: int, *, quantiles: Sequence[float] = (0.05, 0.5, 0.95),
                 seed: int | None = None) -> pd.DataFrame:
        """Posterior-predictive forecast table.

        Returns
        -------
        pandas.DataFrame
            Indexed by the next ``steps`` labels of the series' index, with columns
            ``mean`` and ``q<quantile>`` (e.g. ``q0.05``); for several series the
            columns are a MultiIndex ``(series, statistic)``.
        """
        qs = [float(q) for q in quantiles]
        if any(not 0.0 < q < 1.0 for q in qs):
            raise ValueError(f"quantiles must lie strictly between 0 and 1, got {list(quantiles)}.")
        paths = self.predict(steps, seed=seed)                   # (N, steps, S)
        index = extend_index(self.data.index, steps)
        frames = {}
        for s, col in enumerate(self.data.columns):
            stats = {"mean": paths[:, :, s].mean(0)}
            for q in qs:
                stats[f"q{q:g}"] = np.quantile(paths[:, :, s], q, axis=0)
            frames[col] = pd.DataFrame(stats, index=index)
        if self.data.univariate:
            return frames[self.data.columns[0]]
        return pd.concat(frames, axis=1, names=["series", "statistic"])

    def stationarity_probability(self) -> float | pd.Series:
        """Posterior probability that the process is stationary.

        Stationary means every root of ``1 - sum_i phi_i z^i`` lies outside the
        unit circle, i.e. every eigenvalue of the companion matrix lies inside it.
        """
        phi = self._flat("phi").numpy()                          # (N, S, p)
        N, S, p = phi.shape
        companion = np.zeros((N, S, p, p))
        companion[..., 0, :] = phi
        companion[..., np.arange(1, p), np.arange(p - 1)] = 1.0
        radius = np.abs(np.linalg.eigvals(companion)).max(-1)    # (N, S)
        prob = (radius < 1.0).mean(0)
        if self.data.univariate:
            return float(prob[0])
        return pd.Series(prob, index=list(self.data.columns), name="P(stationary)")

    def to_arviz(self, *, seed: int | None = None):
        """ArviZ data: posterior, posterior_predictive, log_likelihood, observed_data
        (and sample_stats for NUTS), dims ``chain, draw, lag, time`` (and ``series``)."""
        from probmodels.export import to_arviz

        squeeze = self.data.univariate
        time_index = self.data.index[self.hold_back:]
        post = {"mu": self.draws["mu"], "phi": self.draws["phi"], "sigma": self.draws["sigma"]}
        obs_dist = self._observation_dist()
        ll = self.log_likelihood(_obs=obs_dist)
        pp = self.posterior_predictive(seed=seed, _obs=obs_dist)
        obs = self.data.values[self.hold_back:]
        if squeeze:
            post = {"mu": post["mu"][..., 0], "phi": post["phi"][..., 0, :], "sigma": post["sigma"][..., 0]}
            ll, pp, obs = ll[..., 0], pp[..., 0], obs[..., 0]
            dims = {"mu": [], "phi": ["lag"], "sigma": [], "y": ["time"]}
            coords = {"lag": np.arange(1, self.order + 1), "time": time_index}
        else:
            dims = {"mu": ["series"], "phi": ["series", "lag"], "sigma": ["series"], "y": ["time", "series"]}
            coords = {"lag": np.arange(1, self.order + 1), "time": time_index,
                      "series": list(self.data.columns)}
        return to_arviz(
            posterior=post, posterior_predictive={"y": pp}, log_likelihood={"y": ll},
            observed_data={"y": obs}, sample_stats=self.sample_stats or None,
            coords=coords, dims=dims,
            attrs={"inference_library": "pyro", "inference_library_version": pyro.__version__,
                   "model": repr(self.ar), "method": self.method, "seed": int(self.seed)},
        )

    def plot_forecast(self, steps: int = 20, *, quantiles: tuple[float, float] = (0.05, 0.95),
                      series: str | None = None, history: int | None = None, ax=None,
                      seed: int | None = None):
        """Plot the history, forecast mean and the ``quantiles`` band; returns the Axes."""
        from probmodels.plots import plot_forecast

        lo, hi = quantiles
        table = self.forecast(steps, quantiles=(lo, hi), seed=seed)
        col = series if series is not None else self.data.columns[0]
        if col not in self.data.columns:
            raise ValueError(f"series {col!r} not in the fit; choose one of {list(self.data.columns)}.")
        s = self.data.columns.index(col)
        if not self.data.univariate:
            table = table[col]
        hist = pd.Series(self.data.values[:, s], index=self.data.index, name=col)
        if history is not None:
            hist = hist.iloc[-check_int(history, "history", minimum=1):]
        return plot_forecast(hist, table, lower=f"q{lo:g}", upper=f"q{hi:g}", ax=ax,
                             title=f"{self.ar!r} forecast, {int(round((hi - lo) * 100))}% band")

    # ------------------------------------------------------- persistence
    def _state(self):
        meta = {
            "order": self.ar.order,
            "hold_back": self.ar.hold_back,
            "user_priors": {k: _priors.to_json(v) for k, v in self.ar.priors.items()},
            "priors_used": {k: _priors.to_json(v) for k, v in self.priors_used.items()},
            "index": index_to_json(self.data.index),
            "columns": list(self.data.columns),
            "univariate": self.data.univariate,
        }
        return meta, {"data": self.data.values}

    @classmethod
    def _from_state(cls, common, meta, arrays):
        ar = BayesianAR(meta["order"], hold_back=meta["hold_back"],
                        priors={k: _priors.from_json(v) for k, v in meta["user_priors"].items()})
        data = TimeSeriesData(values=np.ascontiguousarray(arrays["data"], dtype=np.float64),
                              index=index_from_json(meta["index"]),
                              columns=tuple(meta["columns"]), univariate=meta["univariate"])
        priors_used = {k: _priors.from_json(v) for k, v in meta["priors_used"].items()}
        return cls(**common, ar=ar, data=data, priors_used=priors_used)


# ------------------------------------------------------------ order choice


@dataclass
class OrderComparison:
    """PSIS-LOO comparison of AR orders fitted on the same time steps.

    Attributes
    ----------
    table : pandas.DataFrame
        ``arviz.compare`` output indexed by ``"AR(p)"``, best first.
    fits : dict of int to ARFit
        The fit of each order.
    best_order : int
        The order ranked first.
    hold_back : int
        The common number of initial values every order conditioned on.
    """

    table: pd.DataFrame
    fits: dict[int, ARFit]
    best_order: int
    hold_back: int


def compare_orders(data, orders: Sequence[int] = range(1, 11), *,
                   priors: Mapping[str, Any] | None = None, method: Method = "svi",
                   seed: int | None = None, progress: bool = False, **options) -> OrderComparison:
    """Fit AR(p) for each order and compare them by PSIS-LOO.

    Every order conditions on the first ``max(orders)`` values (``hold_back``),
    so all are scored on the same time steps; comparing orders on different
    steps would be meaningless.
    """
    from probmodels.export import compare_loo

    orders = sorted({check_int(p, "order", minimum=1) for p in orders})
    if not orders:
        raise ValueError("orders is empty; pass e.g. orders=range(1, 6).")
    hold_back = orders[-1]
    seed = resolve_seed(seed)
    fits = {p: BayesianAR(p, priors=priors, hold_back=hold_back).fit(
        data, method=method, seed=seed, progress=progress, **options) for p in orders}
    # the same table under ArviZ 0.23 and >= 1.0 (see probmodels.export.compare_loo)
    table = compare_loo({f"AR({p})": fit.to_arviz() for p, fit in fits.items()})
    best = int(str(table.index[0])[3:-1])
    return OrderComparison(table=table, fits=fits, best_order=best, hold_back=hold_back)
