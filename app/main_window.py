"""The main window: wires the session, the job runner, the transport and the views together.
Only this thread touches widgets; long work goes to ``self.runner`` as job values from app.tasks."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QTimer, Qt, Signal
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMessageBox, QTabWidget

from .estimate_view import RunEstimatesLabel
from .help import show_about_box, show_guide_dialog
from .jobs import JobRunner
from .mixer import TrackState
from .model_panel import ModelPanel, is_untrained_builtin
from .quality import QualityController
from .science import load_science
from .selection import selection_start
from .session import ResultRecord, Session
from .settings import Settings
from .tasks import (CatalogJob, LoadMixtureJob, LoadReferencesJob, MaskedSignalJob, MetricsJob,
                    ModelDone, ModelFailed, ResolveModelJob, SeparationJob, frozen_array)
from .transport import Transport
from .window_chrome import VIEWS, build_actions, build_menus, build_status, build_toolbar
from .views.chunks import ChunkOverlay
from .views.embeddings import EmbeddingsView
from .views.lanes import LanesView
from .views.masks import MasksView
from .views.metrics import MetricsView
from .views.timeline import QualityTimeline
from .views.timeplot import TimeAxis

log = logging.getLogger(__name__)

AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.mp3 *.aiff *.aif *.au *.caf *.w64 *.opus);;All files (*)"
# Cocktail .pt, Asteroid serialize() files (.pth, .ckpt, a hub's pytorch_model.bin), ONNX graphs.
MODEL_FILTER = "Models (*.pt *.pth *.ckpt *.bin *.onnx);;All files (*)"
ORACLE_PREFERENCE = ("oracle-irm", "oracle-wiener", "oracle-psm", "oracle-ibm")
SEPARATION_CHANNELS = ("separate", "oracle")
QUIET_CHANNELS = ("catalog", "checkpoint", "quality")  # no progress in the status bar (the timeline has its own)
DOCK_WIDTH, DOCK_MIN_WIDTH = 360, 240  # the model panel's width at first start, and its least


def recent_label(path: str) -> str:
    """``folder/name`` for the Open recent menu (``&`` kept literal)."""
    p = Path(path)
    label = f"{p.parent.name}/{p.name}" if p.parent.name else p.name
    return label.replace("&", "&&")


def eta_text(elapsed: float, fraction: float) -> str:
    """Remaining time from the elapsed time and the fraction done (empty until it means something)."""
    if fraction < 0.02 or elapsed < 0.5:
        return ""
    remaining = elapsed * (1.0 - fraction) / fraction
    m, s = divmod(int(round(remaining)), 60)
    return f"ETA {m}:{s:02d}"


class MainWindow(QMainWindow):
    mixture_loaded = Signal()
    references_loaded = Signal()
    models_loaded = Signal()
    run_finished = Signal(object)      # list of ModelDone / ModelFailed, or None when stopped / failed
    metrics_finished = Signal()
    error_shown = Signal(str)

    def __init__(self, settings: Optional[Settings] = None, *, quiet: bool = False,
                 player_factory=None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.quiet = quiet                     # errors go to the log and self.errors, not dialogs
        self.errors: list[str] = []
        self.session = Session()
        self.runner = JobRunner(self, prepare=load_science)
        self.axis = TimeAxis(self)
        self.transport = Transport(self, **({"player_factory": player_factory} if player_factory else {}))
        self.extra_checkpoints: list[str] = []
        self.failures: list[ModelFailed] = []
        self.models_ready = False
        self.default_model_id: Optional[str] = None    # the bundled default, once the models are listed
        self._user_chose_result = False                # the Listen view shows the user's pick
        self._selection_start: Optional[float] = None  # where "Play selection" starts (seconds)
        self._job_started: dict[int, float] = {}
        self._dirty_views: set[str] = set()
        self._pending_path: Optional[Path] = None      # the file being opened
        self._pending_refs: tuple = ()                 # the references being opened
        self._refs_after_load: tuple = ()              # references to open once the mixture is in
        self.setWindowTitle("Cocktail")
        self.setAcceptDrops(True)
        self._build_views()
        self._build_panel()
        build_actions(self)
        self.act_untrained.setChecked(self.panel.show_untrained.isChecked())
        build_menus(self)
        build_toolbar(self)
        build_status(self)
        self._connect()
        self._restore_layout()
        self._update_busy()

    # === construction ==========================================================================
    def _build_views(self) -> None:
        self.tabs = QTabWidget(self)
        self.chunks = ChunkOverlay(self.axis)  # first: every time plot made from now on gets it
        self.lanes = LanesView(self.axis)
        self.timeline = QualityTimeline(self.axis)
        self.lanes.layout().addWidget(self.timeline)  # under the lanes, on the same time axis
        self.quality = QualityController(self.runner, self.session, self.timeline)
        self.transport.position_changed.connect(self.timeline.set_playhead)
        self.masks = MasksView(self.axis)
        self.embeddings = EmbeddingsView(self.axis)
        self.metrics = MetricsView()
        self.tabs.addTab(self.lanes, "Listen")
        self.tabs.addTab(self.masks, "Masks")
        self.tabs.addTab(self.embeddings, "Embeddings")
        self.tabs.addTab(self.metrics, "Metrics")
        self.setCentralWidget(self.tabs)

    def _build_panel(self) -> None:
        self.panel = ModelPanel()
        self.panel.set_settings({"device": self.settings.device()} | self.settings.run_options())
        self.panel.set_show_untrained(self.settings.show_untrained())
        self.estimates = RunEstimatesLabel(self.panel, lambda: self.session.duration)
        self.mixture_loaded.connect(self.estimates.refresh)
        self.dock = QDockWidget("Models", self)
        self.dock.setObjectName("models-dock")
        self.dock.setWidget(self.panel)
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                              | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        # Narrow enough for a 1024-pixel window; it opens wider (see _restore_layout).
        self.dock.setMinimumWidth(DOCK_MIN_WIDTH)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)

    def _connect(self) -> None:
        r = self.runner
        r.started.connect(self._job_started_at)
        r.progress.connect(self._on_progress)
        r.published.connect(self._on_published)
        r.finished.connect(self._on_finished)
        r.failed.connect(self._on_failed)
        r.cancelled.connect(self._on_cancelled)
        r.idle.connect(lambda *_: self._update_busy())
        p = self.panel
        p.separate_requested.connect(self.separate)
        p.stop_requested.connect(self.stop)
        p.open_checkpoint_requested.connect(self.choose_checkpoint)
        p.selection_changed.connect(self._update_enabled)
        p.selection_changed.connect(self._remember_ticks)
        p.show_untrained_changed.connect(self.set_show_untrained)
        self.result_combo.currentTextChanged.connect(self.select_result)
        self.lanes.state_changed.connect(self._lane_state)
        self.lanes.loop_region.sigRegionChanged.connect(self._loop_region_moved)
        self.axis.seek_requested.connect(self.transport.seek)
        self.transport.position_changed.connect(self._playhead)
        self.transport.playing_changed.connect(self._playing_changed)
        self.transport.unavailable.connect(self._playback_unavailable)
        self.embeddings.play_requested.connect(self.play_selection)
        self.metrics.compute_requested.connect(self.compute_metrics)
        self.tabs.currentChanged.connect(self._tab_changed)

    # === background start ======================================================================
    def start_background(self) -> None:
        """After the window is shown: list the models (imports torch) and probe the audio output."""
        self.refresh_models()
        QTimer.singleShot(0, self._probe_audio)

    def _probe_audio(self) -> None:
        if not self.transport.available:
            reason = self.transport.player.unavailable_reason
            self.audio_label.setText("Playback unavailable")
            self.audio_label.setToolTip(reason)
            log.warning("playback unavailable: %s", reason)

    def refresh_models(self) -> None:
        self.panel.status.setText("Loading models…")
        self.runner.start("catalog", CatalogJob(tuple(self.extra_checkpoints)).run)

    # === files =================================================================================
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a mixture", self.settings.last_folder("open"),
                                              AUDIO_FILTER)
        if path:
            self.ask_open(path)

    def ask_open(self, path, refs=()) -> Optional[int]:
        """Open ``path`` (then ``refs``) as the user asked: first ask before results are lost."""
        if not self.confirm_discard():
            return None
        self._refs_after_load = tuple(refs)
        return self.open_file(path)

    def confirm_discard(self) -> bool:
        """True when no model result would be lost unexported, or the user chose Discard."""
        keys = self.session.unexported()
        if not keys:
            return True
        answer = QMessageBox.question(
            self, "Discard the results?",
            f"The results of {', '.join(keys)} have not been exported and will be lost.",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Discard

    def open_file(self, path) -> int:
        path = Path(path).expanduser()
        self.settings.set_last_folder("open", path.parent)
        self.statusBar().showMessage(f"Opening {path.name}…")
        self._pending_path = path
        return self.runner.start("load", LoadMixtureJob(path).run)

    def choose_references(self) -> None:
        if not self.session.loaded:
            self.show_error("Open a mixture first, then its reference sources.")
            return
        paths, _ = QFileDialog.getOpenFileNames(self, "Open reference sources (one per speaker)",
                                                self.settings.last_folder("refs")
                                                or self.settings.last_folder("open"), AUDIO_FILTER)
        if paths:
            self.open_references(paths)

    def open_references(self, paths) -> Optional[int]:
        if not self.session.loaded:
            self.show_error("Open a mixture first, then its reference sources.")
            return None
        paths = tuple(str(Path(p).expanduser()) for p in paths)
        self.settings.set_last_folder("refs", Path(paths[0]).parent)
        self._pending_refs = paths
        job = LoadReferencesJob(paths, self.session.sample_rate, len(self.session.mixture))
        return self.runner.start("references", job.run)

    def choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model checkpoint",
                                              self.settings.last_folder("checkpoint"),
                                              MODEL_FILTER)
        if path:
            self.open_checkpoint(path)

    def open_checkpoint(self, path) -> int:
        self.settings.set_last_folder("checkpoint", Path(path).parent)
        return self.runner.start("checkpoint", ResolveModelJob(str(path)).run)

    def _fill_recent(self) -> None:
        """The File > Open recent menu from the settings."""
        self.recent_menu.clear()
        files = self.settings.recent_files()
        for f in files:
            a = self.recent_menu.addAction(recent_label(f))
            a.setToolTip(f)
            a.setStatusTip(f)
            a.triggered.connect(lambda _=False, f=f: self.ask_open(f))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear", self._clear_recent)
        self.recent_menu.setEnabled(bool(files))

    def _clear_recent(self) -> None:
        for f in self.settings.recent_files():
            self.settings.remove_recent_file(f)
        self._fill_recent()

    def dragEnterEvent(self, event) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            kind, paths = self.drop_plan(files)
            self.statusBar().showMessage(
                f"Drop to add {len(paths)} reference sources" if kind == "references"
                else f"Drop to open {Path(paths[0]).name}"
                + (f" with {len(paths) - 1} reference sources" if len(paths) > 1 else ""), 3000)

    def drop_plan(self, files: list) -> tuple[str, list]:
        """What a drop does (the rule the Listen view's hint states): with a mixture open, several
        files are its references (the open mixture itself among them is skipped); otherwise the first
        file is opened as the mixture and the others become its references."""
        if self.session.loaded and len(files) > 1:
            here = self.session.path.resolve() if self.session.path else None
            return "references", [f for f in files if Path(f).resolve() != here]
        return "open", list(files)

    def dropEvent(self, event) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not files:
            return
        event.acceptProposedAction()
        kind, paths = self.drop_plan(files)
        if kind == "references":
            self.open_references(paths)
        else:
            self.ask_open(paths[0], paths[1:])

    # === job results ===========================================================================
    def _job_started_at(self, channel: str, job_id: int) -> None:
        self._job_started[job_id] = time.monotonic()
        if channel not in QUIET_CHANNELS:
            self.progress.setValue(0)
            self.eta_label.setText("")
        self._update_busy()

    def _on_progress(self, channel: str, job_id: int, fraction: float, stage: str) -> None:
        if channel in QUIET_CHANNELS:
            return
        self.progress.show()
        self.progress.setValue(int(fraction * 1000))
        self.stage_label.setText(stage)
        started = self._job_started.get(job_id, time.monotonic())
        self.eta_label.setText(eta_text(time.monotonic() - started, fraction))

    def _on_published(self, channel: str, job_id: int, payload) -> None:
        if channel in SEPARATION_CHANNELS:
            if isinstance(payload, ModelDone):
                self._add_result(payload)
            elif isinstance(payload, ModelFailed):
                self.failures.append(payload)
                log.warning("model %s failed: %s\n%s", payload.spec, payload.message, payload.details)
                self.statusBar().showMessage(f"{payload.spec} failed: {payload.message}", 10000)
        elif channel == "export":
            self.session.mark_exported([payload])
        elif channel == "metrics":
            key, evaluation = payload
            if key in self.session.results:
                self.session.results[key].evaluation = evaluation
                self.metrics.set_session(self.session)
                self._auto_select()

    def _on_finished(self, channel: str, job_id: int, value) -> None:
        handler = getattr(self, f"_finished_{channel}", None)
        if handler is not None:
            handler(value)

    def _on_failed(self, channel: str, job_id: int, message: str, details: str) -> None:
        log.warning("%s job failed: %s\n%s", channel, message, details)
        self._update_busy()  # its stage ("reading x.wav") and progress go before the message shows
        if channel in SEPARATION_CHANNELS:
            self.run_finished.emit(None)
        if channel == "export":
            return  # the export dialog shows it
        if channel == "catalog":
            self.panel.status.setText(f"Cannot list models: {message}")
        self.show_error(message)

    def _on_cancelled(self, channel: str, job_id: int) -> None:
        if channel in SEPARATION_CHANNELS and not self.runner.is_busy(channel):
            self.statusBar().showMessage("Stopped", 5000)
            self.run_finished.emit(None)

    def _finished_catalog(self, value) -> None:
        entries, problems = value
        first = not self.models_ready
        self.panel.set_entries(entries)
        self.default_model_id = self._default_id()
        remembered = [i for i in (self.settings.checked_models() or []) if i in self.panel.entries]
        if first and remembered:
            self.panel.set_checked(remembered)
        if not self.panel.checked_ids() and self.default_model_id in self.panel.entries:
            self.panel.set_checked([self.default_model_id])
        if problems:
            self.panel.status.setText(f"{len(entries)} models; skipped: " + "; ".join(problems))
        self.models_ready = True
        self._update_enabled()
        self.models_loaded.emit()

    def _default_id(self) -> Optional[str]:
        """The bundled default model, else the first listed model that needs no references."""
        try:
            from separation_core.catalog import default_model_id

            default = default_model_id()
        except Exception:  # no bundled default
            default = None
        if default in self.panel.entries:
            return default
        usable = [i for i, e in self.panel.entries.items() if not e.needs_references]
        return next((i for i in usable if not is_untrained_builtin(self.panel.entries[i])),
                    usable[0] if usable else None)

    def _remember_ticks(self) -> None:
        if self.models_ready:
            self.settings.set_checked_models(self.panel.ticked_ids())

    def _finished_checkpoint(self, entry) -> None:
        if entry.checkpoint and str(entry.checkpoint) not in self.extra_checkpoints:
            self.extra_checkpoints.append(str(entry.checkpoint))
        self.panel.add_entry(entry, checked=True)
        self.statusBar().showMessage(f"Added model {entry.id}", 5000)

    def _finished_load(self, audio) -> None:
        path = self._pending_path or audio.path
        for channel in SEPARATION_CHANNELS + ("metrics", "references", "selection", "export"):
            self.runner.cancel(channel)  # their results belong to the previous mixture
        self.transport.pause()
        self.session.set_mixture(audio, path)
        self._user_chose_result = False
        self.failures.clear()
        self.axis.set_duration(self.session.duration)
        self.lanes.set_mixture(audio.samples, audio.sample_rate)
        self.transport.load(audio.sample_rate, {"mixture": audio.samples})
        self.lanes.set_mixture_state(TrackState())
        if self.act_loop.isChecked():
            self.act_loop.setChecked(False)
            self.set_loop(False)
        self.panel.set_has_references(False)
        if path:
            self.settings.add_recent_file(path)
            self._fill_recent()
        self.setWindowTitle(f"{Path(path).name if path else 'mixture'} — Cocktail")
        self._results_changed()
        info = f"{Path(path).name if path else ''}: {self.session.duration:.2f} s at {audio.sample_rate} Hz"
        if getattr(audio, "channels", 1) > 1:
            info += f", {audio.channels} channels downmixed"
        warnings = list(getattr(audio, "warnings", ()) or ())
        self.statusBar().showMessage(info + ("; " + "; ".join(warnings) if warnings else ""), 10000)
        self.mixture_loaded.emit()
        QTimer.singleShot(0, self._prepare_lanes)
        refs, self._refs_after_load = self._refs_after_load, ()
        if refs:
            self.open_references(refs)

    def _prepare_lanes(self, n: int = 2) -> None:
        """Build the lanes of a two-source result ahead, one per event-loop turn."""
        if len(self.lanes.lanes) < n:
            self.lanes.prepare(len(self.lanes.lanes) + 1)
            QTimer.singleShot(0, lambda: self._prepare_lanes(n))

    def _finished_references(self, refs) -> None:
        self.session.set_references(refs, self._pending_refs)
        self.panel.set_has_references(True)
        self.statusBar().showMessage(f"{refs.shape[0]} reference sources loaded", 5000)
        self._results_changed()
        self.references_loaded.emit()
        self.run_oracle()
        self.compute_metrics()

    def _finished_separate(self, outcomes) -> None:
        self._separation_done(outcomes)

    def _finished_oracle(self, outcomes) -> None:
        self._separation_done(outcomes)

    def _separation_done(self, outcomes) -> None:
        done = [o for o in outcomes if isinstance(o, ModelDone)]
        failed = [o for o in outcomes if isinstance(o, ModelFailed)]
        msg = f"Separated with {len(done)} model(s)"
        if failed:
            msg += f"; {len(failed)} failed"
            self.show_error("\n".join(f"{f.spec}: {f.message}" for f in failed), title="Some models failed")
        self.statusBar().showMessage(msg, 8000)
        self.compute_metrics()
        self.run_finished.emit(outcomes)

    def _finished_metrics(self, value) -> None:
        self.metrics.set_session(self.session)
        self.metrics_finished.emit()

    def _finished_selection(self, samples) -> None:
        tracks = self._tracks()
        tracks["selection"] = samples
        self.transport.set_tracks(tracks)
        self.transport.mixer.solo_only("selection")
        self._sync_lane_states()
        if self._selection_start is not None:
            self.transport.seek(self._selection_start)  # from where the selected bins begin
        self.statusBar().showMessage("Playing the selected bins", 5000)
        if not self.transport.is_playing:
            self.transport.play()

    # === separation ============================================================================
    def separate(self, models=None) -> Optional[int]:
        """Run ``models`` (ids, entries or specs; default: the ticked ones, asking first when some
        are untrained) on the background worker."""
        if not self.session.loaded:
            self.show_error("Open a mixture first.")
            return None
        if models is None or isinstance(models, bool):  # a QAction's ``checked`` is no model list
            models = [self.panel.entries[i] for i in self.panel.checked_ids()]
            if not self.confirm_untrained(models):
                return None
        models = [self.panel.entries.get(m, m) if isinstance(m, str) else m for m in models]
        if not models:
            self.show_error("Tick at least one model to run.")
            return None
        self._user_chose_result = False
        settings = self.panel.settings()
        self.settings.set_run_options(settings.to_dict())
        self.settings.set_device(settings.device)
        self.failures.clear()
        s = self.session
        job = SeparationJob(frozen_array(s.mixture), s.sample_rate, tuple(models), settings,
                            frozen_array(s.references))
        return self.runner.start("separate", job.run)

    def confirm_untrained(self, entries) -> bool:
        """Ask before running built-in models that have no trained weights."""
        names = [e.id for e in entries if is_untrained_builtin(e)]
        if not names:
            return True
        answer = QMessageBox.question(
            self, "Run untrained models?",
            f"{', '.join(names)} {'has' if len(names) == 1 else 'have'} no trained weights: the "
            "output is close to noise, and a run can take long (tens of seconds). Run anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def run_oracle(self) -> Optional[int]:
        """With references loaded, add the oracle masks (the ceiling) unless an oracle already ran."""
        s = self.session
        if s.references is None or any(r.entry.needs_references for r in s.results.values()):
            return None
        names = [n for n in ORACLE_PREFERENCE if not self.panel.entries or n in self.panel.entries]
        if not names:
            return None
        job = SeparationJob(frozen_array(s.mixture), s.sample_rate, (names[0],), self.panel.settings(),
                            frozen_array(s.references))
        return self.runner.start("oracle", job.run)

    def stop(self) -> None:
        for channel in SEPARATION_CHANNELS + ("metrics",):
            if self.runner.is_busy(channel):
                self.runner.cancel(channel)
                self.statusBar().showMessage("Stopping…", 5000)
        self._update_busy()

    def _add_result(self, done: ModelDone) -> None:
        record = ResultRecord(done.entry.id, done.entry, done.result, done.settings.to_dict(), done.seconds)
        s = self.session
        s.add_result(record)
        if not self._user_chose_result:
            s.selected = s.preferred(self.default_model_id, self.panel.checked_ids()) or s.selected
        for note in done.result.notes:
            self.statusBar().showMessage(f"{record.key}: {note}", 8000)
        self._results_changed()

    def compute_metrics(self) -> Optional[int]:
        s = self.session
        todo = tuple((k, frozen_array(r.result.waveforms)) for k, r in s.results.items()
                     if r.evaluation is None)
        if s.references is None or not todo:
            return None
        job = MetricsJob(todo, frozen_array(s.references), frozen_array(s.mixture), s.sample_rate)
        self.metrics.set_status("Computing metrics…")
        return self.runner.start("metrics", job.run)

    # === views =================================================================================
    def _results_changed(self) -> None:
        keys = list(self.session.results)
        self.result_combo.blockSignals(True)
        self.result_combo.clear()
        self.result_combo.addItems(keys)
        if self.session.selected:
            self.result_combo.setCurrentText(self.session.selected)
        self.result_combo.blockSignals(False)
        self._show_selected()
        self._dirty_views = {"masks", "embeddings", "metrics"}
        self._refresh_current_view()
        self._update_enabled()
        self.quality.refresh()

    def _refresh_current_view(self) -> None:
        name = VIEWS[self.tabs.currentIndex()]
        if name in self._dirty_views:
            self._dirty_views.discard(name)
            getattr(self, name).set_session(self.session)

    def _tab_changed(self, _index: int) -> None:
        self._refresh_current_view()

    def set_view(self, name: str) -> None:
        self.tabs.setCurrentIndex(VIEWS.index(name))
        self._refresh_current_view()

    def select_result(self, key: str) -> None:
        """The user's pick in the "Listen to" box; kept until the next run or file."""
        if key and key in self.session.results and key != self.session.selected:
            self._user_chose_result = True
            self.session.selected = key
            self._show_selected()

    def _auto_select(self) -> None:
        """Unless the user picked one, show the preferred result (see ``Session.preferred``)."""
        s = self.session
        key = s.preferred(self.default_model_id, self.panel.checked_ids())
        if self._user_chose_result or key is None or key == s.selected:
            return
        s.selected = key
        self.result_combo.blockSignals(True)
        self.result_combo.setCurrentText(key)
        self.result_combo.blockSignals(False)
        self._show_selected()

    def _tracks(self) -> dict:
        """What the mixer plays: the mixture and the selected result's sources in column order."""
        s = self.session
        tracks = {"mixture": s.mixture}
        record = s.selected_record()
        if record is not None:
            for c, src in enumerate(s.order(record.key)):
                if src >= 0:
                    tracks[f"s{c + 1}"] = record.result.waveforms[src]
        return tracks

    def _show_selected(self) -> None:
        """Lanes and mixer for the selected result; what is heard changes without stopping."""
        s = self.session
        if not s.loaded:
            return
        record = s.selected_record()
        had_sources = any(n.startswith("s") for n in self.transport.mixer.track_names())
        tracks = self._tracks()
        states = {}
        if record is not None and not had_sources:
            states["mixture"] = TrackState(mute=True)  # sources add up to the mixture: hear them
        self.transport.set_tracks(tracks, states)
        if record is None:
            self.lanes.set_sources([], [], s.sample_rate, "")
        else:
            order = s.order(record.key)
            sources = [record.result.waveforms[i] if i >= 0 else None for i in order]
            anchor = "the references" if s.references is not None else next(iter(s.results))
            aligned = ("in the model's order" if anchor == record.key
                       else f"aligned to {anchor} by PIT")
            caption = (f"{record.key}: {record.result.n_src} sources in {record.seconds:.1f} s, "
                       f"{aligned}")
            titles = [f"Source {c + 1}" for c in range(len(order))]
            self.lanes.set_sources(sources, titles, s.sample_rate, caption)
        self.chunks.set_result(record.key if record else "", record.result if record else None)
        self._sync_lane_states()

    def _sync_lane_states(self) -> None:
        m = self.transport.mixer
        names = m.track_names()
        if "mixture" in names:
            self.lanes.set_mixture_state(m.state("mixture"))
        for lane in self.lanes.lanes:
            if lane.name in names:
                lane.set_state(m.state(lane.name))

    def _lane_state(self, name: str, state: TrackState) -> None:
        if "selection" in self.transport.mixer.track_names():
            self.transport.set_tracks(self._tracks())  # leave the selection preview
        self.transport.set_state(name, state)

    # === playback ==============================================================================
    def transport_toggle(self) -> None:
        if self.session.loaded:
            self.transport.toggle()

    def _playing_changed(self, playing: bool) -> None:
        self.act_play.setText("Pause" if playing else "Play")

    def _playback_unavailable(self, reason: str) -> None:
        self.audio_label.setText("Playback unavailable")
        self.audio_label.setToolTip(reason)
        self.statusBar().showMessage(f"Playback unavailable: {reason}", 8000)

    def _playhead(self, t: float) -> None:
        self.lanes.set_playhead(t)
        self.masks.set_playhead(t)
        self.embeddings.set_playhead(t)
        a = self.axis
        if self.transport.is_playing and not a.t0 <= t <= a.t1:
            span = a.t1 - a.t0
            a.set_range(t - 0.05 * span, t + 0.95 * span)  # follow the playhead page by page

    def set_loop(self, on: bool) -> None:
        region = self.lanes.loop_region
        if on and self.session.loaded:
            a = self.axis
            span = a.t1 - a.t0
            region.setRegion((a.t0 + 0.25 * span, a.t0 + 0.75 * span))
            region.show()
            self._loop_region_moved()
        else:
            region.hide()
            self.transport.set_loop(None)

    def _loop_region_moved(self, *_args) -> None:
        if self.act_loop.isChecked():
            t0, t1 = self.lanes.loop_region.getRegion()
            self.transport.set_loop(t0, t1)

    def play_selection(self, mask, stft) -> Optional[int]:
        s = self.session
        if not s.loaded:
            return None
        self._selection_start = selection_start(mask, stft.hop, stft.win_length, stft.sample_rate)
        job = MaskedSignalJob(frozen_array(s.mixture), s.sample_rate, frozen_array(mask), stft)
        return self.runner.start("selection", job.run)

    # === help and options ======================================================================
    def show_guide(self) -> None:
        show_guide_dialog(self)

    def show_about(self) -> None:
        show_about_box(self)

    def set_show_untrained(self, show: bool) -> None:
        """The panel's toggle and Run ▸ Show untrained architectures, kept in step and remembered."""
        self.panel.set_show_untrained(show)
        self.act_untrained.setChecked(show)
        self.settings.set_show_untrained(show)

    def show_chunks(self, on: bool) -> None:
        self.chunks.set_visible(on)
        self.statusBar().showMessage(self.chunks.summary() if on else "Chunks hidden", 8000)

    def show_abx(self) -> None:
        if len(self.session.results) < 2:
            self.show_error("A blind A/B/X test compares two results: run two models first.")
            return
        self.abx_dialog().exec()

    def abx_dialog(self):
        """The A/B/X dialog for the current session (not yet shown); it borrows the transport."""
        from .abx_dialog import AbxDialog

        return AbxDialog(self.session, self.transport, self._tracks, self.transport.mixer.position_seconds,
                         self)

    # === export ================================================================================
    def show_export(self) -> None:
        if not self.session.results:
            self.show_error("Nothing to export yet: run a model first.")
            return
        self.export_dialog().exec()

    def export_dialog(self):
        """The export dialog for the current session (not yet shown)."""
        from .export_dialog import ExportDialog

        return ExportDialog(self)

    # === state =================================================================================
    def _update_busy(self) -> None:
        running = any(self.runner.is_busy(c) for c in SEPARATION_CHANNELS)
        self.panel.set_running(running)
        self.act_stop.setEnabled(running or self.runner.is_busy("metrics"))
        busy = any(self.runner.is_busy(c) for c in
                   SEPARATION_CHANNELS + ("load", "references", "metrics", "export", "selection"))
        if not busy:
            self.progress.hide()
            self.stage_label.setText("")
            self.eta_label.setText("")
        self._update_enabled()

    def _update_enabled(self) -> None:
        loaded = self.session.loaded
        can_run = loaded and self.models_ready and bool(self.panel.checked_ids())
        self.panel.set_can_run(can_run and not self.runner.is_busy("separate"))
        self.act_separate.setEnabled(can_run)
        self.act_refs.setEnabled(loaded)
        self.act_export.setEnabled(bool(self.session.results))
        self.act_abx.setEnabled(len(self.session.results) >= 2)
        self.act_play.setEnabled(loaded)
        self.act_loop.setEnabled(loaded)
        self.result_combo.setEnabled(bool(self.session.results))

    def show_error(self, message: str, title: str = "Cocktail") -> None:
        """A dialog (or, when quiet, the log) with a one-line message; never raises."""
        self.errors.append(message)
        self.error_shown.emit(message)
        self.statusBar().showMessage(message.splitlines()[0], 10000)
        if self.quiet:
            log.warning("%s", message)
        else:
            QMessageBox.warning(self, title, message)

    def _restore_layout(self) -> None:
        geometry, state = self.settings.window()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        if state is not None:
            self.restoreState(state)
        else:
            self.resizeDocks([self.dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)

    def closeEvent(self, event) -> None:
        if not self.quiet and not self.confirm_discard():  # quiet (scripted) windows never ask
            event.ignore()
            return
        self.settings.save_window(self.saveGeometry(), self.saveState())
        run = self.panel.settings()
        self.settings.set_run_options(run.to_dict())
        self.settings.set_device(run.device)
        self.settings.sync()
        self.transport.close()
        # Jobs check their token within a chunk (every model layer), so they end well within this;
        # whatever they still send is dropped, and nothing is emitted into deleted objects.
        self.runner.shutdown(2000)
        super().closeEvent(event)
