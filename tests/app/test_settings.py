"""Settings persist per user, and tests never touch the real user's."""

import os
from pathlib import Path

from app.settings import EXPORT_DEFAULTS, MAX_RECENT, Settings


def test_settings_live_in_the_overridden_folder(isolated_user_dirs):
    s = Settings()
    s.set_device("cpu")
    s.sync()
    folder = Path(os.environ["COCKTAIL_SETTINGS_DIR"])
    assert Path(s.file_name) == folder / "cocktail.ini"
    assert folder.is_relative_to(isolated_user_dirs)
    assert (folder / "cocktail.ini").read_text().count("cpu") == 1


def test_values_persist_across_instances(tmp_path):
    s = Settings(tmp_path / "cfg")
    for i in range(MAX_RECENT + 3):
        f = tmp_path / f"f{i}.wav"
        f.touch()
        s.add_recent_file(f)
    s.add_recent_file(tmp_path / "f5.wav")  # moves to the top, no duplicate
    s.set_last_folder("open", tmp_path)
    s.set_export_options({"format": "flac24", "residual": True, "bogus": 1})
    s.set_run_options({"num_speakers": 3, "clustering": "meanshift"})
    s.sync()
    t = Settings(tmp_path / "cfg")
    recent = t.recent_files()
    assert len(recent) == MAX_RECENT and recent[0] == str((tmp_path / "f5.wav").resolve())
    assert len(set(recent)) == MAX_RECENT
    assert t.last_folder("open") == str(tmp_path)
    assert t.export_options() == {**EXPORT_DEFAULTS, "format": "flac24", "residual": True}
    assert t.run_options() == {"num_speakers": 3, "clustering": "meanshift"}
    assert t.device() == "auto"


def test_window_layout_and_run_options_persist(qtbot):
    from app.main_window import MainWindow

    w = MainWindow(Settings(), quiet=True)
    qtbot.addWidget(w)
    w.show()
    w.resize(1000, 700)
    w.panel.device.setCurrentText("cpu")
    w.panel.chunk.setValue(4.0)
    w.close()
    again = MainWindow(Settings(), quiet=True)
    qtbot.addWidget(again)
    assert again.panel.device.currentText() == "cpu" and again.panel.chunk.value() == 4.0
    geometry, state = Settings().window()
    assert geometry is not None and state is not None


def test_ticked_models_and_untrained_toggle_persist(tmp_path):
    s = Settings(tmp_path / "cfg")
    assert s.checked_models() is None and s.show_untrained() is False
    s.set_checked_models(["convtasnet-libri-16k", "oracle-irm"])
    s.set_show_untrained(True)
    s.sync()
    t = Settings(tmp_path / "cfg")
    assert (
        t.checked_models() == ["convtasnet-libri-16k", "oracle-irm"] and t.show_untrained() is True
    )
