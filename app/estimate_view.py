"""Before a run: the expected time and memory of each ticked model on the open file, with the chunk
length of the run options, under the model list (see ``separation_core.engine.run_estimate``), with
a warning when a run would take over ten minutes."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from separation_core.engine.run_estimate import (
    DEFAULT_CHUNK_SECONDS,
    LONG_RUN_SECONDS,
    bench_machine,
    estimate_run,
    human_duration,
    load_bench,
)

WARN_COLOUR = "#e0a030"


class RunEstimatesLabel(QLabel):
    """One line per ticked model; refreshed when the ticks, the device, the chunk length or the file
    change."""

    def __init__(self, panel, duration: Callable[[], float], bench: Optional[dict] = None) -> None:
        super().__init__(panel)
        self.panel, self.duration = panel, duration
        self.bench = load_bench() if bench is None else bench
        self.estimates: list = []
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setStyleSheet("color: #a0a0a0;")
        layout = panel.layout()
        layout.insertWidget(layout.indexOf(panel.status) + 1, self)
        panel.selection_changed.connect(self.refresh)
        panel.device.currentTextChanged.connect(self.refresh)
        panel.chunk.valueChanged.connect(self.refresh)
        self.hide()

    @property
    def warning(self) -> bool:
        return any(e.warn for e in self.estimates)

    def refresh(self, *_args) -> None:
        seconds = float(self.duration() or 0.0)
        panel = self.panel
        run = panel.settings()
        self.estimates = (
            [
                estimate_run(
                    panel.entries[i],
                    seconds,
                    self.bench,
                    device=run.device,
                    known=panel.entries,
                    chunk_seconds=run.chunk_seconds,
                    default_chunk_seconds=panel.default_chunks.get(i, DEFAULT_CHUNK_SECONDS),
                )
                for i in panel.checked_ids()
                if i in panel.entries
            ]
            if seconds > 0
            else []
        )
        if not self.estimates:
            self.setText("")
            self.hide()
            return
        chunks = f", {run.chunk_seconds:g} s chunks" if run.chunk_seconds else ""
        lines = [f"<b>Expected on this file ({human_duration(seconds)}{chunks}):</b>"]
        for e in self.estimates:
            line = f"{html.escape(e.model_id)}: {html.escape(e.text())}"
            lines.append(f"<span style='color:{WARN_COLOUR}'>⚠ {line}</span>" if e.warn else line)
        total = sum(e.seconds for e in self.estimates if e.seconds is not None)
        if self.warning:
            lines.append(
                f"<span style='color:{WARN_COLOUR}'><b>⚠ A run over "
                f"{LONG_RUN_SECONDS / 60:.0f} minutes</b> (all ticked: ≈ {human_duration(total)}): "
                "consider fewer models or a GPU.</span>"
            )
        self.setText("<br>".join(lines))
        machine = bench_machine(self.bench)
        self.setToolTip(
            "From the bench report (docs/bench.json)"
            + (f", measured on {machine}" if machine else "")
            + ": real-time factor and peak memory, scaled by the file's length; "
            "on a GPU only where the report has a GPU figure. Models the report does not list "
            "are scaled from one of the same kind by parameter count (rough). A chunk length "
            "other than the model's default scales the time by the audio the model computes "
            "(chunks overlap)."
        )
        self.show()
