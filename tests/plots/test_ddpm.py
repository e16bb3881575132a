"""DDPM plots on a tiny 2-D DDPM (T = 20, trained for 20 steps)."""

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import probmodels as pm
from probmodels.infer.runtime import limit_threads
from probmodels.plots import plot_bits_per_timestep, plot_ddpm_samples, plot_ddpm_trajectory

T = 20


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).normal(loc=(1.0, -2.0), scale=(0.5, 2.0), size=(64, 2))


@pytest.fixture(scope="module")
def fit(data):
    with limit_threads(1):
        return pm.DDPM((2,), timesteps=T, hidden=16, depth=2).fit(
            data, steps=20, batch_size=32, seed=0
        )


def test_bits_per_dim_per_timestep_add_up_to_the_fit_s_bits_per_dim(fit, data, ax):
    x = data[:32]
    evaluation = fit.evaluate(x, num_draws=1, seed=0)
    ax = plot_bits_per_timestep(fit, x, seed=0, ax=ax)
    t, bpd = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    np.testing.assert_array_equal(t, np.arange(T + 1))
    # the same seeded evaluation, divided by D ln 2
    np.testing.assert_allclose(bpd, evaluation.terms / (2 * math.log(2)), rtol=1e-12)
    assert bpd.sum() == pytest.approx(evaluation.bits_per_dim, rel=1e-9)
    # the prior term L_T is deterministic: KL(N(sqrt(ab_T) x0, 1 - ab_T) || N(0, 1)) per
    # coordinate of the standardised data, in closed form. The model computes in float32,
    # and with the cosine schedule ab_T is near 0, so (1 - ab) - 1 - log(1 - ab) cancels:
    # 1e-5 relative or 1e-7 bits absolute (float32 eps on terms of order 1)
    ab = float(fit.ddpm.diffusion.alphas_cumprod[T])
    u = fit.ddpm.to_unit(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
    kl = 0.5 * (ab * u**2 + (1 - ab) - 1 - math.log(1 - ab)).sum(1).mean()
    assert bpd[T] == pytest.approx(kl / (2 * math.log(2)), rel=1e-5, abs=1e-7)
    # a given evaluation draws the same, without evaluating again
    same = fit.plot_bits_per_timestep(evaluation=evaluation, ax=Figure().add_subplot())
    np.testing.assert_array_equal(same.lines[0].get_ydata(), bpd)
    assert f"total {evaluation.bits_per_dim:.3f} bits/dim" in same.get_title()


def test_bits_per_timestep_needs_data_or_a_matching_evaluation(fit, data, ax):
    with pytest.raises(ValueError, match="needs data x to evaluate"):
        plot_bits_per_timestep(fit, ax=ax)
    evaluation = fit.evaluate(data[:8], num_draws=1, seed=0)
    evaluation.terms = evaluation.terms[:-1]
    with pytest.raises(ValueError, match=r"must have shape \(T \+ 1,\) = \(21,\)"):
        plot_bits_per_timestep(fit, evaluation=evaluation, ax=ax)


def test_samples_are_drawn_over_the_data_and_the_trajectory_ends_at_the_samples(fit, data, ax):
    ax = plot_ddpm_samples(fit, 50, seed=4, data=data, ax=ax)
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), data)
    np.testing.assert_allclose(ax.collections[1].get_offsets(), fit.sample(50, seed=4), rtol=1e-6)
    ax = plot_ddpm_trajectory(fit, 30, num_frames=4, seed=4, ax=Figure().add_subplot())
    ts, frames = fit.trajectory(30, num_frames=4, seed=4)
    assert [text.get_text() for text in ax.texts] == [f"t = {t}" for t in ts]
    last = ax.collections[-1].get_offsets()
    shift = last[:, 0] - frames[-1][:, 0]  # frames are set side by side along x
    np.testing.assert_allclose(last[:, 1], frames[-1][:, 1], rtol=1e-6)
    np.testing.assert_allclose(shift, shift[0], atol=1e-4)
