"""Long-form test recordings: 1-8 held-out people taking turns, as people talk, with the true turns.

The people of a recording are different speakers of one corpus (one recording situation): of the
speakers of the chosen split with ``MIN_SPEAKER_SECONDS`` of audio, the first is drawn uniformly
among those of the corpora (speech folders) with at least ``people`` of them, the others among the
first's corpus (so a corpus is drawn in proportion to its speakers); when no corpus has enough,
they are drawn from all corpora together. Utterances are reused, each turn a crop of one.
Who talks when (turn lengths, pauses, the overlap share) is ``separation_core.data.turn_taking``.

Levels, noise, rooms and the files follow ``cocktail mix`` (``separation_core.data.mixing``): the
tracks get the relative levels of ``sir_range`` over their own turns, an optional room (one position
per person for the whole recording; the target is each person's reverberant image), optional noise
(an excerpt of a noise file of the split's region at an SNR from ``snr_range``, over the whole
recording, written as its own track), 24-bit WAV with mix = s1 + .. + sP (+ noise) exactly, and a
``metadata.json`` that ``load_mixture_set`` reads. Each entry also has the true turns in seconds
(``{"speaker": k, "start", "end"}``, k indexing ``sources``, whose stem ``name`` s<k+1> is the
person's name in the RTTM that ``cocktail mix`` writes as ``mix/<id>.rttm``), the overlap share
measured on the turns and the activity measured on the dry signals.

Recording i depends only on (inputs, options, seed, i): the conversation comes from
``default_rng([seed, i])``, the room from ``[seed, i, 1]`` and the noise from ``[seed, i, 2]``, so the
clean, noisy and reverberant sets of one seed hold the same conversations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from separation_core.cancel import CancelToken, ProgressFn, check_cancel, report
from separation_core.data.mixing import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SUBTYPE,
    as_paths,
    noise_files,
    prepare_out,
    round6,
    write_json,
    write_noise_track,
)
from separation_core.data.mixture_recipe import (
    DEFAULT_SNR_RANGE,
    PEAK_LIMIT,
    TARGET_DBFS,
    compose,
    db,
    draw_levels,
    noise_excerpt,
    noise_region,
    on_pcm24_grid,
    rms,
)
from separation_core.data.rooms import ReverbOptions, check_probability, reverberate
from separation_core.data.speakers import PathLike
from separation_core.data.splits import DEFAULT_FRACTIONS, SPLITS, select_split
from separation_core.data.turn_taking import (
    SAME_SPEAKER_PROB,
    PlacedTurn,
    activity_shares,
    draw_turns,
    measure_overlap_share,
)
from separation_core.errors import CocktailError

MIN_SPEAKER_SECONDS = 8.0
MAX_PEOPLE = 8
MIN_TURN_SECONDS = 0.2
MAX_OVERLAP_SHARE = 0.5  # two at once at most, each overlap at most half of either turn
DEFAULT_TURN_RANGE = (1.0, 8.0)
DEFAULT_PAUSE_RANGE = (0.3, 3.0)
DEFAULT_OVERLAP_RANGE = (0.5, 2.5)
DEFAULT_OVERLAP_SHARE = 0.1
RTTM_LINE = "SPEAKER <id> 1 <start> <end - start> <NA> <NA> <sources[k].name> <NA> <NA>"


def _check_range(name: str, bounds: Sequence[float], low: float = 0.0) -> tuple[float, float]:
    if len(bounds) != 2 or not low <= bounds[0] <= bounds[1]:
        raise CocktailError(
            f"{name} must be two numbers low,high with {low:g} <= low <= high, got {tuple(bounds)}"
        )
    return float(bounds[0]), float(bounds[1])


def corpus_of(key: str, default: str) -> str:
    return key.split("/", 1)[0] if "/" in key else default


def eligible_speakers(files: dict[str, list[Path]], sample_rate: int) -> dict[str, list[Path]]:
    """The speakers with at least ``MIN_SPEAKER_SECONDS`` of audio (from the file headers)."""
    from separation_core.io.audio_io import read_info

    out = {}
    for speaker, files_of in files.items():
        if sum(read_info(p).duration for p in files_of) >= MIN_SPEAKER_SECONDS:
            out[speaker] = files_of
    return out


def draw_people(
    rng: np.random.Generator, speakers: list[str], corpora: list[str], n: int
) -> list[str]:
    """``n`` different speakers (``corpora[j]`` is speaker j's corpus) of one corpus: the first
    drawn uniformly among the speakers of the corpora with at least ``n``, the others among the
    first's corpus; of all corpora together when none has ``n``."""
    pool = [s for s, c in zip(speakers, corpora) if corpora.count(c) >= n]
    if pool:
        first = pool[int(rng.integers(len(pool)))]
        corpus = corpora[speakers.index(first)]
        rest = [s for s, c in zip(speakers, corpora) if c == corpus and s != first]
        return [first] + [rest[j] for j in rng.choice(len(rest), size=n - 1, replace=False)]
    return [speakers[j] for j in rng.choice(len(speakers), size=n, replace=False)]


def _check_options(
    num, minutes, seed, split, people, share, sir_range, snr_range, noise_dirs, ranges
) -> dict:
    if int(num) < 1:
        raise CocktailError(f"the number of recordings must be at least 1, got {num}")
    if not 0 < float(minutes) <= 600:
        raise CocktailError(
            f"a conversation lasts more than 0 and at most 600 minutes, got {minutes}"
        )
    if int(seed) < 0:
        raise CocktailError(f"the seed must be a non-negative integer, got {seed}")
    if split not in SPLITS:
        raise CocktailError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if not 1 <= int(people) <= MAX_PEOPLE or int(people) != people:
        raise CocktailError(
            f"a conversation has 1 to {MAX_PEOPLE} people, got {people} (--people 1..{MAX_PEOPLE})"
        )
    if not 0.0 <= float(share) <= MAX_OVERLAP_SHARE:
        raise CocktailError(
            f"the overlap share must be between 0 and {MAX_OVERLAP_SHARE:g} (a fraction of the "
            f"speech time), got {share}"
        )
    if int(people) == 1 and share > 0:
        raise CocktailError(
            f"one person cannot overlap: give an overlap share of 0 with one person, got {share}"
        )
    checked = {name: _check_range(f"the {name} range", bounds) for name, bounds in ranges.items()}
    if checked["turn"][0] < MIN_TURN_SECONDS:
        raise CocktailError(
            f"the turn range must start at {MIN_TURN_SECONDS:g} s or more, got {checked['turn']}"
        )
    checked["sir"] = _check_range("the SIR range", sir_range, low=-float("inf"))
    if noise_dirs:
        checked["snr"] = _check_range(
            "the SNR range", snr_range or DEFAULT_SNR_RANGE, low=-float("inf")
        )
    elif snr_range is not None:
        raise CocktailError("an SNR range was given without a noise folder")
    return checked


def build_conversation_set(
    speech_dirs: PathLike | Iterable[PathLike],
    out_dir: PathLike,
    *,
    num: int,
    minutes: float,
    people: int = 2,
    split: str = "test",
    seed: int = 0,
    sample_rate: int = 16000,
    sir_range: Sequence[float] = (-5.0, 5.0),
    turn_range: Sequence[float] = DEFAULT_TURN_RANGE,
    pause_range: Sequence[float] = DEFAULT_PAUSE_RANGE,
    overlap_range: Sequence[float] = DEFAULT_OVERLAP_RANGE,
    overlap_share: Optional[float] = None,
    noise_dirs: PathLike | Iterable[PathLike] | None = None,
    snr_range: Optional[Sequence[float]] = None,
    noise_prob: float = 1.0,
    rule: str = "auto",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    overwrite: bool = False,
    reverb: Optional[ReverbOptions] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> Path:
    """Write ``num`` conversations of ``people`` people and ``minutes`` each to ``out_dir`` (the
    layout of ``build_mixture_set``); returns the path of its metadata.json. ``overlap_share``
    defaults to ``DEFAULT_OVERLAP_SHARE`` (0 for one person). Raises CocktailError (bad options, too
    few speakers, a non-empty ``out_dir`` without ``overwrite``) or AudioLoadError."""
    from separation_core.io.audio_io import load_audio
    from separation_core.io.audio_save import save_audio

    if overlap_share is None:
        overlap_share = DEFAULT_OVERLAP_SHARE if people != 1 else 0.0
    ranges = {"turn": turn_range, "pause": pause_range, "overlap": overlap_range}
    checked = _check_options(
        num, minutes, seed, split, people, overlap_share, sir_range, snr_range, noise_dirs, ranges
    )
    noise_prob = check_probability("the noise probability", noise_prob)
    people, overlap_share = int(people), float(overlap_share)
    reverb = reverb or ReverbOptions()
    speech_list = as_paths(speech_dirs)
    files = eligible_speakers(
        select_split(speech_list, split, rule=rule, fractions=fractions), sample_rate
    )
    if len(files) < people:
        raise CocktailError(
            f"the {split} split has {len(files)} speaker(s) with at least "
            f"{MIN_SPEAKER_SECONDS:g} s of audio; a conversation of {people} people needs {people}"
        )
    ids = sorted(files)
    corpora = [corpus_of(s, speech_list[0].name) for s in ids]
    noises = noise_files(noise_dirs) if noise_dirs else []
    out = Path(out_dir)
    prepare_out(out, speech_list, overwrite)
    stems = [f"s{k + 1}" for k in range(people)]
    for name in ["mix", *stems] + (["noise"] if noises else []):
        (out / name).mkdir(exist_ok=True)
    length = int(round(float(minutes) * 60 * sample_rate))
    noise_cache: dict[Path, np.ndarray] = {}
    entries = []
    for i in range(int(num)):
        check_cancel(cancel)
        rng = np.random.default_rng([int(seed), i])
        chosen = draw_people(rng, ids, corpora, people)
        clips = [[load_audio(p, sample_rate=sample_rate).samples for p in files[s]] for s in chosen]
        levels = draw_levels(rng, people, checked["sir"])
        tracks, turns = draw_turns(
            rng,
            clips,
            length,
            sample_rate,
            turn_range=checked["turn"],
            pause_range=checked["pause"],
            overlap_range=checked["overlap"],
            overlap_share=overlap_share,
        )
        activity = activity_shares(tracks, sample_rate)
        room, positions = reverb.draw(np.random.default_rng([int(seed), i, 1]), people)
        if room is not None:
            tracks = reverberate(tracks, room, positions)
        noise_info, excerpt, snr = None, None, None
        if noises:
            noise_rng = np.random.default_rng([int(seed), i, 2])
            npath = noises[int(noise_rng.integers(len(noises)))]
            if npath not in noise_cache:
                noise_cache[npath] = load_audio(npath, sample_rate=sample_rate).samples
            region = noise_region(len(noise_cache[npath]), split, fractions)
            if region[1] <= region[0]:
                raise CocktailError(f"{npath}: too short to give the {split} split a noise excerpt")
            start = int(noise_rng.integers(region[0], region[1]))
            snr = float(noise_rng.uniform(*checked["snr"]))
            if noise_prob == 1.0 or noise_rng.uniform() < noise_prob:
                excerpt = noise_excerpt(noise_cache[npath], region, start, length)
                noise_info = {
                    "path": str(npath.resolve()),
                    "region": list(region),
                    "crop_start": start,
                }
        comp = on_pcm24_grid(compose_levelled(tracks, turns, levels, excerpt, snr))

        mid = f"{i:05d}"
        save_audio(
            out / "mix" / f"{mid}.wav", comp.mixture, sample_rate, subtype=SUBTYPE, overwrite=True
        )
        sources = []
        for k, s in enumerate(chosen):
            save_audio(
                out / stems[k] / f"{mid}.wav",
                comp.sources[k],
                sample_rate,
                subtype=SUBTYPE,
                overwrite=True,
            )
            own = [t for t in turns if t.speaker == k]
            sources.append(
                {
                    "name": stems[k],
                    "speaker": s,
                    "corpus": corpus_of(s, speech_list[0].name),
                    "paths": [str(p.resolve()) for p in files[s]],
                    "turns": len(own),
                    "talk_seconds": round6(sum(t.stop - t.start for t in own) / sample_rate),
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
                    "sources": [f"{name}/{mid}.wav" for name in stems],
                    "noise": f"noise/{mid}.wav" if comp.noise is not None else None,
                },
                "relative_levels_db": [round6(v) for v in levels],
                "sources": sources,
                "noise": noise_info,
                "turns": [
                    {
                        "speaker": t.speaker,
                        "start": round6(t.start / sample_rate),
                        "end": round6(t.stop / sample_rate),
                    }
                    for t in turns
                ],
                "excerpts": [[t.clip, t.crop_start] for t in turns],
                "overlap_share": round(measure_overlap_share(turns, length), 4),
                "activity": activity,
                "room": None if room is None else {**room.info, "positions": positions},
            }
        )
        report(progress, (i + 1) / num, "mixing")
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "sample_rate": int(sample_rate),
        "num_speakers": people,
        "mode": "conversation",
        "split": split,
        "seed": int(seed),
        "sir_range": list(checked["sir"]),
        "snr_range": list(checked["snr"]) if noises else None,
        "rule": rule,
        "fractions": [float(f) for f in fractions],
        "speech_dirs": [str(d.resolve()) for d in speech_list],
        "noise_dirs": [str(d.resolve()) for d in as_paths(noise_dirs)] if noises else [],
        "noise_prob": noise_prob if noises else None,
        "reverb": reverb.describe(),
        "target_dbfs": TARGET_DBFS,
        "peak_limit": PEAK_LIMIT,
        "subtype": SUBTYPE,
        "conversation": {
            "minutes": float(minutes),
            "people": people,
            "turn_range": list(checked["turn"]),
            "pause_range": list(checked["pause"]),
            "overlap_range": list(checked["overlap"]),
            "overlap_share": overlap_share,
            "same_speaker_prob": SAME_SPEAKER_PROB,
            "min_speaker_seconds": MIN_SPEAKER_SECONDS,
            "turns": "{speaker: index in sources, start, end} in seconds, trimmed to speech",
            "excerpts": "per turn: [clip index in the speaker's paths, crop start in samples]",
            "overlap_share_measured": "share of the turns' union where two people talk",
            "activity": "shares of 20 ms frames of the dry signals with none, one, two+ active",
            "rttm": f"mix/<id>.rttm (cocktail mix), one line a turn: {RTTM_LINE}",
        },
        "mixtures": entries,
    }
    path = out / "metadata.json"
    write_json(path, meta)
    return path


def compose_levelled(
    tracks: np.ndarray,
    turns: Sequence[PlacedTurn],
    levels: np.ndarray,
    noise: Optional[np.ndarray],
    snr: Optional[float],
):
    """``compose`` with each track ``[P, T]`` levelled over its own turns (``compose`` levels over
    the whole track: its level is shifted by the ratio of the two RMS)."""
    active = []
    for k in range(len(tracks)):
        own = [tracks[k, t.start : t.stop] for t in turns if t.speaker == k]
        active.append(rms(np.concatenate(own)) if own else 0.0)
    shift = [db(rms(tracks[k]) / a) if a > 0 else 0.0 for k, a in enumerate(active)]
    return compose(tracks, levels + np.asarray(shift), active, noise, snr)
