"""Many series at once: long-format intake, chunking, and mapping chunks on a Dask cluster.

- :mod:`~probmodels.scale.long`: a long table ``(unique_id, ds, y)`` checked and split
  into one series per id (each on its own regular index), with a clear error naming the
  series for bad input, or the bad series skipped with their reasons;
- :mod:`~probmodels.scale.chunks`: series grouped into chunks and a pure per-chunk
  function mapped over them, serially or with a ``dask.distributed`` client; the result
  is the same either way (each series draws from its own random stream).
"""

from probmodels.scale.chunks import chunked, map_chunks
from probmodels.scale.long import LongSeries, split_long

__all__ = ["LongSeries", "chunked", "map_chunks", "split_long"]
