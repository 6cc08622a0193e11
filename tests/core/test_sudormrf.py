"""SuDoRM-RF: U-ConvBlock shapes at any frame count, parameter count, masks, mixture fit and effective
masks, learning, checkpoint round trip, refused arguments (independent batch items and outputs that
scale with the input: tests/core/test_time_domain.py, as for every time-domain model)."""

import math

import pytest
import torch

from separation_core.checkpoints.store import model_from_checkpoint, save_checkpoint
from separation_core.errors import ModelError
from separation_core.models import get_model_class, model_names
from separation_core.models.base import KIND_TIME_DOMAIN
from separation_core.models.mixture_fit import fit_to_mixture
from separation_core.models.sudormrf import SuDoRMRF, UConvBlock, upsample2
from separation_core.training.losses import pit_si_sdr_loss

TINY = dict(n_filters=16, filter_length=8, bottleneck=8, hidden=16, n_blocks=2, depth=3)


def tiny(**kw) -> SuDoRMRF:
    torch.manual_seed(0)
    return SuDoRMRF(**{**TINY, **kw})


def expected_parameters(
    n_src=2, n_filters=512, filter_length=40, bottleneck=128, hidden=512, n_blocks=16, depth=4, **_
) -> int:
    """Counted from the architecture, independently of the code."""
    n, c, u = n_filters, bottleneck, hidden
    codec = 2 * n * filter_length  # encoder + decoder, no biases
    front = 2 * n + (n * c + c)  # gLN, 1x1 conv C_E -> C
    block = (
        (c * u + u)
        + 2 * u
        + 1  # 1x1 conv C -> U, gLN, PReLU
        + depth * (5 * u + u + 2 * u)  # depthwise conv (kernel 5, bias), gLN per level
        + 2 * u
        + 1  # gLN, PReLU
        + (u * c + c)
    )  # 1x1 conv U -> C
    masks = 1 + (c * n_src * n + n_src * n)  # PReLU, 1x1 conv C -> n_src * C_E
    return codec + front + n_blocks * block + masks


def two_sources(length: int, sample_rate: int = 8000) -> torch.Tensor:
    """Two distinct harmonic 'voices' with different pitch and rhythm, [2, T]."""
    t = torch.arange(length) / sample_rate
    a = sum(torch.sin(2 * math.pi * 140 * k * t) / k for k in range(1, 8))
    b = sum(torch.sin(2 * math.pi * 410 * k * t + k) / k for k in range(1, 5))
    a = a * (0.6 + 0.4 * torch.sin(2 * math.pi * 3 * t))
    b = b * (0.6 + 0.4 * torch.cos(2 * math.pi * 5 * t))
    return torch.stack([a, b]).float() * 0.3


def test_registered_kind_and_defaults():
    assert SuDoRMRF.name == "sudormrf" and SuDoRMRF.kind == KIND_TIME_DOMAIN
    assert get_model_class("SuDoRMRF") is SuDoRMRF and "sudormrf" in model_names()
    m = SuDoRMRF()
    assert m.n_src == 2 and m.sample_rate == 16000 and m.encoder.stride == 20
    assert m.num_parameters() == expected_parameters() == 2_642_081


@pytest.mark.parametrize(
    "args",
    [TINY, {**TINY, "n_src": 3, "depth": 1}, {**TINY, "hidden": 24, "n_blocks": 3, "depth": 5}],
)
def test_parameter_count_matches_formula(args):
    assert SuDoRMRF(**args).num_parameters() == expected_parameters(**args)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_uconvblock_keeps_any_frame_count(depth):
    block = UConvBlock(bottleneck=4, hidden=8, depth=depth)
    for frames in list(range(1, 19)) + [37, 64, 65]:
        assert block(torch.randn(2, 4, frames)).shape == (2, 4, frames)


def test_upsample2_repeats_each_frame_then_crops():
    x = torch.tensor([[[1.0, 2.0, 3.0]]])
    assert upsample2(x, 5).tolist() == [[[1.0, 1.0, 2.0, 2.0, 3.0]]]
    assert upsample2(x, 6).tolist() == [[[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]]]


# Encoder stride 4 and depth 3 (frames down-sampled by 4): these lengths give frame counts that are
# multiples of neither, and lengths that are not multiples of the stride.
@pytest.mark.parametrize("length", [16001, 12345, 4002, 8, 7, 1])
def test_forward_exact_length(length):
    out = tiny()(torch.randn(2, length))
    assert out["waveforms"].shape == (2, 2, length)


@pytest.mark.parametrize("activation,upper", [("relu", math.inf), ("sigmoid", 1.0)])
def test_masks_shape_and_range(activation, upper):
    m = tiny(mask_activation=activation, n_src=3)
    with torch.no_grad():
        w = m.encoder(torch.randn(2, 2001))
        masks = m.masks(w)
    assert masks.shape == (2, 3, 16, w.shape[-1])
    assert masks.min() >= 0 and masks.max() <= upper
    assert masks.max() > 0


def test_separate_chunk_fits_the_mixture_and_gives_effective_masks():
    m = tiny()
    x = torch.randn(12345)
    out = m.separate_chunk(x)
    assert out.waveforms.shape == (2, 12345)
    with torch.no_grad():
        raw = m(x.unsqueeze(0))["waveforms"][0]
    torch.testing.assert_close(out.waveforms, fit_to_mixture(raw, x))
    # Least squares: the residual is orthogonal to every output, and no larger than the raw sum's.
    residual = x - out.waveforms.sum(0)
    cos = (out.waveforms @ residual) / (out.waveforms.norm(dim=1) * residual.norm())
    assert cos.abs().max() < 1e-3
    assert residual.norm() <= (x - raw.sum(0)).norm()
    p = m.stft_params
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
        out.masks[0][energetic], (mags[0] / mags.sum(0))[energetic], rtol=1e-4, atol=1e-4
    )


def test_training_steps_reduce_the_loss_on_a_fixed_batch():
    m = tiny(sample_rate=8000)
    sources = torch.stack([two_sources(3000), two_sources(3000).roll(700, -1)])  # [2, 2, T]
    mixture = sources.sum(1)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = pit_si_sdr_loss(m(mixture)["waveforms"], sources)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] - 8.0, losses


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    m = tiny(n_src=3, mask_activation="sigmoid", sample_rate=8000)
    path = save_checkpoint(tmp_path / "sudo.pt", m)
    rebuilt = model_from_checkpoint(path)
    assert isinstance(rebuilt, SuDoRMRF) and rebuilt.model_args() == m.model_args()
    assert all(isinstance(v, (int, float, str, bool)) for v in m.model_args().values())
    x = torch.randn(1, 4001)
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(x)["waveforms"], rebuilt(x)["waveforms"])


@pytest.mark.parametrize(
    "kw",
    [
        dict(mask_activation="softmax"),
        dict(filter_length=21),
        dict(depth=0),
        dict(n_blocks=0),
        dict(hidden=-8),
        dict(bottleneck=2.5),
    ],
)
def test_bad_arguments_raise_one_line_model_error(kw):
    with pytest.raises(ModelError) as err:
        SuDoRMRF(**{**TINY, **kw})
    assert "\n" not in str(err.value) and str(err.value)


def test_bad_input_shapes_raise_model_error():
    m = tiny()
    with pytest.raises(ModelError):
        m(torch.randn(100))
    with pytest.raises(ModelError):
        m.separate_chunk(torch.randn(2, 100))
