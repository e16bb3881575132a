"""The shared surface of the four models: every fit takes seed, progress, num_threads
and device with one meaning; every result has a summary() DataFrame, a short repr and
keeps the user's Pyro parameter store; AR and GMM export posterior + log_likelihood
that arviz.loo accepts; VAEFit.to_arviz(x) exports the latent posterior of x, checked
here against the posterior computed on a grid from the fitted decoder."""

import math

import arviz as az
import numpy as np
import pyro
import pytest
import torch

import probmodels as pm
from probmodels.datasets import load_faithful, load_sunspots
from probmodels.report.vae import binarized_digits

COMMON = dict(seed=0, progress=False, num_threads=1, device="cpu")


def _keeps_user_param(fit_fn):
    """Run ``fit_fn`` with a user's parameter in the store; the store must be unchanged."""
    pyro.clear_param_store()
    mine = pyro.param("users_own", torch.tensor([1.5, -2.0]))
    out = fit_fn()
    store = pyro.get_param_store()
    assert list(store.keys()) == ["users_own"], list(store.keys())
    assert torch.equal(store["users_own"].detach(), mine.detach())
    pyro.clear_param_store()
    return out


@pytest.fixture(scope="module")
def fits():
    y = load_sunspots()
    faithful = load_faithful().to_numpy()
    x, _ = binarized_digits()
    moons = torch.as_tensor(np.random.default_rng(0).normal(size=(256, 2)), dtype=torch.float32)
    return {
        "ar exact": _keeps_user_param(lambda: pm.BayesianAR(2).fit(y, **COMMON)),
        "ar svi": _keeps_user_param(lambda: pm.BayesianAR(2).fit(y, method="svi", steps=200, **COMMON)),
        "gmm": _keeps_user_param(lambda: pm.GaussianMixture(2).fit(faithful, **COMMON)),
        "vae": _keeps_user_param(lambda: pm.VAE((1, 8, 8), latent_dim=2).fit(
            x[:600], steps=400, batch_size=64, **COMMON)),
        "ddpm": _keeps_user_param(lambda: pm.DDPM((2,), timesteps=20, hidden=16, depth=2).fit(
            moons, steps=20, batch_size=32, **COMMON)),
    }, x


@pytest.mark.parametrize("name", ["ar exact", "ar svi", "gmm", "vae", "ddpm"])
def test_summary_is_a_dataframe_and_repr_is_short(fits, name):
    import pandas as pd

    fit = fits[0][name]
    table = fit.summary()
    assert isinstance(table, pd.DataFrame) and len(table) > 0
    assert table.select_dtypes("number").notna().any().any()
    text = repr(fit)
    assert len(text) < 1000 and type(fit).__name__ in text and "seed=0" in text
    if name in ("ar exact", "gmm"):
        assert {"mean", "sd", "hdi_3%", "hdi_97%"} <= set(table.columns)


@pytest.mark.parametrize("name", ["ar svi", "gmm", "vae", "ddpm"])
def test_every_svi_trained_fit_plots_its_loss(fits, name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = fits[0][name].plot_loss()
    assert len(ax.lines) >= 1 and len(ax.lines[0].get_ydata()) == len(fits[0][name].losses)
    plt.close("all")


@pytest.mark.parametrize("name", ["ar exact", "gmm"])
def test_ar_and_gmm_export_what_arviz_loo_accepts(fits, name):
    fit = fits[0][name]
    idata = fit.to_arviz()
    loo = az.loo(idata)
    ll = np.asarray(idata["log_likelihood"][list(idata["log_likelihood"].data_vars)[0]])
    # elpd_loo <= the in-sample log pointwise predictive density (LOO pays for the fit)
    lppd = float(np.sum(np.log(np.mean(np.exp(ll.reshape(-1, ll.shape[-1])), 0))))
    assert loo.elpd_loo <= lppd + 1e-6
    assert set(idata["posterior"].data_vars) >= ({"mu", "phi", "sigma"} if name.startswith("ar") else {"pi"})


def test_progress_none_is_quiet_off_a_terminal(capsys):
    pm.BayesianAR(1).fit(load_sunspots(), seed=0, progress=None)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_device_other_than_cpu_for_the_statistical_models_is_a_clear_error():
    with pytest.raises(ValueError, match="cpu"):
        pm.BayesianAR(1).fit(load_sunspots(), seed=0, device="meta")


def test_vae_to_arviz_gives_the_latent_posterior_of_each_example(fits):
    fit, x = fits[0]["vae"], fits[1]
    examples = x[700:703]
    S = 2000
    idata = fit.to_arviz(examples, num_samples=S, seed=1)
    z = np.asarray(idata["posterior"]["z"])                        # (chain, draw, example, latent)
    assert z.shape == (1, S, 3, 2)
    khat = np.asarray(idata["observed_data"]["khat"])
    assert idata["posterior"].attrs["max_khat"] == pytest.approx(khat.max())
    assert khat.shape == (3,)
    # the posterior p(z | x) ~ N(z; 0, I) p(x | z) on a grid, with the fitted decoder
    g = np.linspace(-5, 5, 161)
    grid = torch.as_tensor(np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2),
                           dtype=fit.vae.dtype)
    vae = fit.vae
    vae.net.eval()
    with torch.no_grad():
        f = vae.net.decoder(grid)
        for i in range(3):
            xi = torch.as_tensor(examples[i], dtype=vae.dtype)
            lp = (vae._likelihood(f).log_prob(xi.expand((grid.shape[0],) + xi.shape))
                  - 0.5 * (grid ** 2).sum(-1)).double().numpy()
            w = np.exp(lp - lp.max())
            w /= w.sum()
            mean = (w[:, None] * grid.double().numpy()).sum(0)
            sd = np.sqrt((w[:, None] * (grid.double().numpy() - mean) ** 2).sum(0))
            assert khat[i] < 0.7, khat
            got = z[0, :, i]
            # the resample's Monte Carlo error (effective size at least S / 4) plus 10% sd of
            # grid and PSIS bias
            tol = 0.1 * sd + 4 * sd / math.sqrt(S / 4)
            np.testing.assert_array_less(np.abs(got.mean(0) - mean), tol)
            np.testing.assert_allclose(got.std(0), sd, rtol=0.2)


@pytest.mark.parametrize("model", ["ar", "gmm"])
def test_nuts_fits_keep_the_param_store_and_random_state(model):
    import warnings

    data = load_sunspots() if model == "ar" else load_faithful().to_numpy()[:120]
    build = (lambda: pm.BayesianAR(1)) if model == "ar" else (lambda: pm.GaussianMixture(2))
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    with warnings.catch_warnings():
        # 40 draws are too few for the convergence checks; their warnings are not the point
        warnings.simplefilter("ignore", UserWarning)
        fit = _keeps_user_param(lambda: build().fit(data, method="nuts", num_samples=40, warmup_steps=40,
                                                    num_chains=2, **COMMON))
    assert torch.equal(torch.rand(3), expected)
    assert fit.num_chains == 2 and {"energy", "lp", "tree_depth"} <= set(fit.sample_stats)
