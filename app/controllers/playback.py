"""What is heard and followed: the "Listen to" result (the user's pick, else the preferred one), the
mixer's tracks in the columns' order with the lanes' solo / mute / gain, play / pause, loop, the play
head, playing the bins selected in the embeddings, the blind A/B/X test."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QTimer, Qt

from app.jobs import frozen_array
from app.jobs.masked_signal import MaskedSignalJob
from app.mixer import TrackState
from app.runner import JobSlot
from app.selection import selection_start


class PlaybackController:
    def __init__(self, w) -> None:
        self.w = w
        self.user_chose = False  # the Listen view shows the user's pick
        self.default_id: Optional[str] = None  # the default model: its result is preferred
        self.selection_job = JobSlot(w.runner)
        self._selection_start: Optional[float] = None  # where "Play selection" starts (seconds)
        w.lanes.state_changed.connect(self._lane_state)
        w.lanes.loop_region.sigRegionChanged.connect(self._loop_region_moved)
        w.embeddings.play_requested.connect(self.play_selection)
        w.transport.position_changed.connect(self._follow)
        w.transport.playing_changed.connect(
            lambda on: w.act_play.setText("Pause" if on else "Play")
        )
        w.transport.unavailable.connect(self._unavailable)

    def drop(self) -> None:
        """A new mixture replaces the session's: the selection being made for it is dropped."""
        self.selection_job.cancel()

    # --- the result heard ----------------------------------------------------------------------
    def set_mixture(self, audio) -> None:
        """The session's new mixture (an Audio), heard alone, in the lanes, on the time axis."""
        w = self.w
        self.user_chose = False
        w.axis.set_duration(w.session.duration)
        w.lanes.set_mixture(audio.samples, audio.sample_rate)
        w.transport.load(audio.sample_rate, {"mixture": audio.samples})
        w.lanes.set_mixture_state(TrackState())
        if w.act_loop.isChecked():
            w.act_loop.setChecked(False)
            self.set_loop(False)

    def prepare_lanes(self, n: int = 2) -> None:
        """Build the lanes of a two-source result ahead, one per event-loop turn from the next."""
        QTimer.singleShot(0, lambda: self._prepare_lane(n))

    def _prepare_lane(self, n: int) -> None:
        lanes = self.w.lanes
        if len(lanes.lanes) < n:
            lanes.prepare(len(lanes.lanes) + 1)
            self.prepare_lanes(n)

    def results_changed(self) -> None:
        combo, s = self.w.result_combo, self.w.session
        combo.blockSignals(True)
        combo.clear()
        for key, record in s.results.items():
            combo.addItem(key)
            notes = record.result.notes
            if notes:  # "looks like one voice", "no speech found": kept with the result
                combo.setItemData(combo.count() - 1, "\n".join(notes), Qt.ItemDataRole.ToolTipRole)
        if s.selected:
            combo.setCurrentText(s.selected)
        combo.blockSignals(False)
        self.show_selected()

    def select(self, key: str) -> None:
        """The user's pick in the "Listen to" box; kept until the next run or file."""
        s = self.w.session
        if key and key in s.results and key != s.selected:
            self.user_chose = True
            s.selected = key
            self.show_selected()
            self.w.refresh_views(self.w.lanes)

    def set_default_model(self, model_id: Optional[str]) -> None:
        self.default_id = model_id

    def forget_choice(self) -> None:
        """A new run: the preferred result is shown again, not the user's last pick."""
        self.user_chose = False

    def pick(self) -> None:
        """Unless the user picked one, select the preferred result (see ``Session.preferred``)."""
        s, w = self.w.session, self.w
        if not self.user_chose:
            s.selected = s.preferred(self.default_id, w.panel.checked_ids()) or s.selected

    def auto_select(self) -> None:
        """``pick``, shown at once (scores came: the preferred result may be another)."""
        s, w = self.w.session, self.w
        key = s.preferred(self.default_id, w.panel.checked_ids())
        if self.user_chose or key is None or key == s.selected:
            return
        s.selected = key
        w.result_combo.blockSignals(True)
        w.result_combo.setCurrentText(key)
        w.result_combo.blockSignals(False)
        self.show_selected()
        w.refresh_views(w.lanes)

    def tracks(self) -> dict:
        """What the mixer plays: the mixture and the selected result's sources in column order."""
        s = self.w.session
        tracks = {"mixture": s.mixture}
        record = s.selected_record()
        if record is not None:
            for c, src in enumerate(s.order(record.key)):
                if src >= 0:
                    tracks[f"s{c + 1}"] = record.result.waveforms[src]
        return tracks

    def show_selected(self) -> None:
        """The mixer and the chunks overlay follow the selected result; what is heard changes
        without stopping (the lanes show it when refreshed)."""
        w, s = self.w, self.w.session
        if not s.loaded:
            return
        record = s.selected_record()
        had_sources = any(n.startswith("s") for n in w.transport.mixer.track_names())
        states = {}
        if record is not None and not had_sources:
            states["mixture"] = TrackState(mute=True)  # sources add up to the mixture: hear them
        w.transport.set_tracks(self.tracks(), states)
        w.chunks.set_result(record.key if record else "", record.result if record else None)
        self._sync_lane_states()

    def _sync_lane_states(self) -> None:
        m, lanes = self.w.transport.mixer, self.w.lanes
        names = m.track_names()
        if "mixture" in names:
            lanes.set_mixture_state(m.state("mixture"))
        for lane in lanes.lanes:
            if lane.name in names:
                lane.set_state(m.state(lane.name))

    def _lane_state(self, name: str, state: TrackState) -> None:
        t = self.w.transport
        if "selection" in t.mixer.track_names():
            t.set_tracks(self.tracks())  # leave the selection preview
        t.set_state(name, state)

    # --- transport -----------------------------------------------------------------------------
    def toggle(self) -> None:
        if self.w.session.loaded:
            self.w.transport.toggle()

    def _unavailable(self, reason: str) -> None:
        self.w.audio_label.setText("Playback unavailable")
        self.w.audio_label.setToolTip(reason)
        self.w.notify(f"Playback unavailable: {reason}", 8000)

    def _follow(self, t: float) -> None:
        """The play head in every view; the time axis follows it page by page while playing."""
        for view in self.w.views.values():
            view.set_playhead(t)
        a = self.w.axis
        if self.w.transport.is_playing and not a.t0 <= t <= a.t1:
            span = a.t1 - a.t0
            a.set_range(t - 0.05 * span, t + 0.95 * span)

    def set_loop(self, on: bool) -> None:
        w = self.w
        region = w.lanes.loop_region
        if on and w.session.loaded:
            a = w.axis
            span = a.t1 - a.t0
            region.setRegion((a.t0 + 0.25 * span, a.t0 + 0.75 * span))
            region.show()
            self._loop_region_moved()
        else:
            region.hide()
            w.transport.set_loop(None)

    def _loop_region_moved(self, *_args) -> None:
        if self.w.act_loop.isChecked():
            t0, t1 = self.w.lanes.loop_region.getRegion()
            self.w.transport.set_loop(t0, t1)

    # --- selection preview and A/B/X -----------------------------------------------------------
    def play_selection(self, mask, stft):
        s = self.w.session
        if not s.loaded:
            return None
        self._selection_start = selection_start(mask, stft.hop, stft.win_length, stft.sample_rate)
        job = MaskedSignalJob(frozen_array(s.mixture), s.sample_rate, frozen_array(mask), stft)
        return self.selection_job.start(
            job, on_done=self._selection_ready, on_error=self.w.job_failed
        )

    def _selection_ready(self, samples) -> None:
        w = self.w
        tracks = self.tracks()
        tracks["selection"] = samples
        w.transport.set_tracks(tracks)
        w.transport.mixer.solo_only("selection")
        self._sync_lane_states()
        if self._selection_start is not None:
            w.transport.seek(self._selection_start)  # from where the selected bins begin
        w.notify("Playing the selected bins", 5000)
        if not w.transport.is_playing:
            w.transport.play()

    def show_abx(self) -> None:
        w = self.w
        if len(w.session.results) < 2:
            w.show_error("A blind A/B/X test compares two results: run two models first.")
            return
        if not w.transport.available:
            w.show_error(
                "A blind A/B/X test needs an audio output: playback is unavailable "
                f"({w.transport.player.unavailable_reason})."
            )
            return
        self.abx_dialog().exec()

    def abx_dialog(self):
        """The A/B/X dialog for the current session (not yet shown); it borrows the transport."""
        from app.abx_dialog import AbxDialog

        t = self.w.transport
        return AbxDialog(self.w.session, t, self.tracks, t.mixer.position_seconds, self.w)
