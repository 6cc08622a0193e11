"""The model panel: every available model with its rate, speakers and size, a tick per model, the
run options, and Separate / Stop. Under the list, one line: how many models are shown and hidden,
and how many model files were skipped (their reasons one click away)."""

from __future__ import annotations

import math
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.jobs.separation import RunSettings
from app.messages import plain_lines
from separation_core.adaptation.budget import DEFAULT_SECONDS, MAX_SECONDS
from separation_core.engine.run_estimate import human_duration

COLUMNS = ["Model", "Rate", "Spk", "Size"]
DEVICES = ["auto", "cpu", "cuda", "mps"]
MODES = [("Model outputs", "model"), ("Conversation", "conversation"), ("Auto", "auto")]
NEEDS_REFERENCES = "needs references: File ▸ Open references…"
UNTRAINED_TIP = "Built-in architectures without trained weights: their output is close to noise"
OPEN_MODEL_TIP = (
    "Add a model: a Cocktail checkpoint (.pt), an Asteroid model (.pth, .ckpt, .bin), torchaudio's "
    "Conv-TasNet (.pt), an ONNX graph (.onnx), or a SpeechBrain folder (its hyperparams.yaml). "
    "Model files and folders can also be dropped on this panel."
)
MODEL_FILE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".onnx")
MIN_ADAPT_SECONDS = 10  # the least budget offered: a few validations' worth
ADAPT_TIP = (
    "Conversation mode: fine-tune a copy of each model for the budget on mixtures of this "
    "recording's own solo stretches (who talks when, as found), then separate the overlaps again "
    "with it. The adapted model is kept as a user model under a new name, with its card, and its "
    "result is shown beside the stock one. Progress shows the held-out figure as it improves; "
    "Stop keeps the best copy so far (Stop again: the stock result only)."
)


def adapt_estimate_text(seconds: float, device: str) -> str:
    """The adaptation's time in words, before it starts (the budget is wall-clock time), on the
    device the run would use."""
    from separation_core.engine.inference import resolve_device
    from separation_core.errors import CocktailError

    try:
        kind = resolve_device(device).type
    except CocktailError:
        kind = device
    where = "on the CPU" if kind == "cpu" else f"on the GPU ({kind})"
    return f"about {human_duration(seconds)} of fine-tuning {where}, then the overlaps again"


def dropped_model_paths(paths: list) -> list[str]:
    """The paths of a drop that name models: model files, and folders (a SpeechBrain folder; the
    catalog says why another folder is not one)."""
    from pathlib import Path

    return [
        str(p)
        for p in map(Path, paths)
        if p.is_dir() or p.suffix.lower() in MODEL_FILE_SUFFIXES or p.name == "hyperparams.yaml"
    ]


def is_untrained_builtin(entry) -> bool:
    """A registry model with random weights (hidden unless asked for; running one asks first)."""
    return entry.origin == "builtin" and not entry.trained


def human_size(n: int) -> str:
    if n <= 0:
        return "—"
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


class ModelPanel(QWidget):
    separate_requested = Signal()
    stop_requested = Signal()
    open_checkpoint_requested = Signal()
    models_dropped = Signal(list)  # paths of model files or folders dropped on the panel
    selection_changed = Signal()
    show_untrained_changed = Signal(bool)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.entries: dict[str, object] = {}
        self.default_chunks: dict[str, float] = {}  # id -> the chunk seconds it runs in unless told
        self.skipped: list[str] = []  # why model files were not listed, one line each
        self.skipped_box: Optional[QMessageBox] = None
        self.has_references = False
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        # A long id is cut in its middle (whole in its tooltip): Rate, Spk and Size stay in view.
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, len(COLUMNS)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemChanged.connect(lambda *_: self.selection_changed.emit())
        self.status = QLabel("Loading models…", self)
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #a0a0a0;")
        self.status.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.status.linkActivated.connect(lambda _link: self.show_skipped())

        options = QGroupBox("Run options", self)
        form = QFormLayout(options)
        form.setContentsMargins(6, 6, 6, 6)
        self.speakers = QSpinBox(options)
        self.speakers.setRange(0, 8)
        self.speakers.setSpecialValueText("model default")
        self.speakers.setToolTip("Number of speakers K for deep clustering / Chimera++ (k-means)")
        self.clustering = QComboBox(options)
        self.clustering.addItems(["kmeans", "meanshift"])
        self.clustering.setToolTip("k-means with K speakers, or mean-shift (finds K from the data)")
        self.binary = QCheckBox("Binary masks", options)
        self.binary.setToolTip(
            "Clustered embeddings: each bin to its nearest speaker, instead of soft masks "
            "from its distances to every speaker's centre"
        )
        self.chunk = QDoubleSpinBox(options)
        self.chunk.setRange(0.0, 600.0)
        self.chunk.setDecimals(1)
        self.chunk.setSingleStep(1.0)
        self.chunk.setSuffix(" s")
        self.chunk.setSpecialValueText("model default")
        self.chunk.setToolTip("Length of the chunks the input is cut into (overlapping, stitched)")
        self.device = QComboBox(options)
        self.device.addItems(DEVICES)
        form.addRow("Speakers", self.speakers)
        form.addRow("Clustering", self.clustering)
        form.addRow("", self.binary)
        form.addRow("Chunk", self.chunk)
        form.addRow("Device", self.device)
        self.denoise = QCheckBox("Denoise first (GTCRN)", options)
        self.denoise.setToolTip(
            "Run the bundled speech enhancer (GTCRN, DNS Challenge 3 weights) on the mixture "
            "first, and the models on its speech: for noisy recordings"
        )
        form.addRow("", self.denoise)
        self.mode = QComboBox(options)
        for label, value in MODES:
            self.mode.addItem(label, value)
        self.mode.setCurrentIndex(self.mode.findData(RunSettings().mode))  # auto, as the CLI
        self.mode.setToolTip(
            "Conversation: one stem per person found, the mixture where one person talks and "
            "the model only where people overlap, with who talks when (corrections in the Meeting "
            "menu). Auto: conversation for recordings of 20 s or more. Model outputs: the "
            "model's own outputs"
        )
        self.people = QLineEdit("auto", options)
        self.people.setToolTip(
            "Conversation mode: how many people: auto (found), a number (3) or a range (2-4)"
        )
        form.addRow("Mode", self.mode)
        form.addRow("People", self.people)
        self.adapt = QCheckBox("Adapt to this recording", options)
        self.adapt.setToolTip(ADAPT_TIP)
        self.adapt_budget = QSpinBox(options)
        self.adapt_budget.setRange(MIN_ADAPT_SECONDS, int(MAX_SECONDS))
        self.adapt_budget.setValue(int(DEFAULT_SECONDS))
        self.adapt_budget.setSingleStep(30)
        self.adapt_budget.setSuffix(" s")
        self.adapt_budget.setToolTip(
            "How long the fine-tuning may run (wall clock, validation included), per model"
        )
        self.adapt_estimate = QLabel(options)
        self.adapt_estimate.setWordWrap(True)
        self.adapt_estimate.setStyleSheet("color: #a0a0a0;")
        form.addRow("", self.adapt)
        form.addRow("Budget", self.adapt_budget)
        form.addRow("", self.adapt_estimate)
        for changed in (
            self.mode.currentIndexChanged,
            self.adapt.toggled,
            self.adapt_budget.valueChanged,
            self.device.currentTextChanged,
        ):
            changed.connect(self._show_adapt_state)
        self._show_adapt_state()

        self.open_button = QPushButton("Open model…", self)
        self.open_button.setToolTip(OPEN_MODEL_TIP)
        self.setAcceptDrops(True)  # model files and SpeechBrain folders dropped here are opened
        self.separate_button = QPushButton("Separate", self)
        self.separate_button.setDefault(True)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.separate_button, 1)
        buttons.addWidget(self.stop_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        hint = QLabel("Tick the models to run. <i>Italic</i>: untrained.", self)
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.show_untrained = QCheckBox("Show untrained architectures", self)
        self.show_untrained.setToolTip(UNTRAINED_TIP)
        self.show_untrained.toggled.connect(self._untrained_toggled)
        layout.addWidget(self.show_untrained)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.open_button)
        layout.addWidget(options)
        layout.addLayout(buttons)
        self.separate_button.clicked.connect(self.separate_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        self.open_button.clicked.connect(self.open_checkpoint_requested)
        self.set_can_run(False)

    # --- drops: model files and folders ---------------------------------------------------------
    def _dropped(self, event) -> list[str]:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        return dropped_model_paths([u.toLocalFile() for u in urls if u.isLocalFile()])

    def dragEnterEvent(self, event) -> None:
        if self._dropped(event):
            event.acceptProposedAction()
        else:
            event.ignore()  # audio files go on to the window (open a mixture)

    def dropEvent(self, event) -> None:
        paths = self._dropped(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.models_dropped.emit(paths)

    # --- models --------------------------------------------------------------------------------
    def set_entries(self, entries: list, checked: tuple = ()) -> None:
        keep = set(checked) | set(self.checked_ids())
        self.tree.blockSignals(True)
        self.tree.clear()
        self.entries = {}
        for e in entries:
            if e.id in self.entries:
                continue
            self.entries[e.id] = e
            self._add_item(e, e.id in keep)
        self.tree.blockSignals(False)
        self._apply_reference_state()
        self._show_count()
        self.selection_changed.emit()

    def add_entry(self, entry, checked: bool = True) -> None:
        if entry.id in self.entries:
            self.set_checked([entry.id] + self.checked_ids())
            return
        self.entries[entry.id] = entry
        self.tree.blockSignals(True)
        self._add_item(entry, checked)
        self.tree.blockSignals(False)
        self._apply_reference_state()
        self._show_count()
        self.selection_changed.emit()

    def set_skipped(self, problems: list) -> None:
        """The model files a listing skipped: ``problems``, one line each ("path: reason")."""
        self.skipped = list(problems)
        self._show_count()

    def count_text(self) -> str:
        """What the list shows and what it hides: "9 models, 12 untrained hidden"."""
        hidden = sum(it.isHidden() for it in self.items())
        text = f"{len(self.entries) - hidden} models"
        return text + (f", {hidden} untrained hidden" if hidden else "")

    def _show_count(self) -> None:
        text = self.count_text()
        n = len(self.skipped)
        if n:
            text += f" · <a href='skipped'>{n} file{'s' if n > 1 else ''} skipped</a>"
        self.status.setText(text)
        self.status.setToolTip(plain_lines(self.skipped)[0] if n else "")

    def show_skipped(self) -> QMessageBox:
        """Why each skipped file was not listed (the libraries' own words under Show Details)."""
        lines, details = plain_lines(self.skipped)
        n = len(self.skipped)
        if self.skipped_box is None:
            self.skipped_box = QMessageBox(
                QMessageBox.Icon.Information, "Skipped model files", "", parent=self
            )
        box = self.skipped_box
        box.setText(f"{n} model file{'s were' if n > 1 else ' was'} not listed:")
        box.setInformativeText(lines)
        box.setDetailedText(details)
        box.open()
        return box

    def _add_item(self, e, checked: bool) -> None:
        rate = f"{e.sample_rate // 1000}k" if e.sample_rate % 1000 == 0 else str(e.sample_rate)
        item = QTreeWidgetItem([e.id, rate, str(e.n_src), human_size(e.num_parameters)])
        if not e.trained:
            font = item.font(0)
            font.setItalic(True)
            item.setFont(0, font)
        item.setData(0, Qt.ItemDataRole.UserRole, e.id)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        tip = [
            e.id,
            f"{e.model_name} ({e.kind}), {e.origin}" + ("" if e.trained else ", untrained weights"),
            "" if e.outputs_are_voices else "Outputs speech and noise (an enhancer)",
            e.description or "",
        ]
        if e.checkpoint:
            tip.append(str(e.checkpoint))
        if e.metrics:
            tip.append(
                ", ".join(
                    f"{k} {v:.2f}" if isinstance(v, (int, float)) else f"{k} {v}"
                    for k, v in list(e.metrics.items())[:4]
                )
            )
        item.setToolTip(0, "\n".join(t for t in tip if t))
        for c in range(1, len(COLUMNS)):
            item.setTextAlignment(c, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.tree.addTopLevelItem(item)
        item.setHidden(is_untrained_builtin(e) and not self.show_untrained.isChecked())

    def items(self):
        return [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]

    def item(self, model_id: str) -> Optional[QTreeWidgetItem]:
        return next(
            (it for it in self.items() if it.data(0, Qt.ItemDataRole.UserRole) == model_id), None
        )

    def checked_ids(self) -> list[str]:
        """The models a run uses: ticked, enabled and shown."""
        return [
            it.data(0, Qt.ItemDataRole.UserRole)
            for it in self.items()
            if it.checkState(0) == Qt.CheckState.Checked
            and not it.isDisabled()
            and not it.isHidden()
        ]

    def ticked_ids(self) -> list[str]:
        """Every ticked model, runnable now or not (what the settings remember)."""
        return [
            it.data(0, Qt.ItemDataRole.UserRole)
            for it in self.items()
            if it.checkState(0) == Qt.CheckState.Checked
        ]

    def set_show_untrained(self, show: bool) -> None:
        self.show_untrained.setChecked(show)

    def _untrained_toggled(self, show: bool) -> None:
        for it in self.items():
            if is_untrained_builtin(self.entries[it.data(0, Qt.ItemDataRole.UserRole)]):
                it.setHidden(not show)
        if self.entries:
            self._show_count()
        self.show_untrained_changed.emit(show)
        self.selection_changed.emit()

    def set_checked(self, ids) -> None:
        ids = set(ids)
        self.tree.blockSignals(True)
        for it in self.items():
            on = it.data(0, Qt.ItemDataRole.UserRole) in ids
            it.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.tree.blockSignals(False)
        self.selection_changed.emit()

    def set_has_references(self, has: bool) -> None:
        self.has_references = has
        self._apply_reference_state()
        self.selection_changed.emit()

    def _apply_reference_state(self) -> None:
        for it in self.items():
            e = self.entries[it.data(0, Qt.ItemDataRole.UserRole)]
            if e.needs_references:
                it.setDisabled(not self.has_references)
                base = it.toolTip(0).split("\n\n")[0]
                it.setToolTip(
                    0, base if self.has_references else f"{base}\n\nIt {NEEDS_REFERENCES}"
                )

    # --- options and state ---------------------------------------------------------------------
    def settings(self) -> RunSettings:
        return RunSettings(
            num_speakers=self.speakers.value() or None,
            clustering=self.clustering.currentText(),
            binary_masks=self.binary.isChecked(),
            chunk_seconds=self.chunk.value() or None,
            device=self.device.currentText(),
            mode=self.mode.currentData(),
            speakers=self.people.text().strip() or "auto",
            denoise=self.denoise.isChecked(),
            adapt_seconds=float(self.adapt_budget.value()) if self.adapts() else None,
        )

    def adapts(self) -> bool:
        """Whether "Adapt to this recording" is ticked, in a mode that can adapt."""
        return self.adapt.isChecked() and self.mode.currentData() != "model"

    def _show_adapt_state(self, *_args) -> None:
        can = self.mode.currentData() != "model"
        self.adapt.setEnabled(can)
        self.adapt.setToolTip(
            ADAPT_TIP if can else "Conversation mode only (Mode: Conversation or Auto)"
        )
        self.adapt_budget.setEnabled(self.adapts())
        adapts = self.adapts()  # the estimate resolves the device (torch): only when shown
        self.adapt_estimate.setText(
            adapt_estimate_text(self.adapt_budget.value(), self.device.currentText())
            if adapts
            else ""
        )
        self.adapt_estimate.setVisible(adapts)

    def set_settings(self, values: dict) -> None:
        self.speakers.setValue(int(values.get("num_speakers") or 0))
        if values.get("clustering") in ("kmeans", "meanshift"):
            self.clustering.setCurrentText(values["clustering"])
        self.binary.setChecked(bool(values.get("binary_masks")))
        self.chunk.setValue(float(values.get("chunk_seconds") or 0.0))
        if values.get("device") in DEVICES:
            self.device.setCurrentText(values["device"])
        modes = [value for _, value in MODES]
        if values.get("mode") in modes:
            self.mode.setCurrentIndex(modes.index(values["mode"]))
        self.people.setText(str(values.get("speakers") or "auto"))
        self.denoise.setChecked(bool(values.get("denoise")))
        adapt = values.get("adapt")
        seconds = adapt.get("seconds") if isinstance(adapt, dict) else None
        usable = (
            isinstance(seconds, (int, float))
            and not isinstance(seconds, bool)
            and math.isfinite(seconds)
            and seconds > 0
        )
        self.adapt.setChecked(usable)
        if usable:
            box = self.adapt_budget
            box.setValue(round(min(max(seconds, box.minimum()), box.maximum())))

    def waiting_for_references(self) -> list[str]:
        """The ticked models that cannot run until the references are open."""
        if self.has_references:
            return []
        return [i for i in self.ticked_ids() if self.entries[i].needs_references]

    def set_can_run(self, can: bool) -> None:
        self.separate_button.setEnabled(can)
        waiting = self.waiting_for_references()
        self.separate_button.setToolTip(
            "Run the ticked models on the mixture (Ctrl+R)"
            + (f"\n{', '.join(waiting)} {NEEDS_REFERENCES}" if waiting else "")
        )

    def set_running(self, running: bool) -> None:
        self.stop_button.setEnabled(running)
