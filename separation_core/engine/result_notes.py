"""Notes on a separation that ran but whose stems may mean little: an input too short to separate,
an input that does not sound like speech, stems that follow the same syllables (one voice split in
two, or voices the model did not separate), one stem that is the mixture itself. Each note is one
line, kept in ``SeparationResult.notes`` for the command line, the desktop program's status bar and
the sidecar.

The speech cues are syllable envelopes: the log energy of short frames in six bands (60 Hz-8 kHz),
band-passed to 2-8 Hz, the rate at which syllables come and go.

- Speech moves every band by several dB at that rate; steady tones, chords and noise hardly do.
  The measure is the median over bands of that movement (a hum filling one band leaves it alone).
- Two talkers' syllables come and go independently, so stems that hold one talker each have
  envelopes that are uncorrelated or opposed; stems cut from one voice rise and fall together. The
  measure is the correlation of the stems' envelopes (each the mean of its bands' envelopes).

The thresholds were set on real speech (LibriSpeech, Common Voice, VCTK, CMU ARCTIC,
speechocean762), on recorded noise (ESC-10, appliances) and on synthetic tones, chords and white
and pink noise, through the default model: the figures are beside ``NO_SPEECH_DB`` and
``SAME_SYLLABLES``. A melody whose notes start every quarter to half second moves like speech and
is not caught.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy.signal import butter, sosfiltfilt

# The engine's shortest chunk (``inference.MIN_CHUNK_SECONDS``). Shorter inputs separate worse
# (the default model's SI-SDRi on 20 LibriSpeech pairs: 4.9 dB at 0.25 s, 6.6 at 0.5 s, 7.8 at 1 s,
# 8.3 at 2 s), and hold too few syllables for the checks below.
MIN_SECONDS = 1.0
# 32 ms frames every 8 ms: the envelope is sampled fast enough that the beats of tones a few tens
# of hertz apart stay above the syllable band instead of folding into it.
WINDOW_SECONDS = 0.032
HOP_SECONDS = 0.008
BAND_EDGES_HZ = (60.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
SYLLABLE_HZ = (2.0, 8.0)
FLOOR_DB = 50.0  # a band's frames this far below its loudest frame count as silence
# Median syllable-rate movement (dB): 3.3 or more on 559 speech files of 1 s and more (1 % under
# 3.9); 0.6 or less on tones, chords, white and pink noise; 0.6-1.7 on helicopter, sea, appliances.
NO_SPEECH_DB = 2.0
# Correlation of the stems' envelopes through the default model, 10-15 s inputs: one voice
# 0.20-0.96 (median 0.69, 67 of 76 above 0.45); two voices at 0 dB that it separated (SI-SDRi 5 dB
# or more) -0.53-0.34 (median -0.11, 32 pairs); pairs it did not separate 0.31-0.73 (5 of 8 above).
SAME_SYLLABLES = 0.45
# Longer inputs are mostly conversations, where the leak of each turn into the other stem makes the
# stems' envelopes rise and fall together (0.52 on a three-minute two-person test conversation):
# there conversation mode counts the people instead.
ONE_VOICE_MAX_SECONDS = 20.0
SAME_AS_MIXTURE_DB = -20.0  # a single stem whose difference from the mixture is this far below it
_BLOCK_FRAMES = 1024  # frames transformed at once (an hour of input is never copied whole)


def band_levels(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log energy (dB) of ``x [time]`` in the bands of ``BAND_EDGES_HZ`` below Nyquist, in
    ``WINDOW_SECONDS`` Hann frames every ``HOP_SECONDS`` -> ``[bands, frames]``, floored
    ``FLOOR_DB`` below each band's loudest frame."""
    n = max(16, int(round(WINDOW_SECONDS * sample_rate)))
    hop = max(1, int(round(HOP_SECONDS * sample_rate)))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    bands = [
        (freqs >= lo) & (freqs < hi)
        for lo, hi in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:])
        if np.any((freqs >= lo) & (freqs < hi))
    ]
    window = np.hanning(n).astype(np.float32)
    x = np.asarray(x, dtype=np.float32)
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    frames_view = np.lib.stride_tricks.sliding_window_view(x, n)[::hop]
    energy = np.zeros((len(bands), len(frames_view)), dtype=np.float32)
    for start in range(0, len(frames_view), _BLOCK_FRAMES):
        block = frames_view[start : start + _BLOCK_FRAMES]
        power = np.abs(scipy.fft.rfft(block * window, axis=-1)) ** 2
        for b, sel in enumerate(bands):
            energy[b, start : start + len(block)] = power[:, sel].sum(-1)
    floor = energy.max(axis=-1, keepdims=True) * 10 ** (-FLOOR_DB / 10)
    return 10 * np.log10(np.maximum(energy, floor) + 1e-30)


def syllable_envelopes(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``band_levels`` of ``x [time]`` band-passed to ``SYLLABLE_HZ`` -> ``[bands, frames]`` dB."""
    levels = band_levels(x, sample_rate)
    if levels.shape[-1] < 80:  # too few frames for the filter: the mean-removed levels
        return levels - levels.mean(axis=-1, keepdims=True)
    sos = butter(2, SYLLABLE_HZ, btype="band", fs=1.0 / HOP_SECONDS, output="sos")
    return sosfiltfilt(sos, levels, axis=-1)


def syllable_modulation_db(mixture: np.ndarray, sample_rate: int) -> float:
    """How much ``mixture [time]`` moves at syllable rates: the median over bands of the standard
    deviation (dB) of its ``syllable_envelopes``."""
    return float(np.median(syllable_envelopes(mixture, sample_rate).std(axis=-1)))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / denominator) if denominator > 0 else 0.0


def most_alike_stems(stems: np.ndarray, sample_rate: int) -> tuple[int, int, float]:
    """The pair of ``stems [S, time]`` (S >= 2) whose syllable envelopes (the mean over bands)
    correlate most, and that correlation: ``(i, j, r)`` with ``i < j``."""
    envelopes = [syllable_envelopes(s, sample_rate).mean(axis=0) for s in stems]
    pairs = [
        (i, j, _correlation(envelopes[i], envelopes[j]))
        for i in range(len(stems))
        for j in range(i + 1, len(stems))
    ]
    return max(pairs, key=lambda pair: pair[2])


def separation_notes(
    mixture: np.ndarray, stems: np.ndarray, sample_rate: int, *, speakers: bool = True
) -> list[str]:
    """Notes on separating ``mixture [time]`` into ``stems [S, time]`` (both at ``sample_rate``):
    too short, not speech, or else (``speakers``: the stems should be different talkers) stems that
    follow the same syllables, or one stem that is the mixture. Empty when nothing is amiss."""
    seconds = len(mixture) / sample_rate
    if seconds < MIN_SECONDS:
        return [
            f"the input is {seconds:.2f} s long, under the {MIN_SECONDS:g} s a separation needs: "
            "the stems are unreliable"
        ]
    movement = syllable_modulation_db(mixture, sample_rate)
    if movement < NO_SPEECH_DB:
        return [
            f"the input does not sound like speech (its level moves {movement:.1f} dB at "
            f"syllable rates, speech {NO_SPEECH_DB:g} dB or more): the stems mean little"
        ]
    if not speakers:
        return []
    if len(stems) == 1:
        mix = np.asarray(mixture, dtype=np.float64)
        residual = np.sum((mix - stems[0]) ** 2) / max(np.sum(mix**2), 1e-30)
        if 10 * np.log10(residual + 1e-30) < SAME_AS_MIXTURE_DB:
            return ["one stem, and it is the mixture itself: nothing was separated"]
        return []
    if seconds > ONE_VOICE_MAX_SECONDS:
        return []
    i, j, r = most_alike_stems(stems, sample_rate)
    if r > SAME_SYLLABLES:
        return [
            f"stems {i + 1} and {j + 1} follow the same syllables (envelope correlation "
            f"{r:.2f}): the input looks like one voice, or voices the model did not separate"
        ]
    return []
