"""Atomic file writes (a temporary file in the target's folder, flushed, then renamed over it) and
the checks that tell why a path cannot be read as a plain data file."""

from __future__ import annotations

import contextlib
import functools
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Optional, Union

from separation_core.io.filesets import temp_name

NOT_REGULAR = "not a regular file (a device, pipe, socket or /proc, /sys kernel file)"


@contextlib.contextmanager
def atomic_write(path: Union[str, Path], mode: str = "wb", **kwargs) -> Iterator:
    """``with atomic_write(p) as f: ...``: readers see the old file or the whole new one, never a
    partial write; on any error the temporary file is removed and the target is left untouched.
    The file gets the usual permissions (0666 less the umask)."""
    path = Path(path)
    tmp = path.parent / temp_name()  # short: fits wherever the final name fits
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=1)
def _kernel_fs_devices() -> frozenset:
    """``st_dev`` of the mounted /proc and /sys: their files claim to be regular but are not data."""
    devices = set()
    for mount in ("/proc", "/sys"):
        try:
            if os.path.ismount(mount):
                devices.add(os.stat(mount).st_dev)
        except OSError:
            pass
    return frozenset(devices)


def unreadable_reason(path: Union[str, Path], what: str = "file") -> Optional[str]:
    """Why ``path`` cannot be read as a plain data file (one phrase), or None when it can.

    Missing, a folder, not a regular file (devices, pipes, sockets and the pseudo-files of /proc
    and /sys, which report sizes they do not hold), or refused on opening (permission, I/O error).
    A pipe is never opened, so the check cannot block."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "file not found"
    except OSError as err:
        return f"cannot access the file ({err.strerror or err})"
    if stat.S_ISDIR(st.st_mode):
        return f"is a folder, not {what}"
    if not stat.S_ISREG(st.st_mode) or st.st_dev in _kernel_fs_devices():
        return NOT_REGULAR
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except PermissionError:
        return "cannot be read: permission denied"
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    return None
