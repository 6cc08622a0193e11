"""A dark Fusion palette, so the widgets match the dark plots."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    p = QPalette()
    base, window, text, dim = (
        QColor("#1e1f22"),
        QColor("#2b2d30"),
        QColor("#dfe1e5"),
        QColor("#7f8389"),
    )
    for role, colour in (
        (QPalette.ColorRole.Window, window),
        (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base),
        (QPalette.ColorRole.AlternateBase, QColor("#26282b")),
        (QPalette.ColorRole.ToolTipBase, window),
        (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.Text, text),
        (QPalette.ColorRole.Button, QColor("#393b40")),
        (QPalette.ColorRole.ButtonText, text),
        (QPalette.ColorRole.BrightText, QColor("#ff6b6b")),
        (QPalette.ColorRole.Highlight, QColor("#3574f0")),
        (QPalette.ColorRole.HighlightedText, QColor("#ffffff")),
        (QPalette.ColorRole.Link, QColor("#589df6")),
        (QPalette.ColorRole.PlaceholderText, dim),
    ):
        p.setColor(role, colour)
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, dim)
    app.setPalette(p)
    app.setStyleSheet(INDICATORS)


# Fusion draws check boxes with the palette's dark colours: invisible on a dark theme.
INDICATORS = """
QCheckBox::indicator, QTreeView::indicator, QListView::indicator, QGroupBox::indicator {
    width: 12px; height: 12px; border: 1px solid #9a9da3; border-radius: 2px; background: #1e1f22; }
QCheckBox::indicator:checked, QTreeView::indicator:checked, QListView::indicator:checked {
    background: #3574f0; border-color: #6b9bff; }
QCheckBox::indicator:disabled, QTreeView::indicator:disabled, QListView::indicator:disabled {
    border-color: #4a4d52; background: #26282b; }
QRadioButton::indicator { width: 12px; height: 12px; border: 1px solid #9a9da3; border-radius: 7px;
    background: #1e1f22; }
QRadioButton::indicator:checked { background: #3574f0; border-color: #6b9bff; }
"""
