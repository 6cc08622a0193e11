"""Fixtures for the app tests: offscreen Qt, settings and models folders in tmp dirs, small
synthetic signals and files, a window with a fake audio output."""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

SR = 16000


@pytest.fixture(scope="session", autouse=True)
def gui_thread_collector(qapp):
    """Garbage collected on the GUI thread only, as in the program (``app.gui_gc``): a closed
    window of an earlier test, collected on a job's pool thread, may crash Qt (the likely cause of
    one segfault of the whole suite, in test_startup while two jobs ran)."""
    from app.gui_gc import GuiThreadCollector

    collector = GuiThreadCollector()
    yield collector
    collector.stop()


@pytest.fixture(autouse=True)
def collect_after_each_test(gui_thread_collector):
    yield
    gui_thread_collector.check()


@pytest.fixture(autouse=True)
def no_unexpected_questions(monkeypatch):
    """A question box that a test did not patch would wait forever for a click: fail at once instead."""
    from PySide6.QtWidgets import QMessageBox

    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected question dialog: {args[1:3]}")

    monkeypatch.setattr(QMessageBox, "question", refuse)


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path, monkeypatch):
    """Tests never touch the real user's settings or models folder."""
    monkeypatch.setenv("COCKTAIL_SETTINGS_DIR", str(tmp_path / "settings"))
    monkeypatch.setenv("COCKTAIL_MODELS_DIR", str(tmp_path / "user-models"))
    return tmp_path


def synthetic_sources(seconds: float = 1.5, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Two 'voices' [2, T]: harmonic tones at different pitches with syllable-like envelopes."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    out = []
    for f0, rate in ((140.0, 3.0), (230.0, 4.5)):
        voice = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k for k in range(1, 8))
        env = np.clip(np.sin(2 * np.pi * rate * t + rng.uniform(0, 6.28)), 0, None) ** 2
        out.append(0.2 * voice * env)
    return np.asarray(out, dtype=np.float32)


@pytest.fixture
def sources() -> np.ndarray:
    return synthetic_sources()


@pytest.fixture
def audio_files(tmp_path, sources):
    """(mixture path, [reference paths]) as 16-bit WAV files."""
    folder = tmp_path / "audio"
    folder.mkdir()
    mix = folder / "mix.wav"
    sf.write(mix, sources.sum(0), SR, subtype="FLOAT")
    refs = []
    for i, s in enumerate(sources):
        p = folder / f"ref{i + 1}.wav"
        sf.write(p, s, SR, subtype="FLOAT")
        refs.append(p)
    return mix, refs


class FakePlayer:
    """Stands in for the sound card: ``pull(n)`` renders what would be heard."""

    def __init__(self, mixer) -> None:
        self.mixer = mixer
        self.playing = False
        self.unavailable_reason = ""
        self.heard: list[np.ndarray] = []

    available = True

    @property
    def is_playing(self) -> bool:
        return self.playing

    def play(self) -> bool:
        self.playing = True
        return True

    def pause(self) -> None:
        self.playing = False

    def toggle(self) -> bool:
        self.playing = not self.playing
        return self.playing

    def close(self) -> None:
        self.playing = False

    def pull(self, n: int) -> np.ndarray:
        block = self.mixer.render(n)
        self.heard.append(block)
        return block


@pytest.fixture
def window(qtbot):
    """A shown main window (quiet: errors are collected, not shown in dialogs), models listed."""
    from app.main_window import MainWindow
    from app.settings import Settings
    from app.views.style import setup_pyqtgraph

    setup_pyqtgraph()
    # Collect the earlier tests' Qt objects now: a collection that starts inside a Qt disconnect
    # while the window is built can deadlock in PySide6 (seen once in the whole suite).
    gc.collect()
    w = MainWindow(Settings(), quiet=True, player_factory=FakePlayer)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    w.start_background()
    qtbot.waitUntil(lambda: w.models.ready, timeout=60000)
    yield w
    w.runner.cancel_all()
    w.runner.wait(10000)


def open_mixture(qtbot, w, path, refs=None):
    w.open_file(path)
    qtbot.waitUntil(lambda: w.session.loaded and not w.files.load_job.busy, timeout=20000)
    if refs:
        w.open_references(refs)
        qtbot.waitUntil(lambda: w.session.references is not None, timeout=20000)
        qtbot.waitUntil(
            lambda: not w.separation.oracle_job.busy and not w.scoring.job.busy, timeout=60000
        )


def run_models(qtbot, w, models, timeout=60000):
    outcomes = []
    w.run_finished.connect(outcomes.append)
    w.separate(list(models))
    qtbot.waitUntil(lambda: bool(outcomes), timeout=timeout)
    w.run_finished.disconnect(outcomes.append)
    return outcomes[0]
