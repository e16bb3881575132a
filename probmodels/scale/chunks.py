"""Chunks of series and a pure per-chunk function mapped over them, here or on a cluster;
chunks of posterior draws for draws x data computations.

The per-chunk function must be a module-level function (or a ``functools.partial`` of
one) of picklable arguments, so that a ``dask.distributed`` client can send it to its
workers; it returns a small result (summaries, not draws), so memory stays bounded by
one chunk's work per worker plus the results. Results come back in chunk order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from probmodels._validation import check_int
from probmodels.infer.runtime import progress_bar

__all__ = ["CHUNK_NUMBERS", "chunked", "draw_slices", "map_chunks"]

T = TypeVar("T")

#: numbers in one chunk of a draws x data computation (4e6 float64: 32 MB per temporary)
CHUNK_NUMBERS = 4_000_000


def draw_slices(num_draws: int, numbers_per_draw: int) -> list[slice]:
    """Consecutive slices of ``num_draws`` draws, each holding at most :data:`CHUNK_NUMBERS`
    numbers of a per-draw array of ``numbers_per_draw`` (at least one draw a slice), so a
    draws x data computation (log-likelihoods, responsibilities, predictive draws) keeps
    its temporaries bounded whatever the number of draws."""
    size = max(1, int(CHUNK_NUMBERS // max(1, int(numbers_per_draw))))
    return [slice(i, min(i + size, num_draws)) for i in range(0, num_draws, size)]


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in consecutive chunks of ``size`` (the last one shorter)."""
    size = check_int(size, "chunk_size", minimum=1)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _check_client(client: Any) -> None:
    if not (hasattr(client, "map") and hasattr(client, "gather")):
        raise TypeError(
            f"client must be a dask.distributed.Client (something with .map and .gather), got "
            f"{type(client).__name__}. Create one with dask.distributed.Client(...) or pass "
            f"client=None to run here."
        )


def map_chunks(
    func: Callable[[Any], Any],
    chunks: Sequence[Any],
    *,
    client: Any = None,
    progress: bool = False,
    description: str = "chunks",
) -> Iterator[Any]:
    """``func(chunk)`` for each chunk, in order: here one after another (``client=None``),
    or mapped on a Dask cluster (``client.map``), gathered as they finish and yielded in
    chunk order."""
    bar = progress_bar(len(chunks), description, progress)
    try:
        if client is None:
            for chunk in chunks:
                yield func(chunk)
                if bar is not None:
                    bar.update(1)
            return
        _check_client(client)
        futures = client.map(func, list(chunks), pure=False)
        for future in futures:
            result = future.result()
            if bar is not None:
                bar.update(1)
            yield result
    finally:
        if bar is not None:
            bar.close()
