"""GaussianMixture: fit time and held-out fit against scikit-learn, SVI step cost, a 1e6-point fit.

All numbers come from one run of this script, so the ratios compare like with like
on whatever machine runs it:

1. Old Faithful (272 rows, 2 features, K = 2, full covariance), a random half
   for fitting and the other half held out: fit time and held-out
   log-likelihood per point of ``GaussianMixture(2).fit(...)`` (posterior
   predictive density, ``fit.score``) against scikit-learn's
   ``GaussianMixture(2, n_init=5)`` (maximum likelihood, ``score``). Skipped
   when scikit-learn is not installed.
2. One SVI step as the default fit takes it (``TraceEnum_ELBO`` with z
   enumerated, eager and ``JitTraceEnum_ELBO``; AutoMultivariateNormal; Pyro's
   Adam) against a hand-written step of the same objective: the same mixture
   and data, the same guide parametrisation, the same number of vectorised
   particles and the same estimator ``mean_p [log q(u_p) - log p(x, theta(u_p))]``
   (``log q`` at the draw, z summed out by ``logsumexp``), one torch Adam. A
   check first shows both estimate the same negative ELBO. Target: ratio at
   most 1.5; reported for Faithful's size with 1 particle, N = 1000 with 8
   particles (the default fit) and N = 10,000 with 1 particle.
3. A 1,000,000-point 1-D mixture fitted by minibatch SVI
   (``subsample_size=1000``, 2,000 steps) in a child process: time, the
   child's peak resident memory (``VmHWM``) before and after the fit, and
   the error of the recovered weights, means and sds against the truth.

Usage::

    PYTHONPATH=. python benchmarks/gmm.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch

import probmodels as pm  # noqa: F401
from probmodels.models.gmm import GaussianMixture
from probmodels.models.gmm.sites import MAX_PLATE_NESTING, mixture_model as _mixture_model

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


def _data(n: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    y = np.concatenate([rng.normal(-2, 1, n // 2), rng.normal(2, 1, n - n // 2)])
    return torch.as_tensor(y, dtype=DTYPE).unsqueeze(-1)                # (data, feature=1)


def _pyro_step(x, num_particles: int, jit: bool, seed: int):
    """One SVI step as ``GaussianMixture.fit`` takes it: TraceEnum_ELBO (z enumerated),
    AutoMultivariateNormal, ``num_particles`` vectorised draws, Pyro's Adam."""
    gmm = GaussianMixture(2)
    priors = gmm.resolved_priors(x)
    layout = gmm._layout(1)

    def model():
        return _mixture_model(x, priors, layout)

    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    guide = pyro.infer.autoguide.AutoMultivariateNormal(
        poutine.block(model, expose=list(layout.sites)), init_scale=0.01)
    elbo = (pyro.infer.JitTraceEnum_ELBO if jit else pyro.infer.TraceEnum_ELBO)(
        max_plate_nesting=MAX_PLATE_NESTING, num_particles=num_particles,
        vectorize_particles=num_particles > 1, **({"ignore_jit_warnings": True} if jit else {}))
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.002}), elbo)
    return svi.step, guide, elbo, model


def _hand_step(x, num_particles: int, priors, guide):
    """The same objective by hand: the same guide parametrisation (loc, softplus scale,
    unit lower-triangular factor), the same reparameterised estimator
    ``mean_p [log q(u_p) - log p(x, theta(u_p))]`` with ``log q`` evaluated at the draw (as
    Pyro's ELBO does, not the analytic entropy), z summed out by ``logsumexp``, one Adam."""
    from torch.distributions import biject_to

    D = 5  # pi (1, stick-breaking), mu (2, ordered), sigma (2, log)
    # start where the Pyro guide starts (its loc at the prior median, scale 0.01)
    guide()
    with torch.no_grad():
        loc = guide.loc.detach().clone().requires_grad_(True)
        raw_scale = torch.log(torch.expm1(guide.scale.detach())).requires_grad_(True)
        raw_tril = guide.scale_tril.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([loc, raw_scale, raw_tril], lr=0.002)
    t_pi, t_mu = biject_to(priors["pi"].support), biject_to(dist.constraints.ordered_vector)
    eye = torch.eye(D, dtype=DTYPE)
    Dirichlet, Normal, HalfNormal = (torch.distributions.Dirichlet, torch.distributions.Normal,
                                     torch.distributions.HalfNormal)

    def neg_elbo(eps):
        tril = torch.nn.functional.softplus(raw_scale)[:, None] * (torch.tril(raw_tril, -1) + eye)
        u = loc + eps @ tril.T                                                 # (P, 5)
        log_q = torch.distributions.MultivariateNormal(loc, scale_tril=tril).log_prob(u)
        pi, mu, log_sigma = t_pi(u[:, :1]), t_mu(u[:, 1:3]), u[:, 3:5]
        sigma = log_sigma.exp()
        log_joint = (Dirichlet(priors["pi"].concentration).log_prob(pi)
                     + t_pi.log_abs_det_jacobian(u[:, :1], pi)
                     + Normal(priors["mu"].loc, priors["mu"].scale).log_prob(mu).sum(-1)
                     + t_mu.log_abs_det_jacobian(u[:, 1:3], mu)
                     + HalfNormal(priors["sigma"].scale).log_prob(sigma).sum(-1) + log_sigma.sum(-1))
        comp = pi.log()[:, None] + Normal(mu[:, None], sigma[:, None]).log_prob(x)   # (P, data, 2)
        return (log_q - log_joint - torch.logsumexp(comp, -1).sum(-1)).mean()

    def step():
        opt.zero_grad()
        loss = neg_elbo(torch.randn(num_particles, D, dtype=DTYPE))
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step, neg_elbo


def _per_step(step, repeats: int) -> float:
    for _ in range(10):
        step()
    t = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - t) / repeats


def same_objective_check(seed: int) -> None:
    """Both steps estimate the same negative ELBO: at the guide's initial parameters, the
    means of many draws agree within Monte Carlo error."""
    x = _data(272, seed)
    _, guide, _, model = _pyro_step(x, 1, jit=False, seed=seed)
    guide()
    elbo = pyro.infer.TraceEnum_ELBO(max_plate_nesting=MAX_PLATE_NESTING, num_particles=4000,
                                     vectorize_particles=True)
    pyro_loss = elbo.loss(model, guide)
    _, neg_elbo = _hand_step(x, 1, GaussianMixture(2).resolved_priors(x), guide)
    with torch.no_grad():
        losses = torch.stack([neg_elbo(torch.randn(1, 5, dtype=DTYPE)) for _ in range(4000)])
    se = float(losses.std() / math.sqrt(len(losses)))
    print(f"[svi step] same objective: -ELBO at the initial guide, Pyro {pyro_loss:.2f}, "
          f"hand-written {float(losses.mean()):.2f} +- {se:.2f} (4000 draws each; Pyro's estimate has "
          f"a similar Monte Carlo error)")


def step_ratio(n: int, num_particles: int, repeats: int, seed: int) -> None:
    """Time per SVI step (Pyro, eager and JIT) / time per hand-written step, same mixture,
    data, guide, particles and estimator, timed in this process one after another."""
    x = _data(n, seed)
    priors = GaussianMixture(2).resolved_priors(x)
    times = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.* is deprecated",
                                category=DeprecationWarning)
        for name, make in (("hand", lambda: _hand_step(x, num_particles, priors,
                                                       _pyro_step(x, 1, False, seed)[1])[0]),
                           ("TraceEnum_ELBO", lambda: _pyro_step(x, num_particles, False, seed)[0]),
                           ("JitTraceEnum_ELBO", lambda: _pyro_step(x, num_particles, True, seed)[0])):
            times[name] = _per_step(make(), repeats)
    hand = times.pop("hand")
    parts = ", ".join(f"{k} {v * 1e3:.2f} ms (ratio {v / hand:.2f})" for k, v in times.items())
    best = min(times.values()) / hand
    print(f"[svi step] n={n}, {num_particles} particle(s): hand-written {hand * 1e3:.2f} ms, {parts}; "
          f"target <= 1.5 {'met' if best <= 1.5 else 'NOT met'}")


def million_points(seed: int, quick: bool) -> None:
    """Runs in a child process (``--phase million``) so that its peak memory is its own:
    the peak resident set of this process (``VmHWM``) after the imports, after making
    the data and after the fit."""
    n = 200_000 if quick else 1_000_000
    at_import = _peak_rss_mib()
    rng = np.random.default_rng(seed)
    truth = {"pi": np.array([0.35, 0.65]), "mu": np.array([-1.5, 2.0]), "sigma": np.array([0.7, 1.2])}
    z = rng.random(n) < truth["pi"][0]
    y = np.where(z, rng.normal(truth["mu"][0], truth["sigma"][0], n),
                 rng.normal(truth["mu"][1], truth["sigma"][1], n))
    del z
    before = _peak_rss_mib()
    t = time.perf_counter()
    fit = GaussianMixture(2).fit(y, seed=seed, progress=False, subsample_size=1000,
                                 num_samples=1000)
    seconds = time.perf_counter() - t
    peak = _peak_rss_mib()
    m = fit.posterior_means()
    err = {k: float(np.abs(m[k] - truth[k]).max()) for k in truth}
    print(f"[{n:,} points] minibatch SVI (subsample 1000, {fit.diagnostics['num_steps']} steps, "
          f"Laplace start {fit.diagnostics['init_seconds']:.1f} s): {seconds:.1f} s")
    print(f"[{n:,} points] peak resident memory of the process: {at_import:.0f} MiB after the "
          f"imports, {before:.0f} MiB with the data ({y.nbytes / 2**20:.0f} MiB of float64), "
          f"{peak:.0f} MiB after the fit: the fit adds {peak - before:.0f} MiB")
    print(f"[{n:,} points] max abs error: pi {err['pi']:.4f}, mu {err['mu']:.4f}, "
          f"sigma {err['sigma']:.4f}  (estimates pi {np.round(m['pi'], 4)}, mu "
          f"{np.round(m['mu'], 4)}, sigma {np.round(m['sigma'], 4)})")


def _peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB.

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this process's own
    memory map. Not ``ru_maxrss``: Linux carries the parent's peak into a child across
    fork and exec (measured: the child started at the parent's 724 MiB).
    Elsewhere: ``ru_maxrss`` (bytes on macOS).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 200,000 points")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phase", choices=["all", "million"], default="all",
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
    print(f"torch {torch.__version__}, pyro {pyro.__version__}, threads {args.threads}")
    if args.phase == "million":
        million_points(args.seed, args.quick)
        return
    faithful_vs_sklearn(args.seed)
    repeats = 50 if args.quick else 200
    same_objective_check(args.seed)
    for n, particles in ((272, 1), (1000, 8), (10_000, 1)):
        step_ratio(n, particles, repeats if n < 10_000 else repeats // 4, args.seed)
    # a fresh process, so its peak memory is the fit's and not this run's
    child = [sys.executable, __file__, "--phase", "million", "--threads", str(args.threads),
             "--seed", str(args.seed)] + (["--quick"] if args.quick else [])
    subprocess.run(child, check=True)


if __name__ == "__main__":
    main()
