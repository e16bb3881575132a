"""Long-format time series ``(unique_id, ds, y)`` split into checked series, one per id.

Each series is sorted by ``ds`` and put on its own regular index
(:func:`probmodels.data.regular_index`: gaps become missing values), with leading
and trailing missing values dropped. A series is refused, with a reason that names
it, when its ``y`` is not numeric, its ``ds`` cannot be sorted (mixed types), it has
duplicate ``ds``, it has no regular step, or it has fewer observed values than the
model needs. ``errors="raise"`` raises before any fitting (naming the first bad series
and counting the others); ``errors="skip"`` leaves the bad series out and reports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from probmodels._validation import check_choice, check_int
from probmodels.data import regular_index

__all__ = ["ERRORS", "Errors", "LongSeries", "split_long"]

Errors = Literal["raise", "skip"]
ERRORS: tuple[str, ...] = get_args(Errors)


@dataclass(frozen=True)
class LongSeries:
    """One series of a long table: its id, its regular time index and its values
    (float64, NaN where missing), the same length."""

    uid: Any
    index: pd.Index
    values: np.ndarray


class _Bad(ValueError):
    pass


def _one(uid, ds: pd.Series, y: pd.Series, min_observed: int, what: str, reason: str) -> LongSeries:
    if ptypes.is_bool_dtype(y.dtype):
        raise _Bad("y is boolean; pass numbers (y.astype(float) if 0/1 is meant)")
    numeric = pd.to_numeric(y, errors="coerce")
    bad = numeric.isna() & y.notna()
    if bad.any():
        raise _Bad(
            f"y is not numeric (e.g. {y[bad].iloc[0]!r} at ds={ds[bad].iloc[0]!r}); "
            f"convert it with pd.to_numeric"
        )
    values = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise _Bad("y has infinite values; drop them or set them to NaN (missing)")
    try:
        index = pd.Index(ds)
        if index.dtype == object:
            # a column of mixed series (dates in some, integers in others) is object-typed:
            # each series' own labels get their own type back
            index = pd.Index(list(index), name=index.name)
        if index.dtype == object:
            kinds = {type(v) for v in index}
            if len(kinds) > 1:
                raise TypeError(f"mixed types {sorted(k.__name__ for k in kinds)}")
        order = np.argsort(index.to_numpy(), kind="stable")
    except TypeError as exc:
        raise _Bad(
            f"ds cannot be sorted ({exc}); give every row a ds of one type, e.g. "
            f"pd.to_datetime(df.ds)"
        ) from None
    index, values = index[order], values[order]
    if index.hasnans:
        raise _Bad("ds has missing labels (NaN or NaT); drop those rows")
    if index.has_duplicates:
        dup = index[index.duplicated()][0]
        raise _Bad(f"duplicate ds {dup}; aggregate the rows of each (unique_id, ds) first")
    observed = ~np.isnan(values)
    if not observed.any():
        raise _Bad("y is missing everywhere (all NaN)")
    rows = np.flatnonzero(observed)
    index, values = index[rows[0] : rows[-1] + 1], values[rows[0] : rows[-1] + 1]
    if len(index) > 1:
        try:
            full = regular_index(index, what)
        except ValueError as exc:
            raise _Bad(f"no regular time step ({exc})") from None
        if len(full) != len(index):
            values = pd.Series(values, index=index).reindex(full).to_numpy(dtype=np.float64)
            index = full
    n_obs = int((~np.isnan(values)).sum())
    if n_obs < min_observed:
        raise _Bad(
            f"{n_obs} observed values, fewer than the {min_observed} the model needs"
            f"{reason and f' ({reason})'}"
        )
    if np.nanmax(values) == np.nanmin(values):
        raise _Bad(
            f"y is constant ({np.nanmax(values):g} throughout); a time-series model needs variation"
        )
    return LongSeries(uid, index, np.ascontiguousarray(values))


def _sort_key(ds: pd.Series) -> np.ndarray | None:
    """Sortable numbers of a time column whose type needs no per-series check, else None."""
    dtype = ds.dtype
    if isinstance(dtype, pd.PeriodDtype):
        return ds.array.asi8
    if ptypes.is_datetime64_any_dtype(dtype) or ptypes.is_timedelta64_dtype(dtype):
        return pd.Index(ds).asi8
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_bool_dtype(dtype):
        return ds.to_numpy(dtype=np.float64, na_value=np.nan)
    return None


def _groups(df: pd.DataFrame, id_col: str, time_col: str, target_col: str, min_observed: int):
    """``(uid, LongSeries)`` for each series that is complete and evenly spaced (checked for
    all series at once, in numpy), or ``(uid, rows)`` for the others, which :func:`_one`
    checks one by one (gaps, an uneven or unsortable step, a bad value: its messages)."""
    y, ds = df[target_col], df[time_col]
    key = _sort_key(ds)
    fast_y = ptypes.is_numeric_dtype(y.dtype) and not ptypes.is_bool_dtype(y.dtype)
    if key is None or not fast_y:
        yield from df.groupby(id_col, sort=False, dropna=False)
        return
    codes, uniques = pd.factorize(df[id_col], sort=False, use_na_sentinel=False)
    order = np.lexsort((key, codes))
    sorted_codes, k, v = (
        codes[order],
        key[order],
        y.to_numpy(dtype=np.float64, na_value=np.nan)[order],
    )
    cuts = np.flatnonzero(np.diff(sorted_codes)) + 1
    starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(order)]])
    index = pd.Index(ds)
    for a, b in zip(starts, ends):
        uid = uniques[sorted_codes[a]]
        kv, vv = k[a:b], v[a:b]
        observed = ~np.isnan(vv)
        if observed.any():
            first, last = int(observed.argmax()), int(b - a - observed[::-1].argmax())
            kv, vv = kv[first:last], vv[first:last]
        steps = np.diff(kv)
        if (
            observed.all()
            and vv.size >= max(min_observed, 2)
            and steps[0] > 0
            and (steps == steps[0]).all()
            and np.isfinite(vv).all()
            and vv.max() > vv.min()
            and not (isinstance(uid, float) and np.isnan(uid))
        ):
            yield uid, LongSeries(uid, index[order[a:b]], np.ascontiguousarray(vv))
        else:
            yield uid, df.iloc[np.sort(order[a:b])]


def split_long(
    df: Any,
    *,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
    min_observed: int = 2,
    reason: str = "",
    errors: Errors = "raise",
) -> tuple[list[LongSeries], pd.DataFrame]:
    """Split a long table into checked series (see the module docstring).

    Returns
    -------
    series : list of LongSeries
        In order of first appearance of each id.
    skipped : pandas.DataFrame
        Columns ``unique_id`` and ``reason`` (empty unless ``errors="skip"``).

    Raises
    ------
    TypeError
        ``df`` is not a DataFrame.
    ValueError
        A column is missing; or, with ``errors="raise"``, a series is bad (the message
        names it and its problem, and counts the other bad series).
    """
    errors = check_choice(errors, "errors", ERRORS)
    min_observed = check_int(min_observed, "min_observed", minimum=1)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"the data must be a long pandas DataFrame with one row per (series, time), columns "
            f"{id_col!r}, {time_col!r}, {target_col!r}; got {type(df).__name__}. For one wide "
            f"table of aligned series use fit(df) instead."
        )
    missing = [c for c in (id_col, time_col, target_col) if c not in df.columns]
    if missing:
        raise ValueError(
            f"the long table has no column(s) {missing}; it has {list(df.columns)}. Name them "
            f"with id_col=, time_col=, target_col= (defaults 'unique_id', 'ds', 'y'), or rename "
            f"the columns."
        )
    if len(df) == 0:
        raise ValueError("the long table has no rows; pass at least one series.")
    series, bad = [], []
    for uid, item in _groups(df, id_col, time_col, target_col, min_observed):
        try:
            if isinstance(item, LongSeries):
                series.append(item)
                continue
            if pd.isna(uid):
                raise _Bad("the unique_id itself is missing (NaN); give those rows an id")
            series.append(
                _one(uid, item[time_col], item[target_col], min_observed, f"series {uid!r}", reason)
            )
        except _Bad as exc:
            bad.append((uid, str(exc)))
    skipped = pd.DataFrame(bad, columns=["unique_id", "reason"])
    if bad and errors == "raise":
        uid, why = bad[0]
        more = f" ({len(bad) - 1} other series have problems too)" if len(bad) > 1 else ""
        raise ValueError(
            f"series {uid!r}: {why}{more}. Fix the data, or pass "
            f"errors='skip' to fit the other series and report the skipped ones."
        )
    if not series:
        raise ValueError(
            f"no series left to fit: every one has a problem, e.g. {bad[0][0]!r}: {bad[0][1]}."
        )
    return series, skipped
