"""Tests for probmodels.export under ArviZ < 1 (InferenceData) and >= 1 (DataTree).

The same expectations run in both environments (``make test`` and
``make test-arviz1``), which is what checks that the two containers hold the
same variables, dims and coords. This file imports no torch, so it runs in the
torch-free ArviZ 1.x venv.
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from probmodels import export

with warnings.catch_warnings():
    # ArviZ 0.23 announces its 1.0 refactor on import; the export module hides
    # it the same way
    warnings.filterwarnings(
        "ignore", message=r"\s*ArviZ is undergoing a major refactor", category=FutureWarning
    )
    import arviz as az

REPO_ROOT = Path(__file__).resolve().parents[1]
ARVIZ_1 = export.arviz_version() >= (1, 0)

N_CHAIN, N_DRAW, N_OBS = 3, 40, 6
GROUPS = ["posterior", "posterior_predictive", "log_likelihood", "sample_stats", "observed_data"]
ATTRS = {"inference_library": "pyro", "probmodels_method": "svi", "num_steps": 500}
TIME = pd.period_range("2020-01", periods=N_OBS, freq="M")
COEF = ["intercept", "slope"]


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=N_OBS)
    mu = rng.normal(0.0, 0.2, size=(N_CHAIN, N_DRAW))
    beta = rng.normal(size=(N_CHAIN, N_DRAW, len(COEF)))
    # pointwise Normal(y | mu, 1) log-density: one column per observation
    log_lik = -0.5 * (y - mu[..., None]) ** 2 - 0.5 * np.log(2 * np.pi)
    return {
        "posterior": {"mu": mu, "beta": beta},
        "posterior_predictive": {"y": mu[..., None] + rng.normal(size=(N_CHAIN, N_DRAW, N_OBS))},
        "log_likelihood": {"y": log_lik},
        "sample_stats": {
            "lp": log_lik.sum(-1),
            "diverging": np.zeros((N_CHAIN, N_DRAW), dtype=bool),
        },
        "observed_data": {"y": y},
    }


def _export(arrays, **kwargs):
    kwargs.setdefault("coords", {"time": TIME, "coef": COEF})
    kwargs.setdefault("dims", {"beta": ["coef"], "y": ["time"]})
    kwargs.setdefault("attrs", ATTRS)
    return export.to_arviz(**arrays, **kwargs)


@pytest.fixture
def arrays():
    return _arrays()


@pytest.fixture
def data(arrays):
    return _export(arrays)


def _flat_log_lik(arrays):
    # (chain, draw, time) -> (sample, time)
    return arrays["log_likelihood"]["y"].reshape(-1, N_OBS)


def _logmeanexp(x, axis):
    m = x.max(axis=axis)
    return m + np.log(np.mean(np.exp(x - np.expand_dims(m, axis)), axis=axis))


# --------------------------------------------------------------------------
# import hygiene
# --------------------------------------------------------------------------


def _run_python(code, *flags):
    path = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, *flags, "-c", code], env=env, capture_output=True, text=True, check=False
    )


def test_import_does_not_import_torch():
    proc = _run_python(
        "import sys, probmodels.export\n"
        "heavy = sorted({'torch', 'pyro'} & set(sys.modules))\n"
        "assert not heavy, f'probmodels.export imported {heavy}'"
    )
    assert proc.returncode == 0, proc.stderr


def test_to_arviz_hides_arviz_refactor_warning():
    # a fresh interpreter, so ArviZ is imported (and would warn) inside to_arviz
    proc = _run_python(
        "import numpy as np, probmodels.export as e\n"
        "e.to_arviz(posterior={'a': np.zeros((1, 2))})",
        "-W",
        "error::FutureWarning",
    )
    assert proc.returncode == 0, proc.stderr


def test_arviz_version_matches_installed():
    major, minor = export.arviz_version()
    assert az.__version__.startswith(f"{major}.{minor}.")


# --------------------------------------------------------------------------
# conversion: values, dims, coords
# --------------------------------------------------------------------------


def test_container_type_follows_arviz_version(data):
    if ARVIZ_1:
        assert isinstance(data, xr.DataTree)
    else:
        assert isinstance(data, az.InferenceData)
    assert export.group_names(data) == GROUPS


def test_round_trip_values_dims_coords(arrays, data):
    expected_dims = {
        ("posterior", "mu"): ("chain", "draw"),
        ("posterior", "beta"): ("chain", "draw", "coef"),
        ("posterior_predictive", "y"): ("chain", "draw", "time"),
        ("log_likelihood", "y"): ("chain", "draw", "time"),
        ("sample_stats", "lp"): ("chain", "draw"),
        ("sample_stats", "diverging"): ("chain", "draw"),
        ("observed_data", "y"): ("time",),
    }
    for group in GROUPS:
        ds = export.get_group(data, group)
        assert isinstance(ds, xr.Dataset)
        assert sorted(ds.data_vars) == sorted(arrays[group])
        for name, values in arrays[group].items():
            assert ds[name].dims == expected_dims[group, name]
            assert ds[name].dtype == values.dtype
            np.testing.assert_array_equal(ds[name].values, values)
        if group != "observed_data":
            np.testing.assert_array_equal(ds["chain"].values, np.arange(N_CHAIN))
            np.testing.assert_array_equal(ds["draw"].values, np.arange(N_DRAW))
        for key, value in ATTRS.items():
            assert ds.attrs[key] == value
        assert ds.attrs["creation_library"] == "probmodels"
    posterior = export.get_group(data, "posterior")
    assert list(posterior["coef"].values) == COEF


def test_period_index_becomes_period_start(data):
    for group in ("posterior_predictive", "log_likelihood", "observed_data"):
        time = export.get_group(data, group)["time"]
        assert np.issubdtype(time.dtype, np.datetime64)
        starts = [f"2020-{month:02d}-01" for month in range(1, N_OBS + 1)]
        np.testing.assert_array_equal(time.values, np.array(starts, dtype="datetime64[ns]"))


@pytest.mark.parametrize(
    "index, kind",
    [
        (pd.date_range("2021-03-01", periods=N_OBS, freq="D"), "M"),
        (pd.RangeIndex(10, 10 + N_OBS), "i"),
        (np.linspace(0.0, 1.0, N_OBS), "f"),
        ([f"site{i}" for i in range(N_OBS)], None),
    ],
    ids=["datetime", "range", "float", "string"],
)
def test_coord_types_are_kept(arrays, index, kind):
    data = _export(arrays, coords={"time": index, "coef": COEF})
    coord = export.get_group(data, "observed_data")["time"]
    if kind is None:
        assert list(coord.values) == list(index)
    else:
        assert coord.dtype.kind == kind
        np.testing.assert_array_equal(coord.values, np.asarray(index))


def test_unnamed_dims_get_arviz_default_names():
    theta = np.arange(2 * 5 * 3 * 4, dtype=float).reshape(2, 5, 3, 4)
    data = export.to_arviz(posterior={"theta": theta}, observed_data={"x": np.ones(7)})
    posterior = export.get_group(data, "posterior")
    assert posterior["theta"].dims == ("chain", "draw", "theta_dim_0", "theta_dim_1")
    np.testing.assert_array_equal(posterior["theta_dim_1"].values, np.arange(4))
    assert export.get_group(data, "observed_data")["x"].dims == ("x_dim_0",)
    assert export.group_names(data) == ["posterior", "observed_data"]


def test_non_finite_log_likelihood_is_kept(arrays):
    arrays["log_likelihood"]["y"][0, 0, 0] = -np.inf
    arrays["log_likelihood"]["y"][0, 1, 0] = np.nan
    data = _export(arrays)
    log_lik = export.get_group(data, "log_likelihood")["y"].values
    assert log_lik[0, 0, 0] == -np.inf
    assert np.isnan(log_lik[0, 1, 0])


def test_datatree_input_is_read_as_well(data):
    tree = data if ARVIZ_1 else data.to_datatree()
    assert export.group_names(tree) == GROUPS
    xr.testing.assert_identical(
        export.get_group(tree, "posterior"), export.get_group(data, "posterior")
    )


# --------------------------------------------------------------------------
# ArviZ statistics on the exported object, against numpy
# --------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(az, "waic"), reason="az.waic was removed in ArviZ 1.0")
def test_waic_matches_closed_form(arrays, data):
    ll = _flat_log_lik(arrays)
    lppd = _logmeanexp(ll, axis=0)
    # ArviZ's p_waic is the population variance (ddof=0) of the pointwise log-lik
    expected = np.sum(lppd - ll.var(axis=0))
    result = az.waic(data)
    # exact float64 path, only summation order differs
    np.testing.assert_allclose(result.elpd_waic, expected, rtol=1e-10)


def test_loo_matches_importance_sampling_in_numpy(arrays, data):
    """PSIS-LOO against plain importance-sampling LOO.

    ``elpd_i = -log mean_s exp(-log p(y_i | theta_s))`` is the raw IS-LOO
    estimate (harmonic mean). PSIS only smooths the largest ~3 sqrt(S) of the
    S = 120 weights, and for this model (Pareto k <= 0.3) both agree closely:
    observed gaps are 3.3e-4 per point and 6.2e-4 summed over the 6 points, the
    same in ArviZ 0.23 and 1.3. The tolerances (1e-3 per point, 2e-3 summed) are
    ~3x those gaps and well below the LOO correction ``lppd - elpd_loo``
    (0.035), which a wrong axis or a summed log-lik would get wrong.
    """
    ll = _flat_log_lik(arrays)
    is_loo_i = -_logmeanexp(-ll, axis=0)
    lppd = _logmeanexp(ll, axis=0).sum()
    result = az.loo(data, pointwise=True)
    elpd, elpd_i = (result.elpd, result.elpd_i) if ARVIZ_1 else (result.elpd_loo, result.loo_i)
    assert np.isfinite(elpd)
    assert elpd_i.shape == (N_OBS,)
    assert elpd_i.dims == ("time",)
    np.testing.assert_allclose(elpd_i.values, is_loo_i, atol=1e-3)
    np.testing.assert_allclose(elpd, is_loo_i.sum(), atol=2e-3)
    assert lppd - elpd > 0.03


def test_summary_mean_matches_numpy(arrays, data):
    # "none" (not None) returns unrounded numbers in both ArviZ versions
    summary = az.summary(data, kind="stats", round_to="none")
    mu = arrays["posterior"]["mu"]
    # exact float64 means; only summation order differs
    np.testing.assert_allclose(summary.loc["mu", "mean"], mu.mean(), rtol=1e-12)
    beta_mean = arrays["posterior"]["beta"].mean(axis=(0, 1))
    for j, name in enumerate(COEF):
        np.testing.assert_allclose(summary.loc[f"beta[{name}]", "mean"], beta_mean[j], rtol=1e-12)
    np.testing.assert_allclose(summary.loc["mu", "sd"], mu.std(ddof=1), rtol=1e-12)


# --------------------------------------------------------------------------
# model comparison: compare_loo against az.loo of each model
# --------------------------------------------------------------------------


def _shifted_model(arrays, shift, ll=None):
    """The model y ~ Normal(mu + shift, 1) on the same observations as ``arrays``."""
    y = arrays["observed_data"]["y"]
    mu = arrays["posterior"]["mu"] + shift
    if ll is None:
        ll = -0.5 * (y - mu[..., None]) ** 2 - 0.5 * np.log(2 * np.pi)
    return export.to_arviz(posterior={"mu": mu}, log_likelihood={"y": ll},
                           observed_data={"y": y}, coords={"time": TIME}, dims={"y": ["time"]})


def _loo(data):
    """(elpd, p, se, elpd_i, max Pareto k, good k) of az.loo in either ArviZ version."""
    r = az.loo(data, pointwise=True)
    if ARVIZ_1:
        return r.elpd, r.p, r.se, r.elpd_i.values, float(r.pareto_k.max()), r.good_k
    return r.elpd_loo, r.p_loo, r.se, r.loo_i.values, float(r.pareto_k.max()), r.good_k


def test_compare_loo_matches_loo_of_each_model(arrays):
    models = {name: _shifted_model(arrays, shift)
              for name, shift in [("shift 1.5", 1.5), ("exact", 0.0), ("shift 0.5", 0.5)]}
    table = export.compare_loo(models)

    assert list(table.columns) == list(export.COMPARE_COLUMNS)
    assert list(export.COMPARE_COLUMNS) == ["rank", "elpd_loo", "p_loo", "elpd_diff", "weight",
                                            "se", "dse", "warning"]
    assert table.index.name == "model"
    loo = {name: _loo(data) for name, data in models.items()}
    # best first: the model that generated nothing shifted predicts best
    assert list(table.index) == sorted(models, key=lambda m: -loo[m][0])
    assert list(table.index) == ["exact", "shift 0.5", "shift 1.5"]
    np.testing.assert_array_equal(table["rank"].to_numpy(), [0, 1, 2])
    best = loo["exact"]
    n = N_OBS
    for name, (elpd, p, se, elpd_i, _, _) in loo.items():
        row = table.loc[name]
        # the same PSIS computation on the same draws: equal to rounding
        np.testing.assert_allclose(row["elpd_loo"], elpd, rtol=1e-12)
        np.testing.assert_allclose(row["p_loo"], p, rtol=1e-10)
        np.testing.assert_allclose(row["se"], se, rtol=1e-12)
        # ArviZ < 1 takes the pointwise variance with ddof=0, ArviZ >= 1 with ddof=1
        np.testing.assert_allclose(row["se"], np.sqrt(n * np.var(elpd_i, ddof=int(ARVIZ_1))),
                                   rtol=1e-10)
        # elpd_diff in ArviZ < 1's sign: how much worse than the best, >= 0
        np.testing.assert_allclose(row["elpd_diff"], best[0] - elpd, rtol=1e-10, atol=1e-12)
        diff_i = best[3] - elpd_i
        np.testing.assert_allclose(row["dse"], np.sqrt(n * np.var(diff_i)), rtol=1e-10,
                                   atol=1e-12)
        assert not row["warning"]
    assert table.loc["exact", "elpd_diff"] == 0.0 and table.loc["exact", "dse"] == 0.0
    assert (table["elpd_diff"].iloc[1:] > 0.1).all()

    # stacking weights: on the simplex, and no single model scores better than the mix
    w = table["weight"].to_numpy()
    assert (w >= 0).all() and (w <= 1 + 1e-9).all()
    np.testing.assert_allclose(w.sum(), 1.0, atol=1e-6)
    elpd_ik = np.stack([loo[m][3] for m in table.index], axis=1)  # (time, model)

    def score(weights):
        return np.sum(np.log(np.exp(elpd_ik) @ weights))

    # the optimiser stops at ~1e-6 of the optimum
    assert all(score(w) >= score(vertex) - 1e-6 for vertex in np.eye(len(w)))


def test_compare_loo_warning_flags_large_pareto_k(arrays):
    rng = np.random.default_rng(5)
    ll = arrays["log_likelihood"]["y"].copy()
    # weights exp(z^2) of the LOO ratio for point 0 have a tail index of 2: k ~ 1
    ll[:, :, 0] = -rng.normal(size=(N_CHAIN, N_DRAW)) ** 2
    models = {"fine": _shifted_model(arrays, 0.0), "heavy": _shifted_model(arrays, 0.0, ll)}
    with pytest.warns(UserWarning, match="shape parameter of Pareto"):
        table = export.compare_loo(models)
        loo = {name: _loo(data) for name, data in models.items()}
    for name, (*_, max_k, good_k) in loo.items():
        assert table.loc[name, "warning"] == (max_k > good_k)
    assert table["warning"].to_dict() == {"fine": False, "heavy": True}
    assert table["warning"].dtype == bool


@pytest.mark.parametrize(
    "models, error, match",
    [
        ({}, ValueError, "non-empty mapping of model name"),
        ([1, 2], ValueError, "non-empty mapping of model name"),
        ({1: None}, TypeError, "model names to be strings"),
        ({"a": {"posterior": None}}, TypeError, r"models\['a'\]: expected an arviz.InferenceData"),
    ],
    ids=["empty", "list", "int-name", "dict-value"],
)
def test_compare_loo_bad_input_raises(models, error, match):
    with pytest.raises(error, match=match):
        export.compare_loo(models)


# --------------------------------------------------------------------------
# netCDF files
# --------------------------------------------------------------------------


def test_netcdf_round_trip(data, tmp_path):
    path = export.save_netcdf(data, tmp_path / "fit.nc")
    assert path == tmp_path / "fit.nc"
    loaded = export.load_netcdf(path)
    assert type(loaded) is type(data)
    assert export.group_names(loaded) == GROUPS
    for group in GROUPS:
        xr.testing.assert_identical(export.get_group(loaded, group), export.get_group(data, group))
    time = export.get_group(loaded, "observed_data")["time"]
    np.testing.assert_array_equal(time.values, TIME.to_timestamp().to_numpy())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def test_netcdf_overwrite_replaces_whole_file(arrays, tmp_path):
    path = tmp_path / "fit.nc"
    export.save_netcdf(_export(arrays), path)
    other = _arrays(seed=1)
    export.save_netcdf(_export(other), path, overwrite=True)
    loaded = export.load_netcdf(path)
    np.testing.assert_array_equal(
        export.get_group(loaded, "posterior")["mu"].values, other["posterior"]["mu"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def test_failed_write_leaves_existing_file_intact(arrays, data, tmp_path, monkeypatch):
    path = export.save_netcdf(data, tmp_path / "fit.nc")
    before = path.read_bytes()
    new = _export(_arrays(seed=1))
    targets = []

    def half_write(self, filename, *args, **kwargs):
        targets.append(Path(filename))
        Path(filename).write_bytes(b"\x89HDF truncated")
        raise OSError("No space left on device")

    monkeypatch.setattr(type(new), "to_netcdf", half_write)
    with pytest.raises(OSError, match="No space left"):
        export.save_netcdf(new, path, overwrite=True)
    monkeypatch.undo()

    assert targets and targets[0] != path and targets[0].parent == path.parent
    assert path.read_bytes() == before
    np.testing.assert_array_equal(
        export.get_group(export.load_netcdf(path), "posterior")["mu"].values,
        arrays["posterior"]["mu"],
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def test_save_refuses_to_overwrite_without_overwrite_true(arrays, data, tmp_path):
    path = export.save_netcdf(data, tmp_path / "fit.nc")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"fit\.nc' already exists; pass overwrite=True"):
        export.save_netcdf(_export(_arrays(seed=1)), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def test_save_refuses_a_file_that_appears_while_writing(data, tmp_path, monkeypatch):
    """The existence check and the move into place are one step: a file created
    by someone else after the check is kept, not replaced."""
    path = tmp_path / "fit.nc"
    to_netcdf = type(data).to_netcdf

    def racing_write(self, filename, *args, **kwargs):
        path.write_bytes(b"someone else's file")
        return to_netcdf(self, filename, *args, **kwargs)

    monkeypatch.setattr(type(data), "to_netcdf", racing_write)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export.save_netcdf(data, path)
    assert path.read_bytes() == b"someone else's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def test_load_plain_netcdf_without_arviz_groups_raises(tmp_path):
    path = tmp_path / "plain.nc"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match=r"plain\.nc' to hold ArviZ groups .*found none"):
        export.load_netcdf(path)


def test_load_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected a netCDF file"):
        export.load_netcdf(tmp_path / "absent.nc")


def test_save_into_missing_directory_raises(data, tmp_path):
    with pytest.raises(FileNotFoundError, match="to exist"):
        export.save_netcdf(data, tmp_path / "no" / "fit.nc")


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------


def _bad(arrays, group, name, value):
    arrays[group][name] = value
    return arrays


@pytest.mark.parametrize(
    "change, match",
    [
        (
            lambda a: _bad(a, "posterior", "beta", np.zeros((N_CHAIN, N_DRAW, 2, 1))),
            r"posterior variable 'beta': expected an array of shape \(chain, draw, coef\) "
            r"\(3 axes\), received shape \(3, 40, 2, 1\)",
        ),
        (
            lambda a: _bad(a, "observed_data", "y", np.zeros((N_OBS, 1))),
            r"observed_data variable 'y': expected an array of shape \(time\) \(1 axes\), "
            r"received shape \(6, 1\)",
        ),
        (
            lambda a: _bad(a, "posterior", "beta", np.zeros((N_CHAIN, N_DRAW, 3))),
            r"posterior variable 'beta': expected shape \(3, 40, 2\) \(chain, draw, coef\), "
            r"received shape \(3, 40, 3\); dim 'coef' \(axis 2\) has size 3 but "
            r"coords\['coef'\] gives it size 2",
        ),
        (
            lambda a: _bad(a, "sample_stats", "lp", np.zeros((N_CHAIN, N_DRAW + 1))),
            r"sample_stats variable 'diverging': expected shape \(3, 41\) \(chain, draw\), "
            r"received shape \(3, 40\); dim 'draw' \(axis 1\) has size 40 but sample_stats "
            r"variable 'lp' gives it size 41",
        ),
        (
            lambda a: _bad(a, "posterior", "mu", np.zeros(N_DRAW)),
            r"posterior variable 'mu': expected an array of shape \(chain, draw, \.\.\.\), "
            r"received shape \(40,\)",
        ),
    ],
    ids=["rank", "observed-rank", "coord-length", "draw-size", "no-chain-axis"],
)
def test_shape_mismatch_raises(arrays, change, match):
    with pytest.raises(ValueError, match=match):
        _export(change(arrays))


def test_dim_size_disagreement_without_coords_raises(arrays):
    arrays["posterior_predictive"]["y"] = np.zeros((N_CHAIN, N_DRAW, N_OBS + 1))
    match = (
        r"log_likelihood variable 'y': expected shape \(3, 40, 7\) \(chain, draw, time\), "
        r"received shape \(3, 40, 6\); dim 'time' \(axis 2\) has size 6 but "
        r"posterior_predictive variable 'y' gives it size 7"
    )
    with pytest.raises(ValueError, match=match):
        _export(arrays, coords={"coef": COEF})


@pytest.mark.parametrize(
    "value",
    [
        np.array([["a", "b"]] * N_CHAIN),
        np.zeros((N_CHAIN, 2), dtype=object),
        np.zeros((N_CHAIN, 2), dtype=complex),
    ],
    ids=["str", "object", "complex"],
)
def test_non_numeric_array_raises(value):
    match = r"expected posterior variable 'x' to be a real numeric array"
    with pytest.raises(TypeError, match=match):
        export.to_arviz(posterior={"x": value})


def test_sample_dims_in_dims_raises(arrays):
    match = r"dims\['beta'\] to list only the dims after \(chain, draw\)"
    with pytest.raises(ValueError, match=match):
        _export(arrays, dims={"beta": ["chain", "draw", "coef"], "y": ["time"]})


def test_empty_posterior_raises():
    with pytest.raises(ValueError, match="expected posterior to be a non-empty mapping"):
        export.to_arviz(posterior={})


def test_bad_attrs_raise(arrays):
    with pytest.raises(TypeError, match=r"attrs\['converged'\] to be a str, int or float"):
        _export(arrays, attrs={"converged": True})


@pytest.mark.parametrize(
    "coord, error, match",
    [
        (pd.date_range("2021-01-01", periods=N_OBS, tz="UTC"), TypeError, "timezone-naive"),
        (np.zeros((N_OBS, 1)), ValueError, "one-dimensional"),
        ([object()] * N_OBS, TypeError, "to hold integers, floats, strings"),
    ],
    ids=["tz-aware", "2d", "object"],
)
def test_bad_coords_raise(arrays, coord, error, match):
    with pytest.raises(error, match=match):
        _export(arrays, coords={"time": coord, "coef": COEF})


def test_dims_for_unknown_variable_warns(arrays):
    with pytest.warns(UserWarning, match=r"dims names variables \['betta'\] that are in no group"):
        _export(arrays, dims={"beta": ["coef"], "betta": ["coef"], "y": ["time"]})


def test_unknown_group_and_container_raise(data):
    with pytest.raises(KeyError, match="prior"):
        export.get_group(data, "prior")
    with pytest.raises(TypeError, match="expected an arviz.InferenceData or xarray.DataTree"):
        export.group_names({"posterior": None})


def test_netcdf_round_trip_of_a_time_axis_longer_than_292_years(tmp_path):
    """Nanosecond time axes end after ~292 years; yearly data (sunspots 1700-2008) is longer."""
    idx = pd.period_range("1700", periods=309, freq="Y")
    data = export.to_arviz(posterior={"mu": np.zeros((1, 10))}, observed_data={"y": np.arange(309.0)},
                           coords={"time": idx}, dims={"y": ["time"]})
    back = export.load_netcdf(export.save_netcdf(data, tmp_path / "long.nc"))
    time = export.get_group(back, "observed_data")["time"].values
    assert str(time[0])[:10] == "1700-01-01" and str(time[-1])[:10] == "2008-01-01"
    np.testing.assert_array_equal(export.get_group(back, "observed_data")["y"].values, np.arange(309.0))


def test_netcdf_round_trip_of_a_timedelta_axis(tmp_path):
    """A TimedeltaIndex (e.g. 15-minute steps since a start) was refused as a coordinate,
    so an AR fit on such a series could forecast but not export."""
    idx = pd.timedelta_range("0s", periods=6, freq="15min")
    data = export.to_arviz(posterior={"mu": np.zeros((1, 10))}, observed_data={"y": np.arange(6.0)},
                           coords={"time": idx}, dims={"y": ["time"]})
    back = export.load_netcdf(export.save_netcdf(data, tmp_path / "td.nc"))
    time = export.get_group(back, "observed_data")["time"].values
    assert np.issubdtype(time.dtype, np.timedelta64)
    np.testing.assert_array_equal(time, idx.to_numpy().astype(time.dtype))


def test_group_specific_dims_override_the_variable_dims():
    """x is (data, feature) as observed, its pointwise log-likelihood (data,)."""
    data = export.to_arviz(
        posterior={"mu": np.zeros((1, 4, 2))},
        log_likelihood={"x": np.zeros((1, 4, 5))},
        observed_data={"x": np.ones((5, 2))},
        dims={"mu": ["feature"], "x": ["data", "feature"], "log_likelihood/x": ["data"]},
        coords={"feature": ["a", "b"]},
    )
    assert export.get_group(data, "log_likelihood")["x"].dims == ("chain", "draw", "data")
    assert export.get_group(data, "observed_data")["x"].dims == ("data", "feature")


@pytest.mark.parametrize("content", [b"hello, not netCDF\n", b"", b"PK\x03\x04 a zip"])
def test_load_netcdf_of_another_kind_of_file_is_a_clear_value_error(content, tmp_path):
    from probmodels.export import load_netcdf

    path = tmp_path / "x.nc"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"x\.nc' is not a netCDF file .*save_netcdf"):
        load_netcdf(path)
