"""Work around a reference-count bug of PySide6 6.12 on Python 3.11.

There, PySide6 hands back ``None`` (from every void method: ``setVisible``, ``removeItem``...) and
``True`` (from every ``SignalInstance.emit()``) without taking a reference, as if they were immortal,
which they only are from Python 3.12. Each call drops one reference, ours and pyqtgraph's alike, and
after some thousands of calls the interpreter aborts ("none_dealloc: deallocating None"). When a
probe shows the leak, this module does what Python 3.12 does: it gives ``None``, ``True`` and
``False`` a reference count so large that no session can exhaust it.
"""

from __future__ import annotations

import ctypes
import sys

_BOOST = 1 << 40  # references; a leaking call costs one
_done = False


def leaks_singleton_refs() -> bool:
    """True if PySide6 calls lose references to ``None`` or ``True``."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal(int)

    probe = _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(8):
        probe.ping.emit(1)
        probe.setObjectName("probe")
    return (sys.getrefcount(None) < none_before - 4) or (sys.getrefcount(True) < true_before - 4)


def ensure_signal_refcount_fix() -> None:
    """Idempotent; call before Qt is used much (main, the window, the job runner, tests)."""
    global _done
    if _done:
        return
    _done = True
    if sys.version_info >= (3, 12) or not leaks_singleton_refs():
        return
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _BOOST  # ob_refcnt is the first field
