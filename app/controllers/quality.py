"""The quality timeline under the Listen lanes: keeps one quality track per result up to date (the
job is ``app.jobs.quality.QualityJob``, run quietly). A result is computed once; new results, new
references or a new order of the columns compute it again.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import QObject, Signal

from app.jobs import frozen_array
from app.jobs.quality import QualityJob, QualityTrack
from app.runner import JobSlot


class QualityController(QObject):
    """Starts the quality job for the results that need it and hands the tracks to the timeline."""

    updated = Signal()  # after a job's results are shown (tests wait on it)

    def __init__(
        self, runner, session, view, parent: Optional[QObject] = None, on_error=None
    ) -> None:
        """``on_error(message, details)``: shows a failed job's error (the window's)."""
        super().__init__(parent or view)
        self.runner, self.session, self.view = runner, session, view
        self.on_error = on_error
        # key -> (the result, the references, the columns' order, its track) it was computed from
        self.cache: dict[str, tuple[Any, Any, tuple, QualityTrack]] = {}
        self._pending: dict[str, tuple] = {}
        self.job = JobSlot(runner)

    def _basis(self, key: str) -> tuple:
        s = self.session
        record = s.results[key]
        order = tuple(s.order(key)[: s.references.shape[0]]) if s.references is not None else ()
        return record.result, s.references, order

    def _fresh(self, key: str) -> bool:
        cached = self.cache.get(key)
        if cached is None:
            return False
        result, refs, order = self._basis(key)
        return cached[0] is result and cached[1] is refs and cached[2] == order

    def refresh(self):
        """Show what is known; compute what is missing (cancels a job for an older state)."""
        s = self.session
        self.cache = {k: v for k, v in self.cache.items() if k in s.results and self._fresh(k)}
        todo = [k for k in s.results if k not in self.cache]
        self._show()
        if not todo:
            self.job.cancel()
            return None
        self._pending = {k: self._basis(k) for k in todo}
        items = tuple(
            (k, frozen_array(s.results[k].result.waveforms), self._pending[k][2] or None)
            for k in todo
        )
        job = QualityJob(items, frozen_array(s.references), s.sample_rate)
        self.view.set_status("Computing quality over time…")
        return self.job.start(
            job,
            quiet=True,
            on_publish=self._published,
            on_done=self._ended,
            on_error=self._failed,
            on_cancelled=self._ended,
        )

    def _published(self, payload) -> None:
        key, track = payload
        basis = self._pending.get(key)
        if basis is not None and key in self.session.results and self._basis(key)[0] is basis[0]:
            self.cache[key] = (*basis, track)
            self._show()

    def _failed(self, message: str, details: str) -> None:
        self._ended()
        if self.on_error is not None:
            self.on_error(message, details)

    def _ended(self, *_args) -> None:
        if not self.job.busy:
            self._pending = {}
            self.view.set_status("")
            self.updated.emit()

    def track(self, key: str) -> Optional[QualityTrack]:
        cached = self.cache.get(key)
        return cached[3] if cached else None

    def _show(self) -> None:
        from app.views.metrics import ordered_results
        from separation_core.engine.chunk_report import result_chunks

        s = self.session
        rows = [(k, self.track(k), result_chunks(r.result)) for k, r in ordered_results(s)]
        self.view.set_rows(rows, s.references is not None)
