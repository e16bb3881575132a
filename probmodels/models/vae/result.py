r"""The result of a VAE fit: the bound, the importance-weighted likelihood, the latent
posterior of given examples (for ArviZ), samples, reconstructions and persistence.

Every computation runs inside :func:`~probmodels.infer.runtime.pyro_section` (one
lock, the caller's random states kept, ``num_threads`` torch threads) with its own
seeded generator, so calls from several threads give what sequential calls give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyro
import pyro.distributions as dist
import torch

from probmodels._validation import check_finite, check_int
from probmodels.diagnostics import psis_khat, psis_resample
from probmodels.infer.runtime import pyro_section, resolve_seed, seed_stream
from probmodels.models.vae.model import VAE
from probmodels.models.vae.networks import as_examples
from probmodels.results import FitResult, build_like_saved

__all__ = ["VAEFit"]

#: decoder inputs at a time in the chunked computations
_CHUNK = 50_000


@dataclass(repr=False, kw_only=True)
class VAEFit(FitResult):
    """The result of :meth:`VAE.fit`.

    ``draws`` is empty: a VAE has no global latent variables, only the networks'
    weights; the latent codes of given examples are :meth:`latent_posterior` and
    :meth:`to_arviz`. Saved with ``fit.save(path)`` (weights and batch-norm buffers
    as arrays in the ``.npz``, no pickle) and read with ``probmodels.load(path)``.

    Attributes
    ----------
    vae : VAE
        The trained model (``fit.vae.model`` / ``fit.vae.guide`` are the trained Pyro pair).
    losses : numpy.ndarray
        Mean training loss (negative ELBO per example, nats) of each epoch.
    val_losses : numpy.ndarray
        Validation loss after each epoch (empty without validation).
    diagnostics : dict
        ``seconds``, ``epochs``, ``best_epoch``, ``stopped_early``, ``steps``, ...
    """

    vae: VAE
    val_losses: np.ndarray = field(default_factory=lambda: np.empty(0))

    model_name = "VAE"

    # ---------------------------------------------------------------- helpers
    def _examples(self, x, name="x") -> torch.Tensor:
        return as_examples(x, self.vae.input_shape, self.vae.likelihood, name).to(
            device=self.vae.device, dtype=self.vae.dtype
        )

    def _generator(self, seed: int | None) -> torch.Generator:
        return torch.Generator(device=self.vae.device).manual_seed(resolve_seed(seed))

    def _describe(self) -> str:
        d = self.diagnostics
        return (
            f"{self.vae!r}, {d.get('epochs')} epochs, best validation epoch {d.get('best_epoch')}"
        )

    def _log_weights(self, chunk: torch.Tensor, S: int, g: torch.Generator):
        """``S`` draws ``z ~ q(z | x)`` per example and ``log p(x, z) - log q(z | x)``:
        ``z`` ``(S, batch, K)`` and log weights ``(S, batch)`` (float64)."""
        vae = self.vae
        loc, scale = vae.net.encoder(chunk)
        eps = torch.randn((S,) + loc.shape, generator=g, dtype=loc.dtype, device=loc.device)
        z = loc + scale * eps
        log_w = (
            vae._likelihood(vae.net.decoder(z)).log_prob(chunk)
            + dist.Normal(0.0, 1.0).log_prob(z).sum(-1)
            - dist.Normal(loc, scale).log_prob(z).sum(-1)
        ).double()
        return z, log_w

    # ---------------------------------------------------------------- analysis
    def evaluate(
        self, x, *, num_samples: int = 1000, seed: int | None = 0, num_threads: int | None = 1
    ) -> dict[str, float]:
        """ELBO and importance-weighted log-likelihood per example, in nats.

        Parameters
        ----------
        x : array-like
            Examples, as for :meth:`VAE.fit`.
        num_samples : int, default 1000
            Draws ``S`` from ``q(z | x)`` per example; ``"elbo"`` is the mean of the
            ``S`` log weights, ``"log_likelihood"`` their log-mean-exp (module docstring).
        seed : int or None, default 0
            Seed of the draws (a local generator; global random states are untouched).
        num_threads : int or None, default 1
            Torch threads during the call.

        Returns
        -------
        dict
            ``"elbo"``, ``"log_likelihood"`` (means over the examples),
            ``"elbo_se"`` and ``"log_likelihood_se"`` (standard errors of those
            means over the examples), ``"log_likelihood_mc_se"`` (the Monte Carlo
            error of ``"log_likelihood"`` from the ``S`` draws: per example the
            delta-method ``sqrt((mean(w^2) / mean(w)^2 - 1) / S)`` of the
            log-mean-exp, combined over examples; when ``q(z | x)`` is much narrower
            than the posterior the weights are heavy-tailed and this
            underestimates the error) and ``"num_samples"``.
        """
        S = check_int(num_samples, "num_samples", minimum=1)
        x = self._examples(x)
        elbos, lls, mc_vars = [], [], []
        with pyro_section(num_threads=num_threads), torch.no_grad(), pyro.validation_enabled(False):
            g = self._generator(seed)
            self.vae.net.eval()
            for chunk in x.split(max(1, _CHUNK // S)):
                _, log_w = self._log_weights(chunk, S, g)  # (S, batch)
                elbos.append(log_w.mean(0))
                lls.append(torch.logsumexp(log_w, 0) - math.log(S))
                r = torch.exp(log_w - log_w.max(0).values)
                mc_vars.append((r.pow(2).mean(0) / r.mean(0).pow(2) - 1.0).clamp_min(0.0) / S)
        elbo, ll, mc_var = torch.cat(elbos), torch.cat(lls), torch.cat(mc_vars)
        n = elbo.numel()
        se, ll_se = ((float(v.std() / math.sqrt(n)) if n > 1 else float("nan")) for v in (elbo, ll))
        return {
            "elbo": float(elbo.mean()),
            "log_likelihood": float(ll.mean()),
            "elbo_se": se,
            "log_likelihood_se": ll_se,
            "log_likelihood_mc_se": float(mc_var.sum().sqrt() / n),
            "num_samples": S,
        }

    def latent_posterior(
        self, x, *, num_samples: int = 1000, seed: int | None = 0, num_threads: int | None = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        r"""Draws from the posterior :math:`p(z \mid x) \propto p(z) p_\theta(x \mid z)` of each
        example's latent code, and the PSIS k-hat of ``q(z | x)`` as its proposal.

        ``2 S`` draws from the encoder ``q(z | x)`` per example are Pareto-smoothed
        importance resampled to ``S`` draws of the true posterior under the decoder
        (k-hat below 0.7: reliable; above it the encoder is too far from the
        posterior for the resample to be trusted, and the draws are the encoder's).

        Returns
        -------
        z : numpy.ndarray
            ``(num_samples, data, K)``.
        khat : numpy.ndarray
            ``(data,)``.
        """
        S = check_int(num_samples, "num_samples", minimum=10)
        x = self._examples(x)
        out, khats = [], []
        with pyro_section(num_threads=num_threads), torch.no_grad(), pyro.validation_enabled(False):
            g = self._generator(seed)
            rng = np.random.default_rng(seed_stream(resolve_seed(seed), "latent"))
            self.vae.net.eval()
            for chunk in x.split(max(1, _CHUNK // (2 * S))):
                z, log_w = self._log_weights(chunk, 2 * S, g)  # (2S, batch, K)
                z, log_w = z.cpu().numpy(), log_w.cpu().numpy()
                for i in range(z.shape[1]):
                    k = psis_khat(log_w[:, i])
                    pick = psis_resample(log_w[:, i], rng, S) if k < 0.7 else np.arange(S)
                    out.append(z[pick, i])
                    khats.append(k)
        return np.stack(out, axis=1), np.asarray(khats)

    def to_arviz(self, x, *, num_samples: int = 1000, seed: int | None = 0):
        """ArviZ data of the latent codes of the examples ``x``: the posterior group holds
        ``z`` ``(chain, draw, example, latent)`` (:meth:`latent_posterior`; one chain of
        resampled draws), observed_data the examples ``x`` and each example's PSIS k-hat
        ``khat`` ``(example,)`` (below 0.7: the resample is reliable); the attribute
        ``max_khat`` is the largest."""
        import pyro as _pyro

        from probmodels.export import to_arviz

        z, khat = self.latent_posterior(x, num_samples=num_samples, seed=seed)
        obs = self._examples(x).cpu().numpy()
        event = [f"x_dim_{i}" for i in range(obs.ndim - 1)]
        return to_arviz(
            posterior={"z": z[None]},
            observed_data={"x": obs, "khat": np.asarray(khat, dtype=float)},
            dims={"z": ["example", "latent"], "x": ["example", *event], "khat": ["example"]},
            coords={"example": np.arange(obs.shape[0]), "latent": np.arange(self.vae.latent_dim)},
            attrs={
                "inference_library": "pyro",
                "inference_library_version": _pyro.__version__,
                "model": repr(self.vae),
                "max_khat": float(np.max(khat)),
            },
        )

    def summary(self, x=None, *, num_samples: int = 200) -> pd.DataFrame:  # type: ignore[override]
        """The training figures (and, given examples ``x``, their evaluation) as a table.

        Rows ``train_loss`` (last epoch), ``best_val_loss``, ``epochs``, ``best_epoch``,
        ``steps``, ``seconds`` and, with ``x``, ``elbo``, ``log_likelihood`` and their
        standard errors; column ``value``.
        """
        d = self.diagnostics
        rows = {
            "train_loss": float(self.losses[-1]) if len(self.losses) else np.nan,
            "best_val_loss": d.get("best_val_loss"),
            "epochs": d.get("epochs"),
            "best_epoch": d.get("best_epoch"),
            "steps": d.get("steps"),
            "seconds": d.get("seconds"),
        }
        if x is not None:
            ev = self.evaluate(x, num_samples=num_samples)
            rows.update(
                {k: ev[k] for k in ("elbo", "elbo_se", "log_likelihood", "log_likelihood_se")}
            )
        table = pd.DataFrame({"value": pd.Series(rows, dtype=float)})
        table.index.name = "figure"
        return table

    def encode(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and scales ``(mu_phi(x), sigma_phi(x))``, each ``(data, K)``."""
        x = self._examples(x)
        with pyro_section(num_threads=None), torch.no_grad():
            self.vae.net.eval()
            loc, scale = self.vae.net.encoder(x)
        return loc.cpu().numpy(), scale.cpu().numpy()

    def decode(self, z) -> np.ndarray:
        """``E[x | z]`` for latent points ``z`` of shape ``(data, K)``: ``(data,) + input_shape``."""
        z = z.detach() if isinstance(z, torch.Tensor) else np.asarray(z)
        z = torch.as_tensor(z, dtype=self.vae.dtype, device=self.vae.device)
        K = self.vae.latent_dim
        if z.dim() != 2 or z.shape[1] != K:
            raise ValueError(f"z must have shape (data, {K}), got {tuple(z.shape)}.")
        check_finite(z.cpu().numpy(), "z")
        with pyro_section(num_threads=None), torch.no_grad():
            self.vae.net.eval()
            return self.vae._mean(self.vae.net.decoder(z)).cpu().numpy()

    def reconstruct(self, x) -> np.ndarray:
        """``E[x | z = mu_phi(x)]``, the decoded posterior means, ``(data,) + input_shape``."""
        loc, _ = self.encode(x)
        return self.decode(loc)

    def sample(
        self, n: int, *, seed: int | None = None, mean: bool = True, num_threads: int | None = 1
    ) -> np.ndarray:
        """``n`` examples from the model: ``z ~ N(0, I)``, then ``E[x | z]`` (``mean=True``)
        or a draw of ``x`` (``mean=False``). Shape ``(n,) + input_shape``."""
        n = check_int(n, "n", minimum=1)
        with pyro_section(num_threads=num_threads), torch.no_grad(), pyro.validation_enabled(False):
            g = self._generator(seed)
            z = torch.randn(
                n, self.vae.latent_dim, generator=g, dtype=self.vae.dtype, device=self.vae.device
            )
            self.vae.net.eval()
            f = self.vae.net.decoder(z)
            if mean:
                return self.vae._mean(f).cpu().numpy()
            # the section restores the global generator this draw uses
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=g, device=g.device)))
            return self.vae._likelihood(f).sample().cpu().numpy()

    def interpolate(self, x1, x2, steps: int = 8) -> np.ndarray:
        """Decoded means along the straight line between the posterior means of two examples.

        Parameters
        ----------
        x1, x2 : array-like
            One example each, ``input_shape`` (``(H, W)`` also for one-channel images),
            or a batch of one, ``(1,) + input_shape``.
        steps : int, default 8
            Points on the line, both ends included (``>= 2``).

        Returns
        -------
        numpy.ndarray
            ``(steps,) + input_shape``.
        """
        steps = check_int(steps, "steps", minimum=2)
        shape = self.vae.input_shape
        ends = []
        for name, example in (("x1", x1), ("x2", x2)):
            arr = np.asarray(
                example.detach().cpu() if isinstance(example, torch.Tensor) else example
            )
            one = arr.ndim == len(shape) or (len(shape) == 3 and shape[0] == 1 and arr.ndim == 2)
            batch = arr[None] if one else arr
            if batch.shape[0] != 1:
                raise ValueError(
                    f"{name} must be one example, {shape} or (1, ...), got shape {arr.shape}."
                )
            ends.append(self.encode(as_examples(batch, shape, self.vae.likelihood, name))[0][0])
        t = np.linspace(0.0, 1.0, steps)[:, None]
        return self.decode((1.0 - t) * ends[0] + t * ends[1])

    # ---------------------------------------------------------------- plots
    def plot_reconstructions(self, x, *, n: int = 10, ax=None):
        """The first ``n`` images (top row) above their reconstructions (bottom row)
        (:func:`probmodels.plots.vae.plot_vae_reconstructions`); returns the Axes."""
        from probmodels.plots.vae import plot_vae_reconstructions

        return plot_vae_reconstructions(self, x, n=n, ax=ax)

    def plot_samples(self, n: int = 64, *, seed: int | None = 0, ax=None):
        """A grid of ``n`` images ``E[x | z]`` with ``z ~ N(0, I)``
        (:func:`probmodels.plots.vae.plot_vae_samples`); returns the Axes."""
        from probmodels.plots.vae import plot_vae_samples

        return plot_vae_samples(self, n, seed=seed, ax=ax)

    def plot_latent(self, x, labels=None, *, ax=None):
        """Posterior means of ``x`` in 2-D, coloured by ``labels`` (first two principal
        components when ``K > 2``; :func:`probmodels.plots.vae.plot_vae_latent`)."""
        from probmodels.plots.vae import plot_vae_latent

        return plot_vae_latent(self, x, labels, ax=ax)

    def plot_interpolation(self, x1, x2, *, steps: int = 8, ax=None):
        """Decoded means along the line in ``z`` between the encodings of ``x1`` and ``x2``
        (:func:`probmodels.plots.vae.plot_vae_interpolation`); returns the Axes."""
        from probmodels.plots.vae import plot_vae_interpolation

        return plot_vae_interpolation(self, x1, x2, steps=steps, ax=ax)

    def plot_loss(self, *, ax=None, window: int = 50):
        """Training loss per epoch with its running mean, and the validation loss
        (:func:`probmodels.plots.vae.plot_vae_losses`); returns the Axes."""
        from probmodels.plots.vae import plot_vae_losses

        return plot_vae_losses(self, window=window, ax=ax)

    # ---------------------------------------------------------------- persistence
    def _state(self):
        state = self.vae.net.state_dict()  # parameters and batch-norm buffers
        arrays = {f"net/{k}": v.detach().cpu().numpy() for k, v in state.items()}
        meta = {
            "config": self.vae.config,
            "val_losses": [float(v) for v in self.val_losses],
            "state_keys": list(state),
        }
        return meta, arrays

    @classmethod
    def _from_state(cls, common, meta, arrays):
        config = dict(meta["config"])
        config["input_shape"] = tuple(config["input_shape"])
        saved = {k: arrays[f"net/{k}"] for k in meta["state_keys"]}
        # built only once its networks match the saved weights (checked without allocating)
        vae = build_like_saved(lambda: VAE(**config), lambda v: v.net, saved)
        # load_state_dict copies into the parameters, converting to their dtype (torch's
        # default dtype when loading), so a float32 file loads into a float64 session
        state = {k: torch.from_numpy(np.array(v)) for k, v in saved.items()}
        vae.net.load_state_dict(state)
        vae.net.eval()
        return cls(**common, vae=vae, val_losses=np.asarray(meta["val_losses"], dtype=np.float64))
