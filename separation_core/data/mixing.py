"""Mixture simulation (wsj0-2mix style): fixed, seeded mixture sets on disk, built from the recipe
of ``mixture_recipe`` (lengths, levels, noise, scale), and read back.

Sets on disk: ``out/mix/<id>.wav``, ``out/s1/<id>.wav``.. ``out/sS/<id>.wav``, ``out/noise/<id>.wav``
and ``out/metadata.json`` (written last; a folder without it is an unfinished set). The WAVs are 24-bit
PCM with every signal rounded to the 24-bit grid before the mixture is summed, so mix = s1 + ... + sS
+ noise holds exactly in the files. (Not float WAV: libsndfile stamps those with the time of writing,
and a set must be the same bytes for the same seed.) Sample positions in the metadata count samples
at the set's sample rate.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from separation_core.cancel import CancelToken, ProgressFn, check_cancel, report
from separation_core.data.mixture_recipe import (
    PEAK_LIMIT,
    TARGET_DBFS,
    check_mix_options,
    compose,
    db,
    draw_crop,
    draw_levels,
    noise_excerpt,
    noise_region,
    on_pcm24_grid,
    place,
    rms,
)
from separation_core.data.rooms import ReverbOptions, check_probability, reverberate
from separation_core.data.speakers import PathLike, find_audio
from separation_core.data.splits import DEFAULT_FRACTIONS, select_split
from separation_core.errors import CocktailError
from separation_core.io.fileutil import atomic_write

SUBTYPE = "PCM_24"
FORMAT_NAME = "cocktail-mixture-set"
FORMAT_VERSION = 1


def split_speakers_files(
    speech_dirs, split: str, speakers: int, rule: str, fractions
) -> dict[str, list[Path]]:
    """The ``split``'s ``{speaker: files}``, refusing too few speakers for one mixture."""
    chosen = select_split(speech_dirs, split, rule=rule, fractions=fractions)
    if len(chosen) < speakers:
        raise CocktailError(
            f"the {split} split has {len(chosen)} speaker(s) "
            f"({', '.join(chosen) or 'none'}); {speakers} are needed per mixture: "
            "give more speech folders or another split"
        )
    return chosen


def noise_files(noise_dirs) -> list[Path]:
    files = [path for _, path in find_audio(noise_dirs)]
    if not files:
        raise CocktailError(
            f"{', '.join(str(d) for d in as_paths(noise_dirs))}: no audio file found"
        )
    return files


def as_paths(dirs) -> list[Path]:
    return [Path(dirs)] if isinstance(dirs, (str, os.PathLike)) else [Path(d) for d in dirs]


def prepare_out(out: Path, speech_dirs: list[Path], overwrite: bool) -> None:
    resolved = out.resolve()
    for d in speech_dirs:
        if resolved == d.resolve() or d.resolve() in resolved.parents:
            raise CocktailError(
                f"{out}: the output folder is inside the speech folder {d}; "
                "choose a folder outside it"
            )
    if out.exists() and not out.is_dir():
        raise CocktailError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise CocktailError(
                f"{out}: folder is not empty; use --overwrite to replace the mixture set in it"
            )
        # Remove only what a mixture set writes; anything else in the folder is left alone.
        (out / "metadata.json").unlink(missing_ok=True)
        for sub in out.iterdir():
            if sub.is_dir() and (
                sub.name in ("mix", "noise") or (sub.name[:1] == "s" and sub.name[1:].isdigit())
            ):
                for f in sub.glob("*.wav"):
                    f.unlink()
                if not any(sub.iterdir()):
                    sub.rmdir()
    out.mkdir(parents=True, exist_ok=True)


def _readable(
    files: dict[str, list[Path]], sample_rate: int, decoded: dict, cancel: Optional[CancelToken]
) -> dict[str, list[Path]]:
    """``files`` without those that do not decode (warned about once); fills ``decoded``."""
    import warnings

    from separation_core.errors import AudioLoadError
    from separation_core.io.audio_io import load_audio

    kept, skipped = {}, []
    for speaker, paths in files.items():
        good = []
        for path in paths:
            check_cancel(cancel)
            try:
                decoded[path] = load_audio(path, sample_rate=sample_rate).samples
                good.append(path)
            except AudioLoadError as err:
                skipped.append(str(err))
        if good:
            kept[speaker] = good
    if skipped:
        warnings.warn(f"{len(skipped)} audio file(s) skipped; first: {skipped[0]}", stacklevel=3)
    return kept


def write_json(path: Path, data: dict) -> None:
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=1) + "\n")


def round6(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(float(x), 6)


def build_mixture_set(
    speech_dirs: PathLike | Iterable[PathLike],
    out_dir: PathLike,
    *,
    num: int,
    speakers: int = 2,
    mode: str = "min",
    sir_range: Sequence[float] = (-5.0, 5.0),
    snr_range: Optional[Sequence[float]] = None,
    noise_dirs: PathLike | Iterable[PathLike] | None = None,
    split: str = "test",
    seed: int = 0,
    sample_rate: int = 16000,
    rule: str = "auto",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    overwrite: bool = False,
    noise_prob: float = 1.0,
    reverb: Optional[ReverbOptions] = None,
    skip_unreadable: bool = False,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> Path:
    """Write ``num`` mixtures of ``speakers`` speakers of ``split`` to ``out_dir``; returns the path
    of its metadata.json. Mixture i depends only on (inputs, options, seed, i): the same call writes
    the same bytes, and a larger ``num`` extends a smaller set. Raises CocktailError (bad options,
    too few speakers, a non-empty ``out_dir`` without ``overwrite``) or AudioLoadError.

    ``noise_prob`` and ``reverb`` (see ``separation_core.data.rooms``) are drawn from a second
    generator, ``default_rng([seed, i, 1])``: the speakers, excerpts and levels of mixture i are the
    same with and without them, so the clean, noisy and reverberant sets of one seed differ only in
    the condition. With ``skip_unreadable`` every file of the split is decoded first and the ones
    that fail are left out with a warning (what training does), instead of stopping the set."""
    from separation_core.io.audio_io import load_audio
    from separation_core.io.audio_save import save_audio

    noise_prob = check_probability("the noise probability", noise_prob)
    reverb = reverb or ReverbOptions()
    if int(num) < 1:
        raise CocktailError(f"the number of mixtures must be at least 1, got {num}")
    if int(seed) < 0:
        raise CocktailError(f"the seed must be a non-negative integer, got {seed}")
    snr_range = check_mix_options(speakers, mode, sir_range, noise_dirs, snr_range, split)
    speech_list = as_paths(speech_dirs)
    files = split_speakers_files(speech_list, split, speakers, rule, fractions)
    decoded: dict[Path, np.ndarray] = {}
    if skip_unreadable:
        files = _readable(files, sample_rate, decoded, cancel)
        if len(files) < speakers:
            raise CocktailError(
                f"the {split} split has {len(files)} speaker(s) with readable audio; "
                f"{speakers} are needed per mixture"
            )
    ids = sorted(files)
    noises = noise_files(noise_dirs) if noise_dirs else []
    out = Path(out_dir)
    prepare_out(out, speech_list, overwrite)
    names = ["mix"] + [f"s{k + 1}" for k in range(speakers)] + (["noise"] if noises else [])
    for name in names:
        (out / name).mkdir(exist_ok=True)

    noise_cache: dict[Path, np.ndarray] = {}
    entries = []
    for i in range(int(num)):
        check_cancel(cancel)
        rng = np.random.default_rng([int(seed), i])
        condition_rng = np.random.default_rng([int(seed), i, 1])
        chosen = [ids[j] for j in rng.choice(len(ids), size=speakers, replace=False)]
        paths = [files[s][int(rng.integers(len(files[s])))] for s in chosen]
        audio = [
            decoded[p] if p in decoded else load_audio(p, sample_rate=sample_rate).samples
            for p in paths
        ]
        lengths = [len(a) for a in audio]
        length = min(lengths) if mode == "min" else max(lengths)
        crops = [draw_crop(rng, n, length) for n in lengths]
        levels = draw_levels(rng, speakers, sir_range)
        placed = np.stack([place(a, length, c, o) for a, (c, o) in zip(audio, crops)])
        noise_info, excerpt, snr = None, None, None
        if noises:
            npath = noises[int(rng.integers(len(noises)))]
            if npath not in noise_cache:
                noise_cache[npath] = load_audio(npath, sample_rate=sample_rate).samples
            region = noise_region(len(noise_cache[npath]), split, fractions)
            if region[1] <= region[0]:
                raise CocktailError(f"{npath}: too short to give the {split} split a noise excerpt")
            start = int(rng.integers(region[0], region[1]))
            snr = float(rng.uniform(*snr_range))
            excerpt = noise_excerpt(noise_cache[npath], region, start, length)
            noise_info = {"path": str(npath.resolve()), "region": list(region), "crop_start": start}
            if noise_prob < 1.0 and condition_rng.uniform() >= noise_prob:
                noise_info, excerpt, snr = None, None, None
        room, positions = reverb.draw(condition_rng, speakers)
        if room is not None:
            placed = reverberate(placed, room, positions)
        comp = on_pcm24_grid(compose(placed, levels, [rms(a) for a in audio], excerpt, snr))

        mid = f"{i:05d}"
        save_audio(
            out / "mix" / f"{mid}.wav", comp.mixture, sample_rate, subtype=SUBTYPE, overwrite=True
        )
        sources = []
        for k, s in enumerate(chosen):
            save_audio(
                out / f"s{k + 1}" / f"{mid}.wav",
                comp.sources[k],
                sample_rate,
                subtype=SUBTYPE,
                overwrite=True,
            )
            c, o = crops[k]
            sources.append(
                {
                    "speaker": s,
                    "path": str(paths[k].resolve()),
                    "crop_start": c,
                    "offset": o,
                    "frames": min(lengths[k] - c, length - o),
                    "gain_db": round6(db(comp.source_gains[k])),
                    "level_db": round6(db(rms(comp.sources[k]))),
                }
            )
        if comp.noise is not None:
            write_noise_track(out, mid, comp, sample_rate, snr, noise_info)
        entries.append(
            {
                "id": mid,
                "frames": length,
                "seconds": round6(length / sample_rate),
                "files": {
                    "mix": f"mix/{mid}.wav",
                    "sources": [f"s{k + 1}/{mid}.wav" for k in range(speakers)],
                    "noise": f"noise/{mid}.wav" if comp.noise is not None else None,
                },
                "relative_levels_db": [round6(v) for v in levels],
                "sources": sources,
                "noise": noise_info,
                "room": None if room is None else {**room.info, "positions": positions},
            }
        )
        report(progress, (i + 1) / num, "mixing")

    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "sample_rate": int(sample_rate),
        "num_speakers": int(speakers),
        "mode": mode,
        "split": split,
        "seed": int(seed),
        "sir_range": [float(v) for v in sir_range],
        "snr_range": list(snr_range) if snr_range else None,
        "rule": rule,
        "fractions": [float(f) for f in fractions],
        "speech_dirs": [str(d.resolve()) for d in speech_list],
        "noise_dirs": [str(d.resolve()) for d in as_paths(noise_dirs)] if noise_dirs else [],
        "noise_prob": noise_prob if noises else None,
        "reverb": reverb.describe(),
        "target_dbfs": TARGET_DBFS,
        "peak_limit": PEAK_LIMIT,
        "subtype": SUBTYPE,
        "mixtures": entries,
    }
    path = out / "metadata.json"
    write_json(path, meta)
    return path


@dataclass(frozen=True)
class MixtureItem:
    """One mixture of a set: float32 ``mixture [T]``, ``sources [S, T]``, ``noise [T]`` or None."""

    id: str
    mixture: np.ndarray
    sources: np.ndarray
    noise: Optional[np.ndarray]
    sample_rate: int
    speakers: tuple[str, ...]
    info: dict


def read_metadata(directory: PathLike) -> dict:
    """The metadata.json of a mixture set, checked; CocktailError when it is not one."""
    path = Path(directory) / "metadata.json"
    if not path.is_file():
        raise CocktailError(
            f"{directory}: not a mixture set (no metadata.json; build one with cocktail mix)"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CocktailError(f"{path}: unreadable mixture-set metadata ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CocktailError(f"{path}: not a Cocktail mixture-set metadata file")
    if meta.get("version") != FORMAT_VERSION:
        raise CocktailError(
            f"{path}: mixture-set format version {meta.get('version')} is not supported "
            f"(this program reads version {FORMAT_VERSION})"
        )
    return meta


def load_mixture_set(
    directory: PathLike, *, sample_rate: Optional[int] = None, limit: Optional[int] = None
) -> list[MixtureItem]:
    """The mixtures of a set (the first ``limit``), resampled to ``sample_rate`` if given."""
    from separation_core.io.audio_io import load_audio

    directory = Path(directory)
    meta = read_metadata(directory)
    rate = int(sample_rate or meta["sample_rate"])
    items = []
    for entry in meta["mixtures"][:limit]:

        def read(rel: str) -> np.ndarray:
            return load_audio(
                directory / rel, sample_rate=rate, min_seconds=0.0, allow_silent=True
            ).samples

        mixture = read(entry["files"]["mix"])
        sources = [read(rel) for rel in entry["files"]["sources"]]
        noise = read(entry["files"]["noise"]) if entry["files"].get("noise") else None
        if any(len(x) != len(mixture) for x in sources + ([noise] if noise is not None else [])):
            raise CocktailError(
                f"{directory / entry['files']['mix']}: the sources' lengths differ "
                "from the mixture's"
            )
        sources = np.stack(sources)
        items.append(
            MixtureItem(
                entry["id"],
                mixture,
                sources,
                noise,
                rate,
                tuple(s["speaker"] for s in entry["sources"]),
                entry,
            )
        )
    return items


def write_noise_track(out: Path, mid: str, comp, sample_rate: int, snr, info: dict) -> None:
    """Write the noise of the composed recording ``comp`` as ``noise/<mid>.wav`` and record its
    gain, level and SNR in ``info``."""
    from separation_core.io.audio_save import save_audio

    save_audio(
        out / "noise" / f"{mid}.wav", comp.noise, sample_rate, subtype=SUBTYPE, overwrite=True
    )
    info.update(
        gain_db=round6(db(comp.noise_gain)),
        level_db=round6(db(rms(comp.noise))),
        snr_db=round6(snr),
    )
