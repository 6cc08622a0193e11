"""DPRNN: segmentation / overlap-add, shapes at any length, rebuild, effective masks, learning."""

import pytest
import torch

from separation_core.errors import ModelError
from separation_core.models.base import KIND_TIME_DOMAIN
from separation_core.models.dprnn import DPRNN, overlap_add, segment

TINY = dict(n_filters=32, filter_length=8, features=16, hidden=16, chunk=20, n_blocks=2)


def tiny(**kw) -> DPRNN:
    torch.manual_seed(0)
    return DPRNN(**{**TINY, **kw})


@pytest.mark.parametrize("frames,chunk", [(257, 2), (257, 10), (100, 100), (37, 600)])
def test_segment_shape_and_overlap_add(frames, chunk):
    x = torch.randn(2, 3, frames)
    chunks = segment(x, chunk)
    hop = chunk // 2
    assert chunks.shape[:3] == (2, 3, chunk)
    # Chunk s starts at frame s * hop - hop of the input.
    s = 1
    start = s * hop - hop
    torch.testing.assert_close(
        chunks[..., : min(chunk, frames - start), s], x[..., start : start + chunk]
    )
    # Every frame lies in exactly two chunks.
    torch.testing.assert_close(overlap_add(chunks, frames), 2 * x)


def test_registered_kind_and_defaults():
    assert DPRNN.name == "dprnn"
    assert DPRNN.kind == KIND_TIME_DOMAIN
    m = DPRNN()
    assert m.encoder.stride == 8 and m.chunk == 100
    assert 1_000_000 < m.num_parameters() < 5_000_000


@pytest.mark.parametrize("length", [16001, 12345, 9, 1])
def test_forward_exact_length(length):
    out = tiny()(torch.randn(2, length))
    assert out["waveforms"].shape == (2, 2, length)


def test_rebuild_from_model_args_and_state_dict():
    m = tiny(n_src=3, inter_bidirectional=False, mask_activation="relu", sample_rate=8000)
    rebuilt = DPRNN(**m.model_args())
    rebuilt.load_state_dict(m.state_dict())
    x = torch.randn(1, 4001)
    with torch.no_grad():
        assert torch.equal(m(x)["waveforms"], rebuilt(x)["waveforms"])
    assert rebuilt(x)["waveforms"].shape == (1, 3, 4001)
    assert rebuilt.model_args() == m.model_args()


def test_separate_chunk_effective_masks():
    m = tiny()
    out = m.separate_chunk(torch.randn(12345))
    p = m.stft_params
    assert out.waveforms.shape == (2, 12345)
    assert out.masks.shape == (2, p.n_freq, p.n_frames(12345))
    mags = torch.stft(
        out.waveforms,
        p.n_fft,
        p.hop,
        p.win_length,
        torch.hann_window(p.n_fft),
        center=True,
        return_complex=True,
    ).abs()
    energetic = mags.sum(0) > 1e-3
    torch.testing.assert_close(out.masks.sum(0)[energetic], torch.ones(int(energetic.sum())))
    torch.testing.assert_close(
        out.masks[1][energetic], (mags[1] / mags.sum(0))[energetic], rtol=1e-4, atol=1e-4
    )


def test_bad_arguments_raise_model_error():
    with pytest.raises(ModelError):
        DPRNN(chunk=25)
    with pytest.raises(ModelError):
        DPRNN(mask_activation="tanh")
    with pytest.raises(ModelError):
        tiny().separate_chunk(torch.randn(2, 100))
