"""The status bar's view of the work: stage, progress and ETA of the jobs the user waits for (not
the quiet ones: model list, checkpoints, quality timeline), and which actions can run now."""

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
    def __init__(self, w) -> None:
        self.w = w
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

    def update_busy(self) -> None:
        w = self.w
        running = w.separation.busy
        w.panel.set_running(running)
        w.act_stop.setEnabled(running or w.scoring.busy)
        if not any(not h.quiet for h in w.runner.running()):
            w.progress.hide()
            w.stage_label.setText("")
            w.eta_label.setText("")
        self.update_enabled()

    def update_enabled(self) -> None:
        w = self.w
        s = w.session
        can_run = s.loaded and w.models.ready and bool(w.panel.checked_ids())
        w.panel.set_can_run(can_run and not w.separation.run_job.busy)
        w.act_separate.setEnabled(can_run)
        w.act_refs.setEnabled(s.loaded)
        w.act_export.setEnabled(bool(s.results))
        w.act_abx.setEnabled(len(s.results) >= 2)
        w.act_play.setEnabled(s.loaded)
        w.act_loop.setEnabled(s.loaded)
        w.result_combo.setEnabled(bool(s.results))
