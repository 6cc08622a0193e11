"""Training losses (torch, batched, differentiable): deep clustering, PIT SI-SDR, sa-SDR, uPIT masks.

Pairwise matrices are ``[B, S_target, S_estimate]`` and permutations follow ``metrics``:
``perm[b, i]`` is the estimate matched to target ``i``.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

EPS = 1e-8
MAX_EXHAUSTIVE_SOURCES = 3  # beyond this, S! permutations cost more than the Hungarian algorithm


def _sq_frobenius(x: torch.Tensor) -> torch.Tensor:
    return x.pow(2).sum(dim=(-2, -1))


def deep_clustering_loss(
    emb: torch.Tensor, assign: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Deep clustering loss ``||VV^T - YY^T||_F^2`` per item, ``[B, N, D], [B, N, C], [B, N] -> [B]``.

    Computed in the low-rank form ``||V^T V||^2 - 2 ||V^T Y||^2 + ||Y^T Y||^2`` (Hershey et al. 2016),
    so memory is O(N (D + C)), never the N x N affinity. ``weights`` (e.g. a VAD mask or the
    magnitude ratio of Wang et al. 2018) scale each bin: the loss becomes ``||W^1/2 (VV^T - YY^T)
    W^1/2||_F^2``. It is normalised by ``(sum_n w_n)^2`` (``N^2`` without weights), i.e. it is the
    weighted mean squared affinity error over all pairs of bins.
    """
    v, y = emb, assign.to(emb.dtype)
    if weights is None:
        norm = torch.full(
            emb.shape[:1], float(emb.shape[1]) ** 2, dtype=emb.dtype, device=emb.device
        )
    else:
        w = weights.to(emb.dtype)
        root = w.clamp_min(0).sqrt().unsqueeze(-1)
        v, y = v * root, y * root
        norm = w.sum(dim=1).pow(2)
    vv = torch.bmm(v.transpose(1, 2), v)
    vy = torch.bmm(v.transpose(1, 2), y)
    yy = torch.bmm(y.transpose(1, 2), y)
    loss = _sq_frobenius(vv) - 2 * _sq_frobenius(vy) + _sq_frobenius(yy)
    return loss / norm.clamp_min(EPS)


def _permutations(n_tgt: int, n_est: int, device) -> torch.Tensor:
    return torch.tensor(
        list(itertools.permutations(range(n_est), n_tgt)), dtype=torch.long, device=device
    )


def pit_from_pairwise(pairwise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Best assignment of a pairwise loss ``[B, S, S_est]`` (target x estimate, ``S_est >= S``).

    Returns ``(loss [B], perm [B, S])`` where ``loss`` is the mean of the matched pairwise losses.
    Exhaustive (vectorised) for ``S <= 3``; the Hungarian algorithm on detached CPU values beyond,
    after which the chosen entries are gathered so gradients flow through them.
    """
    b, n_tgt, n_est = pairwise.shape
    if n_tgt <= MAX_EXHAUSTIVE_SOURCES:
        perms = _permutations(n_tgt, n_est, pairwise.device)  # [K, S]
        per_perm = pairwise[:, torch.arange(n_tgt, device=pairwise.device), perms].mean(
            -1
        )  # [B, K]
        loss, best = per_perm.min(dim=1)
        return loss, perms[best]
    costs = torch.nan_to_num(pairwise.detach().double(), nan=1e30, posinf=1e30, neginf=-1e30).cpu()
    perm = np.stack([linear_sum_assignment(c.numpy())[1] for c in costs])
    perm = torch.as_tensor(perm, dtype=torch.long, device=pairwise.device)
    loss = pairwise.gather(2, perm.unsqueeze(-1)).squeeze(-1).mean(-1)
    return loss, perm


def pairwise_neg_si_sdr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Negative SI-SDR in dB of every (target, estimate) pair: ``[B, S, T], [B, S, T] -> [B, S, S]``."""
    est = est - est.mean(-1, keepdim=True)
    ref = ref - ref.mean(-1, keepdim=True)
    ref_i, est_j = ref.unsqueeze(2), est.unsqueeze(1)  # [B, S, 1, T], [B, 1, S, T]
    alpha = (ref_i * est_j).sum(-1, keepdim=True) / (ref_i.pow(2).sum(-1, keepdim=True) + EPS)
    target = alpha * ref_i
    ratio = target.pow(2).sum(-1) / ((est_j - target).pow(2).sum(-1) + EPS)
    return -10 * torch.log10(ratio + EPS)


def pit_si_sdr_loss(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Scalar: batch mean of the mean negative SI-SDR under each item's best permutation."""
    return pit_from_pairwise(pairwise_neg_si_sdr(est, ref))[0].mean()


def sa_sdr_loss(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Scalar: negative source-aggregated SDR ``-10 log10(sum ||s||^2 / sum ||s - s_hat||^2)`` under
    the best permutation (von Neumann et al. 2022), averaged over the batch. ``[B, S, T]`` inputs.

    The numerator does not depend on the permutation, so the best one minimises the total error
    energy, a pairwise-decomposable quantity: PIT runs on the pairwise error energies.
    """
    errors = (ref.unsqueeze(2) - est.unsqueeze(1)).pow(2).sum(-1)  # [B, S, S]
    mean_error, _ = pit_from_pairwise(errors)
    total_error = mean_error * ref.shape[1]
    ratio = ref.pow(2).sum(dim=(1, 2)) / (total_error + EPS)
    return (-10 * torch.log10(ratio + EPS)).mean()


def upit_mask_loss(
    masks: torch.Tensor,
    mix_spec: torch.Tensor,
    src_specs: torch.Tensor,
    phase_sensitive: bool = True,
) -> torch.Tensor:
    """Utterance-level PIT of a mask-approximation loss (Kolbaek et al. 2017), scalar.

    ``masks [B, S, F, T]`` real, ``mix_spec [B, F, T]`` and ``src_specs [B, S, F, T]`` complex.
    Estimate ``|M Y|``; target ``|S|`` (magnitude spectrum approximation) or, phase-sensitive
    (Erdogan et al. 2015), ``|S| cos(theta_S - theta_Y)`` truncated to ``[0, |Y|]``. Squared error,
    mean over bins, mean over sources under the best permutation, mean over the batch.
    """
    mix_mag = mix_spec.abs()
    est = masks.abs() * mix_mag.unsqueeze(1)
    if phase_sensitive:
        # |S| cos(theta_S - theta_Y) = Re(S conj(Y)) / |Y|
        proj = (src_specs * mix_spec.conj().unsqueeze(1)).real / mix_mag.unsqueeze(1).clamp_min(EPS)
        target = torch.minimum(proj.clamp_min(0), mix_mag.unsqueeze(1))
    else:
        target = src_specs.abs()
    pairwise = (target.unsqueeze(2) - est.unsqueeze(1)).pow(2).mean(dim=(-2, -1))  # [B, S, S]
    return pit_from_pairwise(pairwise)[0].mean()
