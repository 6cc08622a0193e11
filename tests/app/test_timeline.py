"""Issue 15: the quality timeline under the Listen lanes: segmental SI-SDR per source with the swapped
windows flagged (with references), leakage and stitching confidence (without), computed on the job
runner, a click moves the play head. Issue 30: a legend that is never cut, 0 and 1 on the axis."""

import threading

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage, QPainter, QTextDocumentFragment
from PySide6.QtWidgets import QLabel

from conftest import SR, open_mixture, synthetic_sources
from fakes import add_records, record

SECONDS = 6.0
SWAP_AT = 2.4  # seconds: the synthetic result's outputs swap here


@pytest.fixture
def long_files(tmp_path):
    src = synthetic_sources(SECONDS, seed=2)
    folder = tmp_path / "long"
    folder.mkdir()
    sf.write(folder / "mix.wav", src.sum(0), SR, subtype="FLOAT")
    refs = []
    for i, s in enumerate(src):
        refs.append(folder / f"ref{i + 1}.wav")
        sf.write(refs[-1], s, SR, subtype="FLOAT")
    return folder / "mix.wav", refs, src


def swapping_outputs(src, seed=0):
    rng = np.random.default_rng(seed)
    est = src + 0.01 * rng.standard_normal(src.shape).astype(np.float32)
    cut = int(SWAP_AT * SR)
    est[:, cut:] = est[::-1, cut:].copy()
    return est


def wait_quality(qtbot, w):
    qtbot.waitUntil(
        lambda: (
            not w.quality.job.busy
            and not w.separation.oracle_job.busy
            and all(w.quality.track(k) is not None for k in w.session.results)
        ),
        timeout=60000,
    )


def test_segmental_si_sdr_per_source_and_swaps(qtbot, window, long_files, monkeypatch):
    import separation_core.evaluation.metrics as M
    import separation_core.evaluation.segmental as seg

    threads = []
    original = seg.segmental_si_sdr
    monkeypatch.setattr(
        seg,
        "segmental_si_sdr",
        lambda *a, **k: threads.append(threading.get_ident()) or original(*a, **k),
    )
    mix, refs, src = long_files
    w = window
    open_mixture(qtbot, w, mix, refs)
    est = swapping_outputs(src)
    add_records(w, record("swapper", est, None, None))
    wait_quality(qtbot, w)
    assert threads and threading.get_ident() not in threads  # on the job runner
    tl = w.timeline
    assert tl.isVisible() and tl.parent() is w.lanes  # under the lanes
    layout = w.lanes.layout()
    assert layout.indexOf(tl) > layout.indexOf(w.lanes.scroll)
    assert list(tl.rows) == ["swapper", "oracle-irm"]  # models, then the oracle
    assert "red bands" in tl.explain.toolTip() and "speakers swapped" in tl.explain.text()
    track = w.quality.track("swapper")
    order = w.session.order("swapper")
    # each value is metrics.si_sdr of the column's output on that window
    win = int(track.window * SR)
    for k in (0, 3, len(track.times) - 1):
        start = int(round(track.times[k] * SR)) - win // 2
        for c in range(2):
            expected = float(
                M.si_sdr(est[order[c], start : start + win], src[c, start : start + win])
            )
            assert track.values[c, k] == pytest.approx(expected, abs=1e-6)
    # the file's order is the one after the swap: the windows before it are flagged, none after
    before = track.times + track.window / 2 <= SWAP_AT
    after = track.times - track.window / 2 >= SWAP_AT
    assert before.any() and after.any()
    assert track.swapped[before].all() and not track.swapped[after].any()
    row = tl.rows["swapper"]
    bars = row.swap_bars
    assert bars is not None and np.allclose(bars.opts["x"], track.times[track.swapped])
    assert len(row.curves) == 2
    assert "speakers swapped" in row.value_text(0.5) and "swapped" not in row.value_text(5.0)
    # the oracle separates: high SI-SDR, no swap
    oracle = w.quality.track("oracle-irm")
    assert np.nanmin(oracle.values) > 5 and not oracle.swapped.any()
    # a click on the row moves the play head there
    plot = row.plot
    w.set_view("listen")
    qtbot.waitUntil(plot.isVisible)
    vb = plot.getPlotItem().getViewBox()
    scene = vb.mapViewToScene(vb.mapToView(vb.boundingRect().center()))
    target = vb.mapSceneToView(scene).x()
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.mapFromScene(scene))
    assert w.transport.mixer.position_seconds == pytest.approx(target, abs=0.01)
    assert plot.link.playhead.value() == pytest.approx(target, abs=0.01)
    # computed once: a second refresh starts nothing
    assert w.quality.refresh() is None
    # View > Quality timeline hides it
    w.act_timeline.trigger()
    assert not tl.isVisible()
    w.act_timeline.trigger()
    assert tl.isVisible()


def test_without_references_leakage_and_stitching_confidence(qtbot, window, long_files):
    mix, _refs, src = long_files
    w = window
    open_mixture(qtbot, w, mix)
    leaky = src.copy()
    leaky[:, 3 * SR :] += 0.8 * src[::-1, 3 * SR :]
    rec = record("leaky", leaky, None, None)
    rec.result.stitching = [
        {"start": 0, "stop": 3 * SR, "order": [0, 1], "confidence": None, "cue": "first"},
        {"start": 2 * SR, "stop": 5 * SR, "order": [1, 0], "confidence": 0.9, "cue": "overlap"},
        {"start": 4 * SR, "stop": 6 * SR, "order": [0, 1], "confidence": 0.2, "cue": "profile"},
    ]
    add_records(w, rec)
    wait_quality(qtbot, w)
    from separation_core.evaluation.segmental import output_leakage

    track = w.quality.track("leaky")
    times, values = output_leakage(leaky, SR)
    assert track.kind == "leakage" and track.swapped is None
    np.testing.assert_allclose(track.values[0], values)
    assert values[times - 0.5 >= 3.0].min() > values[times + 0.5 <= 3.0].max()
    row = w.timeline.rows["leaky"]
    assert "No references" in w.timeline.explain.toolTip()
    points = row.confidence.data
    assert list(points["x"]) == [2.5, 4.5] and list(points["y"]) == [0.9, 0.2]  # joints' middles
    red = [p.brush().color().name() for p in row.confidence.points()]
    assert red[1] == "#ff4646" and red[0] != "#ff4646"  # the doubtful joint is red
    assert "outputs alike" in row.value_text(4.5)


def test_the_legend_is_whole_and_the_blind_axis_reads_0_and_1(qtbot, window, long_files):
    """The explanation was cut at the default width, the axis showed only 0.5, the dots at 1 were
    half clipped, and nothing told them from the curve."""
    mix, _refs, src = long_files
    w = window
    open_mixture(qtbot, w, mix)
    rec = record("blind", src, None, None)
    rec.result.stitching = [
        {"start": 0, "stop": 3 * SR, "order": [0, 1], "confidence": None, "cue": "first"},
        {"start": 2 * SR, "stop": 6 * SR, "order": [0, 1], "confidence": 1.0, "cue": "overlap"},
    ]
    add_records(w, rec)
    wait_quality(qtbot, w)
    qtbot.wait(50)
    legend = w.timeline.explain
    drawn = QTextDocumentFragment.fromHtml(QLabel.text(legend)).toPlainText()
    for words in ("outputs alike", "0: apart", "1: the same", "stitching confidence", "low"):
        assert words in drawn
    assert legend.height() >= legend.heightForWidth(legend.width())  # no line cut off
    row = w.timeline.rows["blind"]
    item = row.plot.getPlotItem()
    image = QImage(200, 200, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    _axis, _ticks, texts = item.getAxis("left").generateDrawSpecs(painter)
    painter.end()
    assert [text for _rect, _flags, text in texts] == ["0", "0.5", "1"]
    vb = item.getViewBox()
    (dot,) = row.confidence.points()
    above = vb.mapViewToScene(QPointF(dot.pos().x(), 1.0)).y() - vb.sceneBoundingRect().top()
    assert dot.pos().y() == 1.0 and above >= row.confidence.opts["size"] / 2  # the dot is whole
