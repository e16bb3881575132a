"""GaussianMixture: fit time and held-out fit against scikit-learn, SVI step cost, a 1e6-point fit.

All numbers come from one run of this script, so the ratios compare like with like
on whatever machine runs it:

1. Old Faithful (272 rows, 2 features, K = 2, full covariance), a random half
   for fitting and the other half held out: fit time and held-out
   log-likelihood per point of ``GaussianMixture(2).fit(...)`` (posterior
   predictive density, ``fit.score``) against scikit-learn's
   ``GaussianMixture(2, n_init=5)`` (maximum likelihood, ``score``). Skipped
   when scikit-learn is not installed.
2. One SVI step (``TraceEnum_ELBO``, z enumerated, AutoMultivariateNormal, one
   particle) against a hand-written step of the same mixture: the same
   reparameterised draw of the globals and ``logsumexp`` over components, with
   Adam. Target: ratio at most 1.5 (reported for the Faithful data and for a
   10,000-point batch, where the arithmetic dominates Pyro's bookkeeping).
3. A 1,000,000-point 1-D mixture fitted by minibatch SVI
   (``subsample_size=1000``): time, peak resident memory, and the error of the
   recovered weights, means and sds against the truth.

Usage::

    PYTHONPATH=. python benchmarks/gmm.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import numpy as np
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch

import probmodels as pm  # noqa: F401
from probmodels.models.gmm import MAX_PLATE_NESTING, GaussianMixture, _mixture_model

DTYPE = torch.float64


def faithful_vs_sklearn(seed: int) -> None:
    x = pm.datasets.load_faithful().to_numpy()
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(x))
    train, test = x[perm[: len(x) // 2]], x[perm[len(x) // 2:]]
    t = time.perf_counter()
    fit = GaussianMixture(2).fit(train, seed=seed, progress=False)
    ours_s = time.perf_counter() - t
    ours_ll = fit.score(test)
    print(f"[faithful] probmodels default fit: {ours_s:.2f} s, held-out log-lik/point "
          f"{ours_ll:.4f}, PSIS k-hat {fit.diagnostics['khat']:.2f}")
    try:
        from sklearn.mixture import GaussianMixture as SkGMM
    except ImportError:
        print("[faithful] scikit-learn not installed: comparison skipped "
              "(pip install scikit-learn)")
        return
    t = time.perf_counter()
    sk = SkGMM(2, covariance_type="full", n_init=5, random_state=seed).fit(train)
    sk_s = time.perf_counter() - t
    sk_ll = float(sk.score(test))
    print(f"[faithful] scikit-learn GaussianMixture(n_init=5): {sk_s:.3f} s, held-out "
          f"log-lik/point {sk_ll:.4f}")
    print(f"[faithful] time ratio ours/sklearn {ours_s / sk_s:.1f}; held-out log-lik "
          f"difference ours - sklearn {ours_ll - sk_ll:+.4f} nats/point")


def step_ratio(n: int, repeats: int, seed: int) -> float:
    """Time per SVI step (Pyro) / time per hand-written step, same mixture and data."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([rng.normal(-2, 1, n // 2), rng.normal(2, 1, n - n // 2)])
    x = torch.as_tensor(y, dtype=DTYPE).unsqueeze(-1)
    gmm = GaussianMixture(2)
    priors = gmm.resolved_priors(x)
    layout = gmm._layout(1)

    def model():
        return _mixture_model(x, priors, layout)

    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    guide = pyro.infer.autoguide.AutoMultivariateNormal(
        poutine.block(model, expose=list(layout.sites)), init_scale=0.01)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.01}),
                         pyro.infer.TraceEnum_ELBO(max_plate_nesting=MAX_PLATE_NESTING))
    for _ in range(10):
        svi.step()
    t = time.perf_counter()
    for _ in range(repeats):
        svi.step()
    pyro_step = (time.perf_counter() - t) / repeats

    # hand-written: u ~ N(loc, L L^T) reparameterised; theta = T(u); log p(x, theta) by logsumexp
    from torch.distributions import biject_to

    dim = 5  # pi (1, stick-breaking), mu (2, ordered), sigma (2, log)
    loc = torch.zeros(dim, dtype=DTYPE, requires_grad=True)
    raw_tril = torch.zeros(dim, dim, dtype=DTYPE, requires_grad=True)
    opt = torch.optim.Adam([loc, raw_tril], lr=0.01)
    t_pi, t_mu = biject_to(priors["pi"].support), biject_to(pyro.distributions.constraints.ordered_vector)
    mu0, mus = priors["mu"].loc, priors["mu"].scale
    s0 = priors["sigma"].scale

    def hand_step():
        opt.zero_grad()
        tril = torch.tril(raw_tril, -1) + torch.diag(torch.nn.functional.softplus(torch.diagonal(raw_tril)) + 1e-3)
        eps = torch.randn(dim, dtype=DTYPE)
        u = loc + tril @ eps
        pi, mu, log_sigma = t_pi(u[:1]), t_mu(u[1:3]), u[3:5]
        sigma = log_sigma.exp()
        log_joint = (torch.distributions.Dirichlet(priors["pi"].concentration).log_prob(pi)
                     + t_pi.log_abs_det_jacobian(u[:1], pi)
                     + torch.distributions.Normal(mu0, mus).log_prob(mu).sum()
                     + t_mu.log_abs_det_jacobian(u[1:3], mu)
                     + torch.distributions.HalfNormal(s0).log_prob(sigma).sum() + log_sigma.sum())
        comp = pi.log() + torch.distributions.Normal(mu, sigma).log_prob(x)        # (n, 2)
        log_joint = log_joint + torch.logsumexp(comp, -1).sum()
        entropy = torch.log(torch.diagonal(tril)).sum()
        loss = -(log_joint + entropy)
        loss.backward()
        opt.step()
        return float(loss.detach())

    for _ in range(10):
        hand_step()
    t = time.perf_counter()
    for _ in range(repeats):
        hand_step()
    hand = (time.perf_counter() - t) / repeats
    ratio = pyro_step / hand
    print(f"[svi step] n={n}: TraceEnum_ELBO step {pyro_step * 1e3:.2f} ms, hand-written "
          f"logsumexp step {hand * 1e3:.2f} ms, ratio {ratio:.2f} (target <= 1.5: "
          f"{'met' if ratio <= 1.5 else 'NOT met'})")
    return ratio


def million_points(seed: int, quick: bool) -> None:
    n = 200_000 if quick else 1_000_000
    rng = np.random.default_rng(seed)
    truth = {"pi": np.array([0.35, 0.65]), "mu": np.array([-1.5, 2.0]), "sigma": np.array([0.7, 1.2])}
    z = rng.random(n) < truth["pi"][0]
    y = np.where(z, rng.normal(truth["mu"][0], truth["sigma"][0], n),
                 rng.normal(truth["mu"][1], truth["sigma"][1], n))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    fit = GaussianMixture(2).fit(y, seed=seed, progress=False, subsample_size=1000,
                                 steps=1000 if quick else 2000, num_samples=1000)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    m = fit.posterior_means()
    err = {k: float(np.abs(m[k] - truth[k]).max()) for k in truth}
    print(f"[{n:,} points] minibatch SVI (subsample 1000, {fit.diagnostics['num_steps']} steps): "
          f"{seconds:.1f} s, peak RSS {peak:.0f} MiB (before {before:.0f} MiB)")
    print(f"[{n:,} points] max abs error: pi {err['pi']:.4f}, mu {err['mu']:.4f}, "
          f"sigma {err['sigma']:.4f}  (estimates pi {np.round(m['pi'], 4)}, mu "
          f"{np.round(m['mu'], 4)}, sigma {np.round(m['sigma'], 4)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 200,000 points")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
    print(f"torch {torch.__version__}, pyro {pyro.__version__}, threads {args.threads}")
    faithful_vs_sklearn(args.seed)
    repeats = 50 if args.quick else 200
    step_ratio(272, repeats, args.seed)
    step_ratio(10_000, repeats // 5, args.seed)
    million_points(args.seed, args.quick)


if __name__ == "__main__":
    main()
