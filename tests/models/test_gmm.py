"""Tests for probmodels.models.gmm: brute-force enumeration oracles, posteriordb
``low_dim_gauss_mix`` for SVI and NUTS, 2-D recovery, exports, weights, minibatch, bad input."""

import itertools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyro
import pyro.distributions as dist
import pytest
import torch
from scipy import stats
from scipy.special import logsumexp

import probmodels as pm  # noqa: F401  (the package's lazy names)
from probmodels._reference import agreement, load_posteriordb_draws
from probmodels.models.gmm import GaussianMixture, GMMFit, compare_components
from probmodels.models.gmm.sites import Packing as _Packing
from probmodels.models.gmm.sites import log_density as _log_density
from probmodels.models.gmm.sites import mixture_model as _mixture_model
from probmodels.models import load
from probmodels.plots.gmm import plot_mixture_density, plot_mixture_scatter


DATA = Path(__file__).resolve().parents[1] / "data"

F64 = torch.float64
MIX_PRIORS = {"pi": dist.Dirichlet(torch.tensor([5.0, 5.0])), "mu": dist.Normal(0.0, 2.0),
              "sigma": dist.HalfNormal(2.0)}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The models are small: one intra-op thread avoids contention on shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def gauss_mix():
    """posteriordb low_dim_gauss_mix: y (N = 1000) and reference draws in our names."""
    y = np.asarray(json.loads((DATA / "low_dim_gauss_mix.json").read_text())["y"], dtype=float)
    ref = load_posteriordb_draws(DATA / "low_dim_gauss_mix-low_dim_gauss_mix.json.zip")
    return y, {k: ref[k] for k in ("mu[1]", "mu[2]", "sigma[1]", "sigma[2]", "theta")}


def _reference_names(idata):
    post = idata.posterior
    return {"mu[1]": post["mu"].sel(component=0).values, "mu[2]": post["mu"].sel(component=1).values,
            "sigma[1]": post["sigma"].sel(component=0).values,
            "sigma[2]": post["sigma"].sel(component=1).values,
            # reference theta: the weight of the lower-mean component
            "theta": post["pi"].sel(component=0).values}


def _point_fit(gmm, x, values, num_draws=3, names=None):
    """A GMMFit whose posterior is a point mass at ``values`` (isolates the predictors);
    ``names``: the columns of the DataFrame it was fitted on (None: an array)."""
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    draws = {k: np.broadcast_to(np.asarray(v, dtype=float), (1, num_draws) + np.shape(v)).copy()
             for k, v in values.items()}
    priors = gmm.resolved_priors(torch.as_tensor(x, dtype=F64))
    return GMMFit(draws=draws, method="svi", seed=0, gmm=gmm, data=x, index=pd.RangeIndex(len(x)),
                  feature_names=tuple(names or (f"x{j}" for j in range(x.shape[1]))),
                  named_features=names is not None, priors_used=priors)


def _brute_force(x, values, priors, layout_full):
    """log p(theta) and log p(x | theta) by summing prod_n pi_z N(x_n | z) over all K^n z,
    and p(z_n = k | x, theta) from the same sum. scipy densities only."""
    pi, mu, sigma = (np.asarray(values[k], dtype=float) for k in ("pi", "mu", "sigma"))
    K, n = len(pi), len(x)
    if x.ndim == 1:
        comp = np.array([[stats.norm.logpdf(x[i], mu[k], sigma[k]) for k in range(K)] for i in range(n)])
    else:
        L = np.asarray(values["L_omega"])
        covs = [np.diag(sigma[k]) @ L[k] @ L[k].T @ np.diag(sigma[k]) for k in range(K)]
        comp = np.array([[stats.multivariate_normal.logpdf(x[i], mu[k], covs[k]) for k in range(K)]
                         for i in range(n)])
    joint = {}
    for z in itertools.product(range(K), repeat=n):
        joint[z] = sum(math.log(pi[z[i]]) + comp[i, z[i]] for i in range(n))
    log_marginal = logsumexp(list(joint.values()))
    resp = np.zeros((n, K))
    for z, lj in joint.items():
        for i in range(n):
            resp[i, z[i]] += math.exp(lj - log_marginal)
    return log_marginal, resp


def _delta_guide(values):
    """A point-mass guide at ``values``: Delta log-densities are 0, so TraceEnum_ELBO's loss
    is exactly -log p(x, theta) with z summed out."""
    v = {k: torch.as_tensor(val, dtype=F64) for k, val in values.items()}

    def guide(*args, **kwargs):
        pyro.sample("pi", dist.Delta(v["pi"], event_dim=1))
        if v["mu"].dim() == 1:  # 1-D: mu is an ordered vector outside the component plate
            pyro.sample("mu", dist.Delta(v["mu"], event_dim=1))
        with pyro.plate("component", v["pi"].shape[0], dim=-1):
            for name in ("mu", "sigma", "L_omega"):
                if name in v and not (name == "mu" and v["mu"].dim() == 1):
                    pyro.sample(name, dist.Delta(v[name], event_dim=v[name].dim() - 1))

    return guide


def _enumerated_log_joint(gmm, x, values, **kwargs):
    elbo = pyro.infer.TraceEnum_ELBO(max_plate_nesting=1)
    return -elbo.loss(gmm.model, _delta_guide(values), torch.as_tensor(x, dtype=F64), **kwargs)


# ------------------------------------------------------------------ exact values


ORACLE_CASES = {
    "1-D": (np.array([-1.3, 0.2, 0.9, 2.4, -0.4]),
            {"pi": [0.3, 0.7], "mu": [-0.5, 1.2], "sigma": [0.8, 1.4]}, "full"),
    "2-D full": (np.array([[0.1, 1.0], [1.5, -0.2], [-0.7, 0.4], [2.2, 2.0]]),
                 {"pi": [0.45, 0.55], "mu": [[0.0, 0.5], [1.5, 1.0]], "sigma": [[0.7, 1.1], [1.3, 0.6]],
                  "L_omega": [[[1.0, 0.0], [0.6, 0.8]], [[1.0, 0.0], [-0.28, 0.96]]]}, "full"),
}


@pytest.mark.parametrize("case", list(ORACLE_CASES))
def test_enumerated_marginal_and_responsibilities_equal_brute_force(case):
    x, values, cov = ORACLE_CASES[case]
    gmm = GaussianMixture(2, covariance=cov, priors=MIX_PRIORS if x.ndim == 1 else None)
    xt = torch.as_tensor(x.reshape(len(x), -1), dtype=F64)
    priors = gmm.resolved_priors(xt)
    log_marginal, resp = _brute_force(x, values, priors, cov)
    packing = _Packing(priors, gmm._layout(xt.shape[1]))
    tv = {k: torch.as_tensor(v, dtype=F64) for k, v in values.items()}
    log_prior = float(packing.log_prior({k: v.unsqueeze(0) for k, v in tv.items()})[0])
    # Pyro's enumeration of z equals the K^n-term sum (float64: 1e-10 is rounding)
    np.testing.assert_allclose(_enumerated_log_joint(gmm, x, values), log_marginal + log_prior,
                               rtol=1e-10)
    # and so does the JIT-compiled ELBO the default fit runs: to 1e-7 relative, since in the
    # 2-D full case (LKJ, MultivariateNormal) the traced graph differs from eager by ~7e-9
    # relative (1-D agrees to 1e-10); a wrong enumeration would be off by far more
    jit = pyro.infer.JitTraceEnum_ELBO(max_plate_nesting=1, ignore_jit_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.* is deprecated",
                                category=DeprecationWarning)
        jit_loss = float(jit.differentiable_loss(gmm.model, _delta_guide(values), xt))
    np.testing.assert_allclose(-jit_loss, log_marginal + log_prior, rtol=1e-7)
    # the hand-written unconstrained density (used for Laplace, PSIS, NUTS) is the same
    # log joint plus the log-Jacobian of the transforms
    u = packing.pack(tv).unsqueeze(0)
    _, ladj = packing.unpack(u)
    np.testing.assert_allclose(float(_log_density(u, packing, xt, None)[0] - ladj[0]),
                               log_marginal + log_prior, rtol=1e-10)
    # responsibilities: exact per draw, the brute-force conditional p(z_n | x, theta)
    fit = _point_fit(gmm, x, values)
    np.testing.assert_allclose(fit.predict_proba(), resp, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fit.predict(), resp.argmax(1))


def test_pyro_nuts_potential_equals_the_summed_out_potential():
    """method='nuts' samples -_log_density; Pyro's own potential of the enumerated model
    (what enumerate=True runs) is the same function of the unconstrained parameters."""
    from pyro.infer.mcmc.util import initialize_model

    rng = np.random.default_rng(0)
    x = torch.as_tensor(np.concatenate([rng.normal(-2, 1, (30, 2)), rng.normal(2, 0.5, (20, 2))]), dtype=F64)
    gmm = GaussianMixture(2, covariance="full")
    priors = gmm.resolved_priors(x)
    layout = gmm._layout(2)
    packing = _Packing(priors, layout)
    _, potential_fn, _, _ = initialize_model(
        lambda: _mixture_model(x, priors, layout), max_plate_nesting=1)
    for _ in range(3):
        u = torch.as_tensor(rng.normal(0, 0.7, packing.dim), dtype=F64)
        params = {n: u[packing.slices[n]].reshape(packing.shapes[n]) for n in packing.names}
        np.testing.assert_allclose(float(potential_fn(params)),
                                   -float(_log_density(u.unsqueeze(0), packing, x, None)[0]), rtol=1e-10)


def test_sample_weights_equal_replicated_points():
    x = np.array([-1.0, 0.3, 2.0, 2.5, -0.2])
    w = np.array([2.0, 1.0, 0.0, 3.0, 1.0])
    replicated = np.repeat(x, w.astype(int))
    values = {"pi": [0.4, 0.6], "mu": [-0.5, 1.8], "sigma": [0.9, 0.7]}
    gmm = GaussianMixture(2, priors=MIX_PRIORS)
    weighted = _enumerated_log_joint(gmm, x, values, sample_weight=torch.as_tensor(w, dtype=F64))
    copies = _enumerated_log_joint(gmm, replicated, values)
    np.testing.assert_allclose(weighted, copies, rtol=1e-12)


# ------------------------------------------------------- reference posteriors


def test_default_fit_matches_posteriordb_low_dim_gauss_mix(gauss_mix):
    y, ref = gauss_mix
    fit = GaussianMixture(n_components=2, priors=MIX_PRIORS).fit(y, seed=0, progress=False)
    idata = fit.to_arviz()
    assert idata.posterior["mu"].dims == ("chain", "draw", "component")
    assert (idata.posterior["mu"].sel(component=0) < idata.posterior["mu"].sel(component=1)).all()
    table = agreement(_reference_names(idata), ref)
    assert table["ok"].all(), table.to_string()
    assert fit.diagnostics["khat"] < 0.5
    # the default is a Laplace start refined by SVI, stopped by the convergence rule
    assert 100 <= fit.diagnostics["num_steps"] <= 300
    assert len(fit.losses) == fit.diagnostics["num_steps"] and fit.diagnostics["resampled"]


def test_nuts_matches_posteriordb_low_dim_gauss_mix(gauss_mix):
    y, ref = gauss_mix
    fit = GaussianMixture(n_components=2, priors=MIX_PRIORS).fit(
        y, method="nuts", num_samples=1000, warmup_steps=1000, seed=0, progress=False)
    idata = fit.to_arviz()
    table = agreement(_reference_names(idata), ref)
    assert table["ok"].all(), table.to_string()
    assert idata.sample_stats["diverging"].dims == ("chain", "draw")
    assert idata.posterior.sizes["chain"] == 2


def test_reference_check_can_fail(gauss_mix):
    """The agreement check has teeth: the same draws with sigma inflated by 10% fail it."""
    y, ref = gauss_mix
    fit = GaussianMixture(n_components=2, priors=MIX_PRIORS).fit(y, seed=1, progress=False,
                                                                 num_samples=1000)
    draws = _reference_names(fit.to_arviz())
    draws["mu[1]"] = draws["mu[1]"] + 0.3 * ref["mu[1]"].std()
    table = agreement(draws, ref)
    assert not table.loc["mu[1]", "ok"] and table.drop("mu[1]")["ok"].all()


# ------------------------------------------------------------------ recovery


def test_recovers_known_2d_parameters_up_to_permutation():
    rng = np.random.default_rng(3)
    mu = np.array([[-3.0, 0.0], [0.5, 3.0], [3.0, -1.0]])
    sd = np.array([[0.6, 1.0], [0.8, 0.5], [1.0, 0.7]])
    rho = np.array([0.5, -0.3, 0.0])
    pi = np.array([0.3, 0.3, 0.4])
    n = 600
    z = rng.choice(3, size=n, p=pi)
    covs = np.stack([np.array([[s[0] ** 2, r * s[0] * s[1]], [r * s[0] * s[1], s[1] ** 2]])
                     for s, r in zip(sd, rho)])
    x = np.stack([rng.multivariate_normal(mu[k], covs[k]) for k in z])
    # shuffle the labels of the truth: recovery must hold up to a permutation
    fit = GaussianMixture(3).fit(x, seed=0, progress=False, num_samples=2000)
    post = {k: v[0] for k, v in fit.draws.items()}
    # components come out sorted by the first feature's mean (the pivot), as is the truth
    lo, hi = np.quantile(post["mu"], [0.0005, 0.9995], axis=0)
    assert np.all((lo < mu) & (mu < hi)), (lo, hi)
    lo, hi = np.quantile(post["sigma"], [0.0005, 0.9995], axis=0)
    assert np.all((lo < sd) & (sd < hi)), (lo, hi)
    corr = post["L_omega"][..., 1, 0]
    lo, hi = np.quantile(corr, [0.0005, 0.9995], axis=0)
    assert np.all((lo < rho) & (rho < hi)), (lo, hi)
    # assignments: agreement with the true z up to relabelling
    agree = max((fit.predict()[None] == np.asarray(p)[z]).mean()
                for p in itertools.permutations(range(3)))
    assert agree > 0.95


# ------------------------------------------------------------- predictions


def test_sampled_assignments_follow_the_responsibilities():
    x = np.array([-2.0, 0.35, 0.4, 3.0])
    values = {"pi": [0.5, 0.5], "mu": [-1.0, 1.5], "sigma": [1.0, 1.0]}
    fit = _point_fit(GaussianMixture(2, priors=MIX_PRIORS), x, values, num_draws=4000)
    z = fit.sample_assignments()
    assert z.shape == (4000, 4)
    resp = fit.predict_proba()
    freq = np.stack([(z == k).mean(0) for k in range(2)], axis=1)
    # 4000 Bernoulli draws: sd <= 0.008, so 4 sd = 0.032
    np.testing.assert_allclose(freq, resp, atol=0.032)
    np.testing.assert_array_equal(z, fit.sample_assignments())           # the fit's seed
    assert not np.array_equal(z, fit.sample_assignments(seed=5))
    np.testing.assert_array_equal(fit.predict(), resp.argmax(1))


def test_predictors_match_dataframe_columns_by_name():
    """Fitted on a DataFrame, every predictor takes a DataFrame's columns by name (as
    scikit-learn does): reordered columns give the fitted order's answer, others raise."""
    x, values, _ = ORACLE_CASES["2-D full"]
    fit = _point_fit(GaussianMixture(2), x, values, names=("a", "b"))
    df = pd.DataFrame(x, columns=["a", "b"])
    swapped = df[["b", "a"]]
    # the case can tell: taken by position, the swapped columns give other responsibilities
    assert np.abs(fit.predict_proba(x[:, ::-1]) - fit.predict_proba(x)).max() > 0.1
    for method in ("predict_proba", "predict", "sample_assignments", "log_likelihood", "score"):
        np.testing.assert_array_equal(getattr(fit, method)(swapped), getattr(fit, method)(x))
    with pytest.raises(ValueError, match=r"got \['a', 'c'\] \(missing \['b'\], extra \['c'\]\)"):
        fit.predict_proba(df.rename(columns={"b": "c"}))
    with pytest.raises(ValueError, match=r"missing \[\], extra \['c'\]"):
        fit.log_likelihood(df.assign(c=1.0))
    # fitted on an array, a DataFrame's columns are taken by position whatever their names
    by_position = _point_fit(GaussianMixture(2), x, values)
    np.testing.assert_array_equal(by_position.predict_proba(swapped),
                                  by_position.predict_proba(x[:, ::-1]))


def test_integer_column_labels_stay_integers_through_fit_save_and_load(tmp_path):
    """A DataFrame with integer column labels (e.g. from np.array): the labels are kept as
    ints, so the fix-it selection x[[0, 1]] in the error message works as written."""
    x = pm.datasets.load_faithful().to_numpy()
    df = pd.DataFrame(x, columns=[0, 1])
    fit = GaussianMixture(2).fit(df, seed=0, progress=False, num_samples=50)
    assert fit.feature_names == (0, 1) and all(type(n) is int for n in fit.feature_names)
    new = df.iloc[:20] + 0.3
    swapped = new[[1, 0]]
    assert np.abs(fit.predict_proba(new.to_numpy()[:, ::-1]) - fit.predict_proba(new)).max() > 0.1
    np.testing.assert_array_equal(fit.predict_proba(swapped), fit.predict_proba(new))
    with pytest.raises(ValueError, match=r"missing \[1\], extra \[2\]\); select them, e\.g\. x\[\[0, 1\]\]"):
        fit.predict_proba(new.rename(columns={1: 2}))
    new.rename(columns={1: 2})[[0, 2]]  # the suggested selection is valid pandas for such frames
    back = load(fit.save(tmp_path / "int_labels"))
    assert back.feature_names == (0, 1)
    np.testing.assert_array_equal(back.predict_proba(swapped), fit.predict_proba(new))
    assert back.to_arviz().posterior["mu"].coords["feature"].values.tolist() == [0, 1]
    # the density plot takes a label first, then a position
    import matplotlib.pyplot as plt
    ax = fit.plot_density(feature=1)
    assert ax.get_xlabel() == "1"
    with pytest.raises(ValueError, match=r"feature must be one of the feature names \[0, 1\]"):
        fit.plot_density(feature="waiting")
    plt.close("all")


def test_fits_that_stored_integer_labels_as_text_still_match_integer_columns():
    """Fits saved before integer labels were kept have feature_names ('0', '1'); an
    integer-labelled DataFrame still matches them by label, not by position."""
    x, values, _ = ORACLE_CASES["2-D full"]
    fit = _point_fit(GaussianMixture(2), x, values, names=("0", "1"))
    swapped = pd.DataFrame(x, columns=[0, 1])[[1, 0]]
    np.testing.assert_array_equal(fit.predict_proba(swapped), fit.predict_proba(x))
    with pytest.raises(ValueError, match="missing"):
        fit.predict_proba(pd.DataFrame(x, columns=[0, 2]))


def test_arviz_export_dims_and_pointwise_log_likelihood():
    import arviz as az

    x = np.random.default_rng(4).normal(size=(60, 2)) + np.repeat([[0, 0], [4, 4]], 30, axis=0)
    fit = GaussianMixture(2, covariance="diag").fit(x, seed=0, progress=False, num_samples=300)
    idata = fit.to_arviz()
    assert idata.posterior["mu"].dims == ("chain", "draw", "component", "feature")
    assert idata.posterior["sigma"].dims == ("chain", "draw", "component", "feature")
    assert idata.posterior_predictive["x"].dims == ("chain", "draw", "data", "feature")
    ll = idata.log_likelihood["x"]
    assert ll.dims == ("chain", "draw", "data") and ll.shape == (1, 300, 60)
    d = 7
    pi, mu, sd = (fit.draws[k][0, d] for k in ("pi", "mu", "sigma"))
    expected = logsumexp(np.log(pi) + stats.norm.logpdf(x[:, None, :], mu, sd).sum(-1), axis=1)
    np.testing.assert_allclose(ll.values[0, d], expected, rtol=1e-10)
    np.testing.assert_array_equal(idata.observed_data["x"].values, x)
    assert az.loo(idata, pointwise=True).loo_i.shape == (60,)


def test_full_covariance_export_keeps_only_the_correlations_that_vary():
    """``Omega`` holds the D(D-1)/2 correlations below the diagonal of L L^T; the fixed
    entries of L_omega (zeros above the diagonal, L[0, 0] = 1) are not exported, so
    az.summary has no NaN rows and no zero-variance RuntimeWarning."""
    import arviz as az

    K, D, C, S, N = 2, 3, 2, 200, 20
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D))
    draws = {"pi": rng.dirichlet([3.0, 3.0], (C, S)), "mu": rng.normal(size=(C, S, K, D)),
             "sigma": rng.gamma(20.0, 0.05, (C, S, K, D)),
             "L_omega": dist.LKJCholesky(D, 2.0).sample((C, S, K)).double().numpy()}
    gmm = GaussianMixture(K)
    fit = GMMFit(draws=draws, method="nuts", seed=0, gmm=gmm, data=x, index=pd.RangeIndex(N),
                 feature_names=("a", "b", "c"), named_features=True,
                 priors_used=gmm.resolved_priors(torch.as_tensor(x)))
    post = fit.to_arviz().posterior
    assert list(post.data_vars) == ["pi", "mu", "sigma", "Omega"]
    assert post["mu"].dims == ("chain", "draw", "component", "feature")
    assert post["Omega"].dims == ("chain", "draw", "component", "feature_pair")
    assert list(post["feature_pair"].values) == ["a,b", "a,c", "b,c"]
    L = draws["L_omega"]
    for k in range(K):
        for i, j in [(1, 0), (2, 0), (2, 1)]:
            # Omega_ij = sum_m L_im L_jm, written out (float64: 1e-12 is rounding)
            expected = sum(L[:, :, k, i, m] * L[:, :, k, j, m] for m in range(D))
            got = post["Omega"].sel(component=k, feature_pair=f"{'abc'[j]},{'abc'[i]}").values
            np.testing.assert_allclose(got, expected, rtol=1e-12)
    # warnings are errors here: a constant variable's RuntimeWarning would fail this too
    summary = az.summary(post)
    assert np.isfinite(summary.to_numpy(dtype=float)).all(), summary.to_string()
    assert len(summary) == K + 2 * K * D + K * D * (D - 1) // 2


def test_minibatch_svi_recovers_a_large_1d_mixture():
    rng = np.random.default_rng(5)
    n = 50_000
    z = rng.random(n) < 0.3
    y = np.where(z, rng.normal(-2.0, 0.5, n), rng.normal(1.0, 1.0, n))
    fit = GaussianMixture(2).fit(y, seed=0, progress=False, subsample_size=500, steps=600,
                                 num_samples=500)
    # minibatch fits run every step: the convergence rule is off for subsampled losses
    assert fit.diagnostics["minibatch"] and fit.diagnostics["num_steps"] == 600
    assert fit.diagnostics["converged"] is False and np.isnan(fit.diagnostics["khat"])
    m = fit.posterior_means()
    # posterior sds are ~0.01 here; SVI noise from minibatches dominates: 0.05 is generous
    np.testing.assert_allclose(m["mu"], [-2.0, 1.0], atol=0.05)
    np.testing.assert_allclose(m["sigma"], [0.5, 1.0], atol=0.05)
    np.testing.assert_allclose(m["pi"], [0.3, 0.7], atol=0.02)


@pytest.mark.filterwarnings("ignore:PSIS check")  # the redundant K = 3 is a poor Laplace fit
def test_component_comparison_prefers_the_true_k():
    rng = np.random.default_rng(6)
    y = np.concatenate([rng.normal(-3, 0.7, 150), rng.normal(2, 1.0, 150)])
    result = compare_components(y, [1, 2, 3], seed=0, num_samples=1000)
    assert result.best_bic == 2
    # LOO cannot separate K = 2 from a redundant K = 3: the one-standard-error rule picks 2
    assert result.best == 2, result.reason
    assert result.table.loc["K=1", "elpd_loo"] < result.table.loc["K=2", "elpd_loo"] - 20
    assert {"bic", "elpd_loo", "p_loo", "khat"} <= set(result.table.columns)


def test_data_in_any_units_give_the_same_posterior_up_to_scale():
    """Faithful in units of 1e-9 to 1e6. At 1e-3 Adam's steps (about lr each, in absolute
    units) threw the means several component spreads away from the right Laplace start
    (an eruptions mean of 7.66 against 4.29, k-hat 5): the fit now keeps the refinement only if it
    improved the ELBO. EM's ridge was absolute (1e-12), inflating the start's variances
    at 1e-6. The Laplace step treated curvatures below an absolute 1e-8 as flat: every
    mean's at 1e6 (k-hat 0.88); it now works in curvature-scaled coordinates."""
    x = pm.datasets.load_faithful().to_numpy()
    ref = GaussianMixture(2).fit(x, seed=0, progress=False, num_samples=1000)
    sd = {k: ref.draws[k].reshape((-1,) + ref.draws[k].shape[2:]).std(0) for k in ("mu", "sigma")}
    for scale in (1e-9, 1e-6, 1e-3, 1e6):
        fit = GaussianMixture(2).fit(x * scale, seed=0, progress=False, num_samples=1000)
        for k in ("mu", "sigma"):
            got = fit.posterior_means()[k] / scale
            assert np.all(np.abs(got - ref.posterior_means()[k]) < 0.5 * sd[k]), (scale, k, got)
        np.testing.assert_allclose(fit.posterior_means()["pi"], ref.posterior_means()["pi"], atol=0.01)
        assert fit.diagnostics["khat"] < 0.7


# scikit-learn 1.9.1: GaussianMixture(K, covariance_type=cov, n_init=20, random_state=0,
# reg_covar=1e-9, tol=1e-10, max_iter=2000).fit(x).bic(x) on Old Faithful (x = its 272 rows)
SKLEARN_FAITHFUL_BIC = {("full", 2): 2322.1917, ("full", 3): 2333.7266, ("diag", 3): 2332.4963}


@pytest.mark.filterwarnings("ignore:PSIS check")  # K = 3 on 272 points: a borderline Laplace fit
def test_bic_is_at_the_maximum_likelihood_like_scikit_learn():
    """BIC used the best posterior draw, about chi2_p / 2 below the maximum likelihood
    (+1.6 at K = 2, +3.9 at K = 3 on Faithful): a bias against larger K."""
    x = pm.datasets.load_faithful().to_numpy()
    n, D = x.shape
    # K = 1 in closed form: the sample mean and the (biased) sample covariance
    cov = np.cov(x.T, bias=True)
    loglik = -0.5 * n * (D * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + D)
    p = D + D * (D + 1) // 2
    fit = GaussianMixture(1, covariance="full").fit(x, seed=0, progress=False, num_samples=300)
    np.testing.assert_allclose(fit.bic(), -2 * loglik + p * np.log(n), atol=0.01)
    for (covariance, K), reference in SKLEARN_FAITHFUL_BIC.items():
        fit = GaussianMixture(K, covariance=covariance).fit(x, seed=0, progress=False, num_samples=300)
        np.testing.assert_allclose(fit.bic(), reference, atol=0.01, err_msg=f"{covariance}, K={K}")


def test_plots_draw_the_density_components_and_ellipses():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Ellipse

    x = pm.datasets.load_faithful()
    fit = GaussianMixture(2).fit(x, seed=0, progress=False, num_samples=300)  # != grid size
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = plot_mixture_scatter(fit, ax=fig.add_subplot(1, 2, 1))
    assert sum(isinstance(p, Ellipse) for p in ax.patches) == 4   # 1 and 2 sd per component
    ax = plot_mixture_density(fit, ax=fig.add_subplot(1, 2, 2), feature="waiting")
    assert len(ax.lines) == 3 and ax.get_xlabel() == "waiting"
    with pytest.raises(ValueError, match="2 or more features"):
        plot_mixture_scatter(GaussianMixture(2).fit(x["waiting"], seed=0, progress=False,
                                                    num_samples=100))


def test_num_threads_limits_torch_threads_for_every_method(monkeypatch):
    """``num_threads`` (default 1) holds during the fit and is restored afterwards;
    None leaves torch's setting. The inference is replaced by a probe that stops."""
    import probmodels.models.gmm as gmm_module

    class Stop(Exception):
        pass

    seen = []

    def probe(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise Stop

    monkeypatch.setattr(gmm_module.GaussianMixture, "_fit_svi", probe)
    monkeypatch.setattr(gmm_module.GaussianMixture, "_fit_nuts", probe)
    x = np.array([-2.1, -1.9, -2.3, 1.8, 2.2, 2.0, 1.9, -2.0])
    torch.set_num_threads(2)
    try:
        for method, options in [("svi", {}), ("svi", {"num_threads": 1}), ("nuts", {}),
                                ("nuts", {"num_threads": 1}), ("svi", {"num_threads": None})]:
            with pytest.raises(Stop):
                GaussianMixture(2).fit(x, method=method, seed=0, progress=False, **options)
            assert torch.get_num_threads() == 2, (method, options)
        assert seen == [1, 1, 1, 1, 2]
        with pytest.raises(ValueError, match="num_threads must be an integer >= 1, got 0"):
            GaussianMixture(2).fit(x, seed=0, progress=False, num_threads=0)
    finally:
        torch.set_num_threads(1)  # the module fixture's setting


# ------------------------------------------------------------- persistence


def test_save_load_round_trip_gives_the_same_predictions(tmp_path):
    x = pm.datasets.load_faithful()
    fit = GaussianMixture(2, covariance="full").fit(x, seed=0, progress=False, num_samples=500,
                                                    sample_weight=np.linspace(0.5, 1.5, len(x)))
    path = fit.save(tmp_path / "gmm")
    back = load(path)
    assert isinstance(back, GMMFit) and back.gmm.covariance == "full"
    new = x.iloc[:10] + 0.3
    np.testing.assert_array_equal(back.predict_proba(new), fit.predict_proba(new))
    np.testing.assert_array_equal(back.predict(new), fit.predict(new))
    np.testing.assert_array_equal(back.sample_weight, fit.sample_weight)
    # the fit saw a DataFrame, and so does the loaded fit: columns are matched by name
    assert fit.named_features and back.named_features
    swapped = new[["waiting", "eruptions"]]
    np.testing.assert_array_equal(back.predict_proba(swapped), fit.predict_proba(new))
    with pytest.raises(ValueError, match=r"missing \['eruptions'\], extra \['duration'\]"):
        back.predict_proba(new.rename(columns={"eruptions": "duration"}))


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("k, error, match", [
    (0, ValueError, r"n_components must be an integer >= 1, got 0"),
    (1.5, TypeError, r"n_components must be an integer"),
])
def test_rejects_bad_number_of_components(k, error, match):
    with pytest.raises(error, match=match):
        GaussianMixture(k)


def test_rejects_more_components_than_points():
    with pytest.raises(ValueError, match=r"n_components=4 is larger than the number of data points \(3\)"):
        GaussianMixture(4).fit([0.1, 0.2, 0.3], seed=0, progress=False)


def test_rejects_as_many_components_as_points():
    with pytest.raises(ValueError, match=r"n_components=3 equals the number of data points \(3\); "
                                         r"a mixture needs more points than components.*"
                                         r"Use n_components <= 2"):
        GaussianMixture(3).fit([0.1, 0.5, 2.0], seed=0, progress=False)


def test_warns_when_an_array_has_more_columns_than_rows():
    wide = np.arange(12.0).reshape(2, 6)
    with pytest.warns(UserWarning, match=r"orientation check: x has shape \(2, 6\), read as 2 data "
                                         r"points \(rows\) of 6 features.*pass the transpose \(x\.T\)"):
        values, _, _ = GaussianMixture(1)._check_data(wide)
    np.testing.assert_array_equal(values, wide)
    # a DataFrame states its orientation: no warning (warnings are errors here)
    GaussianMixture(1)._check_data(pd.DataFrame(wide))


@pytest.mark.parametrize("data, match", [
    (pd.DataFrame({"a": [0.1, 0.5, 2.0, 1.1], "c": [3.0] * 4, "b": [1.0, 0.0, 2.0, 1.5]}),
     r"feature 'c' \(column 1\) of x is constant \(standard deviation 0 .*df\.drop\(columns=\['c'\]\)"),
    # a spread of 7e-14 of the level is rounding, not data
    (np.array([[0.1, 1e3], [0.5, 1e3 + 1e-10], [2.0, 1e3], [1.1, 1e3 - 1e-10]]),
     r"feature 'x1' \(column 1\) of x is constant.*np\.delete\(x, 1, axis=1\)"),
    ([0.5] * 5, r"x is constant \(standard deviation 0 at values around 0\.5\)"),
])
def test_rejects_a_constant_feature(data, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(data, seed=0, progress=False)


def test_constant_check_keeps_a_small_relative_spread():
    """The check is relative to the level: a spread of 1e-9 of it is data (such a fit
    ran with k-hat 0.51)."""
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(size=50), 1e3 + 1e-6 * rng.normal(size=50)], axis=1)
    values, _, _ = GaussianMixture(2)._check_data(x)
    np.testing.assert_array_equal(values, x)


def test_rejects_an_improper_prior_with_an_infinite_parameter():
    with pytest.raises(ValueError, match=r"the mu prior Normal has a parameter that is not finite \(inf\)"):
        GaussianMixture(2, priors={"mu": dist.Normal(0.0, float("inf"))})


def test_compare_components_refuses_sample_weight():
    with pytest.raises(ValueError, match=r"compare_components does not take sample_weight.*"
                                         r"np\.repeat\(x, w, axis=0\)"):
        compare_components([0.1, 0.5, 2.0, 1.1, 0.7], [1, 2], seed=0, sample_weight=np.ones(5))


@pytest.mark.parametrize("bad, match", [(np.nan, "1 NaN and 0 infinite"), (np.inf, "0 NaN and 1 infinite")])
def test_rejects_nan_and_inf(bad, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit([0.1, bad, 0.3, 1.0], seed=0, progress=False)


def test_rejects_data_of_the_wrong_dimension_at_predict_time():
    values = {"pi": [0.5, 0.5], "mu": [-1.0, 1.0], "sigma": [1.0, 1.0]}
    fit = _point_fit(GaussianMixture(2, priors=MIX_PRIORS), np.array([-1.0, 0.0, 1.0]), values)
    with pytest.raises(ValueError, match=r"x must have 1 feature\(s\).*got 2"):
        fit.predict_proba(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"x must have 1 feature\(s\)"):
        fit.predict(np.zeros((4, 3)))


@pytest.mark.parametrize("w, match", [
    ([1.0, -1.0, 1.0, 1.0], "sample_weight must be non-negative, got 1 negative"),
    ([0.0, 0.0, 0.0, 0.0], "at least one positive entry, got all zeros"),
    ([1.0, 1.0], r"one weight per data point \(4\), got shape \(2,\)"),
    ([1.0, np.nan, 1.0, 1.0], "sample_weight must be finite"),
])
def test_rejects_bad_sample_weights(w, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit([0.1, 0.2, 0.3, 1.0], seed=0, progress=False, sample_weight=w)


def test_rejects_unknown_covariance_method_option_and_prior():
    with pytest.raises(ValueError, match=r"covariance must be one of 'full', 'diag', 'spherical'; got 'tied'"):
        GaussianMixture(2, covariance="tied")
    with pytest.raises(ValueError, match="method must be one of 'svi', 'nuts'"):
        GaussianMixture(2).fit([0.1, 0.2, 0.3], method="mcmc")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['warmup_steps'\] for method='svi'"):
        GaussianMixture(2).fit([0.1, 0.2, 0.3], warmup_steps=10)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['step'\].*Did you mean 'steps'\?"):
        GaussianMixture(2).fit([0.1, 0.2, 0.3], step=10)
    with pytest.raises(ValueError, match="priors has unknown key"):
        GaussianMixture(2, priors={"tau": dist.Normal(0.0, 1.0)})
    with pytest.raises(ValueError, match=r"pi prior must have event_shape \(2,\)"):
        GaussianMixture(2, priors={"pi": dist.Dirichlet(torch.ones(3))})
    with pytest.raises(ValueError, match="sigma prior must have positive support"):
        GaussianMixture(2, priors={"sigma": dist.Normal(0.0, 1.0)})


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical"])
def test_em_loglik_is_the_mixture_log_likelihood_at_its_answer_and_a_fixed_point(covariance):
    from probmodels.models.gmm.sites import Layout
    from probmodels.models.gmm.start import em

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal([-3, 0], [0.5, 1.0], (60, 2)), rng.normal([2, 1], 0.7, (90, 2))])
    w = rng.uniform(0.5, 2.0, len(x))
    layout = Layout(2, 2, covariance)
    got = em(x, w, layout, np.random.default_rng(1))
    # oracle: scipy's densities at the returned parameters
    dens = sum(p * stats.multivariate_normal(m, c).pdf(x)
               for p, m, c in zip(got["pi"], got["mu"], got["cov"]))
    np.testing.assert_allclose(got["loglik"], (w * np.log(dens)).sum(), rtol=1e-10)
    # EM started at its own answer stays there (to the stopping rule's 1e-8)
    again = em(x, w, layout, None, init=got)
    np.testing.assert_allclose(again["loglik"], got["loglik"], rtol=1e-7)
    np.testing.assert_allclose(np.sort(again["pi"]), np.sort(got["pi"]), atol=1e-4)


# (n, K, D, covariance, seed) of the issue-13 probe (x = default_rng(100 seed + n).normal((n, D))):
# before the fix each failed at SVI step 0 (a guide draw of sigma of inf or 0: the Laplace
# scale of a component's log sigma was 760 to 3,800 on the collapsed component's flat ridge)
# or in the MAP's line search (a raw "Expected parameter loc ... Real()" ValueError, 5, 2, 1)
SMALL_DATA_FAILURES = [(5, 2, 1, "full", 0), (6, 3, 1, "diag", 0), (6, 2, 3, "full", 1),
                       (15, 2, 2, "full", 1)]


@pytest.mark.filterwarnings("ignore:PSIS check")  # 5 to 15 points: a funnel-shaped posterior
@pytest.mark.parametrize("n, K, D, covariance, seed", SMALL_DATA_FAILURES)
def test_small_data_fits_have_a_finite_posterior_between_regularised_maxima(n, K, D, covariance, seed):
    """Components on one or two of a few points: the fit starts from EM floored at 1e-3 of
    the data's variance, and no Laplace scale exceeds its prior's."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    x = np.random.default_rng(100 * seed + n).normal(size=(n, D))
    fit = GaussianMixture(K, covariance=covariance).fit(x, seed=seed, progress=False, num_samples=500)
    pi = fit.draws["pi"].reshape(-1, K)
    mu = fit.draws["mu"].reshape(len(pi), K, D)
    cov = fit.covariances()  # (draw, K, D, D)
    assert np.isfinite(pi).all() and np.isfinite(mu).all() and np.isfinite(cov).all()
    np.testing.assert_allclose(pi.sum(1), 1.0, atol=1e-12)
    assert np.linalg.eigvalsh(cov).min() > 0, "a draw's covariance is not positive definite"
    # responsibilities: the softmax of log pi_k + log N(x_n | mu_k, Sigma_k) by scipy, per draw
    # and averaged (exact float64 arithmetic on the same draws: 1e-10)
    terms = np.stack([np.log(pi[:, k, None]) + np.stack(
        [stats.multivariate_normal(mu[s, k], cov[s, k]).logpdf(x).reshape(n) for s in range(len(pi))])
        for k in range(K)], axis=-1)  # (draw, data, K)
    resp = np.exp(terms - logsumexp(terms, axis=-1, keepdims=True)).mean(0)
    np.testing.assert_allclose(fit.predict_proba(x), resp, atol=1e-10)
    # log-likelihood at the posterior means, between scikit-learn's maximum likelihood with a
    # heavy ridge (reg_covar 0.1 of the data variance: a floor a sensible posterior clears
    # within 2 nats; the posterior mean is not the maximum) and with a light one (1e-3: a
    # ceiling: a component collapsed onto a point, sigma = 0.002 as before the floor, gains
    # log(0.03 / 0.002) = 2.7 nats on that point over one at the floor's 0.03)
    m = fit.posterior_means()
    means = np.asarray(m["mu"]).reshape(K, D)
    ours = logsumexp(np.stack([np.log(m["pi"][k]) + stats.multivariate_normal(
        means[k], m["cov"][k]).logpdf(x).reshape(n) for k in range(K)]), axis=0).sum()
    sklearn = {r: n * SkGaussianMixture(K, covariance_type=covariance, reg_covar=r * x.var(0).mean(),
                                        n_init=5, random_state=0).fit(x).score(x) for r in (0.1, 1e-3)}
    assert sklearn[0.1] - 2.0 <= ours <= sklearn[1e-3], (ours, sklearn)
