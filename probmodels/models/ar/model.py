r"""Bayesian autoregression AR(p).

.. math::

    \mu &\sim p(\mu), \qquad \phi_i \sim p(\phi), \qquad \sigma \sim p(\sigma) \\
    Y_t &= \mu + \sum_{i=1}^{p} \phi_i Y_{t-i} + u_t, \qquad
    u_t \sim \mathcal{N}(0, \sigma^2), \qquad t = h+1, \dots, T

conditioned on the first :math:`h` values (``hold_back``, default :math:`p`).
The likelihood is vectorised over time through the lag matrix
:math:`X_{t,i} = Y_{t-i}` (:mod:`.design`) and kept per time step (so PSIS-LOO
works). Several series (DataFrame columns) are independent and share nothing but
the prior.

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

Methods (``fit(method=...)``):

- ``"exact"`` (default): independent draws from the exact posterior
  (:mod:`.exact`): sigma's marginal on an adaptive grid, then ``(mu, phi)`` from
  their conditional Gaussian. Exact when the ``mu`` and ``phi`` priors are
  Gaussian (``Normal``, or a ``MultivariateNormal`` for ``phi``), with any
  ``sigma`` prior. Other ``mu``/``phi`` priors (Laplace, StudentT, ...) are
  replaced by a Gaussian surrogate of the same location and a wider spread, and
  the exact draws under the surrogate are corrected by Pareto-smoothed importance
  resampling to the actual prior; the PSIS k-hat is in ``fit.diagnostics``.
- ``"svi"``: the Pyro model/guide pair trained by SVI. The default guide is
  exact given sigma: ``q(mu, phi | sigma)`` is the conjugate Gaussian of the
  regression, sampled as ``phi`` from its marginal, then ``mu | phi``, and only
  ``q(sigma)`` (``sigma^-2 ~ Gamma`` per series) is fitted. For priors that are
  not Gaussian, ``AutoMultivariateNormal`` started at the exact-surrogate
  posterior mean. The PSIS k-hat of the guide is reported.
- ``"nuts"``: Pyro's NUTS on the model.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, get_args

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from torch.distributions import biject_to

from probmodels import _priors
from probmodels._validation import check_choice, check_int, check_magnitude
from probmodels.data import TimeSeriesData, as_time_series
from probmodels.diagnostics import psis_khat
from probmodels.infer.config import NUTSConfig, SVIConfig
from probmodels.infer.nuts import ModelTarget, NUTSTarget
from probmodels.infer.pipeline import Model, Outcome, Run
from probmodels.infer.pipeline import fit as run_fit
from probmodels.infer.runtime import seed_stream
from probmodels.infer.svi import importance_draws, run_svi
from probmodels.models.ar.design import (
    DTYPE,
    Design,
    design,
    recurse,
)
from probmodels.models.ar.nuts import ARTarget, split_u, unconstrained_starts
from probmodels.models.ar.posterior import draws_for_series
from probmodels.models.ar.sites import (
    MAX_PLATE_NESTING,
    SITES,
    ar_model,
    conjugate_applicable,
    conjugate_guide,
    in_support,
    site_dists,
)
from probmodels.results import result_class

__all__ = ["ARSVIConfig", "BayesianAR", "ExactConfig", "GUIDES", "Guide", "METHODS", "Method"]

Method = Literal["exact", "svi", "nuts"]
METHODS: tuple[str, ...] = get_args(Method)
Guide = Literal["auto", "conjugate", "multivariate_normal", "normal"]
GUIDES: tuple[str, ...] = get_args(Guide)
#: the surrogate prior of a non-Gaussian mu/phi prior is this many robust sds wide
_SURROGATE_WIDTH = 1.5


@dataclass(frozen=True)
class ExactConfig:
    """Options of ``method="exact"``.

    Attributes
    ----------
    num_samples : int
        Independent posterior draws.
    """

    num_samples: int = 4000

    def __post_init__(self):
        check_int(self.num_samples, "num_samples", minimum=10)


@dataclass(frozen=True)
class ARSVIConfig(SVIConfig):
    """:class:`~probmodels.infer.config.SVIConfig` with the AR's defaults and its ``guide``.

    ``guide``: ``"auto"`` (conjugate when the ``mu`` and ``phi`` priors are Gaussian
    and sigma's support is unbounded, else ``"multivariate_normal"``), ``"conjugate"``,
    ``"multivariate_normal"`` or ``"normal"`` (mean-field, for comparison only: it
    misses the strong correlations of the lags).
    """

    steps: int = 1000
    lr: float = 0.02
    num_particles: int = 16
    guide: Guide = "auto"

    def __post_init__(self):
        super().__post_init__()
        check_choice(self.guide, "guide", GUIDES)


@dataclass(frozen=True)
class _Problem:
    """A prepared fit: the checked data, its design and the priors in use."""

    data: TimeSeriesData
    design: Design
    priors: dict[str, Any]


class BayesianAR(Model):
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

    methods = METHODS

    def __init__(
        self, order: int, *, priors: Mapping[str, Any] | None = None, hold_back: int | None = None
    ):
        self.order = check_int(order, "order", minimum=1)
        self.hold_back = (
            None if hold_back is None else check_int(hold_back, "hold_back", minimum=self.order)
        )
        self.priors = _priors.intake(priors, SITES, DTYPE)
        self._check_prior_shapes()
        self._autoguide = None

    def __repr__(self) -> str:
        extra = f", hold_back={self.hold_back}" if self.hold_back is not None else ""
        return f"BayesianAR(order={self.order}{extra})"

    @property
    def effective_hold_back(self) -> int:
        """The number of initial values the likelihood conditions on."""
        return self.order if self.hold_back is None else self.hold_back

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
            if bool(in_support(sigma, [-1.0, -1e-12]).any()):
                raise ValueError(
                    f"the sigma prior must have positive support, got {type(sigma).__name__} "
                    f"with support {sigma.support}; use e.g. dist.HalfCauchy(2.5) or dist.HalfNormal(1.)."
                )
        phi = self.priors.get("phi")
        if phi is not None:
            ok = (
                phi.event_shape == ()
                and len(phi.batch_shape) <= 2
                and (len(phi.batch_shape) == 0 or phi.batch_shape[-1] in (1, p))
            ) or (phi.event_shape == (p,) and len(phi.batch_shape) <= 1)
            if not ok:
                raise ValueError(
                    f"the phi prior must have event_shape () with batch_shape (), ({p},) or "
                    f"(series, {p}), or event_shape ({p},); got batch {tuple(phi.batch_shape)}, "
                    f"event {tuple(phi.event_shape)}."
                )

    def _check_prior_series(self, num_series: int, columns: Sequence[Any]) -> None:
        """A prior with a series axis must have one entry per series of the data (or one)."""
        for name, prior in self.priors.items():
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
        # NaN-aware (missing values and the padding of ragged series are left out), and
        # column by column: a series' priors do not depend on the other series of the fit
        values = y.numpy()
        rms, sd = np.empty(values.shape[1]), np.empty(values.shape[1])
        for j in range(values.shape[1]):
            col = values[:, j][~np.isnan(values[:, j])]
            rms[j] = math.sqrt(float(np.mean(col * col)))
            sd[j] = float(np.std(col, ddof=1)) if col.size > 1 else 0.0
        rms, sd = torch.as_tensor(rms), torch.as_tensor(sd)  # type: ignore[assignment]
        return {
            "mu": dist.Normal(torch.zeros_like(rms), 10.0 * rms),  # type: ignore[arg-type]
            "phi": dist.Normal(torch.tensor(0.0, dtype=DTYPE), torch.tensor(1.0, dtype=DTYPE)),
            "sigma": dist.HalfNormal(2.0 * sd),
        }

    def resolved_priors(self, y: torch.Tensor) -> dict[str, Any]:
        """The priors a fit on ``y`` uses: the user's, defaults for the rest."""
        defaults = self.default_priors(y) if len(self.priors) < len(SITES) else {}
        return {name: self.priors.get(name, defaults.get(name)) for name in SITES}

    # -------------------------------------------------------- the Pyro pair
    def _as_tensor(self, y) -> torch.Tensor:
        if isinstance(y, Design):
            return y.y
        y = torch.as_tensor(y, dtype=DTYPE)
        return y.unsqueeze(-1) if y.dim() == 1 else y

    def _design(self, y) -> tuple[Design, dict[str, Any]]:
        y = self._as_tensor(y)
        h = self.effective_hold_back
        if y.shape[0] <= h:
            raise ValueError(
                f"order {self.order} (hold_back {h}) needs at least {h + 1} time steps, "
                f"got {y.shape[0]}; use a lower order or a longer series."
            )
        return design(y, self.order, h), self.resolved_priors(y)

    def model(
        self,
        y=None,
        *,
        num_steps: int | None = None,
        num_series: int = 1,
        init: torch.Tensor | None = None,
    ):
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
        d, priors = self._design(y)
        return ar_model(d, priors, self.order)

    def guide(self, y=None, **kwargs):
        """The default guide (see module docstring); takes the model's arguments."""
        if y is None:
            raise ValueError(
                "the guide needs the observed series y (the same argument as the model)."
            )
        d, priors = self._design(y)
        if conjugate_applicable(priors, d, self.order):
            return conjugate_guide(d, priors, self.order)
        # one autoguide per data shape: its parameters are shaped by the data's series
        shape = tuple(d.y.shape)
        if self._autoguide is None or self._autoguide[0] != shape:
            self._autoguide = (
                shape,
                pyro.infer.autoguide.AutoMultivariateNormal(
                    self.model, init_loc_fn=pyro.infer.autoguide.init_to_median, init_scale=0.01
                ),
            )
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
        init = (
            torch.zeros(p, S, dtype=DTYPE)
            if init is None
            else torch.as_tensor(init, dtype=DTYPE).reshape(p, S)
        )
        mu_d, phi_d, sigma_d = site_dists(self.priors, S, p)
        with pyro.plate("series", S, dim=-1):
            mu = pyro.sample("mu", mu_d)
            phi = pyro.sample("phi", phi_d)
            sigma = pyro.sample("sigma", sigma_d)
            with pyro.plate("time", num_steps - p, dim=-2):
                u = pyro.sample("u", dist.Normal(torch.zeros((), dtype=DTYPE), sigma))
        # drop the size-1 plate padding so every argument has u's batch shape B
        B = u.shape[:-2]
        init = init.expand(B + (p, S))
        y = recurse(mu.reshape(B + (S,)), phi.reshape(B + (S, p)), u, init)
        return pyro.deterministic("y", torch.cat([init, y], dim=-2), event_dim=2)

    # ---------------------------------------------------------------- fit
    def fit(
        self,
        data,
        *,
        method: Method = "exact",
        seed: int | None = None,
        progress: bool | None = None,
        num_threads: int | None = 1,
        device=None,
        **options,
    ):
        """Fit the model to a series.

        Parameters
        ----------
        data : pandas.Series, pandas.DataFrame, numpy.ndarray or list
            The series (a DataFrame fits one independent series per column).
        method : {"exact", "svi", "nuts"}
            See the module docstring.
        seed : int, optional
            Makes the fit reproducible; drawn at random and recorded when omitted.
        progress : bool or None
            Show a progress bar; ``None`` (default): on a terminal only.
        num_threads : int or None, default 1
            Torch threads during the fit, restored afterwards (``None`` leaves
            torch's setting alone).
        device : None or "cpu"
            The statistical models compute in float64 on the CPU.
        **options
            ``"exact"``: ``num_samples`` (4000 draws). ``"svi"``: the fields of
            :class:`ARSVIConfig` (``guide`` "auto", ``steps`` 1000 (stops earlier
            once converged), ``lr`` 0.02, ``schedule`` "constant", ``num_particles``
            16 (vectorised), ``num_samples`` 4000). ``"nuts"``: the fields of
            :class:`~probmodels.infer.config.NUTSConfig` (``num_samples`` 1000,
            ``warmup_steps`` 1000, ``num_chains`` 2 in parallel processes,
            ``jit_compile`` True, ``target_accept_prob`` 0.8, ``max_tree_depth`` 10).

        Returns
        -------
        ARFit
        """
        return run_fit(
            self,
            data,
            method=method,
            seed=seed,
            progress=progress,
            num_threads=num_threads,
            device=device,
            options=options,
        )

    def fit_many(
        self,
        df,
        *,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
        client=None,
        seed: int | None = None,
        progress: bool | None = None,
        num_threads: int | None = 1,
        num_samples: int = 1000,
        hdi_prob: float = 0.94,
        chunk_size: int = 256,
        errors: str = "raise",
    ):
        """Fit thousands of series of a long table, each with its exact posterior.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per (series, time): columns ``id_col``, ``time_col``, ``target_col``.
            Each series has its own length, start and regular step (dates, periods,
            integers or decimal years); gaps in its time labels and NaN values are
            missing values, modelled as unknowns (imputed by data augmentation).
        client : dask.distributed.Client, optional
            Map the chunks on this cluster; ``None`` fits here. The result is the same.
        seed : int, optional
            One seed for all series (each series' stream is keyed by its id, so the
            result does not depend on the chunking or the workers); drawn and recorded
            when omitted.
        progress, num_threads
            As in :meth:`fit` (``num_threads``: torch threads per chunk).
        num_samples : int, default 1000
            Posterior draws per series (summarised, not kept).
        hdi_prob : float, default 0.94
            Mass of the HDI columns.
        chunk_size : int, default 256
            Series per chunk: memory is bounded by one chunk's draws per worker.
        errors : {"raise", "skip"}
            A bad series (duplicate times, a non-numeric or constant ``y``, an
            irregular or unsortable time column, all missing, fewer than
            ``hold_back + 2`` observed values) raises before any fitting, naming it;
            ``"skip"`` fits the others and lists the bad ones in ``fit.skipped``.

        Returns
        -------
        ManyARFit
            ``summary()`` (rows ``(unique_id, parameter)``), ``forecast(steps)``,
            ``stationarity()``, ``flagged()``, ``fit_one(id)``, ``to_arviz(id)``, ``save``.

        Raises
        ------
        ValueError
            A missing column, a bad series (with ``errors="raise"``), or a prior with a
            per-series axis (which cannot be matched to the ids).
        """
        return result_class("BayesianAR.fit_many").fit(
            self,
            df,
            id_col=id_col,
            time_col=time_col,
            target_col=target_col,
            client=client,
            seed=seed,
            progress=progress,
            num_threads=num_threads,
            num_samples=num_samples,
            hdi_prob=hdi_prob,
            chunk_size=chunk_size,
            errors=errors,
        )

    def default_config(self, method: str):
        return {"exact": ExactConfig, "svi": ARSVIConfig, "nuts": NUTSConfig}[method]()

    def _prepare(self, data) -> _Problem:  # type: ignore[override]
        h = self.effective_hold_back
        ts = as_time_series(
            data,
            name="y",
            min_length=h + 2,
            missing=True,
            reason=f"order {self.order} with hold_back {h} conditions on the "
            f"first {h} values and needs at least 2 more to fit",
        )
        check_magnitude(ts.values, "y", columns=None if ts.univariate else list(ts.columns))
        observed = ~np.isnan(ts.values)
        if not ts.univariate and not observed[0].all():
            late = [c for c, ok in zip(ts.columns, observed[0]) if not ok]
            raise ValueError(
                f"series {late} of y start later than the others (leading missing values); several "
                f"series of different lengths or starts are fitted with BayesianAR.fit_many(long_df), "
                f"which takes each series on its own index."
            )
        if ts.num_steps - h < self.order + 1:
            # fewer equations than coefficients: the lag matrix has rank below p + 1, the
            # data identify no direction of (mu, phi) and the guides' Cholesky factors fail
            longest = (ts.num_steps - 1) // 2 if self.hold_back is None else ts.num_steps - h - 1
            raise ValueError(
                f"order {self.order} is too close to the series length ({ts.num_steps} steps): "
                f"{ts.num_steps - h} modelled steps for {self.order + 1} regression coefficients "
                f"(mu and phi), so the data cannot tell them apart. Use order <= {longest} "
                f"(at least as many modelled steps as coefficients; 5 times as many to avoid "
                f"the prior dominating) or a longer series."
            )
        if ts.num_steps - h < 5 * (self.order + 1):
            warnings.warn(
                f"short series check: {ts.num_steps - h} modelled steps for {self.order + 1} "
                "regression coefficients per series; the posterior will be dominated by the prior.",
                UserWarning,
                stacklevel=4,
            )
        self._check_prior_series(ts.num_series, ts.columns)
        sd = np.nanstd(ts.values, axis=0)
        if np.any(sd == 0):
            const = [c for c, v in zip(ts.columns, sd) if v == 0]
            raise ValueError(
                f"series {const} are constant; an AR model needs variation in the data."
            )
        d, priors = self._design(torch.as_tensor(ts.values, dtype=DTYPE))
        return _Problem(ts, d, priors)

    # --------------------------------------------------------- the methods
    def _exact(self, problem: _Problem, num: int, seed: int, *, correct: bool = True) -> Outcome:
        """The exact method's draws as an :class:`Outcome` (``correct=False``: under the
        Gaussian surrogate priors, as the start of SVI)."""
        ts, S, p = problem.data, problem.data.num_series, self.order
        results = draws_for_series(
            [ts.values[:, s] for s in range(S)],
            ts.columns,
            problem.priors,
            p,
            self.effective_hold_back,
            num,
            seed,
            correct=correct,
        )
        draws = {
            "mu": np.stack([r.beta[:, 0] for r in results], -1)[None],
            "phi": np.stack([r.beta[:, 1:] for r in results], 1)[None],
            "sigma": np.stack([r.sigma for r in results], -1)[None],
        }
        diagnostics: dict[str, Any] = {"method": "exact"}
        extras: dict[str, np.ndarray] = {}
        if problem.design.missing is not None:
            # the missing values in the design's order: time-major over (time, series)
            cols = [np.full(r.positions.size, s) for s, r in enumerate(results)]
            index = np.stack(
                [np.concatenate([r.positions for r in results]), np.concatenate(cols)], 1
            )
            order_ = np.lexsort((index[:, 1], index[:, 0]))
            # (draws, m_s) per series; a complete series holds (draws, 0)
            missing = [r.missing.reshape(r.sigma.shape[0], -1) for r in results]
            draws["y_missing"] = np.concatenate(missing, 1)[None][..., order_]
            extras["missing_index"] = index[order_]
            diagnostics["gibbs_min_ess"] = min(
                r.diagnostics["ess"] for r in results if "gibbs" in r.diagnostics
            )
            diagnostics["gibbs_max_rhat"] = max(
                r.diagnostics["rhat"] for r in results if "gibbs" in r.diagnostics
            )
        khats = [r.diagnostics["khat"] for r in results if "khat" in r.diagnostics]
        if khats:
            diagnostics["khat"] = float(np.max(khats))
            if S > 1:
                diagnostics["khat_per_series"] = [float(k) for k in khats]
        return Outcome(draws=draws, diagnostics=diagnostics, extras=extras)

    def _fit_exact(self, problem: _Problem, config: ExactConfig, run: Run) -> Outcome:
        return self._exact(problem, config.num_samples, run.seed)

    def _fit_svi(self, problem: _Problem, config: ARSVIConfig, run: Run) -> Outcome:
        d, priors = problem.design, problem.priors
        conjugate = conjugate_applicable(priors, d, self.order) and d.missing is None
        guide_kind = config.guide
        if guide_kind == "auto":
            guide_kind = "conjugate" if conjugate else "multivariate_normal"
        model = partial(ar_model, d, priors, self.order)
        if guide_kind == "conjugate":
            if not conjugate:
                raise ValueError(
                    "guide='conjugate' needs Gaussian priors on mu and phi, a sigma prior whose "
                    "support is all of (0, inf) (no upper bound, as in Uniform(0, b)) and no "
                    "missing values; use guide='auto' or 'multivariate_normal' otherwise."
                )
            guide = partial(conjugate_guide, d, priors, self.order)
        else:
            # start at the posterior mean under the Gaussian surrogate priors: the prior's
            # median can be far from the data (an explosive mode, the mu of a level of 1e3)
            start = self._exact(problem, 200, seed_stream(run.seed, "start"), correct=False)
            values = {
                k: torch.as_tensor(v.mean(axis=(0, 1)), dtype=DTYPE) for k, v in start.draws.items()
            }
            cls = (
                pyro.infer.autoguide.AutoMultivariateNormal
                if guide_kind == "multivariate_normal"
                else pyro.infer.autoguide.AutoNormal
            )
            guide = cls(
                model,
                init_loc_fn=pyro.infer.autoguide.init_to_value(values=values),  # type: ignore[assignment]
                init_scale=0.01,
            )
        svi = run_svi(
            model,
            guide,
            steps=max(config.steps, 1),
            lr=config.lr,
            schedule=config.schedule,
            lr_decay=config.lr_decay,
            num_particles=config.num_particles,
            vectorize_particles=True,
            max_plate_nesting=MAX_PLATE_NESTING,
            progress=run.progress,
            seed=run.seed,
            # the guide starts near the answer, so short windows suffice
            min_steps=100,
            window=50,
            average=True,
            description=f"AR({self.order}) SVI",
        )
        N, S, p = config.num_samples, d.num_series, self.order
        sites = list(SITES) + (["y_missing"] if d.missing is not None else [])
        raw, log_w = importance_draws(
            model,
            guide,
            num_samples=N,
            max_plate_nesting=MAX_PLATE_NESTING,
            sites=sites,
            data_size=d.num_rows * S * (p + 1),
        )
        # (N, 1, S[, p]) -> (chain=1, draw=N, S[, p])
        draws = {
            "mu": raw["mu"].reshape(1, N, S),
            "phi": raw["phi"].reshape(1, N, S, p),
            "sigma": raw["sigma"].reshape(1, N, S),
        }
        extras = {}
        if d.missing is not None:
            draws["y_missing"] = raw["y_missing"].reshape(1, N, -1)
            extras["missing_index"] = _missing_index(d)
        diagnostics = {
            "guide": guide_kind,
            "khat": psis_khat(log_w),
            "converged": svi.converged,
            "num_steps": svi.num_steps,
            "svi_seconds": svi.seconds,
            "final_loss": float(np.mean(svi.losses[-50:])),
        }
        return Outcome(draws=draws, losses=svi.losses, diagnostics=diagnostics, extras=extras)

    def _nuts_target(self, problem: _Problem, config: NUTSConfig, run: Run) -> NUTSTarget:
        d = problem.design
        if d.missing is None:
            # complete data: the same density from sufficient statistics (.nuts), each
            # chain from its own exact draw under the (surrogate) priors
            start = self._exact(
                problem, config.num_chains, seed_stream(run.seed, "nuts start"), correct=False
            )
            mu, phi, sigma = site_dists(problem.priors, d.num_series, self.order)
            return ARTarget(
                d.ZtZ,
                d.Zty,
                d.yy,
                d.num_rows,
                d.center,
                {"mu": mu, "phi": phi, "sigma": sigma},
                unconstrained_starts(
                    {k: v[0] for k, v in start.draws.items()}, sigma, config.num_chains
                ),
                jit_compile=config.jit_compile,
            )
        # the flat prior of the missing values gives NUTS no sensible start: the
        # interpolated placeholders are one
        init = {"y_missing": d.y.reshape(-1)[d.missing]}
        return ModelTarget(
            partial(ar_model, d, problem.priors, self.order),
            max_plate_nesting=MAX_PLATE_NESTING,
            init_values=init,
        )

    def _from_nuts(self, problem: _Problem, samples) -> dict[str, np.ndarray]:
        if "u" in samples:
            S, p = problem.design.num_series, self.order
            mu, phi, v = split_u(torch.as_tensor(samples["u"], dtype=DTYPE), S, p)
            sigma = biject_to(site_dists(problem.priors, S, p)[2].support)(v)
            return {"mu": mu.numpy(), "phi": phi.numpy(), "sigma": sigma.numpy()}
        return {k: samples[k] for k in (*SITES, "y_missing") if k in samples}

    def _postprocess(self, problem: _Problem, outcome: Outcome) -> Outcome:
        if problem.design.missing is not None and "missing_index" not in outcome.extras:
            outcome.extras["missing_index"] = _missing_index(problem.design)
        return outcome

    def _result(self, problem: _Problem, outcome: Outcome, *, method: str, seed: int, config):
        return result_class("BayesianAR")(
            draws=outcome.draws,
            method=method,
            seed=seed,
            losses=outcome.losses,
            options=_options_dict(config),
            diagnostics=outcome.diagnostics,
            sample_stats=outcome.sample_stats,
            ar=self,
            data=problem.data,
            priors_used=problem.priors,
            missing_index=outcome.extras.get("missing_index"),
        )


def _missing_index(d: Design) -> np.ndarray:
    """``(m, 2)`` (time, series) of the design's missing values, in their flat order."""
    S = d.num_series
    flat = d.missing.numpy()  # type: ignore[union-attr]
    return np.stack([flat // S, flat % S], 1)


def _options_dict(config) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(config)
