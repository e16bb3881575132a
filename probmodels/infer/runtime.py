"""The run-time policies every public call shares: one lock, seeds, random states,
the parameter store, threads, progress and devices.

Pyro keeps its effect-handler stack, its plates and its parameter store in
process-global state, and torch its random generator and thread count. So that
fits, predictions and samplers are safe to call from several threads and leave
the caller's process as they found it, every such call runs inside
:func:`pyro_section`:

1. **One re-entrant lock.** Calls from different threads run one after
   another, in whatever order they arrive, with the same result as if they
   had been made sequentially with the same seeds. (For speed, use processes:
   ``BayesianAR.fit_many(..., client=...)`` with Dask, or a process pool.)
2. **The caller's random states** (Python ``random``, numpy's global
   generator, torch's CPU generator and the CUDA generators in use) are saved
   and restored, so ``torch.manual_seed(1); fit(...); torch.rand(2)`` gives
   the numbers seed 1 gives.
3. **A parameter store of its own.** The user's ``pyro.param`` values are
   put aside and restored afterwards; the call starts from an empty store.
4. **Threads.** ``num_threads`` torch intra-op threads (default 1: these
   models are small, and on a busy 2-core machine two threads made an AR fit
   5-25 times slower), restored afterwards; ``None`` leaves the setting alone.
5. **A seed**, when given, seeds Python, numpy and torch inside the section.

Seeds: a fit takes one integer ``seed`` (drawn from the operating system and
recorded when ``None``); every random stream it needs is derived from it once
by :func:`seed_stream`, keyed by a name (``"chain", 1``, ``"series", "id-17"``),
so a stream does not depend on how many other streams were drawn before it.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyro
import torch

from probmodels._validation import check_int, check_seed

__all__ = [
    "chain_seeds",
    "cpu_count",
    "limit_threads",
    "progress_bar",
    "pyro_section",
    "quiet_jit",
    "resolve_device",
    "resolve_progress",
    "resolve_seed",
    "seed_stream",
]

#: serialises every call that touches Pyro's global state (re-entrant: fits call fits)
_LOCK = threading.RLock()


def resolve_seed(seed: int | None) -> int:
    """Return ``seed`` checked, or a fresh random seed (recorded by the caller)."""
    seed = check_seed(seed)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    return seed


def _key_int(key: Any) -> int:
    """A stable non-negative integer for a stream key (ints as they are, else a BLAKE2 hash)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and key >= 0:
        return int(key)
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def seed_stream(seed: int, *keys: Any) -> int:
    """A 32-bit seed for the stream named by ``keys``, derived from ``seed``.

    ``numpy.random.SeedSequence(seed, spawn_key=keys)``: streams with different
    keys are independent, and each is the same whatever else is drawn, so
    per-series streams do not depend on chunking or on the number of workers.
    """
    sequence = np.random.SeedSequence(int(seed), spawn_key=tuple(_key_int(k) for k in keys))
    return int(sequence.generate_state(1)[0])


def chain_seeds(seed: int, num_chains: int) -> list[int]:
    """Independent per-chain seeds derived from one seed (``SeedSequence.spawn``)."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(num_chains)]


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@contextmanager
def limit_threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with ``num_threads`` torch intra-op threads, then restore.

    ``None`` leaves the setting alone.
    """
    if num_threads is None:
        yield
        return
    num_threads = check_int(num_threads, "num_threads", minimum=1)
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _random_states() -> dict[str, Any]:
    states = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_random_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states:
        torch.cuda.set_rng_state_all(states["cuda"])


@contextmanager
def pyro_section(*, seed: int | None = None, num_threads: int | None = None) -> Iterator[None]:
    """The section a public call runs Pyro in (see the module docstring).

    Parameters
    ----------
    seed : int, optional
        Seeds Python, numpy and torch (``pyro.set_rng_seed``) at the start.
    num_threads : int or None
        Torch intra-op threads inside the section; ``None`` leaves them alone.
    """
    with _LOCK:
        states = _random_states()
        store = pyro.get_param_store()
        saved = store.get_state()
        store.clear()
        try:
            with limit_threads(num_threads):
                if seed is not None:
                    pyro.set_rng_seed(seed)
                yield
        finally:
            store.clear()  # set_state adds to the store; the call's own parameters go
            store.set_state(saved)
            _set_random_states(states)


def resolve_progress(progress: bool | None) -> bool:
    """``progress``: ``None`` shows a bar when standard error is a terminal, else a bool."""
    if progress is None:
        stream = sys.stderr
        return bool(getattr(stream, "isatty", lambda: False)())
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(
            f"progress must be True, False or None (a bar on a terminal only), got "
            f"{progress!r} ({type(progress).__name__}). Pass e.g. progress=False."
        )
    return bool(progress)


def progress_bar(total: int, description: str, enabled: bool):
    """A ``tqdm`` bar (``leave=False``), or None when ``enabled`` is False."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=False, mininterval=0.5)


@contextmanager
def quiet_jit() -> Iterator[None]:
    """Hide the PyTorch JIT tracer's warnings about Python-level shape logic it cannot
    see, and the deprecation of ``torch.jit.trace`` (torch >= 2.9), which Pyro's
    ``jit_compile`` and the traced ELBOs use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings(
            "ignore", message=r".*torch\.jit\.trace\w*.* is deprecated", category=DeprecationWarning
        )
        yield


def resolve_device(device: Any = None) -> torch.device:
    """The torch device a fit runs on.

    ``None``: ``"cuda:LOCAL_RANK"`` inside an NCCL process group (``torchrun``),
    else the CPU. Otherwise anything ``torch.device`` accepts; a CUDA device
    must exist.
    """
    import torch.distributed as dist

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
