"""Import the science stack (torch, scipy, scikit-learn, separation_core) once, under a lock.

Two threads importing scipy at the same moment in a fresh process break its import ("KeyError:
'scipy'", "partially initialized module"), so the job runner calls ``load_science()`` on the
pool thread before every job: the first job imports, the others wait, later calls are free. GUI-thread
code touches these modules only once a job has returned results, so after they are loaded.
"""

from __future__ import annotations

import importlib
import threading

MODULES = (
    "torch",
    "scipy",
    "scipy.optimize",
    "scipy.ndimage",
    "scipy.signal",
    "sklearn.cluster",
    "sklearn.decomposition",
    "sklearn.exceptions",
    "soundfile",
    "soxr",
    "pesq",
    "pystoi",
    "fast_bss_eval",
    "separation_core.io.audio_io",
    "separation_core.models.transforms",
    "separation_core.evaluation.metrics",
    "separation_core.evaluation.scoring",
    "separation_core.models.clustering",
    "separation_core.engine.inference",
    "separation_core.io.export",
    "separation_core.checkpoints.catalog",
)

_lock = threading.Lock()
_loaded = False


def load_science() -> None:
    """Import every module of ``MODULES`` and the model registry; a no-op after the first call."""
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for name in MODULES:
            importlib.import_module(name)
        from separation_core.models.registry import model_names

        model_names()  # imports every built-in model module
        _loaded = True
