"""Missed speech and false alarm of the speech activity (``separation_core.conversation.activity``)
for a grid of settings (and the module's minimum speech), on conversations of real test-split
speakers.

    python scripts/vad_eval.py [--data ../shared/data] [--conversations 24] [--minutes 3]

A conversation: 2-4 test-split speakers of ``speech/`` (all corpora but the 8 kHz digits), whole
utterances one after another with pauses of 0.2-2.5 s (one in seven overlapping the one before by
up to 1 s), each speaker at -26 dBFS +-6 dB. Three conditions of the same conversations: clean; in
a measured room of ``rir/`` (one position per speaker, ``data.rooms``); that room plus a noise of
``noise/`` (room tone, appliances, dishes, exercise bike) at 10-20 dB SNR.

Truth, on the activity's 32 ms frames: speech where a speaker's signal (in a room, its reverberant
image) has a power above -40 dB of that speaker's active power (the mean over its utterances).
Missed and false alarm are shares of the speech frames (as in the diarization error rate);
"non-speech marked" is the share of the other frames marked as speech.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from separation_core.conversation.activity import (  # noqa: E402
    MIN_SILENCE,
    MIN_SPEECH,
    PAD,
    SAMPLE_RATE,
    THRESHOLD,
    WINDOW,
    speech_probability,
    speech_regions,
)
from separation_core.data.rooms import measured_rooms, reverberate  # noqa: E402
from separation_core.data.splits import select_split  # noqa: E402
from separation_core.io.audio_io import load_audio  # noqa: E402

ACTIVE_DB = -40.0
LEVEL_DBFS = -26.0
LEVEL_SPREAD_DB = 6.0
PAUSE_SECONDS = (0.2, 2.5)
OVERLAP_PROB = 1 / 7
MAX_OVERLAP_SECONDS = 1.0
SNR_DB = (10.0, 20.0)
NOISE_FOLDERS = ("room-tone", "appliances", "speech-commands")
CONDITIONS = ("clean", "room", "room+noise")
THRESHOLDS = (0.5, 0.35, 0.25, 0.2, 0.15)
MIN_SILENCES = (0.1, 0.3, 0.5)
PADS = (0.03, 0.1, 0.2, 0.3)


def conversation(
    rng: np.random.Generator, speakers: dict[str, list[Path]], seconds: float
) -> tuple[np.ndarray, np.ndarray]:
    """One conversation: the speakers' tracks ``[S, T]`` and where each has an utterance
    (bool ``[S, T]``)."""
    n = int(rng.integers(2, 5))
    who = [list(speakers)[k] for k in rng.choice(len(speakers), n, replace=False)]
    length = int(seconds * SAMPLE_RATE)
    tracks = np.zeros((n, length), dtype=np.float32)
    spans = np.zeros((n, length), dtype=bool)
    gains = 10 ** ((LEVEL_DBFS + rng.uniform(-LEVEL_SPREAD_DB, LEVEL_SPREAD_DB, n)) / 20)
    t, k = int(rng.uniform(0.0, 1.0) * SAMPLE_RATE), int(rng.integers(n))
    while t < length:
        files = speakers[who[k]]
        x = load_audio(files[int(rng.integers(len(files)))], sample_rate=SAMPLE_RATE).samples
        x = x[: length - t] * np.float32(gains[k] / np.sqrt(np.mean(x**2)))
        tracks[k, t : t + len(x)] += x
        spans[k, t : t + len(x)] = True
        if rng.uniform() < OVERLAP_PROB:
            t += len(x) - int(
                rng.uniform(0, min(MAX_OVERLAP_SECONDS, len(x) / SAMPLE_RATE / 2)) * SAMPLE_RATE
            )
        else:
            t += len(x) + int(rng.uniform(*PAUSE_SECONDS) * SAMPLE_RATE)
        k = (k + int(rng.integers(1, n))) % n
    return tracks, spans


def truth(images: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Frames where any speaker is active (see the module docstring) -> bool ``[frames]``."""
    frames = -(-images.shape[1] // WINDOW)
    padded = np.zeros((images.shape[0], frames * WINDOW), dtype=np.float64)
    padded[:, : images.shape[1]] = images
    power = np.mean(padded.reshape(len(images), frames, WINDOW) ** 2, axis=-1)
    active = np.array([np.mean(x[s].astype(np.float64) ** 2) for x, s in zip(images, spans)])
    return np.any(power > active[:, None] * 10 ** (ACTIVE_DB / 10), axis=0)


def noise(rng: np.random.Generator, files: list[Path], length: int) -> np.ndarray:
    """A random noise file, looped to ``length`` from a random start, at unit power."""
    x = load_audio(files[int(rng.integers(len(files)))], sample_rate=SAMPLE_RATE).samples
    x = np.roll(np.tile(x, -(-length // len(x)) + 1), -int(rng.integers(len(x))))[:length]
    return x / np.sqrt(np.mean(x.astype(np.float64) ** 2))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data")
    p.add_argument("--conversations", type=int, default=24)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    corpora = [d for d in sorted((a.data / "speech").iterdir()) if d.is_dir() and d.name != "fsdd"]
    speakers = select_split(corpora, "test")
    rooms = measured_rooms(a.data / "rir", SAMPLE_RATE)
    noises = sorted(
        f
        for d in NOISE_FOLDERS
        for f in (a.data / "noise" / d).iterdir()
        if f.suffix in (".flac", ".wav")
    )
    settings = list(itertools.product(THRESHOLDS, MIN_SILENCES, PADS))
    # counts[condition][setting] = [speech frames, missed, false alarm, non-speech frames]
    counts = {c: np.zeros((len(settings), 4)) for c in CONDITIONS}
    audio_seconds = vad_seconds = 0.0
    for i in range(a.conversations):
        rng = np.random.default_rng([a.seed, i])
        tracks, spans = conversation(rng, speakers, a.minutes * 60)
        room = rooms[int(rng.integers(len(rooms)))]
        positions = rng.choice(len(room.rirs), len(tracks), replace=len(room.rirs) < len(tracks))
        wet = reverberate(tracks, room, positions)
        wet *= np.sqrt(np.mean(tracks[spans] ** 2) / np.mean(wet[spans] ** 2))
        speech = wet.sum(0)
        level = np.sqrt(np.mean(speech[spans.any(0)].astype(np.float64) ** 2))
        noisy = speech + noise(rng, noises, len(speech)) * level * 10 ** (
            -rng.uniform(*SNR_DB) / 20
        )
        for name, images, mix in (
            ("clean", tracks, tracks.sum(0)),
            ("room", wet, speech),
            ("room+noise", wet, noisy),
        ):
            is_speech = truth(images, spans)
            start = time.perf_counter()
            probs, frame_seconds = speech_probability(mix, SAMPLE_RATE)
            vad_seconds += time.perf_counter() - start
            audio_seconds += len(mix) / SAMPLE_RATE
            for k, (threshold, min_silence, pad) in enumerate(settings):
                found = speech_regions(
                    probs, frame_seconds, threshold, min_silence, MIN_SPEECH, pad
                )
                counts[name][k] += [
                    is_speech.sum(),
                    (is_speech & ~found).sum(),
                    (~is_speech & found).sum(),
                    (~is_speech).sum(),
                ]
        print(
            f"conversation {i + 1}/{a.conversations}: {len(tracks)} speakers, {room.info['room']}",
            file=sys.stderr,
        )
    print(
        f"{a.conversations} conversations of {a.minutes:g} min, {len(speakers)} test speakers; "
        f"activity at {audio_seconds / vad_seconds:.0f}x real time; min speech {MIN_SPEECH} s"
    )
    print(
        "| threshold | min silence | pad | "
        + " | ".join(f"{c}: missed / FA / non-speech marked" for c in CONDITIONS)
        + " |"
    )
    print("|---|---|---|" + "---|" * len(CONDITIONS))
    for k, (threshold, min_silence, pad) in enumerate(settings):
        cells = []
        for c in CONDITIONS:
            total, missed, false_alarm, other = counts[c][k]
            cells.append(
                f"{100 * missed / total:.1f} / {100 * false_alarm / total:.1f} / {100 * false_alarm / other:.0f}%"
            )
        mark = (
            " (default)" if (threshold, min_silence, pad) == (THRESHOLD, MIN_SILENCE, PAD) else ""
        )
        print(f"| {threshold}{mark} | {min_silence} | {pad} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
