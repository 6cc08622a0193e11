"""Cancel tokens and progress callbacks for long work (no threads, no Qt)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Optional

from separation_core.errors import Cancelled

# progress(fraction in [0, 1], stage name)
ProgressFn = Callable[[float, str], None]


class CancelToken:
    """A flag set by one thread and checked by the worker between units of work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


def check_cancel(token: Optional[CancelToken]) -> None:
    if token is not None:
        token.raise_if_cancelled()


_scope = threading.local()


@contextmanager
def cancel_scope(token: Optional[CancelToken]) -> Iterator[None]:
    """Make ``token`` this thread's current token for the block: code deep inside a unit of work
    (model layers, clustering) calls ``check_current_cancel()`` without the token being passed down.
    Other threads keep their own tokens."""
    previous = getattr(_scope, "token", None)
    _scope.token = token
    try:
        yield
    finally:
        _scope.token = previous


def check_current_cancel() -> None:
    """Raise Cancelled when this thread's current token (see ``cancel_scope``) is set."""
    check_cancel(getattr(_scope, "token", None))


def report(progress: Optional[ProgressFn], fraction: float, stage: str) -> None:
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), stage)
