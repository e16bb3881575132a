"""BayesianAR.fit_many: ragged long tables against single-series fits, chunking and a
Dask LocalCluster against serial runs, coverage of the true coefficients, bad input,
persistence and memory that stays flat as the number of chunks grows."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyro.distributions as dist
import pytest
import torch

import probmodels as pm
from probmodels.data import extend_index
from probmodels.models.ar import ManyARFit, many

PHI = (0.6, -0.3)


def _series(T, rng, mu=1.0, phi=PHI, sigma=1.0):
    y = np.zeros(T + 50)
    for t in range(2, T + 50):
        y[t] = mu + phi[0] * y[t - 1] + phi[1] * y[t - 2] + sigma * rng.standard_normal()
    return y[50:]


def _long(num, seed=0, lengths=(60, 120), missing=False):
    """A ragged long table: weekly series of different lengths and starts; with
    ``missing``, some have a NaN inside and some a missing week."""
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(num):
        T = int(rng.integers(*lengths))
        y = _series(T, rng)
        ds = pd.date_range(pd.Timestamp("2020-01-05") + pd.Timedelta(weeks=int(rng.integers(0, 40))),
                           periods=T, freq="W-SUN")
        if missing and s % 3 == 0:
            y[T // 2] = np.nan
        if missing and s % 4 == 1:
            ds, y = ds.delete(T // 3), np.delete(y, T // 3)
        frames.append(pd.DataFrame({"unique_id": f"s{s}", "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def ragged():
    return _long(6, seed=3, missing=True)


@pytest.fixture(scope="module")
def ragged_fit(ragged):
    return pm.BayesianAR(2).fit_many(ragged, seed=11, num_samples=400, chunk_size=4)


def test_each_series_has_the_posterior_of_its_own_single_fit(ragged, ragged_fit):
    table = ragged_fit.summary()
    assert list(table.index.names) == ["unique_id", "parameter"]
    assert set(table.index.get_level_values(0)) == set(ragged.unique_id)
    for uid, group in ragged.groupby("unique_id"):
        # the series alone, as a user would fit it: its own dated index, NaN for the missing week
        y = group.set_index("ds")["y"].asfreq("W-SUN").rename(uid)
        alone = pm.BayesianAR(2).fit(y, seed=11, num_samples=400, progress=False).summary()
        got = table.loc[uid]
        for col in ("mean", "sd", "hdi_3%", "hdi_97%"):
            np.testing.assert_allclose(got[col].to_numpy(), alone.loc[["mu", "phi[1]", "phi[2]", "sigma"], col],
                                       rtol=1e-12, err_msg=f"{uid} {col}")
        assert got["num_missing"].iloc[0] == int(y.isna().sum())
        assert (got["method"] == ("gibbs" if y.isna().any() else "exact")).all()


def test_chunking_changes_nothing(ragged, ragged_fit):
    other = pm.BayesianAR(2).fit_many(ragged, seed=11, num_samples=400, chunk_size=1)
    pd.testing.assert_frame_equal(other.summary(), ragged_fit.summary())
    pd.testing.assert_frame_equal(other.forecast(4), ragged_fit.forecast(4))


def test_forecast_continues_each_index_and_matches_the_one_step_mean(ragged_fit):
    fc = ragged_fit.forecast(3, quantiles=(0.1, 0.9))
    assert list(fc.columns) == ["unique_id", "ds", "mean", "q0.1", "q0.9"]
    for s in ragged_fit.series:
        rows = fc[fc.unique_id == s.uid]
        pd.testing.assert_index_equal(pd.DatetimeIndex(rows.ds.to_numpy()), extend_index(s.index, 3),
                                      check_names=False, exact=False, check_freq=False)
        # E[y_{T+1}] = E[mu + phi . (y_T, y_{T-1})] from the single fit's draws; the
        # forecast's own noise adds sigma / sqrt(N) of Monte Carlo error
        one = ragged_fit.fit_one(s.uid)
        last = one._series(slice(0, one.num_draws))[:, -2:, 0]           # (N, 2), imputed where missing
        mu, phi = one._flat("mu")[:, 0], one._flat("phi")[:, 0]
        expected = np.mean(mu + phi[:, 0] * last[:, 1] + phi[:, 1] * last[:, 0])
        tol = 4 * one._flat("sigma").mean() / np.sqrt(one.num_draws)
        assert abs(rows["mean"].iloc[0] - expected) < tol, s.uid
        assert (rows["q0.1"] < rows["mean"]).all() and (rows["mean"] < rows["q0.9"]).all()


def test_intervals_cover_the_true_coefficients_at_their_rate():
    df = _long(300, seed=5, lengths=(150, 250))
    fit = pm.BayesianAR(2).fit_many(df, seed=2, num_samples=500, hdi_prob=0.9)
    t = fit.summary()
    for name, true in zip(("phi[1]", "phi[2]"), PHI):
        rows = t.xs(name, level="parameter")
        covered = ((rows["hdi_5%"] <= true) & (true <= rows["hdi_95%"])).mean()
        # 300 series: the binomial sd of a 90% rate is 1.7%; 3.5 sds either side
        assert 0.84 <= covered <= 0.96, (name, covered)
    assert (fit.stationarity() > 0.99).mean() > 0.95
    assert fit.flagged().empty or set(fit.flagged().unique_id) <= set(fit.unique_ids)


def test_student_t_prior_is_importance_corrected_per_series(ragged):
    ar = pm.BayesianAR(2, priors={"phi": dist.StudentT(4.0, 0.0, torch.tensor(0.3, dtype=torch.float64))})
    sub = ragged[ragged.unique_id.isin(["s1", "s2"])]
    fit = ar.fit_many(sub, seed=4, num_samples=400)
    t = fit.summary()
    assert t["khat"].notna().all() and (t["khat"] < 0.7).all()
    assert (t["ess"] < 800).all() and (t["ess"] > 100).all()   # the weights' effective size
    alone = fit.fit_one("s2").summary()
    np.testing.assert_allclose(t.loc["s2", "mean"], alone.loc[["mu", "phi[1]", "phi[2]", "sigma"], "mean"],
                               rtol=1e-12)


def test_save_load_round_trip(tmp_path, ragged_fit):
    path = ragged_fit.save(tmp_path / "many")
    back = pm.load(path)
    assert isinstance(back, ManyARFit)
    pd.testing.assert_frame_equal(back.summary(), ragged_fit.summary())
    pd.testing.assert_frame_equal(back.forecast(2), ragged_fit.forecast(2))
    assert back.unique_ids == ragged_fit.unique_ids
    assert len(repr(back)) < 1000


def test_to_arviz_of_one_series(ragged_fit):
    import arviz as az

    idata = ragged_fit.to_arviz("s1")
    assert az.loo(idata).elpd_loo < 0
    with pytest.raises(KeyError, match="no series 'nope'"):
        ragged_fit.fit_one("nope")
    with pytest.raises(ValueError, match="hdi_prob=0.94"):
        ragged_fit.summary(hdi_prob=0.5)


# ------------------------------------------------------------------- bad input

def _good(num=3):
    return _long(num, seed=1, lengths=(40, 60))


def _with(bad, good=None):
    return pd.concat([good if good is not None else _good(), bad], ignore_index=True)


BAD = {
    "duplicate": (lambda: _with(pd.DataFrame({"unique_id": "bad", "ds": [1, 2, 2, 3, 4, 5, 6],
                                             "y": [1.0, 2, 3, 1, 2, 5, 3]})), "duplicate ds 2"),
    "mixed ds": (lambda: pd.DataFrame({"unique_id": "bad", "ds": [1, "2", 3, 4, 5, 6],
                                       "y": [1.0, 2, 3, 1, 2, 5]}), "ds cannot be sorted"),
    "non-numeric y": (lambda: _with(pd.DataFrame({"unique_id": "bad", "ds": range(8),
                                                 "y": ["1", "x", "3", "4", "2", "1", "5", "3"]})),
                      "not numeric"),
    "too short": (lambda: _with(pd.DataFrame({"unique_id": "bad", "ds": range(3), "y": [1.0, 2, 0]})),
                  "fewer than the 4"),
    "irregular": (lambda: _with(pd.DataFrame({"unique_id": "bad", "ds": [0.0, 1.0, 2.7, 3.1, 7.9, 8.2],
                                             "y": [1.0, 2, 0, 3, 1, 2]})), "no regular time step"),
    "all NaN": (lambda: _with(pd.DataFrame({"unique_id": "bad", "ds": range(6), "y": np.nan})),
                "missing everywhere"),
    "constant": (lambda: _with(pd.DataFrame({"unique_id": "bad", "ds": range(8), "y": 2.0})), "constant"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_series_is_named_before_any_fitting(case, monkeypatch):
    make, match = BAD[case]
    df = make()
    if case == "mixed ds":
        df = pd.concat([df.astype({"ds": object}), _good().astype({"ds": object})], ignore_index=True)
    calls = []
    monkeypatch.setattr(many, "summarize_chunk", lambda *a, **k: calls.append(1))
    with pytest.raises(ValueError, match=match) as info:
        pm.BayesianAR(2).fit_many(df, seed=0)
    assert "series 'bad'" in str(info.value) and "errors='skip'" in str(info.value)
    assert calls == []


@pytest.mark.parametrize("case", ["duplicate", "non-numeric y", "all NaN", "constant"])
def test_skip_fits_the_others_and_reports_the_bad_one(case):
    make, match = BAD[case]
    fit = pm.BayesianAR(2).fit_many(make(), seed=0, num_samples=200, errors="skip")
    assert fit.skipped.unique_id.tolist() == ["bad"]
    assert match in fit.skipped.reason.iloc[0]
    assert sorted(fit.unique_ids) == ["s0", "s1", "s2"]
    assert "skipped" in repr(fit)


def test_missing_columns_and_wrong_types():
    with pytest.raises(ValueError, match=r"no column\(s\) \['ds'\].*time_col="):
        pm.BayesianAR(2).fit_many(_good().drop(columns="ds"))
    with pytest.raises(TypeError, match="long pandas DataFrame"):
        pm.BayesianAR(2).fit_many(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="errors must be one of"):
        pm.BayesianAR(2).fit_many(_good(), errors="ignore")
    per_series = pm.BayesianAR(2, priors={"mu": dist.Normal(torch.zeros(3, dtype=torch.float64), 1.0)})
    with pytest.raises(ValueError, match="cannot match those entries"):
        per_series.fit_many(_good())


def test_renamed_columns_and_integer_ids():
    df = _good().rename(columns={"unique_id": "store", "ds": "week", "y": "sales"})
    df["store"] = df["store"].str[1:].astype(int)
    fit = pm.BayesianAR(1).fit_many(df, id_col="store", time_col="week", target_col="sales",
                                    seed=0, num_samples=200)
    assert fit.unique_ids == [0, 1, 2]
    assert list(fit.forecast(2).columns[:2]) == ["store", "week"]
    assert fit.fit_one(1).data.columns == ("1",)   # a Series name is a label as text


# -------------------------------------------------------------- Dask, memory

def test_dask_local_cluster_is_bit_identical_to_serial():
    distributed = pytest.importorskip("distributed")
    df = _long(400, seed=8, lengths=(40, 90))
    ar = pm.BayesianAR(2)
    serial = ar.fit_many(df, seed=3, num_samples=200, chunk_size=50)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        remote = ar.fit_many(df, seed=3, num_samples=200, chunk_size=50, client=client)
        remote_fc = remote.forecast(3, client=client)
    pd.testing.assert_frame_equal(remote.summary(), serial.summary(), check_exact=True)
    pd.testing.assert_frame_equal(remote_fc, serial.forecast(3), check_exact=True)


def test_peak_memory_stays_flat_as_chunks_grow():
    code = textwrap.dedent(f"""
        import json, resource, sys
        sys.path.insert(0, {json.dumps(str(__import__('pathlib').Path(__file__).parent))})
        from test_many import _long
        import probmodels as pm
        ar = pm.BayesianAR(2)
        out = []
        for n in (100, 1200):
            df = _long(n, seed=0, lengths=(150, 250))
            ar.fit_many(df, seed=0, num_samples=1000, chunk_size=100)
            out.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(out))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    small, large = json.loads(done.stdout.strip().splitlines()[-1])
    # 12x the chunks: the peak may grow by the summary and the data (a few MB), not by the draws
    assert large - small < 60, (small, large)
