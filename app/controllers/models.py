"""The models: the catalog listed in the background, checkpoints the user adds, the ticked models
remembered, the untrained architectures shown or hidden."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from app.jobs.catalog import CatalogJob, ResolveModelJob
from app.model_panel import is_untrained_builtin
from app.runner import JobHandle, JobSlot

# Cocktail .pt, Asteroid serialize() files (.pth, .ckpt, a hub's pytorch_model.bin), ONNX graphs.
# SpeechBrain folders are opened by their hyperparams.yaml (or dropped on the model panel).
MODEL_FILTER = "Models (*.pt *.pth *.ckpt *.bin *.onnx hyperparams.yaml);;All files (*)"


def _model_path(path) -> Path:
    """The model a chosen path names: a SpeechBrain folder for its ``hyperparams.yaml``."""
    path = Path(path)
    return path.parent if path.name == "hyperparams.yaml" else path


class ModelsController(QObject):
    listed = Signal(object)  # the catalog is listed; the default model's id (None: none)

    def __init__(self, w) -> None:
        super().__init__(w)
        self.w = w
        self.ready = False  # the catalog is listed
        self.default_id: Optional[str] = None  # the bundled default, once the models are listed
        self.extra_checkpoints: list[str] = []
        self.catalog_job = JobSlot(w.runner)
        self.checkpoint_job = JobSlot(w.runner)
        w.panel.selection_changed.connect(self._remember_ticks)
        w.panel.show_untrained_changed.connect(self.set_show_untrained)
        w.panel.open_checkpoint_requested.connect(self.choose_checkpoint)
        w.panel.models_dropped.connect(self.open_models)

    def refresh(self) -> None:
        self.w.panel.status.setText("Loading models…")
        self.catalog_job.start(
            CatalogJob(tuple(self.extra_checkpoints)),
            quiet=True,
            on_done=self._listed,
            on_error=self._not_listed,
        )

    def _not_listed(self, message: str, details: str) -> None:
        self.w.panel.status.setText(f"Cannot list models: {message}")
        self.w.job_failed(message, details)

    def _listed(self, value) -> None:
        entries, problems, chunks = value
        panel, first = self.w.panel, not self.ready
        panel.default_chunks.update(chunks)
        panel.set_entries(entries)
        self.default_id = self._default_id()
        remembered = [i for i in (self.w.settings.checked_models() or []) if i in panel.entries]
        if first and remembered:
            panel.set_checked(remembered)
        if not panel.checked_ids() and self.default_id in panel.entries:
            panel.set_checked([self.default_id])
        panel.set_skipped(problems)
        self.ready = True
        self.listed.emit(self.default_id)

    def _default_id(self) -> Optional[str]:
        """The bundled default model, else the first listed model that needs no references."""
        entries = self.w.panel.entries
        try:
            from separation_core.checkpoints.catalog import default_model_id

            default = default_model_id()
        except Exception:  # no bundled default
            default = None
        if default in entries:
            return default
        usable = [i for i, e in entries.items() if not e.needs_references]
        return next(
            (i for i in usable if not is_untrained_builtin(entries[i])),
            usable[0] if usable else None,
        )

    def _remember_ticks(self) -> None:
        if self.ready:
            self.w.settings.set_checked_models(self.w.panel.ticked_ids())

    def choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.w,
            "Open a model checkpoint",
            self.w.settings.last_folder("checkpoint"),
            MODEL_FILTER,
        )
        if path:
            self.open_checkpoint(path)

    def open_models(self, paths: list) -> None:
        """Model files and folders dropped on the panel, opened one after the other (each its own
        job, so that one bad file does not hold back the rest)."""
        for path in paths:
            self.w.runner.submit(
                JobHandle(
                    ResolveModelJob(str(_model_path(path))),
                    quiet=True,
                    on_done=self._added,
                    on_error=self.w.job_failed,
                )
            )

    def open_checkpoint(self, path):
        path = _model_path(path)
        self.w.settings.set_last_folder("checkpoint", Path(path).parent)
        return self.checkpoint_job.start(
            ResolveModelJob(str(path)), quiet=True, on_done=self._added, on_error=self.w.job_failed
        )

    def _added(self, value) -> None:
        entry, chunk = value
        self.w.panel.default_chunks[entry.id] = chunk
        if entry.checkpoint and str(entry.checkpoint) not in self.extra_checkpoints:
            self.extra_checkpoints.append(str(entry.checkpoint))
        self.w.panel.add_entry(entry, checked=True)
        self.w.notify(f"Added model {entry.id}", 5000)

    def set_show_untrained(self, show: bool) -> None:
        """The panel's toggle and Run ▸ Show untrained architectures, kept in step and remembered."""
        self.w.panel.set_show_untrained(show)
        self.w.act_untrained.setChecked(show)
        self.w.settings.set_show_untrained(show)
