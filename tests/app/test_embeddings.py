"""Item 5: the embedding scatter (PCA, coloured by cluster); a rectangle or lasso selection becomes
a mask highlighted on the spectrogram and is played as a masked signal."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from conftest import SR, open_mixture
from fakes import add_records, record


def embed(qtbot, window, audio_files, sources, by_time=False):
    from separation_core.models.transforms import StftParams

    open_mixture(qtbot, window, audio_files[0])
    st = StftParams(256, 64, 256, SR)
    n_freq, frames = st.n_freq, st.n_frames(sources.shape[1])
    f, t = np.meshgrid(np.arange(n_freq), np.arange(frames), indexing="ij")
    bins = np.stack([f.ravel(), t.ravel()], 1).astype(np.int64)
    if by_time:  # cluster 1: the second half of the recording
        labels = (bins[:, 1] >= frames // 2).astype(np.int64)
    else:  # cluster 1: the upper half band
        labels = (bins[:, 0] >= n_freq // 2).astype(np.int64)
    rng = np.random.default_rng(0)
    centres = np.array([[-3.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    emb = (centres[labels] + 0.3 * rng.standard_normal((len(bins), 3))).astype(np.float32)
    masks = np.stack([(labels == k).reshape(n_freq, frames) for k in (0, 1)]).astype(np.float32)
    rec = record("dc", sources, masks, st, embeddings=emb, bins=bins, labels=labels)
    add_records(window, rec)
    window.set_view("embeddings")
    return window, rec, labels.reshape(n_freq, frames)


@pytest.fixture
def embedded(qtbot, window, audio_files, sources):
    return embed(qtbot, window, audio_files, sources)


def test_play_selection_starts_where_the_selected_bins_begin(qtbot, window, audio_files, sources):
    w, rec, labels = embed(qtbot, window, audio_files, sources, by_time=True)
    view = w.embeddings
    w.transport.seek(0.1)  # the play head is elsewhere
    side = np.sign(view.points[rec.result.embedding_labels == 1, 0].mean())
    view._on_selected("rect", (0.0, -50.0, side * 50.0, 50.0))  # the second half
    st = rec.result.stft
    start = (labels.shape[1] // 2 * st.hop - st.win_length / 2) / SR
    qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.transport.is_playing, timeout=10000)
    assert w.transport.mixer.position_seconds == pytest.approx(start, abs=1.0 / SR)


def test_scatter_is_pca_coloured_by_cluster(embedded):
    w, rec, labels = embedded
    view = w.embeddings
    assert view.combo.currentText() == "dc"
    assert view.points.shape == (labels.size, 2)
    # the first principal component separates the two clusters
    first = view.points[:, 0]
    assert np.all(
        np.sign(first[rec.result.embedding_labels == 0])
        != np.sign(first[rec.result.embedding_labels == 1][0])
    )
    assert len(view.scatter.data) <= 6000 and "cluster 2" in view.legend.text()


def test_rectangle_selection_becomes_the_cluster_mask(qtbot, embedded):
    w, rec, labels = embedded
    view = w.embeddings
    side = np.sign(view.points[rec.result.embedding_labels == 1, 0].mean())
    view._on_selected("rect", (0.0, -50.0, side * 50.0, 50.0))  # the half-plane of cluster 1
    np.testing.assert_array_equal(view.mask, (labels == 1).astype(np.float32))
    assert (
        view.play_button.isEnabled()
        and f"{(labels == 1).sum()} of {labels.size}" in view.info.text()
    )
    qtbot.waitUntil(lambda: view.overlay.last is not None, timeout=2000)
    assert view.overlay.last.data.max() == 1.0


def test_lasso_selection_and_clear(embedded):
    w, rec, labels = embedded
    view = w.embeddings
    x = view.points[:, 0]
    big = 10 * float(np.abs(view.points).max())
    polygon = np.array(
        [
            [0.0, -big],
            [np.sign(x[labels.ravel() == 0].mean()) * big, -big],
            [np.sign(x[labels.ravel() == 0].mean()) * big, big],
            [0.0, big],
        ]
    )
    view._on_selected("lasso", polygon)
    np.testing.assert_array_equal(view.mask, (labels == 0).astype(np.float32))
    view.clear_selection()
    assert view.mask is None and not view.play_button.isEnabled()


def test_selection_is_played_as_a_masked_signal(qtbot, embedded):
    w, rec, labels = embedded
    view = w.embeddings
    view._on_selected("rect", (-1e3, -1e3, 1e3, 1e3))  # everything: the mixture itself
    player = w.transport.ensure_player()
    qtbot.mouseClick(
        view.play_button, __import__("PySide6.QtCore").QtCore.Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: "selection" in w.transport.mixer.track_names(), timeout=10000)
    assert w.transport.is_playing and w.transport.mixer.weights()["selection"] == 1.0
    assert sum(w.transport.mixer.weights().values()) == 1.0
    w.transport.seek(0.0)
    player.pull(w.transport.mixer.fade)
    heard = player.pull(8000)
    mixture = w.session.mixture
    fade = w.transport.mixer.fade
    np.testing.assert_allclose(heard, mixture[fade : fade + 8000], atol=1e-4)  # all-pass mask


def test_masked_signal_matches_an_independent_istft(sources):
    from scipy.signal import istft, stft

    from app.jobs.masked_signal import masked_signal
    from separation_core.models.transforms import StftParams

    mix = sources.sum(0)
    st = StftParams(256, 64, 256, SR)
    n_frames = st.n_frames(len(mix))
    mask = np.zeros((st.n_freq, n_frames), np.float32)
    mask[: st.n_freq // 4] = 1.0  # keep the lowest quarter band
    y = masked_signal(mix, SR, mask, st)
    _, _, z = stft(mix, SR, window="hann", nperseg=256, noverlap=192, boundary="even", padded=False)
    frames = min(z.shape[1], n_frames)
    _, ref = istft(z[:, :frames] * mask[:, :frames], SR, window="hann", nperseg=256, noverlap=192)
    core = slice(512, len(mix) - 512)  # away from the edges
    np.testing.assert_allclose(y[core], ref[: len(mix)][core], atol=2e-3)
    assert np.abs(masked_signal(mix, SR, np.zeros_like(mask), st)).max() == 0.0
