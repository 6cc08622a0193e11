"""The main window's controllers, one concern each: loading (mixture, references, recent files,
drops), models (catalog, checkpoints), separation, metrics, playback (what is heard, the Listen
selection, loop, play head), export, status (progress, enabled actions).

A controller owns its jobs (an ``app.jobs.JobSlot`` per kind of work, started with its callbacks,
which run on the GUI thread) and talks to the window through ``Host``: the session, the runner,
the views it drives, a few window calls and signals. Controllers never touch each other's widgets.
"""

from __future__ import annotations

from typing import Any, Protocol


class Host(Protocol):
    """What a controller may use of the main window (app.main_window.MainWindow)."""

    session: Any  # app.session.Session: the document
    runner: Any  # app.jobs.JobRunner
    settings: Any  # app.settings.Settings
    quiet: bool  # scripted: errors go to the log, no dialogs
    panel: Any  # app.model_panel.ModelPanel
    transport: Any  # app.transport.Transport
    axis: Any  # app.views.timeplot.TimeAxis
    views: dict  # name -> view (app.view_registry)
    # Besides: the views a controller drives (lanes, embeddings, metrics, chunks), the chrome it
    # updates (result_combo, recent_menu, audio_label, progress / stage_label / eta_label, act_*),
    # the window's signals (mixture_loaded, references_loaded, models_loaded, run_finished,
    # metrics_finished) and the other controllers' commands (files, models, playback, separation,
    # scoring, exports, status).

    def notify(self, text: str, msecs: int = 0) -> None:
        """A message in the status bar."""

    def show_error(self, message: str, title: str = "Cocktail") -> None:
        """A dialog (quiet: the log) with a one-line message."""

    def job_failed(self, message: str, details: str) -> None:
        """A job's error: logged, the status bar cleared, then shown."""

    def results_changed(self) -> None:
        """The session's results changed: the combo, what is heard, the views, the actions."""

    def refresh_views(self, *views) -> None:
        """Show the session again in ``views`` (all by default): now if shown, else when shown."""
