"""Pyro's NUTS, one seeded chain per process where the cores allow, with per-draw statistics.

:func:`run_nuts` samples a :class:`NUTSTarget`: a Pyro model
(:class:`ModelTarget`) or a model's own potential energy on unconstrained
parameters. Chain ``c`` runs from the seed ``chain_seeds(seed, C)[c]``; with
``chain_method="parallel"`` and more than one core, chains ``1 .. C-1`` run in
child processes (``python -m probmodels.infer.nuts`` reading the pickled target
on standard input, so the caller's ``__main__`` is never re-imported and a
script needs no ``if __name__ == "__main__"`` guard) while chain 0 runs here; a
target that the child cannot unpickle (a model defined in ``__main__``) runs
here after chain 0.
The draws are the same as with ``chain_method="sequential"``: each chain
depends only on its seed.

Besides the draws, every kept iteration records what ArviZ's ``sample_stats``
group holds for NUTS (so ``az.bfmi`` and energy plots work): ``lp`` (minus the
potential energy of the draw: the log density on the unconstrained space, up to
a constant), ``energy`` (the Hamiltonian after the momentum is drawn),
``tree_depth`` (doublings of the trajectory), ``n_steps`` (leapfrog steps),
``step_size``, ``acceptance_rate`` and ``diverging``.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyro
import torch
from pyro.infer import MCMC, NUTS

from probmodels.infer.config import NUTSConfig
from probmodels.infer.runtime import chain_seeds, cpu_count, limit_threads, quiet_jit

__all__ = ["ModelTarget", "NUTSRun", "NUTSTarget", "STAT_NAMES", "run_nuts"]

#: the per-draw statistics of every NUTS run, ``(chain, draw)`` each
STAT_NAMES = ("lp", "energy", "tree_depth", "n_steps", "step_size", "acceptance_rate", "diverging")


class NUTSTarget:
    """What NUTS samples; picklable, so that a chain can run in another process.

    Subclasses implement :meth:`kernel_args`, called in the process that runs
    the chain (so a potential may be compiled there), and may start each chain
    at its own point with :meth:`initial_params` (called after the chain's seed
    is set, so it may draw random numbers).
    """

    max_plate_nesting: int | None = None

    def kernel_args(self) -> dict[str, Any]:
        """``{"model": callable}`` or ``{"potential_fn": callable}`` for ``pyro.infer.NUTS``."""
        raise NotImplementedError

    def initial_params(self, chain: int) -> dict[str, torch.Tensor] | None:
        return None


@dataclass
class ModelTarget(NUTSTarget):
    """A Pyro model called with no arguments (bind its data with ``functools.partial``)."""

    model: Callable
    max_plate_nesting: int | None = None
    #: starting values of some sites (the others start as Pyro's ``init_to_uniform``)
    init_values: dict[str, Any] | None = None

    def kernel_args(self) -> dict[str, Any]:
        if self.init_values:
            from pyro.infer.autoguide import init_to_value

            return {"model": self.model, "init_strategy": init_to_value(values=self.init_values)}
        return {"model": self.model}


@dataclass
class NUTSRun:
    """What a NUTS run produced.

    Attributes
    ----------
    samples : dict of str to numpy.ndarray
        Draws ``(chain, draw) + site_shape``.
    sample_stats : dict of str to numpy.ndarray
        :data:`STAT_NAMES`, each ``(chain, draw)``.
    seconds : float
        Wall-clock time, warm-up and JIT compilation included.
    chain_seeds : list of int
        The seed each chain ran with.
    parallel : bool
        Whether chains ran in separate processes.
    """

    samples: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    seconds: float
    chain_seeds: list[int]
    parallel: bool = False

    @property
    def diverging(self) -> np.ndarray:
        return self.sample_stats["diverging"]


class _RecordingNUTS(NUTS):
    """Pyro's NUTS, recording each iteration's energy, tree depth and the like."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.records: list[tuple] = []
        self._nest, self._leapfrogs, self._doublings, self._kinetic = 0, 0, 0, None

    def _kinetic_energy(self, r_unscaled):
        energy = super()._kinetic_energy(r_unscaled)
        if self._kinetic is None:  # the first call of an iteration: the fresh momentum's
            self._kinetic = float(energy)
        return energy

    def _build_basetree(self, *args, **kwargs):
        self._leapfrogs += 1
        return super()._build_basetree(*args, **kwargs)

    def _build_tree(self, *args, **kwargs):
        self._nest += 1
        try:
            return super()._build_tree(*args, **kwargs)
        finally:
            self._nest -= 1
            if self._nest == 0:
                self._doublings += 1

    def sample(self, params):
        z, potential, _ = self._fetch_from_cache()
        if z is None:
            potential = self.potential_fn(params)
        self._kinetic, self._leapfrogs, self._doublings = None, 0, 0
        step_size = float(self.step_size)
        divergences = len(self._divergences)
        out = super().sample(params)
        self.records.append(
            (
                -float(self._potential_energy_last),
                float(potential) + float(self._kinetic or 0.0),
                self._doublings,
                self._leapfrogs,
                step_size,
                float(self._mean_accept_prob),
                len(self._divergences) > divergences,
            )
        )
        return out


def _run_chain(
    target: NUTSTarget,
    config: NUTSConfig,
    chain: int,
    seed: int,
    num_threads: int | None,
    progress: bool,
):
    """One chain: ``(samples {site: (draw, ...)}, stats {name: (draw,)})`` as numpy."""
    with limit_threads(num_threads):
        pyro.set_rng_seed(seed)
        init = target.initial_params(chain)
        kernel_args = target.kernel_args()
        kernel = _RecordingNUTS(
            **kernel_args,
            jit_compile=config.jit_compile and "model" in kernel_args,
            ignore_jit_warnings=True,
            target_accept_prob=config.target_accept_prob,
            max_tree_depth=config.max_tree_depth,
            max_plate_nesting=target.max_plate_nesting,
        )
        mcmc = MCMC(
            kernel,
            num_samples=config.num_samples,
            warmup_steps=config.warmup_steps,
            initial_params=init,
            disable_progbar=not progress,
        )
        with quiet_jit():
            mcmc.run()
        samples = {k: v.detach().cpu().numpy() for k, v in mcmc.get_samples().items()}
        kept = kernel.records[-config.num_samples :]
        stats = {name: np.asarray([r[i] for r in kept]) for i, name in enumerate(STAT_NAMES)}
        stats["diverging"] = stats["diverging"].astype(bool)
        stats["tree_depth"] = stats["tree_depth"].astype(np.int64)
        stats["n_steps"] = stats["n_steps"].astype(np.int64)
        return samples, stats


def _start_child(payload: bytes) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "probmodels.infer._chain_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    stdin = proc.stdin
    if stdin is None:  # Popen(stdin=PIPE) always opens it
        raise RuntimeError("the NUTS chain process has no stdin pipe")
    stdin.write(payload)
    stdin.close()
    return proc


def _collect_child(proc: subprocess.Popen, chain: int):
    stdout = proc.stdout
    if stdout is None:  # Popen(stdout=PIPE) always opens it
        raise RuntimeError("the NUTS chain process has no stdout pipe")
    out = stdout.read()
    stdout.close()
    code = proc.wait()
    status, value = pickle.loads(out) if out else ("error", f"exit code {code}, no output")
    if status == "unloadable":
        return None  # e.g. a model defined in the caller's __main__: run the chain here
    if status != "ok":
        raise RuntimeError(f"NUTS chain {chain} failed in its process: {value}")
    return value


def run_nuts(
    target: NUTSTarget,
    config: NUTSConfig,
    *,
    seed: int,
    progress: bool = False,
    num_threads: int | None = 1,
) -> NUTSRun:
    """Run ``config.num_chains`` NUTS chains on ``target`` (see the module docstring).

    Parameters
    ----------
    target : NUTSTarget
    config : NUTSConfig
    seed : int
        Chain ``c`` runs with ``chain_seeds(seed, num_chains)[c]``.
    progress : bool
        Pyro's progress bar for the chain(s) run in this process.
    num_threads : int or None
        Torch threads of each chain's process.
    """
    seeds = chain_seeds(seed, config.num_chains)
    start = time.perf_counter()
    parallel = config.chain_method == "parallel" and config.num_chains > 1 and cpu_count() > 1
    children = {}
    if parallel:
        try:
            for c in range(1, config.num_chains):
                payload = pickle.dumps((target, config, c, seeds[c], num_threads))
                children[c] = payload
        except (pickle.PicklingError, TypeError, AttributeError):
            parallel, children = False, {}
    procs = {c: _start_child(p) for c, p in children.items()}
    results = {}
    try:
        results[0] = _run_chain(target, config, 0, seeds[0], num_threads, progress)
        for c in range(1, config.num_chains):
            if c in procs:
                results[c] = _collect_child(procs[c], c)
            if results.get(c) is None:
                results[c] = _run_chain(target, config, c, seeds[c], num_threads, progress)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    chains = [results[c] for c in range(config.num_chains)]
    samples = {k: np.stack([s[k] for s, _ in chains]) for k in chains[0][0]}
    stats = {k: np.stack([st[k] for _, st in chains]) for k in chains[0][1]}
    return NUTSRun(samples, stats, time.perf_counter() - start, seeds, parallel)
