"""Mixture simulation (wsj0-2mix style): fixed, seeded mixture sets on disk, and the signal recipe
shared with dynamic mixing.

One mixture of S speakers (different speakers, one utterance each, resampled with soxr):

- length: "min" mode takes the shortest utterance's length, the longer ones give a random excerpt
  (``crop_start``); "max" mode takes the longest, the shorter ones sit at a random ``offset`` and are
  zero-padded.
- levels: each placed source is brought to unit RMS over the mixture, then given a relative level in
  dB: source 1 is louder than source k by a value drawn uniformly from ``sir_range`` (levels centred
  on 0 dB). So the SIR of s1 over s2 is the drawn value, as in wsj0-2mix.
- noise (optional): an excerpt of a noise file scaled so that the SNR of the speech sum over the
  noise is drawn uniformly from ``snr_range``. Noise files are split by time, not by file: train
  draws from the first 80% of every noise file, valid the next 10%, test the last 10% (the split
  fractions); an excerpt longer than its region wraps around inside it.
- scale: the speech sum is set to ``TARGET_DBFS`` RMS, then every signal (sources, noise, mixture)
  is scaled by one common factor if any of them would peak above ``PEAK_LIMIT``.

Sets on disk: ``out/mix/<id>.wav``, ``out/s1/<id>.wav``.. ``out/sS/<id>.wav``, ``out/noise/<id>.wav``
and ``out/metadata.json`` (written last; a folder without it is an unfinished set). The WAVs are 24-bit
PCM with every signal rounded to the 24-bit grid before the mixture is summed, so mix = s1 + ... + sS
+ noise holds exactly in the files. (Not float WAV: libsndfile stamps those with the time of writing,
and a set must be the same bytes for the same seed.) Sample positions in the metadata count samples
at the set's sample rate.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from separation_core.cancel import CancelToken, ProgressFn, check_cancel, report
from separation_core.data.rooms import ReverbOptions, check_probability, reverberate
from separation_core.data.speakers import PathLike, find_audio
from separation_core.data.splits import DEFAULT_FRACTIONS, SPLITS, select_split
from separation_core.errors import CocktailError
from separation_core.io.fileutil import atomic_write

MODES = ("min", "max")
TARGET_DBFS = -25.0  # RMS of the speech sum before the clip-safe scaling
PEAK_LIMIT = 0.9  # no written sample above this magnitude
SILENT_SEGMENT_DB = -30.0  # a segment this far below its utterance's RMS is levelled as if at it
DEFAULT_SNR_RANGE = (0.0, 10.0)
SUBTYPE = "PCM_24"
PCM24_SCALE = 2.0**23
FORMAT_NAME = "cocktail-mixture-set"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Composition:
    """One simulated mixture: float32 ``mixture [T]``, ``sources [S, T]``, ``noise [T]`` or None;
    ``source_gains [S]`` and ``noise_gain`` are the linear factors applied to the placed raw signals."""

    mixture: np.ndarray
    sources: np.ndarray
    noise: Optional[np.ndarray]
    source_gains: np.ndarray
    noise_gain: float


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def db(x: float) -> Optional[float]:
    return 20.0 * math.log10(x) if x > 0 else None


def draw_levels(rng: np.random.Generator, n: int, sir_range: Sequence[float]) -> np.ndarray:
    """Relative levels in dB ``[n]``, centred on 0: ``levels[0] - levels[k]`` ~ U(sir_range)."""
    levels = np.zeros(n)
    levels[1:] = -rng.uniform(sir_range[0], sir_range[1], size=n - 1)
    return levels - levels.mean()


def draw_crop(rng: np.random.Generator, frames: int, length: int) -> tuple[int, int]:
    """``(crop_start, offset)``: a random excerpt of a longer utterance, or a random place for a
    shorter one inside ``length`` samples."""
    if frames >= length:
        return int(rng.integers(0, frames - length + 1)), 0
    return 0, int(rng.integers(0, length - frames + 1))


def place(x: np.ndarray, length: int, crop_start: int, offset: int) -> np.ndarray:
    """``x[crop_start:]`` written at ``offset`` in a zero float32 signal of ``length`` samples."""
    out = np.zeros(length, dtype=np.float32)
    segment = x[crop_start : crop_start + length - offset]
    out[offset : offset + len(segment)] = segment
    return out


SPEED_MARGIN = (
    256  # input samples resampled either side of an excerpt, so soxr's filter edges fall outside it
)


def check_speed_range(speed_range: Optional[Sequence[float]]) -> Optional[tuple[float, float]]:
    """``(lo, hi)`` speed factors with 0 < lo <= hi, or None (no speed perturbation)."""
    if speed_range is None:
        return None
    if len(speed_range) != 2 or not 0 < speed_range[0] <= speed_range[1]:
        raise CocktailError(
            f"speed range must be two factors low,high with 0 < low <= high, got {speed_range}"
        )
    return float(speed_range[0]), float(speed_range[1])


def place_at_speed(
    rng: np.random.Generator, x: np.ndarray, length: int, factor: float
) -> np.ndarray:
    """``x`` played ``factor`` times faster (tempo and pitch together, by soxr resampling), then a
    random excerpt of it placed in ``length`` samples as ``draw_crop`` and ``place`` do. Only the
    excerpt (and ``SPEED_MARGIN`` samples either side) is resampled.  -> float32 ``[length]``"""
    from separation_core.io.audio_io import resample

    crop, offset = draw_crop(rng, int(round(len(x) / factor)), length)
    lo = max(int(math.floor(crop * factor)) - SPEED_MARGIN, 0)
    hi = min(int(math.ceil((crop + length - offset) * factor)) + SPEED_MARGIN, len(x))
    y = resample(x[lo:hi], factor, 1.0)  # only the ratio of the two rates matters
    return place(y, length, max(int(round(crop - lo / factor)), 0), offset)


def noise_region(
    frames: int, split: str, fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> tuple[int, int]:
    """``[start, stop)`` of a noise file (``frames`` long) that ``split`` draws from."""
    edges = np.concatenate([[0.0], np.cumsum(fractions)])
    k = SPLITS.index(split)
    return int(round(edges[k] * frames)), int(round(min(edges[k + 1], 1.0) * frames))


def noise_excerpt(
    noise: np.ndarray, region: tuple[int, int], start: int, length: int
) -> np.ndarray:
    """``length`` samples of ``noise`` from ``start``, wrapping around inside ``region``."""
    lo, hi = region
    return noise[lo + (start - lo + np.arange(length)) % (hi - lo)].astype(np.float32)


def compose(
    placed: np.ndarray,
    levels_db: np.ndarray,
    utterance_rms: Sequence[float],
    noise: Optional[np.ndarray] = None,
    snr_db: Optional[float] = None,
) -> Composition:
    """Level, sum and scale ``placed [S, T]`` sources (and ``noise [T]`` at ``snr_db``) as the module
    docstring says. ``utterance_rms [S]`` is each whole utterance's RMS (the silence floor)."""
    placed64 = placed.astype(np.float64)
    floor = 10.0 ** (SILENT_SEGMENT_DB / 20.0)
    gains = np.array(
        [
            10.0 ** (lv / 20.0) / max(rms(p), floor * u, 1e-12)
            for p, lv, u in zip(placed64, levels_db, utterance_rms)
        ]
    )
    speech = (placed64 * gains[:, None]).sum(axis=0)
    scale = 10.0 ** (TARGET_DBFS / 20.0) / max(rms(speech), 1e-12)
    gains *= scale
    speech *= scale
    noise_gain = 0.0
    if noise is not None:
        noise_gain = rms(speech) / 10.0 ** (snr_db / 20.0) / rms(noise) if rms(noise) > 0 else 0.0
    noise64 = noise.astype(np.float64) * noise_gain if noise is not None else np.zeros_like(speech)
    peak = max(
        np.abs(placed64 * gains[:, None]).max(),
        np.abs(noise64).max(),
        np.abs(speech + noise64).max(),
    )
    if peak > PEAK_LIMIT:
        gains *= PEAK_LIMIT / peak
        noise_gain *= PEAK_LIMIT / peak
    sources = (placed64 * gains[:, None]).astype(np.float32)
    noise32 = (
        (noise.astype(np.float64) * noise_gain).astype(np.float32) if noise is not None else None
    )
    mixture = sources.sum(axis=0, dtype=np.float32)
    if noise32 is not None:
        mixture = mixture + noise32
    return Composition(mixture, sources, noise32, gains, float(noise_gain))


def on_pcm24_grid(comp: Composition) -> Composition:
    """``comp`` with sources and noise rounded to 24-bit PCM steps and the mixture their exact sum."""

    def grid(x: np.ndarray) -> np.ndarray:
        return np.round(x.astype(np.float64) * PCM24_SCALE) / PCM24_SCALE

    sources = grid(comp.sources)
    noise = grid(comp.noise) if comp.noise is not None else None
    mixture = sources.sum(axis=0) + (noise if noise is not None else 0.0)
    return Composition(
        mixture.astype(np.float32),
        sources.astype(np.float32),
        None if noise is None else noise.astype(np.float32),
        comp.source_gains,
        comp.noise_gain,
    )


def check_mix_options(
    speakers: int, mode: str, sir_range: Sequence[float], noise_dirs, snr_range, split: str
) -> Optional[tuple[float, float]]:
    """Validate the shared options; returns the SNR range to use (None without noise)."""
    if int(speakers) < 2:
        raise CocktailError(f"a mixture needs at least 2 speakers, got {speakers}")
    if mode not in MODES:
        raise CocktailError(f"unknown length mode {mode!r}; choose min or max")
    if split not in SPLITS:
        raise CocktailError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    for name, bounds in (("SIR", sir_range), ("SNR", snr_range)):
        if bounds is not None and (len(bounds) != 2 or not bounds[0] <= bounds[1]):
            raise CocktailError(
                f"{name} range must be two numbers low,high with low <= high, got {bounds}"
            )
    if not noise_dirs:
        if snr_range is not None:
            raise CocktailError("an SNR range was given without a noise folder")
        return None
    return tuple(float(v) for v in (snr_range or DEFAULT_SNR_RANGE))  # type: ignore[return-value]


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
        raise CocktailError(f"{', '.join(str(d) for d in _paths(noise_dirs))}: no audio file found")
    return files


def _paths(dirs) -> list[Path]:
    return [Path(dirs)] if isinstance(dirs, (str, os.PathLike)) else [Path(d) for d in dirs]


def _prepare_out(out: Path, speech_dirs: list[Path], overwrite: bool) -> None:
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


def _write_json(path: Path, data: dict) -> None:
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=1) + "\n")


def _round(x: Optional[float]) -> Optional[float]:
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
    from separation_core.io.audio_io import load_audio, save_audio

    noise_prob = check_probability("the noise probability", noise_prob)
    reverb = reverb or ReverbOptions()
    if int(num) < 1:
        raise CocktailError(f"the number of mixtures must be at least 1, got {num}")
    if int(seed) < 0:
        raise CocktailError(f"the seed must be a non-negative integer, got {seed}")
    snr_range = check_mix_options(speakers, mode, sir_range, noise_dirs, snr_range, split)
    speech_list = _paths(speech_dirs)
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
    _prepare_out(out, speech_list, overwrite)
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
                    "gain_db": _round(db(comp.source_gains[k])),
                    "level_db": _round(db(rms(comp.sources[k]))),
                }
            )
        if comp.noise is not None:
            save_audio(
                out / "noise" / f"{mid}.wav",
                comp.noise,
                sample_rate,
                subtype=SUBTYPE,
                overwrite=True,
            )
            noise_info.update(
                gain_db=_round(db(comp.noise_gain)),
                level_db=_round(db(rms(comp.noise))),
                snr_db=_round(snr),
            )
        entries.append(
            {
                "id": mid,
                "frames": length,
                "seconds": _round(length / sample_rate),
                "files": {
                    "mix": f"mix/{mid}.wav",
                    "sources": [f"s{k + 1}/{mid}.wav" for k in range(speakers)],
                    "noise": f"noise/{mid}.wav" if comp.noise is not None else None,
                },
                "relative_levels_db": [_round(v) for v in levels],
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
        "noise_dirs": [str(d.resolve()) for d in _paths(noise_dirs)] if noise_dirs else [],
        "noise_prob": noise_prob if noises else None,
        "reverb": reverb.describe(),
        "target_dbfs": TARGET_DBFS,
        "peak_limit": PEAK_LIMIT,
        "subtype": SUBTYPE,
        "mixtures": entries,
    }
    path = out / "metadata.json"
    _write_json(path, meta)
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
