"""The training objectives: how a model is trained, named by the model's ``objective``.

"deep-clustering" -> deep clustering loss (low-rank form, silent bins weighted out), optionally
                     mixed with the attractor loss (``attractor_loss``: the SI-SDR that the
                     embeddings give through the inference's soft masks)
"chimera"         -> alpha * deep clustering + (1 - alpha) * mask loss (deep clustering alone on
                     mixtures of another number of speakers than the mask head's outputs)
"mask"            -> the mask loss: uPIT phase-sensitive mask approximation ("psa"), or PIT
                     SI-SDR of the masked mixture resynthesised by the inverse STFT ("si_sdr":
                     trains the masks for the measure the bench reports, phase errors included)
"waveform"        -> SI-SDR with PIT (negated), or sa-SDR

A new model family names one of these; a new objective is an ``Objective`` subclass registered
with ``register_objective``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import torch
import torch.nn.functional as F

from separation_core.errors import ModelError
from separation_core.models.base import SeparationModel
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


@dataclass(frozen=True)
class LossOptions:
    """The ``cocktail train`` options that shape a loss; each objective reads its own."""

    time_loss: str = "si_sdr"
    chimera_alpha: float = 0.5
    dc_weighting: str = "threshold"
    mask_loss: str = "psa"
    attractor_weight: float = 0.0
    attractor_kmeans_steps: int = 0

    @classmethod
    def of(cls, config) -> LossOptions:
        """The options of ``config`` (a TrainConfig, or anything with these attributes)."""
        return cls(
            **{f.name: getattr(config, f.name) for f in fields(cls) if hasattr(config, f.name)}
        )


class Objective:
    """A training loss: ``loss(model, out, mixture [B, T], sources [B, S, T], opts) -> scalar``,
    where ``out`` is the model's ``forward`` dict (float32)."""

    name: ClassVar[str] = ""

    def loss(self, model, out: dict, mixture, sources, opts: LossOptions) -> torch.Tensor:
        raise NotImplementedError

    def describe(self, opts: LossOptions) -> str:
        """The loss in words, for checkpoints and model cards."""
        raise NotImplementedError

    def options(self, opts: LossOptions) -> dict:
        """The options that shaped this loss (for the model card's reproduce command)."""
        raise NotImplementedError


_OBJECTIVES: dict[str, Objective] = {}


def register_objective(cls: type[Objective]) -> type[Objective]:
    """Class decorator: makes ``cls.name`` an objective models can name. A name taken twice is
    refused."""
    if cls.name in _OBJECTIVES:
        raise ModelError(f"objective '{cls.name}' is already registered")
    _OBJECTIVES[cls.name] = cls()
    return cls


def objective_for(model: SeparationModel) -> Objective:
    if not model.trainable or not model.objective:
        raise ModelError(f"model '{model.name}' has nothing to train")
    try:
        return _OBJECTIVES[model.objective]
    except KeyError:
        raise ModelError(
            f"model '{model.name}' names the objective '{model.objective}', which is unknown "
            f"(known: {', '.join(sorted(_OBJECTIVES))})"
        ) from None


def _mask_words(opts: LossOptions) -> str:
    return "uPIT-PSA" if opts.mask_loss == "psa" else "PIT si-sdr of the resynthesised masks"


def _dc_words(opts: LossOptions) -> str:
    dc = "deep clustering"
    if opts.attractor_weight > 0:
        att = "attractor si-sdr"
        if opts.attractor_kmeans_steps:
            att = f"{att} after {opts.attractor_kmeans_steps} k-means steps"
        dc = f"{dc} ({1 - opts.attractor_weight:g}) + {att} ({opts.attractor_weight:g})"
    return dc


def _dc_options(opts: LossOptions) -> dict:
    options = {"dc_weighting": opts.dc_weighting}
    if opts.attractor_weight > 0:
        options["attractor_weight"] = opts.attractor_weight
        options["attractor_kmeans_steps"] = opts.attractor_kmeans_steps
    return options


def _spectra(model, mixture, sources):
    p = model.stft_params
    return p, stft(mixture, p), stft(sources, p)


@register_objective
class WaveformObjective(Objective):
    name = "waveform"

    def loss(self, model, out, mixture, sources, opts):
        if opts.time_loss not in TIME_LOSSES:
            raise ModelError(
                f"unknown time-domain loss '{opts.time_loss}' (use {' or '.join(TIME_LOSSES)})"
            )
        fn = pit_si_sdr_loss if opts.time_loss == "si_sdr" else sa_sdr_loss
        return fn(out["waveforms"], sources)

    def describe(self, opts):
        return f"PIT {opts.time_loss.replace('_', '-')}"

    def options(self, opts):
        return {"loss": opts.time_loss}


@register_objective
class MaskObjective(Objective):
    name = "mask"

    def loss(self, model, out, mixture, sources, opts):
        p, mix_spec, src_specs = _spectra(model, mixture, sources)
        return _mask_loss(out["masks"], mix_spec, src_specs, sources, p, opts.mask_loss)

    def describe(self, opts):
        return _mask_words(opts)

    def options(self, opts):
        return {"mask_loss": opts.mask_loss}


@register_objective
class DeepClusteringObjective(Objective):
    name = "deep-clustering"

    def loss(self, model, out, mixture, sources, opts):
        p, mix_spec, src_specs = _spectra(model, mixture, sources)
        return self.dc_loss(out, mix_spec, src_specs, sources, p, opts)

    @staticmethod
    def dc_loss(out, mix_spec, src_specs, sources, p, opts) -> torch.Tensor:
        assign, weights = dc_targets(mix_spec, src_specs, weighting=opts.dc_weighting)
        dc = deep_clustering_loss(out["embeddings"], assign, weights).mean()
        if opts.attractor_weight > 0:
            att = attractor_loss(
                out["embeddings"],
                mix_spec,
                src_specs,
                sources,
                p,
                kmeans_steps=opts.attractor_kmeans_steps,
            )
            dc = (1 - opts.attractor_weight) * dc + opts.attractor_weight * att
        return dc

    def describe(self, opts):
        return _dc_words(opts)

    def options(self, opts):
        return _dc_options(opts)


@register_objective
class ChimeraObjective(Objective):
    name = "chimera"

    def loss(self, model, out, mixture, sources, opts):
        p, mix_spec, src_specs = _spectra(model, mixture, sources)
        dc = DeepClusteringObjective.dc_loss(out, mix_spec, src_specs, sources, p, opts)
        if sources.shape[1] != model.n_src:  # another number of speakers: the mask head has no say
            return dc
        mi = _mask_loss(out["masks"], mix_spec, src_specs, sources, p, opts.mask_loss)
        return opts.chimera_alpha * dc + (1 - opts.chimera_alpha) * mi

    def describe(self, opts):
        return (
            f"chimera++ ({_dc_words(opts).replace('deep clustering', 'dc')} + {_mask_words(opts)})"
        )

    def options(self, opts):
        return (
            {"mask_loss": opts.mask_loss}
            | _dc_options(opts)
            | {"chimera_alpha": opts.chimera_alpha}
        )


def loss_name(model: SeparationModel, **options) -> str:
    """The loss of ``model`` under ``options`` (LossOptions' fields), in words."""
    return objective_for(model).describe(LossOptions(**options))


def loss_options(model: SeparationModel, config) -> dict:
    """The ``cocktail train`` options of ``config`` that shaped ``model``'s loss (for its card)."""
    return objective_for(model).options(LossOptions.of(config))


def family_loss(
    model: SeparationModel,
    net,
    mixture: torch.Tensor,
    sources: torch.Tensor,
    *,
    precision: str = "fp32",
    **options,
) -> torch.Tensor:
    """Scalar loss of ``net`` (the model, or its DDP wrapper) on ``mixture [B, T]``, ``sources [B, S, T]``,
    by ``model``'s objective under ``options`` (LossOptions' fields).

    ``dc_weighting`` weights the deep clustering bins: "threshold" (silent bins out, Hershey et al.)
    or "magnitude" (loud bins count more, Wang et al. 2018). ``mask_loss`` trains the masks of
    mask estimators and Chimera++: "psa" or "si_sdr" (see the module docstring). ``precision="bf16"`` runs the
    network's forward pass under bfloat16 autocast (weights, gradients and the loss stay float32);
    where the device lacks bf16 kernels it runs in float32 instead, with one warning line.
    ``attractor_weight`` w makes the deep clustering term ``(1 - w) dc + w attractor_loss`` (its
    ``kmeans_steps``: ``attractor_kmeans_steps``)."""
    objective = objective_for(model)
    opts = LossOptions(**options)
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision '{precision}' (use {' or '.join(PRECISIONS)})")
    if opts.mask_loss not in MASK_LOSSES:
        raise ModelError(f"unknown mask loss '{opts.mask_loss}' (use {' or '.join(MASK_LOSSES)})")
    out = _forward(net, mixture, effective_precision(precision, mixture.device.type))
    out = {
        k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in out.items()
    }
    return objective.loss(model, out, mixture, sources, opts)
