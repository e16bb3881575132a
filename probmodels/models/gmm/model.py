r"""Gaussian mixture with latent assignments.

.. math::

    \pi &\sim \mathrm{Dirichlet}(\alpha), \qquad
    \mu_k \sim p(\mu), \qquad \sigma_k \sim p(\sigma), \qquad
    \Omega_k = L_k L_k^\top,\ L_k \sim \mathrm{LKJCholesky}(D, \eta) \\
    z_n &\sim \mathrm{Categorical}(\pi), \qquad
    x_n \mid z_n \sim \mathcal{N}(\mu_{z_n}, \Sigma_{z_n}), \qquad n = 1, \dots, N

with :math:`\Sigma_k = \mathrm{diag}(\sigma_k)\,\Omega_k\,\mathrm{diag}(\sigma_k)`
(``covariance="full"``), :math:`\mathrm{diag}(\sigma_k^2)` (``"diag"``) or
:math:`\sigma_k^2 I` (``"spherical"``). In one dimension the three coincide and
:math:`\Sigma_k = \sigma_k^2`. As in the seed notes,

.. math::

    p(x) = \sum_{k=1}^K \pi_k\, \mathcal{N}(x \mid \mu_k, \Sigma_k), \qquad
    p(z = k \mid x) = \frac{\pi_k\, \mathcal{N}(x \mid \mu_k, \Sigma_k)}{p(x)}.

The discrete site ``z`` is enumerated in parallel (``infer={"enumerate":
"parallel"}``), so every fit -- ``TraceEnum_ELBO`` for SVI, Pyro's NUTS with
``max_plate_nesting=1`` -- sums it out exactly; the pointwise log-likelihood
``log p(x_n | pi, mu, Sigma)`` keeps one value per data point so PSIS-LOO works.

Sites (``K`` components, ``D`` features, ``N`` data points):

=======  ===========  ===========  ==========================================
site     batch_shape  event_shape  plates
=======  ===========  ===========  ==========================================
pi       ()           (K,)         --
mu       ()           (K,)         --  (D = 1: ordered, mu_1 < ... < mu_K)
mu       (K,)         (D,)         component (dim -1)   (D > 1)
sigma    (K,)         ()           component            (D = 1, "spherical")
sigma    (K,)         (D,)         component            ("diag", "full")
L_omega  (K,)         (D, D)       component            ("full", D > 1)
z        (N,)         ()           data (dim -1), enumerated at dim -2
x        (N,)         (D,)         data (observed)
=======  ===========  ===========  ==========================================

Identifiability. In one dimension the means are ordered: ``mu`` has support
``ordered_vector`` and log-density ``sum_k log p(mu_k)`` (the prior restricted
to the ordered cone, without the constant ``log K!``), so NUTS and the guides
work on the ordered space directly and there is no label switching. In ``D > 1``
dimensions no single ordering is natural; instead every posterior draw is
relabelled after the fit (Stephens-style pivoting): the pivot is the maximum a
posteriori (MAP) solution with its components sorted by the mean of the first
feature, and each draw's components are permuted to minimise the summed
squared distance between its means and the pivot's (in data standard
deviations; Hungarian algorithm). Per-component summaries then describe "the
component near the pivot's component k". When components overlap so much that
draws sit between two pivots the relabelling is ambiguous; such a posterior is
better summarised by label-free quantities (``predict_proba``, the density).

Default priors (weakly informative, scaled to the data; ``m_d`` and ``s_d``
are the mean and standard deviation of feature ``d``):
``pi ~ Dirichlet(1)``, ``mu_kd ~ Normal(m_d, 2 s_d)``,
``sigma_kd ~ HalfNormal(s_d)`` (spherical: the mean of ``s_d``),
``L_omega_k ~ LKJCholesky(D, 2)``.

Sample weights multiply each point's log-likelihood, ``sum_n w_n log p(x_n)``.
Pyro's enumeration accepts only a scalar ``poutine.scale``, so the weights
enter as the factor ``(w_n - 1) log p(x_n)`` next to the enumerated site; the
total is exact.

Fits (``fit(method=...)``): ``"svi"`` (default), a full-rank Gaussian guide
started at the best of several Laplace approximations, refined by SVI and
corrected by Pareto-smoothed importance resampling (:mod:`.svi`); ``"nuts"``,
Pyro's NUTS on the potential with ``z`` summed out by log-sum-exp (or, with
``enumerate=True``, on the model with ``z`` enumerated), each chain started at
a draw from the Laplace approximation, with R-hat, ESS and divergences checked.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.distributions import constraints
from pyro.distributions.util import broadcast_shape

from probmodels import _priors
from probmodels._validation import check_bool, check_choice, check_int, check_magnitude
from probmodels.data import as_data_matrix
from probmodels.infer.config import NUTSConfig, SVIConfig
from probmodels.infer.nuts import NUTSTarget
from probmodels.infer.pipeline import Model, Outcome, Run
from probmodels.infer.pipeline import fit as run_fit
from probmodels.infer.runtime import quiet_jit, seed_stream
from probmodels.models.gmm.sites import (
    DTYPE,
    MAX_PLATE_NESTING,
    SITES,
    Layout,
    Packing,
    log_density,
    mixture_model,
)
from probmodels.models.gmm.start import laplace, relabel, starts
from probmodels.models.gmm.svi import fit_svi
from probmodels.results import result_class

__all__ = [
    "COVARIANCES",
    "Covariance",
    "GMMNUTSConfig",
    "GMMSVIConfig",
    "GaussianMixture",
    "METHODS",
    "Method",
    "MixtureTarget",
]

Covariance = Literal["full", "diag", "spherical"]
COVARIANCES: tuple[str, ...] = get_args(Covariance)
Method = Literal["svi", "nuts"]
METHODS: tuple[str, ...] = get_args(Method)

#: Most global parameters a fit takes (its full-rank guide is a P x P covariance, and the
#: cost grows as P**2 to P**3): 2-component full-covariance fits of 1,000 points took
#: 28 s and 1.4 GB in 30 features (P = 991), 125 s and 2.8 GB in 43 (P = 1,979), on one core;
#: 150 features (P = 22,951) took 389 s and 7.7 GB before this bound)
MAX_PARAMETERS = 2000


@dataclass(frozen=True)
class GMMSVIConfig(SVIConfig):
    """The mixture's variational fit (:mod:`.svi`).

    ``steps``: ``None`` (at most 300 SVI steps from the Laplace start, stopped by
    the convergence rule, or a fixed 2,000 with ``subsample_size``) or a number
    (0: the Laplace guide as is); ``lr`` 0.002; ``num_particles`` 8;
    ``num_starts`` EM starts (5); ``resample`` (PSIS importance resampling of the
    draws when k-hat < 0.7); ``subsample_size`` (None; an int makes it minibatch
    SVI on a subsampled ``data`` plate); ``jit_compile`` (``JitTraceEnum_ELBO``,
    2-3 times faster per step).
    """

    steps: int | None = None  # type: ignore[assignment]
    lr: float = 0.002
    num_particles: int = 8
    num_starts: int = 5
    resample: bool = True
    subsample_size: int | None = None
    jit_compile: bool = True

    def __post_init__(self):
        if self.steps is None:
            object.__setattr__(self, "steps", 0)
            try:
                super().__post_init__()
            finally:
                object.__setattr__(self, "steps", None)
        else:
            super().__post_init__()
        check_int(self.num_starts, "num_starts", minimum=1)
        check_bool(self.resample, "resample")
        check_bool(self.jit_compile, "jit_compile")
        if self.subsample_size is not None:
            check_int(self.subsample_size, "subsample_size", minimum=1)


@dataclass(frozen=True)
class GMMNUTSConfig(NUTSConfig):
    """NUTS options plus ``enumerate``: ``False`` (default) samples the potential with
    ``z`` summed by log-sum-exp; ``True`` runs Pyro's NUTS on the model with ``z``
    enumerated (about 5 times slower, same posterior)."""

    enumerate: bool = False

    def __post_init__(self):
        super().__post_init__()
        check_bool(self.enumerate, "enumerate")


@dataclass
class _Problem:
    """A prepared fit (``pivot``: the MAP the draws are relabelled to, set by the method)."""

    x: torch.Tensor
    w: torch.Tensor | None
    layout: Layout
    priors: dict[str, Any]
    index: pd.Index
    names: tuple
    named: bool
    pivot: torch.Tensor | None = None


@dataclass
class MixtureTarget(NUTSTarget):
    """What the mixture's NUTS samples (picklable: built again in a chain's process).

    ``enumerate=False``: the potential ``-log p(u | x)`` on the flat unconstrained
    vector ``u`` (:func:`~probmodels.models.gmm.sites.log_density`, ``z`` summed by
    log-sum-exp; about 5 times faster than tracing the model at every leapfrog
    step), compiled with the JIT, each chain started at a draw from the Laplace
    approximation ``N(mode, L L')``. ``enumerate=True``: the Pyro model with ``z``
    enumerated.
    """

    x: torch.Tensor
    w: torch.Tensor | None
    priors: dict[str, Any]
    layout: Layout
    mode: torch.Tensor
    scale_tril: torch.Tensor
    jit_compile: bool
    enumerate: bool
    max_plate_nesting: int | None = MAX_PLATE_NESTING

    def kernel_args(self) -> dict[str, Any]:
        if self.enumerate:
            return {
                "model": partial(mixture_model, self.x, self.priors, self.layout, weights=self.w)
            }
        packing = Packing(self.priors, self.layout)
        x, w = self.x, self.w

        def neg_log_density(u):
            return -log_density(u.unsqueeze(0), packing, x, w)[0]

        if self.jit_compile:
            with quiet_jit():
                # the potential has no data-dependent control flow, so one trace serves all u
                neg_log_density = torch.jit.trace(
                    neg_log_density, self.mode.clone(), check_trace=False
                )
        return {"potential_fn": lambda params: neg_log_density(params["u"])}

    def initial_params(self, chain: int):
        if self.enumerate:
            return None
        return {"u": self.mode + self.scale_tril @ torch.randn(self.mode.shape[0], dtype=DTYPE)}


class GaussianMixture(Model):
    """Bayesian Gaussian mixture with the assignments ``z`` summed out (model/guide pair + fit API).

    Parameters
    ----------
    n_components : int
        Number of components ``K >= 1``.
    covariance : {"full", "diag", "spherical"}
        Covariance of each component in ``D > 1`` dimensions (see the module
        docstring); in one dimension all three are ``sigma_k^2``.
    priors : dict, optional
        Replacement priors by site (``"pi"``, ``"mu"``, ``"sigma"``,
        ``"L_omega"``), each a ``pyro.distributions`` object: ``pi`` with
        event shape ``(K,)`` (a Dirichlet); ``mu`` and ``sigma`` scalar
        distributions with batch shape broadcastable to ``(K, D)`` (``(K,)`` in
        one dimension and for spherical ``sigma``), ``sigma`` with positive
        support; ``L_omega`` an ``LKJCholesky(D, eta)``. Missing sites get the
        data-scaled defaults of the module docstring. Converted to float64.

    Examples
    --------
    >>> import probmodels as pm
    >>> x = pm.datasets.load_faithful()
    >>> fit = pm.GaussianMixture(n_components=2).fit(x, seed=0)
    >>> fit.predict_proba(x)[:3]  # doctest: +SKIP
    """

    def __init__(
        self,
        n_components: int,
        *,
        covariance: Covariance = "full",
        priors: Mapping[str, Any] | None = None,
    ):
        self.n_components = check_int(n_components, "n_components", minimum=1)
        self.covariance = check_choice(covariance, "covariance", COVARIANCES)
        self.priors = _priors.intake(priors, SITES, DTYPE)
        self._check_priors()
        self._autoguide = None
        self._guide_key = None

    def __repr__(self) -> str:
        return f"GaussianMixture(n_components={self.n_components}, covariance={self.covariance!r})"

    methods = METHODS

    # ------------------------------------------------------------- priors
    def _check_priors(self) -> None:
        K = self.n_components
        pi = self.priors.get("pi")
        if pi is not None and pi.support is not constraints.simplex:
            raise ValueError(
                f"the pi prior must be a distribution over the simplex (weights that are "
                f"positive and sum to 1), got {type(pi).__name__} with support {pi.support}; "
                f"use e.g. dist.Dirichlet(torch.ones({K}))."
            )
        if pi is not None and (tuple(pi.event_shape) != (K,) or tuple(pi.batch_shape) != ()):
            raise ValueError(
                f"the pi prior must have event_shape ({K},) and batch_shape () (one weight per "
                f"component), got batch {tuple(pi.batch_shape)}, event {tuple(pi.event_shape)}; "
                f"use e.g. dist.Dirichlet(torch.ones({K}))."
            )
        for name in ("mu", "sigma"):
            prior = self.priors.get(name)
            if prior is not None and (prior.event_shape != () or len(prior.batch_shape) > 2):
                raise ValueError(
                    f"the {name} prior must be a scalar distribution (event_shape ()) with "
                    f"batch_shape broadcastable to (components, features), got batch "
                    f"{tuple(prior.batch_shape)}, event {tuple(prior.event_shape)}; use e.g. "
                    f"dist.Normal(0., 1.)."
                )
        sigma = self.priors.get("sigma")
        if sigma is not None:
            probe = torch.tensor([-1.0, 1.0], dtype=DTYPE).reshape(
                (2,) + (1,) * len(sigma.batch_shape)
            )
            ok = sigma.support.check(probe).reshape(2, -1)
            if bool(ok[0].any()) or not bool(ok[1].all()):
                raise ValueError(
                    f"the sigma prior must have positive support, got {type(sigma).__name__} with "
                    f"support {sigma.support}; use e.g. dist.HalfNormal(2.) or dist.LogNormal(0., 1.)."
                )
        lkj = self.priors.get("L_omega")
        if lkj is not None and lkj.support is not constraints.corr_cholesky:
            raise ValueError(
                f"the L_omega prior must have support corr_cholesky, got {type(lkj).__name__}; "
                f"use dist.LKJCholesky(num_features, concentration=2.)."
            )

    def default_priors(self, x: torch.Tensor) -> dict[str, Any]:
        """The default priors for data ``x`` of shape ``(data, feature)`` (module docstring)."""
        x = torch.as_tensor(x, dtype=DTYPE)
        x = x.unsqueeze(-1) if x.dim() == 1 else x
        K, D = self.n_components, x.shape[1]
        m = x.mean(0)
        s = x.std(0) if x.shape[0] > 1 else torch.ones(D, dtype=DTYPE)
        s = torch.where(s > 0, s, torch.ones_like(s))
        spherical = self.covariance == "spherical" or D == 1
        out = {
            "pi": dist.Dirichlet(torch.ones(K, dtype=DTYPE)),
            "mu": dist.Normal(m[0] if D == 1 else m, 2.0 * (s[0] if D == 1 else s)),
            "sigma": dist.HalfNormal(s.mean() if spherical else s),
        }
        if self.covariance == "full" and D > 1:
            out["L_omega"] = dist.LKJCholesky(D, torch.tensor(2.0, dtype=DTYPE))
        return out

    def resolved_priors(self, x: torch.Tensor) -> dict[str, Any]:
        """The priors a fit on ``x`` uses: the user's, defaults for the rest."""
        layout = self._layout(x.shape[1] if x.dim() == 2 else 1)
        needed = layout.sites
        missing = [n for n in needed if n not in self.priors]
        defaults = self.default_priors(x) if missing else {}
        out = {n: self.priors.get(n, defaults.get(n)) for n in needed}
        for name in ("mu", "sigma"):
            shape = layout.site_shape(name)
            try:
                torch.Size(broadcast_shape(tuple(out[name].batch_shape), shape))  # type: ignore[union-attr]
                if broadcast_shape(tuple(out[name].batch_shape), shape) != shape:  # type: ignore[union-attr]
                    raise ValueError
            except ValueError:
                raise ValueError(
                    f"the {name} prior's batch_shape {tuple(out[name].batch_shape)} does not "  # type: ignore[union-attr]
                    f"broadcast to {shape} (components, features); pass a scalar prior or one "
                    f"of shape {shape}."
                ) from None
        if layout.full and out["L_omega"].event_shape[-1] != layout.D:  # type: ignore[union-attr]
            raise ValueError(
                f"the L_omega prior is for {out['L_omega'].event_shape[-1]} features, the data have "  # type: ignore[union-attr]
                f"{layout.D}; use dist.LKJCholesky({layout.D}, concentration=2.)."
            )
        return out

    def _layout(self, D: int) -> Layout:
        return Layout(self.n_components, D, self.covariance)

    # -------------------------------------------------------- the Pyro pair
    def _as_tensor(self, x) -> torch.Tensor:
        x = torch.as_tensor(
            np.asarray(x, dtype=np.float64) if not torch.is_tensor(x) else x, dtype=DTYPE
        )
        return x.unsqueeze(-1) if x.dim() == 1 else x

    def model(
        self,
        x=None,
        *,
        sample_weight=None,
        subsample_size: int | None = None,
        num_data: int | None = None,
    ):
        """The Pyro model (``z`` marked for parallel enumeration: use ``TraceEnum_ELBO``).

        Parameters
        ----------
        x : torch.Tensor or array-like, optional
            Data ``(data,)`` or ``(data, feature)``. With ``x=None`` the model
            simulates ``num_data`` points (every prior must be given then: the
            defaults are scaled to the data), returned with shape ``(data, feature)``.
        sample_weight : torch.Tensor, optional
            Non-negative weights ``(data,)`` multiplying each point's log-likelihood.
        subsample_size : int, optional
            Minibatch size ``B`` of the ``data`` plate: ``B`` indices drawn
            uniformly with replacement at each call (Pyro rescales by ``N / B``).
        """
        if x is None:
            missing = [s for s in ("pi", "mu", "sigma") if s not in self.priors]
            if missing:
                raise ValueError(
                    f"simulating without data needs the priors of pi, mu and sigma (defaults are "
                    f"scaled to the data); missing {missing}. Pass priors={{...}}."
                )
            D = 1
            mu = self.priors["mu"]
            if len(mu.batch_shape) >= 1 and mu.batch_shape[-1] > 1:
                D = mu.batch_shape[-1]
            layout = self._layout(D)
            priors = dict(self.priors)
            if layout.full and "L_omega" not in priors:
                priors["L_omega"] = dist.LKJCholesky(D, torch.tensor(2.0, dtype=DTYPE))
            return mixture_model(
                None, priors, layout, num_data=check_int(num_data, "num_data", minimum=1)
            )
        x = self._as_tensor(x)
        w = None if sample_weight is None else torch.as_tensor(sample_weight, dtype=DTYPE)
        return mixture_model(
            x,
            self.resolved_priors(x),
            self._layout(x.shape[1]),
            weights=w,
            subsample_size=subsample_size,
        )

    def guide(self, x=None, **kwargs):
        """``AutoMultivariateNormal`` over the global sites; takes the model's arguments.

        :meth:`fit` starts it at the Laplace approximation; used raw with
        ``SVI(gmm.model, gmm.guide, optim, TraceEnum_ELBO(max_plate_nesting=1))``
        it starts at the prior median like any autoguide.
        """
        if x is None:
            raise ValueError("the guide needs the data x (the same argument as the model).")
        x = self._as_tensor(x)
        key = (x.shape[1],)
        if self._autoguide is None or self._guide_key != key:
            layout = self._layout(x.shape[1])
            self._autoguide = pyro.infer.autoguide.AutoMultivariateNormal(
                poutine.block(self.model, expose=list(layout.sites)),
                init_loc_fn=pyro.infer.autoguide.init_to_median,
                init_scale=0.01,
            )
            self._guide_key = key
        return self._autoguide(x, **kwargs)

    # ---------------------------------------------------------------- fit
    def _check_data(self, data, name="x"):
        values, index, names = as_data_matrix(data, name=name)
        N, D = values.shape
        K = self.n_components
        check_magnitude(values, name, columns=names)
        P = self._layout(D).num_parameters()
        if P > MAX_PARAMETERS:
            diag = Layout(K, D, "diag").num_parameters()
            fix = (
                f"Use covariance='diag' ({diag} parameters)"
                if self.covariance == "full" and diag <= MAX_PARAMETERS
                else "Use fewer features (e.g. the leading "
                "principal components) or fewer components"
            )
            raise ValueError(
                f"{name} has {D} features: a {K}-component mixture with covariance="
                f"{self.covariance!r} has {P:,} parameters, more than the {MAX_PARAMETERS:,} its "
                f"full-rank posterior approximation supports (a {P:,} x {P:,} covariance, Laplace "
                f"start and draws grow as the square to the cube of that). {fix}."
                + (f" If the rows of {name} are its features, pass {name}.T." if D > N else "")
            )
        if not isinstance(data, (pd.DataFrame, pd.Series)) and D > N:
            warnings.warn(
                f"GaussianMixture orientation check: {name} has shape {values.shape}, read as "
                f"{N} data points (rows) of {D} features (columns). Rows are observations; if "
                f"each row is a feature, pass the transpose ({name}.T).",
                UserWarning,
                stacklevel=5,
            )
        if N <= K:
            # with N = K the maximum-likelihood start puts each component on one point with
            # zero spread, where the density is unbounded: no mode, no Laplace approximation
            relation = "is larger than" if K > N else "equals"
            fix = f"Use n_components <= {N - 1} or pass more data." if N > 1 else "Pass more data."
            raise ValueError(
                f"n_components={K} {relation} the number of data points ({N}); a mixture "
                f"needs more points than components (a component with a single point collapses "
                f"onto it with zero spread, where the likelihood is unbounded). {fix}"
            )
        if N < 2 * K:
            # some component of any maximum-likelihood start then holds one point, with zero
            # spread: its Laplace approximation is flat and its draws of sigma underflow to 0
            raise ValueError(
                f"n_components={K} needs at least {2 * K} data points (two per component, so "
                f"that each has a spread), got {N}. Use n_components <= {N // 2} or pass more data."
            )
        # a feature without spread has no finite Gaussian density (sigma -> 0); numerically
        # zero is a spread below 1e-12 of its level (fits at 1e-11 still had k-hat < 0.7)
        spread = values.std(0)
        level = np.abs(values).max(0)
        flat = np.flatnonzero(spread <= 1e-12 * level)
        if flat.size:
            j = int(flat[0])
            got = f"standard deviation {spread[j]:.3g} at values around {values[0, j]:.6g}"
            if D == 1:
                raise ValueError(
                    f"{name} is constant ({got}); a Gaussian component needs a positive spread. "
                    f"Pass data with more than one distinct value."
                )
            raise ValueError(
                f"feature {names[j]!r} (column {j}) of {name} is constant ({got}); a Gaussian "
                f"component needs a positive spread in every feature (constant: "
                f"{[names[i] for i in flat]}). Drop it, e.g. df.drop(columns=[{names[j]!r}]) "
                f"or np.delete({name}, {j}, axis=1)."
            )
        return values, index, names

    @staticmethod
    def _check_weights(sample_weight, n: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        w = (
            np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if np.ndim(sample_weight)
            else None
        )
        if w is None or np.ndim(sample_weight) != 1 or w.shape[0] != n:
            raise ValueError(
                f"sample_weight must be a 1-D array with one weight per data point ({n}), got "
                f"shape {np.shape(sample_weight)}; pass e.g. np.ones({n})."
            )
        if not np.all(np.isfinite(w)):
            raise ValueError(
                f"sample_weight must be finite, got {int((~np.isfinite(w)).sum())} NaN or infinite "
                f"value(s); drop those points or give them weight 0."
            )
        if np.any(w < 0):
            raise ValueError(
                f"sample_weight must be non-negative, got {int((w < 0).sum())} negative value(s) "
                f"(smallest {w.min():g}); use 0 to leave a point out."
            )
        if not np.any(w > 0):
            raise ValueError(
                "sample_weight must have at least one positive entry, got all zeros; "
                "use np.ones(n) for unweighted data."
            )
        return w

    def fit(
        self,
        data,
        *,
        sample_weight=None,
        method: Method = "svi",
        seed: int | None = None,
        progress: bool | None = None,
        num_threads: int | None = 1,
        device=None,
        **options,
    ):
        """Fit the mixture.

        Parameters
        ----------
        data : pandas.DataFrame, pandas.Series, numpy.ndarray or list
            Rows are data points, columns features (a Series or 1-D array is one
            feature); more rows than ``n_components``, and no constant feature.
            A DataFrame's column names are kept: the predictors match a
            DataFrame ``x`` by name.
        method : {"svi", "nuts"}
            ``"svi"`` (default): the full-rank Gaussian guide of the module
            docstring, started at the best of several Laplace approximations,
            refined by ``TraceEnum_ELBO`` SVI and importance resampled. ``"nuts"``:
            Pyro's NUTS on the globals with ``z`` enumerated.
        seed : int, optional
            Makes the fit reproducible; drawn at random and recorded when omitted.
        progress : bool or None
            Show a progress bar; ``None`` (default): on a terminal only.
        sample_weight : array-like, optional
            Non-negative weights ``(data,)``, not all zero.
        **options
            For ``"svi"``: ``num_starts`` (5 EM starts), ``steps`` (None: at
            most 300 SVI steps from the Laplace start, stopped by the
            convergence rule, or a fixed 2,000 with ``subsample_size``; 0:
            the Laplace guide as is), ``lr`` (0.002, Adam), ``num_particles``
            (8, vectorised), ``jit_compile`` (True: ``JitTraceEnum_ELBO``,
            2-3 times faster per step than ``TraceEnum_ELBO``), ``num_samples``
            (4000 draws), ``resample`` (True: PSIS importance resampling of the
            draws when k-hat < 0.7), ``subsample_size`` (None; an int makes it
            minibatch SVI on a subsampled data plate).
            For ``"nuts"``: ``num_samples`` (1000), ``warmup_steps`` (1000),
            ``num_chains`` (2, one after another, each started at a draw from
            the Laplace approximation), ``enumerate`` (False: NUTS on the
            potential with z summed by log-sum-exp; True: Pyro's NUTS on the
            model with ``z`` enumerated, about 5 times slower, same posterior),
            ``jit_compile`` (True: compile the potential with the PyTorch JIT),
            ``target_accept_prob`` (0.8), ``max_tree_depth`` (10).
            ``num_chains`` run in parallel processes where the cores allow
            (``chain_method``); see :class:`~probmodels.infer.config.NUTSConfig`.
        num_threads : int or None, default 1
            Torch threads during the fit, restored afterwards (small models run
            fastest on one; ``None`` leaves torch's setting alone).
        device : None or "cpu"
            The statistical models compute in float64 on the CPU.

        Returns
        -------
        GMMFit

        Raises
        ------
        ValueError
            ``n_components`` is not below the number of rows, or a feature is
            constant (zero spread, or below 1e-12 of its level).

        Warns
        -----
        UserWarning
            "orientation check": an array (not a DataFrame) with more columns
            than rows; pass ``x.T`` if its rows are features.
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
            data_options={"sample_weight": sample_weight},
        )

    def default_config(self, method: str):
        return {"svi": GMMSVIConfig, "nuts": GMMNUTSConfig}[method]()

    def _prepare(self, data, sample_weight=None) -> _Problem:  # type: ignore[override]
        values, index, names = self._check_data(data)
        w = self._check_weights(sample_weight, values.shape[0])
        x = torch.as_tensor(values, dtype=DTYPE)
        return _Problem(
            x=x,
            w=None if w is None else torch.as_tensor(w, dtype=DTYPE),
            layout=self._layout(x.shape[1]),
            priors=self.resolved_priors(x),
            index=index,
            names=tuple(names),
            named=isinstance(data, pd.DataFrame),
        )

    # --------------------------------------------------------- the methods
    def _fit_svi(self, problem: _Problem, config: GMMSVIConfig, run: Run) -> Outcome:
        return fit_svi(problem, config, run)

    def _nuts_target(self, problem: _Problem, config: GMMNUTSConfig, run: Run):  # type: ignore[override]
        x, w, priors, layout = problem.x, problem.w, problem.priors, problem.layout
        packing, found = starts(x, w, priors, layout, seed_stream(run.seed, "em"), num_starts=3)
        mode = max(found, key=lambda s: s[1])[0]
        problem.pivot = mode
        L = None if config.enumerate else laplace(x, w, packing, mode)
        L = torch.eye(packing.dim, dtype=DTYPE) * 0.1 if L is None else L
        return MixtureTarget(
            x=x,
            w=w,
            priors=priors,
            layout=layout,
            mode=mode,
            scale_tril=L,
            jit_compile=config.jit_compile,
            enumerate=config.enumerate,
        )

    def _from_nuts(self, problem: _Problem, samples) -> dict[str, np.ndarray]:
        layout = problem.layout
        if "u" not in samples:
            return {
                k: samples[k].reshape(samples[k].shape[:2] + layout.site_shape(k))
                for k in layout.sites
            }
        u = torch.as_tensor(samples["u"])  # (chain, draw, dim)
        packing = Packing(problem.priors, layout)
        with torch.no_grad():
            flat, _ = packing.unpack(u.reshape(-1, packing.dim))
        return {k: v.reshape(u.shape[:2] + v.shape[1:]).numpy() for k, v in flat.items()}

    def _postprocess(self, problem: _Problem, outcome: Outcome) -> Outcome:
        layout = problem.layout
        if layout.univariate:
            return outcome
        # D > 1: every draw's components relabelled to the pivot, the MAP with its
        # components sorted by the first feature's mean (module docstring)
        pivot, _ = Packing(problem.priors, layout).unpack(problem.pivot.unsqueeze(0))  # type: ignore[union-attr]
        order = np.argsort(pivot["mu"][0, :, 0].numpy(), kind="stable")
        C, S = outcome.draws["pi"].shape[:2]
        flat = relabel(
            {k: v.reshape((C * S,) + v.shape[2:]) for k, v in outcome.draws.items()},
            pivot["mu"][0].numpy()[order],
            problem.x.std(0).numpy() + 1e-12,
        )
        outcome.draws = {k: v.reshape((C, S) + v.shape[1:]) for k, v in flat.items()}
        return outcome

    def _result(self, problem: _Problem, outcome: Outcome, *, method: str, seed: int, config):
        return result_class("GaussianMixture")(
            draws=outcome.draws,
            method=method,
            seed=seed,
            losses=outcome.losses,
            options=asdict(config),
            diagnostics=outcome.diagnostics,
            sample_stats=outcome.sample_stats,
            gmm=self,
            data=problem.x.numpy(),
            index=problem.index,
            feature_names=problem.names,
            named_features=problem.named,
            sample_weight=None if problem.w is None else problem.w.numpy(),
            priors_used=problem.priors,
        )
