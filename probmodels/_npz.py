"""Reading a fit file without trusting it: only the members asked for, sizes checked first.

A fit file is a zip of ``.npy`` members (:meth:`probmodels.results.FitResult.save`).
:func:`read_header` reads the JSON metadata member alone, bounded in size and in
nesting depth; :func:`read_members` then decompresses only the members the caller
names, each after its ``.npy`` header has been read and checked: a numeric dtype (no
pickled objects), and a declared uncompressed size equal to what its shape and dtype
need (a zip member cannot inflate beyond its declared size). A member that is not
asked for is never touched (:func:`probmodels.results.load` refuses a file holding
one, by its name). Every problem is a ``ValueError`` naming the file.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MAX_DEPTH", "MAX_META_BYTES", "read_header", "read_members"]

#: the largest metadata member read (its JSON, uncompressed)
MAX_META_BYTES = 256 * 2**20
#: the deepest nesting of lists and objects accepted in the metadata
MAX_DEPTH = 64
_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)


def _depth(obj: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _npy_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, expected: str):
    """``(shape, dtype)`` of a member, checked against its declared size."""
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        read = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read(fh)
        offset = fh.tell()
    if dtype.hasobject:
        raise ValueError(
            f"{path} member {info.filename} holds Python objects, not numbers; {expected}."
        )
    need = math.prod(shape) * dtype.itemsize
    if info.file_size - offset != need:
        raise ValueError(
            f"{path} member {info.filename} declares {info.file_size - offset} bytes of data, "
            f"but its shape {shape} and dtype {dtype} need {need}; the file is damaged or was "
            f"tampered with; {expected}."
        )
    return shape, dtype


def read_header(zf: zipfile.ZipFile, path: Path, expected: str) -> dict[str, Any]:
    """The JSON metadata of a fit file (member ``__meta__.npy``)."""
    try:
        info = zf.getinfo("__meta__.npy")
    except KeyError:
        raise ValueError(f"{path} has no probmodels metadata; {expected}.") from None
    if info.file_size > MAX_META_BYTES:
        raise ValueError(
            f"{path} has {info.file_size / 2**20:.0f} MB of metadata, more than the "
            f"{MAX_META_BYTES // 2**20} MB a fit file has; {expected}."
        )
    try:
        _npy_header(zf, info, path, expected)
        with zf.open(info) as fh:
            meta = np.lib.format.read_array(fh, allow_pickle=False)
    except _ERRORS as exc:
        raise ValueError(
            f"{path} is truncated or corrupt ({type(exc).__name__}: {exc}); {expected}."
        ) from exc
    if not (meta.ndim == 0 and meta.dtype.kind == "U"):
        raise ValueError(f"{path} has no probmodels metadata; {expected}.")
    try:
        header = json.loads(str(meta))
    except RecursionError:
        raise ValueError(
            f"{path} has metadata nested too deeply to be a fit's; {expected}."
        ) from None
    except ValueError as exc:
        raise ValueError(
            f"{path} has unreadable probmodels metadata (not JSON: {exc}); {expected}."
        ) from exc
    if _depth(header) > MAX_DEPTH:
        raise ValueError(
            f"{path} has metadata nested more than {MAX_DEPTH} levels deep; a fit's is a few "
            f"levels; {expected}."
        )
    return header


def read_members(
    zf: zipfile.ZipFile,
    names: Iterable[str],
    path: Path,
    expected: str,
    shapes: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """The arrays of the members ``names`` (without the ``.npy`` suffix), each checked
    (module docstring) and, where ``shapes`` has its name, of that shape."""
    out = {}
    for name in names:
        try:
            info = zf.getinfo(f"{name}.npy")
        except KeyError:
            raise ValueError(
                f"{path} lacks the array {name!r}; the file is incomplete, {expected}."
            ) from None
        try:
            shape, _ = _npy_header(zf, info, path, expected)
            if shapes is not None and name in shapes and list(shape) != list(shapes[name]):
                raise ValueError(
                    f"{path} array {name!r} has shape {tuple(shape)}, its metadata says "
                    f"{tuple(shapes[name])}; the file was tampered with; {expected}."
                )
            with zf.open(info) as fh:
                out[name] = np.lib.format.read_array(fh, allow_pickle=False)
        except ValueError:
            raise
        except _ERRORS as exc:
            raise ValueError(
                f"{path} is truncated or corrupt ({type(exc).__name__}: {exc}); {expected}."
            ) from exc
    return out
