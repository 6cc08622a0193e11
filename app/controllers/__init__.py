"""The main window's controllers, one concern each: loading (mixture, references, recent files,
drops), models (catalog, checkpoints), separation, metrics, playback (what is heard, the Listen
selection, loop, play head), export, status (progress, Stop, enabled actions), quality (the quality
timeline).

A controller owns its jobs (an ``app.runner.JobSlot`` per kind of work, started with its callbacks,
which run on the GUI thread) and talks to the window through ``Host``. Controllers never reach each
other: a controller announces what it did with its own Qt signals (or changes the session), and the
main window wires who listens (``MainWindow._wire``), also forwarding the window's own signals.
"""

from __future__ import annotations

from typing import Any, Protocol


class Host(Protocol):
    """What a controller may use of the main window (app.main_window.MainWindow): the document, the
    runner, the settings, the widgets it drives and a few window calls. Not the other controllers
    (``files``, ``models``, ``playback``, ``separation``, ``scoring``, ``exports``, ``status``,
    ``quality``) nor the window's signals: those are the window's wiring."""

    session: Any  # app.session.Session: the document
    runner: Any  # app.runner.JobRunner
    settings: Any  # app.settings.Settings
    quiet: bool  # scripted: errors go to the log, no dialogs
    panel: Any  # app.model_panel.ModelPanel
    transport: Any  # app.transport.Transport
    axis: Any  # app.views.timeplot.TimeAxis
    views: dict  # name -> view (app.view_registry)
    # Besides: the views a controller drives (lanes, embeddings, metrics, chunks), the chrome it
    # updates (result_combo, recent_menu, audio_label, progress / stage_label / eta_label, act_*),
    # and the window itself as the parent of its dialogs and the holder of its title.

    def notify(self, text: str, msecs: int = 0) -> None:
        """A message in the status bar."""

    def show_error(self, message: str, title: str = "Cocktail", details: str = "") -> None:
        """A dialog (quiet: the log) with a one-line message, ``details`` under Show Details."""

    def job_failed(self, message: str, details: str) -> None:
        """A job's error: logged, the status bar cleared, then shown in the user's words."""

    def results_changed(self) -> None:
        """The session's results changed: the combo, what is heard, the views, the actions."""

    def refresh_views(self, *views) -> None:
        """Show the session again in ``views`` (all by default): now if shown, else when shown."""
