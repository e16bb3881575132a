"""The result of a Bayesian AR(p) fit: draws, forecasts, checks, ArviZ export, persistence.

Every draws x data computation (log-likelihood, posterior predictive) runs in
numpy on the lag matrix, in chunks of draws so that the temporary arrays stay
bounded (``_CHUNK`` numbers at a time); only the result itself has the full size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from probmodels import _priors
from probmodels._validation import check_int
from probmodels.data import TimeSeriesData, extend_index
from probmodels.models.ar.design import DTYPE, recurse, stationary
from probmodels.models.ar.model import BayesianAR
from probmodels.results import FitResult, index_from_json, index_to_json

__all__ = ["ARFit"]

#: numbers in one temporary array of a draws x time computation (32 MB of float64)
_CHUNK = 4_000_000


@dataclass(repr=False, kw_only=True)
class ARFit(FitResult):
    """The result of :meth:`BayesianAR.fit`.

    Draws: ``mu`` ``(chain, draw, series)``, ``phi`` ``(chain, draw, series, lag)``,
    ``sigma`` ``(chain, draw, series)`` (``series`` has length 1 for one series;
    :meth:`to_arviz` and :meth:`summary` drop it then), and with missing values
    ``y_missing`` ``(chain, draw, missing)`` at :attr:`missing_index`.
    """

    ar: BayesianAR
    data: TimeSeriesData
    priors_used: dict[str, Any] = field(default_factory=dict)
    #: ``(m, 2)`` (time position, series position) of the modelled missing values, whose
    #: draws are ``draws["y_missing"]`` ``(chain, draw, m)``; None for complete data
    missing_index: np.ndarray | None = None

    model_name = "BayesianAR"

    # ---------------------------------------------------------- helpers
    @property
    def order(self) -> int:
        return self.ar.order

    @property
    def hold_back(self) -> int:
        return self.ar.effective_hold_back

    def _describe(self) -> str:
        return f"{self.ar!r}, {self.data.num_series} series x {self.data.num_steps} steps"

    def _flat(self, name: str) -> np.ndarray:
        v = np.asarray(self.draws[name], dtype=np.float64)
        return v.reshape((-1,) + v.shape[2:])

    def _hold_back(self, hold_back: int | None) -> int:
        h = (
            self.hold_back
            if hold_back is None
            else check_int(hold_back, "hold_back", minimum=self.hold_back)
        )
        if h >= self.data.num_steps:
            raise ValueError(
                f"hold_back must be below the series length {self.data.num_steps}, got {h}."
            )
        return h

    def _series(self, sl: slice) -> np.ndarray:
        """The series of the draws ``sl``, ``(draws, T, S)``: the data with each draw's
        imputed missing values (the same data for every draw without missing values)."""
        values = self.data.values
        n = sl.stop - sl.start
        if self.missing_index is None:
            return np.broadcast_to(values, (n,) + values.shape)
        out = np.repeat(values[None], n, axis=0)
        t, s = self.missing_index[:, 0], self.missing_index[:, 1]
        out[:, t, s] = self._flat("y_missing")[sl]
        return out

    def _rows(self, sl: slice, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Lag matrices and targets of the modelled steps from ``h`` for the draws ``sl``:
        ``(n, S, p)`` and ``(n, S)`` for complete data (the same for every draw), else
        ``(draws, n, S, p)`` and ``(draws, n, S)`` with each draw's imputed values."""
        Y = self.data.values if self.missing_index is None else self._series(sl)
        T = Y.shape[-2]
        X = np.stack([Y[..., h - 1 - i : T - 1 - i, :] for i in range(self.order)], axis=-1)
        return X, Y[..., h:, :]

    def _chunks(self, rows: int):
        N = self.num_chains * self.num_draws
        size = max(1, _CHUNK // max(1, rows * self.data.num_series * (self.order + 1)))
        return [slice(i, min(i + size, N)) for i in range(0, N, size)]

    def _loc(self, X: np.ndarray, sl: slice) -> np.ndarray:
        """``mu + X phi`` of the draws ``sl``: ``(draws, n, S)``."""
        mu, phi = self._flat("mu")[sl], self._flat("phi")[sl]
        lags = np.einsum("nsp,dsp->dns" if X.ndim == 3 else "dnsp,dsp->dns", X, phi)
        return mu[:, None, :] + lags

    def _missing_targets(self, h: int) -> np.ndarray:
        """``(n, S)``: True where the target of a modelled step (from ``h``) is missing."""
        return np.isnan(self.data.values[h:])

    # ---------------------------------------------------------- public
    def log_likelihood(self, *, hold_back: int | None = None) -> np.ndarray:
        """Pointwise log-likelihood ``(chain, draw, time, series)`` of the modelled steps
        (those from ``hold_back``, by default the fit's, on); NaN where the step's value is
        missing (with missing lags, each draw's imputed values are used)."""
        h = self._hold_back(hold_back)
        sigma = self._flat("sigma")
        out = np.empty((sigma.shape[0], self.data.num_steps - h, self.data.num_series))
        for sl in self._chunks(out.shape[1]):
            X, target = self._rows(sl, h)
            s = sigma[sl][:, None, :]
            z = (target - self._loc(X, sl)) / s
            out[sl] = -0.5 * math.log(2 * math.pi) - np.log(s) - 0.5 * z * z
        out[:, self._missing_targets(h)] = np.nan
        return self._shape_out(out)

    def posterior_predictive(
        self, *, seed: int | None = None, hold_back: int | None = None
    ) -> np.ndarray:
        """One-step-ahead replicated data ``(chain, draw, time, series)`` given the lags."""
        h = self._hold_back(hold_back)
        sigma = self._flat("sigma")
        rng = np.random.default_rng(self.seed if seed is None else seed)
        out = np.empty((sigma.shape[0], self.data.num_steps - h, self.data.num_series))
        for sl in self._chunks(out.shape[1]):
            X, _ = self._rows(sl, h)
            eps = rng.standard_normal((sl.stop - sl.start,) + out.shape[1:])
            out[sl] = self._loc(X, sl) + sigma[sl][:, None, :] * eps
        return self._shape_out(out)

    def imputed(self, *, quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
        """The posterior of the missing values: one row per missing value, indexed by its
        time label (and series for several), columns ``mean``, ``sd`` and ``q<quantile>``."""
        if self.missing_index is None:
            return pd.DataFrame(columns=["mean", "sd"] + [f"q{q:g}" for q in quantiles])
        draws = self._flat("y_missing")
        t, s = self.missing_index[:, 0], self.missing_index[:, 1]
        table = {"mean": draws.mean(0), "sd": draws.std(0, ddof=1)}
        for q, values in zip(quantiles, np.quantile(draws, list(quantiles), axis=0)):
            table[f"q{q:g}"] = values
        if self.data.univariate:
            index = self.data.index[t]
        else:
            index = pd.MultiIndex.from_arrays(
                [self.data.index[t], [self.data.columns[i] for i in s]],
                names=[self.data.index.name or "time", "series"],
            )
        return pd.DataFrame(table, index=index)

    def forecast_paths(self, steps: int, *, seed: int | None = None) -> np.ndarray:
        """Simulated future paths, shape ``(chain * draw, steps, series)``.

        Each draw of ``(mu, phi, sigma)`` runs the recursion forward from the last
        ``order`` observed values, feeding each simulated value back in.
        ``seed`` defaults to the fit's seed, so repeated calls agree.
        """
        steps = check_int(steps, "steps", minimum=1)
        mu, phi, sigma = (torch.as_tensor(self._flat(k)) for k in ("mu", "phi", "sigma"))
        N, p, S = mu.shape[0], self.order, self.data.num_series
        # the last p values of each draw's series (imputed where they are missing)
        init = torch.as_tensor(np.ascontiguousarray(self._series(slice(0, N))[:, -p:]), dtype=DTYPE)
        eps = torch.randn((N, steps, S), generator=self._rng(seed), dtype=DTYPE)
        return recurse(mu, phi, sigma.unsqueeze(-2) * eps, init.expand(N, p, S)).numpy()

    def forecast(
        self, steps: int, *, quantiles: Sequence[float] = (0.05, 0.5, 0.95), seed: int | None = None
    ) -> pd.DataFrame:
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
        paths = self.forecast_paths(steps, seed=seed)  # (N, steps, S)
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
        unit circle (:func:`~probmodels.models.ar.design.stationary`).
        """
        prob = stationary(self._flat("phi")).mean(0)  # (S,)
        if self.data.univariate:
            return float(prob[0])
        return pd.Series(prob, index=list(self.data.columns), name="P(stationary)")

    def _posterior(self) -> tuple[dict[str, np.ndarray], dict[str, list[str]], dict[str, Any]]:
        """Posterior variables, their dims and coords as exported (series dropped for one)."""
        post = {k: np.asarray(self.draws[k]) for k in ("mu", "phi", "sigma")}
        lags = np.arange(1, self.order + 1)
        extra_dims, extra_coords = {}, {}
        if self.missing_index is not None:
            post["y_missing"] = np.asarray(self.draws["y_missing"])
            t, s = self.missing_index[:, 0], self.missing_index[:, 1]
            labels = (
                [str(self.data.index[i]) for i in t]
                if self.data.univariate
                else [f"{self.data.index[i]}, {self.data.columns[j]}" for i, j in zip(t, s)]
            )
            extra_dims, extra_coords = {"y_missing": ["missing"]}, {"missing": labels}
        if self.data.univariate:
            post.update(
                mu=post["mu"][..., 0], phi=post["phi"][..., 0, :], sigma=post["sigma"][..., 0]
            )
            return (
                post,
                {"mu": [], "phi": ["lag"], "sigma": [], **extra_dims},
                {"lag": lags, **extra_coords},
            )
        dims = {"mu": ["series"], "phi": ["series", "lag"], "sigma": ["series"], **extra_dims}
        return post, dims, {"lag": lags, "series": list(self.data.columns), **extra_coords}

    def _summary_variables(self):
        post, dims, coords = self._posterior()
        return post, {k: [list(coords[d]) for d in dims[k]] for k in post}

    def to_arviz(
        self, *, seed: int | None = None, hold_back: int | None = None, num_draws: int | None = None
    ):
        """ArviZ data: posterior, posterior_predictive, log_likelihood, observed_data
        (and sample_stats for NUTS), dims ``chain, draw, lag, time`` (and ``series``).

        ``hold_back`` (default: the fit's) scores only the steps from ``hold_back``
        on, so that fits of different orders can be compared on the same steps:
        ``az.compare({"AR(2)": f2.to_arviz(hold_back=6), "AR(6)": f6.to_arviz(hold_back=6)})``
        (or use :func:`~probmodels.models.ar.compare.compare_orders`). ``num_draws``
        exports that many evenly spaced draws of each chain; an export of more than 8 GB
        of draws x data arrays is refused up front, saying which ``num_draws`` fits.
        """
        import pyro

        from probmodels.export import to_arviz

        if num_draws is not None:
            return self._thinned(num_draws).to_arviz(seed=seed, hold_back=hold_back)
        h = self._hold_back(hold_back)
        self._check_export_size(
            2 * (self.data.num_steps - h) * self.data.num_series,
            "log_likelihood and posterior_predictive",
        )
        post, dims, coords = self._posterior()
        # the steps whose values are observed in every series (LOO scores observations)
        keep = ~self._missing_targets(h).any(1)
        # (indexing only when a step is left out: the arrays are the result's bulk)
        pick = slice(None) if keep.all() else keep
        ll = self.log_likelihood(hold_back=h)[:, :, pick]
        pp = self.posterior_predictive(seed=seed, hold_back=h)[:, :, pick]
        obs = self.data.values[h:][pick]
        coords["time"] = self.data.index[h:][pick]
        if self.data.univariate:
            ll, pp, obs = ll[..., 0], pp[..., 0], obs[..., 0]
            dims["y"] = ["time"]
        else:
            dims["y"] = ["time", "series"]
        return to_arviz(
            posterior=post,
            posterior_predictive={"y": pp},
            log_likelihood={"y": ll},
            observed_data={"y": obs},
            sample_stats=self.sample_stats or None,
            coords=coords,
            dims=dims,
            attrs={
                "inference_library": "pyro",
                "inference_library_version": pyro.__version__,
                "model": repr(self.ar),
                "method": self.method,
                "seed": int(self.seed),
            },
        )

    def plot_forecast(
        self,
        steps: int = 20,
        *,
        levels: Sequence[float] = (0.5, 0.8, 0.95),
        quantiles: tuple[float, float] | None = None,
        series: str | None = None,
        history: int | None = None,
        ax=None,
        seed: int | None = None,
    ):
        """Fan chart of the forecast: the history, the forecast mean and nested central
        intervals at ``levels`` (:func:`probmodels.plots.ar.plot_fan_chart`); with
        ``quantiles=(lo, hi)`` a single band between those quantiles instead. Returns the Axes."""
        from probmodels.plots.ar import _series_position, plot_fan_chart

        if quantiles is None:
            return plot_fan_chart(
                self, steps, levels=levels, series=series, history=history, seed=seed, ax=ax
            )
        from probmodels.plots import plot_forecast

        lo, hi = quantiles
        s, col = _series_position(self, series)
        table = self.forecast(steps, quantiles=(lo, hi), seed=seed)
        if not self.data.univariate:
            table = table[col]
        hist = pd.Series(self.data.values[:, s], index=self.data.index, name=col)
        if history is not None:
            hist = hist.iloc[-check_int(history, "history", minimum=1) :]
        return plot_forecast(
            hist,
            table,
            lower=f"q{lo:g}",
            upper=f"q{hi:g}",
            ax=ax,
            title=f"{self.ar!r} forecast, {int(round((hi - lo) * 100))}% band",
        )

    def plot_residual_diagnostics(
        self, *, series: str | None = None, seed: int | None = None, axes=None
    ):
        """Residual series, residual ACF with its ±1.96/√n band, normal QQ and PIT histogram
        on a 2 x 2 figure (:func:`probmodels.plots.ar.plot_residual_diagnostics`); returns
        the Axes array."""
        from probmodels.plots.ar import plot_residual_diagnostics

        return plot_residual_diagnostics(self, series=series, seed=seed, axes=axes)

    def plot_stationarity(self, *, series: str | None = None, ax=None):
        """AR(2) only: the stationarity triangle with the posterior draws of ``(phi1, phi2)``
        (:func:`probmodels.plots.ar.plot_stationarity_region`); returns the Axes."""
        from probmodels.plots.ar import plot_stationarity_region

        return plot_stationarity_region(self, series=series, ax=ax)

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
        arrays = {"data": self.data.values}
        if self.missing_index is not None:
            arrays["missing_index"] = self.missing_index
        return meta, arrays

    @classmethod
    def _from_state(cls, common, meta, arrays):
        ar = BayesianAR(
            meta["order"],
            hold_back=meta["hold_back"],
            priors={k: _priors.from_json(v) for k, v in meta["user_priors"].items()},
        )
        data = TimeSeriesData(
            values=np.ascontiguousarray(arrays["data"], dtype=np.float64),
            index=index_from_json(meta["index"]),
            columns=tuple(meta["columns"]),
            univariate=meta["univariate"],
        )
        priors_used = {k: _priors.from_json(v) for k, v in meta["priors_used"].items()}
        _check_draws(common["draws"], ar.order, data.num_series, data.num_steps)
        missing = arrays.get("missing_index")
        return cls(
            **common,
            ar=ar,
            data=data,
            priors_used=priors_used,
            missing_index=None if missing is None else np.asarray(missing, dtype=np.int64),
        )


def _check_draws(draws, order: int, num_series: int, num_steps: int) -> None:
    """The saved draws agree with the saved order and data (a tampered file does not)."""
    phi, mu, sigma = (np.shape(draws.get(k, ())) for k in ("phi", "mu", "sigma"))
    if len(phi) != 4 or phi[-1] != order:
        raise ValueError(
            f"the metadata says order {order}, the file holds phi draws of "
            f"{phi[-1] if phi else 0} lag(s) (shape {phi})"
        )
    if not (mu == sigma == phi[:3]) or phi[2] != num_series:
        raise ValueError(
            f"the draws (mu {mu}, phi {phi}, sigma {sigma}) do not match the saved "
            f"data's {num_series} series"
        )
    if num_steps <= order:
        raise ValueError(f"the saved data have {num_steps} steps, too few for order {order}")
