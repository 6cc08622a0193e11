"""Reading and resampling audio files, with one-line errors for every bad input
(``audio_diagnosis`` says what is wrong; ``audio_save`` writes).

Everything libsndfile reads is accepted (WAV, FLAC, OGG, MP3, AIFF…, any rate, bit depth and
channel count). Files are read in blocks and downmixed (or one channel picked) block by block,
and resampled through a soxr stream, so a long recording never needs a second full-size copy.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from separation_core.errors import AudioLoadError, ReferenceMismatchError
from separation_core.io.audio_diagnosis import (
    check_file,
    declared_wav_data,
    load_error,
    one_line,
    open_error,
    sf_message,
)

RESAMPLE_QUALITY = "HQ"
BLOCK_SAMPLES = 1 << 20  # samples (frames x channels) per read/write block: 4 MiB of float32
MIN_BLOCK_FRAMES = 4096
SILENCE_PEAK = 2.0**-15  # one 16-bit step (-90 dBFS): at most dither, no signal


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says; ``duration`` in seconds."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    duration: float
    format: str
    subtype: str


@dataclass(frozen=True)
class Audio:
    """Mono audio: ``samples`` float32 ``[time]`` at ``sample_rate``.

    ``channels`` is the channel count of the file it came from; ``warnings`` holds one-line
    notes about usable but suspicious content (clipping).
    """

    samples: np.ndarray
    sample_rate: int
    path: Path | None = None
    channels: int = 1
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def read_info(path: str | os.PathLike) -> AudioInfo:
    """Header information of an audio file; raises AudioLoadError for anything unreadable."""
    path = Path(path)
    check_file(path)
    try:
        with sf.SoundFile(str(path)) as f:
            info = AudioInfo(
                path,
                int(f.samplerate),
                int(f.channels),
                int(f.frames),
                f.frames / f.samplerate if f.samplerate else 0.0,
                f.format,
                f.subtype,
            )
    except (RuntimeError, OSError, ValueError, TypeError) as err:
        raise open_error(path, err) from None
    if info.sample_rate <= 0 or info.channels <= 0:
        raise load_error(path, f"invalid header: {info.sample_rate} Hz, {info.channels} channels")
    declared = declared_wav_data(path)
    if declared is not None:
        want, have = declared
        # 0 and 0xFFFFFFFF are the placeholders streaming writers leave; they are not truncation.
        if 0 < want < 0xFFFFFFFF and have < want:
            frame_bytes = have / info.frames if info.frames else 0
            want_s = f" ({want / frame_bytes / info.sample_rate:.2f} s)" if frame_bytes else ""
            raise load_error(
                path,
                f"truncated: the header declares {want} bytes of audio{want_s} "
                f"but only {have} bytes ({info.duration:.2f} s) are present",
            )
    return info


def _clip_level(subtype: str) -> float:
    return 0.99 if subtype in ("PCM_S8", "PCM_U8") else 0.999


def _format_seconds(frames: int, sample_rate: int) -> str:
    return f"{frames / sample_rate:.3f} s"


def load_audio(
    path: str | os.PathLike,
    *,
    sample_rate: int | None = None,
    channel: int | None = None,
    min_seconds: float = 0.1,
    allow_silent: bool = False,
) -> Audio:
    """Read a file as mono float32, downmixed by mean or with ``channel`` picked (0-based).

    With ``sample_rate`` the audio is resampled with soxr (HQ) to that rate. Raises
    AudioLoadError (one line, naming the file) for missing, folder, empty, zero samples,
    truncated, garbage, unsupported, NaN/inf, all-silent (unless ``allow_silent``) and
    shorter than ``min_seconds``. Clipping is reported in ``Audio.warnings``.
    """
    path = Path(path)
    info = read_info(path)
    if sample_rate is not None and int(sample_rate) <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if channel is not None and not 0 <= channel < info.channels:
        raise load_error(
            path,
            f"channel {channel} does not exist: the file has {info.channels} "
            f"channel{'s' if info.channels > 1 else ''} (0 to {info.channels - 1})",
        )
    if info.frames == 0:
        raise load_error(path, "contains no audio samples (valid header, zero frames)")
    if info.duration < min_seconds:
        raise load_error(
            path, f"too short: {info.duration:.3f} s long; the minimum is {min_seconds:.3f} s"
        )
    target = info.sample_rate if sample_rate is None else int(sample_rate)
    reader = _BlockReader(path, info, channel, target)
    samples = reader.run()
    if reader.peak <= SILENCE_PEAK and not allow_silent:
        if info.channels > 1 and channel is None and reader.channel_peaks.max() > SILENCE_PEAK:
            raise load_error(
                path,
                f"the mean of its {info.channels} channels is silent (they "
                "cancel out); pick one channel instead",
            )
        raise load_error(path, "all samples are silent (no sample above -90 dBFS)")
    warnings = ()
    if reader.clipped_runs or reader.over:
        count = reader.clipped
        pct = 100.0 * count / (info.frames * info.channels)
        warnings = (
            one_line(
                f"{path}: clipping: {count} samples ({pct:.2f}%) at or beyond full "
                "scale; separation quality may suffer"
            ),
        )
    return Audio(samples, target, path, info.channels, warnings)


class _BlockReader:
    """One pass over a file: downmix or pick, check, and resample block by block."""

    def __init__(self, path: Path, info: AudioInfo, channel: int | None, target_rate: int):
        self.path, self.info, self.channel, self.target = path, info, channel, target_rate
        self.peak = 0.0  # of the mono signal before resampling
        self.channel_peaks = np.zeros(info.channels)
        self.clipped = 0  # samples at or beyond the clip level
        self.clipped_runs = 0  # consecutive pairs at the clip level: a flat top, not a lone peak
        self.over = 0  # float samples beyond +-1
        self._level = _clip_level(info.subtype)
        self._prev_full = np.zeros(info.channels, dtype=bool)

    def run(self) -> np.ndarray:
        info = self.info
        resampler = None
        n_out = info.frames
        if self.target != info.sample_rate:
            resampler = soxr.ResampleStream(
                info.sample_rate, self.target, 1, dtype="float32", quality=RESAMPLE_QUALITY
            )
            n_out = round(info.frames * self.target / info.sample_rate)
        out = np.zeros(n_out, dtype=np.float32)
        block = max(MIN_BLOCK_FRAMES, BLOCK_SAMPLES // info.channels)
        buf = np.empty((block, info.channels), dtype=np.float32)
        mono = np.empty(block, dtype=np.float32)
        read = written = 0
        try:
            with sf.SoundFile(str(self.path)) as f:
                while read < info.frames:
                    data = f.read(
                        min(block, info.frames - read),
                        dtype="float32",
                        always_2d=True,
                        out=buf[: min(block, info.frames - read)],
                    )
                    if len(data) == 0:
                        break
                    self._check(data, read)
                    m = mono[: len(data)]
                    if self.channel is not None:
                        m[:] = data[:, self.channel]
                    else:
                        np.mean(data, axis=1, out=m)
                    read += len(data)
                    self.peak = max(self.peak, float(m.max()), -float(m.min()))
                    y = m if resampler is None else resampler.resample_chunk(m, last=False)
                    written = self._put(out, written, y)
                if resampler is not None:
                    written = self._put(
                        out,
                        written,
                        resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True),
                    )
        except AudioLoadError:
            raise
        except (RuntimeError, OSError, ValueError) as err:
            raise load_error(
                self.path,
                f"corrupt or truncated: decoding failed after "
                f"{_format_seconds(read, info.sample_rate)} of "
                f"{info.duration:.3f} s ({sf_message(err)})",
            ) from None
        if read < info.frames:
            raise load_error(
                self.path,
                f"truncated: only {_format_seconds(read, info.sample_rate)} "
                f"of the {info.duration:.3f} s the header declares could "
                "be decoded",
            )
        return out

    @staticmethod
    def _put(out: np.ndarray, pos: int, y: np.ndarray) -> int:
        n = max(0, min(len(y), len(out) - pos))
        out[pos : pos + n] = y[:n]
        return pos + len(y)

    def _check(self, data: np.ndarray, offset: int) -> None:
        a = np.abs(data)
        finite = np.isfinite(a)
        if not finite.all():
            first = offset + int(np.argmin(finite.all(axis=1)))
            raise load_error(
                self.path,
                f"contains NaN or infinite samples (first at "
                f"{_format_seconds(first, self.info.sample_rate)})",
            )
        np.maximum(self.channel_peaks, a.max(axis=0), out=self.channel_peaks)
        full = a >= self._level
        self.clipped += int(np.count_nonzero(full))
        self.over += int(np.count_nonzero(a > 1.0))
        self.clipped_runs += int(np.count_nonzero(full[1:] & full[:-1]))
        self.clipped_runs += int(np.count_nonzero(full[0] & self._prev_full))
        self._prev_full = full[-1].copy()


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """soxr (HQ) resampling of ``x [..., time]`` -> float32 ``[..., round(time * target / orig)]``."""
    x = np.asarray(x, dtype=np.float32)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return x.copy()
    n_out = round(x.shape[-1] * target_sr / orig_sr)
    lead = x.shape[:-1]
    flat = x.reshape(int(np.prod(lead)), x.shape[-1])
    out = np.zeros((flat.shape[0], n_out), dtype=np.float32)
    if flat.shape[0] and flat.shape[1]:
        y = soxr.resample(
            np.ascontiguousarray(flat.T), orig_sr, target_sr, quality=RESAMPLE_QUALITY
        )
        y = np.asarray(y, dtype=np.float32).reshape(-1, flat.shape[0]).T
        n = min(n_out, y.shape[1])
        out[:, :n] = y[:, :n]
    return out.reshape(*lead, n_out)


def load_references(
    paths: Sequence[str | os.PathLike],
    *,
    sample_rate: int,
    length: int,
    tolerance_seconds: float = 0.05,
    role: str = "reference",
) -> np.ndarray:
    """Reference sources (or, with ``role="estimate"``, estimates) as float32 ``[n_src, length]``
    at ``sample_rate``.

    Each file is loaded mono and resampled; one whose length differs from ``length`` by more
    than ``tolerance_seconds`` raises ReferenceMismatchError (calling the file by its ``role``),
    smaller differences are zero-padded or cropped.
    """
    if not paths:
        raise ReferenceMismatchError(f"no {role} files given")
    tolerance = round(tolerance_seconds * sample_rate)
    refs = np.zeros((len(paths), length), dtype=np.float32)
    for i, p in enumerate(paths):
        audio = load_audio(p, sample_rate=sample_rate, min_seconds=0.0)
        n = len(audio.samples)
        if abs(n - length) > tolerance:
            raise ReferenceMismatchError(
                one_line(
                    f"{p}: {role} is {n / sample_rate:.3f} s long but the mixture is "
                    f"{length / sample_rate:.3f} s (difference above the {tolerance_seconds:.3f} s "
                    "tolerance)"
                )
            )
        refs[i, : min(n, length)] = audio.samples[:length]
    return refs


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        raise load_error(path, "file not found") from None
    except IsADirectoryError:
        raise load_error(path, "is a folder, not a file") from None
    except OSError as err:
        raise load_error(path, f"cannot be read ({err.strerror or err})") from None
