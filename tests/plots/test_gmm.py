"""Gaussian mixture plots: ellipses from the covariances, one colour per component in
every plot, the responsibility map and the K comparison, against numbers computed here."""

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

import probmodels as pm
from probmodels.models.gmm.compare import compare_components
from probmodels.plots import (
    component_colors,
    plot_component_comparison,
    plot_covariance_ellipses,
    plot_mixture_density,
    plot_mixture_scatter,
    plot_responsibility_map,
)

FAST = {"num_samples": 100, "steps": 100, "num_starts": 1}


def two_clusters(n: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            rng.multivariate_normal([0.0, 0.0], [[1.0, 0.6], [0.6, 1.0]], n),
            rng.multivariate_normal([5.0, 3.0], [[0.5, -0.2], [-0.2, 0.8]], n),
        ]
    )


@pytest.fixture(scope="module")
def data():
    return two_clusters()


@pytest.fixture(scope="module")
def fit(data):
    return pm.GaussianMixture(2).fit(data, seed=0, progress=False, **FAST)


@pytest.fixture(scope="module")
def fit_1d():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-4, 1, 50), rng.normal(0, 0.7, 50), rng.normal(4, 1, 50)])
    return pm.GaussianMixture(3).fit(x, seed=0, progress=False, **FAST)


def test_component_colors_are_distinct_and_stable():
    for K in (1, 3, 10, 15, 25):
        colors = component_colors(K)
        assert colors.shape == (K, 3) and len({tuple(c) for c in colors}) == K
        np.testing.assert_array_equal(component_colors(K), colors)
    np.testing.assert_allclose(component_colors(3), [to_rgb(f"C{k}") for k in range(3)])
    with pytest.raises(ValueError, match="n_components"):
        component_colors(0)


def test_ellipse_axes_come_from_the_eigen_decomposition_of_each_covariance(fit, ax):
    ax = plot_covariance_ellipses(fit, n_std=(1.0, 2.0), ax=ax)
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 4  # 2 components x 2 sizes
    means = fit.posterior_means()
    for k in range(2):
        cov, mu = means["cov"][k], means["mu"][k]
        evals, evecs = np.linalg.eigh(cov)
        for m, n in enumerate((1.0, 2.0)):
            e = ellipses[2 * k + m]
            np.testing.assert_allclose(e.center, mu, rtol=1e-12)
            np.testing.assert_allclose(e.width, 2 * n * np.sqrt(evals[1]), rtol=1e-12)
            np.testing.assert_allclose(e.height, 2 * n * np.sqrt(evals[0]), rtol=1e-12)
            major = np.degrees(np.arctan2(evecs[1, 1], evecs[0, 1]))
            # an axis direction: angles that differ by 180 degrees are the same ellipse
            assert (e.angle - major) % 180.0 == pytest.approx(0.0, abs=1e-9) or (
                e.angle - major
            ) % 180.0 == pytest.approx(180.0, abs=1e-9)
            # the patch maps the unit circle onto its outline: every point of it lies n
            # Mahalanobis units from the mean
            theta = np.linspace(0.0, 2 * np.pi, 13)
            outline = e.get_patch_transform().transform(
                np.column_stack([np.cos(theta), np.sin(theta)])
            )
            d = outline - mu
            maha = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
            np.testing.assert_allclose(maha, n**2, rtol=1e-9)


def test_each_component_has_the_same_colour_in_every_plot(fit, fit_1d):
    colors = component_colors(2)
    figure = Figure()
    scatter = plot_mixture_scatter(fit, ax=figure.add_subplot(2, 2, 1))
    density = plot_mixture_density(fit, feature=1, ax=figure.add_subplot(2, 2, 2))
    rmap = plot_responsibility_map(fit, grid_size=20, ax=figure.add_subplot(2, 2, 3))
    ellipses = plot_covariance_ellipses(fit, ax=figure.add_subplot(2, 2, 4))
    seen = {
        "scatter ellipses": [to_rgb(p.get_edgecolor()) for p in scatter.patches[::2]],
        "scatter means": [to_rgb(line.get_color()) for line in scatter.lines],
        "density components": [to_rgb(line.get_color()) for line in density.lines[1:]],
        "map means": [to_rgb(line.get_color()) for line in rmap.lines],
        "ellipses": [to_rgb(p.get_edgecolor()) for p in ellipses.patches[::2]],
    }
    for where, found in seen.items():
        np.testing.assert_allclose(found, colors, atol=1e-12, err_msg=where)
    # the points mix those colours with their responsibilities
    np.testing.assert_allclose(
        scatter.collections[0].get_facecolors()[:, :3],
        np.clip(fit.predict_proba() @ colors, 0, 1),
        atol=1e-12,
    )
    # 1-D: the stacked responsibilities and the density's components, K = 3
    colors3 = component_colors(3)
    stacked = plot_responsibility_map(fit_1d, grid_size=30, ax=Figure().add_subplot())
    np.testing.assert_allclose(
        [c.get_facecolor()[0][:3] for c in stacked.collections], colors3, atol=1e-12
    )
    density = plot_mixture_density(fit_1d, ax=Figure().add_subplot())
    np.testing.assert_allclose(
        [to_rgb(line.get_color()) for line in density.lines[1:]], colors3, atol=1e-12
    )


def test_responsibility_map_shows_predict_proba_on_the_grid(fit, ax):
    ax = fit.plot_responsibilities(grid_size=25, ax=ax)
    image = ax.images[0]
    rgb = np.asarray(image.get_array())
    assert rgb.shape == (25, 25, 3) and image.origin == "lower"
    x0, x1, y0, y1 = image.get_extent()
    gx = x0 + (np.arange(25) + 0.5) * (x1 - x0) / 25  # pixel centres
    gy = y0 + (np.arange(25) + 0.5) * (y1 - y0) / 25
    X, Y = np.meshgrid(gx, gy)
    proba = fit.predict_proba(np.column_stack([X.ravel(), Y.ravel()]))  # (625, K)
    np.testing.assert_allclose(
        rgb.reshape(-1, 3), np.clip(proba @ component_colors(2), 0, 1), atol=1e-9
    )
    # with two colours the mix is invertible: the map encodes p(z = 1 | x) itself
    c0, c1 = component_colors(2)
    p1 = (rgb.reshape(-1, 3) - c0) @ (c1 - c0) / ((c1 - c0) @ (c1 - c0))
    np.testing.assert_allclose(p1, proba[:, 1], atol=1e-9)
    assert p1.min() < 0.01 and p1.max() > 0.99  # both clusters are on the grid


def test_responsibility_map_in_one_dimension_stacks_predict_proba(fit_1d, ax):
    ax = plot_responsibility_map(fit_1d, grid_size=40, ax=ax)
    x = fit_1d.data[:, 0]
    pad = 0.05 * (x.max() - x.min())
    g = np.linspace(x.min() - pad, x.max() + pad, 40)
    cumulative = np.cumsum(fit_1d.predict_proba(g[:, None]), axis=1)  # (G, K)
    for k, band in enumerate(ax.collections[:3]):
        v = band.get_paths()[0].vertices
        top = np.array([v[np.isclose(v[:, 0], xi), 1].max() for xi in g])
        np.testing.assert_allclose(top, cumulative[:, k], atol=1e-9)
    np.testing.assert_allclose(cumulative[:, -1], 1.0, atol=1e-12)


def test_component_comparison_marks_the_best_k(data, ax):
    comparison = compare_components(data, n_components=[1, 2], seed=0, **FAST)
    ax = plot_component_comparison(comparison, ax=ax)
    table = comparison.table
    np.testing.assert_array_equal(
        ax.lines[0].get_ydata(), [table.loc["K=1", "elpd_loo"], table.loc["K=2", "elpd_loo"]]
    )
    best = ax.lines[1]
    assert best.get_label() == f"best: K={comparison.best}"
    assert list(best.get_xdata()) == [comparison.best]
    assert list(best.get_ydata()) == [table.loc[f"K={comparison.best}", "elpd_loo"]]
    assert comparison.best == 2  # two well-separated clusters
    assert f"lowest BIC: K={comparison.best_bic}" in ax.get_title()
    again = comparison.plot(ax=Figure().add_subplot())  # the comparison's own plot()
    for a, b in zip(ax.lines, again.lines):
        np.testing.assert_array_equal(a.get_xydata(), b.get_xydata())


def test_two_feature_plots_refuse_one_feature_and_repeated_features(fit, fit_1d, ax):
    with pytest.raises(ValueError, match="2 or more features"):
        plot_covariance_ellipses(fit_1d, ax=ax)
    with pytest.raises(ValueError, match="two different features"):
        plot_mixture_scatter(fit, features=(1, 1), ax=ax)
    with pytest.raises(ValueError, match="n_std must be positive"):
        plot_covariance_ellipses(fit, n_std=(0.0,), ax=ax)
