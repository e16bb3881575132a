"""The result of a Bayesian AR(p) fit: draws, forecasts, checks, ArviZ export, persistence.

Every draws x data computation (log-likelihood, posterior predictive) runs in
numpy on the lag matrix, in chunks of draws so that the temporary arrays stay
bounded (``_CHUNK`` numbers at a time); only the result itself has the full size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from probmodels import _priors
from probmodels._validation import check_int
from probmodels.data import TimeSeriesData, extend_index
from probmodels.models.ar.design import DTYPE, lag_matrix, recurse
from probmodels.models.ar.model import BayesianAR
from probmodels.results import FitResult, index_from_json, index_to_json

__all__ = ["ARFit"]

#: numbers in one temporary array of a draws x time computation (32 MB of float64)
_CHUNK = 4_000_000


@dataclass(repr=False)
class ARFit(FitResult):
    """The result of :meth:`BayesianAR.fit`.

    Draws: ``mu`` ``(chain, draw, series)``, ``phi`` ``(chain, draw, series, lag)``,
    ``sigma`` ``(chain, draw, series)`` (``series`` has length 1 for one series;
    :meth:`to_arviz` and :meth:`summary` drop it then).
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
        return self.ar.effective_hold_back

    def _describe(self) -> str:
        return (f"{self.ar!r}, {self.data.num_series} series x {self.data.num_steps} steps")

    def _flat(self, name: str) -> np.ndarray:
        v = np.asarray(self.draws[name], dtype=np.float64)
        return v.reshape((-1,) + v.shape[2:])

    def _rows(self, hold_back: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Lag matrix ``(n, S, p)`` and targets ``(n, S)`` of the steps ``t >= hold_back``."""
        h = self.hold_back if hold_back is None else check_int(hold_back, "hold_back",
                                                               minimum=self.hold_back)
        if h >= self.data.num_steps:
            raise ValueError(f"hold_back must be below the series length {self.data.num_steps}, got {h}.")
        y = torch.as_tensor(self.data.values, dtype=DTYPE)
        return lag_matrix(y, self.order, h).numpy(), self.data.values[h:]

    def _chunks(self, rows: int):
        N = self.num_chains * self.num_draws
        size = max(1, _CHUNK // max(1, rows * self.data.num_series))
        return [slice(i, min(i + size, N)) for i in range(0, N, size)]

    def _loc(self, X: np.ndarray, sl: slice) -> np.ndarray:
        """``mu + X phi`` of the draws ``sl``: ``(draws, n, S)``."""
        mu, phi = self._flat("mu")[sl], self._flat("phi")[sl]
        return mu[:, None, :] + np.einsum("nsp,dsp->dns", X, phi)

    # ---------------------------------------------------------- public
    def log_likelihood(self, *, hold_back: int | None = None) -> np.ndarray:
        """Pointwise log-likelihood ``(chain, draw, time, series)`` of the modelled steps
        (those from ``hold_back``, by default the fit's, on)."""
        X, target = self._rows(hold_back)
        sigma = self._flat("sigma")
        out = np.empty((sigma.shape[0],) + target.shape)
        for sl in self._chunks(target.shape[0]):
            s = sigma[sl][:, None, :]
            z = (target[None] - self._loc(X, sl)) / s
            out[sl] = -0.5 * math.log(2 * math.pi) - np.log(s) - 0.5 * z * z
        return self._shape_out(out)

    def posterior_predictive(self, *, seed: int | None = None,
                             hold_back: int | None = None) -> np.ndarray:
        """One-step-ahead replicated data ``(chain, draw, time, series)`` given the observed lags."""
        X, target = self._rows(hold_back)
        sigma = self._flat("sigma")
        rng = np.random.default_rng(self.seed if seed is None else seed)
        out = np.empty((sigma.shape[0],) + target.shape)
        for sl in self._chunks(target.shape[0]):
            eps = rng.standard_normal((sl.stop - sl.start,) + target.shape)
            out[sl] = self._loc(X, sl) + sigma[sl][:, None, :] * eps
        return self._shape_out(out)

    def forecast_paths(self, steps: int, *, seed: int | None = None) -> np.ndarray:
        """Simulated future paths, shape ``(chain * draw, steps, series)``.

        Each draw of ``(mu, phi, sigma)`` runs the recursion forward from the last
        ``order`` observed values, feeding each simulated value back in.
        ``seed`` defaults to the fit's seed, so repeated calls agree.
        """
        steps = check_int(steps, "steps", minimum=1)
        mu, phi, sigma = (torch.as_tensor(self._flat(k)) for k in ("mu", "phi", "sigma"))
        y = torch.as_tensor(self.data.values, dtype=DTYPE)
        init = y[-self.order:].expand(mu.shape[:1] + (self.order, y.shape[1]))  # (N, p, S)
        eps = torch.randn((mu.shape[0], steps, y.shape[1]), generator=self._rng(seed), dtype=DTYPE)
        return recurse(mu, phi, sigma.unsqueeze(-2) * eps, init).numpy()

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
        index = extend_index(self.data.index, steps)
        paths = self.forecast_paths(steps, seed=seed)                 # (N, steps, S)
        frames = {}
        for s, col in enumerate(self.data.columns):
            stats = {"mean": paths[:, :, s].mean(0)}
            for q, values in zip(qs, np.quantile(paths[:, :, s], qs, axis=0)):
                stats[f"q{q:g}"] = values
            frames[col] = pd.DataFrame(stats, index=index)
        if self.data.univariate:
            return frames[self.data.columns[0]]
        return pd.concat(frames, axis=1, names=["series", "statistic"])

    def stationarity_probability(self) -> float | pd.Series:
        """Posterior probability that the process is stationary.

        Stationary means every root of ``1 - sum_i phi_i z^i`` lies outside the
        unit circle, i.e. every eigenvalue of the companion matrix lies inside it.
        """
        phi = self._flat("phi")                                       # (N, S, p)
        N, S, p = phi.shape
        companion = np.zeros((N, S, p, p))
        companion[..., 0, :] = phi
        companion[..., np.arange(1, p), np.arange(p - 1)] = 1.0
        radius = np.abs(np.linalg.eigvals(companion)).max(-1)         # (N, S)
        prob = (radius < 1.0).mean(0)
        if self.data.univariate:
            return float(prob[0])
        return pd.Series(prob, index=list(self.data.columns), name="P(stationary)")

    def _posterior(self) -> tuple[dict[str, np.ndarray], dict[str, list[str]], dict[str, Any]]:
        """Posterior variables, their dims and coords as exported (series dropped for one)."""
        post = {k: np.asarray(self.draws[k]) for k in ("mu", "phi", "sigma")}
        lags = np.arange(1, self.order + 1)
        if self.data.univariate:
            post = {"mu": post["mu"][..., 0], "phi": post["phi"][..., 0, :], "sigma": post["sigma"][..., 0]}
            return post, {"mu": [], "phi": ["lag"], "sigma": []}, {"lag": lags}
        dims = {"mu": ["series"], "phi": ["series", "lag"], "sigma": ["series"]}
        return post, dims, {"lag": lags, "series": list(self.data.columns)}

    def _summary_variables(self):
        post, dims, coords = self._posterior()
        return post, {k: [list(coords[d]) for d in dims[k]] for k in post}

    def to_arviz(self, *, seed: int | None = None, hold_back: int | None = None):
        """ArviZ data: posterior, posterior_predictive, log_likelihood, observed_data
        (and sample_stats for NUTS), dims ``chain, draw, lag, time`` (and ``series``).

        ``hold_back`` (default: the fit's) scores only the steps from ``hold_back``
        on, so that fits of different orders can be compared on the same steps:
        ``az.compare({"AR(2)": f2.to_arviz(hold_back=6), "AR(6)": f6.to_arviz(hold_back=6)})``
        (or use :func:`~probmodels.models.ar.compare.compare_orders`).
        """
        import pyro

        from probmodels.export import to_arviz

        h = self.hold_back if hold_back is None else hold_back
        post, dims, coords = self._posterior()
        ll = self.log_likelihood(hold_back=h)
        pp = self.posterior_predictive(seed=seed, hold_back=h)
        obs = self.data.values[h:]
        coords["time"] = self.data.index[h:]
        if self.data.univariate:
            ll, pp, obs = ll[..., 0], pp[..., 0], obs[..., 0]
            dims["y"] = ["time"]
        else:
            dims["y"] = ["time", "series"]
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
