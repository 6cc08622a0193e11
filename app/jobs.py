"""Run long work off the GUI thread.

A job is a plain function ``fn(ctx)`` (``ctx: JobContext``) that reports progress, checks the cancel
token and may publish partial results; it knows nothing of Qt. ``JobRunner`` runs it on a
QThreadPool and turns the callbacks into queued signals delivered on the GUI thread. Jobs run on
named channels ("separate", "metrics", ...): starting a job cancels the channel's previous one, and
anything a superseded job still sends is dropped (each job has an id). Progress is throttled.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

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


class _Signals(QObject):
    progress = Signal(int, float, str)
    published = Signal(int, object)
    done = Signal(int, object)
    failed = Signal(int, str, str)
    cancelled = Signal(int)


class _Worker(QRunnable):
    def __init__(self, job_id: int, fn: Callable[[JobContext], Any], token: CancelToken,
                 signals: _Signals, prepare: Optional[Callable[[], None]]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.job_id, self.fn, self.token, self.signals = job_id, fn, token, signals
        self.prepare = prepare

    def run(self) -> None:
        s = self.signals
        ctx = JobContext(self.job_id, self.token, lambda f, st: s.progress.emit(self.job_id, f, st),
                         lambda p: s.published.emit(self.job_id, p))
        try:
            if self.prepare is not None:
                self.prepare()
            value = self.fn(ctx)
        except Cancelled:
            s.cancelled.emit(self.job_id)
        except CocktailError as e:
            log.info("job %d failed: %s", self.job_id, e)
            s.failed.emit(self.job_id, str(e), traceback.format_exc())
        except BaseException as e:  # a bug in a job must not take the program down
            log.exception("job %d crashed", self.job_id)
            s.failed.emit(self.job_id, f"{type(e).__name__}: {e}", traceback.format_exc())
        else:
            s.done.emit(self.job_id, value)


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

    def start(self, channel: str, fn: Callable[[JobContext], Any]) -> int:
        """Run ``fn(ctx)`` on a pool thread; cancels the channel's previous job. Returns the job id."""
        self.cancel(channel)
        job_id = self._next_id
        self._next_id += 1
        token = CancelToken()
        signals = _Signals()
        signals.progress.connect(self._on_progress)
        signals.published.connect(self._on_published)
        signals.done.connect(self._on_done)
        signals.failed.connect(self._on_failed)
        signals.cancelled.connect(self._on_cancelled)
        self._current[channel] = job_id
        self._running[job_id] = _Running(channel, token, signals, time.monotonic())
        self.pool.start(_Worker(job_id, fn, token, signals, self.prepare))
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
