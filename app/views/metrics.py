"""The Metrics view: per model and source the default metrics of the core's registry (SI-SDR,
SI-SDRi, SDR, PESQ, STOI, ...) in a table (sources in reference order), with a bar chart of one
chosen metric."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.views.elided import ElidedLabel
from app.views.style import source_colour
from separation_core.evaluation.scoring import get_metric, metric_specs


def shown_metrics() -> list:
    """The registry's default metrics (``separation_core.evaluation.scoring.Metric``), in its order."""
    return metric_specs(default=True)


def fmt(value: float, key: str) -> str:
    return get_metric(key).format(value, missing="—")


def ordered_results(session) -> list:
    """Models in run order, then the oracles (as in the masks grid)."""
    items = list(session.results.items())
    return [(k, r) for k, r in items if not r.entry.needs_references] + [
        (k, r) for k, r in items if r.entry.needs_references
    ]


def metric_rows(session) -> list[tuple[str, str, dict]]:
    """(model, source label, metrics) per source and a mean row per scored result."""
    rows = []
    for key, record in ordered_results(session):
        ev = record.evaluation
        if ev is None:
            continue
        for i, values in enumerate(ev.per_source):
            rows.append((key, f"source {i + 1}", values))
        rows.append((key, "mean", ev.mean))
    return rows


class MetricsView(QWidget):
    compute_requested = Signal()

    def __init__(self, axis=None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        bar = QHBoxLayout()
        self.status = ElidedLabel("Load the reference sources to score the results.", self)
        self.status.setStyleSheet("color: #a0a0a0;")
        self.compute_button = QPushButton("Compute metrics", self)
        self.compute_button.setEnabled(False)
        self.metric_combo = QComboBox(self)
        self.metrics = shown_metrics()
        for metric in self.metrics:
            self.metric_combo.addItem(metric.heading, metric.name)
        bar.addWidget(self.status, 1)
        bar.addWidget(QLabel("Chart:", self))
        bar.addWidget(self.metric_combo)
        bar.addWidget(self.compute_button)

        self.table = QTableWidget(0, 2 + len(self.metrics), self)
        self.table.setHorizontalHeaderLabels(
            ["Model", "Source"] + [m.heading for m in self.metrics]
        )
        for c, metric in enumerate(self.metrics, start=2):
            if metric.description:
                self.table.horizontalHeaderItem(c).setToolTip(metric.description)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for c in (0, 1):  # model ids and source labels are never cut
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(22)

        self.chart = pg.PlotWidget()
        self.chart.hideButtons()
        self.chart.setMenuEnabled(False)
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.showGrid(y=True, alpha=0.25)
        self.legend = self.chart.addLegend(
            offset=(-10, 4), colCount=3, brush=pg.mkBrush(43, 45, 48, 220)
        )

        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.table)
        split.addWidget(self.chart)
        split.setSizes([300, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        self.session = None
        self.compute_button.clicked.connect(self.compute_requested)
        self.metric_combo.currentIndexChanged.connect(self._draw_chart)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def set_playhead(self, seconds: float) -> None:
        """A table and a chart: no play head to follow."""

    def set_session(self, session) -> None:
        self.session = session
        can = bool(session is not None and session.references is not None and session.results)
        self.compute_button.setEnabled(can)
        rows = metric_rows(session) if session is not None else []
        self.table.setRowCount(len(rows))
        for r, (model, source, values) in enumerate(rows):
            cells = [model, source] + [
                m.format(values.get(m.name), missing="—") for m in self.metrics
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 0:
                    item.setToolTip(text)
                if c >= 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if source == "mean":
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)
        if session is not None and session.references is None:
            self.set_status(
                "Load the reference sources (File > Open references) to score the results."
            )
        elif rows:
            self.set_status(
                f"{len(rows)} rows; sources in reference order (permutation solved by "
                "the Hungarian algorithm on pairwise SI-SDR)."
            )
        self._draw_chart()

    def _draw_chart(self, *_args) -> None:
        self.chart.clear()
        self.legend.clear()
        s = self.session
        if s is None:
            return
        key = self.metric_combo.currentData()
        scored = [(k, r.evaluation) for k, r in ordered_results(s) if r.evaluation is not None]
        if not scored:
            return
        n_src = max(len(ev.per_source) for _, ev in scored)
        width = 0.8 / (n_src + 1)
        heights = [0.0]
        for i in range(n_src + 1):
            xs, hs = [], []
            for m, (_, ev) in enumerate(scored):
                values = (
                    ev.mean if i == n_src else (ev.per_source[i] if i < len(ev.per_source) else {})
                )
                v = values.get(key, float("nan"))
                if v is not None and math.isfinite(v):
                    xs.append(m - 0.4 + (i + 0.5) * width)
                    hs.append(v)
            heights += hs
            colour = "#e0e0e0" if i == n_src else source_colour(i)
            bars = pg.BarGraphItem(
                x=np.array(xs), height=np.array(hs), width=width * 0.9, brush=colour, pen=None
            )
            self.chart.addItem(bars)
            self.legend.addItem(bars, "mean" if i == n_src else f"source {i + 1}")
        axis = self.chart.getAxis("bottom")
        axis.setTicks([[(m, k) for m, (k, _) in enumerate(scored)]])
        self.chart.setLabel("left", self.metric_combo.currentText())
        self.chart.setXRange(-0.6, len(scored) - 0.4, padding=0)
        lo, hi = min(heights), max(heights)
        span = (hi - lo) or 1.0
        self.chart.setYRange(lo - 0.05 * span, hi + 0.22 * span, padding=0)  # room for the legend
