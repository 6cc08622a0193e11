"""Issue 16: the window's views come from app.view_registry. A view registered there (its module and
one registry line) gets a tab, a View menu entry with its shortcut, ``--view``, the session when it is
shown after a change, and the play head."""

import pytest
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget

from app import view_registry
from app.view_registry import ViewSpec
from conftest import SR, open_mixture, synthetic_sources
from fakes import add_records, record


class DummyView(QWidget):
    def __init__(self, axis, parent=None) -> None:
        super().__init__(parent)
        self.axis = axis
        self.sessions: list = []
        self.playheads: list = []

    def set_session(self, session) -> None:
        self.sessions.append(session)

    def set_playhead(self, seconds: float) -> None:
        self.playheads.append(seconds)


@pytest.fixture
def dummy():
    """Registered before the window is built (the ``window`` fixture comes after it), then removed."""
    spec = view_registry.register(ViewSpec("dummy", DummyView, "Ctrl+9", "Dummy"))
    yield spec
    view_registry.unregister("dummy")
    assert "dummy" not in view_registry.names()


def test_a_registered_view_gets_a_tab_a_menu_entry_the_session_and_the_play_head(
    qtbot, dummy, window, audio_files
):
    from app.main import build_parser

    w = window
    view = w.views["dummy"]
    assert isinstance(view, DummyView) and view.axis is w.axis
    index = w.tabs.indexOf(view)
    assert index == len(view_registry.VIEWS) - 1 and w.tabs.tabText(index) == "Dummy"
    # the View menu entry and its shortcut
    entry = next(a for a in w.view_actions if a.text() == "Dummy")
    assert [k.toString() for k in entry.shortcuts()] == [QKeySequence("Ctrl+9").toString()]
    view_menu = next(top.menu() for top in w.menuBar().actions() if top.text() == "&View")
    assert entry in view_menu.actions()
    assert build_parser().parse_args(["--view", "dummy"]).view == "dummy"
    # a change reaches it when it is shown: through its shortcut, the session
    open_mixture(qtbot, w, audio_files[0])
    n = len(w.session.mixture)
    add_records(w, record("fake", synthetic_sources(seconds=n / SR), None, None))
    assert view.sessions == []  # hidden: refreshed when shown
    w.activateWindow()
    w.setFocus()
    QTest.keySequence(w, QKeySequence("Ctrl+9"))
    assert w.tabs.currentWidget() is view
    assert view.sessions == [w.session]
    w.set_view("listen")
    w.set_view("dummy")
    assert len(view.sessions) == 1  # nothing changed since: no refresh
    # the play head
    w.transport.seek(0.5)
    assert view.playheads and view.playheads[-1] == pytest.approx(0.5)


def test_the_registry_refuses_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):
        view_registry.register(ViewSpec("Masks", DummyView, "Ctrl+8", "Other masks"))
    assert view_registry.names() == ("listen", "masks", "embeddings", "metrics")
    assert view_registry.get("METRICS").title == "Metrics"
