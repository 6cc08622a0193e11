"""Issue 15: quality over time (segmental SI-SDR, swapped windows, output leakage) and the chunk grid
a result reports."""

import numpy as np
import pytest

from helpers import two_voices
from separation_core.cancel import CancelToken
from separation_core.engine.chunk_report import Chunk, result_chunks
from separation_core.errors import Cancelled
from separation_core.evaluation.metrics import pairwise_si_sdr, si_sdr, solve_permutation
from separation_core.evaluation.segmental import (
    global_permutation,
    output_leakage,
    segmental_si_sdr,
    window_grid,
)

SR = 16000


def noisy(sources, level=0.02, seed=1):
    rng = np.random.default_rng(seed)
    return sources + level * rng.standard_normal(sources.shape).astype(np.float32)


def test_window_grid_covers_the_signal():
    starts, length = window_grid(5 * SR + 5000, SR, 1.0, 0.5)
    assert length == SR and starts[0] == 0 and starts[1] == SR // 2
    assert starts[-1] + length == 5 * SR + 5000  # over half a hop left: a window ends at the end
    assert window_grid(5 * SR + 3000, SR, 1.0, 0.5)[0][-1] + SR == 5 * SR  # less: not
    assert window_grid(SR // 2, SR)[0].tolist() == [0] and window_grid(SR // 2, SR)[1] == SR // 2


def test_values_are_si_sdr_of_each_window():
    refs, _ = two_voices(4.0, SR)
    est = noisy(refs)[::-1].copy()  # outputs in the other order
    times, values, swapped = segmental_si_sdr(est, refs, SR, 1.0, 0.5)
    starts, length = window_grid(refs.shape[1], SR, 1.0, 0.5)
    assert values.shape == (2, len(starts)) and times.shape == swapped.shape == (len(starts),)
    np.testing.assert_allclose(times, (starts + length / 2) / SR)
    perm = solve_permutation(pairwise_si_sdr(est, refs))
    assert perm.tolist() == [1, 0]
    for w, s in enumerate(starts):
        for i in range(2):
            assert values[i, w] == pytest.approx(
                float(si_sdr(est[perm[i], s : s + length], refs[i, s : s + length])), abs=1e-9
            )
    assert not swapped.any()  # one order throughout: no swap


def test_windows_after_a_swap_are_flagged():
    refs, _ = two_voices(6.0, SR)
    est = noisy(refs)
    cut = int(2.25 * SR)  # the outputs swap a little before halfway
    est[:, cut:] = est[::-1, cut:].copy()
    times, values, swapped = segmental_si_sdr(est, refs, SR, 1.0, 0.5)
    starts, length = window_grid(refs.shape[1], SR, 1.0, 0.5)
    # the global order is the one that holds for most of the file (after the swap)
    assert global_permutation(est, refs).tolist() == [1, 0]
    before = starts + length <= cut
    after = starts >= cut
    assert swapped[before].all() and not swapped[after].any()
    # the swapped windows score badly under the global order, the others well
    assert np.nanmax(values[:, before]) < 0 < np.nanmin(values[:, after])
    # an order given by the caller (the GUI's columns) is the global one
    _, _, swapped_id = segmental_si_sdr(est, refs, SR, order=[0, 1])
    assert swapped_id[after].all() and not swapped_id[before].any()


def test_silent_reference_windows_are_nan_and_not_judged():
    refs, _ = two_voices(4.0, SR)
    refs[1, : 2 * SR] = 0.0
    times, values, swapped = segmental_si_sdr(noisy(refs), refs, SR)
    silent = times + 0.5 <= 2.0
    assert np.isnan(values[1, silent]).all() and np.isfinite(values[0]).all()
    assert not swapped[silent].any()


def test_global_permutation_matches_the_metrics_one():
    refs, _ = two_voices(3.0, SR)
    rng = np.random.default_rng(3)
    for _ in range(5):
        mix = rng.standard_normal((2, 2))
        est = mix @ refs + 0.05 * rng.standard_normal(refs.shape)
        expected = solve_permutation(pairwise_si_sdr(est, refs))
        assert global_permutation(est, refs, block=7001).tolist() == expected.tolist()


def test_leakage_is_low_when_apart_high_when_leaking():
    refs, mix = two_voices(4.0, SR)
    _, apart = output_leakage(refs, SR)
    leaky = refs.copy()
    leaky[:, 2 * SR :] += 0.7 * refs[::-1, 2 * SR :]  # each speaker leaks into the other half-way
    times, half = output_leakage(leaky, SR)
    _, same = output_leakage(np.stack([mix, 0.5 * mix]), SR)
    assert apart.max() < 0.5 and np.allclose(same, 1.0, atol=1e-6)
    assert half[times - 0.5 >= 2.0].min() > apart.max() + 0.2
    np.testing.assert_allclose(half[times + 0.5 <= 2.0], apart[times + 0.5 <= 2.0], atol=1e-9)
    quiet = np.concatenate([np.zeros((2, SR), np.float32), refs], axis=1)
    t2, v2 = output_leakage(quiet, SR)
    assert np.isnan(v2[t2 + 0.5 <= 1.0]).all() and np.isfinite(v2[t2 - 0.5 >= 1.0]).all()


def test_long_work_reports_progress_and_stops_when_cancelled():
    refs, _ = two_voices(3.0, SR)
    seen = []
    segmental_si_sdr(refs, refs, SR, progress=lambda f, s: seen.append(f))
    assert seen[-1] == 1.0
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        output_leakage(refs, SR, cancel=token)


class _Result:
    def __init__(self, n, stitching=None, timings=None):
        self.waveforms = np.zeros((2, n), np.float32)
        self.sample_rate = SR
        self.timings = timings or {}
        if stitching is not None:
            self.stitching = stitching


def test_chunks_from_the_stitching_record():
    rec = [
        {"start": 0, "stop": 8 * SR, "order": [0, 1], "confidence": None, "cue": "first"},
        {"start": 6 * SR, "stop": 14 * SR, "order": [1, 0], "confidence": 0.83, "cue": "profile"},
        {"start": 12 * SR, "stop": 15 * SR, "order": [0, 1], "confidence": 0.2, "cue": "overlap"},
    ]
    chunks = result_chunks(_Result(15 * SR, rec))
    assert [(c.start, c.stop) for c in chunks] == [(0, 8), (6, 14), (12, 15)]
    assert chunks[1].label().startswith("order 2,1 (profile, 0.83)")
    assert (
        chunks[2].low_confidence and not chunks[1].low_confidence and not chunks[0].low_confidence
    )


def test_chunks_derived_from_timings_without_a_record():
    res = _Result(20 * SR, timings={"chunks": 3, "chunk_seconds": 8.0, "overlap_seconds": 2.0})
    chunks = result_chunks(res)
    assert [(c.start, c.stop) for c in chunks] == [(0, 8), (6, 14), (12, 20)]
    assert all(c.order is None and c.confidence is None for c in chunks)
    assert "no stitching record" in chunks[1].label()
    assert (
        result_chunks(
            _Result(SR, timings={"chunks": 1, "chunk_seconds": 1.0, "overlap_seconds": 0.0})
        )
        == []
    )
    assert result_chunks(_Result(SR)) == []
    assert result_chunks(_Result(SR, stitching=[])) == []
    assert Chunk(0.0, 1.0, (0, 1), 0.49).low_confidence
