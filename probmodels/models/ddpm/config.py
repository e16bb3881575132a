"""The DDPM's training configuration and the checks of its options and data."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch

from probmodels._diffusion import TIMESTEP_SAMPLINGS, WEIGHTINGS, TimestepSampling, Weighting
from probmodels._validation import check_choice, check_float, check_int
from probmodels.infer.config import Schedule as LRSchedule
from probmodels.infer.config import TrainConfig

__all__ = [
    "DDPMTrainConfig",
    "DECODERS",
    "Decoder",
    "MAX_TIMESTEPS",
    "OBJECTIVES",
    "Objective",
    "check_unet_widths",
    "warn_unstandardized",
]

Decoder = Literal["gaussian", "discretized"]
DECODERS: tuple[str, ...] = get_args(Decoder)
Objective = Literal["simple", "elbo", "chain"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)


#: the longest chain accepted (DDPMs use 1,000 steps; the schedules are arrays of this length)
MAX_TIMESTEPS = 100_000


@dataclass(frozen=True)
class DDPMTrainConfig(TrainConfig):
    r""":class:`~probmodels.infer.config.TrainConfig` with the DDPM's defaults and its objective.

    ``objective``: ``"simple"`` (default), Ho et al.'s :math:`L_\text{simple}` (eq. 14);
    ``"elbo"``, the unbiased one-timestep estimate of the negative ELBO
    (:meth:`DDPM.sampled_bound`, per example); ``"chain"``, Pyro's
    ``TraceMeanField_ELBO`` on the whole chain (``T`` network calls a step; for
    small ``T`` only). Defaults: 7,000 steps of batches of 512, AdamW with a
    one-cycle rate peaking at 2e-3, gradients clipped to 1, EMA 0.995 of the
    weights (the plain PyTorch recipe of shared/NOTES.md plus EMA).

    ``loss_weighting``: ``"none"`` (default) or ``"min_snr"``, Min-SNR-:math:`\gamma`
    weights with :math:`\gamma` = ``snr_gamma`` (5) for ``objective="simple"``
    (:meth:`probmodels._diffusion.Diffusion.loss_weight`). ``timestep_sampling``:
    ``"stratified"`` (default), one timestep per stratum of the chain in each batch,
    or ``"uniform"``, independent draws (:func:`probmodels._diffusion.sample_timesteps`);
    each timestep is uniform on ``1..T`` either way, so both objectives keep their
    expectations.
    """

    steps: int = 7000
    batch_size: int = 512
    lr: float = 2e-3
    schedule: LRSchedule = "onecycle"
    ema_decay: float | None = 0.995
    grad_clip: float | None = 1.0
    checkpoint_every: int = 50
    objective: Objective = "simple"
    loss_weighting: Weighting = "none"
    snr_gamma: float = 5.0
    timestep_sampling: TimestepSampling = "stratified"

    def __post_init__(self):
        super().__post_init__()
        check_choice(self.objective, "objective", OBJECTIVES)
        check_choice(self.loss_weighting, "loss_weighting", WEIGHTINGS)
        check_float(self.snr_gamma, "snr_gamma", positive=True)
        check_choice(self.timestep_sampling, "timestep_sampling", TIMESTEP_SAMPLINGS)
        if self.loss_weighting != "none" and self.objective != "simple":
            raise ValueError(
                f"loss_weighting={self.loss_weighting!r} reweights the squared error of "
                f"objective='simple'; objective={self.objective!r} is the bound itself and "
                f"takes no weighting. Pass loss_weighting='none', or objective='simple'."
            )


def warn_unstandardized(x: torch.Tensor, decoder: str) -> None:
    """Continuous data the chain is not standardising should be near mean 0, sd 1."""
    if decoder != "gaussian":
        return
    flat = x.double().reshape(x.shape[0], -1)
    mean, sd = flat.mean(0), flat.std(0)
    if bool((mean.abs() > 3.0).any() or (sd > 5.0).any() or (sd < 0.2).any()):
        warnings.warn(
            f"standardization check: the data are far from standardised (coordinate means "
            f"{mean.min():.3g}..{mean.max():.3g}, sds {sd.min():.3g}..{sd.max():.3g}) and "
            f"standardize=False; the noise schedule assumes unit scale, so samples will miss "
            f"the data. Use DDPM(..., standardize=True) or standardise the data yourself.",
            UserWarning,
            stacklevel=3,
        )


def check_unet_widths(base_channels, channel_mults, num_groups: int) -> None:
    """Check that the default UNet's group norms can split every stage width into ``num_groups``."""
    base = check_int(base_channels, "base_channels", minimum=1)
    if (
        isinstance(channel_mults, (str, bytes))
        or not isinstance(channel_mults, Sequence)
        or not channel_mults
    ):
        raise ValueError(
            f"channel_mults must be a non-empty sequence of positive ints, e.g. (1, 2); "
            f"got {channel_mults!r}."
        )
    mults = [check_int(m, f"channel_mults[{i}]", minimum=1) for i, m in enumerate(channel_mults)]
    widths = [base * m for m in mults]
    bad = [w for w in widths if w % num_groups]
    if bad:
        g = math.gcd(*widths)
        groups = max(d for d in range(1, num_groups + 1) if g % d == 0)
        base_fix = -(-base // num_groups) * num_groups
        raise ValueError(
            f"DDPM: the default UNet's stage widths base_channels * channel_mults = {widths} "
            f"(base_channels={base}, channel_mults={tuple(mults)}) must each be divisible by "
            f"num_groups={num_groups}, the groups of its group normalisation; {bad} are not. "
            f"Pass DDPM(..., base_channels={base_fix}) (a multiple of num_groups) or "
            f"DDPM(..., num_groups={groups}) (a divisor of every width)."
        )
