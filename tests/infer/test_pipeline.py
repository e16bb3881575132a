"""Tests for probmodels.infer.pipeline: the NUTS checks and the standard warnings of every fit."""

import warnings

import numpy as np
import pytest

import probmodels as pm
from probmodels import diagnostics as D
from probmodels.infer.config import NUTSConfig
from probmodels.infer.pipeline import check_nuts, warn_diagnostics


def _stats(C, N, depth=3, diverging=0):
    rng = np.random.default_rng(0)
    energy = rng.standard_normal((C, N))
    div = np.zeros((C, N), dtype=bool)
    div.flat[:diverging] = True
    return {"energy": energy, "diverging": div, "tree_depth": np.full((C, N), depth)}


def test_check_nuts_reports_the_worst_site_and_the_counts():
    rng = np.random.default_rng(1)
    good = rng.standard_normal((2, 400))
    stuck = np.stack([rng.normal(0, 1, 400), rng.normal(3, 1, 400)])   # two modes, one per chain
    d = check_nuts({"a": good, "b": stuck[..., None]}, _stats(2, 400, depth=10, diverging=3), NUTSConfig())
    assert d["max_rhat_site"] == "b" and d["max_rhat"] == pytest.approx(float(D.rhat(stuck)))
    assert d["divergences"] == 3 and d["max_tree_depth_hits"] == 800
    # E-BFMI of independent energies is about 2 (E[(E_n - E_{n-1})^2] = 2 Var E)
    assert 1.5 < d["min_bfmi"] < 2.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_diagnostics(d)
    text = " ".join(str(w.message) for w in caught)
    for check in ("NUTS divergences check: 3", "NUTS R-hat check", "site 'b'", "NUTS tree depth check: 800"):
        assert check in text


def test_standard_warnings_stay_quiet_for_a_good_run_and_name_a_bad_khat():
    quiet = {"divergences": 0, "max_rhat": 1.001, "min_ess": 900.0, "num_chains": 2,
             "num_draws": 1000, "max_tree_depth_hits": 0, "min_bfmi": 1.0, "khat": 0.3}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_diagnostics(quiet)
    with pytest.warns(UserWarning, match=r"PSIS check: k-hat 0.91 > 0.7"):
        warn_diagnostics({"khat": 0.91})
    with pytest.warns(UserWarning, match="NUTS ESS check: bulk/tail effective sample size down to 50"):
        warn_diagnostics({**quiet, "min_ess": 50.0, "min_ess_site": "mu"})


def test_a_nuts_fit_checks_itself_and_exports_the_sampler_statistics():
    """A short NUTS fit: diagnostics hold R-hat and ESS, sample_stats the per-draw quantities
    ArviZ's energy plots read, and the warnings are those of the numbers."""
    rng = np.random.default_rng(0)
    y = np.zeros(150)
    for t in range(1, 150):
        y[t] = 0.5 * y[t - 1] + rng.standard_normal()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = pm.BayesianAR(order=1).fit(y, method="nuts", num_samples=100, warmup_steps=100,
                                         seed=0, progress=False)
    d = fit.diagnostics
    for key in ("max_rhat", "min_ess", "divergences", "min_bfmi", "max_tree_depth_hits"):
        assert key in d
    expected_rhat = max(float(np.max(D.rhat(fit.draws[k]))) for k in ("mu", "phi", "sigma"))
    assert d["max_rhat"] == pytest.approx(expected_rhat)
    shown = [str(w.message) for w in caught if "NUTS" in str(w.message)]
    assert bool(shown) == (d["max_rhat"] > 1.01 or d["min_ess"] < 200 or d["divergences"] > 0)
    idata = fit.to_arviz()
    for name in ("lp", "energy", "tree_depth", "step_size", "acceptance_rate", "diverging"):
        assert idata.sample_stats[name].dims == ("chain", "draw")
    import arviz as az

    np.testing.assert_allclose(az.bfmi(idata), [
        np.square(np.diff(e)).mean() / e.var(ddof=1) for e in fit.sample_stats["energy"]], rtol=1e-10)
    summary = fit.summary()
    assert summary["r_hat"].notna().all() and list(summary.index) == ["mu", "phi[1]", "sigma"]
