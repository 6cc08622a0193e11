"""Fine-tuning the speaker encoder (``speakers.SpeakerEncoder``): its GE2E loss, and the equal
error rate that validates it (``scripts/train_speaker_encoder.py`` runs both)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class GE2ELoss(nn.Module):
    """The generalised end-to-end loss (Wan et al., 2018, softmax form) of embeddings
    ``[N speakers, M windows, D]`` (unit rows): each window's scaled cosine ``w * cos + b`` to
    every speaker's centroid (its own speaker's centroid without that window), cross-entropy
    towards its own speaker. ``w`` (kept above 1e-6) and ``b`` are learnt, from 10 and -5."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(10.0))
        self.b = nn.Parameter(torch.tensor(-5.0))

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        n, m, _ = emb.shape
        if n < 2 or m < 2:
            raise ValueError(f"GE2E needs 2 or more speakers of 2 or more windows, got {n} x {m}")
        total = emb.sum(1)  # [N, D]
        centroids = nn.functional.normalize(total / m, dim=-1)
        own = nn.functional.normalize((total[:, None] - emb) / (m - 1), dim=-1)  # [N, M, D]
        cos = torch.einsum("nmd,kd->nmk", emb, centroids)  # [N, M, N]
        eye = torch.eye(n, dtype=torch.bool, device=emb.device)[:, None, :].expand(n, m, n)
        cos = torch.where(eye, (emb * own).sum(-1, keepdim=True).expand(n, m, n), cos)
        logits = self.w.clamp_min(1e-6) * cos + self.b
        target = torch.arange(n, device=emb.device).repeat_interleave(m)
        return nn.functional.cross_entropy(logits.reshape(n * m, n), target)


def equal_error_rate(scores: np.ndarray, same: np.ndarray) -> float:
    """The rate at which same-speaker pairs are rejected equals the rate at which
    different-speaker pairs are accepted, for ``scores [P]`` of pairs, ``same [P]`` bool; the
    threshold swept over every score, the two rates averaged where they cross."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if same.all() or not same.any():
        raise ValueError("the equal error rate needs both same- and different-speaker pairs")
    order = np.argsort(-scores, kind="stable")
    hit = same[order]
    accepted_same = np.cumsum(hit) / hit.sum()  # threshold just below each score
    accepted_diff = np.cumsum(~hit) / (~hit).sum()
    miss = np.concatenate([[1.0], 1.0 - accepted_same])
    false_alarm = np.concatenate([[0.0], accepted_diff])
    k = int(np.argmin(np.abs(miss - false_alarm)))
    return float((miss[k] + false_alarm[k]) / 2)
