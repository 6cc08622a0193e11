"""Entry point of the desktop program: ``cocktail [FILE] [--refs R1 R2 ...] [--run MODEL[,MODEL...]]
[--view listen|masks|embeddings|metrics] [--screenshot OUT.png] [--show-chunks] [--chunk-seconds S]
[--tick MODEL[,MODEL...]] [--abx-dialog]``.

With ``--screenshot`` it runs a script: open FILE (and the references), run the ``--run`` models
through the same worker a click uses, wait, switch to the view, save a screenshot of the main window
and exit 0; on failure it prints one line ``cocktail: error: ...`` and exits 2. Without
``--screenshot`` the window opens and stays, and ``--run`` starts the models once FILE is loaded.
The ``--run`` models are the ticked ones afterwards (``--tick`` ticks others for a screenshot).
Torch is imported only after the window is on screen (by the first background job).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from app.view_registry import names as view_names  # Qt-free
from separation_core.cli import (  # light: argparse only, the commands load on use
    COMMANDS,
    EXIT_STATUS,
)

log = logging.getLogger(__name__)

EPILOG = (
    "Without --screenshot the window opens and stays open (--run starts the models once FILE "
    "is loaded). With --screenshot the run is scripted and headless-friendly: it exits 0, or "
    "prints 'cocktail: error: ...' and exits 2. "
    "Headless subcommands (no window): "
    + ", ".join(COMMANDS)
    + ". 'cocktail COMMAND --help' describes each; 'cocktail --version' prints the version. "
    + EXIT_STATUS
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cocktail", description="Cocktail: speech source separation studio", epilog=EPILOG
    )
    p.add_argument("file", nargs="?", help="a mixture to open")
    p.add_argument(
        "--refs", nargs="+", metavar="REF", help="reference sources, one file per speaker"
    )
    p.add_argument(
        "--run",
        metavar="MODEL[,MODEL...]",
        help="run these models (ids, registry names or .pt paths) on FILE",
    )
    p.add_argument("--view", choices=view_names(), default=None, help="the view to show")
    p.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="script: open FILE, do --run, save a screenshot of the window and exit",
    )
    p.add_argument(
        "--export-dialog",
        action="store_true",
        help="with --screenshot: open the export dialog and save a screenshot of it",
    )
    p.add_argument(
        "--abx-dialog",
        action="store_true",
        help="with --screenshot: open the blind A/B/X dialog on the first two results, start "
        "a test and save a screenshot of it",
    )
    p.add_argument(
        "--show-chunks",
        action="store_true",
        help="with --screenshot: show the chunks the engine used (View > Show chunks)",
    )
    p.add_argument(
        "--chunk-seconds",
        type=float,
        metavar="S",
        help="with --screenshot: the run option 'chunk length' for --run",
    )
    p.add_argument(
        "--tick",
        metavar="MODEL[,MODEL...]",
        help="with --screenshot: tick these models in the model panel (their estimates show)",
    )
    p.add_argument(
        "--mode",
        choices=("model", "conversation", "auto"),
        help="the run option 'mode' for --run: the model's outputs, one stem per person "
        "(conversation), or conversation for recordings of 20 s or more (auto)",
    )
    p.add_argument(
        "--speakers",
        metavar="N|MIN-MAX|auto",
        help="the run option 'people' for --run in conversation mode",
    )
    p.add_argument("--timeout", type=float, default=900.0, help="seconds before a script gives up")
    return p


class ScriptError(Exception):
    pass


class Script:
    """Drives the window like a user would, waiting on its signals with a nested event loop."""

    def __init__(self, app, window, args) -> None:
        self.app, self.window, self.args = app, window, args
        self.deadline = time.monotonic() + args.timeout
        self.rc = 0

    def wait_for(self, done: Callable[[], bool], what: str) -> None:
        from PySide6.QtCore import QEventLoop

        while not done():
            if self.window.errors:
                raise ScriptError(self.window.errors[0].splitlines()[0])
            if time.monotonic() > self.deadline:
                raise ScriptError(f"timed out waiting for {what}")
            self.app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.005)

    @staticmethod
    def idle(*jobs) -> Callable[[], bool]:
        """True once none of ``jobs`` (app.runner.JobSlot) runs."""
        return lambda: not any(job.busy for job in jobs)

    def run(self) -> int:
        w, a = self.window, self.args
        try:
            if not a.file:
                raise ScriptError("a script (--run / --screenshot) needs a FILE to open")
            if not Path(a.file).exists():
                raise ScriptError(f"{a.file}: no such file")
            w.open_file(a.file)
            self.wait_for(lambda: w.session.loaded and self.idle(w.files.load_job)(), "the mixture")
            if a.refs:
                w.open_references(a.refs)
                self.wait_for(lambda: w.session.references is not None, "the references")
            self.wait_for(lambda: w.models.ready, "the model list")
            if a.tick or a.run:
                tick_models(w, run_specs(a.tick or a.run))
            if a.chunk_seconds:
                w.panel.chunk.setValue(a.chunk_seconds)
            if a.mode:
                w.panel.mode.setCurrentIndex(w.panel.mode.findData(a.mode))
            if a.speakers:
                w.panel.people.setText(a.speakers)
            if a.run:
                w.separate(run_specs(a.run))
                self.wait_for(self.idle(w.separation.run_job), "the separation")
                if w.separation.failures:
                    f = w.separation.failures[0]
                    raise ScriptError(f"{f.spec}: {f.message}")
            self.wait_for(
                self.idle(
                    w.separation.run_job,
                    w.separation.oracle_job,
                    w.scoring.job,
                    w.files.refs_job,
                    w.quality.job,
                ),
                "background work",
            )
            if a.view:
                w.set_view(a.view)
            if a.show_chunks and not w.act_chunks.isChecked():
                w.act_chunks.trigger()
            w.errors.clear()
            self.settle(0.4)
            if a.screenshot:
                out = Path(a.screenshot).expanduser()
                out.parent.mkdir(parents=True, exist_ok=True)
                shown = w
                if a.export_dialog:
                    shown = w.export_dialog()
                    shown.show()
                    self.settle(0.3)
                elif a.abx_dialog:
                    shown = w.abx_dialog()
                    shown.show()
                    shown.start()
                    shown.answer("A")
                    self.settle(0.3)
                if not shown.grab().save(str(out)):
                    raise ScriptError(f"{out}: cannot write the screenshot")
        except ScriptError as e:
            print(f"cocktail: error: {e}", file=sys.stderr)
            self.rc = 2
        return self.rc

    def settle(self, seconds: float) -> None:
        """Let debounced redraws happen."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.01)


def run_specs(text: Optional[str]) -> list[str]:
    return [m.strip() for m in (text or "").split(",") if m.strip()]


def tick_models(window, specs) -> None:
    """Tick the models of ``specs`` that the panel lists (untrained ones shown), and only those: the
    panel, its estimates and the remembered ticks then speak of the models that run."""
    from app.model_panel import is_untrained_builtin

    panel = window.panel
    listed = [s for s in specs if s in panel.entries]
    if not listed:
        return
    if any(is_untrained_builtin(panel.entries[i]) for i in listed):
        window.models.set_show_untrained(True)
    panel.set_checked(listed)


def start_interactive(window, args) -> None:
    """The window stays: open FILE (with its references), switch to the view, and with ``--run``
    start the models once the mixture, its references and the model list are in."""
    from PySide6.QtCore import QTimer

    if not args.file:
        return
    window.files.refs_after_load = tuple(args.refs or ())
    QTimer.singleShot(0, lambda: window.open_file(args.file))
    if args.view:
        QTimer.singleShot(0, lambda: window.set_view(args.view))
    specs = run_specs(args.run)
    if not specs:
        return
    signals = (window.mixture_loaded, window.references_loaded, window.models_loaded)

    def ready() -> None:
        s = window.session
        if not (s.loaded and window.models.ready) or (args.refs and s.references is None):
            return
        for signal in signals:
            signal.disconnect(ready)
        tick_models(window, specs)
        window.separate(specs)

    for signal in signals:
        signal.connect(ready)


def main(argv: Optional[list] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.run and not args.file:
        parser.error("--run needs a FILE to open")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from PySide6.QtWidgets import QApplication

    from app.theme import apply_dark_theme
    from app.views.style import setup_pyqtgraph

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "cocktail"])
    app.setApplicationName("Cocktail")
    app.setOrganizationName("Cocktail")
    app.setDesktopFileName("cocktail")  # matches packaging/cocktail.desktop
    from PySide6.QtGui import QIcon

    from separation_core.io.paths import app_icon_path

    if (icon := app_icon_path()) is not None:
        app.setWindowIcon(QIcon(str(icon)))
    setup_pyqtgraph()
    apply_dark_theme(app)
    from app.gui_gc import GuiThreadCollector

    collector = GuiThreadCollector()
    try:
        return _run_window(app, args)
    finally:
        collector.stop()  # the closed window is collected here, on this thread


def _run_window(app, args) -> int:
    from PySide6.QtCore import QTimer

    from app.main_window import MainWindow

    scripted = bool(args.screenshot)
    window = MainWindow(quiet=scripted)
    window.show()
    if scripted:
        app.processEvents()
        window.start_background()
        rc = Script(app, window, args).run()
        window.close()
    else:
        QTimer.singleShot(0, window.start_background)
        start_interactive(window, args)
        rc = app.exec()
    _let_jobs_end(window)
    return rc


EXIT_WAIT_MS = 60000


def _let_jobs_end(window) -> None:
    """After the window closed (its jobs cancelled, silenced and waited for briefly): wait for
    any job still on a pool thread, such as the model list importing torch, before the interpreter
    ends; a thread still inside Python when the process exits can crash it."""
    if not window.runner.wait(EXIT_WAIT_MS):
        log.warning("a background job did not end within %d s of closing", EXIT_WAIT_MS // 1000)


if __name__ == "__main__":
    sys.exit(main())
