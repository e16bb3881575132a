r"""The training loop of the neural models (VAE, DDPM): minibatches, schedules, EMA,
early stopping, checkpoints, data parallelism.

The interface every neural model codes against::

    config = TrainConfig(epochs=200, batch_size=64, lr=1e-3, schedule="cosine",
                         validation=0.1, patience=30)
    run = train(loss_fn, module, data, config, seed=0)        # -> TrainRun

- ``loss_fn(batch) -> scalar tensor``: the **mean loss per example** of
  ``batch`` (a slice ``data[idx]`` along the first axis, already on the
  device), differentiable in ``module``'s parameters. For a Pyro model use
  :class:`ELBOLoss`, which is ``Trace_ELBO().differentiable_loss(model, guide,
  batch, num_data=N) / N`` with the model's data plate of size ``N`` subsampled
  to the batch, so that ``N`` times the loss is an unbiased estimate of the
  full-data negative ELBO.
- ``module``: the ``torch.nn.Module`` holding every trained parameter and
  buffer (batch-norm running statistics included). The optimiser is AdamW over
  ``module.parameters()``; Pyro's parameter store is not used for training.
- ``data``: a tensor whose first axis indexes examples (moved to the device
  once; the data sets here are small).
- ``val_loss_fn``: the validation loss (default ``loss_fn``), evaluated in
  ``eval()`` mode without gradients, with the same fixed random numbers at every
  epoch (common random numbers make epochs comparable despite a stochastic loss).

What one call does, in order:

1. Seeds Python, numpy and torch (``pyro.set_rng_seed``) with ``seed`` (rank
   ``r > 0`` of a distributed run: a seed derived from ``(seed, r)``) and a
   separate ``torch.Generator`` for the data order, seeded with ``seed`` on every rank.
   The caller's global random states are restored when ``train`` returns (or
   raises), so a fit does not reseed the user's own draws.
2. With ``validation = f``, holds out ``max(1, round(f N))`` examples chosen by
   that generator; the rest is the training set.
3. Each epoch visits the training set in a fresh random order, in batches of
   ``batch_size`` (the last one may be smaller; with batch norm in ``module``
   a last batch of one example joins the batch before it, as batch norm cannot
   normalise one example). One optimiser step per batch,
   the learning rate following ``schedule`` per step (``"cosine"`` anneals to 0
   over ``epochs * batches_per_epoch`` steps, ``"onecycle"`` is torch's
   ``OneCycleLR`` with maximum ``lr``), gradients clipped to norm
   ``grad_clip``, and an exponential moving average (EMA) of the parameters
   with ``ema_decay``: :math:`\bar\theta \leftarrow d \bar\theta + (1 - d)\theta`
   (the floating-point buffers too, e.g. batch norm's running statistics, so
   the averaged weights come with statistics gathered near them).
4. A loss that is NaN or infinite stops the run with
   :class:`~probmodels.infer.NonFiniteLossError` naming the epoch and step (and,
   for an :class:`ELBOLoss`, the first Pyro site that is not finite).
5. After each epoch: the validation loss (with the EMA weights when EMA is on);
   the best weights so far are kept, and the run stops early after ``patience``
   epochs without improvement. A checkpoint is written every
   ``checkpoint_every`` epochs.
6. Training on the CPU uses ``cpu_threads`` torch threads (default 1; see
   :class:`TrainConfig`), restored afterwards.
7. At the end the module holds the best-validation weights (with validation),
   else the EMA weights (with EMA), else the last iterate; it is left in
   ``eval()`` mode.

**Checkpoints** (``torch.save``, read back with ``weights_only=True``: tensors,
numbers and strings only, no pickled objects) hold the module state (buffers
included), optimiser, scheduler, EMA, best weights, loss histories, the epoch
and step, and every random state (Python, numpy, torch CPU and CUDA, the data
generator; per rank in a distributed run). They are written at epoch ends,
atomically (temporary file then ``os.replace``). ``train(..., resume=path)``
with the same configuration and seed continues from the checkpoint and ends
with exactly the parameters of the run that was not interrupted. A checkpoint
records what the run depends on besides ``TrainConfig``: the data (shape, dtype
and a BLAKE2 hash of its bytes) and the caller's ``fingerprint`` (the models
pass their own configuration); resuming with anything else is refused. The
checkpoint path is checked before the first epoch: its folder must exist, and
an existing file there is never replaced unless it is the file being resumed
(so neither a user's file nor an earlier run's checkpoint is lost).

**Data parallel.** When ``torch.distributed`` is initialised (``torchrun`` or
``init_process_group`` by the caller; gloo on CPU, NCCL on GPU) every rank
draws the same global batches and takes a contiguous ``1/world_size`` shard of
each; the per-example gradients are summed over ranks by one ``all_reduce``
per step and divided by the global batch size, which is the gradient of the
mean loss over the global batch, as ``DistributedDataParallel`` computes
(done by hand so that ``loss_fn`` may reach the module in any way, as Pyro's
ELBO does). Parameters and buffers are broadcast from rank 0 at the start and
buffers again after each epoch (``DistributedDataParallel``'s rule). Only rank
0 shows progress and writes checkpoints. With a deterministic loss the result
equals one process trained on the same global batches.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, get_args

import numpy as np
import pyro
import torch
import torch.distributed as dist
from pyro.infer import Trace_ELBO

from probmodels._files import write_atomic
from probmodels._validation import check_choice, check_float, check_int, check_seed
from probmodels.infer.runtime import chain_seeds, progress_bar as _progress_bar
from probmodels.infer.svi import NonFiniteLossError, first_nonfinite_site as _first_nonfinite_site

__all__ = [
    "ELBOLoss",
    "LR_SCHEDULES",
    "LRSchedule",
    "TrainConfig",
    "TrainRun",
    "resolve_device",
    "train",
]

LRSchedule = Literal["constant", "cosine", "onecycle"]
LR_SCHEDULES: tuple[str, ...] = get_args(LRSchedule)

CHECKPOINT_FORMAT = 2  # 2: data and model fingerprints; EMA of float buffers

#: options that may differ between a run and its resumption (they do not change the result)
_RESUME_FREE = ("progress", "checkpoint", "checkpoint_every", "device", "cpu_threads")


@dataclass(frozen=True)
class TrainConfig:
    """Options of :func:`train` (validated on construction).

    Attributes
    ----------
    epochs : int, default 100
        Passes over the training set (upper bound with early stopping).
    batch_size : int, default 64
        Examples per optimiser step (the global batch in a distributed run).
    lr : float, default 1e-3
        AdamW learning rate (the maximum for ``"onecycle"``).
    weight_decay : float, default 0.0
        AdamW's decoupled weight decay.
    schedule : {"constant", "cosine", "onecycle"}, default "cosine"
        Learning rate per step (see the module docstring).
    grad_clip : float or None, default None
        Clip the gradient's global norm to this value.
    validation : float or None, default None
        Fraction in (0, 1) of the examples held out for validation and early stopping.
    patience : int or None, default None
        Stop after this many epochs without a better validation loss (needs
        ``validation``); ``None`` runs every epoch and still restores the best weights.
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
        torch intra-op threads while training on the CPU (restored afterwards);
        ``None`` leaves torch's setting. One thread is the default because the
        networks here are small: on the 2-core test machine the digits VAE ran
        14 times slower with torch's default of 2 threads (thread hand-offs cost
        more than the matrix products); raise it for wide networks.
    """

    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: LRSchedule = "cosine"
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
        check_int(self.epochs, "epochs", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_float(self.lr, "lr", positive=True)
        check_float(self.weight_decay, "weight_decay", minimum=0.0)
        check_choice(self.schedule, "schedule", LR_SCHEDULES)
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
        if not isinstance(self.progress, bool):
            raise TypeError(f"progress must be True or False, got {self.progress!r}.")
        check_int(self.checkpoint_every, "checkpoint_every", minimum=1)
        if self.cpu_threads is not None:
            check_int(self.cpu_threads, "cpu_threads", minimum=1)

    def _resume_key(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in _RESUME_FREE}


@dataclass
class TrainRun:
    """What :func:`train` did.

    Attributes
    ----------
    train_loss : numpy.ndarray
        Mean training loss per example in each epoch, shape ``(epochs_run,)``.
    val_loss : numpy.ndarray
        Validation loss after each epoch, shape ``(epochs_run,)``; empty without validation.
    best_epoch : int
        Index into the histories of the epoch whose weights the module holds
        (the best validation loss; the last epoch without validation).
    seconds : float
        Wall-clock time of the training loop (resumed runs: this call only).
    stopped_early : bool
        Whether ``patience`` ended the run before ``epochs``.
    steps : int
        Optimiser steps taken in all (before and after a resumption).
    num_train, num_val : int
        Examples used for training and held out for validation.
    world_size : int
        Processes in the data-parallel group (1 without ``torch.distributed``).
    resumed_from_epoch : int or None
        Epochs already done in the checkpoint this run resumed from.
    """

    train_loss: np.ndarray
    val_loss: np.ndarray
    best_epoch: int
    seconds: float
    stopped_early: bool
    steps: int
    num_train: int = 0
    num_val: int = 0
    world_size: int = 1
    resumed_from_epoch: int | None = None

    @property
    def epochs(self) -> int:
        """Epochs completed."""
        return int(len(self.train_loss))


class ELBOLoss:
    """Mean negative ELBO per example of a Pyro model/guide pair, for :func:`train`.

    ``loss(batch) = elbo.differentiable_loss(model, guide, batch, num_data=N) / N``.
    The model and guide must put ``batch`` in a plate of size ``num_data`` with
    ``subsample_size=len(batch)``, so Pyro scales each term by ``N / len(batch)``
    and the value is ``-(1 / len(batch)) sum_i ELBO_i``; ``N`` times it is an
    unbiased estimate of the full-data negative ELBO.

    Parameters
    ----------
    model, guide : callable
        Called as ``model(batch, num_data=N)``.
    num_data : int
        ``N``, the number of training examples.
    elbo : pyro.infer.ELBO, optional
        Default ``Trace_ELBO()``; e.g. ``TraceMeanField_ELBO()`` for analytic KL terms.
    validate : bool, default False
        Pyro's distribution argument checks during training (the data were
        checked once at the boundary; the per-step checks cost 10-20% here).
    """

    def __init__(self, model: Callable, guide: Callable, num_data: int, *,
                 elbo: pyro.infer.ELBO | None = None, validate: bool = False):
        self.model, self.guide = model, guide
        self.num_data = check_int(num_data, "num_data", minimum=1)
        self.elbo = elbo if elbo is not None else Trace_ELBO()
        self.validate = validate

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        with pyro.validation_enabled(self.validate):
            loss = self.elbo.differentiable_loss(self.model, self.guide, batch,
                                                 num_data=self.num_data)
        return loss / self.num_data

    def diagnose(self, batch: torch.Tensor) -> str:
        """Name the first site (guide, then model) whose value or log-density is not finite."""
        with pyro.validation_enabled(False):
            return _first_nonfinite_site(self.model, self.guide, (batch,), {"num_data": self.num_data})


# ------------------------------------------------------------------ helpers


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def resolve_device(device: Any = None) -> torch.device:
    """The torch device of ``TrainConfig.device`` (see there); checks CUDA is present."""
    distributed = dist.is_available() and dist.is_initialized()
    if device is None:
        if distributed and dist.get_backend() == "nccl":
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be None, 'cpu', 'cuda', 'cuda:K' or a torch.device, got {device!r} "
            f"({exc}). Pass device='cpu'."
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} asks for a GPU but torch.cuda.is_available() is False "
                f"(torch {torch.__version__}). Pass device='cpu' or install a CUDA build of torch."
            )
        if dev.index is None and distributed:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return dev


def _make_scheduler(opt, config: TrainConfig, total_steps: int):
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps, eta_min=0.0)
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total_steps)
    return None


def _rng_state(device: torch.device) -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_pos": int(pos), "numpy_has_gauss": int(has_gauss), "numpy_cached": float(cached),
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32),
                         state["numpy_pos"], state["numpy_has_gauss"], state["numpy_cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _clone_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _write_atomic(obj: Any, path: Path) -> None:
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def _load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"resume={str(path)!r} does not exist; pass the checkpoint= path of an earlier run."
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{path} is not a probmodels training checkpoint ({type(exc).__name__}: {exc}); "
            f"expected a file written by train(..., config=TrainConfig(checkpoint=...))."
        ) from exc
    if isinstance(ckpt, dict) and isinstance(ckpt.get("format"), int) and ckpt["format"] != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is a probmodels training checkpoint of format {ckpt['format']}; this version "
            f"reads format {CHECKPOINT_FORMAT} only. Start the run afresh (without resume=)."
        )
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not a probmodels training checkpoint of format {CHECKPOINT_FORMAT}; "
            f"expected a file written by train(..., config=TrainConfig(checkpoint=...))."
        )
    return ckpt


def _check_checkpoint_path(checkpoint: str | os.PathLike, resume: str | os.PathLike | None) -> None:
    """Fail before the first epoch, not after the last, and never replace a file unasked."""
    path = Path(checkpoint)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"checkpoint={str(path)!r}: the folder {str(path.parent)!r} does not exist. Create it "
            f"first (the checkpoint is written there at the end of epochs)."
        )
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint={str(path)!r} is a folder; pass a file path such as "
                                f"{str(path / 'run.pt')!r}.")
    if path.exists() and (resume is None or Path(resume).resolve() != path.resolve()):
        raise FileExistsError(
            f"checkpoint={str(path)!r} already exists and this run would replace it. To continue "
            f"that run pass resume={str(path)!r} as well; otherwise choose another path or delete "
            f"the file yourself."
        )


def _data_fingerprint(data: torch.Tensor) -> dict[str, Any]:
    flat = data.detach().cpu().contiguous()
    # the raw bytes, hashed in place (any dtype, bfloat16 included; no copy on the CPU)
    raw = flat.reshape(-1).view(torch.uint8).numpy()
    return {"shape": list(flat.shape), "dtype": str(flat.dtype).removeprefix("torch."),
            "blake2b": hashlib.blake2b(raw, digest_size=16).hexdigest()}


def _ema_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """What the EMA averages: the parameters and the floating-point buffers."""
    out = {name: p for name, p in module.named_parameters()}
    out.update({name: b for name, b in module.named_buffers() if b.is_floating_point()})
    return out


def _has_batch_norm(module: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())


# --------------------------------------------------------------------- train


def train(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    module: torch.nn.Module,
    data: torch.Tensor,
    config: TrainConfig,
    *,
    seed: int,
    resume: str | os.PathLike | None = None,
    val_loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    description: str = "train",
    fingerprint: Mapping[str, Any] | None = None,
) -> TrainRun:
    """Train ``module`` by minimising ``loss_fn`` over minibatches of ``data``.

    See the module docstring for what happens, in order.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(batch)``: the mean loss per example of ``batch``, a scalar tensor.
    module : torch.nn.Module
        Every trained parameter and buffer; moved to the device and trained in place.
    data : torch.Tensor
        Examples along the first axis, ``(data, ...)``.
    config : TrainConfig
        The options.
    seed : int
        Seeds the data order, the validation split and the loss's random numbers.
    resume : str or Path, optional
        A checkpoint written by an earlier run with the same configuration and seed.
    val_loss_fn : callable, optional
        The validation loss (default ``loss_fn``).
    description : str
        Label of the progress bar.
    fingerprint : mapping, optional
        What else the result depends on (a model's configuration: numbers,
        strings, lists), stored in checkpoints; ``resume`` refuses a checkpoint
        whose fingerprint differs.

    Returns
    -------
    TrainRun

    Raises
    ------
    NonFiniteLossError
        The loss became NaN or infinite (the message names epoch, step and site).
    ValueError
        Too few examples for the split, or a checkpoint from another configuration,
        other data or another fingerprint.
    FileExistsError, FileNotFoundError
        ``checkpoint`` would replace a file that is not being resumed, or its folder is missing.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}.")
    device = resolve_device(config.device)
    outer = _rng_state(device)  # the caller's random states, restored at the end
    try:
        return _train(loss_fn, module, data, config, seed=seed, resume=resume, val_loss_fn=val_loss_fn,
                      description=description, fingerprint=fingerprint, device=device)
    finally:
        _set_rng_state(outer, device)


def _train(loss_fn, module, data, config: TrainConfig, *, seed, resume, val_loss_fn, description,
           fingerprint, device: torch.device) -> TrainRun:
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
    seed = check_seed(seed)
    if seed is None:
        raise ValueError("train needs an explicit seed (an int); resolve None with infer.resolve_seed.")
    if not torch.is_tensor(data) or data.dim() < 1:
        raise TypeError(
            f"data must be a torch.Tensor with examples along the first axis, got "
            f"{type(data).__name__}. Convert it with torch.as_tensor(data)."
        )
    val_loss_fn = val_loss_fn or loss_fn
    rank, world = _dist_info()
    if config.checkpoint is not None:
        # only rank 0 writes, so only its file system counts (the folder may be local to
        # its node); the verdict is shared so that no rank waits for a failed one
        problem = None
        if rank == 0:
            try:
                _check_checkpoint_path(config.checkpoint, resume)
            except OSError as exc:
                problem = exc
        if world > 1:
            verdict = [problem]
            dist.broadcast_object_list(verdict, src=0)
            if verdict[0] is not None and problem is None:
                problem = type(verdict[0])(f"rank 0: {verdict[0]}")
        if problem is not None:
            raise problem
    fingerprints = None
    if config.checkpoint is not None or resume is not None:
        # a JSON round trip: plain lists, numbers and strings, comparable after torch.load
        caller = json.loads(json.dumps(dict(fingerprint or {}), default=repr, sort_keys=True))
        fingerprints = {"data": _data_fingerprint(data), "caller": caller}
    if world > 1 and device.type == "cuda":
        # NCCL's collectives on Python objects (all_gather_object, barrier) use the
        # current CUDA device; without this every rank would talk through cuda:0
        torch.cuda.set_device(device)
    module.to(device)
    data = data.to(device)
    params = [p for p in module.parameters() if p.requires_grad]
    if world > 1:
        # allocated once, so a rank with an empty shard still joins the all_reduce
        for p in params:
            p.grad = torch.zeros_like(p)

    # 1. seeds: data order shared by all ranks, loss noise per rank
    pyro.set_rng_seed(seed if rank == 0 else chain_seeds(seed, world)[rank])
    order_gen = torch.Generator().manual_seed(seed)
    # validation noise: the same numbers at every epoch
    val_seed = chain_seeds(seed, 2)[1]

    # 2. split
    n = int(data.shape[0])
    num_val = 0 if config.validation is None else max(1, int(round(config.validation * n)))
    if n - num_val < 1:
        raise ValueError(
            f"validation={config.validation} holds out {num_val} of {n} examples and leaves none "
            f"to train on. Pass validation=None or more data."
        )
    perm = torch.randperm(n, generator=order_gen)
    val_data = data[perm[:num_val].sort().values.to(device)] if num_val else None
    train_data = data[perm[num_val:].sort().values.to(device)] if num_val else data
    n_train = n - num_val
    batches_per_epoch = math.ceil(n_train / config.batch_size)
    if _has_batch_norm(module):
        if n_train == 1:
            raise ValueError(
                f"module has batch norm, which cannot normalise a batch of one example, and only "
                f"1 example is left to train on ({n} with validation={config.validation}). Pass more "
                f"data, or use a model without batch norm (norm='group' or None)."
            )
        if n_train % config.batch_size == 1 and batches_per_epoch > 1:
            batches_per_epoch -= 1  # the last example joins the last full batch
    total_steps = config.epochs * batches_per_epoch

    if world > 1:
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)

    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = _make_scheduler(opt, config, total_steps)
    ema = None
    # the averaged tensors, looked up once (training and load_state_dict update them in place)
    averaged = _ema_tensors(module)
    if config.ema_decay is not None:
        ema = {name: t.detach().clone() for name, t in averaged.items()}

    train_hist: list[float] = []
    val_hist: list[float] = []
    best = {"loss": math.inf, "epoch": -1, "state": None}
    epoch0, step, since_best, stopped_early, resumed_from = 0, 0, 0, False, None

    if resume is not None:
        ckpt = _load_checkpoint(resume)
        if ckpt["config"] != config._resume_key() or ckpt["seed"] != seed or ckpt["world_size"] != world:
            raise ValueError(
                f"checkpoint {resume} was written by a run with config {ckpt['config']}, seed "
                f"{ckpt['seed']} and world_size {ckpt['world_size']}; this run has config "
                f"{config._resume_key()}, seed {seed} and world_size {world}. Resume with the "
                f"same options (only progress, checkpoint, checkpoint_every, device and cpu_threads may change)."
            )
        if ckpt["fingerprint"] != fingerprints:
            then, now = ckpt["fingerprint"], fingerprints
            what = []
            if then["data"] != now["data"]:
                what.append(f"data {then['data']['shape']} {then['data']['dtype']} (hash "
                            f"{then['data']['blake2b'][:8]}) then, {now['data']['shape']} "
                            f"{now['data']['dtype']} (hash {now['data']['blake2b'][:8]}) now")
            keys = sorted(set(then["caller"]) | set(now["caller"]))
            what += [f"{k}={then['caller'].get(k, '<unset>')!r} then, {now['caller'].get(k, '<unset>')!r} now"
                     for k in keys if then["caller"].get(k) != now["caller"].get(k)]
            raise ValueError(
                f"checkpoint {resume} belongs to another run: {'; '.join(what)}. Resume with the "
                f"same model and data, or start afresh without resume=."
            )
        module.load_state_dict(ckpt["module"])
        opt.load_state_dict(ckpt["optimizer"])
        if sched is not None:
            sched.load_state_dict(ckpt["scheduler"])
        if ema is not None:
            ema = {k: v.to(device) for k, v in ckpt["ema"].items()}
        train_hist, val_hist = list(ckpt["train_loss"]), list(ckpt["val_loss"])
        best = {"loss": ckpt["best_loss"], "epoch": ckpt["best_epoch"],
                "state": None if ckpt["best_state"] is None
                else {k: v.to(device) for k, v in ckpt["best_state"].items()}}
        epoch0, step, since_best = ckpt["epoch"], ckpt["step"], ckpt["since_best"]
        stopped_early = ckpt["stopped_early"]
        order_gen.set_state(ckpt["order_generator"])
        _set_rng_state(ckpt["rng"][rank], device)
        resumed_from = epoch0

    def swap_in_ema():
        """Put the EMA weights into the module; returns the live ones to restore."""
        if ema is None:
            return None
        live = {name: t.detach().clone() for name, t in averaged.items()}
        with torch.no_grad():
            for name, t in averaged.items():
                t.copy_(ema[name])
        return live

    def restore(live):
        if live is not None:
            with torch.no_grad():
                for name, t in averaged.items():
                    t.copy_(live[name])

    def validation_loss() -> float:
        module.eval()
        total = 0.0
        devices = [device] if device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(val_seed)
            for i in range(0, num_val, config.batch_size):
                batch = val_data[i:i + config.batch_size]
                total += float(val_loss_fn(batch)) * batch.shape[0]
        module.train()
        return total / num_val

    def save_checkpoint(epoch_done: int) -> None:
        rngs = [_rng_state(device)]
        if world > 1:
            gathered: list[Any] = [None] * world
            dist.all_gather_object(gathered, _rng_state(torch.device("cpu")) if device.type != "cuda"
                                   else rngs[0])
            rngs = gathered
        if rank == 0:
            cpu = lambda d: None if d is None else {k: v.detach().cpu() for k, v in d.items()}  # noqa: E731
            _write_atomic({
                "format": CHECKPOINT_FORMAT,
                "config": config._resume_key(), "seed": seed, "world_size": world,
                "fingerprint": fingerprints,
                "module": cpu(module.state_dict()), "optimizer": opt.state_dict(),
                "scheduler": None if sched is None else sched.state_dict(),
                "ema": cpu(ema), "best_state": cpu(best["state"]),
                "best_loss": best["loss"], "best_epoch": best["epoch"], "since_best": since_best,
                "train_loss": train_hist, "val_loss": val_hist,
                "epoch": epoch_done, "step": step, "stopped_early": stopped_early,
                "order_generator": order_gen.get_state(), "rng": rngs,
            }, Path(config.checkpoint))
        if world > 1:
            dist.barrier()

    previous_threads = torch.get_num_threads()
    if config.cpu_threads is not None and device.type == "cpu":
        torch.set_num_threads(config.cpu_threads)
    bar = _progress_bar(total_steps, description, config.progress and rank == 0)
    if bar is not None and step:
        bar.update(step)
    start = time.perf_counter()
    running = None
    module.train()
    try:
        for epoch in range(epoch0, config.epochs):
            if stopped_early:
                break
            order = torch.randperm(n_train, generator=order_gen).to(device)
            epoch_sum, epoch_count = 0.0, 0
            for b in range(batches_per_epoch):
                stop = n_train if b == batches_per_epoch - 1 else (b + 1) * config.batch_size
                idx = order[b * config.batch_size:stop]
                n_global = idx.shape[0]
                # this rank's contiguous shard of the global batch
                shard = torch.tensor_split(idx, world)[rank] if world > 1 else idx
                batch = train_data[shard]
                opt.zero_grad(set_to_none=False)
                if shard.numel() > 0:
                    try:
                        loss = loss_fn(batch)
                    except ValueError as exc:
                        if "Expected more than 1 value per channel" not in str(exc):
                            raise
                        raise ValueError(
                            f"batch norm cannot normalise the {shard.numel()} example(s) of batch {b} "
                            f"(epoch {epoch}, rank {rank} of {world}); batches of {config.batch_size} "
                            f"examples from {n_train} leave one that small. Pick batch_size so that "
                            f"every batch (per rank) holds at least 2 examples, or use a model "
                            f"without batch norm (norm='group' or None)."
                        ) from None

                    # gradient of (shard sum) / global batch size; summed over ranks below
                    (loss * (shard.numel() / n_global) if world > 1 else loss).backward()
                    value = loss.detach() * shard.numel()
                else:
                    value = torch.zeros((), device=device)
                if world > 1:
                    flat = torch.cat([p.grad.reshape(-1) for p in params] + [value.reshape(1)])
                    dist.all_reduce(flat)
                    offset = 0
                    for p in params:
                        p.grad.copy_(flat[offset:offset + p.numel()].view_as(p))
                        offset += p.numel()
                    value = flat[-1]
                batch_loss = float(value) / n_global
                if not math.isfinite(batch_loss):
                    where = f"epoch {epoch} (of {config.epochs}), step {step} (batch {b} of the epoch)"
                    site = ""
                    diagnose = getattr(loss_fn, "diagnose", None)
                    if diagnose is not None and shard.numel() > 0:
                        site = f"; {diagnose(batch)}"
                    raise NonFiniteLossError(
                        f"training loss became {batch_loss} at {where}{site}. Try a smaller "
                        f"learning rate (got lr={config.lr}), grad_clip=1.0, or check the data "
                        f"for extreme values."
                    )
                if config.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                opt.step()
                if sched is not None:
                    sched.step()
                if ema is not None:
                    with torch.no_grad():
                        for name, t in averaged.items():
                            ema[name].lerp_(t.detach(), 1.0 - config.ema_decay)
                step += 1
                epoch_sum += batch_loss * n_global
                epoch_count += n_global
                if bar is not None:
                    running = batch_loss if running is None else 0.95 * running + 0.05 * batch_loss
                    if step % 10 == 0 or b == batches_per_epoch - 1:
                        bar.set_postfix(epoch=epoch, loss=f"{running:.4g}", refresh=False)
                        bar.update(step - bar.n)
            train_hist.append(epoch_sum / epoch_count)
            if world > 1:
                with torch.no_grad():
                    for buf in module.buffers():
                        dist.broadcast(buf.data, src=0)
            if num_val:
                live = swap_in_ema()
                v = validation_loss()
                val_hist.append(v)
                if v < best["loss"]:
                    best = {"loss": v, "epoch": epoch, "state": _clone_state(module)}
                    since_best = 0
                else:
                    since_best += 1
                restore(live)
                if bar is not None:
                    bar.set_postfix(epoch=epoch, loss=f"{running:.4g}", val=f"{v:.4g}", refresh=False)
                if config.patience is not None and since_best >= config.patience:
                    stopped_early = True
            last = stopped_early or epoch + 1 == config.epochs
            if config.checkpoint is not None and ((epoch + 1) % config.checkpoint_every == 0 or last):
                save_checkpoint(epoch + 1)
    finally:
        torch.set_num_threads(previous_threads)
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    if world > 1:
        # no rank leaves (and may tear the group down) while another still waits on the
        # last broadcast: a gloo peer closing early aborted the other process
        dist.barrier()

    if num_val and best["state"] is not None:
        module.load_state_dict(best["state"])
        best_epoch = best["epoch"]
    else:
        swap_in_ema()
        best_epoch = len(train_hist) - 1
    module.eval()
    return TrainRun(
        train_loss=np.asarray(train_hist, dtype=np.float64),
        val_loss=np.asarray(val_hist, dtype=np.float64),
        best_epoch=int(best_epoch), seconds=seconds, stopped_early=bool(stopped_early),
        steps=step, num_train=n_train, num_val=num_val, world_size=world,
        resumed_from_epoch=resumed_from,
    )
