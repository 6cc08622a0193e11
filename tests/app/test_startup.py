"""The GUI package imports no torch before the window is shown (fast launch), app/__init__ imports
no Qt, and the scripted mode: open, run, view, screenshot, exit status."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def python(code: str, *args, env=None, timeout=120):
    full_env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_app_package_imports_no_qt_and_window_imports_no_torch():
    code = (
        "import sys, app; assert 'PySide6' not in sys.modules, 'Qt'\n"
        "import app.main_window, app.main\n"
        "heavy = [m for m in ('torch', 'sklearn', 'separation_core.engine.inference', "
        "'separation_core.checkpoints.catalog') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    r = python(code)
    assert r.returncode == 0, r.stderr


def test_scripted_run_saves_a_screenshot(tmp_path, audio_files):
    mix, refs = audio_files
    shot = tmp_path / "shot.png"
    code = "import sys; from app.main import main; sys.exit(main(sys.argv[1:]))"
    r = python(
        code,
        mix,
        "--refs",
        *refs,
        "--run",
        "ff-mask",
        "--view",
        "masks",
        "--screenshot",
        shot,
        env={"COCKTAIL_SETTINGS_DIR": str(tmp_path / "s"), "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 0, r.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert image.width() >= 800 and image.height() >= 600


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--run", "no-such-model"], "no-such-model"),
        (["--run", "ff-mask", "--refs", "missing.wav"], "missing.wav"),
    ],
)
def test_scripted_failure_prints_one_line_and_exits_nonzero(tmp_path, audio_files, args, needle):
    code = "import sys; from app.main import main; sys.exit(main(sys.argv[1:]))"
    r = python(
        code,
        audio_files[0],
        *args,
        "--screenshot",
        tmp_path / "x.png",
        env={"COCKTAIL_SETTINGS_DIR": str(tmp_path / "s"), "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 2
    errors = [line for line in r.stderr.splitlines() if line.startswith("cocktail: error:")]
    assert len(errors) == 1 and needle in errors[0]
    assert not (tmp_path / "x.png").exists()


def test_help_lists_the_window_options_and_the_subcommands(capsys):
    from app.launcher import main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for needle in ("--refs", "--run", "--screenshot", "--view", "separate", "train", "--version"):
        assert needle in out


def test_run_without_screenshot_keeps_the_window_open_and_runs(
    qtbot, monkeypatch, audio_files, tmp_path
):
    """`cocktail FILE --refs R1 R2 --run MODEL`: the window opens, the models run, it stays open."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app import main as app_main
    from app.main_window import MainWindow

    app = QApplication.instance()
    palette, style_sheet, style = app.palette(), app.styleSheet(), app.style().name()
    seen = {}
    monkeypatch.setattr(
        QMessageBox, "warning", lambda *a, **k: seen.setdefault("errors", []).append(a)
    )
    # closing a user's window with unexported results asks first
    monkeypatch.setattr(
        QMessageBox,
        "question",
        lambda *a, **k: seen.setdefault("asked", True) and QMessageBox.StandardButton.Discard,
    )

    def exec_():  # stands in for the event loop: wait for the run, then look at the window
        # the window main() opened: closed windows of earlier tests may still exist, hidden
        w = next(
            t for t in QApplication.topLevelWidgets() if isinstance(t, MainWindow) and t.isVisible()
        )
        qtbot.waitUntil(lambda: "ff-mask" in w.session.results, timeout=60000)
        seen.update(visible=w.isVisible(), refs=w.session.references is not None)
        w.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", staticmethod(exec_))
    try:
        mix, refs = audio_files
        assert app_main.main([str(mix), "--refs", *map(str, refs), "--run", "ff-mask"]) == 0
    finally:
        app.setStyle(style)  # main() applies the dark theme to the whole application
        app.setPalette(palette)
        app.setStyleSheet(style_sheet)
    assert seen == {"visible": True, "refs": True, "asked": True}


def test_run_needs_a_file(capsys):
    from app.main import main

    with pytest.raises(SystemExit) as e:
        main(["--run", "ff-mask"])
    assert e.value.code == 2 and "--run needs a FILE" in capsys.readouterr().err


def test_the_run_models_are_the_ticked_ones_afterwards(qtbot, monkeypatch, audio_files):
    """Issue 30: `--run A,B` ran both, but only the remembered model stayed ticked, and the estimate
    line spoke of it."""
    from PySide6.QtWidgets import QApplication

    from app import gui_gc
    from app import main as app_main
    from app.main_window import MainWindow
    from app.settings import Settings

    remembered = "chimera-tcn-rooms-16k"
    ran = ["convtasnet-libri-16k", "denoise-wiener"]
    Settings().set_checked_models([remembered])
    seen = {}

    def exec_():
        w = next(
            t for t in QApplication.topLevelWidgets() if isinstance(t, MainWindow) and t.isVisible()
        )
        qtbot.waitUntil(lambda: set(ran) <= set(w.session.results), timeout=60000)
        seen.update(
            ticked=w.panel.checked_ids(),
            estimated=[e.model_id for e in w.estimates.estimates],
            remembered=Settings().checked_models(),
            collectors=len(gui_gc._running),  # main()'s own beside the test session's
        )
        w.quiet = True  # unexported results: no question on closing
        w.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", staticmethod(exec_))
    app = QApplication.instance()
    palette, style_sheet, style = app.palette(), app.styleSheet(), app.style().name()
    try:
        assert app_main.main([str(audio_files[0]), "--run", ",".join(ran)]) == 0
    finally:
        app.setStyle(style)
        app.setPalette(palette)
        app.setStyleSheet(style_sheet)
    assert seen == {"ticked": ran, "estimated": ran, "remembered": ran, "collectors": 2}
    assert len(gui_gc._running) == 1


def test_a_scripted_run_returns_only_after_its_background_jobs_end(audio_files, monkeypatch):
    """A job the window's close could not stop in time (the model list importing torch, on a
    loaded machine) ends before main returns: a pool thread still inside Python when the
    interpreter exits can crash the process (it once exited -11 instead of 2)."""
    import threading

    from app import main as entry
    from app.main_window import MainWindow

    closing, ended = threading.Event(), threading.Event()
    started, close = MainWindow.start_background, MainWindow.closeEvent

    def stubborn(ctx):  # runs on past the window's 2 s wait on close
        closing.wait(60)
        time.sleep(3.0)
        ended.set()

    def with_a_stubborn_job(self):
        started(self)
        self.runner.start(stubborn, quiet=True)

    def close_event(self, event):
        closing.set()
        close(self, event)

    monkeypatch.setattr(MainWindow, "start_background", with_a_stubborn_job)
    monkeypatch.setattr(MainWindow, "closeEvent", close_event)
    mix, _ = audio_files
    args = [
        str(mix),
        "--run",
        "ff-mask",
        "--refs",
        "missing.wav",
        "--screenshot",
        str(mix) + ".png",
    ]
    assert entry.main(args) == 2 and ended.is_set()
    monkeypatch.setattr(entry, "EXIT_WAIT_MS", 0)  # without the wait main returns first
    closing.clear()
    ended.clear()
    assert entry.main(args) == 2 and not ended.is_set()
    assert ended.wait(10)
