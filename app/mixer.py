"""What is heard: a pure-numpy mixer of named tracks with gain, solo and mute, a play position and an
optional loop range. The audio callback calls ``render``; the GUI thread calls the setters.

Audibility: when any track is soloed only soloed tracks play, else every track plays; a muted track
never plays. A change of tracks or of what is audible takes effect at the next block, cross-faded
over ``fade`` samples from the old mix to the new one: no gap, no click, the position runs on.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class TrackState:
    gain_db: float = 0.0
    solo: bool = False
    mute: bool = False


def track_weights(states: Mapping[str, TrackState]) -> dict[str, float]:
    """Linear weight of each track under the solo / mute / gain rule."""
    any_solo = any(s.solo for s in states.values())
    return {
        name: (10.0 ** (s.gain_db / 20.0) if (s.solo or not any_solo) and not s.mute else 0.0)
        for name, s in states.items()
    }


class Mixer:
    """Tracks are float32 ``[time]`` arrays at one ``sample_rate`` (shorter ones are padded with
    silence)."""

    def __init__(self, sample_rate: int, fade: int = 256) -> None:
        self.sample_rate = int(sample_rate)
        self.fade = int(fade)
        self._lock = threading.Lock()
        self._tracks: dict[str, np.ndarray] = {}
        self._states: dict[str, TrackState] = {}
        self._pos = 0
        self._loop: Optional[tuple[int, int]] = None
        self._heard: Optional[tuple[dict, dict]] = None  # (tracks, weights) of the last block

    # --- content -------------------------------------------------------------------------------
    def set_tracks(
        self, tracks: Mapping[str, np.ndarray], states: Optional[Mapping[str, TrackState]] = None
    ) -> None:
        """Replace the tracks; a track keeps its state if its name stays, else takes ``states[name]``
        or the default state."""
        states = dict(states or {})
        with self._lock:
            self._states = {
                name: states.get(name, self._states.get(name, TrackState())) for name in tracks
            }
            self._tracks = {name: np.asarray(x, dtype=np.float32) for name, x in tracks.items()}

    def track_names(self) -> list[str]:
        return list(self._tracks)

    def state(self, name: str) -> TrackState:
        return self._states[name]

    def _update(self, name: str, **changes) -> None:
        with self._lock:
            if name in self._states:
                self._states = {**self._states, name: replace(self._states[name], **changes)}

    def set_gain_db(self, name: str, gain_db: float) -> None:
        self._update(name, gain_db=float(gain_db))

    def set_solo(self, name: str, solo: bool) -> None:
        self._update(name, solo=bool(solo))

    def set_mute(self, name: str, mute: bool) -> None:
        self._update(name, mute=bool(mute))

    def solo_only(self, name: Optional[str]) -> None:
        """Solo ``name`` alone (None: clear every solo)."""
        with self._lock:
            self._states = {n: replace(s, solo=(n == name)) for n, s in self._states.items()}

    def weights(self) -> dict[str, float]:
        return track_weights(self._states)

    @property
    def length(self) -> int:
        return max((len(x) for x in self._tracks.values()), default=0)

    # --- transport -----------------------------------------------------------------------------
    @property
    def position(self) -> int:
        return self._pos

    @property
    def position_seconds(self) -> float:
        return self._pos / self.sample_rate

    def seek(self, sample: int) -> None:
        with self._lock:
            self._pos = int(min(max(sample, 0), self.length))

    def seek_seconds(self, seconds: float) -> None:
        self.seek(int(round(seconds * self.sample_rate)))

    @property
    def loop(self) -> Optional[tuple[int, int]]:
        return self._loop

    def set_loop(self, start: Optional[int], end: Optional[int] = None) -> None:
        """Loop over samples ``[start, end)`` (None: no loop); a range under 2 samples is ignored."""
        with self._lock:
            if start is None or end is None:
                self._loop = None
                return
            a, b = sorted((int(start), int(end)))
            a, b = max(a, 0), min(b, self.length)
            self._loop = (a, b) if b - a >= 2 else None

    @property
    def at_end(self) -> bool:
        return self._loop is None and self._pos >= self.length

    def _indices(self, n: int) -> np.ndarray:
        idx = self._pos + np.arange(n)
        if self._loop is not None:
            a, b = self._loop
            if self._pos >= b:
                idx = a + np.arange(n)
            over = idx >= b
            idx[over] = a + (idx[over] - b) % (b - a)
        return idx

    @staticmethod
    def _mix(
        tracks: Mapping[str, np.ndarray], weights: Mapping[str, float], idx: np.ndarray
    ) -> np.ndarray:
        out = np.zeros(len(idx), dtype=np.float32)
        for name, x in tracks.items():
            w = weights.get(name, 0.0)
            if w == 0.0 or len(x) == 0:
                continue
            inside = idx < len(x)
            out[inside] += np.float32(w) * x[idx[inside]]
        return out

    def render(self, n: int) -> np.ndarray:
        """The next ``n`` samples (float32, not clipped) and advance the position."""
        with self._lock:
            idx = self._indices(n)
            tracks, weights = self._tracks, track_weights(self._states)
            out = self._mix(tracks, weights, idx)
            if self._heard is not None and (
                self._heard[0] is not tracks or self._heard[1] != weights
            ):
                k = min(self.fade, n)
                if k > 0:
                    old = self._mix(self._heard[0], self._heard[1], idx[:k])
                    ramp = (np.arange(k, dtype=np.float32) + 1.0) / (k + 1.0)
                    out[:k] = old * (1.0 - ramp) + out[:k] * ramp
            self._heard = (tracks, weights)
            if self._loop is not None:
                self._pos = int(idx[-1]) + 1 if n else self._pos
                a, b = self._loop
                if self._pos >= b:
                    self._pos = a
            else:
                self._pos = min(self._pos + n, self.length)
            return out
