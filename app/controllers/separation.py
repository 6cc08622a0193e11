"""Running models: the ticked ones (asking first when some are untrained), the oracle once references
are in; each result enters the session with its speaker order, solved by the job. A model that needs
references when there are none is not run, and the status bar says why; when a run ends, the status
bar holds the results' notes ("looks like one voice"). With "Adapt to this recording" ticked, a
model's adapted copy comes as a second result beside the stock one and joins the model list (not
ticked); where none came, the stock result's notes say why. (Stop: the status controller, which
stops the scoring too, and first ends an adaptation with the best copy so far; the run's end then
names the models left unrun.)"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox

from app.jobs import frozen_array
from app.jobs.catalog import default_chunk_seconds
from app.jobs.separation import AdaptationNote, ModelDone, ModelFailed, NotRun, SeparationJob
from app.messages import plain_lines, plain_message
from app.model_panel import NEEDS_REFERENCES, is_untrained_builtin
from app.runner import JobSlot
from app.session import ResultRecord

log = logging.getLogger(__name__)

ORACLE_PREFERENCE = ("oracle-irm", "oracle-wiener", "oracle-psm", "oracle-ibm")


def not_run_text(ids) -> str:
    """Why models that need references did not run: one line."""
    return f"{', '.join(ids)} not run: {NEEDS_REFERENCES}" if ids else ""


def stopped_text(names) -> str:
    """The models a Stop while adapting left unrun: one line."""
    return f"Stopped: {', '.join(names)} not run"


class SeparationController(QObject):
    run_started = (
        Signal()
    )  # the user runs models: their preferred result is shown, not the last pick
    result_added = Signal(str)  # a result is in the session, in its speaker order; not yet shown
    separated = Signal(object)  # a run is done: its ModelDone / ModelFailed list (then finished)
    finished = Signal(object)  # a run ended: that list, or None when it failed or was stopped

    def __init__(self, w) -> None:
        super().__init__(w)
        self.w = w
        self.failures: list[ModelFailed] = []
        self.not_run: list[str] = []  # ticked, but waiting for references
        self.run_job = JobSlot(w.runner)  # the models the user runs
        self.oracle_job = JobSlot(w.runner)  # the oracle added when references come
        w.panel.separate_requested.connect(self.separate)

    def drop(self) -> None:
        """A new mixture replaces the session's: its runs stop, their failures are forgotten."""
        self.run_job.cancel()
        self.oracle_job.cancel()
        self.failures.clear()

    def separate(self, models=None):
        """Run ``models`` (ids, entries or specs; default: the ticked ones, asking first when some
        are untrained) on the background worker."""
        w, s = self.w, self.w.session
        if not s.loaded:
            w.show_error("Open a mixture first.")
            return None
        if models is None or isinstance(models, bool):  # a QAction's ``checked`` is no model list
            models = [w.panel.entries[i] for i in w.panel.checked_ids()]
            if not self.confirm_untrained(models):
                return None
            waiting = w.panel.waiting_for_references()  # ticked, not run: the status bar says why
        else:  # named: one that needs references fails with its reason, as any failing model
            models = [w.panel.entries.get(m, m) if isinstance(m, str) else m for m in models]
            waiting = []
        if not models:
            w.show_error(not_run_text(waiting) or "Tick at least one model to run.")
            return None
        self.not_run = waiting
        if waiting:
            w.notify(not_run_text(waiting), 10000)
        self.run_started.emit()
        settings = w.panel.settings()
        w.settings.set_run_options(settings.to_dict())
        w.settings.set_device(settings.device)
        self.failures.clear()
        return self._start(self.run_job, tuple(models), settings)

    def _start(self, slot: JobSlot, models: tuple, settings):
        """Each result's order is solved by the job against the session's anchor at the start, or,
        when there is none yet, against the run's first result (which becomes the anchor)."""
        s = self.w.session
        anchor = s.anchor()
        run = {"token": s.anchor_token(), "stopped": ()}  # stopped: NotRun's names
        job = SeparationJob(
            frozen_array(s.mixture),
            s.sample_rate,
            models,
            settings,
            frozen_array(s.references),
            frozen_array(anchor),
            input_path=s.path,
        )
        return slot.start(
            job,
            on_publish=lambda outcome: self._published(outcome, run),
            on_done=lambda outcomes: self._done(outcomes, run),
            on_error=self._failed,
            on_cancelled=lambda: self._cancelled(slot),
        )

    def confirm_untrained(self, entries) -> bool:
        """Ask before running built-in models that have no trained weights."""
        names = [e.id for e in entries if is_untrained_builtin(e)]
        if not names:
            return True
        answer = QMessageBox.question(
            self.w,
            "Run untrained models?",
            f"{', '.join(names)} {'has' if len(names) == 1 else 'have'} no trained weights: the "
            "output is close to noise, and a run can take long (tens of seconds). Run anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def run_oracle(self):
        """With references loaded, add the oracle masks (the ceiling) unless an oracle already ran."""
        s, entries = self.w.session, self.w.panel.entries
        if s.references is None or any(r.entry.needs_references for r in s.results.values()):
            return None
        names = [n for n in ORACLE_PREFERENCE if not entries or n in entries]
        if not names:
            return None
        return self._start(self.oracle_job, (names[0],), self.w.panel.settings())

    def _published(self, outcome, run: dict) -> None:
        w, s = self.w, self.w.session
        if isinstance(outcome, AdaptationNote):
            self._not_adapted(outcome)
            return
        if isinstance(outcome, NotRun):  # said when the run ends
            run["stopped"] = outcome.names
            return
        if isinstance(outcome, ModelFailed):
            self.failures.append(outcome)
            log.warning("model %s failed: %s\n%s", outcome.spec, outcome.message, outcome.details)
            w.notify(f"{outcome.spec} failed: {plain_message(outcome.message)[0]}", 10000)
            return
        done: ModelDone = outcome
        record = ResultRecord(
            done.entry.id,
            done.entry,
            done.result,
            done.settings.to_dict(),
            done.seconds,
            meeting=done.meeting,
            adaptation=done.adaptation,
        )
        s.add_result(record)
        if run["token"] is None:  # the run's first result: the anchor of its others
            run["token"] = s.result_token(record.key)
        s.set_order(record.key, done.order, run["token"], record)
        self.result_added.emit(record.key)
        if done.adapted_from:
            self._adapted(done)
        elif done.result.notes:
            w.notify(f"{record.key}: " + "; ".join(done.result.notes), 10000)
        w.results_changed()

    def _adapted(self, done: ModelDone) -> None:
        """An adapted model, saved as a user model: listed (not ticked), and said."""
        w, entry = self.w, done.entry
        w.panel.default_chunks[entry.id] = default_chunk_seconds(entry)
        w.panel.add_entry(entry, checked=False)
        w.notify(
            f"{entry.id}: {done.result.notes[-1]}; kept as a user model ({entry.checkpoint})", 15000
        )

    def _not_adapted(self, note: AdaptationNote) -> None:
        """The adaptation gave no model: the stock result's notes and sidecar say why, and the
        status bar."""
        record = self.w.session.results.get(note.key)
        if record is not None:
            record.result.notes = [*record.result.notes, note.note]
            record.adaptation = note.adaptation
        self.w.notify(f"{note.key}: {note.note}", 15000)
        self.w.results_changed()

    def _done(self, outcomes, run: dict) -> None:
        done = [o for o in outcomes if isinstance(o, ModelDone)]
        failed = [o for o in outcomes if isinstance(o, ModelFailed)]
        msg = f"Separated with {len(done)} model(s)"
        if failed:
            msg += f"; {len(failed)} failed"
            lines, details = plain_lines(f"{f.spec}: {f.message}" for f in failed)
            self.w.show_error(lines, title="Some models failed", details=details)
        notes = [f"{d.entry.id}: {note}" for d in done for note in d.result.notes]
        notes += [not_run_text(self.not_run)] if self.not_run else []
        notes += [stopped_text(run["stopped"])] if run["stopped"] else []
        self.w.notify("; ".join([msg] + notes), 15000 if notes else 8000)
        self.separated.emit(outcomes)
        self.finished.emit(outcomes)

    def _failed(self, message: str, details: str) -> None:
        self.finished.emit(None)
        self.w.job_failed(message, details)

    def _cancelled(self, slot: JobSlot) -> None:
        if not slot.busy:  # stopped, not replaced by a new run
            self.w.notify("Stopped", 5000)
            self.finished.emit(None)
