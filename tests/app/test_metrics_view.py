"""Item 6: metrics per model and source in a table and a bar chart, computed off the GUI thread."""

import itertools
import threading

import numpy as np
import pyqtgraph as pg
import pytest

from conftest import open_mixture, run_models


def si_sdr(est, ref):
    est, ref = est - est.mean(), ref - ref.mean()
    target = (est @ ref) / (ref @ ref) * ref
    return 10 * np.log10((target @ target) / ((est - target) @ (est - target)))


def test_metrics_table_and_chart(qtbot, window, audio_files, sources, monkeypatch):
    import separation_core.evaluation.scoring as M

    threads = []
    original = M.evaluate_separation

    def spy(*args, **kwargs):
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(M, "evaluate_separation", spy)
    mix, refs = audio_files
    open_mixture(qtbot, window, mix, refs)
    done = []
    window.metrics_finished.connect(lambda: done.append(1))
    run_models(qtbot, window, ["ff-mask"])
    qtbot.waitUntil(lambda: bool(done) and not window.scoring.job.busy, timeout=60000)
    assert threads and threading.get_ident() not in threads  # computed on a worker thread
    window.set_view("metrics")
    table = window.metrics.table
    rows = {(table.item(r, 0).text(), table.item(r, 1).text()): r for r in range(table.rowCount())}
    assert {
        ("ff-mask", "source 1"),
        ("ff-mask", "source 2"),
        ("ff-mask", "mean"),
        ("oracle-irm", "mean"),
    } <= set(rows)
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["Model", "Source", "SI-SDR (dB)", "SI-SDRi (dB)", "SDR (dB)", "PESQ", "STOI"]
    assert "mean over 30 s segments" in table.horizontalHeaderItem(headers.index("PESQ")).toolTip()
    # SI-SDR of each source under the best permutation, by an independent formula
    est = window.session.results["ff-mask"].result.waveforms.astype(np.float64)
    ref = sources.astype(np.float64)
    best = max(
        itertools.permutations(range(2)),
        key=lambda p: sum(si_sdr(est[p[i]], ref[i]) for i in range(2)),
    )
    for i in range(2):
        shown = float(table.item(rows[("ff-mask", f"source {i + 1}")], 2).text())
        assert shown == pytest.approx(si_sdr(est[best[i]], ref[i]), abs=0.01)
        improvement = si_sdr(est[best[i]], ref[i]) - si_sdr(ref.sum(0), ref[i])
        assert float(table.item(rows[("ff-mask", f"source {i + 1}")], 3).text()) == pytest.approx(
            improvement, abs=0.02
        )
    stoi = table.item(rows[("oracle-irm", "mean")], 6).text()
    assert 0.0 < float(stoi) <= 1.0
    bars = [i for i in window.metrics.chart.getPlotItem().items if isinstance(i, pg.BarGraphItem)]
    assert len(bars) == 3  # source 1, source 2, mean
    heights = np.concatenate([b.opts["height"] for b in bars])
    assert len(heights) == 3 * 2  # two scored results
    window.metrics.metric_combo.setCurrentIndex(4)  # STOI
    bars = [i for i in window.metrics.chart.getPlotItem().items if isinstance(i, pg.BarGraphItem)]
    assert all(0 < h <= 1 for b in bars for h in b.opts["height"])


def test_metrics_wait_for_references(qtbot, window, audio_files):
    open_mixture(qtbot, window, audio_files[0])
    run_models(qtbot, window, ["ff-mask"])
    window.set_view("metrics")
    assert window.metrics.table.rowCount() == 0 and not window.metrics.compute_button.isEnabled()
    assert "reference" in window.metrics.status.text()
