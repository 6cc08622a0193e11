"""Least-squares gains that make a time-domain model's outputs add up to the mixture.

A model trained with a scale-invariant loss (SI-SDR) may return each source at any level and with
either polarity: the bundled Conv-TasNet returns one output at about +0.44 and the other at about
-0.39 times the true source's amplitude. Both sound the same alone, but the stems no longer sum to
the mixture (the residual and the GUI mixer's sum are wrong), and their levels are arbitrary.
``fit_to_mixture`` solves ``min_g ||x - sum_k g_k s_k||^2`` per chunk, a small ridge keeping the
solve stable when two outputs are nearly collinear (a silent speaker's output holding leakage).
"""

from __future__ import annotations

import torch

# Relative to the mean output energy. The same damping for every output makes nearly collinear
# outputs take the minimum-norm split, which leaves a quiet output quiet instead of amplifying it.
RIDGE = 1e-4


def mixture_gains(estimates: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """``estimates [S, T]``, ``mixture [T]`` -> gains ``[S]`` minimising
    ``||mixture - sum_k g_k estimates_k||^2 + ridge * mean_k ||estimates_k||^2 * ||g||^2`` (gains 1
    when every output is zero)."""
    s = estimates.float()
    # The S x S solve runs in float64 on the CPU (MPS has no float64).
    gram = (s @ s.T).double().cpu()  # [S, S]
    energy = torch.diagonal(gram).mean()
    if not torch.isfinite(energy) or energy <= 0:
        return torch.ones(estimates.shape[0], dtype=estimates.dtype, device=estimates.device)
    rhs = (s @ mixture.float()).double().cpu()  # [S]
    gains = torch.linalg.solve(gram + RIDGE * energy * torch.eye(len(gram), dtype=gram.dtype), rhs)
    return gains.to(device=estimates.device, dtype=estimates.dtype)


def fit_to_mixture(estimates: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """``estimates [S, T]`` scaled (and sign-corrected) by ``mixture_gains``; same shape."""
    return estimates * mixture_gains(estimates, mixture).unsqueeze(1)


def speech_and_noise(speech: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """An enhancer's ``speech [T]`` -> ``[2, T]``: the speech at the level that best explains the
    mixture (a model trained scale-invariantly gives it at any level), and the noise, the rest of
    ``mixture [T]``, so that the two add up to it."""
    speech = fit_to_mixture(speech.unsqueeze(0), mixture)[0]
    return torch.stack([speech, mixture - speech])
