"""The work the user waits for: its stage, progress and ETA in the status bar (not the quiet jobs':
model list, checkpoints, quality timeline), Stop (the models' runs, an adaptation first ended with
its best copy so far, and the scoring), and which actions can run now (the A/B/X test only with an
audio output)."""

from __future__ import annotations

import time


def eta_text(elapsed: float, fraction: float) -> str:
    """Remaining time from the elapsed time and the fraction done (empty until it means something)."""
    if fraction < 0.02 or elapsed < 0.5:
        return ""
    remaining = elapsed * (1.0 - fraction) / fraction
    m, s = divmod(int(round(remaining)), 60)
    return f"ETA {m}:{s:02d}"


class StatusController:
    def __init__(self, w, *, run, oracle, scoring) -> None:
        """The slots (app.runner.JobSlot) of the work Stop stops: ``run``, the ticked models (Separate
        waits for it), ``oracle``, the oracle run when references come, and ``scoring``."""
        self.w = w
        self.run, self.oracle, self.scoring = run, oracle, scoring
        self.models_ready = False  # the catalog is listed
        self.no_playback = ""  # why there is no audio output ("": none known)
        w.runner.started.connect(self._started)
        w.runner.progress.connect(self._progress)
        w.runner.ended.connect(lambda _handle: self.update_busy())

    def _started(self, handle) -> None:
        if not handle.quiet:
            self.w.progress.setValue(0)
            self.w.eta_label.setText("")
        self.update_busy()

    def _progress(self, handle, fraction: float, stage: str) -> None:
        if handle.quiet:
            return
        w = self.w
        w.progress.show()
        w.progress.setValue(int(fraction * 1000))
        w.stage_label.setText(stage)
        w.eta_label.setText(eta_text(time.monotonic() - handle.started, fraction))

    def models_listed(self) -> None:
        self.models_ready = True
        self.update_enabled()

    def playback_unavailable(self, reason: str) -> None:
        """No audio output: what needs one (the A/B/X test) is disabled, with the reason."""
        self.no_playback = reason or "no audio output"
        self.w.act_abx.setToolTip(
            f"Playback unavailable ({self.no_playback}): a blind test needs to be heard"
        )
        self.update_enabled()

    def stop(self) -> None:
        """Stop the models' runs and the scoring. While a model adapts to the recording, the first
        Stop ends its fine-tuning with the best copy so far (its result still comes); a second
        Stop cancels the run."""
        for slot in (self.run, self.oracle, self.scoring):
            if not slot.busy:
                continue
            finish_early = getattr(slot.handle.job, "finish_early", None)
            if finish_early is not None and finish_early():
                self.w.notify("Stopping the adaptation: keeping the best copy so far…", 15000)
                continue
            slot.cancel()
            self.w.notify("Stopping…", 5000)
        self.update_busy()

    def update_busy(self) -> None:
        w = self.w
        separating = self.run.busy or self.oracle.busy
        w.panel.set_running(separating)
        w.act_stop.setEnabled(separating or self.scoring.busy)
        if not any(not h.quiet for h in w.runner.running()):
            w.progress.hide()
            w.stage_label.setText("")
            w.eta_label.setText("")
        self.update_enabled()

    def update_enabled(self) -> None:
        w = self.w
        s = w.session
        can_run = s.loaded and self.models_ready and bool(w.panel.checked_ids())
        w.panel.set_can_run(can_run and not self.run.busy)
        w.act_separate.setEnabled(can_run)
        w.act_refs.setEnabled(s.loaded)
        w.act_export.setEnabled(bool(s.results))
        w.act_abx.setEnabled(len(s.results) >= 2 and not self.no_playback)
        w.act_play.setEnabled(s.loaded)
        w.act_loop.setEnabled(s.loaded)
        w.result_combo.setEnabled(bool(s.results))
