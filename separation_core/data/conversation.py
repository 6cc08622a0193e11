"""Long-form test recordings: two held-out speakers taking turns, as people talk.

One recording of ``minutes`` holds two speakers of one corpus (speakers of the chosen split with at
least ``MIN_SPEAKER_SECONDS`` of audio; utterances are reused, each turn a random crop of one). Turns
alternate (the same speaker goes on after a pause with probability ``SAME_SPEAKER_PROB``). At a change
of speaker, the next turn starts early with probability ``overlap_prob`` (an overlap drawn from
``overlap_range`` seconds, at most half of either turn), otherwise after a pause drawn from
``pause_range``; a pause always follows a speaker's own turn. Turns are 1-8 s (log-uniform, cut to the
utterance), faded in and out over 10 ms, each at a level within +-3 dB of its speaker's.

Levels, reverberation and the files follow ``cocktail mix`` (``separation_core.data.mixing``): the two
tracks get the relative level of ``sir_range`` over their active time, an optional room (one position
per speaker; the target is each speaker's reverberant image), 24-bit WAV with mix = s1 + s2 exactly,
and a ``metadata.json`` that ``load_mixture_set`` reads. Each entry also lists its turns and the share
of time where both speakers, one or none talk. Recording i depends only on (inputs, options, seed,
i); the room comes from a second generator, so the clean and reverberant sets of one seed hold the
same conversations.
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
    _paths,
    _prepare_out,
    _round,
    _write_json,
)
from separation_core.data.mixture_recipe import (
    PEAK_LIMIT,
    TARGET_DBFS,
    compose,
    db,
    draw_levels,
    on_pcm24_grid,
    rms,
)
from separation_core.data.rooms import ReverbOptions, reverberate
from separation_core.data.speakers import PathLike
from separation_core.data.splits import DEFAULT_FRACTIONS, SPLITS, select_split
from separation_core.errors import CocktailError

MIN_SPEAKER_SECONDS = 8.0
SAME_SPEAKER_PROB = 0.15
TURN_SECONDS = (1.0, 8.0)
TURN_GAIN_DB = 3.0
FADE_SECONDS = 0.01
DEFAULT_PAUSE_RANGE = (0.3, 3.0)
DEFAULT_OVERLAP_RANGE = (0.5, 2.5)
DEFAULT_OVERLAP_PROB = 0.5
ACTIVE_DB = -40.0  # a 20 ms frame this far below its speaker's active RMS counts as silence (stats)


def _check_range(name: str, bounds: Sequence[float], low: float = 0.0) -> tuple[float, float]:
    if len(bounds) != 2 or not low <= bounds[0] <= bounds[1]:
        raise CocktailError(
            f"{name} must be two numbers low,high with {low:g} <= low <= high, got {bounds}"
        )
    return float(bounds[0]), float(bounds[1])


def _corpus(key: str) -> str:
    return key.split("/", 1)[0] if "/" in key else ""


def eligible_speakers(files: dict[str, list[Path]], sample_rate: int) -> dict[str, list[Path]]:
    """The speakers with at least ``MIN_SPEAKER_SECONDS`` of audio (from the file headers)."""
    from separation_core.io.audio_io import read_info

    out = {}
    for speaker, paths in files.items():
        if sum(read_info(p).duration for p in paths) >= MIN_SPEAKER_SECONDS:
            out[speaker] = paths
    return out


def draw_pair(rng: np.random.Generator, speakers: list[str]) -> list[str]:
    """Two speakers of one corpus: the first at random, the second among the first's corpus."""
    first = speakers[int(rng.integers(len(speakers)))]
    same = [s for s in speakers if s != first and _corpus(s) == _corpus(first)]
    pool = same or [s for s in speakers if s != first]
    return [first, pool[int(rng.integers(len(pool)))]]


def _fade(x: np.ndarray, n: int) -> np.ndarray:
    n = min(n, len(x) // 2)
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def draw_turns(
    rng: np.random.Generator,
    clips: list[list[np.ndarray]],
    length: int,
    sample_rate: int,
    pause_range: Sequence[float],
    overlap_range: Sequence[float],
    overlap_prob: float,
) -> tuple[np.ndarray, list[dict]]:
    """Two tracks ``[2, length]`` of turns (see the module docstring) and the turns as
    ``{"speaker", "start", "stop", "clip", "crop_start"}`` (samples)."""
    tracks = np.zeros((2, length), dtype=np.float32)
    turns: list[dict] = []
    who = int(rng.integers(2))
    t = int(rng.uniform(0.0, 1.0) * sample_rate)
    prev_len = None
    while t < length:
        k = int(rng.integers(len(clips[who])))
        clip = clips[who][k]
        want = int(np.exp(rng.uniform(*np.log(TURN_SECONDS))) * sample_rate)
        n = min(want, len(clip), length - t)
        crop = int(rng.integers(0, len(clip) - n + 1))
        piece = _fade(
            clip[crop : crop + n].astype(np.float32)
            * np.float32(10 ** (rng.uniform(-TURN_GAIN_DB, TURN_GAIN_DB) / 20)),
            int(FADE_SECONDS * sample_rate),
        )
        tracks[who, t : t + n] += piece
        turns.append({"speaker": who, "start": t, "stop": t + n, "clip": k, "crop_start": crop})
        prev_len = n
        nxt = who if rng.uniform() < SAME_SPEAKER_PROB else 1 - who
        if nxt != who and rng.uniform() < overlap_prob:
            overlap = min(rng.uniform(*overlap_range) * sample_rate, prev_len / 2)
            t = t + n - int(overlap)
        else:
            t = t + n + int(rng.uniform(*pause_range) * sample_rate)
        who = nxt
    return tracks, turns


def activity_shares(tracks: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Share of 20 ms frames where both, exactly one, or no track is active."""
    hop = max(1, int(0.02 * sample_rate))
    frames = tracks.shape[1] // hop
    power = np.mean(
        tracks[:, : frames * hop].reshape(2, frames, hop).astype(np.float64) ** 2, axis=-1
    )
    active_power = np.array([p[p > 0].mean() if np.any(p > 0) else 0.0 for p in power])
    active = power > active_power[:, None] * 10 ** (ACTIVE_DB / 10)
    count = active.sum(axis=0)
    return {
        "both": round(float(np.mean(count == 2)), 4),
        "one": round(float(np.mean(count == 1)), 4),
        "none": round(float(np.mean(count == 0)), 4),
    }


def build_conversation_set(
    speech_dirs: PathLike | Iterable[PathLike],
    out_dir: PathLike,
    *,
    num: int,
    minutes: float,
    split: str = "test",
    seed: int = 0,
    sample_rate: int = 16000,
    sir_range: Sequence[float] = (-5.0, 5.0),
    pause_range: Sequence[float] = DEFAULT_PAUSE_RANGE,
    overlap_range: Sequence[float] = DEFAULT_OVERLAP_RANGE,
    overlap_prob: float = DEFAULT_OVERLAP_PROB,
    rule: str = "auto",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    overwrite: bool = False,
    reverb: Optional[ReverbOptions] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> Path:
    """Write ``num`` two-speaker conversations of ``minutes`` to ``out_dir`` (the layout of
    ``build_mixture_set``); returns the path of its metadata.json."""
    from separation_core.io.audio_io import load_audio
    from separation_core.io.audio_save import save_audio

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
    if not 0.0 <= float(overlap_prob) <= 1.0:
        raise CocktailError(f"the overlap probability must be between 0 and 1, got {overlap_prob}")
    sir_range = _check_range("the SIR range", sir_range, low=-float("inf"))
    pause_range = _check_range("the pause range", pause_range)
    overlap_range = _check_range("the overlap range", overlap_range)
    reverb = reverb or ReverbOptions()
    speech_list = _paths(speech_dirs)
    files = eligible_speakers(
        select_split(speech_list, split, rule=rule, fractions=fractions), sample_rate
    )
    if len(files) < 2:
        raise CocktailError(
            f"the {split} split has {len(files)} speaker(s) with at least "
            f"{MIN_SPEAKER_SECONDS:g} s of audio; a conversation needs 2"
        )
    ids = sorted(files)
    out = Path(out_dir)
    _prepare_out(out, speech_list, overwrite)
    for name in ("mix", "s1", "s2"):
        (out / name).mkdir(exist_ok=True)
    length = int(round(float(minutes) * 60 * sample_rate))
    entries = []
    for i in range(int(num)):
        check_cancel(cancel)
        rng = np.random.default_rng([int(seed), i])
        condition_rng = np.random.default_rng([int(seed), i, 1])
        chosen = draw_pair(rng, ids)
        clips = [[load_audio(p, sample_rate=sample_rate).samples for p in files[s]] for s in chosen]
        levels = draw_levels(rng, 2, sir_range)
        tracks, turns = draw_turns(
            rng, clips, length, sample_rate, pause_range, overlap_range, overlap_prob
        )
        shares = activity_shares(tracks, sample_rate)
        room, positions = reverb.draw(condition_rng, 2)
        if room is not None:
            tracks = reverberate(tracks, room, positions)
        # Levelled over each speaker's turns (compose levels over the whole track: shift by the ratio).
        active_rms = [
            rms(
                np.concatenate(
                    [tracks[k, t["start"] : t["stop"]] for t in turns if t["speaker"] == k]
                )
            )
            for k in range(2)
        ]
        shift = [db(rms(tracks[k]) / a) if a > 0 else 0.0 for k, a in enumerate(active_rms)]
        comp = on_pcm24_grid(compose(tracks, levels + np.asarray(shift), active_rms))
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
            sources.append(
                {
                    "speaker": s,
                    "paths": [str(p.resolve()) for p in files[s]],
                    "turns": sum(t["speaker"] == k for t in turns),
                    "gain_db": _round(db(comp.source_gains[k])),
                    "level_db": _round(db(rms(comp.sources[k]))),
                }
            )
        entries.append(
            {
                "id": mid,
                "frames": length,
                "seconds": _round(length / sample_rate),
                "files": {
                    "mix": f"mix/{mid}.wav",
                    "sources": [f"s1/{mid}.wav", f"s2/{mid}.wav"],
                    "noise": None,
                },
                "relative_levels_db": [_round(v) for v in levels],
                "sources": sources,
                "noise": None,
                "activity": shares,
                "turns": [
                    [t["speaker"], t["start"], t["stop"], t["clip"], t["crop_start"]] for t in turns
                ],
                "room": None if room is None else {**room.info, "positions": positions},
            }
        )
        report(progress, (i + 1) / num, "mixing")
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "sample_rate": int(sample_rate),
        "num_speakers": 2,
        "mode": "conversation",
        "split": split,
        "seed": int(seed),
        "sir_range": list(sir_range),
        "snr_range": None,
        "rule": rule,
        "fractions": [float(f) for f in fractions],
        "speech_dirs": [str(d.resolve()) for d in speech_list],
        "noise_dirs": [],
        "noise_prob": None,
        "reverb": reverb.describe(),
        "target_dbfs": TARGET_DBFS,
        "peak_limit": PEAK_LIMIT,
        "subtype": SUBTYPE,
        "conversation": {
            "minutes": float(minutes),
            "pause_range": list(pause_range),
            "overlap_range": list(overlap_range),
            "overlap_prob": float(overlap_prob),
            "same_speaker_prob": SAME_SPEAKER_PROB,
            "turn_seconds": list(TURN_SECONDS),
            "min_speaker_seconds": MIN_SPEAKER_SECONDS,
            "turns": "[speaker index, start, stop, clip index in the speaker's paths, "
            "crop start] in samples",
        },
        "mixtures": entries,
    }
    path = out / "metadata.json"
    _write_json(path, meta)
    return path
