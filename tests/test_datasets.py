"""Tests for probmodels.datasets.

Shipped data: shapes, dtypes and first/last rows against the files read
independently with the csv module, plus published summary values (R's
``faithful`` means, scikit-learn's digit class counts). Simulated data: exact
geometry at noise 0 (the moons lie on unit half circles, the roll at radius t)
and, for noise, the same draws with and without noise differ by N(0, noise^2).
"""

import csv
import math
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from probmodels import datasets
from probmodels.data import as_time_series, extend_index
from probmodels.datasets import Digits, load_digits, load_faithful, load_sunspots, make_moons, make_swiss_roll


def _csv_rows(filename):
    path = resources.files("probmodels.datasets").joinpath("data").joinpath(filename)
    with path.open("r", encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_all_is_sorted_and_complete():
    assert datasets.__all__ == sorted(datasets.__all__)
    assert all(hasattr(datasets, name) for name in datasets.__all__)


# --------------------------------------------------------------------------- sunspots


def test_sunspots_matches_csv():
    header, *rows = _csv_rows("sunspots.csv")
    assert header == ["year", "sunspots"]
    series = load_sunspots()
    assert series.name == "sunspots" and series.dtype == np.float64
    assert len(series) == len(rows) == 309
    for row, position in [(rows[0], 0), (rows[1], 1), (rows[-1], -1)]:
        assert series.index[position] == pd.Period(row[0], freq="Y")
        assert series.iloc[position] == float(row[1])
    # the complete column, parsed by the csv module, equals the loaded values exactly
    np.testing.assert_array_equal(series.to_numpy(), [float(r[1]) for r in rows])


def test_sunspots_index_is_continuous_annual_1700_to_2008():
    index = load_sunspots().index
    assert isinstance(index, pd.PeriodIndex) and index.name == "year"
    assert index.equals(pd.period_range("1700", "2008", freq="Y"))
    assert index.freqstr == "Y-DEC"


def test_sunspots_feed_as_time_series_and_extend_index():
    data = as_time_series(load_sunspots())
    assert data.values.shape == (309, 1) and data.columns == ("sunspots",)
    assert list(extend_index(data.index, 2)) == [pd.Period("2009", "Y"), pd.Period("2010", "Y")]


# --------------------------------------------------------------------------- faithful


def test_faithful_matches_csv_and_published_means():
    header, *rows = _csv_rows("faithful.csv")
    frame = load_faithful()
    assert list(frame.columns) == header == ["eruptions", "waiting"]
    assert frame.shape == (272, 2)
    assert (frame.dtypes == np.float64).all()
    assert frame.iloc[0].tolist() == [float(v) for v in rows[0]] == [3.6, 79.0]
    assert frame.iloc[-1].tolist() == [float(v) for v in rows[-1]]
    # R: mean(faithful$eruptions) = 3.487783, mean(faithful$waiting) = 70.89706,
    # printed to 7 significant digits, hence the 1e-5 tolerance
    assert frame["eruptions"].mean() == pytest.approx(3.487783, abs=1e-6)
    assert frame["waiting"].mean() == pytest.approx(70.89706, abs=1e-5)


# --------------------------------------------------------------------------- digits


def test_digits_shapes_dtypes_and_values():
    digits = load_digits()
    assert isinstance(digits, Digits)
    images, target = digits  # unpacks like a pair
    assert images is digits.images and target is digits.target
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert target.shape == (1797,) and target.dtype == np.int64
    assert images.min() == 0 and images.max() == 16
    # scikit-learn's load_digits: first image's top row, first labels, class counts
    np.testing.assert_array_equal(images[0, 0], [0, 0, 5, 13, 9, 1, 0, 0])
    np.testing.assert_array_equal(target[:10], np.arange(10))
    np.testing.assert_array_equal(np.bincount(target), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])


def test_digits_are_fresh_copies():
    first = load_digits()
    first.images[0, 0, 0] = 99
    assert load_digits().images[0, 0, 0] == 0


# --------------------------------------------------------------------------- make_moons


@pytest.mark.parametrize("n_samples", [200, 201])
def test_moons_without_noise_lie_on_half_circles(n_samples):
    points, labels = make_moons(n_samples, noise=0.0, seed=0)
    assert points.shape == (n_samples, 2) and points.dtype == np.float64
    assert labels.shape == (n_samples,) and labels.dtype == np.int64
    outer, inner = points[labels == 0], points[labels == 1]
    # balanced: floor(n/2) outer, the rest inner
    assert len(outer) == n_samples // 2 and len(inner) == n_samples - n_samples // 2
    # exact float64 geometry: cos^2 + sin^2 = 1 to rounding, so 1e-12
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0, rtol=0, atol=1e-12)
    assert (outer[:, 1] >= 0).all() and (inner[:, 1] <= 0.5 + 1e-12).all()


def test_moons_unshuffled_follow_linspace():
    points, labels = make_moons(7, noise=0.0, shuffle=False)
    t_out, t_in = np.linspace(0, math.pi, 3), np.linspace(0, math.pi, 4)
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(points[:3], np.column_stack([np.cos(t_out), np.sin(t_out)]))
    np.testing.assert_array_equal(points[3:], np.column_stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5]))


def test_moons_are_reproducible_with_seed():
    a_points, a_labels = make_moons(50, seed=3)
    b_points, b_labels = make_moons(50, seed=3)
    np.testing.assert_array_equal(a_points, b_points)
    np.testing.assert_array_equal(a_labels, b_labels)
    c_points, _ = make_moons(50, seed=4)
    assert not np.array_equal(a_points, c_points)


def test_moons_noise_has_requested_scale():
    # same seed: same shuffle, so noisy - clean is exactly the added N(0, noise^2) noise
    n, noise = 5000, 0.1
    clean, clean_labels = make_moons(n, noise=0.0, seed=1)
    noisy, noisy_labels = make_moons(n, noise=noise, seed=1)
    np.testing.assert_array_equal(clean_labels, noisy_labels)
    eps = (noisy - clean).ravel()
    # 2n draws: sd of the mean is noise / sqrt(2n), of the sd about noise / sqrt(4n); 4 standard errors
    assert abs(eps.mean()) < 4 * noise / math.sqrt(2 * n)
    assert abs(eps.std() - noise) < 4 * noise / math.sqrt(4 * n)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_samples": 1}, ValueError, r"n_samples must be an integer >= 2"),
        ({"n_samples": 10.0}, TypeError, r"n_samples must be an integer >= 2, got 10\.0"),
        ({"n_samples": 10, "noise": -0.1}, ValueError, r"noise must be a finite number >= 0\.0"),
        ({"n_samples": 10, "seed": -1}, ValueError, r"seed must be None or an integer"),
        ({"n_samples": 10, "shuffle": "yes"}, TypeError, r"shuffle must be True or False, got 'yes'"),
    ],
)
def test_moons_reject_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_moons(**kwargs)


# --------------------------------------------------------------------------- make_swiss_roll


def test_swiss_roll_without_noise_lies_on_spiral():
    points = make_swiss_roll(1000, seed=0)
    assert points.shape == (1000, 2) and points.dtype == np.float64
    # (t cos t, t sin t) has radius t, so t is recovered as the radius
    t = np.hypot(points[:, 0], points[:, 1])
    assert (t >= 1.5 * math.pi).all() and (t < 4.5 * math.pi).all()
    np.testing.assert_allclose(points, np.column_stack([t * np.cos(t), t * np.sin(t)]), rtol=0, atol=1e-9)


def test_swiss_roll_parameter_is_uniform_on_its_range():
    t = np.hypot(*make_swiss_roll(20000, seed=2).T)
    u = (t / (1.5 * math.pi) - 1) / 2
    # U(0, 1): mean 1/2, sd of the mean sqrt(1/12 / n); 4 standard errors
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / len(u))


def test_swiss_roll_reproducible_and_noise_added_to_same_points():
    n, noise = 4000, 0.5
    clean = make_swiss_roll(n, seed=7)
    np.testing.assert_array_equal(clean, make_swiss_roll(n, seed=7))
    eps = (make_swiss_roll(n, noise=noise, seed=7) - clean).ravel()
    assert abs(eps.std() - noise) < 4 * noise / math.sqrt(4 * n)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_samples": 0}, ValueError, r"n_samples must be an integer >= 1, got 0"),
        ({"n_samples": 5, "noise": float("nan")}, ValueError, r"noise must be a finite number >= 0\.0"),
        ({"n_samples": 5, "seed": 1.5}, TypeError, r"seed must be None or an integer"),
    ],
)
def test_swiss_roll_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_swiss_roll(**kwargs)
