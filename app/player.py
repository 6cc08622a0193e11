"""Audio output: a sounddevice OutputStream whose callback pulls blocks from a ``Mixer``.

Plain Python (no Qt): the GUI polls ``is_playing`` and ``mixer.position`` on a timer. When PortAudio
or an output device is missing, ``available`` is False and ``unavailable_reason`` says why; every
other part of the program keeps working.
"""

from __future__ import annotations

import logging
import threading
from typing import Optional

import numpy as np

from app.mixer import Mixer

log = logging.getLogger(__name__)


def _load_sounddevice():
    """The sounddevice module, or (None, reason) when PortAudio or an output device is missing."""
    try:
        import sounddevice as sd
    except (OSError, ImportError) as e:  # OSError: the PortAudio library was not found
        return None, f"PortAudio is not available ({e})"
    try:
        sd.query_devices(kind="output")
    except Exception as e:  # sounddevice.PortAudioError: no default output device
        return None, f"no audio output device ({e})"
    return sd, ""


class Player:
    def __init__(self, mixer: Mixer, *, blocksize: int = 1024) -> None:
        self.mixer = mixer
        self.blocksize = int(blocksize)
        self._sd, reason = _load_sounddevice()
        self.unavailable_reason = reason
        self._stream = None
        self._done = threading.Event()
        self._done.set()

    @property
    def available(self) -> bool:
        return self._sd is not None

    @property
    def is_playing(self) -> bool:
        return self._stream is not None and not self._done.is_set()

    def _callback(self, outdata, frames, time_info, status) -> None:
        block = self.mixer.render(frames)
        np.clip(block, -1.0, 1.0, out=block)
        outdata[:, 0] = block
        if self.mixer.at_end:
            raise self._sd.CallbackStop

    def play(self) -> bool:
        """Start playing from the mixer's position (from the start if it is at the end).
        Returns False (and sets ``unavailable_reason``) when playback cannot start."""
        if not self.available:
            return False
        if self.is_playing:
            return True
        self._close()
        if self.mixer.at_end:
            self.mixer.seek(0)
        self._done.clear()
        try:
            self._stream = self._sd.OutputStream(
                samplerate=self.mixer.sample_rate,
                channels=1,
                dtype="float32",
                blocksize=self.blocksize,
                callback=self._callback,
                finished_callback=self._done.set,
            )
            self._stream.start()
        except Exception as e:  # PortAudioError: device busy, unsupported rate, ...
            log.exception("cannot start playback")
            self.unavailable_reason = f"cannot start playback ({e})"
            self._done.set()
            self._close()
            return False
        return True

    def pause(self) -> None:
        self._close()

    def toggle(self) -> bool:
        if self.is_playing:
            self.pause()
            return False
        return self.play()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until playback stops by itself (end of the tracks); True if it did."""
        return self._done.wait(timeout)

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:
                log.exception("closing the audio stream failed")
        self._done.set()

    def close(self) -> None:
        self._close()
