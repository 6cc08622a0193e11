"""Export: the dialog (it runs its jobs in ``job`` with its own callbacks, see app.export_dialog)."""

from __future__ import annotations

from app.runner import JobSlot


class ExportController:
    def __init__(self, w) -> None:
        self.w = w
        self.job = JobSlot(w.runner)  # the dialog's export

    def drop(self) -> None:
        """A new mixture replaces the session's: its export stops."""
        self.job.cancel()

    def show(self) -> None:
        if not self.w.session.results:
            self.w.show_error("Nothing to export yet: run a model first.")
            return
        self.dialog().exec()

    def dialog(self):
        """The export dialog for the current session (not yet shown)."""
        from app.export_dialog import ExportDialog

        return ExportDialog(self.w)
