"""Before a run: the expected time and memory of each ticked model on the open file, with the chunk
length of the run options, under the model list (see ``separation_core.engine.run_estimate``), with
a warning when a run would take over ten minutes. A run in conversation mode (the run options' Mode)
is estimated whole: voice activity, overlaps, the separator on the expected share of overlap and
speaker embeddings. With "Adapt to this recording" ticked, a line adds the adaptation's budget."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.model_panel import adapt_estimate_text
from separation_core.commands.separate import DENOISER
from separation_core.engine.run_estimate import (
    CONVERSATION_READ_SHARE,
    DEFAULT_CHUNK_SECONDS,
    LONG_RUN_SECONDS,
    bench_machine,
    estimate_conversation,
    estimate_run,
    human_duration,
    load_bench,
    with_denoiser,
)
from separation_core.errors import CocktailError

WARN_COLOUR = "#e0a030"


def adapt_line(seconds: float, device: str, models: int) -> str:
    """The run estimate's line for "Adapt to this recording": the budget, per conversation model."""
    if not models:
        return "Adapt to this recording: conversation mode only, so not on this run."
    which = "it" if models == 1 else f"each of the {models} models"
    return f"Then adapting {which} to this recording: {adapt_estimate_text(seconds, device)}."


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
        panel.mode.currentIndexChanged.connect(self.refresh)
        panel.denoise.toggled.connect(self.refresh)
        panel.adapt.toggled.connect(self.refresh)
        panel.adapt_budget.valueChanged.connect(self.refresh)
        self.hide()

    @property
    def warning(self) -> bool:
        return any(e.warn for e in self.estimates)

    def refresh(self, *_args) -> None:
        seconds = float(self.duration() or 0.0)
        panel = self.panel
        run = panel.settings()
        self.estimates = (
            [self._estimate(i, seconds, run) for i in panel.checked_ids() if i in panel.entries]
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
        if any(e.conversation for e in self.estimates):
            lines.append(
                "Conversation mode: the whole pipeline (voice activity, overlapped speech, the "
                f"separator on an expected {CONVERSATION_READ_SHARE:.0%} of the audio, speaker "
                "embeddings)."
            )
        if run.adapt_seconds is not None:
            adapted = sum(e.conversation for e in self.estimates)
            total += adapted * run.adapt_seconds
            lines.append(html.escape(adapt_line(run.adapt_seconds, run.device, adapted)))
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
            "(chunks overlap). Conversation mode: the separator's figure on the share of the "
            "recording it is expected to read, plus the other stages' measured speed on the CPU."
        )
        self.show()

    def _estimate(self, model_id: str, seconds: float, run):
        """One ticked model's estimate: the whole conversation pipeline where the run options
        make its run a conversation (as the separation job decides), after the denoiser where
        the run options denoise first."""
        panel = self.panel
        entry = panel.entries[model_id]
        options = dict(
            device=run.device,
            known=panel.entries,
            chunk_seconds=run.chunk_seconds,
            default_chunk_seconds=panel.default_chunks.get(model_id, DEFAULT_CHUNK_SECONDS),
        )
        try:
            conversation = run.conversation_for(entry, seconds)
        except CocktailError:  # a model that cannot serve: the run says so, not the estimate
            conversation = False
        if conversation:
            estimate = estimate_conversation(entry, seconds, self.bench, **options)
        else:
            estimate = estimate_run(entry, seconds, self.bench, **options)
        denoiser = panel.entries.get(DENOISER) if run.denoise else None
        if denoiser is None:
            return estimate
        return with_denoiser(
            estimate, denoiser, seconds, self.bench, device=run.device, known=panel.entries
        )
