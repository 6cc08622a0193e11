"""Render packaging/icons/cocktail.svg to PNGs (cocktail-<N>.png, N in SIZES) with Qt's SVG renderer.

Usage: QT_QPA_PLATFORM=offscreen python packaging/render_icons.py [--resources]
(--resources also writes the 256 px image to resources/icons/cocktail.png, the bundled copy).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

SIZES = (16, 32, 48, 64, 128, 256)
HERE = Path(__file__).resolve().parent
SVG = HERE / "icons" / "cocktail.svg"


def render(svg: Path, size: int, out: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"{out}: cannot write")


def main(argv: list[str]) -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(["render_icons"])  # noqa: F841 (fonts, image IO)
    for size in SIZES:
        out = HERE / "icons" / f"cocktail-{size}.png"
        render(SVG, size, out)
        print(out.relative_to(HERE.parent))
    if "--resources" in argv:
        target = HERE.parent / "resources" / "icons" / "cocktail.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(HERE / "icons" / "cocktail-256.png", target)
        print(target.relative_to(HERE.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
