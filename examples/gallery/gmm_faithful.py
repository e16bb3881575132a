"""A Gaussian mixture on Old Faithful: clusters with covariance ellipses, responsibilities, K comparison.

A quick version of ``examples/gmm_faithful.py``: the PSIS-LOO / BIC comparison
of K = 1..3 components on the 272 eruptions (duration and waiting time), then
the K = 2 fit of that comparison (the default variational fit, with 1,000
posterior draws instead of 4,000): the points coloured by their posterior
responsibilities with each component's 1- and 2-sd ellipses, the
responsibility map ``p(z | x)`` over the plane, and the marginal densities.
Each component keeps one colour in every plot.
"""

import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import probmodels as pm
from probmodels import plots

torch.set_num_threads(1)
out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
x = pm.datasets.load_faithful()                # DataFrame: eruptions, waiting

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)   # an over-large K fits poorly (PSIS), as expected
    comparison = pm.compare_components(x, range(1, 4), seed=0, num_samples=1000)
fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
plots.plot_component_comparison(comparison, ax=ax)
fig.savefig(out / "gmm_component_comparison.png", dpi=90)

fit = comparison.fits[2]                       # the comparison's fit of K = 2

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
plots.plot_mixture_scatter(fit, ax=axes[0])
plots.plot_responsibility_map(fit, grid_size=60, ax=axes[1])
fig.savefig(out / "gmm_clusters.png", dpi=90)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
plots.plot_mixture_density(fit, feature="eruptions", ax=axes[0])
plots.plot_mixture_density(fit, feature="waiting", ax=axes[1])
fig.savefig(out / "gmm_densities.png", dpi=90)
