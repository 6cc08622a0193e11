"""Opening files: the mixture (asking first when results would be lost), its reference sources, the
recent files menu and drops on the window."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.jobs import frozen_array
from app.jobs.loading import LoadMixtureJob, LoadReferencesJob
from app.runner import JobSlot

AUDIO_FILTER = (
    "Audio (*.wav *.flac *.ogg *.mp3 *.aiff *.aif *.au *.caf *.w64 *.opus);;All files (*)"
)


def recent_label(path: str) -> str:
    """``folder/name`` for the Open recent menu (``&`` kept literal)."""
    p = Path(path)
    label = f"{p.parent.name}/{p.name}" if p.parent.name else p.name
    return label.replace("&", "&&")


class LoadingController(QObject):
    replacing = Signal()  # a new mixture is about to replace the session's: drop its work
    mixture_opened = Signal(object)  # the new mixture (an Audio) is in the session, not yet shown
    mixture_loaded = Signal()  # ... and shown (views, title, recent files)
    references_loaded = Signal()  # the references are in, each result's order against them too

    def __init__(self, w) -> None:
        super().__init__(w)
        self.w = w
        self.load_job = JobSlot(w.runner)
        self.refs_job = JobSlot(w.runner)
        self.refs_after_load: tuple = ()  # references to open once the mixture is in
        self.replacing.connect(self.refs_job.cancel)

    # --- the mixture ---------------------------------------------------------------------------
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.w, "Open a mixture", self.w.settings.last_folder("open"), AUDIO_FILTER
        )
        if path:
            self.ask_open(path)

    def ask_open(self, path, refs=()):
        """Open ``path`` (then ``refs``) as the user asked: first ask before results are lost."""
        if not self.confirm_discard():
            return None
        self.refs_after_load = tuple(refs)
        return self.open_file(path)

    def confirm_discard(self) -> bool:
        """True when no model result would be lost unexported, or the user chose Discard."""
        keys = self.w.session.unexported()
        if not keys:
            return True
        answer = QMessageBox.question(
            self.w,
            "Discard the results?",
            f"The results of {', '.join(keys)} have not been exported and will be lost.",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Discard

    def open_file(self, path):
        path = Path(path).expanduser()
        self.w.settings.set_last_folder("open", path.parent)
        self.w.notify(f"Opening {path.name}…")
        return self.load_job.start(
            LoadMixtureJob(path),
            on_done=lambda audio: self._loaded(audio, path),
            on_error=self.w.job_failed,
        )

    def _loaded(self, audio, path: Path) -> None:
        w = self.w
        self.replacing.emit()  # the work on the previous mixture is dropped
        w.transport.pause()
        w.session.set_mixture(audio, path)
        self.mixture_opened.emit(audio)
        w.panel.set_has_references(False)
        w.settings.add_recent_file(path)
        self.fill_recent()
        w.setWindowTitle(f"{path.name} — Cocktail")
        w.results_changed()
        info = f"{path.name}: {w.session.duration:.2f} s at {audio.sample_rate} Hz"
        if getattr(audio, "channels", 1) > 1:
            info += f", {audio.channels} channels downmixed"
        warnings = list(getattr(audio, "warnings", ()) or ())
        w.notify(info + ("; " + "; ".join(warnings) if warnings else ""), 10000)
        self.mixture_loaded.emit()
        refs, self.refs_after_load = self.refs_after_load, ()
        if refs:
            self.open_references(refs)

    # --- references ----------------------------------------------------------------------------
    def choose_references(self) -> None:
        if not self.w.session.loaded:
            self.w.show_error("Open a mixture first, then its reference sources.")
            return
        settings = self.w.settings
        paths, _ = QFileDialog.getOpenFileNames(
            self.w,
            "Open reference sources (one per speaker)",
            settings.last_folder("refs") or settings.last_folder("open"),
            AUDIO_FILTER,
        )
        if paths:
            self.open_references(paths)

    def open_references(self, paths):
        """Read them and solve each result's speaker order against them, off the GUI thread."""
        s = self.w.session
        if not s.loaded:
            self.w.show_error("Open a mixture first, then its reference sources.")
            return None
        paths = tuple(str(Path(p).expanduser()) for p in paths)
        self.w.settings.set_last_folder("refs", Path(paths[0]).parent)
        records = dict(s.results)
        job = LoadReferencesJob(
            paths,
            s.sample_rate,
            len(s.mixture),
            tuple((k, frozen_array(r.result.waveforms)) for k, r in records.items()),
        )
        return self.refs_job.start(
            job,
            on_done=lambda loaded: self._references(loaded, paths, records),
            on_error=self.w.job_failed,
        )

    def _references(self, loaded, paths: tuple, records: dict) -> None:
        w, s = self.w, self.w.session
        s.set_references(loaded.references, paths)
        token = s.anchor_token()
        for key, order in loaded.orders.items():
            s.set_order(key, order, token, records[key])
        w.panel.set_has_references(True)
        w.notify(f"{loaded.references.shape[0]} reference sources loaded", 5000)
        w.results_changed()
        self.references_loaded.emit()

    # --- recent files and drops ----------------------------------------------------------------
    def fill_recent(self) -> None:
        """The File > Open recent menu from the settings."""
        menu = self.w.recent_menu
        menu.clear()
        files = self.w.settings.recent_files()
        for f in files:
            a = menu.addAction(recent_label(f))
            a.setToolTip(f)
            a.setStatusTip(f)
            a.triggered.connect(lambda _=False, f=f: self.ask_open(f))
        if files:
            menu.addSeparator()
            menu.addAction("Clear", self._clear_recent)
        menu.setEnabled(bool(files))

    def _clear_recent(self) -> None:
        for f in self.w.settings.recent_files():
            self.w.settings.remove_recent_file(f)
        self.fill_recent()

    def drop_plan(self, files: list) -> tuple[str, list]:
        """What a drop does (the rule the Listen view's hint states): with a mixture open, several
        files are its references (the open mixture itself among them is skipped); otherwise the first
        file is opened as the mixture and the others become its references."""
        s = self.w.session
        if s.loaded and len(files) > 1:
            here = s.path.resolve() if s.path else None
            return "references", [f for f in files if Path(f).resolve() != here]
        return "open", list(files)

    def drag_hint(self, files: list) -> str:
        kind, paths = self.drop_plan(files)
        if kind == "references":
            return f"Drop to add {len(paths)} reference sources"
        return f"Drop to open {Path(paths[0]).name}" + (
            f" with {len(paths) - 1} reference sources" if len(paths) > 1 else ""
        )

    def drop(self, files: list) -> None:
        kind, paths = self.drop_plan(files)
        if kind == "references":
            self.open_references(paths)
        else:
            self.ask_open(paths[0], paths[1:])
