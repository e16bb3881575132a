"""The result of a DDPM fit: sampling (ancestral, DDIM), trajectories, the bound in
nats and bits per dimension, posterior-predictive export, persistence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast, get_args

import numpy as np
import pandas as pd
import torch
from torch import nn

from probmodels._validation import check_choice, check_int, check_seed
from probmodels.infer.runtime import pyro_section
from probmodels.metrics import bits_per_dim
from probmodels.models.ddpm.model import DDPM
from probmodels.models.ddpm.sampling import ancestral, ddim, ddim_timesteps
from probmodels.results import FitResult, build_like_saved

__all__ = ["DDPMEvaluation", "DDPMFit", "SAMPLERS", "Sampler"]

Sampler = Literal["ancestral", "ddim"]
SAMPLERS: tuple[str, ...] = get_args(Sampler)


@dataclass
class DDPMEvaluation:
    r"""The negative ELBO of data under a fitted DDPM.

    Attributes
    ----------
    nats : float
        Mean negative ELBO per example, nats (an upper bound on
        :math:`-\log p(x_0)`).
    nats_se : float
        Its Monte Carlo standard error (over the draws of the chain, for these
        examples).
    bits_per_dim : float
        ``nats / (num_dims * ln 2)``.
    bits_per_dim_se : float
    per_example : numpy.ndarray
        Shape ``(N,)``: each example's estimate (mean over ``num_draws``).
    terms : numpy.ndarray
        Shape ``(T + 1,)``: mean over examples of :math:`L_0, L_1, \dots, L_{T-1}, L_T`
        (entry ``t`` is the term of step ``t + 1``'s KL, entry 0 the decoder,
        entry ``T`` the prior term).
    num_draws : int
    """

    nats: float
    nats_se: float
    bits_per_dim: float
    bits_per_dim_se: float
    per_example: np.ndarray
    terms: np.ndarray
    num_draws: int

    def __repr__(self) -> str:
        return (
            f"DDPMEvaluation(nats={self.nats:.4f} ± {self.nats_se:.4f}, bits_per_dim="
            f"{self.bits_per_dim:.4f} ± {self.bits_per_dim_se:.4f}, N={self.per_example.size}, "
            f"num_draws={self.num_draws})"
        )


@dataclass(repr=False, kw_only=True)
class DDPMFit(FitResult):
    """The result of :meth:`DDPM.fit`: the trained (EMA) denoiser, its losses and options.

    ``draws`` is empty (the weights are point estimates); ``losses`` holds the
    training objective at each step.
    """

    ddpm: DDPM

    model_name = "DDPM"

    @property
    def denoiser(self) -> nn.Module:
        return self.ddpm.denoiser

    def _describe(self) -> str:
        d = self.diagnostics
        return (
            f"DDPM(data_shape={self.ddpm.data_shape}, T={self.ddpm.timesteps}), "
            f"{d.get('steps')} steps on {d.get('num_examples')} examples, "
            f"objective {self.options.get('objective')!r}"
        )

    def to_arviz(self, x=None, *, n: int = 1000, steps: int | None = None, seed: int | None = None):
        """ArviZ data for posterior-predictive checks: ``n`` samples of the model as the
        ``posterior_predictive`` group ``x`` ``(chain=1, draw=n, ...)`` and, given data
        ``x``, the ``observed_data`` group (``az.plot_ppc`` then compares them). The
        weights are point estimates, so there is no posterior group."""
        from probmodels.export import to_arviz

        samples = self.sample(n, steps=steps, seed=seed)
        event = [f"x_dim_{i}" for i in range(samples.ndim - 1)]
        groups = {"posterior_predictive": {"x": samples[None]}}
        if x is not None:
            groups["observed_data"] = {"x": self.ddpm.check_data(x, "x").cpu().numpy()}
        return to_arviz(
            **groups,
            dims={
                "posterior_predictive/x": ["example", *event],
                "observed_data/x": ["observation", *event],
            },
            attrs={"model": repr(self), "sampler_steps": int(steps or self.ddpm.timesteps)},
        )

    # not a posterior: the table is the training figures and the bound, without hdi_prob
    def summary(self, x=None, *, num_draws: int = 1) -> pd.DataFrame:  # type: ignore[override]
        """The training figures (and, given data ``x``, its bound) as a table.

        Rows ``final_loss`` (mean of the last epoch), ``steps``, ``epochs``, ``seconds``
        and, with ``x``, ``nats``, ``nats_se``, ``bits_per_dim``, ``bits_per_dim_se``;
        column ``value``.
        """
        d = self.diagnostics
        rows = {
            "final_loss": float(self.losses[-1]) if len(self.losses) else np.nan,
            "steps": d.get("steps"),
            "epochs": d.get("epochs"),
            "seconds": d.get("seconds"),
        }
        if x is not None:
            ev = self.evaluate(x, num_draws=num_draws)
            rows.update(
                nats=ev.nats,
                nats_se=ev.nats_se,
                bits_per_dim=ev.bits_per_dim,
                bits_per_dim_se=ev.bits_per_dim_se,
            )
        table = pd.DataFrame({"value": pd.Series(rows, dtype=float)})
        table.index.name = "figure"
        return table

    def _generator_seed(self, seed):
        seed = check_seed(seed)
        return self.seed if seed is None else seed

    def _sampling_steps(self, steps, sampler):
        T = self.ddpm.timesteps
        if steps is None:
            steps = T
        steps = check_int(steps, "steps", minimum=1)
        if steps > T:
            raise ValueError(
                f"steps must be at most the number of diffusion steps T={T}; got steps={steps}. "
                f"Pass steps <= {T} (steps={T} runs every step)."
            )
        if sampler is None:
            sampler = "ancestral" if steps == T else "ddim"
        sampler = check_choice(sampler, "sampler", SAMPLERS)
        if sampler == "ancestral" and steps != T:
            raise ValueError(
                f"ancestral sampling runs all T={T} steps of the model; got steps={steps}. "
                f"Use sampler='ddim' for fewer steps, or steps={T}."
            )
        return steps, sampler

    def _run(
        self,
        n: int,
        steps: int,
        sampler: str,
        seed: int,
        frames: Sequence[int] = (),
        num_threads: int | None = 1,
    ):
        """Draw ``n`` examples; returns the final tensor and ``{t: x_t}`` for ``t`` in ``frames``."""
        ddpm = self.ddpm
        with pyro_section(seed=None, num_threads=num_threads), torch.no_grad():
            ddpm.denoiser.eval()
            if ddpm.device.type == "cuda":
                torch.cuda.manual_seed(seed)
            torch.manual_seed(seed)
            if sampler == "ancestral":
                return ancestral(ddpm, n, frames)
            return ddim(ddpm, n, steps, frames)

    def sample(
        self,
        n: int,
        *,
        steps: int | None = None,
        sampler: Sampler | None = None,
        seed: int | None = None,
        num_threads: int | None = 1,
    ) -> np.ndarray:
        """Draw ``n`` new examples, shape ``(n,) + data_shape``.

        Parameters
        ----------
        n : int
        steps : int, optional
            Denoising steps, at most ``T``. ``None`` or ``T``: ancestral sampling
            through :meth:`DDPM.model` (``x_T ~ N(0, I)``, then each
            ``x_{t-1} | x_t``, and ``x_0`` from the decoder); fewer: the
            deterministic DDIM sampler (Song et al. 2021, eta = 0) on ``steps``
            evenly spaced timesteps, which returns the final prediction of
            ``x_0``; with ``decoder="discretized"`` the predictions are clipped
            to ``[-1, 1]`` at every step and the result is rounded to the
            nearest of the ``num_levels`` grey levels (no draw from the
            discretised decoder); with the Gaussian decoder it is neither
            clipped nor rounded.
        sampler : {"ancestral", "ddim"}, optional
            Force a sampler (DDIM with ``steps=T`` is allowed).
        seed : int, optional
            Defaults to the fit's seed, so repeated calls agree; the global RNG
            state is left as it was.
        num_threads : int or None, default 1
            Torch intra-op threads while sampling (``None`` leaves torch's setting).
        """
        n = check_int(n, "n", minimum=1)
        steps, sampler = self._sampling_steps(steps, sampler)
        out, _ = self._run(n, steps, sampler, self._generator_seed(seed), (), num_threads)
        return out.cpu().numpy()

    def trajectory(
        self,
        n: int,
        *,
        steps: int | None = None,
        sampler: Sampler | None = None,
        num_frames: int = 6,
        seed: int | None = None,
        num_threads: int | None = 1,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The denoising path of ``n`` examples at ``num_frames`` timesteps from ``T`` to 0.

        The timesteps are those the sampler visits whose log signal-to-noise
        ratio :math:`\\log(\\bar\\alpha_t / (1 - \\bar\\alpha_t))` is closest to
        ``num_frames - 1`` evenly spaced levels from step ``T``'s up to (not
        including) step 1's, then ``x_0`` (fewer frames when two levels pick the
        same step).

        Returns
        -------
        timesteps : numpy.ndarray
            Shape ``(num_frames,)``, decreasing, ending with 0.
        frames : numpy.ndarray
            Shape ``(num_frames, n) + data_shape``: ``x_t`` at each timestep.
        """
        n = check_int(n, "n", minimum=1)
        num_frames = check_int(num_frames, "num_frames", minimum=2)
        steps, sampler = self._sampling_steps(steps, sampler)
        T = self.ddpm.timesteps
        grid = ddim_timesteps(T, steps) if sampler == "ddim" else np.arange(1, T + 1)
        # frames among the timesteps the sampler visits (x_0 added at the end), spaced
        # evenly in log SNR_t = log(alpha_bar_t / (1 - alpha_bar_t)) so that they show
        # the change; the top level (x_1, next to x_0) is left out
        ab = (
            cast(torch.Tensor, self.ddpm.diffusion.alphas_cumprod)
            .cpu()[torch.as_tensor(grid)]
            .numpy()
        )
        log_snr = np.log(ab) - np.log1p(-ab)
        levels = np.linspace(log_snr[-1], log_snr[0], num_frames)[:-1]
        pick = np.unique(np.abs(log_snr[None, :] - levels[:, None]).argmin(1))[::-1]
        frames = [int(grid[i]) for i in pick]
        out, recorded = self._run(
            n, steps, sampler, self._generator_seed(seed), frames, num_threads
        )
        ts = np.array(frames + [0])
        return ts, np.stack([recorded[t].cpu().numpy() for t in frames] + [out.cpu().numpy()])

    def evaluate(
        self,
        x,
        *,
        num_draws: int = 2,
        batch_size: int = 1024,
        seed: int | None = None,
        num_threads: int | None = 1,
    ) -> DDPMEvaluation:
        """Negative ELBO of ``x`` in nats per example and bits per dimension.

        Every example gets ``num_draws`` independent draws of the whole bound
        (:meth:`DDPM.full_bound`, ``T`` network calls per batch and draw); the
        Monte Carlo standard error comes from the spread of the draws within
        each example (with ``num_draws=1``, from the spread across examples,
        which also counts their differences and is conservative).

        The bound is in the data's own units: with standardisation it includes the
        Jacobian ``sum log sd`` (:attr:`DDPM.log_scale_sum`).

        Parameters
        ----------
        x : array_like
            Shape ``(N,) + data_shape``, in the units of the training data.
        num_draws : int, default 2
        batch_size : int, default 1024
        seed : int, optional
            Defaults to the fit's seed.
        num_threads : int or None, default 1
            Torch intra-op threads.
        """
        ddpm = self.ddpm
        x = ddpm.check_data(x, "x").to(ddpm.device)
        num_draws = check_int(num_draws, "num_draws", minimum=1)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        T = ddpm.timesteps
        ddpm.denoiser.eval()
        values = np.empty((num_draws, x.shape[0]))
        terms = np.zeros(T + 1)
        with pyro_section(seed=None, num_threads=num_threads), torch.no_grad():
            torch.manual_seed(self._generator_seed(seed))
            for r in range(num_draws):
                for lo in range(0, x.shape[0], batch_size):
                    batch = x[lo : lo + batch_size]
                    prior = ddpm.prior_term(batch).double()
                    total = prior.clone()
                    terms[T] += prior.sum().item()
                    for t in range(1, T + 1):
                        term = ddpm.step_term(batch, t).double()
                        terms[t - 1] += term.sum().item()
                        total += term
                    values[r, lo : lo + batch.shape[0]] = total.cpu().numpy()
        n = x.shape[0]
        per_example = values.mean(0)
        nats = float(per_example.mean())
        if num_draws > 1:
            # variance of the mean over examples of per-example means of the draws
            se = float(np.sqrt(values.var(0, ddof=1).sum() / num_draws) / n)
        else:
            se = float(per_example.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        return DDPMEvaluation(
            nats=nats,
            nats_se=se,
            bits_per_dim=bits_per_dim(nats, ddpm.num_dims),
            bits_per_dim_se=bits_per_dim(se, ddpm.num_dims),
            per_example=per_example,
            terms=terms / (n * num_draws),
            num_draws=num_draws,
        )

    # ------------------------------------------------------------ plots
    def plot_samples(
        self,
        n: int = 1000,
        *,
        steps: int | None = None,
        seed: int | None = None,
        data=None,
        ax=None,
    ):
        """Scatter of ``n`` samples (2-D data, over ``data`` if given) or a grid of images."""
        from probmodels.plots.ddpm import plot_ddpm_samples

        return plot_ddpm_samples(self, n, steps=steps, seed=seed, data=data, ax=ax)

    def plot_trajectory(
        self,
        n: int = 500,
        *,
        steps: int | None = None,
        num_frames: int = 6,
        seed: int | None = None,
        ax=None,
    ):
        """The reverse process from ``x_T`` to ``x_0`` at ``num_frames`` timesteps, left to right."""
        from probmodels.plots.ddpm import plot_ddpm_trajectory

        return plot_ddpm_trajectory(self, n, steps=steps, num_frames=num_frames, seed=seed, ax=ax)

    def plot_bits_per_timestep(
        self,
        x=None,
        *,
        evaluation: DDPMEvaluation | None = None,
        num_draws: int = 1,
        seed: int | None = None,
        ax=None,
    ):
        """Each timestep's term of the bound on ``x`` in bits per dimension; the terms add
        up to ``evaluate(x).bits_per_dim``
        (:func:`probmodels.plots.ddpm.plot_bits_per_timestep`); returns the Axes."""
        from probmodels.plots.ddpm import plot_bits_per_timestep

        return plot_bits_per_timestep(
            self, x, evaluation=evaluation, num_draws=num_draws, seed=seed, ax=ax
        )

    # ------------------------------------------------------------ persistence
    def _state(self):
        ddpm = self.ddpm
        if ddpm.config["custom_denoiser"]:
            raise ValueError(
                "this fit uses a custom denoiser, which save() cannot rebuild; save its "
                "state_dict with torch.save(fit.denoiser.state_dict(), path) instead."
            )
        arrays = {
            f"param/{k}": v.detach().cpu().numpy() for k, v in ddpm.denoiser.state_dict().items()
        }
        arrays["data_loc"], arrays["data_scale"] = ddpm.data_loc.numpy(), ddpm.data_scale.numpy()
        return {"config": ddpm.config}, arrays

    @classmethod
    def _from_state(cls, common, meta, arrays):
        config = dict(meta["config"])
        config.pop("custom_denoiser")
        config.setdefault("num_groups", 8)  # files saved before num_groups was an argument
        if "schedule" in config:  # files saved before the noise schedule had its own name
            config["noise_schedule"] = config.pop("schedule")
        config.setdefault("standardize", False)  # files saved before standardisation
        saved = {k[len("param/") :]: v for k, v in arrays.items() if k.startswith("param/")}
        shape = tuple(config.pop("data_shape"))
        # built only once its denoiser matches the saved weights (checked without allocating)
        ddpm = build_like_saved(lambda: DDPM(shape, **config), lambda d: d.denoiser, saved)
        # load_state_dict converts the saved arrays to the parameters' dtype (torch's
        # default dtype when loading), so a float32 file loads into a float64 session
        state = {k: torch.as_tensor(v) for k, v in saved.items()}
        ddpm.denoiser.load_state_dict(state)
        ddpm.denoiser.eval()
        if "data_loc" in arrays:
            shape = ddpm.data_loc.shape
            ddpm.data_loc = torch.as_tensor(np.array(arrays["data_loc"], dtype=np.float64)).reshape(
                shape
            )
            ddpm.data_scale = torch.as_tensor(
                np.array(arrays["data_scale"], dtype=np.float64)
            ).reshape(shape)
        return cls(ddpm=ddpm, **common)
