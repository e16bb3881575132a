"""A Bayesian Gaussian mixture on Old Faithful: choose K, fit, read responsibilities.

Run it with an output folder for the plots (a new temporary folder by default):

    python examples/gmm_faithful.py [OUT_DIR]

Steps: compare K = 1..4 by PSIS-LOO and BIC, fit the chosen K with the default
variational fit (multi-start EM -> Laplace -> SVI refinement -> PSIS), summarise the posterior,
get the posterior responsibilities p(z | x) of new points, plot the clusters
and the densities, save and reload the fit, and check the fit against NUTS
(z summed out). One to two minutes in all on a laptop; NUTS and the K comparison
are most of it.
"""

import sys
import tempfile
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write PNG files; no window needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import probmodels as pm  # noqa: E402
from probmodels.models.gmm import GaussianMixture, compare_components  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # ArviZ 0.23's refactor notice
    import arviz as az  # noqa: E402

torch.set_num_threads(1)  # small model: extra threads mostly contend
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="gmm_faithful_"))
out.mkdir(parents=True, exist_ok=True)

# ---------------------------------------------------------------- data
x = pm.datasets.load_faithful()          # DataFrame: eruptions, waiting (minutes), 272 rows
print(x.describe().round(2))

# ---------------------------------------------------------- choose K
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)   # over-large K fit poorly (PSIS), as expected
    comparison = compare_components(x, range(1, 5), seed=0)
print(comparison.table[["rank", "elpd_loo", "p_loo", "elpd_diff", "dse", "bic", "khat"]].round(2))
print(f"best K by PSIS-LOO: {comparison.best_loo}, by BIC: {comparison.best_bic}")
# By LOO, K = 2 is within one standard error (dse) of the top-ranked K = 4, whose fit has
# k-hat > 0.7 (a redundant component: its fit and LOO are approximate); BIC and the
# plots favour K = 2, the model fitted below.

# ---------------------------------------------------- the three lines
fit = GaussianMixture(n_components=2).fit(x, seed=0, progress=False)
idata = fit.to_arviz()
print(az.summary(idata, var_names=["pi", "mu", "sigma"], kind="stats"))
print(f"PSIS k-hat {fit.diagnostics['khat']:.2f}, {fit.diagnostics['seconds']:.1f} s")

# ------------------------------------------------- responsibilities
new = pd.DataFrame({"eruptions": [2.0, 3.3, 4.5], "waiting": [55.0, 68.0, 82.0]})
print("p(z | x) of new eruptions:\n", fit.predict_proba(new).round(3))
print("most probable component:", fit.predict(new))

fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), layout="constrained")
fit.plot_clusters(ax=axes[0])
fit.plot_density(ax=axes[1], feature="eruptions")
fit.plot_density(ax=axes[2], feature="waiting")
fig.savefig(out / "faithful_mixture.png", dpi=110)
print(f"plots in {out}")

# ----------------------------------------------------- save and reload
path = fit.save(out / "faithful_fit.npz", overwrite=True)
back = pm.load(path)
assert np.array_equal(back.predict_proba(new), fit.predict_proba(new))

# ------------------------------------------------ check against NUTS
nuts = GaussianMixture(n_components=2).fit(x, method="nuts", seed=0, progress=False)
for name in ("pi", "mu", "sigma"):
    print(name, "svi", fit.posterior_means()[name].round(3).tolist(),
          "nuts", nuts.posterior_means()[name].round(3).tolist())
