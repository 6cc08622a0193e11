"""The main window: layout and wiring. The views come from app.view_registry (a tab, a View menu entry,
a refresh and the play head each); the work and its results belong to the controllers in
app.controllers (loading, models, separation, metrics, playback, export, status, quality), which run
their jobs (app.jobs) on ``self.runner`` with their own callbacks. A controller announces what it did
with its own signals; ``_wire`` connects who listens (controllers never call each other). Only the
GUI thread touches widgets."""

from __future__ import annotations

import logging
from typing import Optional

from PySide6.QtCore import QTimer, Qt, Signal
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QTabWidget

from app import view_registry
from app.controllers.export import ExportController
from app.controllers.loading import LoadingController
from app.controllers.meeting import MeetingController
from app.controllers.metrics import MetricsController
from app.controllers.models import ModelsController
from app.controllers.playback import PlaybackController
from app.controllers.quality import QualityController
from app.controllers.separation import SeparationController
from app.controllers.status import StatusController
from app.estimate_view import RunEstimatesLabel
from app.help import show_about_box, show_guide_dialog
from app.messages import plain_message
from app.model_panel import ModelPanel
from app.runner import JobRunner
from app.science import load_science
from app.session import Session
from app.settings import Settings
from app.transport import Transport
from app.views.base import View
from app.views.chunks import ChunkOverlay
from app.views.timeline import QualityTimeline
from app.views.timeplot import TimeAxis
from app.window_chrome import build_actions, build_menus, build_status, build_toolbar

log = logging.getLogger(__name__)

DOCK_WIDTH, DOCK_MIN_WIDTH = 360, 240  # the model panel's width at first start, and its least


class MainWindow(QMainWindow):
    mixture_loaded = Signal()
    references_loaded = Signal()
    models_loaded = Signal()
    run_finished = Signal(object)  # list of ModelDone / ModelFailed, or None when stopped / failed
    metrics_finished = Signal()
    error_shown = Signal(str)

    def __init__(
        self, settings: Optional[Settings] = None, *, quiet: bool = False, player_factory=None
    ) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.quiet = quiet  # errors go to the log and self.errors, not dialogs
        self.errors: list[str] = []
        self.session = Session()
        self.runner = JobRunner(self, prepare=load_science)
        self.axis = TimeAxis(self)
        self.transport = Transport(
            self, **({"player_factory": player_factory} if player_factory else {})
        )
        self.setWindowTitle("Cocktail")
        self.setAcceptDrops(True)
        self._build_views()
        self._build_panel()
        self.files = LoadingController(self)
        self.models = ModelsController(self)
        self.playback = PlaybackController(self)
        self.scoring = MetricsController(self)
        self.separation = SeparationController(self)
        self.exports = ExportController(self)
        self.meeting = MeetingController(self)
        self.status = StatusController(
            self,
            run=self.separation.run_job,
            oracle=self.separation.oracle_job,
            scoring=self.scoring.job,
        )
        self._wire()
        # the commands a script (app.main) or a test drives
        self.open_file, self.open_references, self.ask_open = (
            self.files.open_file,
            self.files.open_references,
            self.files.ask_open,
        )
        self.separate, self.stop = self.separation.separate, self.status.stop
        self.export_dialog, self.abx_dialog = self.exports.dialog, self.playback.abx_dialog
        build_actions(self)
        self.act_untrained.setChecked(self.panel.show_untrained.isChecked())
        build_menus(self)
        self.meeting.install()
        build_toolbar(self)
        build_status(self)
        self.result_combo.currentTextChanged.connect(self.playback.select)
        self.axis.seek_requested.connect(self.transport.seek)
        self.tabs.currentChanged.connect(lambda _index: self._refresh_current())
        self._restore_layout()
        self.status.update_busy()

    # === construction ==========================================================================
    def _build_views(self) -> None:
        """A tab per registered view; the chunks overlay first (every time plot made from now on gets
        it), the quality timeline under the Listen lanes."""
        self.tabs = QTabWidget(self)
        self.chunks = ChunkOverlay(self.axis)
        self.view_specs = list(view_registry.VIEWS)
        self.views: dict[str, View] = {}
        for spec in self.view_specs:
            view = spec.load()(self.axis)
            if not isinstance(view, View):
                raise TypeError(
                    f"view {spec.name!r}: {type(view).__name__} lacks set_session / set_playhead"
                )
            self.views[spec.name] = view
            self.tabs.addTab(view, spec.title)
        self._dirty: set = set()
        self.lanes, self.masks = self.views["listen"], self.views["masks"]
        self.embeddings, self.metrics = self.views["embeddings"], self.views["metrics"]
        self.timeline = QualityTimeline(self.axis)
        self.lanes.layout().addWidget(self.timeline)  # under the lanes, on the same time axis
        self.quality = QualityController(
            self.runner, self.session, self.timeline, on_error=lambda m, d: self.job_failed(m, d)
        )
        self.transport.position_changed.connect(self.timeline.set_playhead)
        self.setCentralWidget(self.tabs)

    def _build_panel(self) -> None:
        self.panel = ModelPanel()
        self.panel.set_settings({"device": self.settings.device()} | self.settings.run_options())
        self.panel.set_show_untrained(self.settings.show_untrained())
        self.estimates = RunEstimatesLabel(self.panel, lambda: self.session.duration)
        self.mixture_loaded.connect(self.estimates.refresh)
        self.panel.selection_changed.connect(lambda: self.status.update_enabled())
        self.dock = QDockWidget("Models", self)
        self.dock.setObjectName("models-dock")
        self.dock.setWidget(self.panel)
        self.dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        # Narrow enough for a 1024-pixel window; it opens wider (see _restore_layout).
        self.dock.setMinimumWidth(DOCK_MIN_WIDTH)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)

    def _wire(self) -> None:
        """Who hears what a controller announces. A window signal (for scripts and tests) is heard
        before the controllers that follow it."""
        files, models, playback = self.files, self.models, self.playback
        separation, scoring, status = self.separation, self.scoring, self.status
        for drop in (playback.drop, scoring.drop, separation.drop, self.exports.drop):
            files.replacing.connect(drop)
        files.mixture_opened.connect(playback.set_mixture)
        files.mixture_loaded.connect(self.mixture_loaded)
        files.mixture_loaded.connect(playback.prepare_lanes)
        files.references_loaded.connect(self.references_loaded)
        files.references_loaded.connect(separation.run_oracle)
        files.references_loaded.connect(scoring.compute)
        models.listed.connect(playback.set_default_model)
        models.listed.connect(status.models_listed)
        models.listed.connect(self.models_loaded)
        separation.run_started.connect(playback.forget_choice)
        separation.result_added.connect(playback.pick)
        separation.separated.connect(scoring.compute)
        separation.finished.connect(status.update_busy)
        separation.finished.connect(self.run_finished)
        scoring.scored.connect(playback.auto_select)
        self.meeting.corrected.connect(scoring.compute)
        scoring.finished.connect(self.metrics_finished)
        self.transport.unavailable.connect(status.playback_unavailable)
        self.panel.stop_requested.connect(status.stop)

    def start_background(self) -> None:
        """After the window is shown: list the models (imports torch) and probe the audio output."""
        self.models.refresh()
        QTimer.singleShot(0, self._probe_audio)

    def _probe_audio(self) -> None:
        if not self.transport.available:
            reason = self.transport.player.unavailable_reason
            log.warning("playback unavailable: %s", reason)
            self.transport.unavailable.emit(reason)

    # === views =================================================================================
    def results_changed(self) -> None:
        """The session's results changed: the "Listen to" box and what is heard, every view (now if
        shown, else when shown), the actions, the quality timeline."""
        self.playback.results_changed()
        self.refresh_views()
        self.status.update_enabled()
        self.quality.refresh()

    def refresh_views(self, *views) -> None:
        self._dirty.update(views or self.views.values())
        self._refresh_current()

    def _refresh_current(self) -> None:
        view = self.tabs.currentWidget()
        if view in self._dirty:
            self._dirty.discard(view)
            view.set_session(self.session)

    def set_view(self, name: str) -> None:
        self.tabs.setCurrentWidget(self.views[view_registry.get(name).name])
        self._refresh_current()

    def show_chunks(self, on: bool) -> None:
        self.chunks.set_visible(on)
        self.notify(self.chunks.summary() if on else "Chunks hidden", 8000)

    def show_guide(self) -> None:
        show_guide_dialog(self)

    def show_about(self) -> None:
        show_about_box(self)

    # === drops =================================================================================
    def _dropped_files(self, event) -> list:
        return [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]

    def dragEnterEvent(self, event) -> None:
        files = self._dropped_files(event)
        if files:
            event.acceptProposedAction()
            self.notify(self.files.drag_hint(files), 3000)

    def dropEvent(self, event) -> None:
        files = self._dropped_files(event)
        if files:
            event.acceptProposedAction()
            self.files.drop(files)

    # === messages ==============================================================================
    def notify(self, text: str, msecs: int = 0) -> None:
        self.statusBar().showMessage(text, msecs)

    def job_failed(self, message: str, details: str) -> None:
        """A job's error in the user's words; a library's own text goes to the details."""
        log.warning("job failed: %s\n%s", message, details)
        self.status.update_busy()  # its stage ("reading x.wav") and progress go before the message shows
        head, library_text = plain_message(message)
        self.show_error(head, details=library_text)

    def show_error(self, message: str, title: str = "Cocktail", details: str = "") -> None:
        """A dialog (or, when quiet, the log) with a one-line message, ``details`` under Show
        Details; never raises."""
        self.errors.append(message)
        self.error_shown.emit(message)
        self.statusBar().showMessage(message.splitlines()[0], 10000)
        if self.quiet:
            log.warning("%s%s", message, f"\n{details}" if details else "")
        elif details:
            box = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=self)
            box.setDetailedText(details)
            box.exec()
        else:
            QMessageBox.warning(self, title, message)

    # === layout and closing ====================================================================
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
        if (
            not self.quiet and not self.files.confirm_discard()
        ):  # quiet (scripted) windows never ask
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
