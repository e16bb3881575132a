"""Atomic file writes shared by fits, training checkpoints and the ArviZ export (no torch)."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomic"]

# os.link fails with these where the filesystem has no hard links (FAT, some
# network and FUSE mounts); the exclusive-create fallback is used there
_NO_HARD_LINKS = {
    errno.EPERM,
    errno.EACCES,
    errno.EXDEV,
    errno.EMLINK,
    errno.ENOSYS,
    getattr(errno, "ENOTSUP", errno.EPERM),
    getattr(errno, "EOPNOTSUPP", errno.EPERM),
}


def _umask() -> int:
    """The process umask, read without changing it (other threads may be creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # no procfs (macOS, Windows, Linux < 4.7): the only portable way is a round trip
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable; best effort (not possible on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _exists_error(path: Path) -> FileExistsError:
    return FileExistsError(
        f"{path} already exists (it appeared while this file was being written); pass "
        f"overwrite=True to replace it, or choose another path."
    )


def _link_exclusive(tmp: str, target: Path) -> None:
    """Move ``tmp`` to ``target``, failing with FileExistsError if ``target`` exists."""
    try:
        # a hard link is created atomically and only if the name is free
        os.link(tmp, target)
    except FileExistsError:
        raise _exists_error(target) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        # no hard links: claim the name with an exclusive create, then move the
        # content over the (still empty) placeholder that only we can have made
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise _exists_error(target) from None
        os.close(fd)
        try:
            os.replace(tmp, target)
        except BaseException:
            os.remove(target)
            raise
    else:
        os.remove(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or cannot tell: keep its file
    return True


def _remove_stale(target: Path) -> None:
    """Remove the temporary files of earlier saves to ``target`` whose writer process is
    gone (``.<name>.<pid>.<random>.tmp``); those of running writers are left alone."""
    prefix = f".{target.name}."
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            try:
                os.remove(target.parent / name)
            except OSError:
                pass


def write_atomic(
    path: str | os.PathLike, write: Callable[[str], None], *, overwrite: bool = True
) -> Path:
    """Write a file so that ``path`` is either left as it was or replaced whole.

    ``write(tmp)`` writes the content to a temporary file in the folder of the
    final file, which is flushed to disk (``fsync``) and then moved into place.
    If anything fails, the temporary file is removed and the error propagates.

    Parameters
    ----------
    path : str or path-like
        The destination. If it is a symbolic link, the file it points to is
        written and the link stays a link.
    write : callable
        ``write(tmp)`` writes the whole content to the path ``tmp``.
    overwrite : bool
        ``True`` (default): replace an existing file with :func:`os.replace`.
        ``False``: raise ``FileExistsError`` if ``path`` exists when the file
        is moved into place; the check and the move are one atomic step (a
        hard link, or an exclusive create where the filesystem has no hard
        links), so a file created by someone else meanwhile is never replaced.

    Returns
    -------
    pathlib.Path
        ``path`` as given.

    Notes
    -----
    A replaced file keeps its permission bits; a new file gets ``0o666`` less
    the umask, like any file the process creates (the temporary file starts
    private, ``0o600``, until it is complete).
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if os.path.islink(path) else path
    _remove_stale(target)
    # the writer's process id in the name: a save killed midway leaves a file that the
    # next save to the same target recognises (its writer is gone) and removes
    fd, tmp = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp"
    )
    os.close(fd)
    try:
        write(tmp)
        _fsync(tmp)
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, target)
        else:
            _link_exclusive(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(target.parent)
    return path
