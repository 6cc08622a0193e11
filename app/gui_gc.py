"""Python's cyclic garbage collector, run on the GUI thread only.

Automatic collection runs in whichever thread happens to allocate when a threshold is passed: a
job's pool thread or the audio callback can then destroy GUI objects held in reference cycles (a
closed window, a replaced view), off the thread that owns them, and Qt may crash. While a
``GuiThreadCollector`` runs, automatic collection is off and a timer on the GUI thread collects
with the interpreter's own thresholds (calibre's GarbageCollector does the same).
"""

from __future__ import annotations

import gc
from typing import Optional

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500
_running: list[GuiThreadCollector] = []
_was_enabled = True  # automatic collection before the first collector started


class GuiThreadCollector(QObject):
    """Turns automatic collection off until ``stop()`` and collects from a timer of the thread it
    lives on. Collectors nest: collection is automatic again once the last one stops."""

    def __init__(self, parent: Optional[QObject] = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self.start()

    def start(self) -> None:
        """Automatic collection off, the timer on (done by the constructor; again after stop)."""
        global _was_enabled
        if self.running:
            return
        if not _running:
            _was_enabled = gc.isenabled()
        _running.append(self)
        gc.disable()
        self._timer.start()

    @property
    def running(self) -> bool:
        return self in _running

    def check(self) -> int:
        """What the interpreter does when it allocates: collect the oldest generation whose count
        passed its threshold (with the younger ones). Returns that generation, -1 for none."""
        counts = gc.get_count()
        generation = -1
        for g in range(3):
            if counts[g] <= self.threshold[g]:
                break
            generation = g
        if generation >= 0:
            gc.collect(generation)
        return generation

    def stop(self) -> None:
        """Collect everything now, on this thread, and stop; the last collector to stop gives
        automatic collection back (if it was on before the first started)."""
        if not self.running:
            return
        self._timer.stop()
        _running.remove(self)
        gc.collect()
        if not _running and _was_enabled:
            gc.enable()
