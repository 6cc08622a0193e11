"""Quality over time for the timeline under the Listen lanes, one track per result.

With references each result gets its segmental SI-SDR per source, in the columns of the Listen view,
with the windows where its speakers swap; without, the similarity of its outputs (leakage). See
``separation_core.evaluation.segmental``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

WINDOW_SECONDS = 1.0
HOP_SECONDS = 0.5


@dataclass(frozen=True)
class QualityTrack:
    """``kind`` "si_sdr": ``values [S, W]`` in dB per column, ``swapped [W]``; "leakage": ``values
    [1, W]`` in [0, 1], ``swapped`` None. ``times [W]``: window centres in seconds."""

    kind: str
    times: np.ndarray
    values: np.ndarray
    swapped: Optional[np.ndarray]
    window: float
    hop: float


@dataclass(frozen=True)
class QualityJob:
    """A QualityTrack per item; publishes ``(key, track)`` per item, returns ``{key: track}``."""

    items: tuple  # ((key, waveforms [S, T], order or None), ...)
    references: Optional[np.ndarray]
    sample_rate: int
    window: float = WINDOW_SECONDS
    hop: float = HOP_SECONDS

    def run(self, ctx) -> dict:
        from separation_core.evaluation.segmental import output_leakage, segmental_si_sdr

        out = {}
        n = len(self.items)
        for i, (key, waves, order) in enumerate(self.items):
            ctx.cancel.raise_if_cancelled()

            def progress(fraction: float, stage: str, i=i, key=key) -> None:
                ctx.progress((i + fraction) / n, f"{key}: {stage}")

            if self.references is not None:
                times, values, swapped = segmental_si_sdr(
                    waves,
                    self.references,
                    self.sample_rate,
                    self.window,
                    self.hop,
                    order=order,
                    progress=progress,
                    cancel=ctx.cancel,
                )
                track = QualityTrack("si_sdr", times, values, swapped, self.window, self.hop)
            else:
                times, values = output_leakage(
                    waves,
                    self.sample_rate,
                    self.window,
                    self.hop,
                    progress=progress,
                    cancel=ctx.cancel,
                )
                track = QualityTrack("leakage", times, values[None, :], None, self.window, self.hop)
            out[key] = track
            ctx.publish((key, track))
        return out
