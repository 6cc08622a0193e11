"""Run jobs off the GUI thread.

A job (see ``app.jobs``) is a frozen dataclass whose ``run(ctx)`` (``ctx: JobContext``) reports
progress, checks the cancel token and may publish partial results; it knows nothing of Qt. A plain
function ``fn(ctx)`` runs as well. ``JobRunner`` runs it on a QThreadPool and turns its reports into
queued signals; ``JobRunner.start(job, on_done=..., on_progress=..., on_error=..., on_cancelled=...)``
calls the caller's callbacks on the GUI thread. A ``JobHandle`` is one job with its callbacks, made
before it runs (``JobRunner.submit(handle)`` runs it).
A ``JobSlot`` holds one kind of work of one owner: starting a job there cancels the previous one, and
anything a cancelled job still sends is dropped (it only says, when it ends, that it was cancelled:
``Cancelled`` never reaches ``on_error``). Progress is throttled.
``shutdown()`` (when the window closes) cancels every job, silences their signals and waits briefly:
a worker never emits into a deleted signals object.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from separation_core.cancel import CancelToken
from separation_core.errors import Cancelled, CocktailError

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.1  # seconds between two progress signals of one job
_job_ids = itertools.count(1)


@dataclass
class JobContext:
    """What a job's ``run`` sees: progress, cancel token, publish (for partial results)."""

    job_id: int
    cancel: CancelToken
    _emit_progress: Callable[[float, str], None]
    _emit_publish: Callable[[Any], None]
    _last: float = field(default=0.0)
    _last_stage: str = field(default="")

    def progress(self, fraction: float, stage: str) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or stage != self._last_stage or now - self._last >= PROGRESS_INTERVAL:
            self._last, self._last_stage = now, stage
            self._emit_progress(float(fraction), stage)

    def publish(self, payload: Any) -> None:
        self._emit_publish(payload)


_libc = None


def release_freed_memory() -> None:
    """Return the heap a job freed to the system. glibc keeps freed blocks in the worker thread's
    arena: after a separation that is a hundred megabytes or more of model intermediates, held
    for nothing. No-op where there is no glibc."""
    global _libc
    if _libc is None:
        try:
            import ctypes

            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


class _Signals(QObject):
    progress = Signal(int, float, str)
    published = Signal(int, object)
    done = Signal(int, object)
    failed = Signal(int, str, str)
    cancelled = Signal(int)


class _Worker(QRunnable):
    def __init__(
        self,
        job_id: int,
        fn: Callable[[JobContext], Any],
        token: CancelToken,
        signals: _Signals,
        prepare: Optional[Callable[[], None]],
        closed: threading.Event,
    ) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.job_id, self.fn, self.token, self.signals = job_id, fn, token, signals
        self.prepare = prepare
        self.closed = closed  # set by JobRunner.shutdown: nobody listens any more

    def _send(self, name: str, *args) -> None:
        """Emit unless the runner shut down or the signals object is gone (the window closed and
        Qt is tearing down): a worker finishing late stays silent."""
        s = self.signals
        if self.closed.is_set() or not shiboken6.isValid(s):
            return
        try:
            getattr(s, name).emit(self.job_id, *args)
        except RuntimeError:  # deleted between the check and the emit
            pass

    def run(self) -> None:
        ctx = JobContext(
            self.job_id,
            self.token,
            lambda f, st: self._send("progress", f, st),
            lambda p: self._send("published", p),
        )
        try:
            self.token.raise_if_cancelled()  # cancelled while queued: do not start
            if self.prepare is not None:
                self.prepare()
            value = self.fn(ctx)
        except Cancelled:
            self._send("cancelled")
        except CocktailError as e:
            log.info("job %d failed: %s", self.job_id, e)
            self._send("failed", str(e), traceback.format_exc())
        except BaseException as e:  # a bug in a job must not take the program down
            if not self.closed.is_set():
                log.exception("job %d crashed", self.job_id)
            self._send("failed", f"{type(e).__name__}: {e}", traceback.format_exc())
        else:
            self._send("done", value)
        finally:
            release_freed_memory()


class JobHandle:
    """One job and its callbacks: ``id``, the job value (``job``), ``running``, ``cancel()``. Once
    cancelled, nothing it sends is delivered except, when it ends, its ``on_cancelled``. See
    ``JobRunner.start`` for the callbacks and ``quiet``."""

    def __init__(
        self,
        job: Any,
        *,
        on_done: Optional[Callable[[Any], None]] = None,
        on_progress: Optional[Callable[[float, str], None]] = None,
        on_publish: Optional[Callable[[Any], None]] = None,
        on_error: Optional[Callable[[str, str], None]] = None,
        on_cancelled: Optional[Callable[[], None]] = None,
        quiet: bool = False,
    ) -> None:
        self.id, self.job, self.quiet = next(_job_ids), job, quiet
        self.callbacks = {
            "done": on_done,
            "progress": on_progress,
            "publish": on_publish,
            "error": on_error,
            "cancelled": on_cancelled,
        }
        self.token = CancelToken()
        self.signals: Optional[_Signals] = None
        self.started = time.monotonic()
        self.ended = False

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    @property
    def running(self) -> bool:
        """Started, not ended and not cancelled: its results will be delivered."""
        return not self.ended and not self.token.cancelled

    def cancel(self) -> None:
        """Ask the job to stop; whatever it sends from now on is dropped."""
        self.token.cancel()

    def __repr__(self) -> str:
        return f"<job {self.id} {type(self.job).__name__}{' running' if self.running else ''}>"


class JobRunner(QObject):
    """``start(job, on_done=..., ...)`` runs a job and calls its callbacks on the GUI thread.

    The signals are for observers of all the work (the status bar): they carry the JobHandle."""

    started = Signal(object)  # JobHandle
    progress = Signal(object, float, str)  # JobHandle, fraction, stage (running jobs only)
    ended = Signal(object)  # JobHandle, after its last callback (done, error, cancelled)

    def __init__(
        self,
        parent: Optional[QObject] = None,
        max_threads: int = 2,
        prepare: Optional[Callable[[], None]] = None,
    ) -> None:
        """``prepare()`` runs on the pool thread before each job (a failure there fails the job)."""
        super().__init__(parent)
        self.prepare = prepare
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._running: dict[int, JobHandle] = {}
        self._closed = threading.Event()

    def start(self, job: Any, **options) -> JobHandle:
        """Run ``job`` (a job value with ``run(ctx)``, or a function ``fn(ctx)``) on a pool thread.

        ``options``: the callbacks, each optional, and ``quiet``. On the GUI thread, while the job is
        not cancelled: ``on_progress(fraction, stage)``, ``on_publish(payload)``, then
        ``on_done(value)`` or ``on_error(message, details)`` (message: one line; details: the
        traceback; without ``on_error`` the failure is logged). A job that was cancelled calls
        ``on_cancelled()`` when it ends, whatever it returned. ``quiet``: the status bar shows nothing
        of it. After ``shutdown`` nothing runs and nothing is ever reported."""
        return self.submit(JobHandle(job, **options))

    def submit(self, handle: JobHandle) -> JobHandle:
        """Run a job made beforehand (``JobHandle(job, on_done=..., ...)``), as ``start`` does: its
        maker holds the handle before ``started`` announces it."""
        if self._closed.is_set():
            log.info("job runner shut down: %r not started", handle)
            handle.ended = True
            return handle
        job = handle.job
        fn = job.run if hasattr(job, "run") else job
        signals = handle.signals = _Signals()
        signals.progress.connect(self._on_progress)
        signals.published.connect(self._on_published)
        signals.done.connect(self._on_done)
        signals.failed.connect(self._on_failed)
        signals.cancelled.connect(self._on_cancelled)
        self._running[handle.id] = handle
        self.pool.start(_Worker(handle.id, fn, handle.token, signals, self.prepare, self._closed))
        self.started.emit(handle)
        return handle

    def running(self) -> list[JobHandle]:
        """The jobs whose results will be delivered."""
        return [h for h in self._running.values() if h.running]

    def cancel_all(self) -> None:
        for handle in list(self._running.values()):
            handle.cancel()

    def shutdown(self, msecs: int = 2000) -> bool:
        """For closing: cancel every job (queued ones never start), stop all signals from every
        worker, and wait up to ``msecs`` for the running ones to end. True when none is left.
        A job still running after that ends silently in the background."""
        self._closed.set()
        self.pool.clear()  # queued, not started
        for handle in self._running.values():
            handle.cancel()
        self._running.clear()
        done = self.pool.waitForDone(msecs)
        if not done:
            log.warning(
                "a background job did not stop within %d ms; it ends in the background", msecs
            )
        return done

    @property
    def is_shut_down(self) -> bool:
        return self._closed.is_set()

    def wait(self, msecs: int = 5000) -> bool:
        """Block until every pool thread is idle (shutdown, tests)."""
        return self.pool.waitForDone(msecs)

    def _live(self, job_id: int) -> Optional[JobHandle]:
        handle = self._running.get(job_id)
        return handle if handle is not None and handle.running else None

    def _on_progress(self, job_id: int, fraction: float, stage: str) -> None:
        handle = self._live(job_id)
        if handle is not None:
            self.progress.emit(handle, fraction, stage)
            if handle.callbacks["progress"]:
                handle.callbacks["progress"](fraction, stage)

    def _on_published(self, job_id: int, payload: object) -> None:
        handle = self._live(job_id)
        if handle is not None and handle.callbacks["publish"]:
            handle.callbacks["publish"](payload)

    def _end(self, job_id: int, kind: str, *args) -> None:
        """The job ended: its callback (``on_cancelled`` when it was cancelled), then ``ended``."""
        handle = self._running.pop(job_id, None)
        if handle is None:
            return
        handle.ended = True
        if handle.cancelled:
            kind, args = "cancelled", ()
        callback = handle.callbacks[kind]
        try:
            if callback is not None:
                callback(*args)
            elif kind == "error":
                log.warning("%r failed: %s\n%s", handle, *args)
        finally:
            self.ended.emit(handle)

    def _on_done(self, job_id: int, value: object) -> None:
        self._end(job_id, "done", value)

    def _on_failed(self, job_id: int, message: str, details: str) -> None:
        self._end(job_id, "error", message, details)

    def _on_cancelled(self, job_id: int) -> None:
        self._end(job_id, "cancelled")


class JobSlot:
    """One kind of work of one owner (a controller's separation, the export dialog's export):
    starting a job in the slot cancels the slot's previous one, whose results are then dropped."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self.handle: Optional[JobHandle] = None

    def start(self, job: Any, **options) -> JobHandle:
        """``runner.start(job, **options)`` after cancelling the slot's previous job (the slot holds
        the new one before anyone hears that it started)."""
        self.cancel()
        self.handle = JobHandle(job, **options)
        return self.runner.submit(self.handle)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

    @property
    def busy(self) -> bool:
        """Its job runs and its results will be delivered."""
        return self.handle is not None and self.handle.running

    def owns(self, handle: Optional[JobHandle]) -> bool:
        return handle is not None and handle is self.handle
