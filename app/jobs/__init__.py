"""The work the GUI hands to the job runner (``app.runner``). A job is a frozen dataclass whose
``run(ctx)`` does one piece of work off the GUI thread and reports through ``ctx`` (progress, the
cancel token, partial results): plain Python, no Qt. One module per kind of work: loading,
catalog, separation, metrics, export, masked_signal, quality. Torch-heavy modules are imported
inside the jobs, so the window shows before torch loads."""

from __future__ import annotations

from typing import Optional

import numpy as np


def frozen_array(x: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """A read-only view: a job can never change the caller's arrays."""
    if x is None:
        return None
    view = np.asarray(x).view()
    view.setflags(write=False)
    return view
