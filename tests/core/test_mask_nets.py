"""Mask estimators (ff-mask, lstm-mask, blstm-mask) and the shared STFT front end."""

import math

import numpy as np
import pytest
import torch

from separation_core.errors import ModelError
from separation_core.models.base import KIND_MASK
from separation_core.models.features import (
    StftSeparationModel,
    active_bins,
    log_magnitude_features,
    stft_params_for,
)
from separation_core.models.mask_nets import BlstmMask, FeedForwardMask, LstmMask
from separation_core.models.transforms import StftParams, stft
from separation_core.training.losses import upit_mask_loss

SR = 8000
TINY = dict(sample_rate=SR, n_fft=64, hop=16, hidden=16, layers=2, dropout=0.0)
TINY_FF = dict(sample_rate=SR, n_fft=64, hop=16, hidden=32, layers=2, context=2, dropout=0.0)
MODELS = [(FeedForwardMask, TINY_FF), (LstmMask, TINY), (BlstmMask, TINY)]
IDS = ["ff-mask", "lstm-mask", "blstm-mask"]


def make(cls, kwargs, **extra):
    torch.manual_seed(0)
    return cls(**{**kwargs, **extra}).eval()


# ---- front end -------------------------------------------------------------------------------


def test_stft_grid_follows_sample_rate():
    assert stft_params_for(16000) == StftParams(512, 128, 512, 16000)
    assert stft_params_for(8000) == StftParams(256, 64, 256, 8000)
    assert stft_params_for(16000, n_fft=256, hop=100) == StftParams(256, 100, 256, 16000)
    with pytest.raises(ModelError):
        stft_params_for(16000, n_fft=256, hop=300)


def test_default_models_use_the_rate_derived_grid():
    m = FeedForwardMask(sample_rate=8000, hidden=8, layers=1, context=0)
    assert m.stft_params == StftParams(256, 64, 256, 8000)
    assert (m.model_args()["n_fft"], m.model_args()["hop"]) == (256, 64)


def test_features_are_gain_invariant_and_standardised():
    x = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0))
    spec = stft(x, stft_params_for(SR, 64, 16))
    feats = log_magnitude_features(spec)
    assert feats.shape == (2, 4000 // 16 + 1, 33)  # [B, T, F]
    torch.testing.assert_close(feats.mean(dim=(1, 2)), torch.zeros(2), atol=1e-4, rtol=0)
    torch.testing.assert_close(feats.std(dim=(1, 2)), torch.ones(2), atol=1e-4, rtol=0)
    torch.testing.assert_close(log_magnitude_features(1000.0 * spec), feats, atol=1e-4, rtol=0)
    torch.testing.assert_close(
        log_magnitude_features(torch.zeros(1, 33, 5, dtype=torch.complex64)), torch.zeros(1, 5, 33)
    )


def test_active_bins_matches_db_formula():
    mag = torch.tensor([[[1.0, 0.02], [0.009, 0.5]]])
    db = 20 * np.log10(mag.numpy())
    expected = db >= db.max() - 40.0
    np.testing.assert_array_equal(active_bins(mag, 40.0).numpy(), expected)
    assert active_bins(torch.zeros(3, 4)).all()


def test_unit_masks_give_back_the_mixture():
    m = FeedForwardMask(**TINY_FF)
    x = torch.randn(1001)
    spec = stft(x, m.stft_params)
    y = m.synthesise(torch.ones(1, *spec.shape), spec, 1001)
    torch.testing.assert_close(y[0], x, atol=1e-5, rtol=0)


# ---- models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls,kwargs", MODELS, ids=IDS)
def test_registered_names_and_kind(cls, kwargs):
    assert cls.name in IDS and cls.kind == KIND_MASK
    assert issubclass(cls, StftSeparationModel)


@pytest.mark.parametrize("cls,kwargs", MODELS, ids=IDS)
def test_forward_shapes_and_range(cls, kwargs):
    m = make(cls, kwargs, n_src=3)
    out = m(torch.randn(4, 1200))
    assert out["masks"].shape == (4, 3, 33, 1200 // 16 + 1)
    assert out["mix_spec"].shape == (4, 33, 1200 // 16 + 1)
    assert out["masks"].min() >= 0 and out["masks"].max() <= 1


@pytest.mark.parametrize("cls,kwargs", MODELS, ids=IDS)
@pytest.mark.parametrize("length", [1001, 37])  # odd, and shorter than one window
def test_separate_chunk_exact_length(cls, kwargs, length):
    m = make(cls, kwargs)
    out = m.separate_chunk(torch.randn(length, dtype=torch.float64))
    assert out.waveforms.shape == (2, length) and out.waveforms.dtype == torch.float32
    assert out.masks.shape == (2, 33, m.stft_params.n_frames(length))
    assert out.embeddings is None and out.labels is None
    assert torch.isfinite(out.waveforms).all()


@pytest.mark.parametrize("cls,kwargs", MODELS, ids=IDS)
def test_separate_chunk_applies_its_masks(cls, kwargs):
    m = make(cls, kwargs)
    x = torch.randn(2001)
    out = m.separate_chunk(x)
    p = m.stft_params
    expected = torch.istft(
        out.masks * stft(x, p),
        p.n_fft,
        p.hop,
        p.win_length,
        torch.hann_window(p.win_length),
        length=2001,
    )
    torch.testing.assert_close(out.waveforms, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cls,kwargs", MODELS, ids=IDS)
def test_softmax_masks_partition_the_mixture(cls, kwargs):
    m = make(cls, kwargs, mask_activation="softmax")
    masks = m(torch.randn(2, 800))["masks"]
    torch.testing.assert_close(masks.sum(dim=1), torch.ones(2, 33, 51))


def test_unknown_activation_and_sizes_refused():
    with pytest.raises(ModelError):
        BlstmMask(**TINY, mask_activation="relu")
    with pytest.raises(ModelError):
        LstmMask(**{**TINY, "layers": 0})
    with pytest.raises(ModelError):
        BlstmMask(**TINY).separate_chunk(torch.zeros(2, 100))


@pytest.mark.parametrize("cls,kwargs", MODELS, ids=IDS)
def test_rebuilt_from_model_args_gives_same_output(cls, kwargs):
    m = make(cls, kwargs, mask_activation="softmax")
    torch.manual_seed(123)
    twin = cls(**m.model_args()).eval()
    twin.load_state_dict(m.state_dict())
    x = torch.randn(1500)
    torch.testing.assert_close(twin.separate_chunk(x).waveforms, m.separate_chunk(x).waveforms)
    assert twin.model_args() == m.model_args()


# ---- training --------------------------------------------------------------------------------


def two_source_batch(batch=3, length=1600, seed=0):
    """Low harmonic source vs high harmonic source, random phases and levels: [B, 2, time]."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / SR
    srcs = []
    for freqs in ((250.0, 500.0, 750.0), (1800.0, 2600.0, 3300.0)):
        phase = 2 * math.pi * torch.rand(batch, len(freqs), 1, generator=g)
        level = 0.5 + torch.rand(batch, 1, generator=g)
        tones = torch.sin(2 * math.pi * torch.tensor(freqs)[:, None] * t + phase).sum(1)
        srcs.append(level * tones)
    order = torch.rand(batch, generator=g) < 0.5  # random output order
    s = torch.stack(srcs, 1)
    return torch.where(order[:, None, None], s.flip(1), s)


@pytest.mark.parametrize("cls,kwargs", MODELS, ids=IDS)
def test_a_few_steps_lower_the_upit_loss(cls, kwargs):
    m = make(cls, kwargs).train()
    src = two_source_batch()
    mix = src.sum(1)
    src_specs = stft(src, m.stft_params)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)

    def loss_now():
        out = m(mix)
        return upit_mask_loss(out["masks"], out["mix_spec"], src_specs)

    with torch.no_grad():
        first = float(loss_now())
    for _ in range(20):
        opt.zero_grad()
        loss = loss_now()
        loss.backward()
        opt.step()
    with torch.no_grad():
        last = float(loss_now())
    assert last < 0.5 * first
