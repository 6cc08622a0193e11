"""GUI benchmarks (not run by CI): launch-to-window time, event-loop stalls while a separation runs,
and redraw time of an hour-long mixture.

    xvfb-run -s "-screen 0 1280x800x24" python tests/benchmarks/bench_gui.py [--model convtasnet]

Targets (SPEC): window on screen within 1.5 s of launch; no event-loop stall over 50 ms while a
separation runs. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

LAUNCH_CHILD = r"""
import os, sys, time
import app.main_window as mw
from PySide6.QtWidgets import QApplication
original = mw.MainWindow.show
def show(self):
    original(self)
    QApplication.processEvents()   # the first paint
    print("SHOWN", time.time(), flush=True)
    os._exit(0)
mw.MainWindow.show = show
from app.launcher import main   # the `cocktail` console script
main([])
"""


def launch_times(runs: int) -> list[float]:
    """Seconds from starting the interpreter to the painted window, ``runs`` times."""
    out = []
    env = {**os.environ, "COCKTAIL_SETTINGS_DIR": tempfile.mkdtemp(prefix="cocktail-bench-")}
    for _ in range(runs):
        t0 = time.time()
        r = subprocess.run(
            [sys.executable, "-c", LAUNCH_CHILD],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        line = next((x for x in r.stdout.splitlines() if x.startswith("SHOWN")), None)
        if line is None:
            raise SystemExit(f"launch failed: {r.stderr[-2000:]}")
        out.append(float(line.split()[1]) - t0)
    return out


def synthetic_speechlike(seconds: float, sr: int = 16000):
    import numpy as np

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros_like(t)
    for f0, rate in ((130.0, 3.1), (210.0, 4.3)):
        voice = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 10))
        x += voice * np.clip(np.sin(2 * np.pi * rate * t + rng.uniform(0, 6)), 0, None) ** 2
    return (0.1 * x + 0.005 * rng.standard_normal(len(t))).astype(np.float32)


def stalls_during_separation(model: str, seconds: float, chunk: float) -> dict:
    """Longest gap between 5 ms timer ticks while ``model`` separates ``seconds`` of audio."""
    import soundfile as sf
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.settings import Settings
    from app.views.style import setup_pyqtgraph

    app = QApplication.instance() or QApplication([])
    setup_pyqtgraph()
    folder = Path(tempfile.mkdtemp(prefix="cocktail-bench-"))
    os.environ["COCKTAIL_SETTINGS_DIR"] = str(folder / "settings")
    path = folder / "mix.wav"
    sf.write(path, synthetic_speechlike(seconds), 16000)
    w = MainWindow(Settings(), quiet=True)
    w.resize(1280, 800)
    w.show()
    w.start_background()

    def spin(pred, limit=600.0):
        end = time.monotonic() + limit
        while not pred() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.002)

    spin(lambda: w.models.ready)
    w.open_file(path)
    spin(lambda: w.session.loaded)
    w.panel.chunk.setValue(chunk)
    settle = (
        time.monotonic() + 1.0
    )  # a user does not press Separate within a millisecond of opening
    spin(lambda: time.monotonic() > settle)
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    done = []
    w.run_finished.connect(done.append)
    t0 = time.perf_counter()
    timer.start()
    last[0] = time.perf_counter()
    w.separate([model])
    while not done:
        app.processEvents()
        time.sleep(0.001)
    # include drawing the result in the lanes
    end = time.perf_counter() + 0.5
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    elapsed = time.perf_counter() - t0
    stalls = sorted(g - 0.005 for g in gaps)
    w.close()
    return {
        "model": model,
        "audio_seconds": seconds,
        "separation_wall_seconds": round(elapsed, 2),
        "ticks": len(gaps),
        "max_stall_ms": round(1000 * stalls[-1], 1),
        "p99_stall_ms": round(1000 * stalls[int(0.99 * (len(stalls) - 1))], 1),
        "stalls_over_50ms": sum(s > 0.05 for s in stalls),
    }


def long_file_redraw(hours: float = 1.0) -> dict:
    """Milliseconds to redraw the mixture lane of an hour-long signal, zoomed out and in."""
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from app.views.lanes import LanesView
    from app.views.timeplot import TimeAxis

    app = QApplication.instance() or QApplication([])
    n = int(hours * 3600 * 16000)
    x = (0.1 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)
    axis = TimeAxis()
    lanes = LanesView(axis)
    lanes.resize(1000, 600)
    lanes.show()
    t0 = time.perf_counter()
    axis.set_duration(n / 16000)
    lanes.set_mixture(x, 16000)
    setup = time.perf_counter() - t0
    out = {"setup_ms": round(1000 * setup, 1)}
    for name, (a, b) in {
        "all": (0, n / 16000),
        "one_minute": (1800, 1860),
        "one_second": (1800, 1801),
    }.items():
        axis.set_range(a, b)
        t0 = time.perf_counter()
        for plot in lanes.mixture.plots():
            plot.link.redraw()
        app.processEvents()
        out[f"redraw_{name}_ms"] = round(1000 * (time.perf_counter() - t0), 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--model", default="convtasnet")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--chunk", type=float, default=4.0)
    args = p.parse_args()
    times = launch_times(args.runs)
    report = {
        "launch_to_window_s": {
            "median": round(statistics.median(times), 3),
            "min": round(min(times), 3),
            "max": round(max(times), 3),
            "target": 1.5,
        },
        "stall": stalls_during_separation(args.model, args.seconds, args.chunk),
        "long_file": long_file_redraw(),
    }
    report["stall"]["target_ms"] = 50
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
