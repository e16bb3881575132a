"""Tests for probmodels.models.vae: the ELBO against a hand computation, the
closed-form KL, the digits benchmark, save/load with batch-norm buffers, the
analysis methods and the bad-input errors."""

import math

import numpy as np
import pyro
import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from scipy import special, stats

import probmodels as pm
from probmodels.infer.train import ELBOLoss
from probmodels.infer.traced import TracedELBOLoss as _TracedELBOLoss
from probmodels.models.vae import VAE, VAEFit
from probmodels.report.vae import binarized_digits as _binarized_digits
from probmodels.models import load

# ---------------------------------------------------------------- exact ELBO


def tiny_vae(analytic_kl=False):
    """input (1, 2, 2), K = 2, one hidden layer of 3 units, weights from a fixed numpy rng."""
    vae = VAE((1, 2, 2), latent_dim=2, hidden=(3,), analytic_kl=analytic_kl)
    rng = np.random.default_rng(7)
    with torch.no_grad():
        for p in vae.net.parameters():
            p.copy_(torch.as_tensor(rng.normal(scale=0.8, size=tuple(p.shape)), dtype=torch.float32))
    return vae


def numpy_params(module):
    """(W1, b1, W2, b2) of an MLP Linear-ReLU-Linear as float64 arrays."""
    lin = [m for m in module.body.net if isinstance(m, torch.nn.Linear)]
    return [t.detach().double().numpy() for m in lin for t in (m.weight, m.bias)]


def by_hand(vae, x, z):
    """log p(x | z), log p(z), log q(z | x) and KL(q || p) per image, float64 numpy."""
    X = x.reshape(len(x), -1).double().numpy()
    W1, b1, W2, b2 = numpy_params(vae.net.encoder)
    out = np.maximum(X @ W1.T + b1, 0.0) @ W2.T + b2
    mu, sigma = out[:, :2], np.log1p(np.exp(out[:, 2:])) + 1e-4  # softplus + floor
    V1, c1, V2, c2 = numpy_params(vae.net.decoder)
    Z = z.double().numpy()
    logits = np.maximum(Z @ V1.T + c1, 0.0) @ V2.T + c2
    p = special.expit(logits)
    log_px = (X * np.log(p) + (1 - X) * np.log1p(-p)).sum(1)
    log_pz = stats.norm.logpdf(Z).sum(1)
    log_qz = stats.norm.logpdf(Z, mu, sigma).sum(1)
    kl = 0.5 * (mu**2 + sigma**2 - 1.0 - 2.0 * np.log(sigma)).sum(1)
    return log_px, log_pz, log_qz, kl


X_TINY = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.float32).reshape(3, 1, 2, 2)


def guide_draw(vae, x, seed, num_data):
    """The z the ELBO draws after pyro.set_rng_seed(seed): the guide runs first."""
    pyro.set_rng_seed(seed)
    return poutine.trace(vae.guide).get_trace(x, num_data=num_data).nodes["z"]["value"].detach()


def test_trace_elbo_equals_the_elbo_computed_by_hand():
    vae = tiny_vae()
    N = 12  # the 3 images are a minibatch of 12: every term is scaled by 12 / 3
    pyro.set_rng_seed(3)
    loss = Trace_ELBO().differentiable_loss(vae.model, vae.guide, X_TINY, num_data=N)
    z = guide_draw(vae, X_TINY, 3, N)
    log_px, log_pz, log_qz, _ = by_hand(vae, X_TINY, z)
    expected = -(N / 3) * np.sum(log_px + log_pz - log_qz)
    # float32 network against float64 numpy: relative 1e-5
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    # ELBOLoss is that divided by N: the mean negative ELBO per image of the batch
    pyro.set_rng_seed(3)
    per_image = ELBOLoss(vae.model, vae.guide, N, elbo=Trace_ELBO())(X_TINY)
    assert float(per_image.detach()) == pytest.approx(-np.mean(log_px + log_pz - log_qz), rel=1e-5)


def test_analytic_kl_path_equals_the_closed_form_gaussian_kl():
    vae = tiny_vae(analytic_kl=True)
    pyro.set_rng_seed(5)
    loss = vae.elbo_loss(3)(X_TINY)
    z = guide_draw(vae, X_TINY, 5, 3)
    log_px, log_pz, log_qz, kl = by_hand(vae, X_TINY, z)
    assert float(loss.detach()) == pytest.approx(-np.mean(log_px - kl), rel=1e-5)
    # and TraceMeanField_ELBO's KL differs from the sampled log-ratio at this draw
    assert not np.allclose(kl, log_qz - log_pz, rtol=1e-3)
    # the closed form against a Monte Carlo average of log q - log p (4 standard errors)
    with torch.no_grad():
        loc, scale = vae.net.encoder(X_TINY)
    draws = torch.distributions.Normal(loc, scale).sample((200_000,))
    ratio = (torch.distributions.Normal(loc, scale).log_prob(draws)
             - torch.distributions.Normal(0.0, 1.0).log_prob(draws)).sum(-1).double()
    se = ratio.std(0) / math.sqrt(ratio.shape[0])
    assert torch.all((ratio.mean(0) - torch.as_tensor(kl)).abs() < 4 * se)
    # TraceMeanField_ELBO on a full batch, for completeness: same number
    pyro.set_rng_seed(5)
    full = TraceMeanField_ELBO().differentiable_loss(vae.model, vae.guide, X_TINY)
    assert float(full.detach()) == pytest.approx(-np.sum(log_px - kl), rel=1e-5)


@pytest.mark.parametrize("analytic_kl", [True, False])
def test_traced_loss_equals_the_eager_pyro_loss_bit_for_bit(analytic_kl):
    vae = VAE((1, 8, 8), latent_dim=3, hidden=(16, 16), analytic_kl=analytic_kl)
    x, _ = _binarized_digits()
    x = torch.as_tensor(x[:40])
    traced, eager = vae.elbo_loss(100), vae.elbo_loss(100, jit=False)
    assert isinstance(traced, _TracedELBOLoss) and not isinstance(eager, _TracedELBOLoss)
    params = list(vae.net.parameters())
    # batches of 16, 16 and 8: one trace per batch shape, replayed afterwards
    for step, batch in enumerate([x[:16], x[16:32], x[32:], x[:16], x[32:]]):
        values = []
        for loss in (traced, eager):
            pyro.set_rng_seed(step)  # the same noise for both
            value = loss(batch)
            values.append((value.detach(), torch.autograd.grad(value, params)))
        # the trace replays the same aten operations, differentiated by autograd: the
        # gradients are exact; Trace_ELBO's eager value is loss + (surrogate - surrogate.item()),
        # which can round one float32 ulp away from the traced surrogate (relative 1e-6)
        if analytic_kl:
            assert torch.equal(values[0][0], values[1][0])
        assert float(values[0][0]) == pytest.approx(float(values[1][0]), rel=1e-6)
        assert all(torch.equal(g, h) for g, h in zip(values[0][1], values[1][1]))
    assert traced.traces == 2 and len(traced.compiled) == 2
    # tracing draws no random numbers: the stream continues as if it had not happened
    fresh = vae.elbo_loss(100)
    pyro.set_rng_seed(9)
    fresh(x[:5])
    after_trace = torch.rand(3)
    pyro.set_rng_seed(9)
    eager(x[:5])
    assert torch.equal(after_trace, torch.rand(3))
    # validation (no_grad, eval mode) runs Pyro eagerly: no new trace
    vae.net.eval()
    with torch.no_grad():
        traced(x[:7])
    assert traced.traces == 2


def test_jit_fit_equals_eager_fit_and_resumes_exactly(tmp_path):
    from probmodels.infer.config import TrainConfig
    from probmodels.infer.train import train

    x, _ = _binarized_digits()
    # batch norm buffers (restored after tracing), validation and a last batch of 10
    kwargs = dict(architecture="conv", channels=(4, 8), norm="batch", upsample="nearest")
    opts = dict(steps=9, batch_size=32, seed=2, progress=False)  # 90 train -> 3 batches, 3 epochs
    fits = [VAE((1, 8, 8), 2, **kwargs).fit(x[:100], jit=jit, **opts) for jit in (True, False)]
    np.testing.assert_array_equal(fits[0].losses, fits[1].losses)
    np.testing.assert_array_equal(fits[0].val_losses, fits[1].val_losses)
    for (k, v), v2 in zip(fits[0].vae.net.state_dict().items(), fits[1].vae.net.state_dict().values()):
        assert torch.equal(v, v2), k
    assert fits[0].options["jit"] is True

    # interrupted in epoch 2 and resumed from the checkpoint: the uninterrupted run exactly
    data = torch.as_tensor(x[:60])
    cfg = dict(steps=9, batch_size=16, validation=0.2, progress=False)  # 48 train -> 3 batches, 3 epochs

    def fresh(seed):
        torch.manual_seed(seed)
        vae = VAE((1, 8, 8), 2, hidden=(8,))
        return vae, vae.elbo_loss(48)

    ref, loss = fresh(0)
    run_ref = train(loss, ref.net, data, TrainConfig(**cfg), seed=4)
    calls = {"n": 0}

    def crash_in_epoch_2(batch):
        calls["n"] += 1
        if calls["n"] > 6:  # 3 training + 1 validation calls per epoch
            raise KeyboardInterrupt
        return loss(batch)

    vae, loss = fresh(0)
    ckpt = tmp_path / "vae.pt"
    with pytest.raises(KeyboardInterrupt):
        train(crash_in_epoch_2, vae.net, data, TrainConfig(**cfg, checkpoint=ckpt), seed=4)
    vae, loss = fresh(5)  # a new loss traces afresh after the resumption
    run = train(loss, vae.net, data, TrainConfig(**cfg), seed=4, resume=ckpt)
    assert run.resumed_from_epoch == 1
    np.testing.assert_array_equal(run.train_loss, run_ref.train_loss)
    np.testing.assert_array_equal(run.val_loss, run_ref.val_loss)
    for v, v2 in zip(vae.net.state_dict().values(), ref.net.state_dict().values()):
        assert torch.equal(v, v2)


def test_other_likelihoods_match_their_densities():
    f = torch.tensor([[[[0.3, -1.2], [2.0, 0.0]]]])
    x = torch.tensor([[[[0.1, 0.9], [0.5, 0.25]]]])
    cb = VAE((1, 2, 2), 2, likelihood="continuous_bernoulli")._likelihood(f).log_prob(x)
    lam = torch.sigmoid(f).double()
    # continuous Bernoulli: C(lam) lam^x (1 - lam)^(1 - x), C = 2 artanh(1 - 2 lam) / (1 - 2 lam)
    C = 2 * torch.atanh(1 - 2 * lam) / (1 - 2 * lam)
    C = torch.where((lam - 0.5).abs() < 1e-6, torch.full_like(C, 2.0), C)
    expected = (C.log() + x * lam.log() + (1 - x) * (1 - lam).log()).sum()
    assert float(cb.detach()) == pytest.approx(float(expected), rel=1e-4)
    g = VAE((1, 2, 2), 2, likelihood="gaussian")
    s = float(torch.nn.functional.softplus(torch.tensor(0.0))) + 1e-3  # rho initialised at 0
    expected = stats.norm.logpdf(x.numpy(), f.numpy(), s).sum()
    assert float(g._likelihood(f).log_prob(x).detach()) == pytest.approx(expected, rel=1e-5)


def test_model_and_guide_work_with_plain_pyro_svi():
    vae = VAE((1, 8, 8), latent_dim=2, hidden=(16,))
    x, _ = _binarized_digits()
    x = torch.as_tensor(x[:64])
    svi = pyro.infer.SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())
    losses = [svi.step(x[i:i + 16], num_data=64) for i in range(0, 64, 16)]
    assert all(math.isfinite(v) for v in losses)
    names = set(pyro.get_param_store().keys())
    assert any(n.startswith("encoder$$$") for n in names) and any(n.startswith("decoder$$$") for n in names)
    # the prior predictive: model(None, num_data=n) simulates n images
    assert vae.model(None, num_data=5).shape == (5, 1, 8, 8)
    tr = poutine.trace(vae.model).get_trace(x[:4], num_data=64)
    assert tr.nodes["z"]["fn"].event_shape == (2,) and tr.nodes["x"]["fn"].event_shape == (1, 8, 8)
    assert tr.nodes["x"]["scale"] == pytest.approx(16.0)


# ---------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits_fit():
    """The issue's benchmark: default settings, seed 0 (about 15-40 s on this machine)."""
    x, labels = _binarized_digits()
    pyro.set_rng_seed(0)
    fit = VAE(input_shape=(1, 8, 8), latent_dim=8, likelihood="bernoulli").fit(
        x[:1500], seed=0, progress=False)
    return fit, x, labels


def test_default_fit_on_binarized_digits_reaches_the_target_elbo(digits_fit):
    fit, x, _ = digits_fit
    result = fit.evaluate(x[1500:])
    # issue target: >= -18.3 nats (a plain PyTorch MLP VAE: -18.6; tuned: -18.5)
    assert result["elbo"] >= -18.3
    # log p(x) >= its importance-weighted estimate >= the ELBO (in expectation; the gap is
    # about 0.6-0.8 nats here, far above the Monte Carlo error)
    assert result["elbo"] + 0.2 < result["log_likelihood"] < 0.0
    assert fit.diagnostics["num_train"] == 1350 and fit.diagnostics["num_val"] == 150


def test_analysis_methods_have_the_documented_shapes_and_meaning(digits_fit):
    fit, x, labels = digits_fit
    test = x[1500:]
    loc, scale = fit.encode(test)
    assert loc.shape == scale.shape == (297, 8) and (scale > 0).all()
    rec = fit.reconstruct(test)
    assert rec.shape == (297, 1, 8, 8) and rec.min() >= 0 and rec.max() <= 1
    # reconstructions are closer to their own image than to another one
    err_own = np.abs(rec - test).mean()
    err_other = np.abs(rec - np.roll(test, 1, axis=0)).mean()
    assert err_own < 0.5 * err_other
    samples = fit.sample(16, seed=1)
    assert samples.shape == (16, 1, 8, 8)
    np.testing.assert_array_equal(samples, fit.sample(16, seed=1))
    draws = fit.sample(4, seed=1, mean=False)
    assert set(np.unique(draws)) <= {0.0, 1.0}
    path = fit.interpolate(test[0], test[1], steps=5)
    assert path.shape == (5, 1, 8, 8)
    np.testing.assert_allclose(path[0], rec[0], atol=1e-6)
    np.testing.assert_allclose(path[-1], rec[1], atol=1e-6)
    # evaluate: more draws tighten the importance-weighted bound upward
    few = fit.evaluate(test[:50], num_samples=2)
    many = fit.evaluate(test[:50], num_samples=500)
    assert many["log_likelihood"] > few["log_likelihood"]
    assert abs(many["elbo"] - few["elbo"]) < 4 * many["elbo_se"]



def test_log_likelihood_monte_carlo_error_matches_the_spread_over_seeds(digits_fit):
    """log_likelihood_mc_se (delta method over the S importance weights) against the
    standard deviation of 40 estimates with other seeds (relative error of that sd about
    11%, so the ratio must lie in [0.7, 1.4]; 0.97 measured); log_likelihood_se is over
    the images."""
    fit, x, _ = digits_fit
    test = x[1500:1530]
    evs = [fit.evaluate(test, num_samples=100, seed=s) for s in range(40)]
    spread = np.std([e["log_likelihood"] for e in evs], ddof=1)
    ratio = np.mean([e["log_likelihood_mc_se"] for e in evs]) / spread
    assert 0.7 < ratio < 1.4, ratio
    # over the images: of the same order as the ELBO's, far above the Monte Carlo error
    ev = evs[0]
    assert 0.5 < ev["log_likelihood_se"] / ev["elbo_se"] < 2.0
    assert ev["log_likelihood_se"] > 5 * ev["log_likelihood_mc_se"]


def test_plots_return_axes(digits_fit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fit, x, labels = digits_fit
    fig, axes = plt.subplots(1, 3)
    try:
        assert fit.plot_reconstructions(x[1500:], n=6, ax=axes[0]) is axes[0]
        assert fit.plot_samples(9, ax=axes[1]) is axes[1]
        ax = fit.plot_latent(x[1500:], labels[1500:], ax=axes[2])
        assert ax is axes[2] and ax.get_xlabel().startswith("PC1")
        assert len(ax.collections) == 10  # one scatter per digit
        assert axes[0].images[0].get_array().shape == (2 * 8 + 1, 6 * 8 + 5)
    finally:
        plt.close(fig)


def test_save_load_round_trip(digits_fit, tmp_path):
    fit, x, _ = digits_fit
    path = fit.save(tmp_path / "vae")
    back = load(path)
    assert isinstance(back, VAEFit) and back.vae.config == fit.vae.config
    np.testing.assert_array_equal(back.reconstruct(x[:20]), fit.reconstruct(x[:20]))
    np.testing.assert_array_equal(back.losses, fit.losses)
    np.testing.assert_array_equal(back.val_losses, fit.val_losses)
    assert back.evaluate(x[:20], num_samples=10) == fit.evaluate(x[:20], num_samples=10)


def test_conv_vae_with_batch_norm_saves_and_loads_its_running_statistics(tmp_path):
    x, _ = _binarized_digits()
    vae = VAE((1, 8, 8), latent_dim=2, architecture="conv", channels=(4, 8), norm="batch",
              upsample="nearest")
    fit = vae.fit(x[:96], steps=6, batch_size=32, validation=None, seed=0, progress=False)  # 2 epochs
    state = fit.vae.net.state_dict()
    running = [k for k in state if k.endswith("running_mean")]
    assert running and all(state[k].abs().sum() > 0 for k in running)  # updated by training
    back = load(fit.save(tmp_path / "conv.npz"))
    for k, v in back.vae.net.state_dict().items():
        assert torch.equal(v, state[k]), k  # buffers (running_mean/var, num_batches_tracked) too
    np.testing.assert_array_equal(back.reconstruct(x[:8]), fit.reconstruct(x[:8]))


def test_fit_is_reproducible_from_its_seed_and_leaves_the_model_untouched():
    x, _ = _binarized_digits()
    vae = VAE((1, 8, 8), latent_dim=2, hidden=(16,), likelihood="continuous_bernoulli")
    before = {k: v.clone() for k, v in vae.net.state_dict().items()}
    fits = [vae.fit(x[:64], steps=4, batch_size=32, seed=3, progress=False) for _ in range(2)]  # 2 epochs
    torch.manual_seed(123)  # global state does not matter
    np.testing.assert_array_equal(fits[0].losses, fits[1].losses)
    np.testing.assert_array_equal(fits[0].reconstruct(x[:4]), fits[1].reconstruct(x[:4]))
    assert all(torch.equal(v, before[k]) for k, v in vae.net.state_dict().items())


# ---------------------------------------------------------------- bad input


def test_wrong_shape_is_rejected_with_the_expected_shape():
    vae = VAE((1, 8, 8), latent_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match=r"x must have shape \(data, 1, 8, 8\) or \(data, 8, 8\).*got shape \(10, 64\).*reshape"):
        vae.fit(np.zeros((10, 64)), steps=1, progress=False)


def test_values_outside_unit_interval_are_rejected_for_bernoulli():
    images, _ = pm.datasets.load_digits()
    vae = VAE((1, 8, 8), latent_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\] for likelihood='bernoulli', got values in \[0, 16\].*images >= 8"):
        vae.fit(images[:20], steps=1, progress=False)
    # fractions in [0, 1] are legal but suspicious for a Bernoulli
    with pytest.warns(UserWarning, match="binary data check"):
        vae.fit(images[:20] / 16.0, steps=1, validation=None, progress=False)


def test_nan_is_rejected():
    x = np.zeros((12, 1, 8, 8))
    x[3, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match=r"x must contain only finite values, got 1 NaN.*\(3, 0, 2, 2\)"):
        VAE((1, 8, 8), latent_dim=2).fit(x, steps=1, progress=False)


@pytest.mark.parametrize("latent_dim", [0, -3])
def test_latent_dim_below_one_is_rejected(latent_dim):
    with pytest.raises(ValueError, match=rf"latent_dim must be an integer >= 1, got {latent_dim}"):
        VAE((1, 8, 8), latent_dim=latent_dim)


def test_conv_architecture_rejects_an_input_shape_it_cannot_produce():
    with pytest.raises(ValueError, match=r"architecture='conv' with channels=\(32, 64\) cannot produce "
                                         r"input_shape=\(1, 6, 6\).*divisible by 2\*\*2 = 4.*architecture='mlp'"):
        VAE((1, 6, 6), latent_dim=2, architecture="conv")


def test_unknown_options_list_the_accepted_values():
    with pytest.raises(ValueError, match="likelihood must be one of 'bernoulli', 'gaussian', 'continuous_bernoulli'"):
        VAE((1, 8, 8), 2, likelihood="poisson")
    with pytest.raises(ValueError, match="input_shape must be \\(channel, height, width\\)"):
        VAE((8, 8), 2)
    with pytest.raises(ValueError, match="needs the images x"):
        VAE((1, 8, 8), 2).guide(None)
    with pytest.raises(TypeError, match="jit must be True or False, got 'yes'"):
        VAE((1, 8, 8), 2).elbo_loss(10, jit="yes")


def test_decode_takes_tensors_that_need_grad_and_fit_leaves_the_global_rng_alone():
    x = (np.random.default_rng(0).random((40, 1, 4, 4)) > 0.5).astype(np.float32)
    vae = VAE((1, 4, 4), 2, hidden=(8,))  # (draws its initial weights from the global RNG)
    torch.manual_seed(123)
    expected = torch.rand(())
    torch.manual_seed(123)
    fit = vae.fit(x, steps=1, validation=None, seed=0, progress=False)
    assert torch.equal(torch.rand(()), expected)
    z = torch.zeros(3, 2, requires_grad=True)
    np.testing.assert_array_equal(fit.decode(z), fit.decode(np.zeros((3, 2))))


def test_resume_refuses_a_checkpoint_of_another_vae(tmp_path):
    x = (np.random.default_rng(0).random((40, 1, 4, 4)) > 0.5).astype(np.float32)
    ckpt = tmp_path / "vae.pt"
    kw = dict(steps=1, validation=None, seed=0, progress=False)
    VAE((1, 4, 4), 2, hidden=(8,)).fit(x, checkpoint=str(ckpt), **kw)
    with pytest.raises(ValueError, match=r"another run: .*likelihood='bernoulli' then, 'continuous_bernoulli' now"):
        VAE((1, 4, 4), 2, "continuous_bernoulli", hidden=(8,)).fit(x, resume=str(ckpt), **kw)


# ---------------------------------------------------------------- float64, loading


def _tiny_binary(n=40, seed=0):
    return (np.random.default_rng(seed).random((n, 1, 4, 4)) > 0.5).astype(np.float32)


@pytest.mark.parametrize("likelihood,architecture,jit", [("bernoulli", "mlp", True),
                                                         ("gaussian", "conv", False)])
def test_float64_default_dtype_fits_and_runs_every_method(likelihood, architecture, jit):
    # Pyro users often set float64; the model computes in its networks' dtype
    x = _tiny_binary()
    torch.set_default_dtype(torch.float64)
    try:
        vae = VAE((1, 4, 4), 2, likelihood, architecture, hidden=(8,), channels=(4,))
        fit = vae.fit(x, steps=6, batch_size=16, seed=0, progress=False, jit=jit)  # 36 train: 2 epochs
        assert fit.vae.dtype == torch.float64 and np.isfinite(fit.losses).all()
        ev = fit.evaluate(x[:5], num_samples=4)
        assert np.isfinite([ev["elbo"], ev["log_likelihood"]]).all()
        loc, scale = fit.encode(x[:5])
        assert loc.dtype == np.float64 and loc.shape == scale.shape == (5, 2)
        assert fit.decode(loc).shape == fit.reconstruct(x[:5]).shape == (5, 1, 4, 4)
        assert fit.decode(torch.zeros(2, 2, dtype=torch.float32)).dtype == np.float64
        assert fit.interpolate(x[0], x[1], steps=3).shape == (3, 1, 4, 4)
        for mean in (True, False):
            s = fit.sample(3, seed=0, mean=mean)
            assert s.dtype == np.float64 and s.shape == (3, 1, 4, 4) and np.isfinite(s).all()
        assert fit.vae.model(torch.as_tensor(x[:3], dtype=torch.float64)).shape == (3, 1, 4, 4)
    finally:
        torch.set_default_dtype(torch.float32)


def test_a_float32_file_loads_into_a_float64_session_with_the_same_numbers(tmp_path):
    x = _tiny_binary()
    fit = VAE((1, 4, 4), 2, hidden=(8,)).fit(x, steps=6, batch_size=16, seed=0, progress=False)
    path = fit.save(tmp_path / "vae32")
    # evaluate(x[:2], num_samples=3) draws 3 * 2 * K = 12 normals and sample(3) 6: below 16
    # values torch's CPU randn gives the same normals in float32 and float64 (to float32
    # rounding), so both sessions use the same draws; the premise is checked first
    g32, g64 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    np.testing.assert_allclose(torch.randn(12, generator=g64, dtype=torch.float64).numpy(),
                               torch.randn(12, generator=g32).numpy(), rtol=1e-6, atol=1e-7)
    ref_ev = fit.evaluate(x[:2], num_samples=3, seed=0)
    ref_loc, ref_scale = fit.encode(x[:5])
    ref_rec, ref_sample = fit.reconstruct(x[:5]), fit.sample(3, seed=1)
    torch.set_default_dtype(torch.float64)
    try:
        back = load(path)
        assert back.vae.dtype == torch.float64
        ev = back.evaluate(x[:2], num_samples=3, seed=0)
        loc, scale = back.encode(x[:5])
        rec, sample = back.reconstruct(x[:5]), back.sample(3, seed=1)
    finally:
        torch.set_default_dtype(torch.float32)
    # float32 vs float64 arithmetic on the same weights and draws: rtol 1e-4
    for key in ("elbo", "log_likelihood"):
        np.testing.assert_allclose(ev[key], ref_ev[key], rtol=1e-4, err_msg=key)
    for got, want in ((loc, ref_loc), (scale, ref_scale), (rec, ref_rec), (sample, ref_sample)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_load_leaves_the_global_torch_rng_alone(tmp_path):
    fit = VAE((1, 4, 4), 2, hidden=(8,)).fit(_tiny_binary(), steps=1, validation=None, seed=0,
                                             progress=False)
    path = fit.save(tmp_path / "vae")
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    load(path)
    assert torch.equal(torch.rand(3), expected)


def test_the_mlp_vae_takes_flat_vectors():
    """(N, D) data with input_shape=(D,): no (1, 1, D) workaround; every method keeps the
    vector shape, and the conv architecture refuses vectors with a message that ends
    in a real suggestion."""
    x, _ = _binarized_digits()
    flat = x[:200].reshape(200, 64)
    fit = VAE(input_shape=(64,), latent_dim=2).fit(flat, steps=30, batch_size=50, validation=None,
                                                   seed=0, progress=False)
    assert fit.sample(3, seed=0).shape == (3, 64)
    assert fit.reconstruct(flat[:5]).shape == (5, 64)
    assert fit.interpolate(flat[:1], flat[1:2], steps=4).shape == (4, 64)
    assert fit.interpolate(flat[0], flat[1], steps=4).shape == (4, 64)
    e = fit.evaluate(flat[:20], num_samples=50)
    assert np.isfinite(e["elbo"]) and e["log_likelihood"] >= e["elbo"]
    with pytest.raises(ValueError) as info:
        VAE(input_shape=(64,), latent_dim=2, architecture="conv")
    assert "...." not in str(info.value) and "input_shape" in str(info.value)
