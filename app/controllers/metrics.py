"""Scoring the results against the references, off the GUI thread, in each result's speaker order
(the one the views show; solved by the evaluation when no job solved it yet)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.jobs import frozen_array
from app.jobs.metrics import MetricsJob
from app.runner import JobSlot
from app.session import order_from_permutation


class MetricsController(QObject):
    scored = Signal(str)  # a result's scores are in (the preferred result may be another now)
    finished = Signal()  # the scoring job is done

    def __init__(self, w) -> None:
        super().__init__(w)
        self.w = w
        self.job = JobSlot(w.runner)
        w.metrics.compute_requested.connect(self.compute)

    def drop(self) -> None:
        """A new mixture replaces the session's: the scoring stops."""
        self.job.cancel()

    def compute(self):
        """Score the results not scored yet (with references); None when there is nothing to do."""
        s = self.w.session
        todo = tuple(
            (k, frozen_array(r.result.waveforms), r)
            for k, r in s.results.items()
            if r.evaluation is None
        )
        if s.references is None or not todo:
            return None
        n_ref = s.references.shape[0]
        token, records = s.anchor_token(), {k: r for k, _, r in todo}
        items = []
        for key, waves, _ in todo:
            order = s.stored_order(key)
            items.append((key, waves, tuple(order[:n_ref]) if order is not None else None))
        job = MetricsJob(
            tuple(items), frozen_array(s.references), frozen_array(s.mixture), s.sample_rate
        )
        self.w.metrics.set_status("Computing metrics…")
        return self.job.start(
            job,
            on_publish=lambda p: self._scored(*p, token, records),
            on_done=self._done,
            on_error=self.w.job_failed,
        )

    def _scored(self, key: str, evaluation, token, records: dict) -> None:
        s = self.w.session
        if s.results.get(key) is not records[key]:
            return  # replaced by a new run meanwhile
        record = records[key]
        record.evaluation = evaluation
        if s.stored_order(key) is None:  # solved by the evaluation: the views show it too
            order = order_from_permutation(evaluation.permutation, record.result.n_src)
            if s.set_order(key, order, token, record):
                self.w.refresh_views()
        self.w.refresh_views(self.w.metrics)
        self.scored.emit(key)

    def _done(self, _value) -> None:
        self.w.refresh_views(self.w.metrics)
        self.finished.emit()
