"""Why an audio file does not read, in one line that names the file: what must never reach
libsndfile, what its first bytes say the file is, a WAV whose data chunk is cut short, and
libsndfile's own words without their prefix."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from separation_core.errors import AudioLoadError
from separation_core.io.fileutil import unreadable_reason

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


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def load_error(path: Path | str, problem: str) -> AudioLoadError:
    """``AudioLoadError("<path>: <problem>")`` on one line."""
    return AudioLoadError(one_line(f"{path}: {problem}"))


def sf_message(err: Exception) -> str:
    """libsndfile's own words without soundfile's "Error opening 'path':" prefix."""
    text = one_line(getattr(err, "error_string", None) or err).rstrip(".")
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


def check_file(path: Path) -> None:
    """Refuse what libsndfile must never be handed: missing, folder, FIFO, /proc or /sys file,
    unreadable (tried, not guessed from the mode bits, which root ignores), empty."""
    problem = unreadable_reason(path, "an audio file")
    if problem:
        raise load_error(path, problem)
    if os.stat(path).st_size == 0:
        raise load_error(path, "empty file (0 bytes)")


def open_error(path: Path, err: Exception) -> AudioLoadError:
    """Why libsndfile refused to open ``path`` (``err``): an unsupported format, a corrupt file of a
    known one, or no audio at all."""
    known, unsupported = _sniff(path)
    code = getattr(err, "code", None)
    if unsupported:
        return load_error(path, f"unsupported format {unsupported}; Cocktail reads {_READABLE}")
    if known:
        detail = "" if code == 2 else f" ({sf_message(err)})"  # 2: libsndfile's bare "System error"
        return load_error(path, f"corrupt or truncated {known} file{detail}")
    return load_error(
        path,
        "not a readable audio file: unrecognised data (garbage bytes or an "
        f"unsupported format); Cocktail reads {_READABLE}",
    )


def declared_wav_data(path: Path) -> tuple[int, int] | None:
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
