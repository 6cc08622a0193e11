"""The chunks the engine cut a recording into, and how it joined them, read from a result.

The engine records ``SeparationResult.stitching`` (one dict per chunk: ``start``/``stop`` in samples
at the result's rate, ``order`` the permutation applied, ``confidence`` in [0, 1] or None for the
first chunk, ``cue`` "first" / "overlap" / "profile" / "global"). Results made before it did (or by
an engine that does not) still carry ``timings`` with the chunk count, length and overlap: the grid
is derived from those, without the decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

LOW_CONFIDENCE = 0.5  # a joint decided with less confidence than this is shown as doubtful


@dataclass(frozen=True)
class Chunk:
    start: float  # seconds
    stop: float  # seconds
    order: Optional[tuple] = None  # the permutation applied to the chunk's outputs (0-based)
    confidence: Optional[float] = None  # of the order chosen at this chunk's start (None: first)
    cue: str = ""  # what decided it: first / overlap / profile / global

    @property
    def low_confidence(self) -> bool:
        return self.confidence is not None and self.confidence < LOW_CONFIDENCE

    def label(self) -> str:
        """``"order 2,1 (profile, 0.83)"`` (1-based, as the lanes count sources); the chunk's span
        when the engine recorded no decision."""
        span = f"{self.start:.2f}-{self.stop:.2f} s"
        if self.order is None:
            return f"chunk {span} (no stitching record)"
        order = ",".join(str(int(i) + 1) for i in self.order)
        parts = ([self.cue] if self.cue else []) + (
            [f"{self.confidence:.2f}"] if self.confidence is not None else []
        )
        details = ", ".join(parts)
        return f"order {order}" + (f" ({details})" if details else "") + f", {span}"


def result_chunks(result, n_samples: Optional[int] = None) -> list[Chunk]:
    """The chunks of ``result`` (a SeparationResult) in seconds; [] for a single chunk with no record."""
    sr = float(result.sample_rate)
    records = getattr(result, "stitching", None) or []
    if records:
        return [
            Chunk(
                float(r["start"]) / sr,
                float(r["stop"]) / sr,
                tuple(int(i) for i in r["order"]) if r.get("order") is not None else None,
                None if r.get("confidence") is None else float(r["confidence"]),
                str(r.get("cue") or ""),
            )
            for r in records
        ]
    t = getattr(result, "timings", None) or {}
    try:
        count, chunk, overlap = (
            int(t["chunks"]),
            float(t["chunk_seconds"]),
            float(t["overlap_seconds"]),
        )
    except (KeyError, TypeError, ValueError):
        return []
    if count <= 1 or chunk <= 0:
        return []
    if n_samples is None:
        n_samples = result.waveforms.shape[-1]
    duration = n_samples / sr
    step = chunk - overlap
    return [Chunk(i * step, min(i * step + chunk, duration)) for i in range(count)]
