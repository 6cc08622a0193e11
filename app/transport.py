"""Playback control on the GUI thread: owns the mixer and the player, moves the playhead on a timer,
seeks, loops, and changes what is heard without stopping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from PySide6.QtCore import QObject, QTimer, Signal

from app.mixer import Mixer, TrackState
from app.player import Player

PLAYHEAD_MS = 33


class Transport(QObject):
    playing_changed = Signal(bool)
    position_changed = Signal(float)  # seconds, while playing and on seek
    unavailable = Signal(str)  # reason, when play is asked and playback cannot work

    def __init__(
        self, parent: Optional[QObject] = None, player_factory: Callable[[Mixer], Player] = Player
    ) -> None:
        super().__init__(parent)
        self.mixer = Mixer(16000)
        self._player_factory = player_factory
        self.player: Optional[Player] = None
        self._was_playing = False
        self.timer = QTimer(self)
        self.timer.setInterval(PLAYHEAD_MS)
        self.timer.timeout.connect(self._tick)

    def ensure_player(self) -> Player:
        """Create the player (imports sounddevice, opens PortAudio) on first use."""
        if self.player is None:
            self.player = self._player_factory(self.mixer)
        return self.player

    @property
    def available(self) -> bool:
        return self.ensure_player().available

    @property
    def is_playing(self) -> bool:
        return self.player is not None and self.player.is_playing

    # --- content -------------------------------------------------------------------------------
    def load(self, sample_rate: int, tracks: dict, states: Optional[dict] = None) -> None:
        """A new mixture: stop, and start over with ``tracks`` at ``sample_rate``."""
        self.pause()
        self.mixer = Mixer(sample_rate)
        self.mixer.set_tracks(tracks, states)
        if self.player is not None:
            self.player.mixer = self.mixer
        self.position_changed.emit(0.0)

    def set_tracks(self, tracks: dict, states: Optional[dict] = None) -> None:
        """Change what is heard; playback goes on without a gap."""
        self.mixer.set_tracks(tracks, states)

    def set_state(self, name: str, state: TrackState) -> None:
        m = self.mixer
        m.set_gain_db(name, state.gain_db)
        m.set_solo(name, state.solo)
        m.set_mute(name, state.mute)

    # --- transport -----------------------------------------------------------------------------
    def play(self) -> bool:
        player = self.ensure_player()
        if not player.available or not player.play():
            self.unavailable.emit(player.unavailable_reason)
            return False
        self.timer.start()
        self._set_playing(True)
        return True

    def pause(self) -> None:
        if self.player is not None:
            self.player.pause()
        self._set_playing(False)
        self.timer.stop()

    def toggle(self) -> None:
        if self.is_playing:
            self.pause()
        else:
            self.play()

    def seek(self, seconds: float) -> None:
        self.mixer.seek_seconds(seconds)
        self.position_changed.emit(self.mixer.position_seconds)

    def set_loop(self, t0: Optional[float], t1: Optional[float] = None) -> None:
        sr = self.mixer.sample_rate
        if t0 is None or t1 is None:
            self.mixer.set_loop(None)
        else:
            self.mixer.set_loop(int(round(t0 * sr)), int(round(t1 * sr)))
            loop = self.mixer.loop
            if loop and not loop[0] <= self.mixer.position < loop[1]:
                self.mixer.seek(loop[0])

    def _set_playing(self, playing: bool) -> None:
        if playing != self._was_playing:
            self._was_playing = playing
            self.playing_changed.emit(playing)

    def _tick(self) -> None:
        self.position_changed.emit(self.mixer.position_seconds)
        if not self.is_playing:
            self.timer.stop()
            self._set_playing(False)

    def close(self) -> None:
        self.timer.stop()
        if self.player is not None:
            self.player.close()
