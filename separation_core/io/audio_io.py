"""Reading, resampling and writing audio files, with one-line errors for every bad input.

Everything libsndfile reads is accepted (WAV, FLAC, OGG, MP3, AIFF…, any rate, bit depth and
channel count). Files are read in blocks and downmixed (or one channel picked) block by block,
and resampled through a soxr stream, so a long recording never needs a second full-size copy.
Writes go to a temporary file in the target folder, are fsynced, then renamed over the target.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from separation_core.errors import AudioLoadError, AudioSaveError, ReferenceMismatchError
from separation_core.io.fileutil import unreadable_reason

RESAMPLE_QUALITY = "HQ"
BLOCK_SAMPLES = 1 << 20  # samples (frames x channels) per read/write block: 4 MiB of float32
MIN_BLOCK_FRAMES = 4096
SILENCE_PEAK = 2.0**-15  # one 16-bit step (-90 dBFS): at most dither, no signal
SAVE_SUBTYPES = {"WAV": ("PCM_16", "PCM_24", "FLOAT"), "FLAC": ("PCM_16", "PCM_24")}
SAVE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}

# Leading bytes of containers libsndfile reads, to tell "corrupt WAV" from "not audio at all".
_KNOWN_MAGIC = (
    (b"RIFF", "WAV"),
    (b"RIFX", "WAV"),
    (b"RF64", "RF64 WAV"),
    (b"fLaC", "FLAC"),
    (b"OggS", "OGG"),
    (b"FORM", "AIFF"),
    (b"ID3", "MP3"),
    (b"caff", "CAF"),
    (b".snd", "AU"),
)
_UNSUPPORTED_SUFFIX = {
    ".m4a": "M4A/AAC",
    ".aac": "AAC",
    ".mp4": "MP4",
    ".m4b": "M4B/AAC",
    ".wma": "WMA",
    ".webm": "WebM",
    ".mkv": "Matroska",
    ".mka": "Matroska",
    ".amr": "AMR",
    ".ape": "Monkey's Audio",
    ".wv": "WavPack",
    ".mov": "QuickTime",
    ".3gp": "3GP",
    ".ac3": "AC-3",
    ".dts": "DTS",
}
_READABLE = "WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF and other formats libsndfile reads"


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


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _load_error(path: Path | str, problem: str) -> AudioLoadError:
    return AudioLoadError(_one_line(f"{path}: {problem}"))


def _save_error(path: Path | str, problem: str) -> AudioSaveError:
    return AudioSaveError(_one_line(f"{path}: {problem}"))


def _sf_message(err: Exception) -> str:
    """libsndfile's own words without soundfile's "Error opening 'path':" prefix."""
    text = _one_line(getattr(err, "error_string", None) or err).rstrip(".")
    return text[len("Error : ") :] if text.startswith("Error : ") else text


def _sniff(path: Path) -> tuple[str | None, str | None]:
    """``(known_kind, unsupported_kind)`` guessed from the first bytes and the suffix."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        head = b""
    if head[4:8] == b"ftyp":
        return None, "MP4/M4A (AAC)"
    if head[:4] == b"\x1aE\xdf\xa3":
        return None, "Matroska/WebM"
    if head[:4] == b"0&\xb2u":
        return None, "WMA/ASF"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return None, "AAC (ADTS)"
    for magic, kind in _KNOWN_MAGIC:
        if head.startswith(magic):
            return kind, None
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "MP3", None
    return None, _UNSUPPORTED_SUFFIX.get(path.suffix.lower())


def _check_file(path: Path) -> None:
    """Refuse what libsndfile must never be handed: missing, folder, FIFO, /proc or /sys file,
    unreadable (tried, not guessed from the mode bits, which root ignores), empty."""
    problem = unreadable_reason(path, "an audio file")
    if problem:
        raise _load_error(path, problem)
    if os.stat(path).st_size == 0:
        raise _load_error(path, "empty file (0 bytes)")


def _open_error(path: Path, err: Exception) -> AudioLoadError:
    known, unsupported = _sniff(path)
    code = getattr(err, "code", None)
    if unsupported:
        return _load_error(path, f"unsupported format {unsupported}; Cocktail reads {_READABLE}")
    if known:
        detail = (
            "" if code == 2 else f" ({_sf_message(err)})"
        )  # 2: libsndfile's bare "System error"
        return _load_error(path, f"corrupt or truncated {known} file{detail}")
    return _load_error(
        path,
        "not a readable audio file: unrecognised data (garbage bytes or an "
        f"unsupported format); Cocktail reads {_READABLE}",
    )


def _wav_declared_data_bytes(path: Path) -> tuple[int, int] | None:
    """``(declared, present)`` byte counts of a RIFF/WAVE ``data`` chunk, or None if not found."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            pos = 12
            while pos + 8 <= size:
                fh.seek(pos)
                chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
                if chunk_id == b"data":
                    return chunk_size, size - pos - 8
                pos += 8 + chunk_size + (chunk_size & 1)
    except (OSError, struct.error):
        return None
    return None


def read_info(path: str | os.PathLike) -> AudioInfo:
    """Header information of an audio file; raises AudioLoadError for anything unreadable."""
    path = Path(path)
    _check_file(path)
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
        raise _open_error(path, err) from None
    if info.sample_rate <= 0 or info.channels <= 0:
        raise _load_error(path, f"invalid header: {info.sample_rate} Hz, {info.channels} channels")
    declared = _wav_declared_data_bytes(path)
    if declared is not None:
        want, have = declared
        # 0 and 0xFFFFFFFF are the placeholders streaming writers leave; they are not truncation.
        if 0 < want < 0xFFFFFFFF and have < want:
            frame_bytes = have / info.frames if info.frames else 0
            want_s = f" ({want / frame_bytes / info.sample_rate:.2f} s)" if frame_bytes else ""
            raise _load_error(
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
        raise _load_error(
            path,
            f"channel {channel} does not exist: the file has {info.channels} "
            f"channel{'s' if info.channels > 1 else ''} (0 to {info.channels - 1})",
        )
    if info.frames == 0:
        raise _load_error(path, "contains no audio samples (valid header, zero frames)")
    if info.duration < min_seconds:
        raise _load_error(
            path, f"too short: {info.duration:.3f} s long; the minimum is {min_seconds:.3f} s"
        )
    target = info.sample_rate if sample_rate is None else int(sample_rate)
    reader = _BlockReader(path, info, channel, target)
    samples = reader.run()
    if reader.peak <= SILENCE_PEAK and not allow_silent:
        if info.channels > 1 and channel is None and reader.channel_peaks.max() > SILENCE_PEAK:
            raise _load_error(
                path,
                f"the mean of its {info.channels} channels is silent (they "
                "cancel out); pick one channel instead",
            )
        raise _load_error(path, "all samples are silent (no sample above -90 dBFS)")
    warnings = ()
    if reader.clipped_runs or reader.over:
        count = reader.clipped
        pct = 100.0 * count / (info.frames * info.channels)
        warnings = (
            _one_line(
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
            raise _load_error(
                self.path,
                f"corrupt or truncated: decoding failed after "
                f"{_format_seconds(read, info.sample_rate)} of "
                f"{info.duration:.3f} s ({_sf_message(err)})",
            ) from None
        if read < info.frames:
            raise _load_error(
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
            raise _load_error(
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
                _one_line(
                    f"{p}: {role} is {n / sample_rate:.3f} s long but the mixture is "
                    f"{length / sample_rate:.3f} s (difference above the {tolerance_seconds:.3f} s "
                    "tolerance)"
                )
            )
        refs[i, : min(n, length)] = audio.samples[:length]
    return refs


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
    if not np.isfinite(x).all():
        raise _save_error(path, "samples contain NaN or infinite values")
    if int(sample_rate) <= 0:
        raise _save_error(path, f"invalid sample rate {sample_rate}")
    return fmt, subtype, x


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


def encode_audio(path: Path, x: np.ndarray, sample_rate: int, subtype: str, fmt: str) -> None:
    """Write ``x [n_ch, time]`` (from ``prepare_audio``) into the existing file ``path``, block by
    block, and fsync it. A failing disk raises its own OSError (errno kept, e.g. ENOSPC)."""
    n_ch, n = x.shape
    block = max(MIN_BLOCK_FRAMES, BLOCK_SAMPLES // n_ch)
    with open(path, "r+b") as fh:
        out = _KeepOSError(fh)
        try:
            with sf.SoundFile(out, "w", int(sample_rate), n_ch, subtype, format=fmt) as f:
                for start in range(0, n, block):
                    f.write(
                        _to_file_dtype(x[:, start : start + block].T.astype(np.float64), subtype)
                    )
        except OSError:
            raise
        except Exception as err:
            if out.error is not None:
                raise out.error from None
            raise RuntimeError(_sf_message(err)) from None
        if out.error is not None:
            raise out.error
        fh.flush()
        os.fsync(fh.fileno())


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        raise _load_error(path, "file not found") from None
    except IsADirectoryError:
        raise _load_error(path, "is a folder, not a file") from None
    except OSError as err:
        raise _load_error(path, f"cannot be read ({err.strerror or err})") from None
