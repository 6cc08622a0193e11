"""A second clustering of one person's stretches, off the GUI thread (``Split by voice``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VoiceSplitJob:
    """``mixture [T]`` at ``sample_rate`` and one person's ``talks`` and ``solo`` (bool ``[plan
    frames]`` of the conversation pipeline's HOP) -> labels ``[plan frames]``: 0 or 1 where they
    talk, -1 elsewhere (``pipeline.split_voices``)."""

    mixture: np.ndarray
    sample_rate: int
    talks: np.ndarray
    solo: np.ndarray

    def run(self, ctx) -> np.ndarray:
        from separation_core.conversation.pipeline import RATE, split_voices
        from separation_core.conversation.speakers import SpeakerEncoder
        from separation_core.io.audio_io import resample

        ctx.progress(0.0, "listening for a second voice")
        x16 = self.mixture
        if self.sample_rate != RATE:
            x16 = resample(self.mixture, self.sample_rate, RATE)
        ctx.cancel.raise_if_cancelled()
        return split_voices(x16, self.talks, self.solo, SpeakerEncoder.shared())
