"""Conv-TasNet: shapes at any length, batch independence, rebuild, effective masks, learning."""

import math

import pytest
import torch

from separation_core.errors import ModelError
from separation_core.models.base import KIND_TIME_DOMAIN
from separation_core.models.conv_tasnet import ConvTasNet

TINY = dict(n_filters=32, filter_length=8, bottleneck=16, hidden=32, skip=16, kernel=3,
            n_blocks=3, n_repeats=1)




def tiny(**kw) -> ConvTasNet:
    torch.manual_seed(0)
    return ConvTasNet(**{**TINY, **kw})


def si_sdr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """SI-SDR in dB over the last axis (zero-mean, optimal scaling of the reference)."""
    est = est - est.mean(-1, keepdim=True)
    ref = ref - ref.mean(-1, keepdim=True)
    target = (est * ref).sum(-1, keepdim=True) / ref.square().sum(-1, keepdim=True) * ref
    return 10 * torch.log10(target.square().sum(-1) / (est - target).square().sum(-1))


def pit_si_sdr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Best mean SI-SDR over the two orderings of two sources: [B, 2, T] -> [B]."""
    direct = si_sdr(est, ref).mean(-1)
    swapped = si_sdr(est.flip(1), ref).mean(-1)
    return torch.maximum(direct, swapped)


def two_sources(length: int, sample_rate: int = 8000) -> torch.Tensor:
    """Two distinct synthetic 'voices': harmonic tones with different pitch and rhythm, [2, T]."""
    t = torch.arange(length) / sample_rate
    a = sum(torch.sin(2 * math.pi * 140 * k * t) / k for k in range(1, 8))
    b = sum(torch.sin(2 * math.pi * 410 * k * t + k) / k for k in range(1, 5))
    a = a * (0.6 + 0.4 * torch.sin(2 * math.pi * 3 * t))
    b = b * (0.6 + 0.4 * torch.cos(2 * math.pi * 5 * t))
    return torch.stack([a, b]).float() * 0.3


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


def test_batch_items_are_independent():
    m = tiny()
    x = torch.randn(3, 3001)
    with torch.no_grad():
        batch = m(x)["waveforms"]
        single = torch.stack([m(x[i:i + 1])["waveforms"][0] for i in range(3)])
    torch.testing.assert_close(batch, single, rtol=1e-4, atol=1e-5)


def test_output_scales_with_input():
    # gLN before the bottleneck makes the masks invariant to the input gain.
    m = tiny()
    x = torch.randn(1, 3001)
    with torch.no_grad():
        torch.testing.assert_close(m(5 * x)["waveforms"], 5 * m(x)["waveforms"],
                                   rtol=1e-4, atol=1e-5)


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
    mags = torch.stft(out.waveforms, 512, 128, 512, torch.hann_window(512), center=True,
                      return_complex=True).abs()
    energetic = mags.sum(0) > 1e-3
    torch.testing.assert_close(out.masks.sum(0)[energetic], torch.ones(int(energetic.sum())))
    torch.testing.assert_close(out.masks[0][energetic], (mags[0] / mags.sum(0))[energetic],
                               rtol=1e-4, atol=1e-4)
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


def test_training_on_fixed_example_improves_si_sdr():
    sources = two_sources(4000).unsqueeze(0)               # [1, 2, T]
    mixture = sources.sum(1)
    m = tiny()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    with torch.no_grad():
        before = pit_si_sdr(m(mixture)["waveforms"], sources).item()
    for _ in range(30):
        loss = -pit_si_sdr(m(mixture)["waveforms"], sources).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = pit_si_sdr(m(mixture)["waveforms"], sources).item()
    assert after > before + 8.0, (before, after)
