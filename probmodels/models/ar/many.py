r"""Thousands of series: the exact AR posterior of each series of a long table, in chunks.

:meth:`BayesianAR.fit_many` takes one row per (series, time), splits the table into
checked series (:func:`probmodels.scale.split_long`: each on its own regular index,
gaps as missing values), groups them into chunks and maps one pure, module-level
function over the chunks (:func:`probmodels.scale.map_chunks`), here or on a Dask
cluster. A chunk function returns only the per-series summaries, never the draws,
so memory is bounded by one chunk's draws plus the summary table.

Every series draws from its own random streams, derived from one seed and keyed by
the series id (:func:`~probmodels.models.ar.posterior.series_rngs`), so the result
is the same whatever the chunking or the number of workers, and one series fitted
alone (:meth:`ManyARFit.fit_one`) gets exactly its draws in the table. Forecasts are
drawn again, chunk by chunk, from the same streams.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch

from probmodels import _priors
from probmodels._validation import check_choice, check_int
from probmodels.data import extend_index, regular_index
from probmodels.diagnostics import HDI_PROB, KHAT_THRESHOLD, RHAT_THRESHOLD, ess_bulk, hdi, rhat
from probmodels.infer.runtime import limit_threads, resolve_progress, resolve_seed, seed_stream
from probmodels.models.ar.design import DTYPE, stationary
from probmodels.models.ar.model import BayesianAR
from probmodels.models.ar.posterior import SeriesDraws, draws_for_series
from probmodels.results import (
    FitResult,
    _name_from_json,
    _name_to_json,
    index_from_json,
    index_to_json,
)
from probmodels.scale import LongSeries, chunked, map_chunks, split_long
from probmodels.scale.long import ERRORS, Errors

__all__ = ["Chunk", "ManyARFit", "fit_many", "forecast_chunk", "summarize_chunk"]

#: series per chunk: a chunk's draws (series x draws x (order + 2) numbers) stay small
CHUNK_SIZE = 256
#: a series is flagged when the bulk ESS of a Markov chain (Gibbs) is below this
MIN_ESS = 400


@dataclass(frozen=True)
class Chunk:
    """Everything one chunk's fit needs (picklable, for Dask workers)."""

    order: int
    hold_back: int | None
    priors: Mapping[str, Any]
    seed: int
    num_samples: int
    series: tuple[LongSeries, ...]
    num_threads: int | None = 1


def _draws(chunk: Chunk) -> tuple[BayesianAR, list[SeriesDraws]]:
    ar = BayesianAR(chunk.order, priors=dict(chunk.priors), hold_back=chunk.hold_back)
    values = [s.values for s in chunk.series]
    padded = np.full((max(v.size for v in values), len(values)), np.nan)
    for j, v in enumerate(values):
        padded[: v.size, j] = v
    # the default priors are computed column by column, NaN-aware: the padding is left out
    priors = ar.resolved_priors(torch.as_tensor(padded, dtype=DTYPE))
    return ar, draws_for_series(
        values,
        [s.uid for s in chunk.series],
        priors,
        ar.order,
        ar.effective_hold_back,
        chunk.num_samples,
        chunk.seed,
    )


def _parameter_names(order: int) -> list[str]:
    return ["mu", *(f"phi[{i}]" for i in range(1, order + 1)), "sigma"]


def summarize_chunk(chunk: Chunk, hdi_prob: float = HDI_PROB) -> pd.DataFrame:
    """The summary rows of a chunk's series (see :meth:`ManyARFit.summary`)."""
    with limit_threads(chunk.num_threads):
        ar, results = _draws(chunk)
    p = ar.order
    X = np.stack([np.concatenate([r.beta, r.sigma[:, None]], 1) for r in results])  # (S, N, p + 2)
    S, N, m = X.shape
    bounds = hdi(X.transpose(1, 0, 2).reshape(1, N, S * m), hdi_prob).reshape(S, m, 2)
    lo_name, hi_name = f"hdi_{100 * (1 - hdi_prob) / 2:g}%", f"hdi_{100 * (1 + hdi_prob) / 2:g}%"
    ess = np.full((S, m), float(N))
    r_hat = np.full((S, m), np.nan)
    khat = np.full(S, np.nan)
    how = np.full(S, "exact", dtype=object)
    for s, r in enumerate(results):
        d = r.diagnostics
        if d.get("gibbs"):
            # a Markov chain: its own ESS and split R-hat per parameter
            ess[s] = np.asarray(ess_bulk(X[s][None]), dtype=float)
            r_hat[s] = np.asarray(rhat(X[s][None]), dtype=float)
            how[s] = "gibbs"
        if "khat" in d:
            khat[s] = d["khat"]
            ess[s] = np.minimum(ess[s], d["is_ess"])
            how[s] += "+psis"
    p_stat = stationary(X[:, :, 1 : p + 1]).mean(1)
    n_missing = [int(np.isnan(s.values).sum()) for s in chunk.series]
    rep = lambda a: np.repeat(np.asarray(a), m)  # noqa: E731 - one value per series, per row
    index = pd.MultiIndex.from_arrays(
        [
            rep(np.array([s.uid for s in chunk.series], dtype=object)),
            np.tile(_parameter_names(p), S),
        ],
        names=["unique_id", "parameter"],
    )
    return pd.DataFrame(
        {
            "mean": X.mean(1).reshape(-1),
            "sd": X.std(1, ddof=1).reshape(-1),
            lo_name: bounds[..., 0].reshape(-1),
            hi_name: bounds[..., 1].reshape(-1),
            "ess": ess.reshape(-1),
            "r_hat": r_hat.reshape(-1),
            "khat": rep(khat),
            "p_stationary": rep(p_stat),
            "method": rep(how),
            "num_steps": rep([s.values.size for s in chunk.series]),
            "num_missing": rep(n_missing),
        },
        index=index,
    )


def _last_values(series: LongSeries, r: SeriesDraws, order: int) -> np.ndarray:
    """The last ``order`` values of each draw's completed series, ``(N, order)``."""
    y = np.broadcast_to(series.values[-order:], (r.sigma.size, order)).copy()
    start = series.values.size - order
    for j, t in enumerate(r.positions):
        if t >= start:
            y[:, t - start] = r.missing[:, j]
    return y


def forecast_chunk(chunk: Chunk, steps: int, quantiles: Sequence[float]) -> pd.DataFrame:
    """The long-format forecast rows of a chunk's series (see :meth:`ManyARFit.forecast`)."""
    with limit_threads(chunk.num_threads):
        ar, results = _draws(chunk)
    p = ar.order
    frames = []
    for s, r in zip(chunk.series, results):
        rng = np.random.default_rng(seed_stream(chunk.seed, "forecast", str(s.uid)))
        eps = rng.standard_normal((r.sigma.size, steps))
        y = _last_values(s, r, p)  # (N, p), oldest first
        mu, phi, sigma = r.beta[:, 0], r.beta[:, 1:], r.sigma
        paths = np.empty((r.sigma.size, steps))
        for t in range(steps):
            paths[:, t] = mu + np.einsum("ni,ni->n", phi, y[:, ::-1]) + sigma * eps[:, t]
            y = np.concatenate([y[:, 1:], paths[:, t : t + 1]], 1)
        stats = {
            "unique_id": [s.uid] * steps,
            "ds": extend_index(s.index, steps),
            "mean": paths.mean(0),
        }
        for q, v in zip(quantiles, np.quantile(paths, quantiles, axis=0)):
            stats[f"q{q:g}"] = v
        frames.append(pd.DataFrame(stats))
    return pd.concat(frames, ignore_index=True)


def _check_shared_priors(ar: BayesianAR) -> None:
    for name, prior in ar.priors.items():
        batch = tuple(prior.batch_shape)
        # a scalar phi prior's batch is (lag,) or (series, lag); the others' is (series,)
        per_series = len(batch) == (2 if name == "phi" and prior.event_shape == () else 1)
        if per_series and batch[0] != 1:
            raise ValueError(
                f"the {name} prior has batch_shape {batch}, one entry per series; fit_many "
                f"cannot match those entries to the ids of a long table. Give a prior shared by "
                f"every series (batch shape () for mu and sigma, () or ({ar.order},) for phi), "
                f"or fit the series that need their own prior with fit()."
            )


def fit_many(
    ar: BayesianAR,
    df: Any,
    *,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
    client: Any = None,
    seed: int | None = None,
    progress: bool | None = None,
    num_threads: int | None = 1,
    num_samples: int = 1000,
    hdi_prob: float = HDI_PROB,
    chunk_size: int = CHUNK_SIZE,
    errors: Errors = "raise",
) -> ManyARFit:
    """:meth:`BayesianAR.fit_many` (its docstring describes the arguments)."""
    started = time.perf_counter()
    errors = check_choice(errors, "errors", ERRORS)
    num_samples = check_int(num_samples, "num_samples", minimum=10)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    if not (isinstance(hdi_prob, (int, float)) and 0.0 < hdi_prob < 1.0):
        raise ValueError(f"hdi_prob must lie strictly between 0 and 1, got {hdi_prob!r}.")
    _check_shared_priors(ar)
    h = ar.effective_hold_back
    series, skipped = split_long(
        df,
        id_col=id_col,
        time_col=time_col,
        target_col=target_col,
        min_observed=h + 2,
        reason=f"order {ar.order} with hold_back {h} needs at least {h + 2} observed values",
        errors=errors,
    )
    seed = resolve_seed(seed)
    fit = ManyARFit(
        draws={},
        method="exact",
        seed=seed,
        ar=ar,
        series=series,
        skipped=skipped,
        num_samples=num_samples,
        hdi_prob=float(hdi_prob),
        chunk_size=chunk_size,
        num_threads=num_threads,
        names=(id_col, time_col, target_col),
    )
    tables = list(
        map_chunks(
            partial(summarize_chunk, hdi_prob=float(hdi_prob)),
            fit._chunks(),
            client=client,
            progress=resolve_progress(progress),
            description=f"AR({ar.order}) series chunks",
        )
    )
    fit.table = pd.concat(tables)
    fit.diagnostics.update(
        num_series=len(series),
        num_skipped=len(skipped),
        num_flagged=len(fit.flagged()),
        seconds=time.perf_counter() - started,
    )
    return fit


@dataclass(repr=False, kw_only=True)
class ManyARFit(FitResult):
    """The result of :meth:`BayesianAR.fit_many`: one posterior summary per series.

    The draws are not kept (they would grow with the number of series);
    :meth:`forecast` draws them again from the same streams, and :meth:`fit_one`
    gives the full :class:`~probmodels.models.ar.result.ARFit` of any one series.
    """

    ar: BayesianAR
    series: list[LongSeries] = field(default_factory=list)
    skipped: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["unique_id", "reason"])
    )
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    num_samples: int = 1000
    hdi_prob: float = HDI_PROB
    chunk_size: int = CHUNK_SIZE
    num_threads: int | None = 1
    #: the long table's column names (id, time, target), used for the forecast table
    names: tuple[str, str, str] = ("unique_id", "ds", "y")

    model_name = "BayesianAR.fit_many"

    @classmethod
    def fit(cls, ar: BayesianAR, df: Any, **kwargs) -> ManyARFit:
        """:meth:`BayesianAR.fit_many` (the model reaches it through the result registry)."""
        return fit_many(ar, df, **kwargs)

    def _chunks(self, series: Sequence[LongSeries] | None = None) -> list[Chunk]:
        return [
            Chunk(
                self.ar.order,
                self.ar.hold_back,
                dict(self.ar.priors),
                self.seed,
                self.num_samples,
                tuple(c),
                self.num_threads,
            )
            for c in chunked(self.series if series is None else series, self.chunk_size)
        ]

    @property
    def unique_ids(self) -> list[Any]:
        """The ids of the fitted series, in order of first appearance."""
        return [s.uid for s in self.series]

    def _describe(self) -> str:
        return (
            f"{self.ar!r}, {len(self.series)} series ({len(self.skipped)} skipped), "
            f"{self.num_samples} draws each"
        )

    def summary(self, *, hdi_prob: float | None = None) -> pd.DataFrame:
        """One row per (series, parameter): ``mean``, ``sd``, the HDI bounds (``hdi_3%``,
        ``hdi_97%`` for the fit's ``hdi_prob`` 0.94), and per series ``ess`` (the draws'
        number for independent exact draws; the bulk ESS of a Gibbs chain for series with
        missing values; the weights' effective size when importance-corrected), ``r_hat``
        (Gibbs chains only), ``khat`` (PSIS, for priors of mu or phi that are not
        Gaussian), ``p_stationary``, ``method``, ``num_steps`` and ``num_missing``.

        The HDI mass is the fit's: pass ``hdi_prob`` to fit_many for another one.
        """
        if hdi_prob is not None and not math.isclose(hdi_prob, self.hdi_prob):
            raise ValueError(
                f"this fit summarised its draws with hdi_prob={self.hdi_prob} (the draws are not "
                f"kept); fit again with fit_many(..., hdi_prob={hdi_prob}), or use "
                f"fit.fit_one(unique_id).summary(hdi_prob={hdi_prob}) for one series."
            )
        return self.table.copy()

    def stationarity(self) -> pd.Series:
        """The posterior probability that each series' process is stationary."""
        first = self.table.xs("mu", level="parameter")
        return pd.Series(first["p_stationary"].to_numpy(), index=first.index, name="P(stationary)")

    def flagged(self) -> pd.DataFrame:
        """The series whose diagnostics flag them: ``unique_id`` and ``reason`` (a PSIS
        k-hat above 0.7, a Gibbs chain's R-hat above 1.01, or an ESS below 400 of a Gibbs
        chain or of the importance weights)."""
        t = self.table
        per = t.groupby(level="unique_id", sort=False).agg(
            khat=("khat", "max"),
            r_hat=("r_hat", "max"),
            ess=("ess", "min"),
            method=("method", "first"),
        )
        # the ESS rule is for Markov chains and importance weights; independent exact
        # draws have as many effective draws as the user asked for
        per.loc[per.method == "exact", "ess"] = np.inf
        bad = (per.khat > KHAT_THRESHOLD) | (per.r_hat > RHAT_THRESHOLD) | (per.ess < MIN_ESS)
        rows = []
        for uid, row in per[bad].iterrows():
            why = []
            if row.khat > KHAT_THRESHOLD:
                why.append(
                    f"k-hat {row.khat:.2f} > {KHAT_THRESHOLD} (the importance correction to the "
                    f"prior is unreliable; try method='nuts' on this series)"
                )
            if row.r_hat > RHAT_THRESHOLD:
                why.append(f"R-hat {row.r_hat:.3f} > {RHAT_THRESHOLD}")
            if row.ess < MIN_ESS:
                why.append(f"ESS {row.ess:.0f} < {MIN_ESS}")
            rows.append((uid, "; ".join(why)))
        return pd.DataFrame(rows, columns=["unique_id", "reason"])

    def _one(self, unique_id: Any) -> LongSeries:
        for s in self.series:
            if s.uid == unique_id or (
                not isinstance(unique_id, str) and str(s.uid) == str(unique_id)
            ):
                return s
        skipped = self.skipped["unique_id"].tolist()
        where = " (it was skipped: see fit.skipped)" if unique_id in skipped else ""
        raise KeyError(
            f"no series {unique_id!r} in this fit{where}; fitted ids include {self.unique_ids[:5]}"
        )

    def fit_one(self, unique_id: Any, **options) -> Any:
        """The full :class:`~probmodels.models.ar.result.ARFit` of one series: fitted alone
        with the same seed, its draws are exactly those summarised in :meth:`summary`."""
        s = self._one(unique_id)
        options.setdefault("num_samples", self.num_samples)
        options.setdefault("progress", False)
        return self.ar.fit(
            pd.Series(s.values, index=s.index, name=s.uid), seed=self.seed, **options
        )

    def to_arviz(self, unique_id: Any = None, **kwargs):
        """ArviZ data of one series (:meth:`fit_one` then ``ARFit.to_arviz``)."""
        if unique_id is None:
            raise TypeError(
                "to_arviz needs the unique_id of one series, e.g. fit.to_arviz(fit.unique_ids[0])."
            )
        return self.fit_one(unique_id).to_arviz(**kwargs)

    def forecast(
        self,
        steps: int,
        *,
        quantiles: Sequence[float] = (0.05, 0.5, 0.95),
        client: Any = None,
        progress: bool | None = None,
    ) -> pd.DataFrame:
        """Long-format posterior-predictive forecasts: columns ``unique_id``, ``ds`` (each
        series' own next labels), ``mean`` and ``q<quantile>``; the same for any chunking
        or client (each series' future noise has its own stream)."""
        steps = check_int(steps, "steps", minimum=1)
        qs = [float(q) for q in quantiles]
        if any(not 0.0 < q < 1.0 for q in qs):
            raise ValueError(f"quantiles must lie strictly between 0 and 1, got {list(quantiles)}.")
        parts = map_chunks(
            partial(forecast_chunk, steps=steps, quantiles=qs),
            self._chunks(),
            client=client,
            progress=resolve_progress(progress),
            description=f"AR({self.ar.order}) forecast chunks",
        )
        table = pd.concat(list(parts), ignore_index=True)
        return table.rename(columns={"unique_id": self.names[0], "ds": self.names[1]})

    # ------------------------------------------------------- persistence
    def _state(self):
        lengths = np.array([s.values.size for s in self.series], dtype=np.int64)
        ds = (
            self.series[0].index.append([s.index for s in self.series[1:]])
            if len(self.series) > 1
            else self.series[0].index
        )
        meta = {
            "order": self.ar.order,
            "hold_back": self.ar.hold_back,
            "user_priors": {k: _priors.to_json(v) for k, v in self.ar.priors.items()},
            "ids": [_name_to_json(s.uid) for s in self.series],
            "ds": index_to_json(pd.Index(ds)),
            "skipped": [[_name_to_json(u), r] for u, r in self.skipped.itertuples(index=False)],
            "num_samples": self.num_samples,
            "hdi_prob": self.hdi_prob,
            "chunk_size": self.chunk_size,
            "names": list(self.names),
            "columns": list(self.table.columns),
        }
        arrays = {
            "values": np.concatenate([s.values for s in self.series]),
            "lengths": lengths,
            "method": self.table["method"].to_numpy(dtype=str),
        }
        for c in self.table.columns:
            if c != "method":
                arrays[f"table/{c}"] = self.table[c].to_numpy()
        return meta, arrays

    @classmethod
    def _from_state(cls, common, meta, arrays):
        ar = BayesianAR(
            meta["order"],
            hold_back=meta["hold_back"],
            priors={k: _priors.from_json(v) for k, v in meta["user_priors"].items()},
        )
        ids = [_name_from_json(u) for u in meta["ids"]]
        lengths = np.asarray(arrays["lengths"], dtype=np.int64)
        ds, values = index_from_json(meta["ds"]), np.asarray(arrays["values"], dtype=np.float64)
        rows = len(ids) * (ar.order + 2)
        if not (
            lengths.shape == (len(ids),)
            and (lengths > 0).all()
            and lengths.sum() == values.size == len(ds)
            and all(
                np.shape(arrays[f"table/{c}"]) == (rows,) for c in meta["columns"] if c != "method"
            )
        ):
            raise ValueError(
                f"the saved series ({len(ids)} ids, {values.size} values, {len(ds)} times) "
                f"and summary table do not agree with each other or with order {ar.order}"
            )
        ends = np.cumsum(lengths)
        series = []
        for uid, end, n in zip(ids, ends, lengths):
            index = ds[end - n : end]
            if n > 1:
                index = regular_index(index, f"series {uid!r}")
            series.append(LongSeries(uid, index, np.ascontiguousarray(values[end - n : end])))
        m = len(_parameter_names(ar.order))
        index = pd.MultiIndex.from_arrays(
            [
                np.repeat(np.array(ids, dtype=object), m),
                np.tile(_parameter_names(ar.order), len(ids)),
            ],
            names=["unique_id", "parameter"],
        )
        columns = {
            c: (
                np.asarray(arrays["method"], dtype=object)
                if c == "method"
                else np.asarray(arrays[f"table/{c}"])
            )
            for c in meta["columns"]
        }
        table = pd.DataFrame(columns, index=index)
        skipped = pd.DataFrame(
            [(_name_from_json(u), r) for u, r in meta["skipped"]], columns=["unique_id", "reason"]
        )
        return cls(
            **common,
            ar=ar,
            series=series,
            skipped=skipped,
            table=table,
            num_samples=meta["num_samples"],
            hdi_prob=meta["hdi_prob"],
            chunk_size=meta["chunk_size"],
            names=tuple(meta["names"]),
        )
