"""Frame energies of short runs, and a person silenced where their separated output is quiet."""

from __future__ import annotations

import numpy as np
import pytest

from separation_core.conversation import pipeline as P
from separation_core.conversation.assembly import MIXTURE, SILENT

HOP = int(P.HOP * P.RATE)


@pytest.mark.parametrize("n_frames", [1, 3, 4, 5, 12])
def test_frame_energy_is_a_centred_moving_mean_of_frame_power_on_runs_of_any_length(n_frames):
    rng = np.random.default_rng(n_frames)
    x = rng.standard_normal((2, n_frames * HOP)) * np.array([[1.0], [0.1]])
    got = P._frame_energy(x, n_frames)
    power = (x**2).reshape(2, n_frames, HOP).mean(-1)
    width = int(round(P.ENERGY_WINDOW_SECONDS / P.HOP))
    half = (width - 1) // 2
    want = np.zeros_like(power)
    for f in range(n_frames):
        lo, hi = f - half, f + (width - half)
        want[:, f] = power[:, max(lo, 0) : min(hi, n_frames)].sum(-1) / width
    assert got.shape == (2, n_frames)
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_a_person_whose_output_is_quiet_for_a_few_frames_is_silenced_only_there():
    """A run of a person's output shorter than the energy window (here 4 frames) must not break
    the rule, and a quiet output of 0.1 s or more is silenced."""
    rng = np.random.default_rng(0)
    n = 60
    mixture = rng.standard_normal(n * HOP).astype(np.float32)
    outputs = np.stack([mixture * 0.7, mixture * 0.7]).astype(np.float32)
    quiet = slice(30 * HOP, 50 * HOP)  # 0.2 s where output 1 holds only a leak, 30 dB down
    outputs[1, quiet] = mixture[quiet] * 10 ** (-30 / 20)
    source = np.full((2, n), SILENT, dtype=np.int64)
    source[0, :] = MIXTURE
    source[0, 10:14] = 0  # four frames of output 0: shorter than the energy window
    source[1, 20:60] = 1
    P._silence_quiet_outputs(source, outputs, mixture)
    assert (source[0, 10:14] == 0).all()  # loud enough: kept
    assert (source[1, 20:29] == 1).all()
    silenced = 20 + np.flatnonzero(source[1, 20:] == SILENT)
    assert silenced.min() >= 28 and silenced.max() <= 52  # within the window's blur of 30-50
    assert set(range(33, 47)) <= set(silenced.tolist())
    assert (source[1, 52:60] == 1).all()


def test_an_output_10_db_down_is_leak_only_where_another_person_is_labelled_alone():
    rng = np.random.default_rng(2)
    n = 80
    mixture = rng.standard_normal(n * HOP).astype(np.float32)
    outputs = (mixture * 10 ** (-10 / 20))[None].astype(np.float32)  # 10 dB below the mixture
    labels = np.full(n, -1)
    labels[40:70] = 1  # person 1 talks alone there, says the clustering
    source = np.full((2, n), SILENT, dtype=np.int64)
    source[0, 10:70] = 0
    kept = source.copy()
    P._silence_quiet_outputs(kept, outputs, mixture)  # without labels: QUIET_OUTPUT_DB is the bar
    assert (kept[0, 10:70] == 0).all()
    own = source.copy()
    own_labels = np.where(labels == 1, 0, -1)  # person 0 themselves labelled there: kept
    P._silence_quiet_outputs(own, outputs, mixture, own_labels)
    assert (own[0, 10:70] == 0).all()
    P._silence_quiet_outputs(source, outputs, mixture, labels)
    assert (source[0, 10:40] == 0).all()
    assert (source[0, 40:70] == SILENT).all()
