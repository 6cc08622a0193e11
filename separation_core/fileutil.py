"""Atomic file writes: a temporary file in the target's folder, flushed, then renamed over it."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator, Union


@contextlib.contextmanager
def atomic_write(path: Union[str, Path], mode: str = "wb", **kwargs) -> Iterator:
    """``with atomic_write(p) as f: ...``: readers see the old file or the whole new one, never a
    partial write; on any error the temporary file is removed and the target is left untouched.
    The file gets the usual permissions (0666 less the umask)."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
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
