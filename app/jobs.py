"""Run long work off the GUI thread.

A job is a plain function ``fn(ctx)`` (``ctx: JobContext``) that reports progress, checks the cancel
token and may publish partial results; it knows nothing of Qt. ``JobRunner`` runs it on a
QThreadPool and turns the callbacks into queued signals delivered on the GUI thread. Jobs run on
named channels ("separate", "metrics", ...): starting a job cancels the channel's previous one, and
anything a superseded job still sends is dropped (each job has an id). Progress is throttled.
``shutdown()`` (when the window closes) cancels every job, silences their signals and waits briefly:
a worker never emits into a deleted signals object.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from separation_core.errors import Cancelled, CocktailError

from separation_core.jobs import CancelToken

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.1  # seconds between two progress signals of one job


@dataclass
class JobContext:
    """What a job function sees: progress, cancel token, publish (for partial results)."""

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
    def __init__(self, job_id: int, fn: Callable[[JobContext], Any], token: CancelToken,
                 signals: _Signals, prepare: Optional[Callable[[], None]],
                 closed: threading.Event) -> None:
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
        ctx = JobContext(self.job_id, self.token, lambda f, st: self._send("progress", f, st),
                         lambda p: self._send("published", p))
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


@dataclass
class _Running:
    channel: str
    token: CancelToken
    signals: _Signals
    started: float


class JobRunner(QObject):
    """Signals carry (channel, job id, ...); only the current job of a channel gets through."""

    started = Signal(str, int)
    progress = Signal(str, int, float, str)
    published = Signal(str, int, object)
    finished = Signal(str, int, object)
    failed = Signal(str, int, str, str)   # message (one line), details (traceback)
    cancelled = Signal(str, int)
    idle = Signal(str, int)               # after finished / failed / cancelled, current or stale

    def __init__(self, parent: Optional[QObject] = None, max_threads: int = 2,
                 prepare: Optional[Callable[[], None]] = None) -> None:
        """``prepare()`` runs on the pool thread before each job (a failure there fails the job)."""
        super().__init__(parent)
        self.prepare = prepare
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._next_id = 1
        self._current: dict[str, int] = {}
        self._running: dict[int, _Running] = {}
        self._closed = threading.Event()

    def start(self, channel: str, fn: Callable[[JobContext], Any]) -> int:
        """Run ``fn(ctx)`` on a pool thread; cancels the channel's previous job. Returns the job id
        (after ``shutdown`` nothing runs: the id is returned and nothing is ever reported)."""
        self.cancel(channel)
        job_id = self._next_id
        self._next_id += 1
        if self._closed.is_set():
            log.info("job runner shut down: %s job not started", channel)
            return job_id
        token = CancelToken()
        signals = _Signals()
        signals.progress.connect(self._on_progress)
        signals.published.connect(self._on_published)
        signals.done.connect(self._on_done)
        signals.failed.connect(self._on_failed)
        signals.cancelled.connect(self._on_cancelled)
        self._current[channel] = job_id
        self._running[job_id] = _Running(channel, token, signals, time.monotonic())
        self.pool.start(_Worker(job_id, fn, token, signals, self.prepare, self._closed))
        self.started.emit(channel, job_id)
        return job_id

    def cancel(self, channel: str) -> None:
        """Ask the channel's job to stop; whatever it sends from now on is dropped."""
        job_id = self._current.pop(channel, None)
        if job_id is not None and job_id in self._running:
            self._running[job_id].token.cancel()

    def cancel_all(self) -> None:
        for channel in list(self._current):
            self.cancel(channel)

    def shutdown(self, msecs: int = 2000) -> bool:
        """For closing: cancel every job (queued ones never start), stop all signals from every
        worker, and wait up to ``msecs`` for the running ones to end. True when none is left.
        A job still running after that ends silently in the background."""
        self._closed.set()
        self.pool.clear()  # queued, not started
        for run in self._running.values():
            run.token.cancel()
        self._current.clear()
        self._running.clear()
        done = self.pool.waitForDone(msecs)
        if not done:
            log.warning("a background job did not stop within %d ms; it ends in the background", msecs)
        return done

    @property
    def is_shut_down(self) -> bool:
        return self._closed.is_set()

    def is_busy(self, channel: str) -> bool:
        return channel in self._current

    def current(self, channel: str) -> Optional[int]:
        return self._current.get(channel)

    def started_at(self, job_id: int) -> Optional[float]:
        run = self._running.get(job_id)
        return run.started if run else None

    def wait(self, msecs: int = 5000) -> bool:
        """Block until every pool thread is idle (shutdown, tests)."""
        return self.pool.waitForDone(msecs)

    def _channel_if_current(self, job_id: int) -> Optional[str]:
        run = self._running.get(job_id)
        if run is not None and self._current.get(run.channel) == job_id:
            return run.channel
        return None

    def _on_progress(self, job_id: int, fraction: float, stage: str) -> None:
        channel = self._channel_if_current(job_id)
        if channel:
            self.progress.emit(channel, job_id, fraction, stage)

    def _on_published(self, job_id: int, payload: object) -> None:
        channel = self._channel_if_current(job_id)
        if channel:
            self.published.emit(channel, job_id, payload)

    def _end(self, job_id: int) -> tuple[Optional[str], Optional[str], bool]:
        """(channel if the job was current, its channel, whether it was cancelled); forgets it."""
        current = self._channel_if_current(job_id)
        run = self._running.pop(job_id, None)
        if current:
            del self._current[current]
        return current, (run.channel if run else None), bool(run and run.token.cancelled)

    def _ended(self, job_id: int, emit) -> None:
        current, channel, was_cancelled = self._end(job_id)
        if current:
            emit(current)
        elif channel and was_cancelled:
            self.cancelled.emit(channel, job_id)  # it ended after Stop: say it was stopped
        if channel:
            self.idle.emit(channel, job_id)

    def _on_done(self, job_id: int, value: object) -> None:
        self._ended(job_id, lambda ch: self.finished.emit(ch, job_id, value))

    def _on_failed(self, job_id: int, message: str, details: str) -> None:
        self._ended(job_id, lambda ch: self.failed.emit(ch, job_id, message, details))

    def _on_cancelled(self, job_id: int) -> None:
        self._ended(job_id, lambda ch: self.cancelled.emit(ch, job_id))
