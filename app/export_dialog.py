"""Export stems: format, sample rate, file-name template, residual, sidecar; asks before overwriting
and shows errors (a read-only folder, ...) without closing, so nothing is lost."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.jobs import frozen_array
from app.jobs.export import ExportItem, ExportJob, evaluation_dict, with_turns_only

FORMATS = [
    ("wav16", "WAV 16-bit", ".wav", "PCM_16"),
    ("wav24", "WAV 24-bit", ".wav", "PCM_24"),
    ("wavf", "WAV 32-bit float", ".wav", "FLOAT"),
    ("flac16", "FLAC 16-bit", ".flac", "PCM_16"),
    ("flac24", "FLAC 24-bit", ".flac", "PCM_24"),
]
EXPORT_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)


def default_export_folder(settings) -> str:
    """The last export folder, else Documents/Cocktail (made when the export writes to it)."""
    from PySide6.QtCore import QStandardPaths

    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return settings.last_folder("export") or str(Path(docs or Path.home()) / "Cocktail")


class ExportDialog(QDialog):
    """Runs the export on the window's job runner, in the window's export slot (a new mixture drops
    it), with the dialog's own callbacks."""

    def __init__(self, window, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent or window)
        self.window_ = window
        self.session = window.session
        self.settings = window.settings
        self.setWindowTitle("Export stems")
        self.setMinimumWidth(520)
        opts = self.settings.export_options()

        self.folder = QLineEdit(self)
        self.folder.setText(default_export_folder(self.settings))
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self.format = QComboBox(self)
        for key, label, _, _ in FORMATS:
            self.format.addItem(label, key)
        self.format.setCurrentIndex(max(0, self.format.findData(opts["format"])))
        self.rate = QComboBox(self)
        self.rate.addItem(f"original ({self.session.sample_rate} Hz)", "original")
        self.rate.addItem("the model's rate", "model")
        for rate in EXPORT_RATES:
            if rate != self.session.sample_rate:
                self.rate.addItem(f"{rate} Hz", rate)
        self.rate.setCurrentIndex(max(0, self.rate.findData(opts["rate"])))
        self.template = QLineEdit(opts["template"], self)
        self.template.setToolTip("Fields: {stem} (input name), {index} (1, 2, ...), {model}")
        self.residual = QCheckBox("Residual track (mixture minus the sum of the sources)", self)
        self.residual.setChecked(bool(opts["residual"]))
        self.sidecar = QCheckBox(
            "JSON sidecar (input hash, model, options, versions, metrics)", self
        )
        self.sidecar.setChecked(bool(opts["sidecar"]))
        self.results = QListWidget(self)
        self.results.setMaximumHeight(110)
        for key in self.session.results:
            item = QListWidgetItem(key, self.results)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if key == self.session.selected else Qt.CheckState.Unchecked
            )
        self.preview = QLabel("", self)
        self.preview.setWordWrap(True)
        self.preview.setStyleSheet("color: #a0a0a0;")
        self.status = QLabel("", self)
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Folder", folder_row)
        form.addRow("Format", self.format)
        form.addRow("Sample rate", self.rate)
        form.addRow("File names", self.template)
        form.addRow("Results", self.results)
        self.buttons = QDialogButtonBox(self)
        self.export_button = self.buttons.addButton(
            "Export", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.accepted.connect(self.export)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.residual)
        layout.addWidget(self.sidecar)
        layout.addWidget(self.preview)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        for w in (self.template, self.folder):
            w.textChanged.connect(self._update_preview)
        self.format.currentIndexChanged.connect(self._update_preview)
        self.results.itemChanged.connect(self._update_preview)
        self.residual.toggled.connect(self._update_preview)
        self.job = None  # the running export's app.runner.JobHandle
        self.written: list[Path] = []
        self.error: str = ""
        self._update_preview()

    # --- plan ----------------------------------------------------------------------------------
    def options(self) -> dict:
        return {
            "format": self.format.currentData(),
            "rate": self.rate.currentData(),
            "template": self.template.text(),
            "residual": self.residual.isChecked(),
            "sidecar": self.sidecar.isChecked(),
        }

    def chosen_keys(self) -> list[str]:
        return [
            self.results.item(i).text()
            for i in range(self.results.count())
            if self.results.item(i).checkState() == Qt.CheckState.Checked
        ]

    def _format(self) -> tuple[str, str]:
        _, _, ext, subtype = FORMATS[self.format.currentIndex()]
        return ext, subtype

    def items(self) -> list[ExportItem]:
        """One item per chosen result, each with its planned files (see ``plan``)."""
        s = self.session
        out = []
        for key, (request, target) in zip(self.chosen_keys(), self._planned()):
            rec = s.results[key]
            out.append(
                ExportItem(
                    result=rec.result,
                    entry=rec.entry,
                    input_stem=request.input_stem,
                    options=dict(rec.options),
                    metrics=evaluation_dict(rec.evaluation),
                    timings=dict(rec.result.timings),
                    sample_rate=self._rate_for(rec),
                    target=target,
                    corrections=tuple(rec.meeting.corrections()) if rec.meeting else (),
                    adaptation=rec.adaptation,
                )
            )
        return out

    def _rate_for(self, record) -> Optional[int]:
        """The chosen output rate (None: the input's)."""
        rate = self.rate.currentData()
        return (
            record.entry.sample_rate if rate == "model" else rate if isinstance(rate, int) else None
        )

    def plan(self) -> list:
        """The core's export plan (one ExportTarget per chosen result); two results that would
        write the same file raise AudioSaveError naming both."""
        return [target for _, target in self._planned()]

    def _planned(self) -> list:
        """``(ExportRequest, ExportTarget)`` per chosen result, from the core's planner."""
        from separation_core.io.export_plan import plan_exports, result_requests

        s = self.session
        ext, _ = self._format()
        requests = result_requests(
            s.path.stem if s.path else "mixture",
            [
                (key, s.results[key].result.n_src, s.results[key].entry.id)
                for key in self.chosen_keys()
            ],
        )
        targets = plan_exports(
            requests,
            Path(self.folder.text()).expanduser(),
            template=self.template.text(),
            extension=ext,
            residual=self.residual.isChecked(),
            sidecar=self.sidecar.isChecked(),
            rttm=True,
            collision_hint="put {stem} or {model} in the file names",
        )
        targets = with_turns_only(targets, [s.results[key].result for key in self.chosen_keys()])
        return list(zip(requests, targets))

    def planned_paths(self) -> list[Path]:
        """Every file the export would write (stems, residual, sidecar)."""
        return [path for target in self.plan() for path in target.paths]

    def _update_preview(self, *_args) -> None:
        try:
            paths = self.planned_paths()
        except Exception as e:  # AudioSaveError from a bad template
            self.preview.setText(str(e))
            self.export_button.setEnabled(False)
            return
        self.export_button.setEnabled(bool(paths))
        names = ", ".join(p.name for p in paths[:6]) + (" …" if len(paths) > 6 else "")
        self.preview.setText(f"Will write: {names}" if paths else "Tick at least one result.")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    # --- run -----------------------------------------------------------------------------------
    def confirm_overwrite(self, existing: list[Path]) -> bool:
        names = "\n".join(str(p) for p in existing[:8]) + ("\n…" if len(existing) > 8 else "")
        answer = QMessageBox.question(
            self,
            "Overwrite files?",
            f"{len(existing)} file(s) already exist:\n{names}\n\nOverwrite them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def export(self) -> None:
        from separation_core.io.export_plan import existing_outputs

        try:
            existing = existing_outputs(self.plan())
        except Exception as e:
            self._show_error(str(e))
            return
        overwrite = False
        if existing:
            if not self.confirm_overwrite(existing):
                self.status.setText("Nothing written: the files exist and were kept.")
                return
            overwrite = True
        ext, subtype = self._format()
        s = self.session
        job = ExportJob(
            items=tuple(self.items()),
            out_dir=Path(self.folder.text()).expanduser(),
            template=self.template.text(),
            subtype=subtype,
            extension=ext,
            residual_of=frozen_array(s.mixture) if self.residual.isChecked() else None,
            overwrite=overwrite,
            sidecar=self.sidecar.isChecked(),
            input_path=s.path,
            references=s.reference_paths,
        )
        self.settings.set_export_options(self.options())
        self.settings.set_last_folder("export", self.folder.text())
        self.error, self.written = "", []
        self.status.setText("Exporting…")
        self.export_button.setEnabled(False)
        self.job = self.window_.exports.job.start(
            job,
            on_publish=lambda key: s.mark_exported([key]),
            on_done=self._done,
            on_error=self._failed,
        )

    def _done(self, value) -> None:
        self.written = list(value)
        self.export_button.setEnabled(True)
        self.status.setText(f"Wrote {len(self.written)} file(s) to {self.folder.text()}")
        self.window_.statusBar().showMessage(f"Exported {len(self.written)} file(s)", 5000)

    def _failed(self, message: str, details: str) -> None:
        self.export_button.setEnabled(True)
        self._show_error(message)

    def _show_error(self, message: str) -> None:
        self.error = message
        self.status.setText(f"<span style='color:#ff6b6b'>Export failed: {message}</span>")
        if not self.window_.quiet:
            QMessageBox.warning(self, "Export failed", message)
