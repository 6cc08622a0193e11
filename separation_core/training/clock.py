"""The time a run has taken, across the sessions that resume it."""

from __future__ import annotations

import time


class RunClock:
    """Wall and CPU seconds of a run: those of the sessions before this one, plus this one's.

    CPU time counts from the clock's making (this session's set-up and baseline validation
    included); wall time, the time limit and the time since the last save count from
    ``start_updates`` on."""

    def __init__(self, seconds: float = 0.0, cpu_seconds: float = 0.0):
        self._seconds0, self._cpu0 = seconds, cpu_seconds
        self._cpu_start = time.process_time()
        self._start = self._last_save = time.perf_counter()

    def start_updates(self) -> None:
        """Start the wall clock of this session's updates (and of the time since a save)."""
        self._start = self._last_save = time.perf_counter()

    def session_seconds(self) -> float:
        """Wall seconds of this session's updates."""
        return time.perf_counter() - self._start

    def seconds(self) -> float:
        """Wall seconds of the run's updates, over all its sessions."""
        return self._seconds0 + self.session_seconds()

    def cpu_seconds(self) -> float:
        """CPU time of this process over the whole run (all threads, across resumes)."""
        return self._cpu0 + time.process_time() - self._cpu_start

    def since_save(self) -> float:
        """Wall seconds since the last ``saved`` (or the start of the updates)."""
        return time.perf_counter() - self._last_save

    def saved(self) -> None:
        """Note a save now."""
        self._last_save = time.perf_counter()
