"""Fitting a time-domain model's outputs to the mixture: level and polarity per source."""

import numpy as np
import torch

from separation_core.models.mixture_fit import fit_to_mixture, mixture_gains


def _sources(seed=0, length=16000):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, length, generator=g)


def test_recovers_level_and_polarity_of_each_source():
    sources = _sources()
    true_gains = torch.tensor([2.3, -0.4])
    estimates = sources / true_gains.unsqueeze(1)  # what a scale-invariant model may return
    fitted = fit_to_mixture(estimates, sources.sum(0))
    torch.testing.assert_close(fitted, sources, rtol=0, atol=5e-3 * float(sources.abs().max()))


def test_gains_equal_the_least_squares_solution():
    sources = _sources(1)
    estimates = sources + 0.3 * torch.randn(
        2, sources.shape[1], generator=torch.Generator().manual_seed(2)
    )
    mixture = sources.sum(0)
    expected, *_ = np.linalg.lstsq(
        estimates.numpy().T.astype(np.float64), mixture.numpy(), rcond=None
    )
    np.testing.assert_allclose(mixture_gains(estimates, mixture).numpy(), expected, rtol=5e-3)


def test_nearly_collinear_outputs_stay_finite_and_sum_to_the_mixture():
    # A silent speaker's output holding a little leakage of the other speaker.
    a = _sources(3)[0]
    estimates = torch.stack([0.9 * a, 0.01 * a + 1e-6 * _sources(4)[0]])
    gains = mixture_gains(estimates, a)
    assert torch.all(torch.isfinite(gains))
    assert float((gains[1] * estimates[1]).square().sum() / a.square().sum()) < 1e-3  # stays quiet
    fitted = fit_to_mixture(estimates, a)
    assert float((a - fitted.sum(0)).square().sum() / a.square().sum()) < 1e-4


def test_all_zero_outputs_are_left_alone():
    estimates = torch.zeros(2, 100)
    assert torch.equal(fit_to_mixture(estimates, torch.randn(100)), estimates)
