"""Writing audio files: .wav (PCM_16, PCM_24, FLOAT) and .flac (PCM_16, PCM_24), block by block.
Writes go to a temporary file in the target folder, are fsynced, then renamed over the target."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from separation_core.errors import AudioSaveError
from separation_core.io.audio_diagnosis import one_line, sf_message
from separation_core.io.audio_io import BLOCK_SAMPLES, MIN_BLOCK_FRAMES

SAVE_SUBTYPES = {"WAV": ("PCM_16", "PCM_24", "FLOAT"), "FLAC": ("PCM_16", "PCM_24")}
SAVE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}


def _save_error(path: Path | str, problem: str) -> AudioSaveError:
    return AudioSaveError(one_line(f"{path}: {problem}"))


def _to_file_dtype(block: np.ndarray, subtype: str) -> np.ndarray:
    """Clip-safe conversion of float ``[frames, ch]`` to what libsndfile writes without rescaling."""
    if subtype == "PCM_16":
        return np.clip(np.rint(block * 32768.0), -32768, 32767).astype(np.int16)
    if subtype == "PCM_24":
        # libsndfile keeps the top 24 bits of an int32, so quantise to 24 bits and shift up.
        q = np.clip(np.rint(block * 8388608.0), -8388608, 8388607).astype(np.int32)
        return q << 8
    return block.astype(np.float32)


def save_audio(
    path: str | os.PathLike,
    samples: np.ndarray,
    sample_rate: int,
    *,
    subtype: str = "PCM_16",
    overwrite: bool = False,
) -> Path:
    """Write ``samples [n_ch, time]`` or ``[time]`` to a .wav (PCM_16, PCM_24, FLOAT) or .flac
    (PCM_16, PCM_24) file atomically; returns the path.

    PCM values are clipped to full scale. Raises AudioSaveError (one line) if the file exists
    and not ``overwrite``, the folder is missing or read-only, the disk is full (the system's
    reason is named), or the request is invalid.
    """
    from separation_core.io.filesets import write_file_set

    path = Path(path)
    fmt, subtype, x = prepare_audio(path, samples, sample_rate, subtype)
    folder = path.parent
    if not folder.is_dir():
        raise _save_error(path, f"folder {folder} does not exist")
    if path.is_dir():
        raise _save_error(path, "is a folder")
    if path.exists() and not overwrite:
        raise _save_error(path, "already exists; not overwritten")
    write_file_set(
        [(path, lambda tmp: encode_audio(tmp, x, sample_rate, subtype, fmt))], overwrite=overwrite
    )
    return path


def prepare_audio(
    path: Path, samples: np.ndarray, sample_rate: int, subtype: str
) -> tuple[str, str, np.ndarray]:
    """The checks of a save on the request alone -> (format, subtype, samples ``[n_ch, time]``)."""
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise _save_error(
            path, f"unsupported extension {path.suffix or '(none)'!r}; use .wav or .flac"
        )
    subtype = str(subtype).upper()
    if subtype not in SAVE_SUBTYPES[fmt]:
        raise _save_error(
            path,
            f"{fmt} cannot be written as {subtype}; choose one of {', '.join(SAVE_SUBTYPES[fmt])}",
        )
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise _save_error(
            path,
            f"nothing to write: samples have shape {tuple(np.shape(samples))}, "
            "expected [channels, time] with at least one sample",
        )
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise _save_error(path, f"samples must be real numbers, got {x.dtype}")
    if not _all_finite(x):
        raise _save_error(path, "samples contain NaN or infinite values")
    if int(sample_rate) <= 0:
        raise _save_error(path, f"invalid sample rate {sample_rate}")
    return fmt, subtype, x


def _all_finite(x: np.ndarray) -> bool:
    """Whether every sample of ``x [n_ch, time]`` is finite, checked block by block (no mask of
    the whole signal)."""
    block = max(MIN_BLOCK_FRAMES, BLOCK_SAMPLES // x.shape[0])
    return all(np.isfinite(x[:, a : a + block]).all() for a in range(0, x.shape[1], block))


class _KeepOSError:
    """A file object for libsndfile that keeps the first OSError of the disk (full, quota, I/O):
    libsndfile itself reports only "System error"."""

    def __init__(self, fh):
        self.fh, self.error = fh, None

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except OSError as err:
            self.error = self.error or err
            raise

    def write(self, data):
        try:
            return self._call(self.fh.write, data)
        except OSError:
            return 0

    def seek(self, *args):
        return self._call(self.fh.seek, *args)

    def tell(self):
        return self._call(self.fh.tell)

    def read(self, n=-1):
        return self._call(self.fh.read, n)


def encode_audio(
    path: Path, x: np.ndarray, sample_rate: int, subtype: str, fmt: str, gain: float = 1.0
) -> None:
    """Write ``x [n_ch, time]`` (from ``prepare_audio``) times ``gain`` (in float32) into the
    existing file ``path``, block by block, and fsync it. A failing disk raises its own OSError
    (errno kept, e.g. ENOSPC)."""
    n_ch, n = x.shape
    block = max(MIN_BLOCK_FRAMES, BLOCK_SAMPLES // n_ch)
    with open(path, "r+b") as fh:
        out = _KeepOSError(fh)
        try:
            with sf.SoundFile(out, "w", int(sample_rate), n_ch, subtype, format=fmt) as f:
                for start in range(0, n, block):
                    piece = x[:, start : start + block]
                    if gain != 1.0:
                        piece = piece * np.float32(gain)
                    f.write(_to_file_dtype(piece.T.astype(np.float64), subtype))
        except OSError:
            raise
        except Exception as err:
            if out.error is not None:
                raise out.error from None
            raise RuntimeError(sf_message(err)) from None
        if out.error is not None:
            raise out.error
        fh.flush()
        os.fsync(fh.fileno())
