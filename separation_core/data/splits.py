"""The speaker-disjoint train / valid / test split that every command uses.

Rule (deterministic, documented, the same everywhere):

1. Each speaker id gets a number ``u = int(sha1("cocktail-split:" + id)[:15 hex], 16) / 16**15`` in
   [0, 1). With fractions ``(f_train, f_valid, f_test)`` (default 0.8 / 0.1 / 0.1) the speaker is in
   train when ``u < f_train``, in valid when ``u < f_train + f_valid``, else in test. This depends on
   the id alone: adding or removing files or other speakers never moves a speaker.
2. Small corpora: a corpus of n >= 3 speakers should give every split with a positive fraction at
   least ``m = min(2, n // 3)`` speakers (two from 6 speakers on, so that every split of the 6-speaker
   digit corpus can make 2-speaker mixtures). When rule 1 does not, the corpus is split by rank
   instead: speakers sorted by ``u``; the last ``max(m, round(n * f_test))`` go to test, the
   ``max(m, round(n * f_valid))`` before them to valid, the rest (at least one) to train. This depends
   on the whole speaker set of that corpus, which is why it applies only where rule 1 falls short.

Rule 2 is applied per corpus (scanned folder) and naming family (LibriSpeech, VCTK, digits, folder)
by ``select_split``, so the digit corpus is split the same way whether it is scanned alone or beside
LibriSpeech. A speaker id found in two families with different assignments falls back to rule 1.
Speakers of different corpora are different people: with several folders their keys are
``corpus/id``, and the split holds within every corpus.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from separation_core.data.speakers import PathLike, scan_corpora
from separation_core.errors import CocktailError

SPLITS = ("train", "valid", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
_SALT = "cocktail-split:"


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise CocktailError(
            f"split fractions must be three non-negative numbers summing to 1, got {fractions}"
        )
    return tuple(float(f) for f in fractions)  # type: ignore[return-value]


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise CocktailError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return split


def speaker_hash(speaker: str) -> float:
    """The speaker's position ``u`` in [0, 1) (rule 1)."""
    digest = hashlib.sha1((_SALT + str(speaker)).encode("utf-8")).hexdigest()
    return int(digest[:15], 16) / 16**15


def hash_split(speaker: str, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> str:
    """The split of one speaker by rule 1 alone."""
    f_train, f_valid, _ = _check_fractions(fractions)
    u = speaker_hash(speaker)
    if u < f_train:
        return "train"
    return "valid" if u < f_train + f_valid else "test"


def _minimum(n: int) -> int:
    return min(2, n // 3)


def _rank_split(ids: list[str], fractions: tuple[float, float, float]) -> dict[str, str]:
    order = sorted(ids, key=lambda s: (speaker_hash(s), s))
    n = len(order)
    counts = [0, 0, 0]
    for k in (1, 2):
        counts[k] = max(_minimum(n), round(n * fractions[k])) if fractions[k] > 0 else 0
    while n - counts[1] - counts[2] < (1 if fractions[0] > 0 else 0):
        counts[1 if counts[1] >= counts[2] else 2] -= 1
    counts[0] = n - counts[1] - counts[2]
    names = ["train"] * counts[0] + ["valid"] * counts[1] + ["test"] * counts[2]
    return dict(sorted(zip(order, names)))


def assign_splits(
    speakers: Iterable[str], fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> dict[str, str]:
    """``{speaker: split}`` for one corpus (rules 1 and 2 of the module docstring)."""
    fractions = _check_fractions(fractions)
    ids = sorted({str(s) for s in speakers})
    out = {s: hash_split(s, fractions) for s in ids}
    names = list(out.values())
    short = any(
        f > 0 and names.count(name) < _minimum(len(ids)) for name, f in zip(SPLITS, fractions)
    )
    if len(ids) >= 3 and short:
        out = _rank_split(ids, fractions)
    return out


def split_speakers(
    speakers: Iterable[str], split: str, fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> list[str]:
    """The sorted speakers of ``split`` among ``speakers`` (one corpus)."""
    _check_split(split)
    return [s for s, name in assign_splits(speakers, fractions).items() if name == split]


def corpus_splits(
    speech_dirs: PathLike | Iterable[PathLike],
    *,
    rule: str = "auto",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> tuple[dict[str, str], dict[str, list[Path]]]:
    """``({speaker: split}, {speaker: files})`` over folders, rule 2 applied per corpus and naming
    family. Each folder is one corpus; with several folders a speaker's key is ``corpus/id`` (two
    corpora may both have a "p225"), with one folder the bare id. The split depends on the bare id."""
    corpora = scan_corpora(speech_dirs, rule)
    qualify = len({corpus for corpus, _, _ in corpora}) > 1 or len(_dirs(speech_dirs)) > 1
    groups: dict[tuple[str, str], list[str]] = {}
    files: dict[str, list[Path]] = {}
    for (corpus, family, speaker), paths in corpora.items():
        groups.setdefault((corpus, family), []).append(speaker)
        files.setdefault(f"{corpus}/{speaker}" if qualify else speaker, []).extend(paths)
    assignment: dict[str, str] = {}
    for (corpus, _family), speakers in sorted(groups.items()):
        for speaker, name in assign_splits(speakers, fractions).items():
            key = f"{corpus}/{speaker}" if qualify else speaker
            if assignment.get(key, name) != name:
                name = hash_split(speaker, fractions)
            assignment[key] = name
    return dict(sorted(assignment.items())), {s: sorted(files[s]) for s in sorted(files)}


def _dirs(speech_dirs) -> list:
    return [speech_dirs] if isinstance(speech_dirs, (str, os.PathLike)) else list(speech_dirs)


def select_split(
    speech_dirs: PathLike | Iterable[PathLike],
    split: str,
    *,
    rule: str = "auto",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> dict[str, list[Path]]:
    """``{speaker: files}`` of the speakers in ``split`` (what ``mix`` and training use).

    Raises CocktailError when the folders hold no speaker at all.
    """
    _check_split(split)
    assignment, files = corpus_splits(speech_dirs, rule=rule, fractions=fractions)
    if not files:
        raise CocktailError(f"no audio file with a speaker id found (rule {rule!r})")
    return {s: files[s] for s, name in assignment.items() if name == split}
