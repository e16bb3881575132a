"""Tests for probmodels.results: index (de)serialisation and the file format guards."""

import json

import numpy as np
import pandas as pd
import pytest

from probmodels.results import index_from_json, index_to_json

INDEXES = [
    pd.RangeIndex(3, 30, 3, name="t"),
    pd.period_range("1700", periods=5, freq="Y", name="year"),
    pd.period_range("2020-01", periods=5, freq="M"),
    pd.date_range("2020-01-01", periods=4, freq="MS", name="date"),
    pd.date_range("2020-01-01 06:00", periods=3, freq="h", tz="UTC"),
    pd.DatetimeIndex(["2020-01-01", "2020-01-05", "2020-02-01"]),
    pd.Index([1, 4, 9]),
    pd.Index([0.5, 1.5]),
    pd.Index(["a", "b"]),
]


@pytest.mark.parametrize("index", INDEXES, ids=lambda i: type(i).__name__ + str(i.dtype))
def test_index_round_trip_is_exact(index):
    back = index_from_json(json.loads(json.dumps(index_to_json(index))))
    pd.testing.assert_index_equal(back, index, exact=True)
    if isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex)):
        assert back.freq == index.freq
