"""Conversation mode's masks and embeddings: the separator's, kept on the spans where it ran
(within a bounded budget), and each person's made of them by the plan."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import two_voices
from separation_core.conversation import masks as M
from separation_core.conversation.assembly import MIXTURE, SILENT
from separation_core.conversation.masks import MaskKeeper, SpanMasks, person_masks
from separation_core.conversation.pipeline import separate_overlaps, separator_spans
from separation_core.engine.inference import EngineOptions, separate
from separation_core.models.result import SeparationResult
from separation_core.models.transforms import StftParams

SR = 16000
GRID = StftParams(n_fft=64, hop=160, win_length=64, sample_rate=SR)  # a frame per plan frame


def span_result(masks: np.ndarray, grid=GRID, emb=None) -> SeparationResult:
    n = (masks.shape[-1] - 1) * grid.hop
    result = SeparationResult(
        np.zeros((masks.shape[0], n), np.float32), SR, "m", masks=masks, stft=grid
    )
    if emb is not None:
        result.embeddings, result.embedding_bins, result.embedding_labels = emb
    return result


def test_person_masks_follow_the_plan_frame_by_frame():
    """Person 0 talks alone (1), takes output 1 in the overlap (its mask), then is silent (0);
    person 1 takes output 0 there; a person with two rows gets their sum."""
    rng = np.random.default_rng(0)
    keeper = MaskKeeper()
    keeper.expect([(20 * 160, 40 * 160)], 60 * 160)
    span = rng.uniform(0, 1, (2, 33, 21)).astype(np.float32)
    keeper.add(20 * 160, span_result(span))
    kept = keeper.result()
    assert kept.stft == GRID and kept.n_frames == 61 and kept.starts == [20]
    rows = np.full((3, 60), SILENT)
    rows[0, :25], rows[0, 25:30] = MIXTURE, 1
    rows[1, 25:30], rows[1, 30:] = 0, MIXTURE
    rows[2, 28:30] = 1  # a second row of person 1 (a stretch moved there)
    masks, grid = person_masks(rows, (0, 1, 1), 2, 0.01, kept)
    assert grid == GRID and masks.shape == (2, 33, 61)
    np.testing.assert_array_equal(masks[0, :, :25], 1.0)
    np.testing.assert_array_equal(masks[0, :, 25:30], span[1, :, 5:10])
    np.testing.assert_array_equal(masks[0, :, 30:], 0.0)
    np.testing.assert_array_equal(masks[1, :, 25:28], span[0, :, 5:8])
    np.testing.assert_allclose(masks[1, :, 28:30], span[0, :, 8:10] + span[1, :, 8:10])
    np.testing.assert_array_equal(masks[1, :, 30:60], 1.0)
    # the frame past the plan's end holds its last decision
    np.testing.assert_array_equal(masks[1, :, 60], 1.0)


def test_embedding_samples_are_placed_on_the_recording_and_labelled_by_person():
    keeper = MaskKeeper(max_points=100)
    keeper.expect([(10 * 160, 30 * 160)], 50 * 160)
    assert keeper.options(EngineOptions(keep_masks=False), 20 * 160).keep_masks
    assert keeper.options(EngineOptions(), 20 * 160).max_embedding_points == 100
    bins = np.array([[3, 0], [4, 5], [5, 12]])
    labels = np.array([0, 1, -1])
    emb = (np.eye(3, dtype=np.float32), bins, labels)
    keeper.add(10 * 160, span_result(np.full((2, 33, 21), 0.5, np.float32), emb=emb))
    kept = keeper.result()
    np.testing.assert_array_equal(kept.bins[:, 1], [10, 15, 22])
    rows = np.full((2, 50), SILENT)
    rows[0, 10:20], rows[1, 10:20] = 1, 0  # output 1 is person 0's, output 0 person 1's
    views = M.views_of_plan(rows, (0, 1), 2, 0.01, kept, np.float16)
    np.testing.assert_array_equal(views["embedding_labels"], [1, 0, -1])
    assert views["masks"].dtype == np.float16 and views["mask_kind"] is None


def test_long_recordings_pool_the_masks_within_the_budget(monkeypatch):
    """Past the budget the spans' frames are averaged and the people's taken one in m: the grid's
    hop says so, and no array passes the budget."""
    budget = 2 * 33 * 40 * 4  # two outputs, 40 frames of float32
    monkeypatch.setattr(M, "SHARE_BYTES", budget)
    keeper = MaskKeeper(max_points=100)
    keeper.expect([(0, 100 * 160)], 400 * 160)
    span = np.random.default_rng(1).uniform(0, 1, (2, 33, 101)).astype(np.float32)
    emb = (np.ones((2, 3), np.float32), np.array([[0, 0], [1, 1]]), np.array([0, 1]))
    keeper.add(0, span_result(span, emb=emb))
    kept = keeper.result()
    pool = 3  # ceil(101 frames / 40)
    assert kept.stft.hop == GRID.hop * pool and kept.n_frames == int(np.ceil(401 / pool))
    assert kept.masks[0].nbytes <= budget and kept.embeddings is None
    np.testing.assert_allclose(kept.masks[0][:, :, 1], span[:, :, 3:6].mean(-1), rtol=1e-6)
    rows = np.full((3, 400), MIXTURE)
    masks, grid = person_masks(rows, (0, 1, 2), 3, 0.01, kept)
    assert masks.nbytes <= budget and masks.dtype == np.float32
    step = grid.hop // kept.stft.hop
    assert step == int(np.ceil(3 * 33 * kept.n_frames * 4 / budget))
    assert masks.shape[-1] == len(range(0, kept.n_frames, step))
    views = M.views_of_plan(rows, (0, 1, 2), 3, 0.01, kept, np.float32)
    assert views["embeddings"] is None and views["stft"] == grid


def test_nothing_kept_gives_no_masks():
    keeper = MaskKeeper()
    keeper.expect([(0, 1600)], 1600)
    keeper.add(0, SeparationResult(np.zeros((2, 1600), np.float32), SR, "m"))
    assert keeper.result() is None
    views = M.views_of_plan(np.zeros((1, 10), int), (0,), 1, 0.01, None, np.float32)
    assert all(v is None for v in views.values())


@pytest.fixture(scope="module")
def model():
    from separation_core.checkpoints.catalog import default_model_id, load_model

    return load_model(default_model_id())


def test_the_spans_masks_are_the_engines_on_each_span(model):
    """A real separator on two overlaps: the kept masks of each span are those ``separate`` gives
    on that span alone, placed at its frame; nowhere else is there a mask."""
    x = np.concatenate([two_voices(3.0)[1]] * 3).astype(np.float32)
    overlap = np.zeros(int(len(x) / 160), bool)
    overlap[200:260] = overlap[700:740] = True
    engine = EngineOptions(keep_masks=False, max_embedding_points=0, speaker_order=False)
    keeper = MaskKeeper(max_points=2000)
    outputs, _ = separate_overlaps(model, x, overlap, engine, keeper=keeper)
    kept = keeper.result()
    spans = separator_spans(overlap, len(x))
    assert len(kept.masks) == len(spans) == 2 and kept.stft == model.stft_params
    for (a, b), first, masks in zip(spans, kept.starts, kept.masks):
        alone = separate(model, x[a:b], SR, EngineOptions(speaker_order=False))
        assert first == round(a / model.stft_params.hop)
        np.testing.assert_allclose(masks, alone.masks, atol=1e-5)
        np.testing.assert_allclose(outputs[:, a:b], alone.waveforms, atol=1e-5)
    between = np.arange(kept.starts[0] + kept.masks[0].shape[-1] + 1, kept.starts[1])
    assert np.abs(kept.output_mask(0, between)).max() == 0.0
    if model.stft_params is not None and kept.embeddings is not None:  # a clustering model
        assert 0 < len(kept.embeddings) <= 2000
        assert kept.bins[:, 1].min() >= kept.starts[0]


def test_span_masks_in_float16_halve_their_bytes():
    kept = SpanMasks(GRID, 10, "estimated", [0], [np.ones((2, 33, 10), np.float32)])
    half = kept.astype(np.float16)
    assert half.masks[0].nbytes * 2 == kept.masks[0].nbytes and half.starts == [0]


def test_the_budget_is_the_engines_shared_in_two():
    from separation_core.engine.inference import MAX_MASK_BYTES

    assert 2 * M.SHARE_BYTES == MAX_MASK_BYTES
