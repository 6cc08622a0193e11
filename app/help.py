"""Help ▸ User's guide (the README's "User's guide" section, read from the local file, never from
the network) and Help ▸ About (the version)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout

GUIDE_HEADING = "## User's guide"
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
GUIDE_IMAGE_WIDTH = 640


def app_version() -> str:
    """The installed distribution's version, else the package's ``__version__``."""
    try:
        from importlib.metadata import version

        return version("cocktail")
    except Exception:  # not installed (a checkout on sys.path, a frozen build)
        from separation_core import __version__

        return __version__


def find_readme() -> Optional[Path]:
    """README.md beside the resources (the checkout's root, or the PyInstaller bundle's)."""
    from separation_core.io.paths import resources_dir

    for folder in (resources_dir().parent, Path(__file__).resolve().parents[1]):
        if (folder / "README.md").is_file():
            return folder / "README.md"
    return None


def guide_markdown(readme: str, folder: Optional[Path] = None) -> str:
    """The "User's guide" section of ``readme``; pictures scaled to fit, those missing dropped."""
    start = readme.find(GUIDE_HEADING)
    if start < 0:
        return readme
    end = readme.find("\n## ", start + len(GUIDE_HEADING))
    section = readme[start : end if end >= 0 else len(readme)].strip()

    def picture(m: re.Match) -> str:
        return "" if folder is not None and not (folder / m.group(2)).is_file() else m.group(0)

    return IMAGE.sub(picture, section)


def fit_images(document, width: int) -> None:
    """Scale every picture of ``document`` to ``width`` pixels (the height follows)."""
    cursor = QTextCursor(document)
    for position, char in enumerate(document.toPlainText()):
        if char != "\ufffc":  # an object: a picture
            continue
        cursor.setPosition(position)
        cursor.setPosition(position + 1, QTextCursor.MoveMode.KeepAnchor)
        fmt = cursor.charFormat()
        if fmt.isImageFormat():
            image = fmt.toImageFormat()
            image.setWidth(width)
            cursor.setCharFormat(image)


class GuideDialog(QDialog):
    def __init__(self, parent, readme: Path) -> None:
        super().__init__(parent)
        self.setWindowTitle("Cocktail — User's guide")
        self.resize(760, 680)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(False)  # nothing is fetched; links to the web are inert
        self.browser.setSearchPaths([str(readme.parent)])
        self.browser.setMarkdown(guide_markdown(readme.read_text(encoding="utf-8"), readme.parent))
        fit_images(self.browser.document(), GUIDE_IMAGE_WIDTH)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)


def show_guide_dialog(parent) -> None:
    readme = find_readme()
    if readme is None:
        QMessageBox.information(
            parent,
            "User's guide",
            "The user's guide (README.md) is not installed with this copy of Cocktail.",
        )
        return
    GuideDialog(parent, readme).exec()


def about_text() -> str:
    return (
        f"<b>Cocktail {app_version()}</b><p>A desktop studio for speech source separation: "
        "separate voices, listen to each speaker, compare masks and metrics, export stems.</p>"
        "<p>Press F1 for the user's guide.</p>"
    )


def show_about_box(parent) -> None:
    QMessageBox.about(parent, "About Cocktail", about_text())
