"""Oracle masks: their defining properties, and that they separate synthetic voices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import noise, si_sdr_reference, two_voices
from separation_core.models.masks import (
    apply_masks,
    effective_masks,
    ideal_binary_mask,
    ideal_ratio_mask,
    phase_sensitive_mask,
    wiener_like_mask,
)
from separation_core.models.transforms import StftParams, istft, stft

P = StftParams()


@pytest.fixture(scope="module")
def specs():
    """Two voices plus a little noise each (so no bin is empty): sources [2,F,T], mixture [F,T]."""
    s, _ = two_voices(seconds=1.0)
    s = s + np.stack([noise(seed=5, rms=0.003), noise(seed=6, rms=0.003)])
    src = stft(torch.from_numpy(s.astype(np.float64)), P)
    return s, src, src.sum(dim=0)


def test_ibm_is_one_hot_on_the_loudest_source(specs):
    _, src, _ = specs
    ibm = ideal_binary_mask(src)
    assert ibm.shape == src.shape and not ibm.is_complex()
    assert set(torch.unique(ibm).tolist()) == {0.0, 1.0}
    assert torch.all(ibm.sum(dim=0) == 1)
    winner = np.argmax(np.abs(src.numpy()), axis=0)
    np.testing.assert_array_equal(ibm.numpy().argmax(axis=0), winner)


def test_irm_and_wiener_sum_to_one_and_match_their_formulas(specs):
    _, src, _ = specs
    mags = np.abs(src.numpy())
    irm = ideal_ratio_mask(src).numpy()
    wiener = wiener_like_mask(src).numpy()
    # the masks' EPS regulariser is negligible only where the denominator is well above it
    for mask, denom in ((irm, mags.sum(axis=0)), (wiener, (mags**2).sum(axis=0))):
        assert mask.shape == src.shape
        assert mask.min() >= 0 and mask.max() <= 1
        total = mask.sum(axis=0)
        assert np.all(total <= 1 + 1e-9) and np.all(total > 0.9)
        np.testing.assert_allclose(total[denom > 1e-2], 1.0, atol=1e-6)
    loud = mags.sum(axis=0) > 1e-2
    np.testing.assert_allclose(irm[:, loud], (mags / mags.sum(axis=0))[:, loud], rtol=1e-5)
    loud = (mags**2).sum(axis=0) > 1e-2
    np.testing.assert_allclose(
        wiener[:, loud], (mags**2 / (mags**2).sum(axis=0))[:, loud], rtol=1e-5
    )


def test_psm_bounds_and_formula(specs):
    _, src, mix = specs
    psm = phase_sensitive_mask(src, mix)
    assert psm.shape == src.shape and psm.min() >= 0 and psm.max() <= 1
    s, y = src.numpy(), mix.numpy()
    raw = np.abs(s) * np.cos(np.angle(s) - np.angle(y)) / np.abs(y)
    loud = np.abs(y) ** 2 > 1e-2  # where the masks' EPS regulariser is negligible
    np.testing.assert_allclose(
        psm.numpy()[:, loud], np.clip(raw, 0, 1)[:, loud], rtol=1e-5, atol=1e-6
    )
    assert (raw[:, loud] < 0).any() and (raw[:, loud] > 1).any()  # the truncation is exercised
    wide = phase_sensitive_mask(src, mix, lower=-1.0, upper=2.0)
    np.testing.assert_allclose(
        wide.numpy()[:, loud], np.clip(raw, -1, 2)[:, loud], rtol=1e-5, atol=1e-6
    )


def test_psm_equals_irm_when_sources_are_in_phase():
    gen = torch.Generator().manual_seed(0)
    mags = torch.rand(3, 65, 40, generator=gen, dtype=torch.float64) + 0.01
    phase = torch.rand(1, 65, 40, generator=gen, dtype=torch.float64) * 2 * torch.pi
    src = torch.polar(mags, phase.expand_as(mags))
    psm = phase_sensitive_mask(src, src.sum(dim=0))
    torch.testing.assert_close(psm, ideal_ratio_mask(src), atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(psm.sum(dim=0).numpy(), 1.0, atol=1e-6)


def test_oracle_masks_separate_two_voices(specs):
    s, src, mix = specs
    x = s.sum(axis=0)
    mixture_score = np.mean([si_sdr_reference(x, s[k]) for k in range(2)])
    assert abs(mixture_score) < 1.0
    masks = {
        "irm": ideal_ratio_mask(src),
        "ibm": ideal_binary_mask(src),
        "wiener": wiener_like_mask(src),
        "psm": phase_sensitive_mask(src, mix),
    }
    for name, mask in masks.items():
        est = istft(apply_masks(mask, mix), P, len(x)).numpy()
        assert est.shape == s.shape
        score = np.mean([si_sdr_reference(est[k], s[k]) for k in range(2)])
        assert score > mixture_score + 10.0, (name, score, mixture_score)


def test_apply_masks_and_effective_masks(specs):
    _, src, mix = specs
    masks = ideal_ratio_mask(src)
    out = apply_masks(masks, mix)
    assert out.shape == src.shape and out.is_complex()
    torch.testing.assert_close(out[1], masks[1] * mix)
    torch.testing.assert_close(effective_masks(src), masks)
    # full masks that sum to one give back the mixture exactly
    torch.testing.assert_close(out.sum(dim=0), mix * masks.sum(dim=0))
