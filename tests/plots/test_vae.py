"""VAE plots on a tiny VAE of the 8x8 digits trained for 60 steps: the checks are of what
the plots show (against the fit's own encode, decode and sample), which holds for any weights."""

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

import probmodels as pm
from probmodels.plots import (
    plot_vae_interpolation,
    plot_vae_latent,
    plot_vae_losses,
    plot_vae_reconstructions,
    plot_vae_samples,
)
from probmodels.report.vae import binarized_digits

PAD = 1  # plot_image_grid's default blank pixels between images


@pytest.fixture(scope="module")
def digits():
    x, labels = binarized_digits()
    return x[:300], labels[:300]


@pytest.fixture(scope="module")
def fit(digits):
    x, _ = digits
    return pm.VAE(input_shape=(1, 8, 8), latent_dim=2, hidden=(32,)).fit(
        x, seed=0, progress=False, steps=60, batch_size=50
    )


def tiles(ax, ncols: int, size: int = 8) -> np.ndarray:
    """The images of a grid drawn by plot_image_grid, row by row: ``(n, size, size)``."""
    canvas = np.asarray(ax.images[0].get_array())
    rows = (canvas.shape[0] + PAD) // (size + PAD)
    return np.stack(
        [
            canvas[
                r * (size + PAD) : r * (size + PAD) + size,
                c * (size + PAD) : c * (size + PAD) + size,
            ]
            for r in range(rows)
            for c in range(ncols)
        ]
    )


def test_interpolation_runs_from_the_decoded_encoding_of_x1_to_that_of_x2(fit, digits, ax):
    x, _ = digits
    ax = plot_vae_interpolation(fit, x[0], x[1], steps=5, ax=ax)
    shown = tiles(ax, ncols=5)
    (z1,), (z2,) = fit.encode(x[:1])[0], fit.encode(x[1:2])[0]
    t = np.linspace(0.0, 1.0, 5)[:, None]
    expected = fit.decode((1 - t) * z1 + t * z2)[:, 0]  # (5, 8, 8)
    # float32 networks, the same computation: 1e-6
    np.testing.assert_allclose(shown, expected, atol=1e-6)
    np.testing.assert_allclose(shown[0], fit.decode(z1[None])[0, 0], atol=1e-6)
    np.testing.assert_allclose(shown[-1], fit.decode(z2[None])[0, 0], atol=1e-6)
    assert not np.allclose(shown[0], shown[-1], atol=1e-3)  # two different digits
    assert fit.plot_interpolation(x[0], x[1], steps=5, ax=Figure().add_subplot()).images


def test_latent_scatter_colours_follow_the_labels(fit, digits, ax):
    x, labels = digits
    x, labels = x[:120], labels[:120]
    ax = plot_vae_latent(fit, x, labels, ax=ax)
    loc, _ = fit.encode(x)
    values = np.unique(labels)
    assert len(ax.collections) == len(values)
    for k, (value, points) in enumerate(zip(values, ax.collections)):
        assert points.get_label() == str(value)
        np.testing.assert_allclose(points.get_facecolors()[0], to_rgba(f"C{k % 10}"))
        np.testing.assert_allclose(points.get_offsets(), loc[labels == value], rtol=1e-6)
    with pytest.raises(ValueError, match="one label per example"):
        plot_vae_latent(fit, x, labels[:-1], ax=Figure().add_subplot())


def test_reconstructions_sit_under_their_images_and_samples_are_the_fit_s(fit, digits, ax):
    x, _ = digits
    ax = plot_vae_reconstructions(fit, x, n=4, ax=ax)
    shown = tiles(ax, ncols=4)
    np.testing.assert_array_equal(shown[:4], x[:4, 0])
    np.testing.assert_allclose(shown[4:], fit.reconstruct(x[:4])[:, 0], atol=1e-6)
    ax = plot_vae_samples(fit, 9, seed=2, ax=Figure().add_subplot())
    np.testing.assert_allclose(tiles(ax, ncols=3), fit.sample(9, seed=2)[:, 0], atol=1e-6)


def test_loss_curves_show_the_training_and_validation_losses(fit, ax):
    ax = plot_vae_losses(fit, ax=ax)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), fit.losses)
    np.testing.assert_array_equal(ax.lines[-1].get_ydata(), fit.val_losses)
    assert ax.lines[-1].get_label() == "validation loss" and ax.get_xlabel() == "epoch"
    same = fit.plot_loss(ax=Figure().add_subplot())
    np.testing.assert_array_equal(same.lines[-1].get_ydata(), fit.val_losses)


def test_image_plots_refuse_a_vae_of_vectors(ax):
    x = np.random.default_rng(0).normal(size=(40, 2))
    fit = pm.VAE(input_shape=(2,), latent_dim=1, likelihood="gaussian", hidden=(8,)).fit(
        x, seed=0, progress=False, steps=2, batch_size=20
    )
    with pytest.raises(ValueError, match="draws images; this VAE models vectors"):
        plot_vae_samples(fit, 4, ax=ax)
    # interpolation of vectors: the path of the decoded means
    path = plot_vae_interpolation(fit, x[0], x[1], steps=4, ax=ax).lines[0]
    expected = fit.interpolate(x[0], x[1], steps=4)
    np.testing.assert_allclose(np.column_stack([path.get_xdata(), path.get_ydata()]), expected)
