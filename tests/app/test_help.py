"""Help ▸ User's guide (F1) shows the README's guide from the local file; Help ▸ About names the
version."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from app.help import GuideDialog, app_version, find_readme, guide_markdown


def test_the_guide_is_the_readmes_users_guide_section():
    readme = find_readme()
    assert readme is not None
    text = guide_markdown(readme.read_text(encoding="utf-8"), readme.parent)
    assert text.startswith("## User's guide") and "### Separate and listen" in text
    assert "## Bundled models" not in text and "## Command line" not in text
    assert "](docs/screenshots/01-open.png)" in text
    missing = "## User's guide\n![gone](nowhere.png)\n"
    assert "nowhere.png" not in guide_markdown(missing, readme.parent)  # a picture not installed


def test_f1_opens_the_guide(qtbot, window, monkeypatch):
    shown = []

    def exec_(dialog):
        shown.append(dialog.browser.toPlainText())
        return 0

    monkeypatch.setattr(GuideDialog, "exec", exec_)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    assert len(shown) == 1 and "Separate and listen" in shown[0] and "Ctrl+R" in shown[0]
    assert not window.act_guide.shortcut().isEmpty()


def test_about_names_the_version(qtbot, window, monkeypatch):
    from separation_core import __version__

    texts = []
    monkeypatch.setattr(QMessageBox, "about", lambda parent, title, text: texts.append(text))
    window.act_about.trigger()
    assert app_version() == __version__ and f"Cocktail {__version__}" in texts[0]
    assert [a.text() for a in window.menuBar().actions()][-1] == "&Help"
    QApplication.processEvents()
