"""Who talks when as data: turns (person, start, end) and RTTM files in and out.

RTTM (NIST Rich Transcription Time Marked), one turn a line::

    SPEAKER <file> 1 <start> <duration> <NA> <NA> <name> <NA> <NA>
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from separation_core.errors import CocktailError
from separation_core.io.fileutil import atomic_write


@dataclass(frozen=True)
class Turn:
    """Person ``speaker`` (an index, 0-based) talks from ``start`` to ``end`` seconds;
    ``confidence`` in [0, 1] where the engine gives one."""

    speaker: int
    start: float
    end: float
    confidence: Optional[float] = None

    @property
    def duration(self) -> float:
        return self.end - self.start


def sorted_turns(turns: Iterable[Turn]) -> list[Turn]:
    return sorted(turns, key=lambda t: (t.start, t.end, t.speaker))


def rttm_text(turns: Sequence[Turn], file_id: str, names: Optional[Sequence[str]] = None) -> str:
    """``turns`` as RTTM lines; person k is ``names[k]`` (spaces become ``_``) or ``person<k+1>``."""

    def name(k: int) -> str:
        label = names[k] if names is not None and k < len(names) else f"person{k + 1}"
        return "_".join(str(label).split()) or f"person{k + 1}"

    file_id = "_".join(str(file_id).split()) or "recording"
    return "".join(
        f"SPEAKER {file_id} 1 {t.start:.3f} {t.duration:.3f} <NA> <NA> {name(t.speaker)} <NA> <NA>\n"
        for t in sorted_turns(turns)
    )


def write_rttm(
    path: Union[str, Path],
    turns: Sequence[Turn],
    file_id: str,
    names: Optional[Sequence[str]] = None,
) -> Path:
    """Write ``turns`` as RTTM (atomically)."""
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(rttm_text(turns, file_id, names))
    return path


def read_rttm(
    path: Union[str, Path], duration: Optional[float] = None
) -> tuple[list[Turn], list[str]]:
    """The turns of an RTTM file and the people's names (in order of first appearance).

    Refused in one line naming the file and the line: a file that cannot be read, an empty file,
    a line that is not ``SPEAKER`` with at least 8 fields, a start or duration that is not a finite
    number, a negative start or a duration not above zero. Lines of other types (``SPKR-INFO``,
    ``LEXEME``, ...) and comments are skipped. Turns that end past ``duration`` are cut there (and
    dropped when they start past it); overlapping turns of one person are merged."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CocktailError(f"{path}: cannot read the RTTM file ({e})") from None
    names: list[str] = []
    turns: list[Turn] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith((";", "#")):
            continue
        if fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise CocktailError(
                f"{path}, line {number}: an RTTM SPEAKER line has at least 8 fields, got {len(fields)}"
            )
        try:
            start, length = float(fields[3]), float(fields[4])
        except ValueError:
            raise CocktailError(
                f"{path}, line {number}: start and duration must be numbers "
                f"(got '{fields[3]}' and '{fields[4]}')"
            ) from None
        if not (math.isfinite(start) and math.isfinite(length)) or start < 0 or length <= 0:
            raise CocktailError(
                f"{path}, line {number}: a turn needs a start >= 0 and a duration > 0 "
                f"(got {fields[3]} and {fields[4]})"
            )
        if fields[7] not in names:
            names.append(fields[7])
        turns.append(Turn(names.index(fields[7]), start, start + length))
    if not turns:
        raise CocktailError(f"{path}: holds no SPEAKER turn (an empty or non-RTTM file)")
    if duration is not None:
        turns = [
            Turn(t.speaker, t.start, min(t.end, duration)) for t in turns if t.start < duration
        ]
    return merge_overlaps(turns), names


def merge_overlaps(turns: Iterable[Turn]) -> list[Turn]:
    """Each person's overlapping or touching turns joined into one (confidence: the lowest)."""
    merged: list[Turn] = []
    last: dict[int, int] = {}
    for t in sorted_turns(turns):
        i = last.get(t.speaker)
        if i is not None and t.start <= merged[i].end:
            prev = merged[i]
            conf = [c for c in (prev.confidence, t.confidence) if c is not None]
            merged[i] = Turn(
                t.speaker, prev.start, max(prev.end, t.end), min(conf) if conf else None
            )
            continue
        last[t.speaker] = len(merged)
        merged.append(t)
    return sorted_turns(merged)
