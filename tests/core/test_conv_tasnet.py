"""Conv-TasNet: shapes at any length, batch independence, rebuild, effective masks, learning."""

import pytest
import torch

from separation_core.errors import ModelError
from separation_core.models.base import KIND_TIME_DOMAIN
from separation_core.models.conv_tasnet import ConvTasNet

TINY = dict(
    n_filters=32,
    filter_length=8,
    bottleneck=16,
    hidden=32,
    skip=16,
    kernel=3,
    n_blocks=3,
    n_repeats=1,
)


def tiny(**kw) -> ConvTasNet:
    torch.manual_seed(0)
    return ConvTasNet(**{**TINY, **kw})


def test_registered_kind_and_defaults():
    assert ConvTasNet.name == "convtasnet"
    assert ConvTasNet.kind == KIND_TIME_DOMAIN
    m = ConvTasNet()
    assert m.n_src == 2 and m.sample_rate == 16000
    assert m.encoder.stride == 16
    assert 1_000_000 < m.num_parameters() < 5_000_000


@pytest.mark.parametrize("length", [16001, 12345, 8, 1])
def test_forward_exact_length(length):
    m = tiny()
    out = m(torch.randn(2, length))
    assert out["waveforms"].shape == (2, 2, length)


def test_rebuild_from_model_args_and_state_dict():
    m = tiny(n_src=3, mask_activation="relu", sample_rate=8000)
    rebuilt = ConvTasNet(**m.model_args())
    rebuilt.load_state_dict(m.state_dict())
    x = torch.randn(1, 4001)
    with torch.no_grad():
        assert torch.equal(m(x)["waveforms"], rebuilt(x)["waveforms"])
    assert rebuilt.model_args() == m.model_args()
    assert all(isinstance(v, (int, float, str, bool)) for v in m.model_args().values())


def test_separate_chunk_effective_masks():
    m = tiny()
    x = torch.randn(12345)
    out = m.separate_chunk(x)
    p = m.stft_params
    assert (p.n_fft, p.hop, p.sample_rate) == (512, 128, 16000)
    assert out.waveforms.shape == (2, 12345)
    assert out.masks.shape == (2, p.n_freq, p.n_frames(12345))
    # Effective masks: |S_k| / sum_j |S_j| of the outputs' own STFTs.
    mags = torch.stft(
        out.waveforms, 512, 128, 512, torch.hann_window(512), center=True, return_complex=True
    ).abs()
    energetic = mags.sum(0) > 1e-3
    torch.testing.assert_close(out.masks.sum(0)[energetic], torch.ones(int(energetic.sum())))
    torch.testing.assert_close(
        out.masks[0][energetic], (mags[0] / mags.sum(0))[energetic], rtol=1e-4, atol=1e-4
    )
    assert out.masks.min() >= 0 and out.masks.max() <= 1 + 1e-6


def test_stft_grid_scales_with_rate():
    p = tiny(sample_rate=8000).stft_params
    assert (p.n_fft, p.hop, p.sample_rate) == (256, 64, 8000)


def test_bad_arguments_raise_model_error():
    with pytest.raises(ModelError):
        ConvTasNet(mask_activation="softmax")
    with pytest.raises(ModelError):
        ConvTasNet(filter_length=15)
    with pytest.raises(ModelError):
        tiny()(torch.randn(100))
