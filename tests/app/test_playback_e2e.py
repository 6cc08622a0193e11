"""Playback end to end through sounddevice, PortAudio and ALSA: an ALSA "file" device captures what
the program plays (see /work/shared/testing/asoundrc-capture); it must be the soloed source.

PortAudio reads the ALSA configuration when it starts, so the program runs in a subprocess whose
HOME holds the .asoundrc."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
ASOUNDRC = ROOT.parent / "shared" / "testing" / "asoundrc-capture"


def _portaudio_missing() -> bool:
    try:
        import sounddevice  # noqa: F401
    except OSError:
        return True
    return False


pytestmark = [
    pytest.mark.skipif(not ASOUNDRC.exists(), reason="no ALSA capture config in ../shared/testing"),
    pytest.mark.skipif(sys.platform != "linux", reason="the capture device is an ALSA plugin"),
    pytest.mark.skipif(_portaudio_missing(), reason="PortAudio is not installed"),
]

SCRIPT = r"""
import sys
import numpy as np
from PySide6.QtWidgets import QApplication
from app.main_window import MainWindow
from app.settings import Settings

mix, ref1, ref2, out = sys.argv[1:5]
app = QApplication([])
w = MainWindow(Settings(), quiet=True)
w.show()
w.start_background()

def wait(pred, what, limit=120.0):
    import time
    end = time.monotonic() + limit
    while not pred():
        if w.errors:
            sys.exit(f"error: {w.errors[0]}")
        if time.monotonic() > end:
            sys.exit(f"timed out: {what}")
        app.processEvents()
        time.sleep(0.005)

assert w.transport.available, w.transport.player.unavailable_reason
wait(lambda: w.models.ready, "models")
w.open_file(mix)
wait(lambda: w.session.loaded, "mixture")
w.open_references([ref1, ref2])
wait(lambda: "oracle-irm" in w.session.results, "oracle result")
lane = w.lanes.lanes[1]
lane.solo.setChecked(True)                      # solo source 2, as a click would
w.transport.seek(0.0)
w.act_play.trigger()                            # the null sink plays faster than real time
if not w.transport.player.wait(60):
    sys.exit("timed out: playback end")
wait(lambda: not w.transport.is_playing, "playback end", 10)
w.close()
rec = w.session.results["oracle-irm"]
np.save(out, rec.result.waveforms[w.session.order("oracle-irm")[1]])
"""


def test_played_audio_is_the_soloed_source(tmp_path, audio_files):
    home = tmp_path / "home"
    home.mkdir()
    captured = tmp_path / "played.wav"
    config = ASOUNDRC.read_text().replace("/tmp/cocktail-played.wav", str(captured))
    assert str(captured) in config
    (home / ".asoundrc").write_text(config)
    mix, (ref1, ref2) = audio_files
    expected_path = tmp_path / "expected.npy"
    env = {
        **os.environ,
        "HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
        "COCKTAIL_SETTINGS_DIR": str(tmp_path / "settings"),
        "OMP_NUM_THREADS": "1",
    }
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT, mix, ref1, ref2, expected_path],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    expected = np.load(expected_path)
    raw = captured.read_bytes()
    played = np.frombuffer(raw[44 : 44 + (len(raw) - 44) // 4 * 4], dtype="<f4")  # float32 data
    assert len(played) >= len(expected)
    # The capture starts with some silence: find the offset, then compare sample for sample.
    head = np.nonzero(np.abs(expected) > 1e-3)[0][0]
    candidates = np.nonzero(np.abs(played - expected[head]) < 1e-7)[0] - head
    offsets = [
        k
        for k in candidates
        if 0 <= k <= len(played) - len(expected)
        and np.allclose(played[k : k + 2000], expected[:2000], atol=1e-6)
    ]
    assert offsets, "the soloed source was not found in what was played"
    k = offsets[0]
    np.testing.assert_allclose(played[k : k + len(expected)], np.clip(expected, -1, 1), atol=1e-6)
    assert np.abs(played[:k]).max(initial=0.0) < 1e-6
