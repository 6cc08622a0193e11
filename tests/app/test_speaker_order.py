"""Issue 16: a result's speaker order is solved once, on the full signals, off the GUI thread, and
stored in the session; the Listen lanes and the Metrics table use that one order, even for a result
whose order on a shortened signal (what the Listen view used to solve) is the other one."""

import threading

import numpy as np
import pytest
import soundfile as sf

from conftest import SR, open_mixture, run_models

SECONDS = (
    52.0  # over 2 x 400,000 samples: the old alignment on the GUI thread took every 2nd sample
)


def interleaved(seconds: float, seed: int = 0):
    """References ``[2, T]`` (white noise) and estimates whose even samples are a quiet copy of one
    reference and whose odd samples a loud copy of the other: on every 2nd sample (a shortened
    signal) estimate i matches reference i, on the full signal it matches the other one."""
    rng = np.random.default_rng(seed)
    refs = (0.1 * rng.standard_normal((2, int(seconds * SR)))).astype(np.float32)
    est = np.empty_like(refs)
    for i in range(2):
        est[i, 0::2] = 0.05 * refs[i, 0::2]
        est[i, 1::2] = 1.0 * refs[1 - i, 1::2]
    return refs, est


def si_sdr(est, ref):
    est, ref = est.astype(np.float64), ref.astype(np.float64)
    est, ref = est - est.mean(), ref - ref.mean()
    target = (est @ ref) / (ref @ ref) * ref
    return 10 * np.log10((target @ target) / ((est - target) @ (est - target)))


def test_listen_and_metrics_show_the_one_order_solved_on_the_full_signals(
    qtbot, window, tmp_path, monkeypatch
):
    import app.session
    import separation_core.evaluation.metrics as M
    import separation_core.evaluation.scoring as scoring
    from separation_core.checkpoints import catalog
    from separation_core.engine import inference
    from separation_core.models.result import SeparationResult

    refs, est = interleaved(SECONDS)
    full = list(M.solve_permutation(M.pairwise_si_sdr(est, refs)))
    short = list(M.solve_permutation(M.pairwise_si_sdr(est[:, ::2], refs[:, ::2])))
    assert full == [1, 0] and short == [0, 1]  # the signals do what they are made for
    folder = tmp_path / "audio"
    folder.mkdir()
    sf.write(folder / "mix.wav", refs.sum(0), SR, subtype="FLOAT")
    ref_paths = []
    for i, r in enumerate(refs):
        ref_paths.append(folder / f"ref{i + 1}.wav")
        sf.write(ref_paths[-1], r, SR, subtype="FLOAT")
    monkeypatch.setattr(
        scoring, "DEFAULT_METRICS", ("si_sdr", "si_sdri")
    )  # PESQ & co. are beside the point
    open_mixture(qtbot, window, folder / "mix.wav", ref_paths)  # with the oracle, scored
    solved = []
    original = app.session.align_sources
    monkeypatch.setattr(
        app.session,
        "align_sources",
        lambda *a: solved.append(threading.get_ident()) or original(*a),
    )
    monkeypatch.setattr(catalog, "load_model", lambda entry: object())
    monkeypatch.setattr(
        inference,
        "separate",
        lambda *a, **k: SeparationResult(
            waveforms=est.copy(), sample_rate=SR, model_name="interleaved"
        ),
    )
    window.panel.mode.setCurrentIndex(window.panel.mode.findData("model"))  # the model's order
    done = []
    window.metrics_finished.connect(lambda: done.append(1))
    run_models(qtbot, window, ["ff-mask"])
    qtbot.waitUntil(lambda: bool(done) and not window.scoring.job.busy, timeout=60000)
    s = window.session
    record = s.results["ff-mask"]
    assert solved and threading.get_ident() not in solved  # solved by the job
    order = s.order("ff-mask")
    assert order == full
    assert list(record.evaluation.permutation) == order  # the metrics were given it
    assert len(solved) == 1  # and nobody solved it again
    # Listen: column c shows estimate order[c]
    window.result_combo.setCurrentText("ff-mask")
    window.set_view("listen")
    lanes = window.lanes.visible_lanes()
    assert len(lanes) == 2
    for c, lane in enumerate(lanes):
        np.testing.assert_array_equal(
            lane.wave.layer.envelope.samples, record.result.waveforms[order[c]]
        )
    # Metrics: the row of source i scores the same estimate against reference i
    window.set_view("metrics")
    table = window.metrics.table
    rows = {(table.item(r, 0).text(), table.item(r, 1).text()): r for r in range(table.rowCount())}
    for i in range(2):
        shown = float(table.item(rows[("ff-mask", f"source {i + 1}")], 2).text())
        assert shown == pytest.approx(si_sdr(est[order[i]], refs[i]), abs=0.01)
        assert shown != pytest.approx(si_sdr(est[short[i]], refs[i]), abs=1.0)
