"""The views of the main window, one line each: the window makes a tab for each, in this order, and a
View menu entry with its shortcut, refreshes it from the session (``View.set_session``) and moves its
play head (``View.set_playhead``); ``cocktail --view NAME`` takes the names.

Adding a view takes its module (a QWidget implementing ``app.views.base.View``, built as
``cls(axis)``) and one line in ``VIEWS``. Qt-free: a class is named ``"module:Class"`` and imported
when the window is built (``cocktail --help`` imports no Qt); ``register`` also takes a class.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = ["ViewSpec", "VIEWS", "names", "get", "register", "unregister"]


@dataclass(frozen=True)
class ViewSpec:
    name: str  # --view NAME, MainWindow.set_view(NAME)
    view: Any  # "package.module:Class", or the class
    shortcut: str  # of its View menu entry
    title: str  # of its tab and menu entry

    def load(self) -> type:
        if not isinstance(self.view, str):
            return self.view
        module, _, cls = self.view.partition(":")
        return getattr(importlib.import_module(module), cls)


VIEWS: list[ViewSpec] = [
    ViewSpec("listen", "app.views.lanes:LanesView", "Ctrl+1", "Listen"),
    ViewSpec("masks", "app.views.masks:MasksView", "Ctrl+2", "Masks"),
    ViewSpec("embeddings", "app.views.embeddings:EmbeddingsView", "Ctrl+3", "Embeddings"),
    ViewSpec("metrics", "app.views.metrics:MetricsView", "Ctrl+4", "Metrics"),
]


def names() -> tuple[str, ...]:
    return tuple(spec.name for spec in VIEWS)


def get(name: str) -> ViewSpec:
    """The view called ``name`` (case-insensitive); KeyError naming the known ones."""
    for spec in VIEWS:
        if spec.name.lower() == name.lower():
            return spec
    raise KeyError(f"no view {name!r}; known: {', '.join(names())}")


def register(spec: ViewSpec) -> ViewSpec:
    """Add a view (after the others): windows built from now on show it. Refuses a taken name."""
    if any(s.name.lower() == spec.name.lower() for s in VIEWS):
        raise ValueError(f"a view named {spec.name!r} is already registered")
    VIEWS.append(spec)
    return spec


def unregister(name: str) -> None:
    VIEWS.remove(get(name))
