"""Speaker identity from file names, and recursive scans of speech and noise folders.

Naming rules (``rule=``):
  "librispeech"  ``1034-121119-0000.flac`` -> ``1034`` (speaker-chapter-utterance)
  "vctk"         ``p225_003.wav``, ``p225_003_mic1.flac`` or any file under a ``p225/`` folder -> ``p225``
  "digits"       the spoken-digit corpus (fsdd): ``7_george_12.wav`` -> ``george``
  "folder"       one folder per speaker: ``ROOT/<speaker>/.../file.wav`` -> ``<speaker>``
  "auto"         the first of librispeech, vctk, digits that matches; files none of them knows
                 are read as one folder per speaker when a scanned folder holds them all in
                 sub-folders (at least two: speechocean762, Common Voice, CMU ARCTIC layouts), and
                 skipped otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Optional, Union

from separation_core.errors import CocktailError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
RULES = ("auto", "librispeech", "vctk", "digits", "folder")
_ALIASES = {"fsdd": "digits"}

_LIBRISPEECH = re.compile(r"^(\d+)-\d+-\d+$")
_VCTK_FILE = re.compile(r"^([ps]\d+)_\d+(?:_mic\d+)?$")
_VCTK_FOLDER = re.compile(r"^[ps]\d+$")
_DIGITS = re.compile(r"^\d_([A-Za-z][A-Za-z0-9]*)_\d+$")

PathLike = Union[str, os.PathLike]


def _check_rule(rule: str) -> str:
    rule = _ALIASES.get(rule, rule)
    if rule not in RULES:
        raise CocktailError(
            f"unknown speaker naming rule {rule!r}; choose one of {', '.join(RULES)}"
        )
    return rule


def _relative(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        raise CocktailError(f"{path}: not inside the scanned folder {root}") from None


def _vctk(path: Path, root: Optional[Path]) -> Optional[str]:
    match = _VCTK_FILE.match(path.stem)
    if match:
        return match.group(1)
    parents = _relative(path, root).parent.parts if root is not None else path.parent.parts[-1:]
    for part in reversed(parents):
        if _VCTK_FOLDER.match(part):
            return part
    return None


def identify(
    path: PathLike, rule: str = "auto", root: Optional[PathLike] = None
) -> Optional[tuple[str, str]]:
    """``(family, speaker)`` of one audio file, or None when the rule does not apply.

    ``family`` is the naming rule that matched; ``root`` is the scanned folder (needed by "folder",
    and bounds the folders "vctk" looks at).
    """
    rule = _check_rule(rule)
    path = Path(path)
    root = Path(root) if root is not None else None
    if rule in ("auto", "librispeech"):
        match = _LIBRISPEECH.match(path.stem)
        if match:
            return "librispeech", match.group(1)
    if rule in ("auto", "vctk"):
        speaker = _vctk(path, root)
        if speaker:
            return "vctk", speaker
    if rule in ("auto", "digits"):
        match = _DIGITS.match(path.stem)
        if match:
            return "digits", match.group(1)
    if rule == "folder":
        if root is None:
            raise CocktailError(f"{path}: the 'folder' speaker rule needs the scanned root folder")
        parts = _relative(path, root).parts
        if len(parts) >= 2:
            return "folder", parts[0]
    return None


def speaker_of(
    path: PathLike, rule: str = "auto", root: Optional[PathLike] = None
) -> Optional[str]:
    """The speaker id of one file (see the module docstring), or None."""
    found = identify(path, rule, root)
    return found[1] if found else None


def _as_dirs(dirs: Union[PathLike, Iterable[PathLike]]) -> list[Path]:
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    out = [Path(d) for d in dirs]
    if not out:
        raise CocktailError("no folder given to scan for audio files")
    for d in out:
        if not d.exists():
            raise CocktailError(f"{d}: folder not found")
        if not d.is_dir():
            raise CocktailError(f"{d}: not a folder")
    return out


def find_audio(dirs: Union[PathLike, Iterable[PathLike]]) -> list[tuple[Path, Path]]:
    """Every audio file under ``dirs`` (recursively, symlinks followed once), as sorted
    ``(root, path)`` pairs. Hidden files and folders are skipped."""
    found: list[tuple[Path, Path]] = []
    for root in _as_dirs(dirs):
        seen: set[str] = set()
        for folder, subdirs, files in os.walk(root, followlinks=True):
            real = os.path.realpath(folder)
            if real in seen:  # a symlink loop
                subdirs[:] = []
                continue
            seen.add(real)
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith(".") and name.lower().endswith(AUDIO_EXTENSIONS):
                    found.append((root, Path(folder) / name))
    return sorted(set(found))


def _speaker_folder_corpus(root: Path, unmatched: list[Path]) -> bool:
    """Whether the files no name rule knows make ``root`` a one-folder-per-speaker corpus: all of
    them inside sub-folders of ``root``, spread over at least two of them."""
    parts = [_relative(p, root).parts for p in unmatched]
    return bool(parts) and all(len(q) >= 2 for q in parts) and len({q[0] for q in parts}) >= 2


def corpus_names(roots: list[Path]) -> dict[Path, str]:
    """A unique name per scanned folder (its name; ``name#2``... when two folders share one)."""
    names: dict[Path, str] = {}
    for root in roots:
        name, k = root.name or str(root), 1
        while name in names.values():
            k += 1
            name = f"{root.name}#{k}"
        names[root] = name
    return names


def scan_corpora(
    dirs: Union[PathLike, Iterable[PathLike]], rule: str = "auto"
) -> dict[tuple[str, str, str], list[Path]]:
    """``{(corpus, family, speaker): sorted files}``: each folder of ``dirs`` is one corpus.

    With rule "auto", a folder whose files no name rule knows, all in sub-folders (at least two),
    is read as one folder per speaker (family "folder")."""
    rule = _check_rule(rule)
    roots = _as_dirs(dirs)
    names = corpus_names(sorted(set(roots), key=roots.index))
    out: dict[tuple[str, str, str], list[Path]] = {}
    unmatched: dict[Path, list[Path]] = {}
    for root, path in find_audio(roots):
        key = identify(path, rule, root)
        if key is not None:
            out.setdefault((names[root], *key), []).append(path)
        elif rule == "auto":
            unmatched.setdefault(root, []).append(path)
    for root, paths in unmatched.items():
        if _speaker_folder_corpus(root, paths):
            for path in paths:
                out.setdefault((names[root], "folder", _relative(path, root).parts[0]), []).append(
                    path
                )
    return {key: sorted(out[key]) for key in sorted(out)}


def scan_families(
    dirs: Union[PathLike, Iterable[PathLike]], rule: str = "auto"
) -> dict[tuple[str, str], list[Path]]:
    """``{(family, speaker): sorted files}`` for the audio files whose speaker the rule finds
    (all corpora together; see ``scan_corpora``)."""
    out: dict[tuple[str, str], list[Path]] = {}
    for (_, family, speaker), files in scan_corpora(dirs, rule).items():
        out.setdefault((family, speaker), []).extend(files)
    return {key: sorted(out[key]) for key in sorted(out)}


def scan_speech(
    dirs: Union[PathLike, Iterable[PathLike]], rule: str = "auto"
) -> dict[str, list[Path]]:
    """``{speaker_id: sorted files}`` over ``dirs`` (a folder or a list); files whose speaker the
    rule cannot tell are skipped. Raises CocktailError when a folder is missing or holds no speaker."""
    out: dict[str, list[Path]] = {}
    for (_, speaker), files in scan_families(dirs, rule).items():
        out.setdefault(speaker, []).extend(files)
    if not out:
        names = ", ".join(str(d) for d in _as_dirs(dirs))
        raise CocktailError(f"{names}: no audio file with a speaker id found (rule {rule!r})")
    return {speaker: sorted(out[speaker]) for speaker in sorted(out)}
