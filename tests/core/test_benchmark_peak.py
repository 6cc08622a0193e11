"""The long-input memory figure of `cocktail bench` is the child's own peak, not its parent's: Linux
keeps ru_maxrss across exec, so a bench holding its test sets once reported its own size."""

import subprocess
import sys

import numpy as np

from separation_core.evaluation.benchmark import _PEAK_WRAPPER


def test_peak_of_a_child_does_not_include_the_parents_memory():
    ballast = np.ones(256 * 2**20, dtype=np.float32)  # 1 GiB resident in this process
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_WRAPPER, "models"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak_kb = int(
        [ln for ln in proc.stderr.splitlines() if ln.startswith("PEAK_KB ")][-1].split()[1]
    )
    assert 10_000 < peak_kb < 900 * 1024, peak_kb
    assert ballast[-1] == 1.0
