"""Tests for probmodels.models.ddpm and probmodels._diffusion.

Oracles: the Gaussian closed forms of the forward process computed in numpy
by Gaussian conditioning (not by the formulas the library uses), a numpy
re-computation of the DDPM bound from the guide's draws, Monte Carlo
agreement of Trace_ELBO and the timestep-sampled estimator with the
analytic-KL chain, a numpy MMD, and the two-moons sample quality of the issue.
"""

import math
import time

import numpy as np
import pyro
import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

import probmodels as pm
from probmodels._diffusion import Diffusion, beta_schedule
from probmodels.infer.runtime import limit_threads
from probmodels.metrics import mmd2
from probmodels.models.ddpm import DDPM, DDPMFit, DiscretizedGaussian
from probmodels.models.ddpm.sampling import ddim_timesteps, step_denoiser

# a short chain with betas large enough that every step matters
SMALL = dict(timesteps=5, beta_start=0.05, beta_end=0.3, hidden=32, depth=2)


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors: intra-op threads only cost synchronisation on a busy machine
    with limit_threads(1):
        yield


def np_alpha_bar(betas):
    return np.cumprod(1.0 - betas)


def np_posterior(betas, t, x0, xt):
    """q(x_{t-1} | x_t, x_0) by Gaussian conditioning: prior q(x_{t-1}|x_0), likelihood q(x_t|x_{t-1})."""
    ab = np.concatenate([[1.0], np_alpha_bar(betas)])
    beta, alpha = betas[t - 1], 1.0 - betas[t - 1]
    prior_var = 1.0 - ab[t - 1]
    if prior_var == 0.0:  # t = 1: x_{t-1} = x_0 is known
        return x0 * 1.0, 0.0
    precision = 1.0 / prior_var + alpha / beta
    var = 1.0 / precision
    mean = var * (np.sqrt(ab[t - 1]) * x0 / prior_var + np.sqrt(alpha) * xt / beta)
    return mean, var


# ------------------------------------------------------------------ closed forms


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_forward_closed_forms_match_numpy(schedule):
    T = 1000
    betas = beta_schedule(schedule, T)
    if schedule == "linear":
        np.testing.assert_allclose(betas[[0, -1]], [1e-4, 0.02], rtol=0, atol=1e-15)
    else:  # Nichol and Dhariwal eq. 17, written out again
        f = lambda t: np.cos((t / T + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731
        expected = np.minimum(1 - f(np.arange(1, T + 1)) / f(np.arange(T)), 0.999)
        # 1 - ratio cancels ~4 digits at small t: 1e-16 absolute is 2e-12 relative
        np.testing.assert_allclose(betas, expected, rtol=1e-9)
    diff = Diffusion(betas)
    assert diff.alphas_cumprod.dtype == torch.float64
    rng = np.random.default_rng(0)
    x0, xt = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    ab = np_alpha_bar(betas)
    for t in (1, T // 2, T):
        mean, var = diff.q_mean_var(torch.as_tensor(x0), t)
        # exact float64 paths: 1e-12
        np.testing.assert_allclose(mean.numpy(), np.sqrt(ab[t - 1]) * x0, rtol=1e-12)
        np.testing.assert_allclose(float(var), 1 - ab[t - 1], rtol=1e-12)
        pm_, pv = diff.q_posterior(torch.as_tensor(x0), torch.as_tensor(xt), t)
        em, ev = np_posterior(betas, t, x0, xt)
        np.testing.assert_allclose(pm_.numpy(), em, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(float(pv), ev, rtol=1e-10, atol=1e-15)
    # per-example timesteps gather the same values
    t = torch.tensor([1, T // 2, T, 7])
    mean, var = diff.q_mean_var(torch.as_tensor(x0), t)
    np.testing.assert_allclose(var.numpy()[:, 0], 1 - ab[t.numpy() - 1], rtol=1e-12)


def test_q_sample_has_the_closed_form_moments():
    diff = Diffusion(beta_schedule("linear", 100))
    x0 = torch.full((200_000, 1), 1.5, dtype=torch.float64)
    xt = diff.q_sample(x0, 60, torch.randn_like(x0))
    ab = np_alpha_bar(beta_schedule("linear", 100))[59]
    se = math.sqrt((1 - ab) / x0.shape[0])
    assert abs(xt.mean().item() - math.sqrt(ab) * 1.5) < 4 * se  # 4 Monte Carlo standard errors
    assert abs(xt.var().item() / (1 - ab) - 1) < 4 * math.sqrt(2 / x0.shape[0])


@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
def test_parameterisations_recover_x0_and_noise(prediction):
    diff = Diffusion(beta_schedule("cosine", 50))
    x0 = torch.randn(8, 2, dtype=torch.float64)
    noise = torch.randn_like(x0)
    t = torch.randint(1, 51, (8,))
    xt = diff.q_sample(x0, t, noise)
    target = diff.target(x0, t, noise, prediction)
    x0_hat, eps_hat = diff.predict_x0_eps(xt, t, target, prediction)
    torch.testing.assert_close(x0_hat, x0, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(eps_hat, noise, rtol=1e-9, atol=1e-9)
    # with the true x0, the model mean is the posterior mean (Ho et al. eq. 11 for epsilon)
    mean, _ = diff.p_mean_var(xt, t, target, prediction)
    torch.testing.assert_close(mean, diff.q_posterior(x0, xt, t)[0], rtol=1e-9, atol=1e-9)


def test_shared_timestep_denoising_equals_timemlp_forward():
    """DDPM._denoise embeds an int t once for the batch: the same numbers as a t per row."""
    ddpm = DDPM((3,), timesteps=40, hidden=64)
    x = torch.randn(10, 3)
    torch.testing.assert_close(ddpm._denoise(x, 17), ddpm.denoiser(x, torch.full((10,), 17)),
                               rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ the bound


def np_chain_bound(ddpm, x0, values):
    """Negative ELBO per example from the guide's draws, in numpy float64 (Ho et al. eqs. 5, 11).

    The model mean is eq. 11 for noise prediction; for x0 and v prediction it is the
    Gaussian-conditioning posterior mean (``np_posterior``) at the predicted x0, with
    x0 = sqrt(abar) x_t - sqrt(1 - abar) v (Salimans and Ho 2022).
    """
    T = ddpm.timesteps
    betas = beta_schedule(ddpm.noise_schedule, T, beta_start=SMALL["beta_start"], beta_end=SMALL["beta_end"])
    ab = np.concatenate([[1.0], np_alpha_bar(betas)])
    x0n = x0.double().numpy()

    def kl(mq, vq, mp, vp):
        return 0.5 * (np.log(vp / vq) + (vq + (mq - mp) ** 2) / vp - 1).sum(-1)

    def model_mean(t, xt):
        with torch.no_grad():
            out = ddpm.denoiser(torch.as_tensor(xt, dtype=torch.float32), torch.full((xt.shape[0],), t)).double().numpy()
        if ddpm.prediction == "epsilon":
            return (xt - betas[t - 1] / np.sqrt(1 - ab[t]) * out) / np.sqrt(1 - betas[t - 1])  # eq. 11
        x0_hat = out if ddpm.prediction == "x0" else np.sqrt(ab[t]) * xt - np.sqrt(1 - ab[t]) * out
        return np_posterior(betas, t, x0_hat, xt)[0]

    total = kl(np.sqrt(ab[T]) * x0n, 1 - ab[T], 0.0, 1.0)  # L_T
    for t in range(T, 1, -1):
        xt = values[f"x_{t}"]
        mq, vq = np_posterior(betas, t, x0n, xt)
        vp = vq  # sigma_t^2 = tilde beta_t
        total = total + kl(mq, vq, model_mean(t, xt), vp)  # L_{t-1}
    mean0, var0 = model_mean(1, values["x_1"]), betas[0]
    total = total + (0.5 * np.log(2 * np.pi * var0) + (x0n - mean0) ** 2 / (2 * var0)).sum(-1)  # L_0
    return total


def guide_values(ddpm, x0, seed):
    pyro.set_rng_seed(seed)
    tr = poutine.trace(ddpm.guide).get_trace(x0)
    return {name: site["value"].double().numpy() for name, site in tr.nodes.items() if site["type"] == "sample"}


@pytest.mark.parametrize("options", [{}, dict(noise_schedule="linear", prediction="epsilon"),
                                     dict(noise_schedule="linear", prediction="x0")],
                         ids=["default cosine-v", "linear-epsilon", "linear-x0"])
def test_trace_mean_field_elbo_equals_the_closed_form_bound(options):
    ddpm = DDPM((2,), **SMALL, **options)
    assert (ddpm.noise_schedule, ddpm.prediction) == (options.get("noise_schedule", "cosine"),
                                                      options.get("prediction", "v"))
    x0 = torch.randn(6, 2)
    elbo = TraceMeanField_ELBO()
    for seed in (1, 2):
        pyro.set_rng_seed(seed)
        loss = elbo.loss(ddpm.model, ddpm.guide, x0)
        expected = np_chain_bound(ddpm, x0, guide_values(ddpm, x0, seed)).sum()
        # float32 network and chain against float64 numpy
        assert loss == pytest.approx(expected, rel=1e-5)


def test_chain_is_a_real_pyro_pair():
    ddpm = DDPM((2,), **SMALL)
    x0 = torch.randn(3, 2)
    tr = poutine.trace(ddpm.model).get_trace(x0)
    latent = [n for n, s in tr.nodes.items()
              if s["type"] == "sample" and not s["is_observed"] and n.startswith("x_")]
    assert latent == ["x_5", "x_4", "x_3", "x_2", "x_1"]
    assert tr.nodes["x_0"]["is_observed"]
    for name in latent + ["x_0"]:
        fn = tr.nodes[name]["fn"]
        assert fn.batch_shape == (3,) and fn.event_shape == (2,)
    # one SVI step with Pyro's own machinery changes the denoiser's weights
    before = [p.detach().clone() for p in ddpm.denoiser.parameters()]
    svi = pyro.infer.SVI(ddpm.model, ddpm.guide, pyro.optim.Adam({"lr": 1e-2}), TraceMeanField_ELBO())
    assert np.isfinite(svi.step(x0))
    assert any(not torch.equal(a, b) for a, b in zip(before, ddpm.denoiser.parameters()))


def per_example_trace_elbo(ddpm, x0):
    """Trace_ELBO's per-example log-ratio log p(x_0, x_{1:T}) - log q(x_{1:T} | x_0)."""
    gtr = poutine.trace(ddpm.guide).get_trace(x0)
    mtr = poutine.trace(poutine.replay(ddpm.model, trace=gtr)).get_trace(x0)
    w = 0.0
    for tr, sign in ((mtr, 1.0), (gtr, -1.0)):
        for site in tr.nodes.values():
            if site["type"] == "sample":
                w = w + sign * site["fn"].log_prob(site["value"]).double()
    return -w.detach().numpy()


def test_trace_elbo_and_sampled_estimator_match_the_chain_in_expectation():
    ddpm = DDPM((2,), **SMALL)
    M = 20_000  # copies of two points: M draws of each estimator at once
    x0 = torch.tensor([[0.5, -1.0], [-1.2, 0.3]]).repeat(M // 2, 1)
    with torch.no_grad():
        chain = np_chain_bound(ddpm, x0, guide_values(ddpm, x0, 3))  # TraceMeanField per example
        pyro.set_rng_seed(4)
        trace = per_example_trace_elbo(ddpm, x0)
        pyro.set_rng_seed(4)
        assert Trace_ELBO().loss(ddpm.model, ddpm.guide, x0) == pytest.approx(trace.sum(), rel=1e-5)
        sampled = ddpm.sampled_bound(x0).double().numpy()
        full = ddpm.full_bound(x0).double().numpy()

    def se(v):
        return v.std(ddof=1) / math.sqrt(v.size)

    for name, values in (("Trace_ELBO", trace), ("sampled", sampled), ("full_bound", full)):
        # independent draws: 4 combined Monte Carlo standard errors
        tol = 4 * math.hypot(se(values), se(chain))
        assert abs(values.mean() - chain.mean()) < tol, (name, values.mean(), chain.mean(), tol)


def test_discretized_decoder_is_a_distribution_on_the_grid():
    K = 17
    grid = torch.linspace(-1, 1, K, dtype=torch.float64)
    loc = torch.tensor([-1.3, -0.2, 0.05, 0.9], dtype=torch.float64)[:, None]
    scale = torch.tensor([0.05, 0.3, 0.01, 1.0], dtype=torch.float64)[:, None]
    logp = DiscretizedGaussian(loc, scale, K).log_prob(grid)  # (4, K)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(4, dtype=torch.float64), rtol=1e-10, atol=1e-10)
    # interior bin against the erf formula
    Phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    d = 1 / (K - 1)
    x, m, s = grid[7].item(), -0.2, 0.3
    assert logp[1, 7].item() == pytest.approx(math.log(Phi((x + d - m) / s) - Phi((x - d - m) / s)), rel=1e-10)
    sample = DiscretizedGaussian(loc.expand(4, 1000), scale.expand(4, 1000), K).sample()
    assert torch.all(torch.isclose((sample + 1) * (K - 1) / 2, torch.round((sample + 1) * (K - 1) / 2)))


def test_image_chain_with_discretized_decoder():
    ddpm = DDPM((1, 4, 4), timesteps=3, decoder="discretized", num_levels=17, base_channels=8,
                channel_mults=(1, 2))
    x0 = torch.randint(0, 17, (5, 1, 4, 4)).float() / 8 - 1
    pyro.set_rng_seed(0)
    loss = TraceMeanField_ELBO().loss(ddpm.model, ddpm.guide, x0)
    assert np.isfinite(loss)
    sim = ddpm.model(None, 2)
    assert sim.shape == (2, 1, 4, 4) and sim.min() >= -1 and sim.max() <= 1


# ------------------------------------------------------------------ MMD


def test_mmd2_matches_numpy():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 2)), rng.normal(0.3, 1.2, size=(40, 2))
    hs = (0.05, 0.1, 0.2, 0.5, 1.0)

    def k(a, b):
        d2 = ((a[:, None] - b[None]) ** 2).sum(-1)
        return sum(np.exp(-d2 / (2 * h * h)) for h in hs)

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n, m = len(x), len(y)
    unbiased = (kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()
    biased = kxx.mean() + kyy.mean() - 2 * kxy.mean()
    assert mmd2(x, y) == pytest.approx(unbiased, rel=1e-10)
    assert mmd2(x, y, unbiased=False) == pytest.approx(biased, rel=1e-10)


# ------------------------------------------------------------------ fit, sample, evaluate


@pytest.fixture(scope="module")
def small_fit():
    with limit_threads(1):
        x = np.random.default_rng(0).normal(size=(64, 2))
        return DDPM((2,), timesteps=20, hidden=16, depth=2).fit(x, steps=20, batch_size=32, seed=0), x


def test_sampling_is_seeded_and_leaves_the_global_rng_alone(small_fit):
    fit, _ = small_fit
    state = torch.get_rng_state()
    a = fit.sample(50, seed=1)
    assert torch.equal(state, torch.get_rng_state())
    assert a.shape == (50, 2) and np.array_equal(a, fit.sample(50, seed=1))
    assert not np.array_equal(a, fit.sample(50, seed=2))
    d = fit.sample(50, steps=5, seed=1)
    assert d.shape == (50, 2) and np.array_equal(d, fit.sample(50, steps=5, seed=1))
    ts, frames = fit.trajectory(7, num_frames=4, seed=1)
    assert ts[0] == 20 and ts[-1] == 0 and frames.shape == (len(ts), 7, 2)
    # the trajectory's last frame is the sample drawn with the same seed
    np.testing.assert_array_equal(frames[-1], fit.sample(7, seed=1))


def test_ddim_trajectory_shows_the_ddim_timesteps(small_fit):
    fit, _ = small_fit
    ts, frames = fit.trajectory(5, steps=4, num_frames=5, seed=3)
    # DDIM with 4 steps visits round(linspace(1, 20, 4)) = 1, 7, 14, 20
    assert ts[0] == 20 and ts[-1] == 0 and set(ts[:-1]) <= {1, 7, 14, 20}
    assert np.all(np.diff(ts) < 0) and frames.shape == (len(ts), 5, 2)
    np.testing.assert_array_equal(frames[-1], fit.sample(5, steps=4, seed=3))


def test_evaluate_reports_nats_and_bits_per_dim(small_fit):
    fit, x = small_fit
    ev = fit.evaluate(x[:16], num_draws=3, seed=0)
    assert ev.per_example.shape == (16,) and ev.terms.shape == (21,)
    assert ev.nats == pytest.approx(ev.terms.sum(), rel=1e-9)
    assert ev.bits_per_dim == pytest.approx(ev.nats / (2 * math.log(2)), rel=1e-12)
    assert 0 < ev.nats_se < abs(ev.nats)
    with torch.no_grad():
        full = np.mean([fit.ddpm.full_bound(torch.as_tensor(x[:16], dtype=torch.float32)).mean().item()
                        for _ in range(20)])
    # same expectation; the spread of 20 + 3 draws bounds the difference
    assert abs(full - ev.nats) < 6 * ev.nats_se * math.sqrt(1 + 3 / 20) + 1e-6


def test_save_load_round_trip(small_fit, tmp_path):
    fit, _ = small_fit
    path = fit.save(tmp_path / "ddpm")
    back = pm.load(path)
    assert isinstance(back, DDPMFit)
    np.testing.assert_array_equal(back.sample(10, seed=4), fit.sample(10, seed=4))
    np.testing.assert_array_equal(back.losses, fit.losses)


@pytest.mark.parametrize("objective", ["elbo", "chain"])
def test_other_objectives_train(objective):
    x = np.random.default_rng(1).normal(size=(32, 2))
    # noise prediction: for Gaussian data the default v = 0 of an untrained network is
    # already the optimal v, so only this parameterisation has a bound to improve on
    fit = DDPM((2,), **SMALL, noise_schedule="linear", prediction="epsilon").fit(x, steps=200, batch_size=16, objective=objective, seed=0, ema_decay=None)
    assert fit.diagnostics["steps"] == 200 and fit.losses.shape == (100,)  # 2 batches an epoch
    assert np.all(np.isfinite(fit.losses))
    # the untrained network's bound is far above the fitted one
    assert fit.losses[-25:].mean() < 0.8 * fit.losses[:25].mean()


# ------------------------------------------------------------------ bad input


def test_data_of_the_wrong_shape_is_rejected(small_fit):
    ddpm = DDPM((2,), **SMALL)
    with pytest.raises(ValueError, match=r"must have shape \(N, 2\).*received shape \(10, 3\)"):
        ddpm.fit(np.zeros((10, 3)), steps=1)
    with pytest.raises(ValueError, match=r"data\[None\]"):
        ddpm.fit(np.zeros(2), steps=1)
    image = DDPM((1, 4, 4), timesteps=2, base_channels=8)
    with pytest.raises(ValueError, match=r"\[:, None\]"):
        image.check_data(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match=r"received shape \(4, 5\)"):
        small_fit[0].evaluate(np.zeros((4, 5)))


def test_nan_data_is_rejected():
    x = np.zeros((10, 2))
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN .*\(3, 1\)"):
        DDPM((2,), **SMALL).fit(x, steps=1)


def test_discretized_data_outside_unit_interval_is_rejected():
    ddpm = DDPM((1, 4, 4), timesteps=2, decoder="discretized", base_channels=8)
    with pytest.raises(ValueError, match=r"\[-1, 1\].*pixels / 127.5 - 1"):
        ddpm.check_data(np.full((2, 1, 4, 4), 16.0))


@pytest.mark.parametrize("timesteps", [0, -3])
def test_timesteps_below_one_are_rejected(timesteps):
    with pytest.raises(ValueError, match=rf"timesteps must be an integer >= 1, got {timesteps}"):
        DDPM((2,), timesteps=timesteps)


def test_unknown_schedule_and_prediction_are_rejected():
    with pytest.raises(ValueError, match=r"noise_schedule must be one of 'linear', 'cosine'.*'cosin'.*'cosine'"):
        DDPM((2,), noise_schedule="cosin")
    with pytest.raises(ValueError, match=r"prediction must be one of 'epsilon', 'x0', 'v'.*'eps'"):
        DDPM((2,), prediction="eps")


def test_sampling_steps_larger_than_T_are_rejected(small_fit):
    fit, _ = small_fit
    with pytest.raises(ValueError, match=r"steps must be at most .* T=20; got steps=21"):
        fit.sample(5, steps=21)
    with pytest.raises(ValueError, match=r"ancestral sampling runs all T=20 steps.*sampler='ddim'"):
        fit.sample(5, steps=10, sampler="ancestral")


# ------------------------------------------------------------------ two moons (the check)


def test_two_moons_default_fit_matches_held_out_points():
    points, _ = pm.datasets.make_moons(10_000, noise=0.05, seed=0)
    mean, sd = points[:8000].mean(0), points[:8000].std(0)
    z = (points - mean) / sd
    x_train, held_out = z[:8000], z[8000:]
    start = time.perf_counter()
    fit = pm.DDPM(data_shape=(2,)).fit(x_train, seed=0)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    samples = fit.sample(2000, seed=0)
    sample_seconds = time.perf_counter() - start
    score = mmd2(samples, held_out)
    print(f"moons: train {train_seconds:.1f} s, sample {sample_seconds:.2f} s, MMD^2 {score:.4f}")
    assert score <= 0.005


def test_plots_show_samples_and_one_scatter_per_frame(small_fit):
    from matplotlib.figure import Figure

    fit, x = small_fit
    ax = fit.plot_trajectory(30, num_frames=4, seed=0, ax=Figure().add_subplot())
    assert len(ax.collections) == 4 and [t.get_text() for t in ax.texts][-1] == "t = 0"
    ax = fit.plot_samples(40, data=x, ax=Figure().add_subplot())
    assert [c.get_offsets().shape[0] for c in ax.collections] == [64, 40]


def test_fits_are_reproducible_and_leave_the_model_alone():
    x = np.random.default_rng(2).normal(size=(40, 2))
    ddpm = DDPM((2,), timesteps=10, hidden=16, depth=1)
    before = {k: v.clone() for k, v in ddpm.denoiser.state_dict().items()}
    torch.manual_seed(123)  # the global state must not matter
    a = ddpm.fit(x, steps=6, batch_size=20, seed=0)
    b = ddpm.fit(x, steps=6, batch_size=20, seed=0)
    c = ddpm.fit(x, steps=6, batch_size=20, seed=1)
    assert all(torch.equal(before[k], v) for k, v in ddpm.denoiser.state_dict().items())
    np.testing.assert_array_equal(a.sample(5, seed=0), b.sample(5, seed=0))
    assert not np.array_equal(a.sample(5, seed=0), c.sample(5, seed=0))


# ------------------------------------------------ reverse variance, caching, resuming


def test_beta_variance_option_sets_sigma_t_squared_to_beta_t():
    """Ho et al. sec. 3.2: sigma_t^2 = beta_t or the posterior variance beta~_t (t >= 2);
    both use beta_1 at t = 1, where x_0 is decoded."""
    betas = beta_schedule("linear", 50)
    ab = np.cumprod(1 - betas)
    post = Diffusion(betas, variance="posterior")
    beta = Diffusion(betas, variance="beta")
    x = torch.zeros(4, 2, dtype=torch.float64)
    for t in (1, 2, 25, 50):
        _, v_beta = beta.p_mean_var(x, t, x, "epsilon")
        _, v_post = post.p_mean_var(x, t, x, "epsilon")
        expected_post = betas[0] if t == 1 else betas[t - 1] * (1 - ab[t - 2]) / (1 - ab[t - 1])
        assert float(v_beta) == pytest.approx(betas[t - 1], rel=1e-12)
        assert float(v_post) == pytest.approx(expected_post, rel=1e-12)
    # and a model with it trains and samples, with wider steps than the posterior choice
    with limit_threads(1):
        data = np.random.default_rng(2).normal(size=(64, 2))
        fits = {v: DDPM((2,), timesteps=20, hidden=16, depth=2, variance=v).fit(
            data, steps=20, batch_size=32, seed=0) for v in ("beta", "posterior")}
    a, b = (fits[v].sample(500, seed=3) for v in ("beta", "posterior"))
    assert np.isfinite(a).all() and a.std() > b.std()


def test_precomputed_time_features_equal_the_forward_pass():
    """The samplers' table of time terms for t = 0..T gives the network's own output."""
    ddpm = DDPM((3,), timesteps=40, hidden=32)
    denoise = step_denoiser(ddpm)
    x = torch.randn(10, 3)
    for t in (1, 17, 40):
        torch.testing.assert_close(denoise(x, t), ddpm.denoiser(x, torch.full((10,), t)),
                                   rtol=1e-5, atol=1e-6)


def test_fit_resumes_from_a_checkpoint_exactly(tmp_path, monkeypatch):
    x = np.random.default_rng(1).normal(size=(64, 2))
    kw = dict(steps=12, batch_size=16, seed=3, checkpoint_every=1)  # 4 batches an epoch, 3 epochs
    ddpm = DDPM((2,), timesteps=20, hidden=16, depth=2)
    original = DDPM.simple_loss
    calls = {"n": 0}

    def crash_in_epoch_2(self, batch, **options):
        calls["n"] += 1
        if calls["n"] > 6:
            raise KeyboardInterrupt
        return original(self, batch, **options)

    with limit_threads(1):
        reference = ddpm.fit(x, **kw)
        monkeypatch.setattr(DDPM, "simple_loss", crash_in_epoch_2)
        ckpt = tmp_path / "ddpm.pt"
        with pytest.raises(KeyboardInterrupt):
            ddpm.fit(x, checkpoint=str(ckpt), **kw)
        monkeypatch.setattr(DDPM, "simple_loss", original)
        resumed = ddpm.fit(x, resume=str(ckpt), **kw)
    np.testing.assert_array_equal(resumed.losses, reference.losses)
    for (k, v), v2 in zip(reference.ddpm.denoiser.state_dict().items(),
                          resumed.ddpm.denoiser.state_dict().values()):
        assert torch.equal(v, v2), k
    np.testing.assert_array_equal(resumed.sample(20, seed=0), reference.sample(20, seed=0))


# ------------------------------------------------- review fixes: grid, DDIM, t, resume


def test_discretized_decoder_rejects_data_off_its_grid():
    ddpm = DDPM((1, 4, 4), timesteps=2, decoder="discretized", num_levels=256, base_channels=8)
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 1, 4, 4))
    ddpm.check_data(pixels / 127.5 - 1)  # on the grid
    # pixels / 255 lies in [-1, 1] but between levels: the bins would overlap
    assert float(DiscretizedGaussian(torch.tensor(0.5), torch.tensor(0.2), 256)
                 .log_prob(torch.arange(256.0) / 255).exp().sum()) > 1.5
    with pytest.raises(ValueError, match=r"256 grey levels .*pixels / 127.5 - 1 with num_levels=256"):
        ddpm.check_data(pixels / 255.0)
    with pytest.raises(ValueError, match="decoder='gaussian' for continuous data"):
        ddpm.check_data(np.random.default_rng(1).uniform(-1, 1, size=(3, 1, 4, 4)))


def test_one_step_ddim_jumps_from_x_T_to_x_0(small_fit):
    assert ddim_timesteps(1000, 1).tolist() == [1000]
    assert ddim_timesteps(1000, 2).tolist() == [1, 1000]
    fit, _ = small_fit
    ddpm = fit.ddpm
    ts, frames = fit.trajectory(6, steps=1, num_frames=2, seed=4)
    assert ts.tolist() == [20, 0]
    # x_0 = sqrt(abar_T) x_T - sqrt(1 - abar_T) v(x_T, T): the predicted x_0 from the default
    # v prediction, in the standardised space the chain runs in (the frames are in data units)
    assert ddpm.prediction == "v"
    with torch.no_grad():
        x_T = ddpm.to_unit(torch.as_tensor(frames[0], dtype=torch.float32))
        v = ddpm.denoiser(x_T, torch.full((6,), 20, dtype=torch.long))
        ab = float(ddpm.diffusion.alphas_cumprod[20])
        expected = ddpm.from_unit(math.sqrt(ab) * x_T - math.sqrt(1 - ab) * v)
    np.testing.assert_allclose(frames[-1], expected.numpy(), rtol=1e-4, atol=1e-5)


def test_step_term_checks_t():
    ddpm = DDPM((2,), **SMALL)
    x0 = torch.randn(3, 2)
    for bad in (0, 6, torch.tensor([1, 2, 6])):
        with pytest.raises(ValueError, match=r"t must be in 1\.\.5"):
            ddpm.step_term(x0, bad)
    with pytest.raises(TypeError, match="integer tensor"):
        ddpm.step_term(x0, torch.tensor([1.0, 2.0, 3.0]))
    torch.manual_seed(0)
    a = ddpm.step_term(x0, np.int64(3))
    torch.manual_seed(0)
    assert torch.equal(a, ddpm.step_term(x0, 3))


def test_mmd2_takes_tensors_that_need_grad():
    x = torch.randn(10, 2, requires_grad=True)
    y = torch.randn(12, 2)
    assert mmd2(x, y) == pytest.approx(mmd2(x.detach().numpy(), y.numpy()), abs=1e-12)


def test_resume_refuses_a_checkpoint_of_another_model_or_other_data(tmp_path):
    x = np.random.default_rng(0).normal(size=(64, 2))
    ckpt = tmp_path / "c.pt"
    kw = dict(steps=4, batch_size=32, seed=0)
    with limit_threads(1):
        DDPM((2,), timesteps=10, hidden=8, depth=1).fit(x, checkpoint=str(ckpt), **kw)
        with pytest.raises(ValueError, match=r"another run: .*timesteps=10 then, 50 now"):
            DDPM((2,), timesteps=50, hidden=8, depth=1).fit(x, resume=str(ckpt), **kw)
        with pytest.raises(ValueError, match=r"another run: objective='simple' then, 'elbo' now"):
            DDPM((2,), timesteps=10, hidden=8, depth=1).fit(x, resume=str(ckpt), objective="elbo", **kw)
        with pytest.raises(ValueError, match=r"another run: data \[64, 2\]"):
            DDPM((2,), timesteps=10, hidden=8, depth=1).fit(x[::-1], resume=str(ckpt), **kw)


def test_ddim_samples_of_a_discretized_decoder_lie_on_its_grid():
    ddpm = DDPM((1, 4, 4), timesteps=10, decoder="discretized", num_levels=17, base_channels=8,
                channel_mults=(1,))
    x = np.random.default_rng(0).integers(0, 17, size=(16, 1, 4, 4)) / 8.0 - 1.0
    with limit_threads(1):
        fit = ddpm.fit(x, steps=2, batch_size=16, seed=0)
    samples = fit.sample(6, steps=3, seed=0)
    levels = (samples + 1) * 8
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-5)
    fit.evaluate(samples, seed=0)  # accepted by the grid check
    # a 0-d integer tensor is a timestep too
    x0 = torch.as_tensor(x[:3], dtype=torch.float32)
    torch.manual_seed(0)
    a = ddpm.step_term(x0, torch.tensor(4))
    torch.manual_seed(0)
    assert torch.equal(a, ddpm.step_term(x0, 4))


# ------------------------------------------------ dtype, custom denoisers, options, loading


def test_float64_default_dtype_fits_samples_and_evaluates():
    # Pyro users often set float64; the model computes in its denoiser's dtype
    y = np.random.default_rng(0).standard_normal((40, 2)).astype("float32")
    images = np.random.default_rng(1).integers(0, 17, size=(6, 1, 4, 4)) / 8 - 1
    torch.set_default_dtype(torch.float64)
    try:
        fit = DDPM((2,), **SMALL).fit(y, steps=2, batch_size=20, seed=0)
        assert fit.ddpm.dtype == torch.float64
        assert fit.ddpm.check_data(y).dtype == torch.float64
        for steps in (None, 3):  # ancestral and DDIM
            s = fit.sample(4, steps=steps, seed=0)
            assert s.dtype == np.float64 and s.shape == (4, 2) and np.isfinite(s).all()
        ts, frames = fit.trajectory(3, num_frames=3, seed=0)
        assert frames.dtype == np.float64 and np.isfinite(frames).all()
        ev = fit.evaluate(y[:5], seed=0)
        assert np.isfinite(ev.nats) and np.isfinite(ev.terms).all()
        for objective in ("elbo", "chain"):
            assert np.isfinite(DDPM((2,), **SMALL).fit(y, steps=1, objective=objective, seed=0).losses).all()
        # the image path: UNet and the discretised decoder
        ifit = DDPM((1, 4, 4), timesteps=3, decoder="discretized", num_levels=17, base_channels=8,
                    channel_mults=(1,)).fit(images, steps=1, seed=0)
        assert ifit.ddpm.dtype == torch.float64
        for steps in (None, 2):
            s = ifit.sample(2, steps=steps, seed=0)
            assert s.dtype == np.float64 and np.isin(np.round((s + 1) * 8, 6), np.arange(17)).all()
        assert np.isfinite(ifit.evaluate(images[:2], seed=0).nats)
    finally:
        torch.set_default_dtype(torch.float32)


def test_a_float32_file_loads_into_a_float64_session_with_the_same_numbers(small_fit, tmp_path):
    fit, x = small_fit
    path = fit.save(tmp_path / "ddpm32")
    # 3 examples of 2 coordinates: 6 normals per draw. Below 16 values torch's CPU
    # randn gives the same normals in float32 and float64 (to float32 rounding), so
    # the two sessions run the same chain; the premise is checked first
    g32, g64 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    np.testing.assert_allclose(torch.randn(6, generator=g64, dtype=torch.float64).numpy(),
                               torch.randn(6, generator=g32).numpy(), rtol=1e-6, atol=1e-7)
    ref_ev = fit.evaluate(x[:3], seed=3)
    ref_ancestral, ref_ddim = fit.sample(3, seed=4), fit.sample(3, steps=5, seed=4)
    torch.set_default_dtype(torch.float64)
    try:
        back = pm.load(path)
        assert back.ddpm.dtype == torch.float64
        ev = back.evaluate(x[:3], seed=3)
        ancestral, ddim = back.sample(3, seed=4), back.sample(3, steps=5, seed=4)
    finally:
        torch.set_default_dtype(torch.float32)
    # float32 vs float64 arithmetic on the same weights and draws: rtol 1e-4
    np.testing.assert_allclose(ev.per_example, ref_ev.per_example, rtol=1e-4)
    np.testing.assert_allclose(ev.nats, ref_ev.nats, rtol=1e-4)
    np.testing.assert_allclose(ancestral, ref_ancestral, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ddim, ref_ddim, rtol=1e-4, atol=1e-5)


def test_fit_trains_a_user_supplied_denoiser_from_its_own_weights():
    from probmodels.nn import TimeMLP

    y = np.random.default_rng(0).standard_normal((64, 2)).astype("float32")
    net = TimeMLP(2, 16, 2)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.123)  # stand-in for pre-trained weights
    # a learning rate of 1e-12 moves no weight by more than ~1e-11 (Adam's step is ~lr)
    fit = DDPM((2,), timesteps=10, denoiser=net).fit(y, steps=2, lr=1e-12, ema_decay=None, seed=0)
    for name, p in fit.denoiser.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), 0.123, atol=1e-9, err_msg=name)
    assert fit.denoiser is not net and all(float(p.detach().max()) == np.float32(0.123) for p in net.parameters())
    # the default network is still re-initialised from the seed
    default = DDPM((2,), timesteps=10, hidden=16, depth=2)
    with torch.no_grad():
        for p in default.denoiser.parameters():
            p.fill_(0.123)
    refit = default.fit(y, steps=2, lr=1e-12, ema_decay=None, seed=0)
    assert not np.allclose(refit.denoiser.layers[0].weight.detach().numpy(), 0.123)


def test_fit_num_threads_applies_inside_training(monkeypatch):
    y = np.random.default_rng(0).standard_normal((40, 2)).astype("float32")
    seen = []
    original = DDPM.simple_loss

    def recording(self, x0, **options):
        seen.append(torch.get_num_threads())
        return original(self, x0, **options)

    monkeypatch.setattr(DDPM, "simple_loss", recording)
    before = torch.get_num_threads()  # 1, from the autouse fixture
    DDPM((2,), **SMALL).fit(y, steps=2, batch_size=20, seed=0, num_threads=2)
    assert set(seen) == {2}
    assert torch.get_num_threads() == before  # restored afterwards
    seen.clear()
    DDPM((2,), **SMALL).fit(y, steps=2, batch_size=20, seed=0, num_threads=1)
    assert set(seen) == {1}


def test_fit_schedule_is_the_learning_rate_schedule_of_every_model():
    y = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match=r"learning-rate schedule, one of 'constant', 'cosine', "
                                         r"'exponential', 'onecycle'.*DDPM\(\.\.\., noise_schedule='linear'\)"):
        DDPM((2,), **SMALL).fit(y, steps=1, schedule="linear")


def test_load_leaves_the_global_torch_rng_alone(small_fit, tmp_path):
    path = small_fit[0].save(tmp_path / "ddpm")
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    pm.load(path)
    assert torch.equal(torch.rand(3), expected)


def test_unet_widths_not_divisible_by_num_groups_are_rejected_naming_ddpm_arguments():
    with pytest.raises(ValueError) as info:
        DDPM((1, 8, 8), base_channels=12)
    message = str(info.value)
    assert "base_channels * channel_mults = [12, 24]" in message and "num_groups=8" in message
    assert "[12] are not" in message
    assert "DDPM(..., base_channels=16)" in message and "DDPM(..., num_groups=6)" in message
    # the suggested fixes work
    for fix in ({"base_channels": 16}, {"num_groups": 6}):
        DDPM((1, 8, 8), **{"base_channels": 12, **fix})
    with pytest.raises(ValueError, match="num_groups must be"):
        DDPM((1, 8, 8), num_groups=0)
    # a custom denoiser and vector data do not use the UNet: no check
    DDPM((2,), base_channels=12)


def test_num_groups_reaches_the_unet_and_survives_save_and_load(tmp_path):
    images = np.random.default_rng(1).integers(0, 17, size=(4, 1, 4, 4)) / 8 - 1
    ddpm = DDPM((1, 4, 4), timesteps=3, decoder="discretized", num_levels=17, base_channels=12,
                channel_mults=(1,), num_groups=4)
    norms = [m for m in ddpm.denoiser.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and all(m.num_groups == 4 for m in norms)
    fit = ddpm.fit(images, steps=1, seed=0)
    back = pm.load(fit.save(tmp_path / "groups"))
    assert back.ddpm.config["num_groups"] == 4
    np.testing.assert_array_equal(back.sample(2, seed=1), fit.sample(2, seed=1))
    # a file written before num_groups was an argument has no such key: the UNet had 8 groups
    old = DDPM((1, 4, 4), timesteps=3, base_channels=8, channel_mults=(1,)).fit(images, steps=1, seed=0)
    meta, arrays = old._state()
    meta = {"config": {k: v for k, v in meta["config"].items() if k != "num_groups"}}
    common = {"draws": {}, "losses": old.losses, "method": old.method, "seed": old.seed,
              "options": old.options, "diagnostics": old.diagnostics}
    rebuilt = DDPMFit._from_state(common, meta, arrays)
    assert rebuilt.ddpm.config["num_groups"] == 8
    np.testing.assert_array_equal(rebuilt.sample(2, seed=1), old.sample(2, seed=1))


@pytest.mark.parametrize("call", ["sample", "ddim", "evaluate"])
def test_sample_and_evaluate_run_on_one_thread_and_restore_the_callers(small_fit, call, monkeypatch):
    """A busy 2-core machine made sample(1000) take 38-77 s on torch's default threads
    against 1 s on one: every long call uses the fit's thread policy (default 1)."""
    fit, x = small_fit
    seen = []
    net = fit.ddpm.denoiser
    original = type(net).forward

    def recording(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(net), "forward", recording)
    torch.set_num_threads(2)
    try:
        if call == "evaluate":
            fit.evaluate(x[:8], num_draws=1, seed=0)
        else:
            fit.sample(4, steps=None if call == "sample" else 3, seed=0)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
        seen.clear()
        if call == "evaluate":
            fit.evaluate(x[:8], num_draws=1, seed=0, num_threads=2)
        else:
            fit.sample(4, steps=None if call == "sample" else 3, seed=0, num_threads=2)
        assert set(seen) == {2}
    finally:
        torch.set_num_threads(1)


def test_digits_ddpm_bound_is_finite_and_improves_with_training():
    # the shipped 8x8 digits on their 17 levels in [-1, 1]; the default image DDPM (U-Net,
    # linear schedule, noise prediction) with a shorter chain so the whole bound is cheap
    train, test = pm.datasets.digits_split()
    train, test = train[:256], test[:64]
    ddpm = DDPM((1, 8, 8), decoder="discretized", num_levels=pm.datasets.DIGIT_LEVELS, timesteps=100)
    assert (ddpm.noise_schedule, ddpm.prediction) == ("linear", "epsilon")
    kw = dict(batch_size=64, lr=1e-3, seed=0, progress=False)
    before = ddpm.fit(train, steps=1, **kw).evaluate(test, num_draws=2, seed=0)
    after = ddpm.fit(train, steps=150, **kw).evaluate(test, num_draws=2, seed=0)
    assert np.isfinite([before.bits_per_dim, after.bits_per_dim]).all()
    assert np.isfinite(after.per_example).all() and after.bits_per_dim > 0
    # better by more than 4 Monte Carlo standard errors of the difference (same test images)
    se = math.hypot(before.bits_per_dim_se, after.bits_per_dim_se)
    assert after.bits_per_dim < before.bits_per_dim - 4 * se, (before, after)
