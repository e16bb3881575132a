"""Tests for probmodels._validation: accepted values come back in canonical types,
each rejected value raises the documented error with a message that says how to fix it."""

import numpy as np
import pytest

from probmodels._validation import (
    MAX_SEED,
    check_choice,
    check_finite,
    check_float,
    check_int,
    check_keys,
    check_magnitude,
    check_seed,
)

# --------------------------------------------------------------------------- check_int


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_check_int_accepts_python_and_numpy_integers(value):
    result = check_int(value, "order", minimum=1)
    assert result == 3 and type(result) is int


def test_check_int_without_minimum_accepts_negative():
    assert check_int(-4, "offset") == -4


def test_check_int_minimum_is_inclusive():
    assert check_int(0, "warmup_steps", minimum=0) == 0


def test_check_int_rejects_float_with_documented_message():
    msg = "order must be an integer >= 1, got 2.5 (float). Pass an int, e.g. order=2."
    with pytest.raises(TypeError) as info:
        check_int(2.5, "order", minimum=1)
    assert str(info.value) == msg


@pytest.mark.parametrize(
    "value, kind",
    [(2.0, "float"), (np.float64(3.0), "float64"), (True, "bool"), ("3", "str"), (None, "NoneType")],
)
def test_check_int_rejects_non_integers(value, kind):
    with pytest.raises(TypeError, match=rf"steps must be an integer >= 1, got .*\({kind}\)\. Pass an int"):
        check_int(value, "steps", minimum=1)


def test_check_int_rejects_below_minimum():
    with pytest.raises(ValueError, match=r"window must be an integer >= 5, got 4\. Pass e\.g\. window=5"):
        check_int(4, "window", minimum=5)


# --------------------------------------------------------------------------- check_float


@pytest.mark.parametrize("value, expected", [(1, 1.0), (0.25, 0.25), (np.float32(0.5), 0.5), (np.int64(2), 2.0)])
def test_check_float_converts_to_python_float(value, expected):
    result = check_float(value, "lr")
    assert result == expected and type(result) is float


def test_check_float_bounds_are_inclusive():
    assert check_float(0.0, "noise", minimum=0.0) == 0.0
    assert check_float(1.0, "p", minimum=0.0, maximum=1.0) == 1.0


@pytest.mark.parametrize("value", [True, "0.1", 1 + 2j, None, [0.1]])
def test_check_float_rejects_non_numbers(value):
    with pytest.raises(TypeError, match=r"lr must be a finite number > 0, got .*\. Pass a Python float"):
        check_float(value, "lr", positive=True)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_check_float_rejects_non_finite(value):
    with pytest.raises(ValueError, match=r"scale must be a finite number, got .*\. Pass a finite value"):
        check_float(value, "scale")


@pytest.mark.parametrize("value", [0.0, -1e-12])
def test_check_float_positive_is_strict(value):
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0, got"):
        check_float(value, "lr", positive=True)


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_check_float_rejects_outside_bounds(value):
    with pytest.raises(ValueError, match=r"p must be a finite number >= 0\.0 and <= 1\.0, got"):
        check_float(value, "p", minimum=0.0, maximum=1.0)


# --------------------------------------------------------------------------- check_choice

SCHEDULES = ("constant", "cosine", "exponential")


def test_check_choice_returns_accepted_value():
    assert check_choice("cosine", "schedule", SCHEDULES) == "cosine"


def test_check_choice_lists_accepted_values_and_suggests():
    with pytest.raises(ValueError) as info:
        check_choice("cosin", "schedule", SCHEDULES)
    assert str(info.value) == (
        "schedule must be one of 'constant', 'cosine', 'exponential'; got 'cosin' (str). "
        "Did you mean 'cosine'?"
    )


@pytest.mark.parametrize("value", [None, 1, ("cosine",)])
def test_check_choice_rejects_non_strings(value):
    with pytest.raises(ValueError, match="schedule must be one of 'constant', 'cosine', 'exponential'"):
        check_choice(value, "schedule", SCHEDULES)


# --------------------------------------------------------------------------- check_finite


@pytest.mark.parametrize(
    "array", [np.arange(5), np.array([True, False]), np.array([[1.0, -2.0], [1e300, 0.0]])]
)
def test_check_finite_accepts_finite(array):
    assert check_finite(array, "y") is None


def test_check_finite_counts_nan_and_inf_and_gives_first_positions():
    array = np.array([[1.0, np.nan], [np.inf, 2.0], [np.nan, -np.inf], [np.nan, 0.0]])
    with pytest.raises(ValueError) as info:
        check_finite(array, "y")
    message = str(info.value)
    assert "got 3 NaN and 2 infinite value(s) out of 8" in message
    # row-major order, first three only
    assert "first at position(s) (0, 1), (1, 0), (2, 0)." in message
    assert "dropna()" in message and "interpolate()" in message


def test_check_finite_names_first_label():
    labels = ["2001-01", "2001-02", "2001-03"]
    with pytest.raises(ValueError, match=r"1 NaN and 0 infinite .* first at position\(s\) 2 \(first label '2001-03'\)"):
        check_finite(np.array([0.0, 1.0, np.nan]), "y", labels=labels)


def test_check_finite_rejects_non_numeric():
    with pytest.raises(TypeError, match=r"y must be a numeric array, got dtype <U1"):
        check_finite(np.array(["a", "b"]), "y")


# --------------------------------------------------------------------------- check_keys


def test_check_keys_none_gives_empty_dict():
    assert check_keys(None, "priors", ["phi", "sigma"]) == {}


def test_check_keys_returns_a_copy():
    priors = {"sigma": 1.0}
    result = check_keys(priors, "priors", ["phi", "sigma"])
    result["phi"] = 2.0
    assert result == {"sigma": 1.0, "phi": 2.0} and priors == {"sigma": 1.0}


def test_check_keys_rejects_unknown_and_lists_allowed():
    with pytest.raises(ValueError) as info:
        check_keys({"sigma": 1.0, "sigam": 2.0}, "priors", ["phi", "sigma"])
    assert str(info.value) == (
        "priors has unknown key(s) 'sigam'; accepted keys are 'phi', 'sigma'. Did you mean 'sigma'?"
    )


def test_check_keys_rejects_non_string_key():
    with pytest.raises(ValueError, match=r"priors has unknown key\(s\) 1; accepted keys are 'phi'"):
        check_keys({1: 2.0}, "priors", ["phi"])


@pytest.mark.parametrize("value", [[("phi", 1.0)], "phi", 3])
def test_check_keys_rejects_non_mapping(value):
    with pytest.raises(TypeError, match=r"priors must be a dict or None, got .*Pass e\.g\. priors=\{'phi': \.\.\.\}"):
        check_keys(value, "priors", ["phi"])


# --------------------------------------------------------------------------- check_seed


@pytest.mark.parametrize("seed, expected", [(None, None), (0, 0), (np.uint32(7), 7), (MAX_SEED, 2**32 - 1)])
def test_check_seed_accepts(seed, expected):
    result = check_seed(seed)
    assert result == expected
    assert result is None or type(result) is int


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_check_seed_rejects_out_of_range(seed):
    with pytest.raises(ValueError, match=r"seed must be None or an integer in \[0, 2\*\*32 - 1\], got"):
        check_seed(seed)


@pytest.mark.parametrize("seed", [1.0, True, "1", np.random.default_rng(0)])
def test_check_seed_rejects_non_integers(seed):
    with pytest.raises(TypeError, match=r"seed must be None or an integer .* Pass e\.g\. seed=0"):
        check_seed(seed)


def test_check_options_merges_defaults_and_rejects_unknown_names():
    from probmodels._validation import check_options

    assert check_options({"steps": 5}, "svi", {"steps": 1000, "lr": 0.1}) == {"steps": 5, "lr": 0.1}
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['step'\] for method='svi'.*'steps'"):
        check_options({"step": 5}, "svi", {"steps": 1000, "lr": 0.1})


# --------------------------------------------------------------------- check_magnitude


def test_check_magnitude_accepts_the_float64_safe_range():
    check_magnitude(np.array([[1e150, -1e-150], [0.0, 3.0]]), "x")
    check_magnitude(np.zeros((3, 2)), "x")          # an all-zero column is not "too small"
    check_magnitude(np.array([1, 2]), "x")          # integers never overflow a square here


@pytest.mark.parametrize("scale, which", [(1e300, "too large"), (-1e151, "too large"),
                                          (1e-300, "too small")])
def test_check_magnitude_names_the_column_its_size_and_the_rescaling(scale, which):
    x = np.ones((4, 2))
    x[:, 1] = scale * np.arange(1, 5)
    with pytest.raises(ValueError, match=rf"x column 'b' has values {which} .*x / np.abs\(x\)"):
        check_magnitude(x, "x", columns=["a", "b"])


# ------------------------------------------------------- shapes the models refuse up front


def test_gmm_refuses_data_near_1e300_instead_of_nan_probabilities():
    import probmodels as pm

    x = np.random.default_rng(0).standard_normal((50, 2))
    with pytest.raises(ValueError, match="x column 'x1' has values too large"):
        pm.GaussianMixture(2).fit(x * [1.0, 1e300], progress=False)
    # values near 1e-300 were reported as a constant feature (their variance underflows)
    with pytest.raises(ValueError, match="x column 'x0' has values too small"):
        pm.GaussianMixture(2).fit(x * 1e-300, progress=False)


@pytest.mark.parametrize("shape, covariance, fix", [
    ((1000, 150), "full", r"covariance='diag' \(601 parameters\)"),
    ((2, 300), "full", r"pass x\.T"),            # a transposed array: refused, not 20 GB
    ((30, 1200), "diag", "fewer features"),
])
def test_gmm_refuses_more_features_than_its_posterior_approximation_supports(shape, covariance, fix):
    import probmodels as pm
    from probmodels.models.gmm.model import MAX_PARAMETERS

    K = 1 if shape[0] == 2 else 2
    x = np.random.default_rng(0).standard_normal(shape)
    with pytest.raises(ValueError, match=rf"has {shape[1]} features: .* more than the "
                                         rf"{MAX_PARAMETERS:,} .*{fix}"):
        pm.GaussianMixture(K, covariance=covariance).fit(x, progress=False)


@pytest.mark.parametrize("method", ["exact", "svi", "nuts"])
def test_ar_refuses_an_order_near_the_series_length(method):
    """AR(150) on 200 points: 50 equations for 151 coefficients (SVI's Cholesky failed)."""
    import probmodels as pm

    y = np.random.default_rng(0).standard_normal(200)
    with pytest.raises(ValueError, match=r"order 150 is too close to the series length \(200 "
                                         r"steps\): 50 modelled steps for 151 .*order <= 99"):
        pm.BayesianAR(150).fit(y, method=method, progress=False)
    with pytest.raises(ValueError, match=r"order 3 .* 3 modelled steps for 4 .*order <= 2"):
        pm.BayesianAR(3, hold_back=4).fit(y[:7], progress=False)


def test_gmm_refuses_fewer_than_two_points_per_component():
    """3 points for 2 components: a component held one point and its sigma draws were 0
    (a raw Pyro constraint error, found by tests/test_properties.py)."""
    import probmodels as pm

    with pytest.raises(ValueError, match=r"n_components=2 needs at least 4 data points \(two per "
                                         r"component.*got 3\. Use n_components <= 1"):
        pm.GaussianMixture(2).fit(np.array([0.13, -0.13, 0.64]), progress=False)
