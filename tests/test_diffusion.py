"""Tests for probmodels._diffusion: the options of the DDPM recipe against their formulas.

Oracles are the papers' equations written out again here in numpy: Nichol and
Dhariwal (2021) eq. 17 for the cosine schedule, Salimans and Ho (2022) for the
v target, Hang et al. (2023) for the Min-SNR-gamma weights (the x0-space weight
min(SNR, gamma) carried to each target by the identities between the errors),
and the uniform law on 1..T for the stratified timesteps.
"""

import numpy as np
import pytest
import torch

from probmodels._diffusion import (PREDICTIONS, TIMESTEP_SAMPLINGS, WEIGHTINGS, Diffusion,
                                   beta_schedule, sample_timesteps)
from probmodels.models.ddpm import DDPM, DDPMTrainConfig

T = 1000


def cosine_alpha_bar(T, s=0.008):
    """Nichol and Dhariwal eq. 17: alpha_bar_t = f(t) / f(0), f(t) = cos^2((t/T + s)/(1 + s) pi/2)."""
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2
    return f / f[0]


def test_cosine_schedule_has_the_alpha_bar_of_eq_17():
    diff = Diffusion(beta_schedule("cosine", T))
    expected = cosine_alpha_bar(T)
    # the betas are clipped at 0.999 (only the last step reaches it): below that step
    # alpha_bar is the product of the unclipped ratios, eq. 17 itself (float64 products
    # of 1,000 factors: 1e-12 relative)
    np.testing.assert_allclose(diff.alphas_cumprod.numpy()[:T], expected[:T], rtol=1e-12)
    assert diff.betas[T] == pytest.approx(0.999)
    # SNR_t = alpha_bar_t / (1 - alpha_bar_t), infinite at t = 0
    np.testing.assert_allclose(diff.snr.numpy()[1:T], expected[1:T] / (1 - expected[1:T]), rtol=1e-9)
    assert diff.snr[0] == float("inf")


def test_v_target_is_sqrt_alpha_bar_eps_minus_sqrt_one_minus_alpha_bar_x0():
    betas = beta_schedule("cosine", T)
    diff = Diffusion(betas)
    ab = np.cumprod(1 - betas)
    x0 = torch.randn(5, 2, dtype=torch.float64)
    eps = torch.randn_like(x0)
    t = torch.tensor([1, 10, 500, 900, 1000])
    a = ab[t.numpy() - 1][:, None]
    expected = np.sqrt(a) * eps.numpy() - np.sqrt(1 - a) * x0.numpy()
    np.testing.assert_allclose(diff.target(x0, t, eps, "v").numpy(), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(diff.target(x0, t, eps, "epsilon").numpy(), eps.numpy())
    np.testing.assert_array_equal(diff.target(x0, t, eps, "x0").numpy(), x0.numpy())


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("gamma", [1.0, 5.0])
def test_min_snr_weights_follow_hang_et_al(prediction, gamma):
    betas = beta_schedule("linear", T)
    diff = Diffusion(betas)
    ab = np.cumprod(1 - betas)
    t = torch.tensor([1, 50, 200, 400, 700, 1000])
    snr = ab[t.numpy() - 1] / (1 - ab[t.numpy() - 1])
    expected = {"epsilon": np.minimum(snr, gamma) / snr, "x0": np.minimum(snr, gamma),
                "v": np.minimum(snr, gamma) / (snr + 1)}[prediction]
    like = torch.zeros(6, 2, dtype=torch.float64)
    w = diff.loss_weight(t, like, "min_snr", prediction, gamma)
    assert w.shape == (6, 1)
    np.testing.assert_allclose(w.numpy()[:, 0], expected, rtol=1e-12)
    # the weighted error is the same min(SNR, gamma) ||x0 - x0_hat||^2 for every target
    x0, eps = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    xt = diff.q_sample(x0, t, eps)
    wrong = torch.randn(6, 2, dtype=torch.float64)  # a denoiser output
    x0_hat, _ = diff.predict_x0_eps(xt, t, wrong, prediction)
    weighted = (w * (wrong - diff.target(x0, t, eps, prediction)) ** 2).sum(1)
    np.testing.assert_allclose(weighted.numpy(), np.minimum(snr, gamma) * ((x0_hat - x0) ** 2).sum(1).numpy(),
                               rtol=1e-8)
    assert float(diff.loss_weight(t, like, "none", prediction)) == 1.0


def test_weighted_simple_loss_is_the_formula_on_the_same_draws():
    ddpm = DDPM((2,), timesteps=50, hidden=16, depth=2, prediction="v")
    x0 = torch.randn(32, 2)
    torch.manual_seed(3)
    with torch.no_grad():
        loss = ddpm.simple_loss(x0, loss_weighting="min_snr", snr_gamma=2.0, timestep_sampling="stratified")
    torch.manual_seed(3)  # the same timesteps and noise, drawn in the same order
    t = sample_timesteps(32, 50, "stratified")
    eps = torch.randn_like(x0)
    d = ddpm.diffusion
    ab = d.alphas_cumprod.numpy()[t.numpy()][:, None]
    xt = np.sqrt(ab) * x0.numpy() + np.sqrt(1 - ab) * eps.numpy()
    with torch.no_grad():
        out = ddpm.denoiser(torch.as_tensor(xt, dtype=torch.float32), t).double().numpy()
    snr = ab / (1 - ab)
    v = np.sqrt(ab) * eps.numpy() - np.sqrt(1 - ab) * x0.numpy()
    expected = (np.minimum(snr, 2.0) / (snr + 1) * (out - v) ** 2).mean()
    assert loss.item() == pytest.approx(expected, rel=1e-5)  # float32 network


@pytest.mark.parametrize("n", [7, 256])
def test_stratified_timesteps_are_uniform_and_cover_every_stratum(n):
    torch.manual_seed(0)
    draws = torch.stack([sample_timesteps(n, T, "stratified") for _ in range(4000 if n == 7 else 200)])
    assert int(draws.min()) >= 1 and int(draws.max()) <= T
    # each batch has one draw in each stratum: t - 1 = floor(x) with x in [i T/n, (i+1) T/n),
    # so the i-th smallest t - 1 lies in floor(i T/n) .. ceil((i+1) T/n) - 1
    s = torch.sort(draws - 1, dim=1).values.numpy()
    i = np.arange(n)
    assert np.all(s >= np.floor(i * T / n)) and np.all(s <= np.ceil((i + 1) * T / n) - 1)
    # marginally uniform on 1..T: the mean (T + 1) / 2 and variance (T^2 - 1) / 12 of the
    # first example's draws within 4 Monte Carlo standard errors
    first = draws[:, 0].double()
    m = len(first)
    sd = np.sqrt((T**2 - 1) / 12)
    assert abs(float(first.mean()) - (T + 1) / 2) < 4 * sd / np.sqrt(m)
    uniform = sample_timesteps(100_000, T, "uniform")
    assert int(uniform.min()) >= 1 and int(uniform.max()) == T


def test_unknown_option_strings_raise_listing_the_accepted_values():
    diff = Diffusion(beta_schedule("linear", 10))
    like = torch.zeros(2, 1)
    with pytest.raises(ValueError, match=r"loss_weighting must be one of 'none', 'min_snr'; got 'snr'"):
        diff.loss_weight(torch.tensor([1, 2]), like, "snr", "epsilon")
    with pytest.raises(ValueError, match=r"timestep_sampling must be one of 'uniform', 'stratified'"):
        sample_timesteps(4, 10, "sobol")
    with pytest.raises(ValueError, match=r"loss_weighting must be one of 'none', 'min_snr'.*'minsnr'"):
        DDPMTrainConfig(loss_weighting="minsnr")
    with pytest.raises(ValueError, match=r"timestep_sampling must be one of 'uniform', 'stratified'"):
        DDPMTrainConfig(timestep_sampling="antithetic")
    with pytest.raises(ValueError, match=r"snr_gamma"):
        DDPMTrainConfig(snr_gamma=0.0)
    with pytest.raises(ValueError, match=r"objective='elbo' is the bound itself.*loss_weighting='none'"):
        DDPMTrainConfig(objective="elbo", loss_weighting="min_snr")
    assert WEIGHTINGS == ("none", "min_snr") and TIMESTEP_SAMPLINGS == ("uniform", "stratified")
