"""The Masks view: one row per result with masks (oracle rows last), one column per source,
columns aligned by PIT, every cell on the shared time axis, one colour bar, a hover readout and a
difference row between two chosen results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.views.elided import ElidedLabel
from app.views.spectrogram import ImageLayer, TFImage, grid_slice
from app.views.style import AXIS_WIDTH, DIFF_CMAP, MASK_CMAP, colormap
from app.views.timeplot import TimeAxis, TimeAxisItem, TimeLink

ROW_HEIGHT = 118  # the least height of a row of cells; rows share what the view has beyond that
HEADER_HEIGHT = 24  # the "Source k" titles
TIME_AXIS_HEIGHT = 40


@dataclass
class Cell:
    viewbox: pg.ViewBox
    key: str  # result key, or "A-B" for the difference row
    column: int
    source: int  # index into the result's masks (-1: empty)


def mask_rows(session) -> list[str]:
    """Keys of the results that have masks: models in run order, then the oracles."""
    keys = [k for k, r in session.results.items() if r.result.masks is not None]
    return [k for k in keys if not session.results[k].entry.needs_references] + [
        k for k in keys if session.results[k].entry.needs_references
    ]


def sample_on_grid(mask: np.ndarray, stft, times: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Nearest-bin values of ``mask [freq, frames]`` (grid ``stft``) at ``freqs x times``; 0 above the
    grid's Nyquist frequency or past its last frame."""
    frames = np.rint(times * stft.sample_rate / stft.hop).astype(np.int64)
    bins = np.rint(freqs * stft.n_fft / stft.sample_rate).astype(np.int64)
    ok_t = (frames >= 0) & (frames < mask.shape[1])
    ok_f = (bins >= 0) & (bins < mask.shape[0])
    out = mask[np.ix_(np.clip(bins, 0, mask.shape[0] - 1), np.clip(frames, 0, mask.shape[1] - 1))]
    return np.where(ok_f[:, None] & ok_t[None, :], out, 0.0).astype(np.float32)


def difference_image(
    a_mask: np.ndarray, a_stft, b_mask: np.ndarray, b_stft, t0: float, t1: float, max_cols: int
) -> Optional[TFImage]:
    """``A - B`` on A's grid for the visible range; B is sampled at A's bins (nearest)."""
    img = grid_slice(a_mask, a_stft.hop, a_stft.sample_rate, t0, t1, max_cols)
    if img is None:
        return None
    cols = img.data.shape[1]
    times = img.t_start + (np.arange(cols) + 0.5) * (img.t_end - img.t_start) / cols
    freqs = np.arange(img.data.shape[0]) * a_stft.sample_rate / a_stft.n_fft
    img.data = img.data - sample_on_grid(b_mask, b_stft, times, freqs)
    return img


class MasksView(QWidget):
    def __init__(self, axis: TimeAxis, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.axis = axis
        self.session = None
        bar = QHBoxLayout()
        self.diff_box = QCheckBox("Difference", self)
        self.diff_box.setToolTip("Add a row showing mask A minus mask B for every source")
        self.combo_a, self.combo_b = QComboBox(self), QComboBox(self)
        for c in (self.combo_a, self.combo_b):
            c.setMinimumContentsLength(12)
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)  # ids are never cut
        bar.addWidget(self.diff_box)
        bar.addWidget(self.combo_a)
        bar.addWidget(QLabel("−", self))
        bar.addWidget(self.combo_b)
        bar.addStretch(1)
        # The hover readout has a line of its own, as wide as the view: never cut off, never widening
        # the window (elided, whole in its tooltip, when the view is very narrow).
        self.readout = ElidedLabel("", self)
        self.readout.setStyleSheet("font-family: monospace;")
        self.readout.setMinimumHeight(self.readout.fontMetrics().height() + 2)
        self.empty = QLabel(
            "Run a model to see its masks here. Load references to add the oracle.", self
        )
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #a0a0a0; padding: 12px;")
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.ci.layout.setHorizontalSpacing(6)
        self.glw.ci.layout.setVerticalSpacing(12)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.glw)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.readout)
        layout.addWidget(self.empty)
        layout.addWidget(self.scroll, 1)
        self._viewport = self.scroll.viewport()
        self._viewport.installEventFilter(self)  # rows follow the view's height
        self.plot_rows: list[int] = []  # layout rows holding cells (the last one has the time axis)
        self.cells: list[Cell] = []
        self.playhead = 0.0
        self.links: list[TimeLink] = []
        self.images: list = []
        self.glw.scene().sigMouseMoved.connect(self._hover)
        self.diff_box.toggled.connect(self.rebuild)
        self.combo_a.currentIndexChanged.connect(self._diff_changed)
        self.combo_b.currentIndexChanged.connect(self._diff_changed)

    def set_session(self, session) -> None:
        self.session = session
        keys = mask_rows(session) if session else []
        for combo, default in ((self.combo_a, 0), (self.combo_b, 1)):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(keys)
            if current in keys:
                combo.setCurrentText(current)
            elif keys:
                combo.setCurrentIndex(min(default, len(keys) - 1))
            combo.blockSignals(False)
        enough = len(keys) >= 2
        for w in (self.diff_box, self.combo_a, self.combo_b):
            w.setEnabled(enough)
        self.rebuild()

    def _diff_changed(self, *_args) -> None:
        if self.diff_box.isChecked():
            self.rebuild()

    def _clear(self) -> None:
        for link in self.links:
            link.dispose()
        self.glw.clear()
        layout = self.glw.ci.layout
        for r in [0] + self.plot_rows:  # free the rows' heights for the next grid
            layout.setRowMinimumHeight(r, 0)
            layout.setRowMaximumHeight(r, 16777215)
        self.cells, self.links, self.images, self.plot_rows = [], [], [], []

    def rebuild(self, *_args) -> None:
        self._clear()
        s = self.session
        keys = mask_rows(s) if s is not None else []
        self.empty.setVisible(not keys)
        self.scroll.setVisible(bool(keys))
        if not keys:
            return
        n_cols = s.n_columns()
        rows = [(k, s.results[k]) for k in keys]
        diff = self.diff_box.isChecked() and len(keys) >= 2
        for c in range(n_cols):
            self.glw.addLabel(f"Source {c + 1}", row=0, col=c + 1, bold=True)
        for r, (key, record) in enumerate(rows):
            kind = record.result.mask_kind or ""
            self.glw.addLabel(
                f"{key}<br><span style='color:#909090'>{kind}</span>", row=r + 1, col=0, angle=0
            )
            order = s.order(key)
            for c in range(n_cols):
                src = order[c] if c < len(order) else -1
                self._add_cell(
                    r + 1, c + 1, key, c, src, record, last=(r == len(rows) - 1 and not diff)
                )
        mask_bar = pg.ColorBarItem(
            values=(0.0, 1.0),
            colorMap=colormap(MASK_CMAP),
            interactive=False,
            width=14,
            label="mask",
        )
        mask_bar.setImageItem([img.item for img in self.images])
        self.glw.addItem(mask_bar, row=1, col=n_cols + 1, rowspan=len(rows))
        if diff:
            a, b = self.combo_a.currentText(), self.combo_b.currentText()
            r = len(rows) + 1
            self.glw.addLabel(f"{a}<br>− {b}", row=r, col=0)
            diff_images = []
            for c in range(n_cols):
                diff_images.append(self._add_diff_cell(r, c + 1, c, a, b))
            diff_bar = pg.ColorBarItem(
                values=(-1.0, 1.0),
                colorMap=colormap(DIFF_CMAP),
                interactive=False,
                width=14,
                label="A − B",
            )
            diff_bar.setImageItem([d.item for d in diff_images if d is not None])
            self.glw.addItem(diff_bar, row=r, col=n_cols + 1)
        self.glw.ci.layout.setColumnFixedWidth(0, self._label_width(keys))
        self.plot_rows = list(range(1, len(rows) + 1 + int(diff)))
        self._fit_rows()

    def _fit_rows(self) -> None:
        """Every row of cells gets the same height: the view's height shared out, or ROW_HEIGHT
        when that is more (then the grid scrolls). The last row is taller by its time axis only.
        (Left to the grid layout, the row beside the colour bar took most of the height.)"""
        n = len(self.plot_rows)
        if not n:
            return
        layout = self.glw.ci.layout
        _left, top, _right, bottom = layout.getContentsMargins()
        overhead = (
            top
            + bottom
            + HEADER_HEIGHT
            + layout.verticalSpacing() * n
            + TIME_AXIS_HEIGHT
            + 2 * self.glw.frameWidth()
        )
        height = max(ROW_HEIGHT, int((self.scroll.viewport().height() - overhead) // n))
        layout.setRowFixedHeight(0, HEADER_HEIGHT)
        for r in self.plot_rows:
            layout.setRowFixedHeight(
                r, height + (TIME_AXIS_HEIGHT if r == self.plot_rows[-1] else 0)
            )
        self.glw.setMinimumHeight(int(overhead + n * height))

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if obj is self._viewport and event.type() == QEvent.Type.Resize:
            self._fit_rows()
        return False

    def _label_width(self, keys) -> int:
        """The row labels' column: wide enough for the longest model id."""
        metrics = self.fontMetrics()
        return max([110] + [metrics.horizontalAdvance(k) + 24 for k in keys])

    def _new_plot(self, row: int, col: int, last: bool, f_max: float) -> pg.PlotItem:
        plot = self.glw.addPlot(row=row, col=col, axisItems={"bottom": TimeAxisItem("bottom")})
        plot.hideButtons()
        plot.setMenuEnabled(False)
        left = plot.getAxis("left")
        left.setWidth(AXIS_WIDTH)
        left.setScale(1e-3)
        left.setLabel("kHz" if col == 1 else "")
        if col != 1:
            left.setStyle(showValues=False)
        plot.showAxis("bottom", last)
        if last:
            plot.getAxis("bottom").setLabel("time")
            plot.getAxis("bottom").setHeight(TIME_AXIS_HEIGHT)  # known, so rows can be equal
        plot.setYRange(0.0, f_max, padding=0)
        plot.getViewBox().setLimits(yMin=0.0, yMax=f_max)
        return plot

    def _link(self, plot: pg.PlotItem, layer) -> None:
        link = TimeLink(plot.getViewBox(), self.axis, self.glw)
        link.add_layer(layer)
        link.set_playhead(self.playhead)
        self.links.append(link)

    def _add_cell(self, row, col, key, column, src, record, last) -> None:
        res = record.result
        f_max = res.stft.sample_rate / 2.0
        plot = self._new_plot(row, col, last, f_max)
        self.cells.append(Cell(plot.getViewBox(), key, column, src))
        layer = ImageLayer(plot, MASK_CMAP, (0.0, 1.0))
        if src >= 0:
            mask, st = res.masks[src], res.stft
            layer.set_provider(
                lambda t0, t1, px, m=mask, st=st: grid_slice(m, st.hop, st.sample_rate, t0, t1, px)
            )
        else:
            plot.addItem(pg.TextItem("no source", color="#909090"))
        self.images.append(layer)
        self._link(plot, layer)

    def _add_diff_cell(self, row, col, column, a, b) -> Optional[ImageLayer]:
        s = self.session
        ra, rb = s.results[a], s.results[b]
        oa, ob = s.order(a), s.order(b)
        ia = oa[column] if column < len(oa) else -1
        ib = ob[column] if column < len(ob) else -1
        f_max = ra.result.stft.sample_rate / 2.0
        plot = self._new_plot(row, col, True, f_max)
        self.cells.append(Cell(plot.getViewBox(), "A-B", column, ia if ib >= 0 else -1))
        layer = ImageLayer(plot, DIFF_CMAP, (-1.0, 1.0))
        if ia >= 0 and ib >= 0:
            am, ast_, bm, bst = (
                ra.result.masks[ia],
                ra.result.stft,
                rb.result.masks[ib],
                rb.result.stft,
            )
            layer.set_provider(lambda t0, t1, px: difference_image(am, ast_, bm, bst, t0, t1, px))
        self._link(plot, layer)
        return layer

    def value_at(self, cell: Cell, t: float, f: float) -> Optional[float]:
        """The mask value (or difference) under time ``t`` and frequency ``f``, from the full grid."""
        if cell.source < 0:
            return None
        s = self.session
        if cell.key == "A-B":
            a, b = self.combo_a.currentText(), self.combo_b.currentText()
            ra, rb = s.results[a].result, s.results[b].result
            ob = s.order(b)
            ib = ob[cell.column]
            va = sample_on_grid(ra.masks[cell.source], ra.stft, np.array([t]), np.array([f]))[0, 0]
            vb = sample_on_grid(rb.masks[ib], rb.stft, np.array([t]), np.array([f]))[0, 0]
            return float(va - vb)
        res = s.results[cell.key].result
        return float(
            sample_on_grid(res.masks[cell.source], res.stft, np.array([t]), np.array([f]))[0, 0]
        )

    def _hover(self, pos) -> None:
        for cell in self.cells:
            if cell.viewbox.sceneBoundingRect().contains(pos):
                p = cell.viewbox.mapSceneToView(pos)
                t, f = float(p.x()), float(p.y())
                value = self.value_at(cell, t, f)
                if value is None:
                    self.readout.setText("")
                    return
                name = (
                    f"{self.combo_a.currentText()} − {self.combo_b.currentText()}"
                    if cell.key == "A-B"
                    else cell.key
                )
                what = f"diff {value:+.3f}" if cell.key == "A-B" else f"mask {value:.3f}"
                self.readout.setText(
                    f"t {t:7.3f} s   f {f:6.0f} Hz   {what}   {name} · source {cell.column + 1}"
                )
                return
        self.readout.setText("")

    def set_playhead(self, t: float) -> None:
        self.playhead = t
        for link in self.links:
            link.set_playhead(t)
