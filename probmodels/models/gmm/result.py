"""The result of a Gaussian mixture fit: responsibilities, predictions, BIC, ArviZ, persistence."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyro
import pyro.poutine as poutine
import torch

from probmodels import _priors
from probmodels._validation import check_int, check_seed
from probmodels.data import as_data_matrix
from probmodels.models.gmm.model import GaussianMixture
from probmodels.models.gmm.sites import (
    DTYPE,
    MAX_PLATE_NESTING,
    Layout,
    align,
    chunks,
    in_component_plate,
    joint_terms,
    logsumexp_components,
    mixture_model,
)
from probmodels.models.gmm.start import em
from probmodels.results import FitResult, index_from_json, index_to_json

__all__ = ["GMMFit"]


@dataclass(repr=False, kw_only=True)
class GMMFit(FitResult):
    """The result of :meth:`GaussianMixture.fit`.

    Draws ``(chain, draw) + site_shape``: ``pi`` ``(K,)``, ``mu`` ``(K,)`` (1-D)
    or ``(K, D)``, ``sigma`` ``(K,)`` or ``(K, D)``, ``L_omega`` ``(K, D, D)``
    (``"full"``, ``D > 1``). Components are ordered by their mean (1-D) or
    relabelled to the pivot (``D > 1``, see the module docstring).

    ``named_features`` is True when the fit saw a DataFrame: a DataFrame ``x``
    given to the predictors is then matched to ``feature_names`` by column name
    (reordered; missing or extra columns raise), as scikit-learn does. Arrays
    are taken by position.
    """

    gmm: GaussianMixture
    data: np.ndarray  # (data, feature) float64
    index: pd.Index | None = None
    feature_names: tuple[str | int, ...] = ()
    named_features: bool = False
    sample_weight: np.ndarray | None = None
    priors_used: dict[str, Any] = field(default_factory=dict)

    model_name = "GaussianMixture"

    # ---------------------------------------------------------- helpers
    @property
    def n_components(self) -> int:
        return self.gmm.n_components

    @property
    def layout(self) -> Layout:
        return self.gmm._layout(self.data.shape[1])

    def _flat(self) -> dict[str, torch.Tensor]:
        return {
            k: torch.as_tensor(v.reshape((-1,) + v.shape[2:]), dtype=DTYPE)
            for k, v in self.draws.items()
        }

    def _check_x(self, x) -> torch.Tensor:
        D = self.data.shape[1]
        values, _, names = as_data_matrix(x, name="x")
        if self.named_features and isinstance(x, pd.DataFrame):
            wanted = list(self.feature_names)
            if set(wanted) != set(names) and len({str(n) for n in names}) == len(names):
                # a fit saved when integer labels were stored as strings ("0", "1")
                by_text = {str(n): n for n in names}
                if all(str(n) in by_text for n in wanted) and len(wanted) == len(names):
                    wanted = [by_text[str(n)] for n in wanted]
            missing = [n for n in wanted if n not in names]
            extra = [n for n in names if n not in wanted]
            if missing or extra:
                raise ValueError(
                    f"x must have the columns the mixture was fitted on, "
                    f"{list(self.feature_names)}, got {list(names)} (missing {missing}, extra "
                    f"{extra}); select them, e.g. x[{list(self.feature_names)}], or pass an "
                    f"array to match columns by position."
                )
            values = values[:, [names.index(n) for n in wanted]]
        if values.shape[1] != D:
            raise ValueError(
                f"x must have {D} feature(s) like the data the mixture was fitted on "
                f"({list(self.feature_names)}), got {values.shape[1]} (shape {np.shape(x)}); "
                f"pass an array of shape (n, {D})."
            )
        return torch.as_tensor(values, dtype=DTYPE)

    def _draw_terms(self, x: torch.Tensor):
        """``log pi_k + log N(x_n | k)`` per draw, in chunks: yields ``(chunk, N, K)``."""
        flat = self._flat()
        S = flat["pi"].shape[0]
        for sl in chunks(S, x.shape[0], self.layout):
            a = align({k: v[sl] for k, v in flat.items()}, self.layout, plated=False)
            yield joint_terms(x, a)

    def _conditioned_model(self, x: torch.Tensor, values: Mapping[str, torch.Tensor]):
        """The model conditioned on ``S`` draws, vectorised in a plate at dim -2."""
        layout = self.layout
        S = values["pi"].shape[0]
        cond = {}
        for k, v in values.items():
            # outside the component plate a site's batch is (S, 1); inside it, (S, K)
            cond[k] = v if in_component_plate(k, layout) else v.unsqueeze(1)
        model = partial(mixture_model, x, self.priors_used, layout)

        def vectorised():
            with pyro.plate("_draws", S, dim=-MAX_PLATE_NESTING - 1):
                return poutine.condition(model, cond)()

        return vectorised

    def _assignments(self, x: torch.Tensor, temperature: int, seed: int | None) -> np.ndarray:
        """``infer_discrete`` of ``z`` for every draw: ``(chain * draw, N)``."""
        from pyro.infer import infer_discrete

        flat = self._flat()
        S = flat["pi"].shape[0]
        out = []
        with torch.random.fork_rng():
            torch.manual_seed(self.seed if seed is None else check_seed(seed))
            for sl in chunks(S, x.shape[0], self.layout):
                model = self._conditioned_model(x, {k: v[sl] for k, v in flat.items()})
                sampler = infer_discrete(
                    model, first_available_dim=-MAX_PLATE_NESTING - 2, temperature=temperature
                )
                with torch.no_grad():
                    tr = poutine.trace(sampler).get_trace()
                out.append(tr.nodes["z"]["value"].reshape(-1, x.shape[0]))
        return torch.cat(out).numpy()

    # ---------------------------------------------------------- public
    def predict_proba(self, x=None) -> np.ndarray:
        """Posterior responsibilities ``p(z_n = k | x_n, data)``, shape ``(n, K)``.

        Exact for each posterior draw (``softmax_k(log pi_k + log N(x_n | mu_k, Sigma_k))``),
        averaged over draws. ``x`` defaults to the fitted data.
        """
        x = torch.as_tensor(self.data, dtype=DTYPE) if x is None else self._check_x(x)
        total = torch.zeros(x.shape[0], self.n_components, dtype=DTYPE)
        for terms in self._draw_terms(x):
            total += torch.softmax(terms, dim=-1).sum(0)
        return (total / (self.num_chains * self.num_draws)).numpy()

    def predict(self, x=None) -> np.ndarray:
        """Most probable component of each point, ``(n,)`` int.

        ``infer_discrete`` at temperature 0 gives each posterior draw's most
        probable assignment; the result is the component chosen by the most
        draws (ties: the lower index).
        """
        x = torch.as_tensor(self.data, dtype=DTYPE) if x is None else self._check_x(x)
        z = self._assignments(x, temperature=0, seed=None)  # (S, n)
        counts = np.stack([(z == k).sum(0) for k in range(self.n_components)], axis=1)
        return counts.argmax(1)

    def sample_assignments(self, x=None, *, seed: int | None = None) -> np.ndarray:
        """Assignments drawn from ``p(z | x, theta)`` (``infer_discrete`` at temperature 1),
        one per posterior draw: shape ``(chain * draw, n)``. ``seed`` defaults to the fit's."""
        x = torch.as_tensor(self.data, dtype=DTYPE) if x is None else self._check_x(x)
        return self._assignments(x, temperature=1, seed=seed)

    def log_likelihood(self, x=None) -> np.ndarray:
        """Pointwise ``log p(x_n | theta)`` with ``z`` summed out, shape ``(chain, draw, n)``."""
        x = torch.as_tensor(self.data, dtype=DTYPE) if x is None else self._check_x(x)
        ll = torch.cat([logsumexp_components(t) for t in self._draw_terms(x)])
        return self._shape_out(ll.numpy())

    def score(self, x=None) -> float:
        """Mean log posterior predictive density per point, ``mean_n log mean_s p(x_n | theta_s)``."""
        x = torch.as_tensor(self.data, dtype=DTYPE) if x is None else self._check_x(x)
        S = self.num_chains * self.num_draws
        # log sum_s p(x_n | theta_s), accumulated over chunks of draws (never (S, N) at once)
        total = torch.full((x.shape[0],), -math.inf, dtype=DTYPE)
        for terms in self._draw_terms(x):
            total = torch.logaddexp(total, torch.logsumexp(logsumexp_components(terms), 0))
        return float((total - math.log(S)).mean())

    def posterior_predictive(self, *, seed: int | None = None) -> np.ndarray:
        """Replicated data sets, one per draw: ``(chain, draw, data, feature)``."""
        flat = self._flat()
        S, N = flat["pi"].shape[0], self.data.shape[0]
        gen = self._rng(seed)
        z = torch.multinomial(flat["pi"], N, replacement=True, generator=gen)  # (S, N)
        a = align(flat, self.layout, plated=False)
        take = torch.arange(S)[:, None]
        loc = a.loc[:, 0][take, z]  # (S, N, D)
        scale = a.scale[:, 0][take, z]
        eps = torch.randn(loc.shape, generator=gen, dtype=DTYPE)
        if a.tril is not None:
            tril = a.tril[:, 0][take, z]  # (S, N, D, D)
            eps = (tril @ eps.unsqueeze(-1)).squeeze(-1)
        return self._shape_out((loc + scale * eps).numpy())

    def posterior_means(self) -> dict[str, np.ndarray]:
        """Posterior mean of each site (and ``cov``, ``(K, D, D)``)."""
        out = {k: v.reshape((-1,) + v.shape[2:]).mean(0) for k, v in self.draws.items()}
        out["cov"] = self.covariances().mean(0)
        return out

    def covariances(self) -> np.ndarray:
        """Component covariance matrices per draw, ``(chain * draw, K, D, D)``."""
        a = align(self._flat(), self.layout, plated=False)
        scale = a.scale[:, 0]  # (S, K, D)
        L = scale.unsqueeze(-1) * (
            a.tril[:, 0] if a.tril is not None else torch.eye(self.data.shape[1], dtype=DTYPE)
        )
        return (L @ L.transpose(-1, -2)).numpy()

    def to_arviz(self, *, seed: int | None = None, num_draws: int | None = None):
        """ArviZ data: posterior (dims ``component``, ``feature``), posterior_predictive,
        log_likelihood (one value per data point, ``z`` summed out, sample weights not
        applied), observed_data (and sample_stats for NUTS).

        The posterior holds ``pi``, ``mu`` and ``sigma`` and, for ``"full"`` covariance
        in ``D > 1``, ``Omega`` ``(component, feature_pair)``: the correlations
        ``Omega_k[i, j] = (L_k L_k^T)[i, j]`` for ``i > j`` (pairs in
        ``np.tril_indices(D, -1)`` order, labelled ``"<feature j>,<feature i>"``).
        The other entries of ``L_omega`` and ``Omega`` are fixed (zeros, ones) and
        would be constant rows in ``az.summary``; ``fit.draws["L_omega"]`` keeps the
        Cholesky factors.
        """
        from probmodels.export import to_arviz

        if num_draws is not None:
            return self._thinned(num_draws).to_arviz(seed=seed)
        self._check_export_size(
            self.data.shape[0] * (1 + self.data.shape[1]), "log_likelihood and posterior_predictive"
        )
        layout = self.layout
        post, dims, coords = self._posterior()
        coords["data"] = self.index
        pp = self.posterior_predictive(seed=seed)
        obs = self.data
        if layout.univariate:
            pp, obs = pp[..., 0], obs[:, 0]
            dims["x"] = ["data"]
        else:
            dims["x"] = ["data", "feature"]
        attrs = {
            "inference_library": "pyro",
            "inference_library_version": pyro.__version__,
            "model": repr(self.gmm),
            "method": self.method,
            "seed": int(self.seed),
        }
        ll = self.log_likelihood()
        # the observation x is (data[, feature]); its pointwise log-likelihood, z summed
        # out, has one value per point: (data)
        dims["log_likelihood/x"] = ["data"]
        return to_arviz(
            posterior=post,
            posterior_predictive={"x": pp},
            log_likelihood={"x": ll},
            observed_data={"x": obs},
            sample_stats=self.sample_stats or None,
            coords=coords,
            dims=dims,
            attrs=attrs,  # type: ignore[arg-type]
        )

    def _posterior(self) -> tuple[dict[str, np.ndarray], dict[str, list[str]], dict[str, Any]]:
        """The exported posterior variables (``Omega`` for ``L_omega``), their dims and coords."""
        layout = self.layout
        names = list(self.feature_names)
        post = {k: np.asarray(v) for k, v in self.draws.items()}
        coords: dict[str, Any] = {"component": np.arange(self.n_components)}
        if not layout.univariate:
            coords["feature"] = names
        if layout.full:
            L = post.pop("L_omega")  # (chain, draw, K, D, D)
            rows, cols = np.tril_indices(layout.D, -1)
            post["Omega"] = (L @ np.swapaxes(L, -1, -2))[..., rows, cols]  # (chain, draw, K, pair)
            coords["feature_pair"] = [f"{names[c]},{names[r]}" for r, c in zip(rows, cols)]
        return post, {k: layout.dims(k) for k in post}, coords

    def _summary_variables(self):
        post, dims, coords = self._posterior()
        return post, {k: [list(coords[d]) for d in dims[k]] for k in post}

    def _describe(self) -> str:
        return f"{self.gmm!r}, {self.data.shape[0]} points x {self.data.shape[1]} features"

    def bic(self, *, num_starts: int = 5) -> float:
        """Bayesian information criterion ``-2 log p(data | theta_hat) + p log N``; lower is
        better.

        ``theta_hat`` is the maximum-likelihood estimate, as in scikit-learn's
        ``GaussianMixture.bic``: the best of weighted EM from ``num_starts``
        k-means++ starts (seeded by the fit's seed), EM from the posterior means and
        the posterior draws. (The best
        draw alone sits about ``chi2_p / 2`` below the maximum, a bias against larger
        ``K``.)
        """
        num_starts = check_int(num_starts, "num_starts", minimum=1)
        w = torch.as_tensor(
            np.ones(self.data.shape[0]) if self.sample_weight is None else self.sample_weight,
            dtype=DTYPE,
        )
        # the best draw's weighted log-likelihood, over chunks of draws (never (S, N) at once)
        best = max(
            float((logsumexp_components(terms) * w).sum(-1).max())
            for terms in self._draw_terms(torch.as_tensor(self.data, dtype=DTYPE))
        )
        weights = w.numpy()
        rng = np.random.default_rng(self.seed)
        for _ in range(num_starts):
            best = max(best, float(em(self.data, weights, self.layout, rng)["loglik"]))
        # and EM from the posterior means: the maximum of the fit's own mode, which fresh
        # starts may miss where local maxima are many (digits, K = 10: 37 nats below it)
        mode = em(self.data, weights, self.layout, rng, init=self.posterior_means())
        best = max(best, float(mode["loglik"]))
        n = self.data.shape[0] if self.sample_weight is None else float(np.sum(self.sample_weight))
        return -2.0 * best + self.layout.num_parameters() * math.log(n)

    def plot_density(self, *, ax=None, feature: int | str = 0, bins: int = 40):
        """1-D: histogram, posterior mean density and its weighted components; returns the Axes."""
        from probmodels.plots.gmm import plot_mixture_density

        return plot_mixture_density(self, ax=ax, feature=feature, bins=bins)

    def plot_clusters(self, *, ax=None, features: tuple[int, int] = (0, 1)):
        """2-D scatter coloured by responsibility with covariance ellipses; returns the Axes."""
        from probmodels.plots.gmm import plot_mixture_scatter

        return plot_mixture_scatter(self, ax=ax, features=features)

    def plot_responsibilities(
        self, *, ax=None, features: tuple[int, int] = (0, 1), grid_size: int = 100
    ):
        """Posterior responsibilities ``p(z = k | x)`` over a grid of the data's range, in the
        component colours (:func:`probmodels.plots.gmm.plot_responsibility_map`); returns
        the Axes."""
        from probmodels.plots.gmm import plot_responsibility_map

        return plot_responsibility_map(self, features=features, grid_size=grid_size, ax=ax)

    # ------------------------------------------------------- persistence
    def _state(self):
        meta = {
            "n_components": self.gmm.n_components,
            "covariance": self.gmm.covariance,
            "user_priors": {k: _priors.to_json(v) for k, v in self.gmm.priors.items()},
            "priors_used": {k: _priors.to_json(v) for k, v in self.priors_used.items()},
            "index": index_to_json(self.index),
            "feature_names": list(self.feature_names),
            "named_features": bool(self.named_features),
        }
        arrays = {"data": self.data}
        if self.sample_weight is not None:
            arrays["sample_weight"] = self.sample_weight
        return meta, arrays

    @classmethod
    def _from_state(cls, common, meta, arrays):
        gmm = GaussianMixture(
            meta["n_components"],
            covariance=meta["covariance"],
            priors={k: _priors.from_json(v) for k, v in meta["user_priors"].items()},
        )
        priors_used = {k: _priors.from_json(v) for k, v in meta["priors_used"].items()}
        pi = np.shape(common["draws"].get("pi", ()))
        if len(pi) != 3 or pi[-1] != gmm.n_components:
            raise ValueError(
                f"the metadata says {gmm.n_components} components, the file holds "
                f"weight draws of shape {pi}"
            )
        return cls(
            **common,
            gmm=gmm,
            data=np.ascontiguousarray(arrays["data"], dtype=np.float64),
            index=index_from_json(meta["index"]),
            feature_names=tuple(meta["feature_names"]),
            # files written before the name check existed are matched by position
            named_features=bool(meta.get("named_features", False)),
            sample_weight=arrays.get("sample_weight"),
            priors_used=priors_used,
        )
