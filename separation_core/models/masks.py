"""Oracle time-frequency masks computed from reference sources, and mask application.

All functions take complex STFTs ``sources [n_src, freq, frames]`` (and the mixture
``[freq, frames]`` where needed) and return real masks ``[n_src, freq, frames]``.
"""

from __future__ import annotations

import torch

EPS = 1e-8


def ideal_binary_mask(sources: torch.Tensor) -> torch.Tensor:
    """IBM: 1 where a source is the loudest in the bin, else 0."""
    mags = sources.abs()
    winner = mags.argmax(dim=0, keepdim=True)
    return torch.zeros_like(mags).scatter_(0, winner, 1.0)


def ideal_ratio_mask(sources: torch.Tensor, power: float = 1.0) -> torch.Tensor:
    """IRM: |S_k|^p / sum_j |S_j|^p (p=1 magnitude ratio, the usual display mask)."""
    mags = sources.abs() ** power
    return mags / (mags.sum(dim=0, keepdim=True) + EPS)


def wiener_like_mask(sources: torch.Tensor) -> torch.Tensor:
    """Wiener-like mask: |S_k|^2 / sum_j |S_j|^2."""
    return ideal_ratio_mask(sources, power=2.0)


def phase_sensitive_mask(
    sources: torch.Tensor, mixture: torch.Tensor, lower: float = 0.0, upper: float = 1.0
) -> torch.Tensor:
    """Truncated PSM: clip(|S_k| cos(theta_S - theta_Y) / |Y|, lower, upper)."""
    ratio = (sources * mixture.conj()).real / (mixture.abs().square() + EPS)
    return ratio.clamp(lower, upper)


def apply_masks(masks: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """Masked mixture: ``masks [n_src, freq, frames]`` x ``mixture [freq, frames]``."""
    return masks * mixture.unsqueeze(0)


def effective_masks(estimates: torch.Tensor) -> torch.Tensor:
    """Effective mask of time-domain outputs: |S_k| / sum_j |S_j| from their STFTs."""
    return ideal_ratio_mask(estimates, power=1.0)
