"""The training loss of each model family, computed from a batch of mixtures and sources.

deep clustering -> deep clustering loss (low-rank form, silent bins weighted out), optionally
                   mixed with the attractor loss (``attractor_loss``: the SI-SDR that the
                   embeddings give through the inference's soft masks)
chimera         -> alpha * deep clustering + (1 - alpha) * mask loss (deep clustering alone on
                   mixtures of another number of speakers than the mask head's outputs)
mask estimators -> the mask loss: uPIT phase-sensitive mask approximation ("psa"), or PIT SI-SDR
                   of the masked mixture resynthesised by the inverse STFT ("si_sdr": trains the
                   masks for the measure the bench reports, phase errors included)
time domain     -> SI-SDR with PIT (negated), or sa-SDR
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from separation_core.errors import ModelError
from separation_core.models.base import (
    KIND_CHIMERA,
    KIND_DEEP_CLUSTERING,
    KIND_MASK,
    KIND_TIME_DOMAIN,
    SeparationModel,
)
from separation_core.models.deep_clustering import SOFT_MASK_SHARPNESS, dc_targets
from separation_core.models.features import active_bins
from separation_core.models.transforms import istft, stft
from separation_core.training.losses import (
    deep_clustering_loss,
    pairwise_neg_si_sdr,
    pit_si_sdr_loss,
    sa_sdr_loss,
    upit_mask_loss,
)
from separation_core.training.precision import (
    effective_precision,
    mark_bf16_unsupported,
    one_line_reason,
)

TIME_LOSSES = ("si_sdr", "sa_sdr")
MASK_LOSSES = ("psa", "si_sdr")
PRECISIONS = ("fp32", "bf16")


def _forward(net, mixture: torch.Tensor, precision: str) -> dict:
    """``net(mixture)``, under bf16 autocast for "bf16". A RuntimeError there (a kernel the probe
    did not cover, e.g. oneDNN's "could not create a primitive descriptor") is retried in float32;
    if that works, bf16 is marked unsupported on the device (one warning) and never tried again."""
    if precision != "bf16":
        return net(mixture)
    device = mixture.device.type
    try:
        with torch.autocast(device, dtype=torch.bfloat16):
            return net(mixture)
    except RuntimeError as err:
        out = net(mixture)  # a fault of the model itself raises again here, in float32
        mark_bf16_unsupported(device, one_line_reason(err))
        return out


def loss_name(
    model: SeparationModel,
    time_loss: str = "si_sdr",
    mask_loss: str = "psa",
    attractor_weight: float = 0.0,
    attractor_kmeans_steps: int = 0,
) -> str:
    mask = "uPIT-PSA" if mask_loss == "psa" else "PIT si-sdr of the resynthesised masks"
    dc = "deep clustering"
    if attractor_weight > 0:
        att = "attractor si-sdr"
        if attractor_kmeans_steps:
            att = f"{att} after {attractor_kmeans_steps} k-means steps"
        dc = f"{dc} ({1 - attractor_weight:g}) + {att} ({attractor_weight:g})"
    return {
        KIND_DEEP_CLUSTERING: dc,
        KIND_CHIMERA: f"chimera++ ({dc.replace('deep clustering', 'dc')} + {mask})",
        KIND_MASK: mask,
        KIND_TIME_DOMAIN: f"PIT {time_loss.replace('_', '-')}",
    }[model.kind]


def _mask_loss(masks, mix_spec, src_specs, sources, p, mask_loss: str) -> torch.Tensor:
    """``masks [B, S, F, T]``, complex ``mix_spec [B, F, T]`` / ``src_specs [B, S, F, T]``,
    ``sources [B, S, time]`` -> scalar."""
    if mask_loss == "psa":
        return upit_mask_loss(masks, mix_spec, src_specs, phase_sensitive=True)
    waveforms = istft(masks * mix_spec.unsqueeze(1), p, sources.shape[-1])
    return pit_si_sdr_loss(waveforms, sources)


def _sq_distances(emb: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """``|v - c_k|^2``: ``[B, N, D], [B, K, D] -> [B, N, K]``."""
    return (
        emb.pow(2).sum(-1, keepdim=True)
        - 2 * emb @ centres.transpose(1, 2)
        + centres.pow(2).sum(-1).unsqueeze(1)
    )


def _weighted_means(emb: torch.Tensor, share: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Centres ``[B, K, D]``: the means of ``emb [B, N, D]`` under the weights ``share [B, N, K]``;
    a centre with no weight keeps its ``old`` value."""
    total = share.sum(1).unsqueeze(-1)  # [B, K, 1]
    means = share.transpose(1, 2) @ emb / total.clamp_min(1e-10)
    return torch.where(total > 0, means, old)


def attractor_loss(
    emb: torch.Tensor,
    mix_spec: torch.Tensor,
    src_specs: torch.Tensor,
    sources: torch.Tensor,
    p,
    sharpness: float = SOFT_MASK_SHARPNESS,
    threshold_db: float = 40.0,
    kmeans_steps: int = 0,
) -> torch.Tensor:
    """Negative SI-SDR (dB, scalar) of the sources that the embeddings give around oracle attractors.

    Each speaker's attractor is the power-weighted mean embedding of the active bins it dominates
    (a deep attractor network's training rule, Chen et al. 2017); each bin's masks are the
    inference's soft masks ``softmax(-sharpness |v - a_k|^2)``; the masked mixture is resynthesised
    and scored against its own speaker. With ``kmeans_steps`` > 0 the attractors first take that
    many steps of the inference's power-weighted k-means (Lloyd: nearest centre, then the mean,
    differentiable through the means) and the score takes the best permutation: the loss then
    also asks that k-means, which the inference runs, stays at the speakers' centres.
    ``emb [B, F*T, D]``, complex ``mix_spec [B, F, T]`` / ``src_specs [B, S, F, T]``,
    ``sources [B, S, time]``.
    """
    b, s, f, t = src_specs.shape
    mag = mix_spec.abs().to(emb.dtype)
    power = (mag.pow(2) * active_bins(mag, threshold_db)).reshape(b, f * t, 1)  # [B, N, 1]
    owner = F.one_hot(src_specs.abs().argmax(1).reshape(b, f * t), s).to(emb.dtype)  # [B, N, S]
    centres = _weighted_means(emb, owner * power, torch.zeros_like(emb[:, :s]))  # [B, S, D]
    for _ in range(kmeans_steps):
        with torch.no_grad():
            nearest = F.one_hot(_sq_distances(emb, centres).argmin(-1), s).to(emb.dtype)
        centres = _weighted_means(emb, nearest * power, centres)
    masks = torch.softmax(-sharpness * _sq_distances(emb, centres), dim=-1)
    masks = masks.transpose(1, 2).reshape(b, s, f, t)
    waveforms = istft(masks * mix_spec.unsqueeze(1), p, sources.shape[-1])
    if kmeans_steps:
        return pit_si_sdr_loss(waveforms, sources)
    return pairwise_neg_si_sdr(waveforms, sources).diagonal(dim1=1, dim2=2).mean()


def family_loss(
    model: SeparationModel,
    net,
    mixture: torch.Tensor,
    sources: torch.Tensor,
    *,
    time_loss: str = "si_sdr",
    chimera_alpha: float = 0.5,
    dc_weighting: str = "threshold",
    precision: str = "fp32",
    mask_loss: str = "psa",
    attractor_weight: float = 0.0,
    attractor_kmeans_steps: int = 0,
) -> torch.Tensor:
    """Scalar loss of ``net`` (the model, or its DDP wrapper) on ``mixture [B, T]``, ``sources [B, S, T]``.

    ``dc_weighting`` weights the deep clustering bins: "threshold" (silent bins out, Hershey et al.)
    or "magnitude" (loud bins count more, Wang et al. 2018). ``mask_loss`` trains the masks of
    mask estimators and Chimera++: "psa" or "si_sdr" (see the module docstring). ``precision="bf16"`` runs the
    network's forward pass under bfloat16 autocast (weights, gradients and the loss stay float32);
    where the device lacks bf16 kernels it runs in float32 instead, with one warning line.
    ``attractor_weight`` w makes the deep clustering term ``(1 - w) dc + w attractor_loss`` (its
    ``kmeans_steps``: ``attractor_kmeans_steps``)."""
    if not model.trainable:
        raise ModelError(f"model '{model.name}' has nothing to train")
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision '{precision}' (use {' or '.join(PRECISIONS)})")
    if mask_loss not in MASK_LOSSES:
        raise ModelError(f"unknown mask loss '{mask_loss}' (use {' or '.join(MASK_LOSSES)})")
    out = _forward(net, mixture, effective_precision(precision, mixture.device.type))
    out = {
        k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in out.items()
    }
    if model.kind == KIND_TIME_DOMAIN:
        if time_loss not in TIME_LOSSES:
            raise ModelError(
                f"unknown time-domain loss '{time_loss}' (use {' or '.join(TIME_LOSSES)})"
            )
        fn = pit_si_sdr_loss if time_loss == "si_sdr" else sa_sdr_loss
        return fn(out["waveforms"], sources)
    p = model.stft_params
    mix_spec, src_specs = stft(mixture, p), stft(sources, p)
    if model.kind == KIND_MASK:
        return _mask_loss(out["masks"], mix_spec, src_specs, sources, p, mask_loss)
    assign, weights = dc_targets(mix_spec, src_specs, weighting=dc_weighting)
    dc = deep_clustering_loss(out["embeddings"], assign, weights).mean()
    if attractor_weight > 0:
        att = attractor_loss(
            out["embeddings"], mix_spec, src_specs, sources, p, kmeans_steps=attractor_kmeans_steps
        )
        dc = (1 - attractor_weight) * dc + attractor_weight * att
    if model.kind == KIND_DEEP_CLUSTERING:
        return dc
    if model.kind == KIND_CHIMERA:
        if sources.shape[1] != model.n_src:  # another number of speakers: the mask head has no say
            return dc
        mi = _mask_loss(out["masks"], mix_spec, src_specs, sources, p, mask_loss)
        return chimera_alpha * dc + (1 - chimera_alpha) * mi
    raise ModelError(f"no training loss for model kind '{model.kind}'")
