"""What a stretch of voice sounds like, for telling the people of one recording apart.

Two descriptions of each stretch, joined: resemblyzer's speaker embedding (``speakers``), and the
mean of the stitching's frame features (cepstra and pitch, ``engine.speaker_features``) over its
loud frames, whitened by the within-speaker whitening learnt from train-split speakers. Each is
centred on the recording's own mean and brought to unit length, so what the people of this
recording share (the room, the microphone, the language) drops out; the joint vector is their
concatenation over sqrt(2), unit length. On the development conversations (docs/conversations.md)
the two together told people apart better than either alone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from separation_core.engine.speaker_features import FeatureGrid, learnt_whitening

RATE = 16000
LOUD_DB = -30.0  # frames within this of the stretch's loud level describe it


@dataclass(frozen=True)
class VoiceSpace:
    """The recording's means of both descriptions, to centre any stretch the same way."""

    embedding_mean: np.ndarray
    profile_mean: np.ndarray

    @classmethod
    def of(cls, embeddings: np.ndarray, profiles: np.ndarray) -> VoiceSpace:
        return cls(embeddings.mean(0), profiles.mean(0))

    def vectors(self, embeddings: np.ndarray, profiles: np.ndarray) -> np.ndarray:
        """Joint unit vectors ``[W, 256 + D]`` of raw ``embeddings [W, 256]`` and ``profiles [W, D]``."""
        return np.hstack(
            [unit_rows(embeddings - self.embedding_mean), unit_rows(profiles - self.profile_mean)]
        ) / np.sqrt(2.0)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row of ``x`` scaled to unit length."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@functools.cache
def _grid() -> FeatureGrid:
    return FeatureGrid.at(RATE)


def profile(wav16: np.ndarray) -> np.ndarray:
    """The whitened mean frame features ``[D]`` of the loud frames of a 16 kHz stretch."""
    ceps, energy = _grid().frames(np.asarray(wav16, dtype=np.float32)[None])
    ceps, energy = ceps[0], energy[0]
    if energy.size == 0:
        return np.zeros(learnt_whitening().shape[1])
    loud = energy >= np.percentile(energy, 95) * 10 ** (LOUD_DB / 10)
    return ceps[loud].mean(0).astype(np.float64) @ learnt_whitening()
