"""Issue 13, items 13 and 14: every view works in a 1024 x 700 window (nothing forces it wider);
mask rows are equally tall and grow with the window, the hover readout stays inside the view, the
Listen lanes grow with the window."""

import numpy as np
import pyqtgraph as pg
import pytest

from conftest import SR, open_mixture
from fakes import add_records, record

LONG_IDS = ("convtasnet-libri-16k", "chimera-tcn-rooms-16k", "dc-tcn-rooms-16k")


def settle(qtbot, w):
    for _ in range(3):
        qtbot.wait(40)


@pytest.fixture
def full(qtbot, window, audio_files, sources):
    """A window with references, three long-named results (one with embeddings), the oracle and
    metrics for all: every view at its widest content."""
    from separation_core.evaluation.scoring import Evaluation
    from separation_core.models.transforms import StftParams

    mix, refs = audio_files
    open_mixture(qtbot, window, mix)
    window.session.set_references(sources, refs)
    st = StftParams(512, 128, 512, SR)
    frames = st.n_frames(sources.shape[1])
    rng = np.random.default_rng(0)
    f, t = np.meshgrid(np.arange(st.n_freq), np.arange(frames), indexing="ij")
    bins = np.stack([f.ravel(), t.ravel()], 1).astype(np.int64)[::7]
    labels = (bins[:, 0] > st.n_freq // 2).astype(np.int64)
    emb = rng.standard_normal((len(bins), 8)).astype(np.float32)
    records = []
    for key in LONG_IDS + ("oracle-irm",):
        masks = rng.random((2, st.n_freq, frames)).astype(np.float32)
        extra = dict(embeddings=emb, bins=bins, labels=labels) if key.startswith("dc") else {}
        rec = record(
            key, sources + 0.01, masks, st, needs_references=key.startswith("oracle"), **extra
        )
        values = {"si_sdr": 12.345, "si_sdri": 11.111, "sdr": 13.0, "pesq": 3.21, "stoi": 0.987}
        rec.evaluation = Evaluation(np.array([0, 1]), [dict(values), dict(values)], dict(values))
        records.append(rec)
    add_records(window, *records)
    qtbot.waitUntil(lambda: not window.quality.job.busy, timeout=30000)  # the timeline's job
    # a run in progress: the status bar shows a long stage
    window.progress.show()
    window.stage_label.setText("dc-tcn-rooms-16k (3/3): separating: chunk 17/40 of the recording")
    window.eta_label.setText("ETA 1:23")
    return window


@pytest.mark.parametrize("view", ["listen", "masks", "embeddings", "metrics"])
def test_every_view_fits_a_1024_by_700_window(qtbot, full, view):
    w = full
    w.set_view(view)
    w.resize(1024, 700)
    settle(qtbot, w)
    assert w.minimumSizeHint().width() <= 1024
    assert w.width() <= 1024 and w.height() <= 700
    current = w.tabs.currentWidget()
    assert current.minimumSizeHint().width() <= 1024 - w.dock.minimumWidth()
    # nothing was cut: the long texts are elided, whole in their tooltips
    assert w.stage_label.text().startswith("dc-tcn-rooms-16k (3/3)")
    if w.stage_label.shown_text() != w.stage_label.text():
        assert w.stage_label.text() in w.stage_label.toolTip()
    if view == "metrics":
        assert "rows" in w.metrics.status.text()
        assert w.metrics.status.geometry().right() <= current.width()


def viewbox_heights(view) -> list[float]:
    return [c.viewbox.sceneBoundingRect().height() for c in view.cells]


@pytest.mark.parametrize("diff", [False, True])
def test_mask_rows_are_equally_tall_and_grow_with_the_window(qtbot, full, diff):
    w = full
    w.set_view("masks")
    w.masks.diff_box.setChecked(diff)
    heights = []
    for size in ((1024, 700), (1600, 975)):
        w.resize(*size)
        settle(qtbot, w)
        hs = viewbox_heights(w.masks)
        assert len(hs) == 2 * (4 + int(diff))
        assert max(hs) - min(hs) <= 3, (size, hs)
        heights.append(hs[0])
    assert heights[1] > heights[0] + 10  # the rows took the window's extra height


def test_the_hover_readout_stays_inside_the_view(qtbot, full):
    w = full
    w.set_view("masks")
    for size in ((1024, 700), (1600, 975)):
        w.resize(*size)
        settle(qtbot, w)
        view, readout = w.masks, w.masks.readout
        cell = next(c for c in view.cells if c.key == LONG_IDS[0] and c.column == 1)
        view._hover(cell.viewbox.mapViewToScene(pg.Point(0.75, 7777.0)))
        settle(qtbot, w)
        assert f"{LONG_IDS[0]} · source 2" in readout.text()
        assert view.rect().contains(readout.geometry())
        # the whole reading is shown, not cut off at the right
        assert readout.shown_text() == readout.text()
        assert (
            readout.fontMetrics().horizontalAdvance(readout.text())
            <= readout.contentsRect().width()
        )


def test_listen_lanes_grow_with_the_window(qtbot, full):
    w = full
    w.set_view("listen")
    sizes = []
    for size in ((1024, 700), (1600, 975)):
        w.resize(*size)
        settle(qtbot, w)
        lanes = w.lanes.visible_lanes()
        assert len(lanes) == 2
        hs = [lane.height() for lane in lanes]
        assert max(hs) - min(hs) <= 2
        # the source lanes fill the space they have: no empty band below them
        assert sum(hs) >= w.lanes.scroll.viewport().height() - 4
        sizes.append(hs[0])
    assert sizes[1] > sizes[0] + 50
