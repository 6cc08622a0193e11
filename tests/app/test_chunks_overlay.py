"""Issue 15: View > Show chunks draws the engine's chunks and stitching decisions on every time plot."""

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from conftest import SR, open_mixture, synthetic_sources
from fakes import add_records, record

STITCHING = [
    {"start": 0, "stop": int(1.0 * SR), "order": [0, 1], "confidence": None, "cue": "first"},
    {
        "start": int(0.75 * SR),
        "stop": int(1.75 * SR),
        "order": [1, 0],
        "confidence": 0.83,
        "cue": "profile",
    },
    {
        "start": int(1.5 * SR),
        "stop": int(2.0 * SR),
        "order": [0, 1],
        "confidence": 0.21,
        "cue": "overlap",
    },
]


def overlay_items(w):
    return list(w.chunks.items.values())


def time_viewboxes(w):
    """The view box of every time plot of the window: lanes, timeline rows, mask cells."""
    boxes = [p.getPlotItem().getViewBox() for p in w.lanes.all_plots()]
    boxes += [row.plot.getPlotItem().getViewBox() for row in w.timeline.rows.values()]
    boxes += [c.viewbox for c in w.masks.cells]
    return boxes


def item_in(vb):
    from app.views.chunks import ChunkLinesItem

    found = [i for i in vb.childGroup.childItems() if isinstance(i, ChunkLinesItem)]
    assert len(found) == 1
    return found[0]


@pytest.fixture
def chunked(qtbot, window, tmp_path):
    import soundfile as sf

    from separation_core.models.transforms import StftParams

    src = synthetic_sources(2.0)
    path = tmp_path / "mix.wav"
    sf.write(path, src.sum(0), SR, subtype="FLOAT")
    open_mixture(qtbot, window, path)
    st = StftParams(512, 128, 512, SR)
    masks = (
        np.random.default_rng(0)
        .random((2, st.n_freq, st.n_frames(src.shape[1])))
        .astype(np.float32)
    )
    rec = record("stitched", src, masks, st)
    rec.result.stitching = [dict(d) for d in STITCHING]
    old = record("timed", src[::-1].copy(), masks, st)
    old.result.timings = {"chunks": 2, "chunk_seconds": 1.2, "overlap_seconds": 0.4}
    add_records(window, rec, old)
    window.result_combo.setCurrentText("stitched")
    qtbot.waitUntil(lambda: not window.quality.job.busy, timeout=30000)
    return window


def test_show_chunks_on_every_time_plot(qtbot, chunked):
    w = chunked
    w.set_view("masks")
    w.set_view("listen")
    boxes = time_viewboxes(w)
    assert len(boxes) >= 2 + 4 + 2 + 4  # mixture, two lanes, two timeline rows, mask cells
    assert not any(item_in(vb).isVisible() for vb in boxes)  # hidden until asked for
    w.act_chunks.trigger()
    assert w.act_chunks.isChecked()
    assert all(item_in(vb).isVisible() for vb in boxes)
    assert "Chunks of stitched: 3 chunks" in w.statusBar().currentMessage()
    assert "1 doubtful joint" in w.statusBar().currentMessage()
    # the joints: the overlaps, labelled with the decision; the low-confidence one is flagged
    joints = w.chunks.joints
    assert [(j.x0, j.x1) for j in joints] == [(0.75, 1.0), (1.5, 1.75)]
    assert joints[0].label.startswith("order 2,1 (profile, 0.83)") and not joints[0].low
    assert joints[1].label.startswith("order 1,2 (overlap, 0.21)") and joints[1].low
    # hovering a joint tells its decision; elsewhere nothing
    item = item_in(w.lanes.mixture.wave.getPlotItem().getViewBox())

    def hover(t):
        item.hoverEvent(SimpleNamespace(isExit=lambda: False, pos=lambda: QPointF(t, 0.0)))
        return item.toolTip()

    assert hover(0.875).startswith("order 2,1 (profile, 0.83)")
    assert hover(1.6).startswith("order 1,2 (overlap, 0.21)")
    assert hover(0.3) == ""
    with qtbot.captureExceptions() as exceptions:  # painting works
        w.lanes.mixture.wave.grab()
        w.lanes.lanes[0].spec.grab()
    assert exceptions == []
    # plots made later get the overlay too (the masks grid is rebuilt)
    w.set_view("masks")
    w.masks.diff_box.setChecked(True)
    assert all(item_in(c.viewbox).isVisible() for c in w.masks.cells)
    # another result without a stitching record: its grid from the timings, no decisions
    w.result_combo.setCurrentText("timed")
    assert [(round(j.x0, 3), round(j.x1, 3)) for j in w.chunks.joints] == [(0.8, 1.2)]
    assert "no stitching record" in w.chunks.joints[0].label
    # off again: hidden everywhere
    w.act_chunks.trigger()
    assert not any(item_in(vb).isVisible() for vb in time_viewboxes(w))


def test_a_result_in_one_chunk_has_nothing_to_show(qtbot, window, audio_files):
    open_mixture(qtbot, window, audio_files[0])
    add_records(window, record("single", synthetic_sources(1.5), None, None))
    window.act_chunks.trigger()
    assert window.chunks.joints == [] and not any(i.isVisible() for i in overlay_items(window))
    assert "one chunk" in window.statusBar().currentMessage()
