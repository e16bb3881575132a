"""The options of every fit, declared once: frozen, ``Literal``-typed, checked on construction.

A model declares the defaults of each method it offers as an instance of one
of these classes (or of a subclass that adds the model's own options, e.g. the
AR's ``guide``); :func:`configure` lays the user's keyword options over them.
An unknown option name raises ``TypeError`` listing the accepted ones; a
value of the wrong type or outside its range raises when the configuration is
built, before any work starts.

- :class:`SVIConfig`: variational fits (``method="svi"``): Adam, a learning-rate
  schedule, ELBO particles, the number of posterior draws kept.
- :class:`NUTSConfig`: Pyro's NUTS (``method="nuts"``): draws, warm-up, chains
  (run in parallel processes when the machine has the cores), JIT, the step-size
  target and the tree depth.
- :class:`TrainConfig`: the neural models' training loop (VAE, DDPM): steps,
  minibatches, AdamW, schedule, EMA, validation and early stopping, checkpoints.

Training length is ``steps`` (optimiser steps) everywhere, and the learning-rate
schedule is one of :data:`SCHEDULES` everywhere.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

from probmodels._validation import _did_you_mean, check_bool, check_choice, check_float, check_int

__all__ = [
    "CHAIN_METHODS",
    "ChainMethod",
    "NUTSConfig",
    "SCHEDULES",
    "SVIConfig",
    "Schedule",
    "TrainConfig",
    "configure",
]

Schedule = Literal["constant", "cosine", "exponential", "onecycle"]
#: learning-rate schedules of every optimiser in the package
SCHEDULES: tuple[str, ...] = get_args(Schedule)
ChainMethod = Literal["parallel", "sequential"]
CHAIN_METHODS: tuple[str, ...] = get_args(ChainMethod)

#: NUTS trees deeper than this take 2**20 leapfrog steps a draw: a sign of a bad geometry
_MAX_TREE_DEPTH = 20
#: more draws than this in one array is a request for gigabytes (1e8 draws x 8 bytes)
_MAX_DRAWS = 100_000_000

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")


#: fields of a training configuration that the fit's own arguments set, not options:
#: field -> the fit argument that sets it
RUN_FIELDS = {"cpu_threads": "num_threads", "device": "device", "progress": "progress"}


#: options of earlier versions: the new name and what it means (see CHANGELOG.md)
RENAMED = {
    "epochs": (
        "steps",
        "training length is counted in optimizer steps (one epoch is "
        "about len(x) / batch_size of them)",
    ),
}


def configure(defaults: C, options: Mapping[str, Any], method: str) -> C:
    """``defaults`` with the user's ``options`` laid over them (checked).

    Raises
    ------
    TypeError
        For an option name the configuration does not have (another method's
        option, or a misspelling), listing the accepted ones; for a value of
        the wrong type.
    ValueError
        For a value outside its range.
    """
    names = [f.name for f in dataclasses.fields(defaults) if f.name not in RUN_FIELDS]
    given = sorted(set(options) & set(RUN_FIELDS))
    if given:
        raise TypeError(
            f"{given[0]!r} is not a training option here: every fit takes "
            f"{RUN_FIELDS[given[0]]}= as its own argument (fit(x, seed=..., progress=..., "
            f"num_threads=..., device=...))."
        )
    unknown = sorted(set(options) - set(names))
    renamed = [k for k in unknown if k in RENAMED and RENAMED[k][0] in names]
    if renamed:
        new, why = RENAMED[renamed[0]]
        raise TypeError(f"option {renamed[0]!r} is now {new!r}: {why}.")
    if unknown:
        raise TypeError(
            f"unknown option(s) {unknown} for method={method!r}; accepted: {sorted(names)}."
            f"{_did_you_mean(unknown[0], names)}"
        )
    return dataclasses.replace(defaults, **options)


def _check_schedule_name(schedule: Any) -> None:
    if schedule in ("linear", "quadratic", "sigmoid"):
        raise ValueError(
            f"schedule={schedule!r}: schedule is the learning-rate schedule, one of "
            f"{', '.join(map(repr, SCHEDULES))}; a DDPM's noise schedule is set when it is "
            f"built, DDPM(..., noise_schedule={schedule!r})."
        )
    check_choice(schedule, "schedule", SCHEDULES)


def _check_schedule(schedule: Any, lr_decay: Any) -> None:
    _check_schedule_name(schedule)
    check_float(lr_decay, "lr_decay", positive=True, maximum=1.0)


@dataclass(frozen=True)
class SVIConfig:
    """Options of a variational fit.

    Attributes
    ----------
    steps : int
        Most optimisation steps (a fit may stop earlier once converged).
    lr : float
        Adam's learning rate (the peak for ``"onecycle"``).
    schedule : {"constant", "cosine", "exponential", "onecycle"}
        Learning rate over the steps; the decaying ones end at ``lr * lr_decay``.
    lr_decay : float
        Final fraction of ``lr`` for ``"cosine"`` and ``"exponential"``, in (0, 1].
    num_particles : int
        ELBO particles per step (vectorised).
    num_samples : int
        Posterior draws kept after the fit.
    """

    steps: int = 1000
    lr: float = 0.01
    schedule: Schedule = "constant"
    lr_decay: float = 0.1
    num_particles: int = 1
    num_samples: int = 4000

    def __post_init__(self):
        check_int(self.steps, "steps", minimum=0)
        check_float(self.lr, "lr", positive=True, maximum=10.0)
        _check_schedule(self.schedule, self.lr_decay)
        check_int(self.num_particles, "num_particles", minimum=1)
        if check_int(self.num_samples, "num_samples", minimum=10) > _MAX_DRAWS:
            raise ValueError(
                f"num_samples must be at most {_MAX_DRAWS:,}, got {self.num_samples:,}."
            )


@dataclass(frozen=True)
class NUTSConfig:
    """Options of Pyro's NUTS.

    Attributes
    ----------
    num_samples, warmup_steps : int
        Kept draws and adaptation steps per chain.
    num_chains : int
        Independent chains (2 by default, so that R-hat is defined).
    chain_method : {"parallel", "sequential"}
        ``"parallel"`` runs chains in separate processes when the machine has
        more than one core (the first chain in this process); ``"sequential"``
        one after another here. The draws are the same either way.
    jit_compile : bool
        Compile the potential energy with the PyTorch JIT (about twice as fast).
    target_accept_prob : float
        Step-size adaptation target, in (0, 1).
    max_tree_depth : int
        Largest NUTS tree depth, 1 to 20.
    """

    num_samples: int = 1000
    warmup_steps: int = 1000
    num_chains: int = 2
    chain_method: ChainMethod = "parallel"
    jit_compile: bool = True
    target_accept_prob: float = 0.8
    max_tree_depth: int = 10

    def __post_init__(self):
        check_int(self.num_samples, "num_samples", minimum=1)
        check_int(self.warmup_steps, "warmup_steps", minimum=0)
        check_int(self.num_chains, "num_chains", minimum=1)
        if self.num_samples * self.num_chains > _MAX_DRAWS:
            raise ValueError(
                f"num_samples * num_chains must be at most {_MAX_DRAWS:,}, got "
                f"{self.num_samples * self.num_chains:,}."
            )
        check_choice(self.chain_method, "chain_method", CHAIN_METHODS)
        check_bool(self.jit_compile, "jit_compile")
        p = check_float(self.target_accept_prob, "target_accept_prob", positive=True)
        if p >= 1.0:
            raise ValueError(
                f"target_accept_prob must be in (0, 1), got {p}; a target of 1 asks for a step "
                f"size of 0. Pass e.g. target_accept_prob=0.95 for a harder posterior."
            )
        d = check_int(self.max_tree_depth, "max_tree_depth", minimum=1)
        if d > _MAX_TREE_DEPTH:
            raise ValueError(
                f"max_tree_depth must be at most {_MAX_TREE_DEPTH} (2**{_MAX_TREE_DEPTH} "
                f"leapfrog steps a draw), got {d}."
            )


#: options that may differ between a training run and its resumption (they do not
#: change the result)
RESUME_FREE = ("progress", "checkpoint", "checkpoint_every", "device", "cpu_threads")


@dataclass(frozen=True)
class TrainConfig:
    """Options of :func:`probmodels.infer.train.train`.

    Attributes
    ----------
    steps : int, default 1000
        Optimiser steps, rounded up to whole passes over the training set
        (epochs; early stopping may end sooner).
    batch_size : int, default 64
        Examples per optimiser step (the global batch in a distributed run).
    lr : float, default 1e-3
        AdamW learning rate (the maximum for ``"onecycle"``).
    weight_decay : float, default 0.0
        AdamW's decoupled weight decay.
    schedule : {"constant", "cosine", "exponential", "onecycle"}, default "cosine"
        Learning rate per step; ``"cosine"`` anneals to ``lr * lr_decay`` (0 by
        default), ``"exponential"`` decays to ``lr * lr_decay``, ``"onecycle"``
        is torch's ``OneCycleLR`` with maximum ``lr``.
    lr_decay : float or None, default None
        Final fraction of ``lr`` for the decaying schedules (``None``: 0 for
        cosine, 0.1 for exponential).
    grad_clip : float or None, default None
        Clip the gradient's global norm to this value.
    validation : float or None, default None
        Fraction in (0, 1) of the examples held out for validation and early stopping.
    patience : int or None, default None
        Stop after this many validation checks (one per epoch) without a better
        validation loss (needs ``validation``); ``None`` runs every step and still
        restores the best weights.
    ema_decay : float or None, default None
        Decay ``d`` in [0, 1) of an exponential moving average of the parameters,
        used for validation and as the final weights.
    device : str, torch.device or None, default None
        ``None``: ``"cuda:LOCAL_RANK"`` in an NCCL process group, else ``"cpu"``.
    progress : bool, default True
        Progress bar with the running loss (rank 0 only).
    checkpoint : str, Path or None, default None
        File to write checkpoints to.
    checkpoint_every : int, default 1
        Epochs between checkpoints (the last epoch is always written).
    cpu_threads : int or None, default 1
        Torch intra-op threads while training on the CPU (restored afterwards).
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: Schedule = "cosine"
    lr_decay: float | None = None
    grad_clip: float | None = None
    validation: float | None = None
    patience: int | None = None
    ema_decay: float | None = None
    device: Any = None
    progress: bool = True
    checkpoint: str | os.PathLike | None = None
    checkpoint_every: int = 1
    cpu_threads: int | None = 1

    def __post_init__(self):
        check_int(self.steps, "steps", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_float(self.lr, "lr", positive=True, maximum=10.0)
        check_float(self.weight_decay, "weight_decay", minimum=0.0)
        _check_schedule_name(self.schedule)
        if self.lr_decay is not None:
            check_float(self.lr_decay, "lr_decay", minimum=0.0, maximum=1.0)
        if self.grad_clip is not None:
            check_float(self.grad_clip, "grad_clip", positive=True)
        if self.validation is not None:
            v = check_float(self.validation, "validation", positive=True)
            if v >= 1.0:
                raise ValueError(
                    f"validation must be None or a fraction in (0, 1) of the examples to hold "
                    f"out, got {v}. Pass e.g. validation=0.1."
                )
        if self.patience is not None:
            check_int(self.patience, "patience", minimum=1)
            if self.validation is None:
                raise ValueError(
                    f"patience={self.patience} needs a validation set to watch, got "
                    f"validation=None. Pass validation=0.1 as well, or patience=None."
                )
        if self.ema_decay is not None:
            check_float(self.ema_decay, "ema_decay", minimum=0.0)
            if self.ema_decay >= 1.0:
                raise ValueError(
                    f"ema_decay must be in [0, 1) or None, got {self.ema_decay}. "
                    f"Pass e.g. ema_decay=0.999, or None to switch the average off."
                )
        check_bool(self.progress, "progress")
        check_int(self.checkpoint_every, "checkpoint_every", minimum=1)
        if self.cpu_threads is not None:
            check_int(self.cpu_threads, "cpu_threads", minimum=1)

    def resume_key(self) -> dict[str, Any]:
        """The options a resumed run must share with the run that wrote the checkpoint."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in RESUME_FREE}
