"""What every time-domain model (Conv-TasNet, DPRNN, SuDoRM-RF) must do: independent batch items, outputs that
scale with the input, and learning a fixed two-source example."""

import math

import pytest
import torch

from separation_core.models.conv_tasnet import ConvTasNet
from separation_core.models.dprnn import DPRNN
from separation_core.models.sudormrf import SuDoRMRF

TINY = {
    ConvTasNet: dict(
        n_filters=32,
        filter_length=8,
        bottleneck=16,
        hidden=32,
        skip=16,
        kernel=3,
        n_blocks=3,
        n_repeats=1,
    ),
    DPRNN: dict(n_filters=32, filter_length=8, features=16, hidden=16, chunk=20, n_blocks=2),
    SuDoRMRF: dict(n_filters=16, filter_length=8, bottleneck=8, hidden=16, n_blocks=2, depth=3),
}


@pytest.fixture(params=list(TINY), ids=lambda cls: cls.__name__)
def model(request):
    torch.manual_seed(0)
    return request.param(**TINY[request.param])


def si_sdr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """SI-SDR in dB over the last axis (zero-mean, optimal scaling of the reference)."""
    est = est - est.mean(-1, keepdim=True)
    ref = ref - ref.mean(-1, keepdim=True)
    target = (est * ref).sum(-1, keepdim=True) / ref.square().sum(-1, keepdim=True) * ref
    return 10 * torch.log10(target.square().sum(-1) / (est - target).square().sum(-1))


def pit_si_sdr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Best mean SI-SDR over the two orderings of two sources: [B, 2, T] -> [B]."""
    return torch.maximum(si_sdr(est, ref).mean(-1), si_sdr(est.flip(1), ref).mean(-1))


def two_sources(length: int, sample_rate: int = 8000) -> torch.Tensor:
    """Two distinct synthetic 'voices': harmonic tones with different pitch and rhythm, [2, T]."""
    t = torch.arange(length) / sample_rate
    a = sum(torch.sin(2 * math.pi * 140 * k * t) / k for k in range(1, 8))
    b = sum(torch.sin(2 * math.pi * 410 * k * t + k) / k for k in range(1, 5))
    a = a * (0.6 + 0.4 * torch.sin(2 * math.pi * 3 * t))
    b = b * (0.6 + 0.4 * torch.cos(2 * math.pi * 5 * t))
    return torch.stack([a, b]).float() * 0.3


def test_batch_items_are_independent(model):
    x = torch.randn(3, 3001)
    with torch.no_grad():
        batch = model(x)["waveforms"]
        single = torch.stack([model(x[i : i + 1])["waveforms"][0] for i in range(3)])
    torch.testing.assert_close(batch, single, rtol=1e-4, atol=1e-5)


def test_output_scales_with_input(model):
    # gLN before the bottleneck makes the masks invariant to the input gain.
    x = torch.randn(1, 3001)
    with torch.no_grad():
        torch.testing.assert_close(
            model(5 * x)["waveforms"], 5 * model(x)["waveforms"], rtol=1e-4, atol=1e-5
        )


def test_training_on_fixed_example_improves_si_sdr(model):
    sources = two_sources(4000).unsqueeze(0)  # [1, 2, T]
    mixture = sources.sum(1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with torch.no_grad():
        before = pit_si_sdr(model(mixture)["waveforms"], sources).item()
    for _ in range(30):
        loss = -pit_si_sdr(model(mixture)["waveforms"], sources).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = pit_si_sdr(model(mixture)["waveforms"], sources).item()
    assert after > before + 8.0, (before, after)
