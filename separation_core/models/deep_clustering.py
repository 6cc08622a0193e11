"""Deep clustering (``dc-blstm``) and Chimera++ (``chimera``).

Deep clustering embeds every time-frequency bin in a D-dimensional unit sphere, trained so bins
dominated by the same speaker lie close together. At run time the embeddings of the non-silent bins
are clustered (k-means with any K, or mean-shift, which finds K itself) and each cluster becomes a
mask: soft by default (a softmax over the bin's distances to the centres), binary on request.
Chimera++ adds a mask-inference head on the same BLSTM trunk.

Bin order is freq-major everywhere (bin = f * frames + t), as in ``ChunkOutput``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.base import KIND_CHIMERA, KIND_DEEP_CLUSTERING, RunOptions
from separation_core.models.blocks import STFT_MASKS, make_activation
from separation_core.models.features import StftSeparationModel, active_bins
from separation_core.models.registry import register
from separation_core.models.result import ChunkOutput

CLUSTERING_METHODS = ("kmeans", "meanshift")
# Soft masks softmax(-SOFT_MASK_SHARPNESS * |v - c_k|^2) over the centres c_k, for unit embeddings
# v. Chosen on the study's validation sets with dc-tcn-rooms-16k (40 two-, 40 three-speaker
# mixtures; SI-SDRi dB, binary masks 2.84 / 0.62): sharpness 1.5: 3.61 / 2.54, 2: 3.91 / 2.74,
# 3: 4.02 / 2.81, 4: 3.93 / 2.71, 6: 3.69 / 2.36. A binary mask wastes what the distances say
# about a bin claimed by two clusters; a too soft one leaves every speaker in every output.
SOFT_MASK_SHARPNESS = 3.0


def dc_targets(
    mix_spec: torch.Tensor,
    src_specs: torch.Tensor,
    *,
    weighting: str = "threshold",
    threshold_db: float = 40.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training targets of the deep clustering loss.

    ``mix_spec`` complex ``[B, F, T]``, ``src_specs`` complex ``[B, S, F, T]`` ->
      assign  ``[B, F*T, S]`` float: one-hot ideal binary assignment (the loudest source of each bin)
      weights ``[B, F*T]`` float:
        "threshold": 1 for bins within ``threshold_db`` of the mixture's loudest bin, else 0
                     (silent bins have no owner worth learning; the original recipe)
        "magnitude": |X| / mean |X| per utterance (loud bins count more; Chimera++ recipe)
        "none":      all ones
    """
    b, s, f, t = src_specs.shape
    winner = src_specs.abs().argmax(dim=1)  # [B, F, T]
    assign = F.one_hot(winner.reshape(b, f * t), s).to(torch.float32)
    mag = mix_spec.abs().to(torch.float32)
    if weighting == "threshold":
        weights = active_bins(mag, threshold_db).to(torch.float32)
    elif weighting == "magnitude":
        weights = mag / mag.mean(dim=(-2, -1), keepdim=True).clamp_min(1e-10)
    elif weighting == "none":
        weights = torch.ones_like(mag)
    else:
        raise ModelError(
            f"unknown deep clustering weighting '{weighting}' (threshold, magnitude, none)"
        )
    return assign, weights.reshape(b, f * t)


def cluster_masks(
    embeddings: torch.Tensor,
    magnitude: torch.Tensor,
    k: Optional[int],
    method: str = "kmeans",
    *,
    threshold_db: float = 40.0,
    seed: int = 0,
    max_fit_points: int = 20000,
    sharpness: Optional[float] = SOFT_MASK_SHARPNESS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks from bin embeddings.

    ``embeddings [F*T, D]``, mixture ``magnitude [F, T]`` -> (masks ``[K, F, T]``, labels ``[F*T]``
    int64). Each bin's masks are ``softmax(-sharpness * |v - c_k|^2)`` over the centres ``c_k``
    (summing to 1), or one-hot on its nearest centre when ``sharpness`` is None. Clusters are fitted on the bins within ``threshold_db`` of the loudest one (silence has
    no speaker), k-means weighting each by its power: unweighted, the many quiet bins (reverberant
    tails, pauses) took one of three centres for themselves, and 40 % of the bins with 3-15 % of the
    energy became a "speaker" (0.22 -> 0.78 dB SI-SDRi for K=3 on 20 three-libri mixtures, 6.49 ->
    6.52 dB for K=2 on clean-libri). Every bin, silent or not, then goes to its nearest centre, so
    ``labels == masks.argmax(0).flatten()``. ``k`` is ignored by mean-shift.
    """
    from separation_core.models.clustering import cluster_embeddings, nearest_centre

    f, t = magnitude.shape
    emb = embeddings.detach().to("cpu", torch.float32).numpy()
    active = active_bins(magnitude, threshold_db).reshape(-1).cpu().numpy()
    if active.sum() < max(k or 1, 2):
        active = np.ones(f * t, dtype=bool)
    power = magnitude.detach().to("cpu", torch.float64).reshape(-1).numpy() ** 2
    # Relative power, floored: an all-zero input (every bin active) still has weights to fit.
    weights = power[active] / max(power[active].max(), 1e-20) + 1e-6
    _, centers = cluster_embeddings(
        emb[active], method=method, k=k, seed=seed, max_fit_points=max_fit_points, weights=weights
    )
    labels = torch.from_numpy(nearest_centre(emb, centers)).to(magnitude.device)
    k_found = len(centers)
    if sharpness is None:
        masks = F.one_hot(labels, k_found).T.to(torch.float32)
    else:
        v, c = torch.from_numpy(emb), torch.from_numpy(centers)
        dist = (v * v).sum(1, keepdim=True) - 2 * v @ c.T + (c * c).sum(1)  # [F*T, K]
        masks = torch.softmax(-sharpness * dist, dim=1).T.to(magnitude.device)
    return masks.reshape(k_found, f, t), labels


class _BlstmTrunk(nn.Module):
    """``feats [B, T, F]`` -> ``[B, T, 2 * hidden]``."""

    def __init__(self, n_freq: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        if layers < 1 or hidden < 1:
            raise ModelError(
                f"layers and hidden must be positive (got layers={layers}, hidden={hidden})"
            )
        self.rnn = nn.LSTM(
            n_freq,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.rnn(feats)[0]


class _EmbeddingHead(nn.Module):
    """``[B, T, H]`` -> unit-norm embeddings ``[B, F*T, D]`` (freq-major bins)."""

    def __init__(self, width: int, n_freq: int, dim: int, activation: str) -> None:
        super().__init__()
        if activation not in ("tanh", "linear"):
            raise ModelError(f"unknown embedding activation '{activation}' (known: tanh, linear)")
        if dim < 1:
            raise ModelError(f"embedding_dim must be >= 1 (got {dim})")
        self.n_freq, self.dim, self.tanh = n_freq, dim, activation == "tanh"
        self.proj = nn.Linear(width, n_freq * dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, t, _ = h.shape
        v = self.proj(h)
        if self.tanh:
            v = torch.tanh(v)
        v = (
            v.reshape(b, t, self.n_freq, self.dim)
            .transpose(1, 2)
            .reshape(b, self.n_freq * t, self.dim)
        )
        return F.normalize(v, dim=-1, eps=1e-8)


def _run_k(model: StftSeparationModel, options: RunOptions) -> tuple[Optional[int], str]:
    if options.clustering not in CLUSTERING_METHODS:
        raise ModelError(
            f"unknown clustering method '{options.clustering}' (known: kmeans, meanshift)"
        )
    k = model.n_src if options.num_speakers is None else int(options.num_speakers)
    if k < 1:
        raise ModelError(f"number of speakers must be >= 1 (got {k})")
    return k, options.clustering


@register("dc-blstm")
class DeepClusteringBlstm(StftSeparationModel):
    """Deep clustering: ``layers`` x BLSTM(``hidden``) -> Linear(F D) -> tanh (or linear) -> L2 norm.

    ``n_src`` is the default K (the number of speakers trained on); any K can be asked at run time
    through ``RunOptions.num_speakers``, or mean-shift can find it. Bins quieter than
    ``silence_db`` below the loudest take no part in fitting the clusters.
    """

    kind = KIND_DEEP_CLUSTERING
    objective = "deep-clustering"
    takes_num_speakers = True
    trains_on_any_speaker_count = True
    description = "Deep clustering: BLSTM bin embeddings, k-means or mean-shift masks"

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        n_fft: Optional[int] = None,
        hop: Optional[int] = None,
        hidden: int = 300,
        layers: int = 3,
        embedding_dim: int = 20,
        embedding_activation: str = "tanh",
        dropout: float = 0.2,
        silence_db: float = 40.0,
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src, n_fft=n_fft, hop=hop)
        self.silence_db = float(silence_db)
        self.trunk = _BlstmTrunk(self.n_freq, hidden, layers, dropout)
        self.embed = _EmbeddingHead(2 * hidden, self.n_freq, embedding_dim, embedding_activation)

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, time]`` -> {"embeddings": [B, F*T, D], "mix_spec": complex [B, F, T]}."""
        spec, feats = self.analyse(mixture)
        return {"embeddings": self.embed(self.trunk(feats)), "mix_spec": spec}

    def separate_chunk(
        self,
        mixture: torch.Tensor,
        *,
        references: Optional[torch.Tensor] = None,
        options: RunOptions = RunOptions(),
    ) -> ChunkOutput:
        return dc_chunk(self, mixture, options)


@register("chimera")
class ChimeraPlusPlus(StftSeparationModel):
    """Chimera++: one BLSTM trunk, a deep clustering head and a mask-inference head.

    Trunk ``layers`` x BLSTM(``hidden``); DC head as in ``dc-blstm``; MI head Linear(S F) with
    ``mask_activation`` ("sigmoid" default: truncated phase-sensitive targets in [0, 1] per source;
    "softmax": masks that sum to one). At run time the MI masks are used, unless the user asks for a
    K other than ``n_src`` or for mean-shift: then the embeddings are clustered, as in ``dc-blstm``.
    """

    kind = KIND_CHIMERA
    objective = "chimera"
    takes_num_speakers = True
    description = "Chimera++: deep clustering and mask-inference heads on one BLSTM"

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        n_fft: Optional[int] = None,
        hop: Optional[int] = None,
        hidden: int = 300,
        layers: int = 3,
        embedding_dim: int = 20,
        embedding_activation: str = "tanh",
        mask_activation: str = "sigmoid",
        dropout: float = 0.2,
        silence_db: float = 40.0,
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src, n_fft=n_fft, hop=hop)
        self.silence_db = float(silence_db)
        self._activation = make_activation(mask_activation, allowed=STFT_MASKS)
        self.trunk = _BlstmTrunk(self.n_freq, hidden, layers, dropout)
        self.embed = _EmbeddingHead(2 * hidden, self.n_freq, embedding_dim, embedding_activation)
        self.mask_head = nn.Linear(2 * hidden, self.n_src * self.n_freq)

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, time]`` -> {"embeddings": [B, F*T, D], "masks": [B, S, F, T],
        "mix_spec": complex [B, F, T]}."""
        spec, feats = self.analyse(mixture)
        h = self.trunk(feats)
        b, t, _ = h.shape
        logits = self.mask_head(h).reshape(b, t, self.n_src, self.n_freq).permute(0, 2, 3, 1)
        return {"embeddings": self.embed(h), "masks": self._activation(logits), "mix_spec": spec}

    def separate_chunk(
        self,
        mixture: torch.Tensor,
        *,
        references: Optional[torch.Tensor] = None,
        options: RunOptions = RunOptions(),
    ) -> ChunkOutput:
        return chimera_chunk(self, mixture, options)


def dc_chunk(model: StftSeparationModel, mixture: torch.Tensor, options: RunOptions) -> ChunkOutput:
    """Inference of a deep clustering model on one chunk ``[time]``: its embeddings clustered."""
    k, method = _run_k(model, options)
    length = int(mixture.shape[-1])
    with torch.no_grad():
        out = model.forward(model._chunk_input(mixture))
        spec, emb = out["mix_spec"][0], out["embeddings"][0]
        masks, labels = _clustered(model, emb, spec, k, method, options)
        return _chunk_output(model, masks, labels, emb, spec, length)


def _clustered(model, emb, spec, k, method, options: RunOptions):
    sharpness = None if options.binary_masks else SOFT_MASK_SHARPNESS
    return cluster_masks(
        emb, spec.abs(), k, method, threshold_db=model.silence_db, sharpness=sharpness
    )


def chimera_chunk(
    model: StftSeparationModel, mixture: torch.Tensor, options: RunOptions
) -> ChunkOutput:
    """Inference of a Chimera++ model on one chunk ``[time]``: its mask head for K = ``n_src``
    with k-means, its clustered embeddings otherwise."""
    k, method = _run_k(model, options)
    length = int(mixture.shape[-1])
    with torch.no_grad():
        x = model._chunk_input(mixture)
        out = model.forward(x)
        spec, emb = out["mix_spec"][0], out["embeddings"][0]
        if k == model.n_src and method == "kmeans":
            masks, waveforms = model.synthesise_fitted(out["masks"][0], spec, x[0, :length])
            labels = masks.argmax(dim=0).reshape(-1)
            return _chunk_output(model, masks, labels, emb, spec, length, waveforms)
        masks, labels = _clustered(model, emb, spec, k, method, options)
        return _chunk_output(model, masks, labels, emb, spec, length)


def _chunk_output(
    model: StftSeparationModel,
    masks: torch.Tensor,
    labels: torch.Tensor,
    emb: torch.Tensor,
    spec: torch.Tensor,
    length: int,
    waveforms: Optional[torch.Tensor] = None,
) -> ChunkOutput:
    """Waveforms from masks (unless given), everything cropped to the frames of the unpadded
    chunk."""
    if waveforms is None:
        waveforms = model.synthesise(masks, spec, length)
    frames, f, t = model.frames_of(length), spec.shape[0], spec.shape[1]
    if frames < t:  # the chunk was zero-padded to one window: drop the padding's frames
        masks = masks[..., :frames]
        keep = (torch.arange(t, device=labels.device) < frames).repeat(f)
        labels, emb = labels[keep], emb[keep]
    return ChunkOutput(waveforms=waveforms, masks=masks, embeddings=emb, labels=labels)
