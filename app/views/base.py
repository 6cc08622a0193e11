"""The one interface every view of the window implements (the views listed in app.view_registry)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class View(Protocol):
    """A QWidget the window builds as ``cls(axis)`` (the shared ``app.views.timeplot.TimeAxis``),
    shows in a tab, refreshes and moves the play head of; it reads the session, never changes it."""

    def set_session(self, session) -> None:
        """Show ``session`` (an app.session.Session): called when the view is shown after a change."""

    def set_playhead(self, seconds: float) -> None:
        """Follow the play head (``seconds`` from the start of the mixture)."""
