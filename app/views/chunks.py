"""The chunks the engine used, drawn on every time plot on demand (View > Show chunks).

Each joint between two chunks is their overlap, shaded, with a line in its middle; hovering the line
tells the stitching decision ("order 2,1 (profile, 0.83)"). A joint decided with low confidence is
drawn in red and wider. A conversation result shows instead where the separator ran: each stretch
it read (an overlap with its context) shaded, the part whose outputs the stems use shaded darker,
hovering telling both. One ``ChunkOverlay`` per time axis: every ``TimeLink`` made on that axis
gets one ``ChunkLinesItem`` (see ``TimeAxis.overlays``), which paints only the visible joints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPen

from separation_core.engine.chunk_report import Chunk

LINE_COLOUR = QColor(120, 200, 255, 200)
LOW_COLOUR = QColor(255, 70, 70, 230)
REGION_COLOUR = QColor(120, 200, 255, 38)
LOW_REGION_COLOUR = QColor(255, 70, 70, 50)
USED_COLOUR = QColor(120, 200, 255, 90)
HOVER_PIXELS = 6


@dataclass(frozen=True)
class Joint:
    x: float  # where the line is drawn (seconds): the middle of the overlap
    x0: float  # the overlap
    x1: float
    label: str
    low: bool


def joints_of(chunks: list[Chunk]) -> list[Joint]:
    """One joint per chunk after the first: the chunk's overlap with the one before."""
    out = []
    for prev, cur in zip(chunks, chunks[1:]):
        x0, x1 = cur.start, max(cur.start, min(prev.stop, cur.stop))
        out.append(Joint((x0 + x1) / 2.0, x0, x1, cur.label(), cur.low_confidence))
    return out


@dataclass(frozen=True)
class Run:
    """A stretch the separator read, ``[x0, x1]`` s, and the parts of it whose outputs the stems
    use (``used``: ``(start, stop)`` s)."""

    x0: float
    x1: float
    used: tuple

    @property
    def label(self) -> str:
        used = sum(b - a for a, b in self.used)
        where = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in self.used)
        return f"the separator read {self.x0:.2f}-{self.x1:.2f} s ({self.x1 - self.x0:.1f} s); " + (
            f"its outputs used {where} ({used:.1f} s)" if self.used else "its outputs unused"
        )


def runs_of(result) -> list[Run]:
    """Where the separator ran in a conversation result: ``separator_reads`` with the
    ``separated_spans`` inside each ([] for other results)."""
    out = []
    used = sorted(tuple(map(float, u)) for u in (getattr(result, "separated_spans", None) or []))
    for a, b in sorted(
        tuple(map(float, r)) for r in getattr(result, "separator_reads", None) or []
    ):
        inside = tuple((max(a, u0), min(b, u1)) for u0, u1 in used if u0 < b and u1 > a)
        out.append(Run(a, b, inside))
    return out


class ChunkLinesItem(pg.GraphicsObject):
    """Every visible joint of the overlay, across the whole height of its view box."""

    def __init__(self, overlay: ChunkOverlay) -> None:
        super().__init__()
        self.overlay = overlay
        self.setZValue(900)  # above the loop range, below the playhead

    def boundingRect(self) -> QRectF:  # noqa: N802
        vr = self.viewRect()
        return QRectF() if vr is None else vr

    def viewTransformChanged(self) -> None:  # noqa: N802
        self.prepareGeometryChange()
        super().viewTransformChanged()

    def paint(self, p, *args) -> None:
        vr = self.viewRect()
        joints = self.overlay.joints
        if vr is not None and self.overlay.runs:
            self._paint_runs(p, vr)
        if vr is None or not joints:
            return
        xs = self.overlay.xs
        i0 = int(np.searchsorted(xs, vr.left() - self.overlay.max_half_width, side="left"))
        i1 = int(np.searchsorted(xs, vr.right() + self.overlay.max_half_width, side="right"))
        top, height = vr.top(), vr.height()
        p.setPen(pg.mkPen(None))
        for j in joints[i0:i1]:
            if j.x1 > j.x0:
                p.fillRect(
                    QRectF(j.x0, top, j.x1 - j.x0, height),
                    LOW_REGION_COLOUR if j.low else REGION_COLOUR,
                )
        for j in joints[i0:i1]:
            pen = QPen(LOW_COLOUR if j.low else LINE_COLOUR)
            pen.setCosmetic(True)
            pen.setWidthF(2.5 if j.low else 1.2)
            p.setPen(pen)
            p.drawLine(pg.Point(j.x, top), pg.Point(j.x, top + height))

    def _paint_runs(self, p, vr) -> None:
        top, height = vr.top(), vr.height()
        p.setPen(pg.mkPen(None))
        for run in self.overlay.runs_in(vr.left(), vr.right()):
            p.fillRect(QRectF(run.x0, top, run.x1 - run.x0, height), REGION_COLOUR)
            for a, b in run.used:
                p.fillRect(QRectF(a, top, b - a, height), USED_COLOUR)

    def hoverEvent(self, ev) -> None:  # noqa: N802
        if ev.isExit():
            self.setToolTip("")
            return
        px = self.pixelWidth() or 0.0
        t = float(ev.pos().x())
        joint = self.overlay.joint_near(t, HOVER_PIXELS * px)
        run = self.overlay.run_at(t)
        label = joint.label if joint is not None else run.label if run is not None else ""
        self.setToolTip(label)


class ChunkOverlay:
    """The chunk grid of one result on every plot of a time axis; hidden until asked for."""

    def __init__(self, axis) -> None:
        self.items: dict = {}  # TimeLink -> ChunkLinesItem
        self.visible = False
        self.chunks: list[Chunk] = []
        self.joints: list[Joint] = []
        self.xs = np.zeros(0)
        self.max_half_width = 0.0
        self.runs: list[Run] = []  # a conversation result's: where the separator ran
        self.run_starts = np.zeros(0)
        self.duration = 0.0
        self.title = ""
        axis.overlays.append(self)

    # TimeLink calls these for every plot on the axis
    def attach(self, link) -> None:
        item = ChunkLinesItem(self)
        item.setVisible(self.shown)
        link.vb.addItem(item, ignoreBounds=True)
        self.items[link] = item

    def detach(self, link) -> None:
        item = self.items.pop(link, None)
        if item is not None and shiboken6.isValid(item) and shiboken6.isValid(link.vb):
            link.vb.removeItem(item)

    @property
    def shown(self) -> bool:
        return self.visible and bool(self.joints or self.runs)

    def set_chunks(self, chunks: list[Chunk], title: str = "", runs=()) -> None:
        self.chunks, self.title = list(chunks), title
        self.runs = list(runs)
        self.run_starts = np.array([r.x0 for r in self.runs])
        self.joints = joints_of(self.chunks)
        self.xs = np.array([j.x for j in self.joints])
        self.max_half_width = max([(j.x1 - j.x0) / 2 for j in self.joints], default=0.0)
        self._apply()

    def set_result(self, key: str, result) -> None:
        """The chunks of ``result`` (None: none), named ``key`` in the summary."""
        from separation_core.engine.chunk_report import result_chunks

        runs = runs_of(result) if result is not None else []
        if result is not None:
            self.duration = result.waveforms.shape[-1] / float(result.sample_rate)
        chunks = result_chunks(result) if result is not None and not runs else []
        self.set_chunks(chunks, key, runs)

    def set_visible(self, on: bool) -> None:
        self.visible = bool(on)
        self._apply()

    def _apply(self) -> None:
        for item in list(self.items.values()):
            if shiboken6.isValid(item):
                item.setVisible(self.shown)
                item.update()

    def joint_near(self, t: float, tolerance: float) -> Optional[Joint]:
        if not self.joints:
            return None
        i = int(np.argmin(np.abs(self.xs - t)))
        j = self.joints[i]
        return j if abs(j.x - t) <= tolerance or j.x0 <= t <= j.x1 else None

    def runs_in(self, t0: float, t1: float) -> list[Run]:
        """The runs that meet ``[t0, t1]``."""
        i1 = int(np.searchsorted(self.run_starts, t1, side="right"))
        return [r for r in self.runs[:i1] if r.x1 >= t0]

    def run_at(self, t: float) -> Optional[Run]:
        i = int(np.searchsorted(self.run_starts, t, side="right")) - 1
        return self.runs[i] if i >= 0 and self.runs[i].x0 <= t <= self.runs[i].x1 else None

    def summary(self) -> str:
        """ "Chunks of KEY: 5 chunks of 8.0 s, 2.0 s overlap; 1 doubtful joint" for the status
        bar; for a conversation result, where its separator ran."""
        if self.runs:
            read = sum(r.x1 - r.x0 for r in self.runs)
            used = sum(b - a for r in self.runs for a, b in r.used)
            share = f" ({100 * read / self.duration:.0f}% of {self.duration:.1f} s)"
            return (
                f"Separator of {self.title}: ran on {len(self.runs)} stretch"
                f"{'es' if len(self.runs) != 1 else ''}, {read:.1f} s read"
                f"{share if self.duration > 0 else ''}; its outputs used on {used:.1f} s of "
                "overlaps and handovers (darker)"
            )
        if not self.chunks:
            return (
                f"{self.title}: one chunk, no joints"
                if self.title
                else "No result to show chunks of"
            )
        lengths = [c.stop - c.start for c in self.chunks]
        overlap = self.joints[0].x1 - self.joints[0].x0 if self.joints else 0.0
        low = sum(j.low for j in self.joints)
        text = (
            f"Chunks of {self.title}: {len(self.chunks)} chunks of {max(lengths):.1f} s, "
            f"{overlap:.1f} s overlap"
        )
        return text + (f"; {low} doubtful joint{'s' if low != 1 else ''} (red)" if low else "")
