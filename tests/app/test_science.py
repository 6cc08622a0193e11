"""The science stack is imported once, even when several worker threads start at the same moment
in a fresh process (a race that once broke scipy's import in CI)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RACE = """
import sys, threading
from app.science import load_science
errors = []
def go():
    try:
        load_science()
        from separation_core.models.registry import model_names
        assert 'convtasnet' in model_names()
    except BaseException as e:
        errors.append(repr(e))
threads = [threading.Thread(target=go) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
import scipy.optimize, scipy.ndimage
print('errors', errors)
sys.exit(1 if errors else 0)
"""


def test_concurrent_first_imports_in_a_fresh_process_succeed():
    r = subprocess.run(
        [sys.executable, "-c", RACE], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "errors []" in r.stdout
