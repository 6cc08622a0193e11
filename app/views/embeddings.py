"""The Embeddings view (deep clustering, Chimera++): a 2-D PCA scatter of the bin embeddings coloured
by cluster; a rectangle or lasso selection highlights those bins on the mixture spectrogram and can be
played as a masked signal."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGraphicsPathItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.selection import points_in_polygon, points_in_rect, selection_mask
from app.views.elided import ElidedLabel
from app.views.spectrogram import ImageLayer, SpectrogramView, grid_slice
from app.views.style import source_colour
from app.views.timeplot import TimeAxis

MAX_DRAWN = 6000  # scatter points drawn (all points take part in selections)
HIGHLIGHT = (80, 255, 255)


class SelectViewBox(pg.ViewBox):
    """Left-drag draws a rectangle or a lasso (per ``mode``) and emits it in data coordinates;
    the wheel zooms, right-drag pans."""

    selected = Signal(str, object)  # "rect", (x0, y0, x1, y1) | "lasso", ndarray [M, 2]

    def __init__(self) -> None:
        super().__init__()
        self.mode = "rect"
        self.setMenuEnabled(False)
        self._points: list[QPointF] = []
        pen = QPen(QColor(*HIGHLIGHT))
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        pen.setStyle(Qt.PenStyle.DashLine)
        self.outline = QGraphicsPathItem()
        self.outline.setPen(pen)
        self.outline.setZValue(100)
        self.addItem(self.outline, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        p = self.mapToView(ev.pos())
        if ev.isStart():
            self._points = [self.mapToView(ev.buttonDownPos()), p]
        else:
            if self.mode == "rect":
                self._points = self._points[:1] + [p]
            else:
                self._points.append(p)
        self.outline.setPath(self._path())
        if ev.isFinish():
            self.emit_selection()

    def _path(self) -> QPainterPath:
        path = QPainterPath()
        if len(self._points) < 2:
            return path
        if self.mode == "rect":
            a, b = self._points[0], self._points[-1]
            path.addRect(
                min(a.x(), b.x()), min(a.y(), b.y()), abs(b.x() - a.x()), abs(b.y() - a.y())
            )
        else:
            path.moveTo(self._points[0])
            for q in self._points[1:]:
                path.lineTo(q)
            path.closeSubpath()
        return path

    def emit_selection(self) -> None:
        if len(self._points) < 2:
            return
        if self.mode == "rect":
            a, b = self._points[0], self._points[-1]
            self.selected.emit("rect", (a.x(), a.y(), b.x(), b.y()))
        else:
            self.selected.emit("lasso", np.array([[q.x(), q.y()] for q in self._points]))

    def clear_outline(self) -> None:
        self._points = []
        self.outline.setPath(QPainterPath())


class EmbeddingsView(QWidget):
    """Emits ``play_requested(mask [freq, frames], stft)`` for "Play selection"."""

    play_requested = Signal(object, object)

    def __init__(self, axis: TimeAxis, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.session = None
        self.key: Optional[str] = None
        self.points: Optional[np.ndarray] = None  # [P, 2] PCA of the result's embeddings
        self.chosen: Optional[np.ndarray] = None  # bool [P]
        self.mask: Optional[np.ndarray] = None  # selection mask on the result's STFT grid
        self._pca_cache: dict = {}

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Embeddings of:", self))
        self.combo = QComboBox(self)
        self.combo.setMinimumContentsLength(14)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.combo.setToolTip("The deep clustering / Chimera++ result whose embeddings are shown")
        bar.addWidget(self.combo)
        self.rect_button, self.lasso_button = (
            QRadioButton("Rectangle", self),
            QRadioButton("Lasso", self),
        )
        self.rect_button.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.rect_button)
        group.addButton(self.lasso_button)
        bar.addWidget(self.rect_button)
        bar.addWidget(self.lasso_button)
        self.clear_button = QPushButton("Clear", self)
        self.play_button = QPushButton("Play selection", self)
        self.play_button.setToolTip("Play the mixture through a mask made of the selected bins")
        bar.addWidget(self.clear_button)
        bar.addWidget(self.play_button)
        bar.addStretch(1)
        self.info = ElidedLabel("", self)
        bar.addWidget(self.info)

        self.vb = SelectViewBox()
        self.scatter_plot = pg.PlotWidget(viewBox=self.vb)
        self.scatter_plot.hideButtons()
        self.scatter_plot.setLabel("bottom", "PC 1")
        self.scatter_plot.setLabel("left", "PC 2")
        self.scatter_plot.setTitle("PCA of the bin embeddings")
        for name in ("left", "bottom"):
            self.scatter_plot.getAxis(name).enableAutoSIPrefix(False)
        self.scatter = pg.ScatterPlotItem(size=3, pen=None)
        self.highlight = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(*HIGHLIGHT, 230))
        self.vb.addItem(self.scatter)
        self.vb.addItem(self.highlight)
        self.legend = QLabel("", self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)

        right = QWidget(self)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Mixture spectrogram: selected bins highlighted", right)
        title.setStyleSheet("color: #a0a0a0;")
        rl.addWidget(title)
        self.spec = SpectrogramView(axis, right, height=200, show_time_axis=True)
        self.overlay = ImageLayer(self.spec.getPlotItem(), "viridis", (0.0, 1.0))
        self.overlay.item.setColorMap(pg.ColorMap([0.0, 1.0], [(*HIGHLIGHT, 0), (*HIGHLIGHT, 200)]))
        self.overlay.item.setZValue(10)
        self.spec.link.add_layer(self.overlay)
        rl.addWidget(self.spec, 1)

        left = QWidget(self)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.scatter_plot, 1)
        ll.addWidget(self.legend)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setSizes([420, 560])
        self.empty = QLabel(
            "Run a deep clustering or Chimera++ model to explore its embeddings.", self
        )
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #a0a0a0; padding: 12px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.empty)
        layout.addWidget(self.splitter, 1)

        self.combo.currentTextChanged.connect(self._show_result)
        self.rect_button.toggled.connect(
            lambda on: setattr(self.vb, "mode", "rect" if on else "lasso")
        )
        self.vb.selected.connect(self._on_selected)
        self.clear_button.clicked.connect(self.clear_selection)
        self.play_button.clicked.connect(self._play)
        self._update_buttons()

    # --- content -------------------------------------------------------------------------------
    def set_session(self, session) -> None:
        self.session = session
        keys = (
            [k for k, r in session.results.items() if r.result.embeddings is not None]
            if session
            else []
        )
        self._pca_cache = {k: v for k, v in self._pca_cache.items() if k in keys}
        current = self.combo.currentText()
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems(keys)
        if current in keys:
            self.combo.setCurrentText(current)
        self.combo.blockSignals(False)
        if session is not None and session.loaded:
            self.spec.set_signal(session.mixture, session.sample_rate)
        else:
            self.spec.set_signal(None, 1)
        self.empty.setVisible(not keys)
        self.splitter.setVisible(bool(keys))
        self._show_result(self.combo.currentText())

    def _show_result(self, key: str) -> None:
        self.key = key or None
        self.clear_selection()
        if not self.key or self.session is None or key not in self.session.results:
            self.points = None
            self.scatter.clear()
            self.legend.setText("")
            return
        res = self.session.results[key].result
        if key not in self._pca_cache:
            from separation_core.models.clustering import pca_2d

            self._pca_cache[key] = pca_2d(res.embeddings)
        self.points = self._pca_cache[key]
        labels = (
            res.embedding_labels
            if res.embedding_labels is not None
            else np.full(len(self.points), -1)
        )
        rng = np.random.default_rng(0)
        shown = np.arange(len(self.points))
        if len(shown) > MAX_DRAWN:
            shown = np.sort(rng.choice(shown, MAX_DRAWN, replace=False))
        self._shown = shown
        brushes = {
            int(k): pg.mkBrush(source_colour(int(k)) if k >= 0 else "#7a7a7a")
            for k in np.unique(labels)
        }
        self.scatter.setData(pos=self.points[shown], brush=[brushes[int(k)] for k in labels[shown]])
        lo, hi = self.points.min(axis=0), self.points.max(axis=0)
        self.vb.setRange(
            xRange=(float(lo[0]), float(hi[0])), yRange=(float(lo[1]), float(hi[1])), padding=0.05
        )
        parts = [
            f"<span style='color:{source_colour(int(k)) if k >= 0 else '#7a7a7a'}'>■</span> "
            f"{'cluster ' + str(int(k) + 1) if k >= 0 else 'unassigned'}"
            for k in np.unique(labels)
        ]
        self.legend.setText(
            "&nbsp;&nbsp;".join(parts)
            + f"&nbsp;&nbsp;<span style='color:#909090'>({len(self.points)} bins, "
            f"{len(shown)} drawn)</span>"
        )

    # --- selection -----------------------------------------------------------------------------
    def select_rect(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self._apply(points_in_rect(self.points, x0, y0, x1, y1))

    def select_lasso(self, polygon: np.ndarray) -> None:
        self._apply(points_in_polygon(self.points, polygon))

    def _on_selected(self, kind: str, shape) -> None:
        if self.points is None:
            return
        if kind == "rect":
            self.select_rect(*shape)
        else:
            self.select_lasso(shape)

    def _apply(self, chosen: np.ndarray) -> None:
        res = self.session.results[self.key].result
        self.chosen = chosen
        n_frames = res.stft.n_frames(
            int(round(len(res.waveforms[0]) * res.stft.sample_rate / res.sample_rate))
        )
        n_frames = max(n_frames, int(res.embedding_bins[:, 1].max()) + 1)
        self.mask = selection_mask(res.embedding_bins, chosen, (res.stft.n_freq, n_frames))
        shown = self._shown[chosen[self._shown]]
        self.highlight.setData(pos=self.points[shown])
        st = res.stft
        mask = self.mask
        self.overlay.set_provider(
            lambda t0, t1, px: grid_slice(mask, st.hop, st.sample_rate, t0, t1, px)
        )
        self.spec.link.schedule()
        self.info.setText(f"{int(chosen.sum())} of {len(chosen)} bins selected")
        self._update_buttons()

    def clear_selection(self) -> None:
        self.chosen, self.mask = None, None
        self.highlight.clear()
        self.vb.clear_outline()
        self.overlay.set_provider(None)
        self.info.setText("")
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.chosen is not None and bool(self.chosen.any())
        self.play_button.setEnabled(has)
        self.clear_button.setEnabled(self.chosen is not None)

    def _play(self) -> None:
        if self.mask is not None and self.key:
            self.play_requested.emit(self.mask, self.session.results[self.key].result.stft)

    def set_playhead(self, t: float) -> None:
        self.spec.link.set_playhead(t)
