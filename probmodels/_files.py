"""Atomic file writes shared by fits, training checkpoints and the ArviZ export (no torch)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Write a file so that ``path`` is either left as it was or replaced whole.

    ``write(tmp)`` writes the content to a temporary file in ``path``'s folder,
    which is then given the usual permissions (``0o666`` less the umask; the
    temporary file starts private) and renamed over ``path`` with
    :func:`os.replace`. If anything fails, the temporary file is removed and
    the error propagates.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
