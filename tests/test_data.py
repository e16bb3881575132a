"""Tests for probmodels.data: conversions equal numpy/pandas' own values exactly,
each rejected input raises with a message saying how to fix it, and extend_index
continues each supported index type like pandas' own range constructors."""

import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from probmodels.data import TimeSeriesData, as_data_matrix, as_time_series, extend_index

# --------------------------------------------------------------------------- accepted inputs


def _assert_float64_c(values):
    assert values.dtype == np.float64 and values.flags.c_contiguous


def test_series_of_integers_is_converted_to_float64():
    series = pd.Series([3, 1, 4, 1, 5], name="count")
    data = as_time_series(series)
    _assert_float64_c(data.values)
    np.testing.assert_array_equal(data.values, np.array([[3.0], [1.0], [4.0], [1.0], [5.0]]))
    assert data.index.equals(series.index)
    assert data.columns == ("count",)
    assert data.univariate is True
    assert (data.num_steps, data.num_series) == (5, 1)


def test_unnamed_series_takes_name_argument():
    assert as_time_series(pd.Series([1.0, 2.0])).columns == ("y",)
    assert as_time_series(pd.Series([1.0, 2.0]), name="sales").columns == ("sales",)


@pytest.mark.parametrize(
    "make",
    [np.array, pd.Series, lambda v: pd.DataFrame({"a": v}), lambda v: np.array(v, dtype=object)],
    ids=["array", "series", "dataframe", "object-array"],
)
def test_values_are_a_writeable_copy_of_the_input(make):
    # writeable matters: torch.as_tensor warns on read-only arrays (pandas copy-on-write views)
    source = make([1.0, 2.0, 3.0])
    data = as_time_series(source)
    assert data.values.flags.writeable
    data.values[0, 0] = 100.0
    assert np.asarray(source).ravel()[0] == 1.0
    values, _, _ = as_data_matrix(make([1.0, 2.0, 3.0]))
    assert values.flags.writeable


def test_period_and_datetime_indexes_are_kept():
    periods = pd.period_range("1990", periods=4, freq="Y", name="year")
    data = as_time_series(pd.Series([1.0, 2.0, 3.0, 4.0], index=periods))
    assert isinstance(data.index, pd.PeriodIndex) and data.index.equals(periods)
    dates = pd.date_range("2020-01-01", periods=3, freq="D")
    data = as_time_series(pd.Series([1.0, 2.0, 3.0], index=dates))
    assert data.index.equals(dates) and data.index.freq == dates.freq


def test_evenly_spaced_integer_index_is_kept_and_gaps_are_refused():
    series = pd.Series([1.0, 2.0, 3.0, 4.0], index=[10, 20, 30, 40])
    assert as_time_series(series).index.equals(pd.Index([10, 20, 30, 40]))
    with pytest.raises(ValueError, match=r"evenly spaced.*jumps from 20 to 35 \(a step of 15; the regular step is 10\)"):
        as_time_series(pd.Series([1.0, 2.0, 3.0, 4.0], index=[10, 20, 35, 45]))
    # epoch nanoseconds: exact integer steps (float64 would round them)
    ns = 1_700_000_000_000_000_000 + 1000 * np.arange(5)
    as_time_series(pd.Series(np.arange(5.0), index=ns))


def test_float_labels_allow_rounding_and_name_the_real_gap():
    decimal_years = np.round(1990 + np.arange(24) / 12, 3)  # 1990.0, 1990.083, 1990.167, ...
    as_time_series(pd.Series(np.arange(24.0), index=decimal_years))
    labels = [0.1 * i for i in range(10)] + [1.5, 1.6]
    with pytest.raises(ValueError, match=r"jumps from 0.9 to 1.5 \(a step of 0.6; the regular step is 0.1"):
        as_time_series(pd.Series(np.arange(12.0), index=labels))


def test_period_index_with_a_multiple_frequency_is_regular():
    for freq in ("15min", "2M", "3D", "2Y"):
        as_time_series(pd.Series(np.arange(6.0), index=pd.period_range("2000-01-01", periods=6, freq=freq)))
    idx = pd.period_range("2000-01-01", periods=6, freq="15min").delete(3)
    with pytest.raises(ValueError, match=r"\(2 periods of 15min; the regular step is one period of 15min\)"):
        as_time_series(pd.Series(np.arange(5.0), index=idx))


def test_period_index_with_missing_periods_is_refused():
    years = [str(1900 + i + (10 if i >= 20 else 0)) for i in range(40)]
    series = pd.Series(np.arange(40.0) % 7, index=pd.PeriodIndex(years, freq="Y"))
    with pytest.raises(ValueError, match=r"jumps from 1919 to 1930 \(11 periods of Y-DEC.*reset_index\(drop=True\)"):
        as_time_series(series)
    as_time_series(series.reset_index(drop=True))  # consecutive steps by design


def test_dataframe_columns_name_the_series_integers_kept():
    frame = pd.DataFrame({0: [1, 2, 3], "b": [0.5, 1.5, 2.5], 2.5: [1, 0, 1]}, index=pd.RangeIndex(3))
    data = as_time_series(frame)
    np.testing.assert_array_equal(data.values, frame.to_numpy(dtype=np.float64))
    _assert_float64_c(data.values)
    assert data.columns == (0, "b", "2.5") and type(data.columns[0]) is int
    assert data.univariate is False


def test_one_column_dataframe_is_not_univariate():
    data = as_time_series(pd.DataFrame({"a": [1.0, 2.0]}))
    assert data.univariate is False and data.values.shape == (2, 1)


@pytest.mark.parametrize("values", [[1, 2, 3], (1.5, 2.5, 3.5), np.arange(3, dtype=np.int32)])
def test_lists_tuples_and_1d_arrays_are_univariate(values):
    data = as_time_series(values)
    _assert_float64_c(data.values)
    np.testing.assert_array_equal(data.values[:, 0], np.asarray(values, dtype=np.float64))
    assert data.index.equals(pd.RangeIndex(3))
    assert data.columns == ("y",) and data.univariate is True


def test_float32_is_widened_exactly():
    values = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    data = as_time_series(values)
    _assert_float64_c(data.values)
    np.testing.assert_array_equal(data.values[:, 0], values.astype(np.float64))


def test_2d_array_is_time_by_series():
    array = np.arange(12).reshape(4, 3)
    data = as_time_series(array, name="z")
    _assert_float64_c(data.values)
    np.testing.assert_array_equal(data.values, array.astype(np.float64))
    assert data.columns == ("z0", "z1", "z2") and data.univariate is False


def test_nullable_integer_and_numeric_object_values_are_accepted():
    data = as_time_series(pd.Series([1, 2, 3], dtype="Int64"))
    np.testing.assert_array_equal(data.values[:, 0], [1.0, 2.0, 3.0])
    data = as_time_series(np.array([1, 2.5, np.int64(3)], dtype=object))
    np.testing.assert_array_equal(data.values[:, 0], [1.0, 2.5, 3.0])


def test_wide_array_warns_orientation_check():
    with pytest.warns(UserWarning, match=r"orientation check: y has shape \(2, 5\).*pass the transpose"):
        data = as_time_series(np.zeros((2, 5)))
    assert data.values.shape == (2, 5)


def test_wide_dataframe_does_not_warn():
    # named columns state the orientation; the test fails if a warning is raised
    as_time_series(pd.DataFrame(np.zeros((2, 5))))


def test_time_series_data_is_frozen_and_checks_shapes():
    data = as_time_series([1.0, 2.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.values = np.zeros((2, 1))
    with pytest.raises(ValueError, match=r"expected one label per time step and one name per series"):
        TimeSeriesData(values=np.zeros((3, 1)), index=pd.RangeIndex(2), columns=("y",), univariate=True)
    with pytest.raises(ValueError, match=r"values must have shape \(time, series\), got shape \(3,\)"):
        TimeSeriesData(values=np.zeros(3), index=pd.RangeIndex(3), columns=("y",), univariate=True)


# --------------------------------------------------------------------------- rejected inputs


@pytest.mark.parametrize(
    "data, match",
    [
        (pd.Series(["a", "b", "c"]), r"y must be numeric .*got dtype str"),
        (np.array(["1.5", "2.5"]), r"y must be numeric .*got dtype <U3 \(strings\)"),
        ([1, "a", 3], r"y must be numeric .*\(strings\)"),
        (np.array([1.0, "x"], dtype=object), r"y must be numeric .*got 'x' \(str\) at position 1"),
        (np.array([1 + 1j, 2]), r"y must be numeric .*complex numbers"),
        (pd.Series(pd.date_range("2020", periods=3)), r"y must be numeric .*got dtype datetime64"),
        (pd.Series([1, 2, 3]).astype("category"), r"y must be numeric .*got dtype category"),
    ],
)
def test_non_numeric_values_are_rejected(data, match):
    with pytest.raises(TypeError, match=match):
        as_time_series(data)


def test_non_numeric_dataframe_column_is_named():
    frame = pd.DataFrame({"a": [1.0, 2.0], "label": ["x", "y"]})
    with pytest.raises(TypeError, match=r"y column 'label' must be numeric"):
        as_time_series(frame)


@pytest.mark.parametrize(
    "data",
    [pd.Series([True, False, True]), np.array([True, False]), [True, False], pd.Series([True, False], dtype="boolean")],
)
def test_booleans_are_rejected(data):
    with pytest.raises(TypeError, match=r"got booleans; .*pass data\.astype\(float\)"):
        as_time_series(data)


def test_nan_is_rejected_with_count_and_first_time_label():
    index = pd.period_range("2001", periods=5, freq="Y")
    series = pd.Series([1.0, np.nan, 3.0, np.nan, 5.0], index=index)
    with pytest.raises(
        ValueError,
        match=r"y must contain only finite values, got 2 NaN and 0 infinite value\(s\) out of 5; "
        r"first at position\(s\) 1, 3 \(first label Period\('2002', 'Y-DEC'\)\)\. Drop them",
    ):
        as_time_series(series)


def test_inf_and_missing_nullable_values_are_rejected():
    with pytest.raises(ValueError, match=r"got 0 NaN and 1 infinite value\(s\)"):
        as_time_series(np.array([[1.0, 2.0], [np.inf, 3.0]]))
    with pytest.raises(ValueError, match=r"got 1 NaN and 0 infinite"):
        as_time_series(pd.Series([1, None, 3], dtype="Int64"))
    with pytest.raises(ValueError, match=r"got 1 NaN and 0 infinite"):
        as_time_series([1.0, None, 3.0])


def test_duplicated_index_is_rejected():
    series = pd.Series([1.0, 2.0, 3.0], index=pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-02"]))
    with pytest.raises(ValueError, match=r"unique time labels, got duplicated label\(s\) 2020-01-02.*groupby"):
        as_time_series(series)


def test_unsorted_index_is_rejected():
    series = pd.Series([1.0, 2.0, 3.0], index=[1, 3, 2])
    with pytest.raises(ValueError, match=r"sorted by time .*got label 2 at position 2 after 3\. .*sort_index\(\)"):
        as_time_series(series)


def test_missing_index_label_is_rejected():
    series = pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2020-01-01", pd.NaT]))
    with pytest.raises(ValueError, match=r"missing time labels \(NaN or NaT\)"):
        as_time_series(series)


@pytest.mark.parametrize(
    "index",
    [pd.Index(["a", "b", "c"]), pd.MultiIndex.from_tuples([(0, 0), (0, 1), (1, 0)])],
)
def test_non_temporal_index_is_rejected(index):
    with pytest.raises(TypeError, match=r"y must be indexed by time.*reset_index\(drop=True\)"):
        as_time_series(pd.Series([1.0, 2.0, 3.0], index=index))


def test_3d_array_is_rejected():
    with pytest.raises(ValueError, match=r"1-D \(time,\) or 2-D \(time, columns\), got an array of shape \(2, 3, 4\)"):
        as_time_series(np.zeros((2, 3, 4)))


@pytest.mark.parametrize("data", [[], np.zeros(0), pd.Series([], dtype=float), np.zeros((4, 0))])
def test_empty_input_is_rejected(data):
    with pytest.raises(ValueError, match=r"y must not be empty, got shape"):
        as_time_series(data)


def test_dataframe_without_columns_is_rejected():
    with pytest.raises(ValueError, match=r"at least one column, got a DataFrame with none"):
        as_time_series(pd.DataFrame(index=range(3)))


def test_dataframe_with_duplicated_columns_is_rejected():
    frame = pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], columns=["a", "a"])
    with pytest.raises(ValueError, match=r"unique column names, got duplicated column\(s\) \['a'\]"):
        as_time_series(frame)


def test_too_short_series_gives_count_and_reason():
    with pytest.raises(
        ValueError,
        match=r"y must have at least 7 time steps, got 4: order=5 needs order \+ 2 = 7\. Pass a longer series",
    ):
        as_time_series([1.0, 2.0, 3.0, 4.0], min_length=7, reason="order=5 needs order + 2 = 7")
    with pytest.raises(ValueError, match=r"y must have at least 2 time steps, got 1\. Pass a longer series"):
        as_time_series([1.0])


@pytest.mark.parametrize("data, kind", [(3.0, "float"), ("abc", "str"), ({"a": [1, 2]}, "dict"), (None, "NoneType")])
def test_non_array_input_is_rejected(data, kind):
    with pytest.raises(TypeError, match=rf"y must be a pandas Series or DataFrame, .* got {kind}\."):
        as_time_series(data)


def test_scalar_array_is_rejected():
    with pytest.raises(TypeError, match=r"sequence of observations, got the scalar 3\.0"):
        as_time_series(np.array(3.0))


def test_ragged_list_is_rejected():
    with pytest.raises(ValueError, match=r"could not be read as a rectangular array"):
        as_time_series([[1.0, 2.0], [3.0]])


def test_bad_min_length_is_rejected():
    with pytest.raises(TypeError, match=r"min_length must be an integer >= 1, got 2\.0 \(float\)"):
        as_time_series([1.0, 2.0], min_length=2.0)


def test_datetime_index_without_frequency_is_stored_and_extend_asks_for_one():
    dates = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-05"])
    with pytest.warns(UserWarning, match=r"regular time check: .*no frequency.*asfreq\('D'\)"):
        data = as_time_series(pd.Series([1.0, 2.0, 3.0], index=dates))
    assert data.index.equals(dates) and data.index.freq is None
    with pytest.raises(ValueError, match=r"without a frequency.*series = series\.asfreq\('D'\)"):
        extend_index(data.index, 2)


# --------------------------------------------------------------------------- extend_index


def test_extend_annual_period_index():
    index = pd.period_range("1700", "2008", freq="Y", name="year")
    expected = pd.PeriodIndex([pd.Period("2009", "Y"), pd.Period("2010", "Y"), pd.Period("2011", "Y")], name="year")
    assert extend_index(index, 3).equals(expected)
    assert extend_index(index, 3).name == "year"


def test_extend_monthly_period_index_across_year_end():
    index = pd.period_range("2000-09", periods=4, freq="M")
    expected = pd.PeriodIndex([pd.Period("2001-01", "M"), pd.Period("2001-02", "M")])
    result = extend_index(index, 2)
    assert result.equals(expected) and result.freq == index.freq


def test_extend_datetime_index_with_freq_keeps_tz_and_name():
    index = pd.date_range("2021-03-01", periods=5, freq="D", tz="UTC", name="t")
    result = extend_index(index, 2)
    expected = pd.DatetimeIndex(
        [pd.Timestamp("2021-03-06", tz="UTC"), pd.Timestamp("2021-03-07", tz="UTC")], name="t"
    ).as_unit(index.unit)
    assert result.equals(expected) and result.name == "t" and str(result.tz) == "UTC"


def test_extend_datetime_index_with_inferable_month_start():
    index = pd.DatetimeIndex(["2020-10-01", "2020-11-01", "2020-12-01"])
    assert index.freq is None
    result = extend_index(index, 3)
    expected = pd.to_datetime(["2021-01-01", "2021-02-01", "2021-03-01"]).as_unit(index.unit)
    assert result.equals(expected)


def test_extend_datetime_index_with_two_labels_asks_for_freq():
    index = pd.DatetimeIndex(["2020-01-01", "2020-02-01"])
    with pytest.raises(ValueError, match=r"cannot infer one from its 2 label\(s\).*asfreq"):
        extend_index(index, 1)


def test_extend_timedelta_index():
    index = pd.to_timedelta(["1h", "2h", "3h"])
    expected = pd.to_timedelta(["4h", "5h"]).as_unit(index.unit)
    assert extend_index(index, 2).equals(expected)


def test_extend_range_index_with_step_two():
    # stop=9 is off the grid 0, 2, ..., 8: the next label is 10, not 9
    result = extend_index(pd.RangeIndex(0, 9, 2, name="t"), 3)
    assert isinstance(result, pd.RangeIndex)
    assert list(result) == [10, 12, 14] and result.name == "t"


def test_extend_plain_integer_index():
    result = extend_index(pd.Index([1990, 1995, 2000]), 2)
    assert result.equals(pd.Index([2005, 2010])) and result.dtype == np.int64


def test_extend_integer_index_with_uneven_steps_is_rejected():
    with pytest.raises(ValueError, match=r"without one constant step, got steps \[1, 2\].*reset_index"):
        extend_index(pd.Index([1, 2, 4]), 1)


def test_extend_single_integer_label_is_rejected():
    with pytest.raises(ValueError, match=r"without one constant step, got a single label"):
        extend_index(pd.Index([5]), 1)


def test_extend_other_index_types_are_rejected():
    with pytest.raises(ValueError, match=r"cannot continue this index \(Index of dtype (object|str)\).*PeriodIndex"):
        extend_index(pd.Index(["a", "b", "c"]), 1)


def test_extend_float_index_continues_with_the_median_step():
    """Decimal years rounded to 3 places: the median step, not the last (rounded) one."""
    idx = pd.Index([1990.0, 1990.083, 1990.167, 1990.25, 1990.333], name="year")
    future = extend_index(idx, 2)
    assert future.name == "year" and future.dtype == np.float64
    # steps 0.083, 0.084, 0.083, 0.083: median 0.083
    np.testing.assert_allclose(future.to_numpy(), [1990.333 + 0.083, 1990.333 + 0.166], atol=1e-9)
    with pytest.raises(ValueError, match="cannot continue a float index without a positive step, got a single label"):
        extend_index(pd.Index([0.5]), 1)
    with pytest.raises(ValueError, match="labels that do not increase"):
        extend_index(pd.Index([0.5, 0.25]), 1)


def test_extend_empty_index_is_rejected():
    with pytest.raises(ValueError, match=r"at least one label to continue, got an empty index"):
        extend_index(pd.RangeIndex(0), 1)


@pytest.mark.parametrize("steps, error", [(0, ValueError), (-1, ValueError), (1.0, TypeError), (True, TypeError)])
def test_extend_rejects_bad_steps(steps, error):
    with pytest.raises(error, match=r"steps must be an integer >= 1"):
        extend_index(pd.RangeIndex(3), steps)


def test_extend_rejects_non_index():
    with pytest.raises(TypeError, match=r"index must be a pandas Index, got list"):
        extend_index([1, 2, 3], 1)


# --------------------------------------------------------------------------- as_data_matrix


def test_data_matrix_from_series_is_one_column():
    series = pd.Series([1, 2, 3], index=[7, 3, 5], name="waiting")
    values, index, names = as_data_matrix(series)
    np.testing.assert_array_equal(values, np.array([[1.0], [2.0], [3.0]]))
    _assert_float64_c(values)
    # rows are exchangeable: an unsorted index is kept as is
    assert index.equals(pd.Index([7, 3, 5])) and names == ("waiting",)


def test_data_matrix_from_dataframe_and_arrays():
    frame = pd.DataFrame({"eruptions": [3.6, 1.8], "waiting": [79, 54]})
    values, index, names = as_data_matrix(frame)
    np.testing.assert_array_equal(values, frame.to_numpy(dtype=np.float64))
    assert names == ("eruptions", "waiting") and index.equals(pd.RangeIndex(2))
    values, _, names = as_data_matrix(np.ones((3, 2)))
    assert values.shape == (3, 2) and names == ("x0", "x1")
    values, _, names = as_data_matrix([1, 2, 3])
    assert values.shape == (3, 1) and names == ("x",)


def test_data_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match=r"x must be 1-D \(data,\) or 2-D \(data, columns\)"):
        as_data_matrix(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"x must contain only finite values, got 1 NaN"):
        as_data_matrix(np.array([[1.0, np.nan]]))
    with pytest.raises(TypeError, match=r"x must be numeric .*got booleans"):
        as_data_matrix(np.array([True]))
    with pytest.raises(ValueError, match=r"x must not be empty"):
        as_data_matrix(np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"x must have at least 3 rows, got 2"):
        as_data_matrix([1.0, 2.0], min_rows=3)


# --------------------------------------------------------------------------- dependencies


def test_data_modules_do_not_import_torch():
    code = (
        "import sys, probmodels._validation, probmodels.data, probmodels.datasets; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'pyro')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
