r"""The training loop of the neural models (VAE, DDPM): minibatches, schedules, EMA,
early stopping, checkpoints, data parallelism, and the checks that a run went well.

The interface every neural model codes against::

    config = TrainConfig(steps=4000, batch_size=64, lr=1e-3, schedule="cosine",
                         validation=0.1, patience=30)
    run = train(loss_fn, module, data, config, seed=0)        # -> TrainRun

- ``loss_fn(batch) -> scalar tensor``: the **mean loss per example** of
  ``batch`` (a slice ``data[idx]`` along the first axis, already on the
  device), differentiable in ``module``'s parameters. For a Pyro model use
  :class:`ELBOLoss`, which is ``Trace_ELBO().differentiable_loss(model, guide,
  batch, num_data=N) / N`` with the model's data plate of size ``N`` subsampled
  to the batch, so that ``N`` times the loss is an unbiased estimate of the
  full-data negative ELBO.
- ``module``: the ``torch.nn.Module`` holding every trained parameter and buffer
  (batch-norm statistics included); AdamW over ``module.parameters()``, not Pyro's store.
- ``data``: a tensor whose first axis indexes examples (moved to the device once).
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
   normalise one example). ``steps`` is rounded up to whole epochs:
   ``ceil(steps / batches_per_epoch)`` of them. One optimiser step per batch,
   the learning rate following ``schedule`` per step over all
   ``epochs * batches_per_epoch`` steps (``"cosine"`` and ``"exponential"``
   reach ``lr * lr_decay`` after the last step, ``"onecycle"`` is torch's
   ``OneCycleLR`` with maximum ``lr``), gradients clipped to norm
   ``grad_clip``, and an exponential moving average (EMA) of the parameters
   with ``ema_decay``: :math:`\bar\theta \leftarrow d \bar\theta + (1 - d)\theta`
   (the floating-point buffers too, e.g. batch norm's running statistics, so
   the averaged weights come with statistics gathered near them).
4. A training loss that is NaN or infinite stops the run with
   :class:`~probmodels.infer.NonFiniteLossError` naming the epoch and step (and,
   for an :class:`ELBOLoss`, the first Pyro site that is not finite); so does a
   validation loss, naming the epoch and the rows of ``data`` it came from.
5. After each epoch: the validation loss (with the EMA weights when EMA is on);
   the best weights so far are kept, and the run stops early after ``patience``
   epochs without improvement. A checkpoint is written every
   ``checkpoint_every`` epochs.
6. On the CPU, ``cpu_threads`` torch threads (default 1), restored afterwards.
7. At the end the module holds the best-validation weights (with validation),
   else the EMA weights (with EMA), else the last iterate; it is left in
   ``eval()`` mode. A run whose training loss ends far above where it started,
   or whose validation loss diverges, warns (``UserWarning``, see
   :func:`~probmodels.infer._divergence.divergence_warnings` for the rules): the NaN guard alone lets a too
   large learning rate pass whenever the loss stays finite.

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
0 shows progress, writes checkpoints and warns. With a deterministic loss the
result equals one process trained on the same global batches. The loop is the
same in both cases; what differs lives in
:mod:`probmodels.infer._process_group`.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyro
import torch
from pyro.infer import Trace_ELBO

from probmodels._files import write_atomic
from probmodels._validation import check_int, check_seed
from probmodels.infer._checkpoint import (
    CHECKPOINT_FORMAT,
    check_belongs,
    check_checkpoint_path,
    data_fingerprint,
    load_checkpoint,
    on_cpu,
    rng_state,
    set_rng_state,
)
from probmodels.infer._divergence import divergence_warnings
from probmodels.infer._process_group import process_group
from probmodels.infer.config import TrainConfig
from probmodels.infer.runtime import chain_seeds, progress_bar, resolve_device
from probmodels.infer.svi import NonFiniteLossError, first_nonfinite_site

__all__ = ["ELBOLoss", "TrainRun", "train"]


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
        Whether ``patience`` ended the run before the last epoch.
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
    elbo : pyro.infer.Trace_ELBO, optional
        Default ``Trace_ELBO()``; e.g. ``TraceMeanField_ELBO()`` for analytic KL terms.
    validate : bool, default False
        Pyro's distribution argument checks during training (the data were
        checked once at the boundary; the per-step checks cost 10-20% here).
    """

    def __init__(
        self,
        model: Callable,
        guide: Callable,
        num_data: int,
        *,
        elbo: Trace_ELBO | None = None,
        validate: bool = False,
    ):
        self.model, self.guide = model, guide
        self.num_data = check_int(num_data, "num_data", minimum=1)
        self.elbo = elbo if elbo is not None else Trace_ELBO()
        self.validate = validate

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        with pyro.validation_enabled(self.validate):
            loss = self.elbo.differentiable_loss(
                self.model, self.guide, batch, num_data=self.num_data
            )
        return loss / self.num_data

    def diagnose(self, batch: torch.Tensor) -> str:
        """Name the first site (guide, then model) whose value or log-density is not finite."""
        with pyro.validation_enabled(False):
            return first_nonfinite_site(
                self.model, self.guide, (batch,), {"num_data": self.num_data}
            )


# ------------------------------------------------------------------ helpers


def _make_scheduler(opt, config: TrainConfig, total_steps: int):
    """torch's scheduler of ``config.schedule`` over ``total_steps`` (None: constant)."""
    if config.schedule == "cosine":
        decay = 0.0 if config.lr_decay is None else config.lr_decay
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=total_steps, eta_min=config.lr * decay
        )
    if config.schedule == "exponential":
        decay = 0.1 if config.lr_decay is None else config.lr_decay
        # lr_t = lr * gamma**t, so that lr_total_steps = lr * lr_decay
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=decay ** (1.0 / total_steps))
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total_steps)
    return None


def _clone_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _ema_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """What the EMA averages: the parameters and the floating-point buffers."""
    out: dict[str, torch.Tensor] = {name: p for name, p in module.named_parameters()}
    out.update({name: b for name, b in module.named_buffers() if b.is_floating_point()})
    return out


def _has_batch_norm(module: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())


def _rows(rows: list[int], most: int = 20) -> str:
    shown = ", ".join(map(str, rows[:most]))
    return f"[{shown}]" if len(rows) <= most else f"[{shown}, ...] ({len(rows)} in all)"


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
        The training loss became NaN or infinite (the message names epoch, step
        and site), or a validation loss did (it names the epoch and the rows).
    ValueError
        Too few examples for the split, or a checkpoint from another configuration,
        other data or another fingerprint.
    FileExistsError, FileNotFoundError
        ``checkpoint`` would replace a file that is not being resumed, or its folder is missing.

    Warns
    -----
    UserWarning
        The training loss ended far above where it started, or the validation
        loss diverged (rank 0 only; the rules are in :func:`~probmodels.infer._divergence.divergence_warnings`).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}.")
    device = resolve_device(config.device)
    outer = rng_state(device)  # the caller's random states, restored at the end
    try:
        trainer = _Trainer(
            loss_fn,
            module,
            data,
            config,
            seed=seed,
            resume=resume,
            val_loss_fn=val_loss_fn,
            fingerprint=fingerprint,
            device=device,
        )
        if resume is not None:
            trainer.resume(resume)
        run = trainer.run(description)
    finally:
        set_rng_state(outer, device)
    if trainer.group.rank == 0:
        for message in divergence_warnings(
            run.train_loss,
            run.val_loss,
            trainer.initial_loss,
            min(config.batch_size, run.num_train),
            config.lr,
        ):
            warnings.warn(message, UserWarning, stacklevel=2)
    return run


class _Trainer:
    """One call of :func:`train`: its state, and the loop every process runs the same."""

    def __init__(
        self,
        loss_fn,
        module,
        data,
        config: TrainConfig,
        *,
        seed,
        resume,
        val_loss_fn,
        fingerprint,
        device: torch.device,
    ):
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
        seed = check_seed(seed)
        if seed is None:
            raise ValueError(
                "train needs an explicit seed (an int); resolve None with infer.resolve_seed."
            )
        if not torch.is_tensor(data) or data.dim() < 1:
            raise TypeError(
                f"data must be a torch.Tensor with examples along the first axis, got "
                f"{type(data).__name__}. Convert it with torch.as_tensor(data)."
            )
        self.loss_fn, self.val_loss_fn = loss_fn, val_loss_fn or loss_fn
        self.module, self.config, self.seed, self.device = module, config, seed, device
        self.group = group = process_group(device)
        if config.checkpoint is not None:
            # only rank 0 writes, so only its file system counts (the folder may be local to its node)
            problem = None
            if group.rank == 0:
                try:
                    check_checkpoint_path(config.checkpoint, resume)
                except OSError as exc:
                    problem = exc
            problem = group.share_verdict(problem)
            if problem is not None:
                raise problem
        self.fingerprints = None
        if config.checkpoint is not None or resume is not None:
            # a JSON round trip: plain lists, numbers and strings, comparable after torch.load
            caller = json.loads(json.dumps(dict(fingerprint or {}), default=repr, sort_keys=True))
            self.fingerprints = {"data": data_fingerprint(data), "caller": caller}
        module.to(device)
        data = data.to(device)
        self.params = [p for p in module.parameters() if p.requires_grad]
        group.allocate_grads(self.params)

        # 1. seeds: data order shared by all ranks, loss noise per rank
        pyro.set_rng_seed(seed if group.rank == 0 else chain_seeds(seed, group.world)[group.rank])
        self.order_gen = torch.Generator().manual_seed(seed)
        self.val_seed = chain_seeds(seed, 2)[1]  # validation noise: the same numbers every epoch
        self._split(data)  # 2.
        group.broadcast(list(module.parameters()) + list(module.buffers()))

        self.opt = torch.optim.AdamW(self.params, lr=config.lr, weight_decay=config.weight_decay)
        self.sched = _make_scheduler(self.opt, config, self.total_steps)
        # the averaged tensors, looked up once (training and load_state_dict update them in place)
        self.averaged = _ema_tensors(module)
        self.ema = None
        if config.ema_decay is not None:
            self.ema = {name: t.detach().clone() for name, t in self.averaged.items()}
        self.train_hist: list[float] = []
        self.val_hist: list[float] = []
        self.best: dict[str, Any] = {"loss": math.inf, "epoch": -1, "state": None}
        self.epoch0, self.step, self.since_best, self.stopped_early = 0, 0, 0, False
        self.resumed_from: int | None = None
        self.bar, self.running = None, None
        self.initial_loss: float | None = None  # the first batch's, at the initial weights

    def _split(self, data: torch.Tensor) -> None:
        """The validation split, the batches per epoch and the epochs ``steps`` asks for."""
        config = self.config
        n = int(data.shape[0])
        num_val = 0 if config.validation is None else max(1, int(round(config.validation * n)))
        if n - num_val < 1:
            raise ValueError(
                f"validation={config.validation} holds out {num_val} of {n} examples and leaves none "
                f"to train on. Pass validation=None or more data."
            )
        perm = torch.randperm(n, generator=self.order_gen)
        # positions in `data` of the validation examples, in order (named by the NaN check)
        self.val_rows = perm[:num_val].sort().values
        self.val_data = data[self.val_rows.to(self.device)] if num_val else None
        self.train_data = data[perm[num_val:].sort().values.to(self.device)] if num_val else data
        self.num_val, self.n_train = num_val, n - num_val
        batches = math.ceil(self.n_train / config.batch_size)
        if _has_batch_norm(self.module):
            if self.n_train == 1:
                raise ValueError(
                    f"module has batch norm, which cannot normalise a batch of one example, and only "
                    f"1 example is left to train on ({n} with validation={config.validation}). Pass "
                    f"more data, or use a model without batch norm (norm='group' or None)."
                )
            if self.n_train % config.batch_size == 1 and batches > 1:
                batches -= 1  # the last example joins the last full batch
        self.batches_per_epoch = batches
        self.epochs = math.ceil(config.steps / batches)
        self.total_steps = self.epochs * batches

    def resume(self, path: str | os.PathLike) -> None:
        """Take the state of the checkpoint ``path`` (after checking it belongs to this run)."""
        ckpt = load_checkpoint(path)
        check_belongs(
            path,
            ckpt,
            config_key=self.config.resume_key(),
            seed=self.seed,
            world=self.group.world,
            fingerprints=self.fingerprints,
        )
        device = self.device
        self.module.load_state_dict(ckpt["module"])
        self.opt.load_state_dict(ckpt["optimizer"])
        if self.sched is not None:
            self.sched.load_state_dict(ckpt["scheduler"])
        if self.ema is not None:
            self.ema = {k: v.to(device) for k, v in ckpt["ema"].items()}
        self.train_hist, self.val_hist = list(ckpt["train_loss"]), list(ckpt["val_loss"])
        self.best = {
            "loss": ckpt["best_loss"],
            "epoch": ckpt["best_epoch"],
            "state": None
            if ckpt["best_state"] is None
            else {k: v.to(device) for k, v in ckpt["best_state"].items()},
        }
        self.epoch0, self.step, self.since_best = ckpt["epoch"], ckpt["step"], ckpt["since_best"]
        self.stopped_early, self.initial_loss = ckpt["stopped_early"], ckpt.get("initial_loss")
        self.order_gen.set_state(ckpt["order_generator"])
        set_rng_state(ckpt["rng"][self.group.rank], device)
        self.resumed_from = self.epoch0

    # ------------------------------------------------------------- the loop

    def run(self, description: str) -> TrainRun:
        """Every remaining epoch, then the final weights (module docstring, 7.)."""
        config = self.config
        previous_threads = torch.get_num_threads()
        if config.cpu_threads is not None and self.device.type == "cpu":
            torch.set_num_threads(config.cpu_threads)
        self.bar = progress_bar(
            self.total_steps, description, config.progress and self.group.rank == 0
        )
        if self.bar is not None and self.step:
            self.bar.update(self.step)
        start = time.perf_counter()
        self.module.train()
        try:
            for epoch in range(self.epoch0, self.epochs):
                if self.stopped_early:
                    break
                self._epoch(epoch)
                last = self.stopped_early or epoch + 1 == self.epochs
                if config.checkpoint is not None and (
                    (epoch + 1) % config.checkpoint_every == 0 or last
                ):
                    self._save_checkpoint(epoch + 1)
        finally:
            torch.set_num_threads(previous_threads)
            if self.bar is not None:
                self.bar.close()
        seconds = time.perf_counter() - start
        # no rank leaves (and may tear the group down) while another still waits on the
        # last broadcast: a gloo peer closing early aborted the other process
        self.group.barrier()
        return self._finish(seconds)

    def _epoch(self, epoch: int) -> None:
        """One pass over the training set in a fresh order, then the validation check."""
        size, n_train, last_batch = self.config.batch_size, self.n_train, self.batches_per_epoch - 1
        order = torch.randperm(n_train, generator=self.order_gen).to(self.device)
        epoch_sum, epoch_count = 0.0, 0
        for b in range(self.batches_per_epoch):
            idx = order[b * size : n_train if b == last_batch else (b + 1) * size]
            batch_loss = self._step(epoch, b, idx)
            epoch_sum += batch_loss * idx.shape[0]
            epoch_count += idx.shape[0]
            if self.bar is not None:
                self.running = (
                    batch_loss if self.running is None else 0.95 * self.running + 0.05 * batch_loss
                )
                if self.step % 10 == 0 or b == last_batch:
                    self.bar.set_postfix(epoch=epoch, loss=f"{self.running:.4g}", refresh=False)
                    self.bar.update(self.step - self.bar.n)
        self.train_hist.append(epoch_sum / epoch_count)
        self.group.broadcast(list(self.module.buffers()))
        if self.num_val:
            self._validate(epoch)

    def _step(self, epoch: int, b: int, idx: torch.Tensor) -> float:
        """One optimiser step on the global batch ``idx``; returns its mean loss per example."""
        group, config = self.group, self.config
        n_global = idx.shape[0]
        shard = group.shard(idx)
        batch = self.train_data[shard]
        self.opt.zero_grad(set_to_none=False)
        if shard.numel() > 0:
            try:
                loss = self.loss_fn(batch)
            except ValueError as exc:
                if "Expected more than 1 value per channel" not in str(exc):
                    raise
                raise ValueError(
                    f"batch norm cannot normalise the {shard.numel()} example(s) of batch {b} "
                    f"(epoch {epoch}, rank {group.rank} of {group.world}); batches of "
                    f"{config.batch_size} examples from {self.n_train} leave one that small. Pick "
                    f"batch_size so that every batch (per rank) holds at least 2 examples, or use "
                    f"a model without batch norm (norm='group' or None)."
                ) from None
            group.backward(loss, shard.numel(), n_global)
            value = loss.detach() * shard.numel()
        else:
            value = torch.zeros((), device=self.device)
        batch_loss = float(group.sum_gradients(self.params, value)) / n_global
        if not math.isfinite(batch_loss):
            where = f"epoch {epoch} (of {self.epochs}), step {self.step} (batch {b} of the epoch)"
            diagnose = getattr(self.loss_fn, "diagnose", None)
            site = f"; {diagnose(batch)}" if diagnose is not None and shard.numel() > 0 else ""
            raise NonFiniteLossError(
                f"training loss became {batch_loss} at {where}{site}. Try a smaller "
                f"learning rate (got lr={config.lr}), grad_clip=1.0, or check the data "
                f"for extreme values."
            )
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, config.grad_clip)
        self.opt.step()
        if self.sched is not None:
            self.sched.step()
        if self.ema is not None and config.ema_decay is not None:
            with torch.no_grad():
                for name, t in self.averaged.items():
                    self.ema[name].lerp_(t.detach(), 1.0 - config.ema_decay)
        if self.step == 0:
            self.initial_loss = batch_loss
        self.step += 1
        return batch_loss

    # ------------------------------------------------------- validation

    def _swap_in_ema(self) -> dict[str, torch.Tensor] | None:
        """Put the EMA weights into the module; returns the live ones to restore."""
        if self.ema is None:
            return None
        live = {name: t.detach().clone() for name, t in self.averaged.items()}
        with torch.no_grad():
            for name, t in self.averaged.items():
                t.copy_(self.ema[name])
        return live

    def _restore(self, live: dict[str, torch.Tensor] | None) -> None:
        if live is not None:
            with torch.no_grad():
                for name, t in self.averaged.items():
                    t.copy_(live[name])

    def _validate(self, epoch: int) -> None:
        """The validation loss after ``epoch`` (EMA weights when on): best weights, patience."""
        live = self._swap_in_ema()
        try:
            v = self._validation_loss(epoch)
            self.val_hist.append(v)
            if v < self.best["loss"]:  # the state validated: the EMA weights when on
                self.best = {"loss": v, "epoch": epoch, "state": _clone_state(self.module)}
                self.since_best = 0
            else:
                self.since_best += 1
        finally:
            self._restore(live)
        if self.bar is not None:
            self.bar.set_postfix(
                epoch=epoch, loss=f"{self.running:.4g}", val=f"{v:.4g}", refresh=False
            )
        if self.config.patience is not None and self.since_best >= self.config.patience:
            self.stopped_early = True

    def _validation_loss(self, epoch: int) -> float:
        """Mean validation loss per example, with the same random numbers at every epoch."""
        self.module.eval()
        total, size = 0.0, self.config.batch_size
        if self.val_data is None:
            raise RuntimeError("_validation_loss needs validation rows (the fit has none)")
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.val_seed)
            for i in range(0, self.num_val, size):
                batch = self.val_data[i : i + size]
                value = float(self.val_loss_fn(batch))
                if not math.isfinite(value):
                    raise self._nonfinite_validation(epoch, value, i, batch)
                total += value * batch.shape[0]
        self.module.train()
        return total / self.num_val

    def _nonfinite_validation(
        self, epoch: int, value: float, start: int, batch: torch.Tensor
    ) -> NonFiniteLossError:
        """The error for a NaN or infinite validation batch: which rows of ``data`` give it."""
        rows = self.val_rows[start : start + batch.shape[0]].tolist()
        bad = []
        for j, row in enumerate(rows):  # each example alone (the batch's mean hides which)
            try:
                if not math.isfinite(float(self.val_loss_fn(batch[j : j + 1]))):
                    bad.append(row)
            except Exception:  # a loss that needs more than one example: name the batch only
                bad = []
                break
        what = (
            f"rows {_rows(bad)} give a non-finite loss on their own"
            if bad
            else "no single row of it does on its own"
        )
        diagnose = getattr(self.val_loss_fn, "diagnose", None)
        if diagnose is not None and bad:
            what += f" (row {bad[0]}: {diagnose(batch[rows.index(bad[0])][None])})"
        broken = [name for name, p in self.module.named_parameters() if not torch.isfinite(p).all()]
        fix = (
            f"the weights {broken[:5]} are not finite: lower the learning rate (got "
            f"lr={self.config.lr}) or pass grad_clip=1.0"
            if broken
            else "check those examples of data for NaN, inf or extreme values, or remove them"
        )
        return NonFiniteLossError(
            f"validation loss became {value} at epoch {epoch} (of {self.epochs}) in the batch of "
            f"validation rows {_rows(rows)} (positions along the first axis of data); {what}. "
            f"A non-finite validation loss would switch off best-weight selection and early "
            f"stopping; {fix}."
        )

    # ------------------------------------------------------- checkpoint, finish

    def _save_checkpoint(self, epoch_done: int) -> None:
        checkpoint = self.config.checkpoint
        if checkpoint is None:  # the same on every rank: none of them gathers
            return
        rngs = self.group.gather(rng_state(self.device))
        if self.group.rank == 0:
            state = {
                "format": CHECKPOINT_FORMAT,
                "config": self.config.resume_key(),
                "seed": self.seed,
                "world_size": self.group.world,
                "fingerprint": self.fingerprints,
                "module": on_cpu(self.module.state_dict()),
                "optimizer": self.opt.state_dict(),
                "scheduler": None if self.sched is None else self.sched.state_dict(),
                "ema": on_cpu(self.ema),
                "best_state": on_cpu(self.best["state"]),
                "best_loss": self.best["loss"],
                "best_epoch": self.best["epoch"],
                "since_best": self.since_best,
                "train_loss": self.train_hist,
                "val_loss": self.val_hist,
                "epoch": epoch_done,
                "step": self.step,
                "stopped_early": self.stopped_early,
                "initial_loss": self.initial_loss,
                "order_generator": self.order_gen.get_state(),
                "rng": rngs,
            }
            write_atomic(Path(checkpoint), lambda tmp: torch.save(state, tmp))
        self.group.barrier()

    def _finish(self, seconds: float) -> TrainRun:
        """Put the final weights in the module (best, else EMA, else last) and report."""
        if self.num_val and self.best["state"] is not None:
            self.module.load_state_dict(self.best["state"])
            best_epoch = self.best["epoch"]
        else:
            self._swap_in_ema()
            best_epoch = len(self.train_hist) - 1
        self.module.eval()
        return TrainRun(
            train_loss=np.asarray(self.train_hist, dtype=np.float64),
            val_loss=np.asarray(self.val_hist, dtype=np.float64),
            best_epoch=int(best_epoch),
            seconds=seconds,
            stopped_early=bool(self.stopped_early),
            steps=self.step,
            num_train=self.n_train,
            num_val=self.num_val,
            world_size=self.group.world,
            resumed_from_epoch=self.resumed_from,
        )
