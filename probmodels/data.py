"""Conversion of user data into checked float64 arrays with their labels.

Every model converts its data here, once, at the boundary: time series with
:func:`as_time_series`, exchangeable observations (mixture models) with
:func:`as_data_matrix`, and forecasts get their future labels from
:func:`extend_index`.

Accepted inputs are pandas objects (Series, DataFrame), numpy arrays and
lists or tuples of numbers. The conversion

- copies the values into a new C-contiguous ``float64`` array of shape
  ``(time, series)`` (or ``(data, feature)``), converting integer data;
- rejects booleans, strings, complex numbers, dates and other non-numeric
  values with a :class:`TypeError` naming the column or position;
- rejects NaN and infinite values, empty input, arrays with more than two
  dimensions and, for time series, duplicated, unsorted or non-temporal index
  labels with a :class:`ValueError` (or :class:`TypeError` for the index type)
  that says how to fix the data.

Booleans are rejected rather than cast: a 0/1 series given to a continuous
model is far more often a mistake (a mask passed instead of the data) than
intended. Cast explicitly with ``.astype(float)`` if it is intended.

This module imports numpy and pandas only.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from probmodels._validation import _is_real, check_finite, check_int

__all__ = ["TimeSeriesData", "as_data_matrix", "as_time_series", "extend_index", "regular_index"]

_KIND_NAMES = {
    "U": "strings",
    "S": "bytes",
    "c": "complex numbers",
    "M": "datetimes",
    "m": "timedeltas",
    "V": "structured records",
    "O": "Python objects",
}


@dataclass(frozen=True)
class TimeSeriesData:
    """One or several aligned time series, checked and converted to float64.

    Built by :func:`as_time_series`; models read it and never modify it.

    Attributes
    ----------
    values : numpy.ndarray
        Observations, shape ``(time, series)``, dtype ``float64``,
        C-contiguous, all finite. A copy of the user's data: the array may be
        modified without touching the input.
    index : pandas.Index
        The original time labels, length ``time``: the Series or DataFrame
        index, or a ``RangeIndex`` for arrays and lists. Unique and
        increasing.
    columns : tuple of str or int
        One name per series: the Series name (or the ``name`` argument of
        :func:`as_time_series`, ``"y"`` by default, when unnamed), the
        DataFrame columns (integer labels kept as ints, others as strings),
        or ``name + "0"``, ``name + "1"``, ... for the columns of a 2-D array.
    univariate : bool
        True when the input was one-dimensional (Series, 1-D array, list of
        numbers); models then return 1-D results.
    """

    values: np.ndarray
    index: pd.Index
    columns: tuple[str | int, ...]
    univariate: bool

    def __post_init__(self):
        if self.values.ndim != 2:
            raise ValueError(
                f"TimeSeriesData.values must have shape (time, series), got "
                f"shape {self.values.shape}. Build it with as_time_series(data)."
            )
        num_steps, num_series = self.values.shape
        if len(self.index) != num_steps or len(self.columns) != num_series:
            raise ValueError(
                f"TimeSeriesData got values of shape {self.values.shape}, "
                f"{len(self.index)} index labels and {len(self.columns)} column names; "
                f"expected one label per time step and one name per series. "
                f"Build it with as_time_series(data)."
            )

    @property
    def num_steps(self) -> int:
        """Number of time steps, ``values.shape[0]``."""
        return self.values.shape[0]

    @property
    def num_series(self) -> int:
        """Number of series, ``values.shape[1]``."""
        return self.values.shape[1]


# --------------------------------------------------------------------------- conversion


def _non_numeric(what: str, received: str) -> TypeError:
    return TypeError(
        f"{what} must be numeric (integers or floats), got {received}. Convert the data "
        f"with .astype(float) (pd.to_numeric for text columns) or drop the column."
    )


def _boolean(what: str) -> TypeError:
    return TypeError(
        f"{what} must be numeric (integers or floats), got booleans; a 0/1 series is "
        f"usually a mask passed by mistake. If it is intended, pass data.astype(float)."
    )


def _objects_to_float(array: np.ndarray, what: str) -> np.ndarray:
    """Convert an object array element by element; ``None``/``pd.NA`` become NaN."""
    flat = array.ravel()
    out = np.empty(flat.shape, dtype=np.float64)
    for i, x in enumerate(flat):
        if x is None or x is pd.NA:
            out[i] = np.nan
        elif _is_real(x):
            out[i] = float(x)
        else:
            if isinstance(x, (bool, np.bool_)):
                raise _boolean(what)
            where = tuple(int(p) for p in np.unravel_index(i, array.shape))
            position = where[0] if len(where) == 1 else where
            raise _non_numeric(what, f"{x!r} ({type(x).__name__}) at position {position}")
    return out.reshape(array.shape)


def _series_to_float(series: pd.Series, what: str) -> np.ndarray:
    """Float64 copy of one pandas column (nullable dtypes: missing values -> NaN)."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        raise _boolean(what)
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        # copy=True: under copy-on-write pandas would return a read-only view of the data
        return series.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    if ptypes.is_object_dtype(dtype):
        return _objects_to_float(series.to_numpy(), what)
    raise _non_numeric(what, f"dtype {dtype}")


def _array_to_float(array: np.ndarray, what: str) -> np.ndarray:
    """Float64 copy of a numpy array of any numeric dtype."""
    kind = array.dtype.kind
    if kind == "b":
        raise _boolean(what)
    if kind in "iuf":
        return array.astype(np.float64)
    if kind == "O":
        return _objects_to_float(array, what)
    raise _non_numeric(what, f"dtype {array.dtype} ({_KIND_NAMES.get(kind, 'not numbers')})")


def _column_label(label: Any) -> str | int:
    """A DataFrame column label as kept by the models: integers stay integers (so
    ``fit.forecast(2)[0]`` finds series 0 and ``x[[0, 1]]`` selects features), others
    become strings."""
    if isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_)):
        return int(label)
    return str(label)


def _coerce(
    data: Any, name: str, axis_name: str
) -> tuple[np.ndarray, pd.Index, tuple[str | int, ...], bool]:
    """Shared conversion: ``(values (rows, columns) float64, index, names, was_1d)``."""
    if isinstance(data, pd.DataFrame):
        if data.shape[1] == 0:
            raise ValueError(
                f"{name} must have at least one column, got a DataFrame with none. "
                f"Select the data columns, e.g. df[['a', 'b']]."
            )
        if data.columns.has_duplicates:
            duplicated = list(dict.fromkeys(data.columns[data.columns.duplicated()]))
            raise ValueError(
                f"{name} must have unique column names, got duplicated column(s) "
                f"{duplicated}. Rename them, e.g. df.columns = ['a', 'b', ...]."
            )
        columns = [
            _series_to_float(data.iloc[:, j], f"{name} column {col!r}")
            for j, col in enumerate(data.columns)
        ]
        # (rows, columns); np.stack of zero rows still gives shape (0, columns)
        values = np.ascontiguousarray(np.stack(columns, axis=1))
        return values, data.index, tuple(_column_label(c) for c in data.columns), False

    if isinstance(data, pd.Series):
        values = _series_to_float(data, name)[:, None]  # (rows, 1)
        label = name if data.name is None else str(data.name)
        return values, data.index, (label,), True

    if (
        isinstance(data, (str, bytes, Mapping, set, frozenset))
        or not isinstance(data, (np.ndarray, list, tuple))
        and not hasattr(data, "__array__")
    ):
        raise TypeError(
            f"{name} must be a pandas Series or DataFrame, a numpy array or a list of "
            f"numbers, got {type(data).__name__}. Wrap it, e.g. pd.Series(values)."
        )
    try:
        array = np.asarray(data)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} could not be read as a rectangular array ({err}). Pass a 1-D list of "
            f"numbers or a 2-D array of shape ({axis_name}, columns) with equal-length rows."
        ) from None
    if array.ndim == 0:
        raise TypeError(
            f"{name} must be a sequence of observations, got the scalar {array.item()!r}. "
            f"Pass a 1-D list or array, e.g. [{array.item()!r}, ...]."
        )
    if array.ndim > 2:
        raise ValueError(
            f"{name} must be 1-D ({axis_name},) or 2-D ({axis_name}, columns), got an "
            f"array of shape {array.shape}. Reshape it, e.g. "
            f"{name}.reshape({array.shape[0]}, -1)."
        )
    values = _array_to_float(array, name)
    was_1d = values.ndim == 1
    if was_1d:
        values = values[:, None]  # (rows,) -> (rows, 1)
        names: tuple[str | int, ...] = (name,)
    else:
        names = tuple(f"{name}{j}" for j in range(values.shape[1]))
    return np.ascontiguousarray(values), pd.RangeIndex(values.shape[0]), names, was_1d


def _check_not_empty(values: np.ndarray, name: str, axis_name: str) -> None:
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(
            f"{name} must not be empty, got shape {values.shape} ({axis_name}, columns). "
            f"Pass at least one observation."
        )


def _check_time_index(index: pd.Index, name: str) -> None:
    """Time labels must be temporal or numeric, unique and increasing."""
    temporal = isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex, pd.TimedeltaIndex))
    numeric = (ptypes.is_integer_dtype(index.dtype) or ptypes.is_float_dtype(index.dtype)) and not (
        ptypes.is_bool_dtype(index.dtype)
    )
    if isinstance(index, pd.MultiIndex) or not (temporal or numeric):
        raise TypeError(
            f"{name} must be indexed by time: a DatetimeIndex, PeriodIndex, RangeIndex or "
            f"integer index, got {type(index).__name__} of dtype {index.dtype}. Convert the "
            f"labels (e.g. series.index = pd.to_datetime(series.index)) or drop them with "
            f"series.reset_index(drop=True)."
        )
    if index.hasnans:
        raise ValueError(
            f"{name} has missing time labels (NaN or NaT) in its index. Drop those rows, "
            f"e.g. series[series.index.notna()]."
        )
    if index.has_duplicates:
        duplicated = list(dict.fromkeys(index[index.duplicated()]))[:3]
        raise ValueError(
            f"{name} must have unique time labels, got duplicated label(s) "
            f"{', '.join(str(d) for d in duplicated)}. Aggregate them, e.g. "
            f"series.groupby(level=0).mean(), or drop them with "
            f"series[~series.index.duplicated()]."
        )
    if not index.is_monotonic_increasing:
        i = int(np.flatnonzero(np.asarray(index[1:] < index[:-1]))[0]) + 1
        raise ValueError(
            f"{name} must be sorted by time (increasing index), got label {index[i]} at "
            f"position {i} after {index[i - 1]}. Sort it with series.sort_index()."
        )


def _check_regular_steps(index: pd.Index, name: str) -> None:
    """An AR lag is one step: the labels must be evenly spaced (gaps are missing data).

    PeriodIndex, integer and float labels with uneven steps are refused, since
    they state the gaps; a Datetime/TimedeltaIndex with no frequency set or
    inferable gets a warning (trading days and other calendars are often
    meant as consecutive steps).
    """
    if len(index) < 3 or isinstance(index, pd.RangeIndex):
        return
    if isinstance(index, (pd.DatetimeIndex, pd.TimedeltaIndex)):
        if _temporal_freq(index) is None:
            warnings.warn(
                f"regular time check: {name}'s {type(index).__name__} has no frequency and pandas "
                f"cannot infer one ({index[0]} ... {index[-1]}); consecutive observations are "
                f"taken as consecutive time steps. If there are gaps, give the data a regular "
                f"frequency (e.g. series.asfreq('D').interpolate()); if the steps are meant as "
                f"they are (e.g. trading days), set a frequency or pass "
                f"series.reset_index(drop=True) to silence this.",
                UserWarning,
                stacklevel=3,
            )
        return
    if isinstance(index, pd.PeriodIndex):
        # ordinals count the frequency's base unit: a '15min' index steps by 15
        n = index.freq.n
        steps = np.diff(index.asi8)
        bad = np.flatnonzero(steps != n)
        what = lambda i: f"{steps[i] // n:g} periods of {index.freqstr}"  # noqa: E731
        first = f"one period of {index.freqstr}"
    elif ptypes.is_integer_dtype(index.dtype):
        steps = np.diff(np.asarray(index, dtype=np.int64))  # exact, even for epoch nanoseconds
        bad = np.flatnonzero(steps != steps[0])
        what = lambda i: f"a step of {steps[i]}"  # noqa: E731
        first = f"{steps[0]}"
    else:
        # float labels are often rounded (decimal years 1990.083, 1990.167, ...): a step
        # within 10% of the typical one is regular, a gap is a step well beyond it
        steps = np.diff(np.asarray(index, dtype=np.float64))
        typical = float(np.median(steps))
        bad = np.flatnonzero(np.abs(steps - typical) > 0.1 * typical)
        what = lambda i: f"a step of {steps[i]:.6g}"  # noqa: E731
        first = f"{typical:.6g} (the median)"
    if bad.size:
        i = int(bad[0]) + 1
        raise ValueError(
            f"{name} must be evenly spaced in time: each lag of an AR model is one step, but "
            f"the index jumps from {index[i - 1]} to {index[i]} ({what(i - 1)}; the regular "
            f"step is {first}). Fill the missing steps (e.g. "
            f"series.reindex(full_index).interpolate()), or pass series.reset_index(drop=True) "
            f"if the observations are consecutive steps by design."
        )


def _freq_from_windows(index: pd.DatetimeIndex | pd.TimedeltaIndex):
    """The frequency of most 5-label windows of a gappy index (the series' own step), or None."""
    counts: dict = {}
    for start in range(0, max(1, len(index) - 4), max(1, (len(index) - 4) // 50)):
        window = index[start : start + 5]
        if len(window) < 3:
            continue
        freq = type(window)(window, freq="infer").freq if len(window) >= 3 else None
        if freq is not None:
            counts[freq] = counts.get(freq, 0) + 1
    return max(counts, key=lambda f: counts[f]) if counts else None


def regular_index(index: pd.Index, name: str = "y") -> pd.Index:
    """The evenly spaced index that holds every label of ``index``, gaps included.

    Each lag of an AR model is one step, so gaps are missing steps (filled with
    NaN by :func:`as_time_series` with ``missing=True``). A ``RangeIndex`` is
    regular; a ``PeriodIndex`` steps by its frequency; a ``DatetimeIndex`` or
    ``TimedeltaIndex`` by its frequency, the one pandas infers, or the one of most of
    its 5-label windows (a weekly series with a missing week is weekly); integer
    labels by their smallest step; float labels (decimal years) by their typical step
    near the smallest with 10% rounding allowed.

    Raises
    ------
    ValueError
        When no such step exists (labels off every grid, or irregular timestamps),
        with the fix.
    """
    if isinstance(index, pd.RangeIndex) or len(index) < 2:
        return index
    if isinstance(index, pd.PeriodIndex):
        return pd.period_range(index[0], index[-1], freq=index.freq, name=index.name)
    if isinstance(index, (pd.DatetimeIndex, pd.TimedeltaIndex)):
        freq = _temporal_freq(index) or _freq_from_windows(index)
        if freq is not None:
            make = pd.date_range if isinstance(index, pd.DatetimeIndex) else pd.timedelta_range
            full = make(start=index[0], end=index[-1], freq=freq, unit=index.unit, name=index.name)
            if isinstance(index, pd.DatetimeIndex) and index.tz is not None and full.tz is None:
                full = full.tz_localize(index.tz)
            if index.isin(full).all():
                return full
        raise ValueError(
            f"{name}'s {type(index).__name__} has no regular step ({index[0]} ... {index[-1]}; "
            f"pandas infers no frequency and no step fits every label), so an AR lag has no "
            f"meaning. Give the data its frequency, e.g. series.asfreq('D') (or 'W-SUN', 'MS', "
            f"'B', ...: missing steps become NaN, which the model treats as unknowns), or pass "
            f"series.reset_index(drop=True) if the observations are consecutive steps by design."
        )
    if ptypes.is_integer_dtype(index.dtype):
        labels = np.asarray(index, dtype=np.int64)
        step = int(np.gcd.reduce(np.diff(labels)))
        full = np.arange(labels[0], labels[-1] + step, step)
        return pd.Index(full.astype(index.dtype), name=index.name)
    labels = np.asarray(index, dtype=np.float64)
    diffs = np.diff(labels)
    # the typical single step: the median of the steps near the smallest one (a gap is a
    # multiple of it; rounded labels such as decimal years vary by a few percent)
    step = float(np.median(diffs[diffs <= 1.5 * diffs.min()]))  # type: ignore[assignment]
    k = np.round((labels - labels[0]) / step)
    off = np.abs(labels - (labels[0] + k * step))
    if np.any(off > 0.1 * step):
        bad = int(np.argmax(off))
        raise ValueError(
            f"{name} must be evenly spaced in time: the float labels step by about {step:.6g}, "
            f"but label {labels[bad]:.6g} lies {off[bad]:.3g} off that grid. Round the labels, "
            f"or pass series.reset_index(drop=True) if the observations are consecutive steps."
        )
    full = labels[0] + np.arange(int(k[-1]) + 1) * step
    full[k.astype(int)] = labels  # keep the observed labels exactly
    return pd.Index(full, name=index.name)


def as_time_series(
    data: Any,
    *,
    name: str = "y",
    min_length: int = 2,
    reason: str | None = None,
    missing: bool = False,
) -> TimeSeriesData:
    """Check and convert one or several time series.

    Parameters
    ----------
    data : pandas.Series, pandas.DataFrame, numpy.ndarray, list or tuple
        The observations. A Series, a 1-D array or a list of numbers is one
        series; a DataFrame (one column per series) or a 2-D array of shape
        ``(time, series)`` holds several aligned series. A Series or DataFrame
        index must be a DatetimeIndex, PeriodIndex, TimedeltaIndex or a
        numeric (RangeIndex, integer) index, unique and increasing. A
        DatetimeIndex without a frequency is accepted; :func:`extend_index`
        asks for one when forecasting needs it.
    name : str, default "y"
        Used in error messages and as the series name when the input has
        none (``name + "0"``, ``name + "1"``, ... for 2-D arrays).
    min_length : int, default 2
        Fewest time steps accepted.
    reason : str, optional
        Why ``min_length`` steps are needed, appended to the error message,
        e.g. ``"order=5 needs order + 2 = 7"``.
    missing : bool, default False
        ``True``: missing values are data, not errors. NaN (and ``None``,
        ``pd.NA``) are kept as NaN, and a pandas index with gaps is completed to
        the :func:`regular_index` holding its labels, the missing steps filled
        with NaN; leading and trailing missing steps of a single series are
        dropped (the series starts at its first observation). Infinite values are
        still refused.

    Returns
    -------
    TimeSeriesData
        ``values`` of shape ``(time, series)``, float64, a copy of the data.

    Raises
    ------
    TypeError
        If ``data`` is not array-like, holds non-numeric or boolean values
        (the message names the column or position), or its index is not
        temporal or numeric.
    ValueError
        If ``data`` is empty, has more than two dimensions, contains NaN or
        infinite values (the message gives their count and the first time
        label), has duplicated or unsorted index labels, unevenly spaced
        period, integer or float labels (gaps), or has fewer than
        ``min_length`` time steps.

    Warns
    -----
    UserWarning
        "regular time check": a DatetimeIndex or TimedeltaIndex with no
        frequency set or inferable; consecutive rows are taken as
        consecutive steps.
    UserWarning
        "orientation check": a 2-D array or list with more columns than rows,
        which is read as ``(time, series)``; pass its transpose if the rows
        are the series.
    """
    min_length = check_int(min_length, "min_length", minimum=1)
    values, index, columns, univariate = _coerce(data, name, "time")
    _check_not_empty(values, name, "time")
    if isinstance(data, (pd.Series, pd.DataFrame)):
        _check_time_index(index, name)
        if missing:
            full = regular_index(index, name)
            if len(full) != len(index):
                frame = pd.DataFrame(values, index=index).reindex(full)
                values, index = np.array(frame.to_numpy(), dtype=np.float64), full
        else:
            _check_regular_steps(index, name)
    elif values.shape[1] > values.shape[0]:
        warnings.warn(
            f"as_time_series orientation check: {name} has shape {values.shape}, read as "
            f"{values.shape[0]} time steps of {values.shape[1]} series. If each row is a "
            f"series, pass the transpose ({name}.T).",
            UserWarning,
            stacklevel=2,
        )
    if missing:
        observed = ~np.isnan(values)
        if not observed.any(0).all():
            empty = [c for c, ok in zip(columns, observed.any(0)) if not ok]
            raise ValueError(f"{name} has no observed value in series {empty}; drop them.")
        if univariate:
            rows = np.flatnonzero(observed[:, 0])
            values, index = values[rows[0] : rows[-1] + 1], index[rows[0] : rows[-1] + 1]
        # NaN is a missing value here; infinite values are still errors
        inf = np.isinf(values)
        if inf.any():
            t, j = (int(i) for i in np.argwhere(inf)[0])
            where = f"at label {index[t]!r}" + ("" if univariate else f" of series {columns[j]!r}")
            raise ValueError(
                f"{name} has {int(inf.sum())} infinite value(s), first {where} (position {t}). "
                f"Missing values may be NaN (they are modelled); replace the infinite ones, e.g. "
                f"data.replace([np.inf, -np.inf], np.nan)."
            )
    else:
        # a 1-D input is checked as 1-D so that positions read as time steps, not (step, 0)
        check_finite(values[:, 0] if univariate else values, name, labels=index)
    if values.shape[0] < min_length:
        why = f": {reason}" if reason else ""
        raise ValueError(
            f"{name} must have at least {min_length} time steps, got "
            f"{values.shape[0]}{why}. Pass a longer series."
        )
    return TimeSeriesData(values=values, index=index, columns=columns, univariate=univariate)


def as_data_matrix(
    data: Any, *, name: str = "x", min_rows: int = 1
) -> tuple[np.ndarray, pd.Index, tuple[str | int, ...]]:
    """Check and convert a table of exchangeable observations (rows) by features.

    Parameters
    ----------
    data : pandas.Series, pandas.DataFrame, numpy.ndarray, list or tuple
        A Series, 1-D array or list is one feature (shape ``(data, 1)``); a
        DataFrame or 2-D array has one column per feature. The row index is
        kept but not checked (rows need not be ordered).
    name : str, default "x"
        Used in error messages and as the feature name when the input has
        none (``name + "0"``, ... for 2-D arrays).
    min_rows : int, default 1
        Fewest rows accepted.

    Returns
    -------
    values : numpy.ndarray
        Shape ``(data, feature)``, float64, C-contiguous, a copy of the data.
    index : pandas.Index
        The row labels (a ``RangeIndex`` for arrays and lists).
    names : tuple of str or int
        One name per feature: DataFrame columns (integer labels kept as ints,
        others as strings), the Series name, or ``name + "0"``, ... for arrays.

    Raises
    ------
    TypeError
        If ``data`` is not array-like or holds non-numeric or boolean values.
    ValueError
        If ``data`` is empty, has more than two dimensions, contains NaN or
        infinite values or has fewer than ``min_rows`` rows.
    """
    min_rows = check_int(min_rows, "min_rows", minimum=1)
    values, index, names, _ = _coerce(data, name, "data")
    _check_not_empty(values, name, "data")
    check_finite(values, name, labels=index)
    if values.shape[0] < min_rows:
        raise ValueError(
            f"{name} must have at least {min_rows} rows, got {values.shape[0]}. "
            f"Pass more observations."
        )
    return values, index, names


# --------------------------------------------------------------------------- future labels


def _temporal_freq(index: pd.DatetimeIndex | pd.TimedeltaIndex):
    """``index.freq``, or the frequency pandas infers from at least three labels, or None."""
    if index.freq is not None:
        return index.freq
    if len(index) < 3:
        return None
    # the constructor's freq="infer" avoids pd.infer_freq's pandas-4 deprecation warning
    return type(index)(index, freq="infer").freq


def extend_index(index: pd.Index, steps: int) -> pd.Index:
    """Return the ``steps`` labels that continue ``index`` (e.g. forecast dates).

    Parameters
    ----------
    index : pandas.Index
        The labels of the observed time steps, non-empty.
    steps : int
        How many future labels to return, ``>= 1``.

    Returns
    -------
    pandas.Index
        Of the same type and name as ``index``, length ``steps``:

        - PeriodIndex: the next periods at the same frequency;
        - DatetimeIndex, TimedeltaIndex: ``last + k * freq`` for
          ``k = 1..steps`` with ``index.freq``, or the frequency pandas infers
          from the labels (at least three needed);
        - RangeIndex: continued with its step;
        - integer index: continued with its step when all steps are equal;
        - float index (e.g. decimal years): ``last + k * step`` with the median
          step (:func:`as_time_series` allows 10% rounding in the steps).

    Raises
    ------
    TypeError
        If ``index`` is not a pandas Index, or ``steps`` is not an integer.
    ValueError
        If ``steps < 1``, ``index`` is empty, or the index cannot be continued
        (a DatetimeIndex with no known or inferable frequency, an integer
        index with uneven steps or a single label, any other index type);
        the message says how to give the data a regular index.
    """
    steps = check_int(steps, "steps", minimum=1)
    if not isinstance(index, pd.Index):
        raise TypeError(
            f"index must be a pandas Index, got {type(index).__name__}. Pass e.g. series.index."
        )
    if len(index) == 0:
        raise ValueError("index must have at least one label to continue, got an empty index.")

    if isinstance(index, pd.PeriodIndex):
        return pd.period_range(start=index[-1] + 1, periods=steps, freq=index.freq, name=index.name)

    if isinstance(index, (pd.DatetimeIndex, pd.TimedeltaIndex)):
        freq = _temporal_freq(index)
        if freq is None:
            raise ValueError(
                f"cannot continue a {type(index).__name__} without a frequency: it has none "
                f"set and pandas cannot infer one from its {len(index)} label(s) "
                f"({index[0]} ... {index[-1]}). Give the data a regular frequency, e.g. "
                f"series = series.asfreq('D') (or 'MS', 'h', ...), or use a PeriodIndex."
            )
        make_range = pd.date_range if isinstance(index, pd.DatetimeIndex) else pd.timedelta_range
        # start at the last label and drop it, so the result is last + k * freq, k = 1..steps
        future = make_range(start=index[-1], periods=steps + 1, freq=freq, unit=index.unit)[1:]
        return future.rename(index.name)

    if isinstance(index, pd.RangeIndex):
        start = index[-1] + index.step
        return pd.RangeIndex(start, start + steps * index.step, index.step, name=index.name)

    if ptypes.is_integer_dtype(index.dtype) and not ptypes.is_bool_dtype(index.dtype):
        labels = index.to_numpy()
        diffs = np.diff(labels.astype(np.int64))
        if len(labels) < 2 or np.any(diffs != diffs[0]) or diffs[0] == 0:
            received = (
                "a single label" if len(labels) < 2 else f"steps {np.unique(diffs)[:5].tolist()}"
            )
            raise ValueError(
                f"cannot continue an integer index without one constant step, got "
                f"{received}. Use a regular index, e.g. series.reset_index(drop=True), "
                f"or a DatetimeIndex/PeriodIndex with a frequency."
            )
        future = labels[-1] + diffs[0] * np.arange(1, steps + 1)
        return pd.Index(future.astype(index.dtype), name=index.name)

    if ptypes.is_float_dtype(index.dtype):
        labels = index.to_numpy(dtype=np.float64)
        diffs = np.diff(labels)
        if len(labels) < 2 or not np.all(diffs > 0):
            raise ValueError(
                f"cannot continue a float index without a positive step, got "
                f"{'a single label' if len(labels) < 2 else 'labels that do not increase'}. "
                f"Use a regular index, e.g. series.reset_index(drop=True)."
            )
        # evenly spaced up to rounding (decimal years; as_time_series allows 10%): the
        # median step, so one rounded label does not tilt the future ones
        future = labels[-1] + np.median(diffs) * np.arange(1, steps + 1)
        return pd.Index(future.astype(index.dtype), name=index.name)

    raise ValueError(
        f"cannot continue this index ({type(index).__name__} of dtype {index.dtype}): only "
        f"PeriodIndex, DatetimeIndex/TimedeltaIndex with a frequency, RangeIndex and "
        f"evenly spaced integer or float indexes can be extended. Use series.reset_index(drop=True) or a "
        f"PeriodIndex, e.g. series.index = pd.period_range('2000', periods=len(series), "
        f"freq='Y')."
    )
