"""Writing files as one unit: every file to a short-named temporary in its folder first, then all
renamed into place; a failure leaves none of the new files and the old ones as they were.

Temporaries are named ``.cocktail-<8 hex>.tmp`` (22 characters), so they fit wherever the final
name fits; those left by a killed process are removed after an hour by ``remove_stale_temps``.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from separation_core.errors import AudioSaveError

TEMP_PREFIX = ".cocktail-"
TEMP_SUFFIX = ".tmp"
STALE_SECONDS = 3600.0
_TEMP_NAME = re.compile(r"^\.cocktail-[0-9a-f]{8}\.tmp$")

Writer = Callable[[Path], None]  # fills the (existing, empty) temporary file it is given


def temp_name() -> str:
    return f"{TEMP_PREFIX}{secrets.token_hex(4)}{TEMP_SUFFIX}"


def create_temp(folder: Union[str, Path]) -> Path:
    """Create a new empty temporary file in ``folder`` (usual permissions: 0666 less the umask)."""
    for _ in range(16):
        path = Path(folder) / temp_name()
        try:
            fd = os.open(
                path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
            )
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(f"no free temporary name in {folder}")


def remove_stale_temps(folder: Union[str, Path], max_age: float = STALE_SECONDS) -> int:
    """Remove our temporaries older than ``max_age`` seconds from ``folder``; returns how many."""
    removed, limit = 0, time.time() - max_age
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        try:
            if (
                _TEMP_NAME.match(entry.name)
                and entry.is_file(follow_symlinks=False)
                and entry.stat(follow_symlinks=False).st_mtime < limit
            ):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            pass
    return removed


def ensure_writable_folder(folder: Union[str, Path], *, create: bool = True) -> Path:
    """Prove ``folder`` writable by creating and deleting a file in it, creating the folder first
    (``create`` False: nothing is created; a missing folder's nearest existing parent is probed).
    Raises AudioSaveError naming the folder and the reason."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise AudioSaveError(f"{folder}: is a file, not a folder")
    parent = _nearest_existing(folder)
    if parent is not None and not parent.is_dir():
        raise AudioSaveError(f"{folder}: cannot create the folder ({parent} is a file)")
    probe = folder
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.exists():
            probe = parent or Path.cwd()
    except OSError as err:
        raise AudioSaveError(
            f"{folder}: cannot create the folder ({err.strerror or err})"
        ) from None
    try:
        create_temp(probe).unlink()
    except OSError as err:
        what = "write in this folder" if probe == folder else f"create the folder in {probe}"
        raise AudioSaveError(f"{folder}: cannot {what} ({err.strerror or err})") from None
    return folder


def _nearest_existing(folder: Path) -> Optional[Path]:
    for path in (folder, *folder.parents):
        if path.exists():
            return path
    return None


def write_file_set(
    writers: Iterable[tuple[Path, Writer]], *, overwrite: bool = False, clean_stale: bool = False
) -> list[Path]:
    """Write every ``(path, write)`` as one unit and return the paths.

    Each ``write(tmp)`` fills a temporary file in its path's folder; only when all are written are
    they renamed into place. On any failure the temporaries and the files already placed are removed
    and replaced files restored. Without ``overwrite`` an existing path is never replaced (checked
    again at the rename). ``clean_stale`` first removes stale temporaries from the folders.
    Raises AudioSaveError naming the file and the system's reason (e.g. "No space left on device")."""
    writers = [(Path(p), w) for p, w in writers]
    if clean_stale:
        for folder in {p.parent for p, _ in writers}:
            remove_stale_temps(folder)
    staged: list[tuple[Path, Path]] = []
    try:
        for final, write in writers:
            staged.append((_make_temp(final), final))
            _fill(write, staged[-1][0], final)
        _commit(staged, overwrite)
    finally:
        for tmp, _ in staged:
            _unlink(tmp)
    for folder in {p.parent for _, p in staged}:
        fsync_folder(folder)
    return [final for _, final in staged]


def _make_temp(final: Path) -> Path:
    try:
        return create_temp(final.parent)
    except OSError as err:
        raise _write_error(final, err) from None


def _fill(write: Writer, tmp: Path, final: Path) -> None:
    try:
        write(tmp)
    except AudioSaveError:
        raise
    except OSError as err:
        raise _write_error(final, err) from None
    except (RuntimeError, ValueError) as err:
        raise AudioSaveError(f"{final}: cannot write ({_one_line(err)})") from None


@dataclass
class _Placed:
    path: Path
    existed: bool
    backup: Optional[Path] = None


def _commit(staged: Sequence[tuple[Path, Path]], overwrite: bool) -> None:
    """Rename every temporary onto its target; on failure undo the renames already done."""
    placed: list[_Placed] = []
    try:
        for tmp, final in staged:
            placed.append(_place(tmp, final, overwrite))
    except BaseException:
        for item in reversed(placed):
            _undo(item)
        raise
    for item in placed:
        if item.backup is not None:
            _unlink(item.backup)


def _place(tmp: Path, final: Path, overwrite: bool) -> _Placed:
    if not overwrite:
        try:
            os.link(tmp, final)  # fails when final exists: never replaces it, even in a race
        except FileExistsError:
            raise AudioSaveError(f"{final}: already exists; not overwritten") from None
        except OSError:  # no hard links on this file system (FAT, some shares)
            if os.path.lexists(final):
                raise AudioSaveError(f"{final}: already exists; not overwritten") from None
            _replace(tmp, final)
        return _Placed(final, existed=False)
    existed = os.path.lexists(final)
    backup = _backup(final) if existed else None
    try:
        _replace(tmp, final)
    except BaseException:
        if backup is not None:
            _unlink(backup)
        raise
    return _Placed(final, existed=existed, backup=backup)


def _backup(final: Path) -> Optional[Path]:
    """A second link to the file about to be replaced, to restore it on failure (None: no links)."""
    backup = final.parent / temp_name()
    try:
        os.link(final, backup)
    except OSError:
        return None
    return backup


def _replace(tmp: Path, final: Path) -> None:
    try:
        os.replace(tmp, final)
    except OSError as err:
        raise _write_error(final, err) from None


def _undo(item: _Placed) -> None:
    try:
        if item.backup is not None:
            os.replace(item.backup, item.path)
        elif not item.existed:
            os.unlink(item.path)
    except OSError:
        pass


def _write_error(final: Path, err: OSError) -> AudioSaveError:
    if isinstance(err, PermissionError):
        return AudioSaveError(f"{final}: folder {final.parent} is not writable (permission denied)")
    return AudioSaveError(f"{final}: cannot write: {_one_line(err.strerror or err)}")


def _one_line(value) -> str:
    return " ".join(str(value).split())


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def fsync_folder(folder: Union[str, Path]) -> None:
    """Make renames in ``folder`` durable where the OS allows opening a folder (POSIX); best effort."""
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
