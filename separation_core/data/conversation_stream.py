"""Short conversations drawn on the fly, with who talks when: training data for the overlap detector.

``ConversationStream.draw(rng)`` makes one recording of ``seconds`` as ``cocktail mix --conversation``
makes its test sets (``separation_core.data.conversation``: people of one corpus taking turns by
``turn_taking.draw_turns``, levels, a room, noise), but in memory and with its options drawn per
recording: the number of people from ``people_weights``, the overlap share from
``overlap_share_range``, noise with probability ``noise_prob``, a room with the probability of
``reverb``. All speech is decoded once. Fixed sets on disk give the detector a few thousand
overlaps to learn by heart; a stream keeps drawing new ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from separation_core.data.conversation import (
    DEFAULT_OVERLAP_RANGE,
    DEFAULT_PAUSE_RANGE,
    DEFAULT_TURN_RANGE,
    compose_levelled,
    corpus_of,
    draw_people,
    eligible_speakers,
)
from separation_core.data.mixing import noise_files
from separation_core.data.mixture_recipe import draw_levels, noise_excerpt, noise_region
from separation_core.data.rooms import ReverbOptions, check_probability, reverberate
from separation_core.data.speakers import PathLike
from separation_core.data.splits import DEFAULT_FRACTIONS, select_split
from separation_core.data.turn_taking import draw_turns
from separation_core.errors import CocktailError
from separation_core.io.rttm import Turn

DEFAULT_PEOPLE_WEIGHTS = {1: 0.1, 2: 0.45, 3: 0.3, 4: 0.15}


@dataclass(frozen=True)
class StreamedConversation:
    """One drawn recording: ``mixture [T]`` float32, the people's ``sources [P, T]`` and who talks
    when (``turns``, seconds, as a set's metadata.json gives them)."""

    mixture: np.ndarray
    sources: np.ndarray
    turns: list[Turn]


class ConversationStream:
    """Random conversations of ``seconds`` from the speakers of ``split`` (see the module docstring).

    Raises CocktailError for bad options or too few speakers for the most people asked for.
    """

    def __init__(
        self,
        speech_dirs: PathLike | Iterable[PathLike],
        *,
        seconds: float = 12.0,
        split: str = "train",
        sample_rate: int = 16000,
        people_weights: Mapping[int, float] = DEFAULT_PEOPLE_WEIGHTS,
        overlap_share_range: Sequence[float] = (0.05, 0.3),
        sir_range: Sequence[float] = (-5.0, 5.0),
        turn_range: Sequence[float] = DEFAULT_TURN_RANGE,
        pause_range: Sequence[float] = DEFAULT_PAUSE_RANGE,
        overlap_range: Sequence[float] = DEFAULT_OVERLAP_RANGE,
        noise_dirs: PathLike | Iterable[PathLike] | None = None,
        snr_range: Sequence[float] = (5.0, 25.0),
        noise_prob: float = 0.3,
        reverb: Optional[ReverbOptions] = None,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
    ) -> None:
        from separation_core.io.audio_io import load_audio

        if seconds <= 0:
            raise CocktailError(f"a streamed conversation lasts more than 0 s, got {seconds}")
        people = sorted(int(p) for p in people_weights)
        weights = np.array([float(people_weights[p]) for p in people])
        if not people or people[0] < 1 or np.any(weights < 0) or weights.sum() <= 0:
            raise CocktailError(
                f"people weights must map 1 or more people to non-negative weights, got "
                f"{dict(people_weights)}"
            )
        lo, hi = map(float, overlap_share_range)
        if not 0.0 <= lo <= hi <= 0.5:
            raise CocktailError(f"the overlap share range must lie in 0..0.5, got {(lo, hi)}")
        self.people, self.weights = people, weights / weights.sum()
        self.length = int(round(seconds * sample_rate))
        self.sample_rate = int(sample_rate)
        self.share_range, self.sir_range, self.snr_range = (lo, hi), sir_range, snr_range
        self.ranges = {
            "turn_range": turn_range,
            "pause_range": pause_range,
            "overlap_range": overlap_range,
        }
        self.noise_prob = check_probability("the noise probability", noise_prob)
        self.reverb = reverb or ReverbOptions()
        files = eligible_speakers(
            select_split(speech_dirs, split, fractions=fractions), sample_rate
        )
        if len(files) < people[-1]:
            raise CocktailError(
                f"the {split} split has {len(files)} speaker(s) with enough audio; conversations "
                f"of {people[-1]} people need {people[-1]}"
            )
        self.speakers = sorted(files)
        self.corpora = [corpus_of(s, "speech") for s in self.speakers]
        self._audio = {
            s: [load_audio(p, sample_rate=sample_rate).samples for p in files[s]]
            for s in self.speakers
        }
        self._noise = []
        for path in noise_files(noise_dirs) if noise_dirs else []:
            x = load_audio(path, sample_rate=sample_rate).samples
            region = noise_region(len(x), split, fractions)
            if region[1] > region[0]:
                self._noise.append((x, region))

    def draw(self, rng: np.random.Generator) -> StreamedConversation:
        """One recording, all of it drawn from ``rng``."""
        n = int(rng.choice(self.people, p=self.weights))
        chosen = draw_people(rng, self.speakers, self.corpora, n)
        share = 0.0 if n == 1 else float(rng.uniform(*self.share_range))
        tracks, turns = draw_turns(
            rng,
            [self._audio[s] for s in chosen],
            self.length,
            self.sample_rate,
            overlap_share=share,
            **self.ranges,
        )
        levels = draw_levels(rng, n, self.sir_range)
        room, positions = self.reverb.draw(rng, n)
        if room is not None:
            tracks = reverberate(tracks, room, positions)
        excerpt, snr = None, None
        if self._noise and rng.uniform() < self.noise_prob:
            noise, region = self._noise[int(rng.integers(len(self._noise)))]
            excerpt = noise_excerpt(noise, region, int(rng.integers(*region)), self.length)
            snr = float(rng.uniform(*self.snr_range))
        comp = compose_levelled(tracks, turns, levels, excerpt, snr)
        seconds = [
            Turn(t.speaker, t.start / self.sample_rate, t.stop / self.sample_rate) for t in turns
        ]
        return StreamedConversation(comp.mixture, comp.sources, seconds)
