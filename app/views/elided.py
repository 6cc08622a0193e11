"""A one-line label that never forces its window wider: past its width the text is elided and the
whole of it goes to the tooltip."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """Plain text, one line. ``sizeHint`` asks for the whole text, ``minimumSizeHint`` for about
    ``min_chars`` characters; ``text()`` is the whole text, ``shown_text()`` what is drawn."""

    def __init__(
        self,
        text: str = "",
        parent: Optional[QWidget] = None,
        *,
        min_chars: int = 6,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
    ) -> None:
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self._min_chars = min_chars
        self._own_tip = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        return QLabel.text(self)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._full = str(text)
        self._elide()
        self.updateGeometry()

    def setToolTip(self, tip: str) -> None:  # noqa: N802
        self._own_tip = tip
        self._elide()

    def sizeHint(self) -> QSize:  # noqa: N802
        m = self.contentsMargins()
        return QSize(
            self.fontMetrics().horizontalAdvance(self._full) + m.left() + m.right() + 2,
            super().sizeHint().height(),
        )

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        m = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance("x" * self._min_chars) + m.left() + m.right()
        return QSize(min(width, self.sizeHint().width()), super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        m = self.contentsMargins()
        width = max(0, self.width() - m.left() - m.right())
        shown = self.fontMetrics().elidedText(self._full, self._mode, width)
        QLabel.setText(self, shown)
        if shown != self._full:
            QLabel.setToolTip(self, self._full + (f"\n\n{self._own_tip}" if self._own_tip else ""))
        else:
            QLabel.setToolTip(self, self._own_tip)
