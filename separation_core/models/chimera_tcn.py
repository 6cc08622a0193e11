"""Chimera++ and deep clustering on a Conv-TasNet trunk (``chimera-tcn``, ``dc-tcn``).

The trunk is Conv-TasNet's learned encoder and temporal convolutional network (same layer names,
so ``cocktail train --init`` can start it from a trained Conv-TasNet); its skip-connection sum,
one frame per encoder stride, is pooled onto the STFT grid by a strided convolution, and two
heads read it there: deep clustering embeddings of every STFT bin and one STFT mask per speaker.
On the 2-core CPU a BLSTM trunk learned little per step; this trunk starts from the default
model's training (docs/study.md). ``dc-tcn`` is the same trunk with the deep clustering head
only: a model whose every K, two speakers included, comes from clustering its embeddings.
"""

from __future__ import annotations

from typing import ClassVar, Optional

import torch
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.base import KIND_CHIMERA, KIND_DEEP_CLUSTERING, RunOptions
from separation_core.models.blocks import (
    STFT_MASKS,
    WaveEncoder,
    global_layer_norm,
    make_activation,
)
from separation_core.models.conv_tasnet import skip_sum, temporal_blocks
from separation_core.models.deep_clustering import _EmbeddingHead, chimera_chunk, dc_chunk
from separation_core.models.features import StftSeparationModel
from separation_core.models.registry import register
from separation_core.models.result import ChunkOutput
from separation_core.models.transforms import stft


class _TcnOnStftGrid(StftSeparationModel):
    """Encoder (N filters of L samples, stride L/2) -> TCN (B, H, Sc, P, X, R as in
    ``convtasnet``) -> PReLU -> Conv1d(Sc, ``width``, 4r, stride r), r = hop / (L/2) -> PReLU:
    one ``width`` vector per STFT frame, for the heads of the subclasses (not registered)."""

    warm_start_drops: ClassVar[tuple[str, ...]] = ("decoder.", "output.")  # Conv-TasNet's
    # Twice the engine's 8 s: the global layer norm and k-means see more of each speaker. On the
    # 100 clean-libri test mixtures (3.6-16.4 s) 16 s chunks gave 7.12 dB SI-SDRi against 6.93
    # for chimera-tcn-rooms-16k's mask head, and 6.24 against 5.98 for dc-tcn-rooms-16k (docs/study.md).
    default_chunk_seconds: ClassVar[float] = 16.0

    def _build_trunk(
        self,
        n_filters: int,
        filter_length: int,
        bottleneck: int,
        hidden: int,
        skip: int,
        kernel: int,
        n_blocks: int,
        n_repeats: int,
        width: int,
    ) -> None:
        self.encoder = WaveEncoder(n_filters, filter_length)
        ratio, rest = divmod(self.stft_params.hop, self.encoder.stride)
        if rest or ratio < 1:
            raise ModelError(
                f"{self.name}: the STFT hop ({self.stft_params.hop}) must be a multiple of the "
                f"encoder stride ({self.encoder.stride} = filter_length / 2)"
            )
        self.input_norm = global_layer_norm(n_filters)
        self.input_conv = nn.Conv1d(n_filters, bottleneck, 1)
        self.blocks = temporal_blocks(bottleneck, hidden, skip, kernel, n_blocks, n_repeats)
        # Encoder frame j is centred on sample j * stride and STFT frame t on t * hop, so STFT
        # frame t is encoder frame r t; the pooling window spans 2r encoder frames each side.
        self.pool = nn.Sequential(
            nn.PReLU(), nn.Conv1d(skip, width, 4 * ratio, stride=ratio, padding=2 * ratio)
        )
        self.head_act = nn.PReLU()

    def _trunk(self, mixture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``mixture [B, time]`` -> (complex spectrum ``[B, F, T]``, features ``[B, T, width]``)."""
        self.check_batch(mixture)
        spec = stft(mixture, self.stft_params)
        frames = spec.shape[-1]
        x = self.input_conv(self.input_norm(self.encoder(mixture)))  # [B, B_ch, enc frames]
        skips = skip_sum(self.blocks, x)  # [B, Sc, enc frames]
        return spec, self.head_act(self.pool(skips)[..., :frames]).transpose(1, 2)


@register("chimera-tcn")
class ChimeraTcn(_TcnOnStftGrid):
    """The trunk of ``_TcnOnStftGrid`` -> deep clustering head (Linear(F D), tanh, unit norm) and
    mask head (Linear(S F), ``mask_activation``). At run time as ``chimera``: the masks for
    K = ``n_src`` with k-means, the clustered embeddings for any other K or mean-shift."""

    kind = KIND_CHIMERA
    objective = "chimera"
    takes_num_speakers = True
    description = "Chimera++ on a Conv-TasNet trunk: STFT masks and bin embeddings from a TCN"

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        n_fft: Optional[int] = None,
        hop: Optional[int] = None,
        n_filters: int = 256,
        filter_length: int = 32,
        bottleneck: int = 128,
        hidden: int = 256,
        skip: int = 128,
        kernel: int = 3,
        n_blocks: int = 8,
        n_repeats: int = 2,
        width: int = 256,
        embedding_dim: int = 20,
        embedding_activation: str = "tanh",
        mask_activation: str = "sigmoid",
        silence_db: float = 40.0,
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src, n_fft=n_fft, hop=hop)
        self._build_trunk(
            n_filters, filter_length, bottleneck, hidden, skip, kernel, n_blocks, n_repeats, width
        )
        self.silence_db = float(silence_db)
        self._activation = make_activation(mask_activation, allowed=STFT_MASKS)
        self.embed = _EmbeddingHead(width, self.n_freq, embedding_dim, embedding_activation)
        self.mask_head = nn.Linear(width, self.n_src * self.n_freq)

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, time]`` -> {"embeddings": [B, F*T, D], "masks": [B, S, F, T],
        "mix_spec": complex [B, F, T]}."""
        spec, h = self._trunk(mixture)
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


@register("dc-tcn")
class DeepClusteringTcn(_TcnOnStftGrid):
    """The trunk of ``_TcnOnStftGrid`` -> deep clustering head (Linear(F D), tanh, unit norm).
    At run time as ``dc-blstm``: k-means with any K (default ``n_src``) or mean-shift. A warm
    start from ``chimera-tcn`` takes all but its mask head; from ``convtasnet``, its trunk."""

    kind = KIND_DEEP_CLUSTERING
    objective = "deep-clustering"
    takes_num_speakers = True
    trains_on_any_speaker_count = True
    description = "Deep clustering on a Conv-TasNet trunk: TCN bin embeddings, k-means masks"
    warm_start_drops: ClassVar[tuple[str, ...]] = ("decoder.", "output.", "mask_head.")

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        n_fft: Optional[int] = None,
        hop: Optional[int] = None,
        n_filters: int = 256,
        filter_length: int = 32,
        bottleneck: int = 128,
        hidden: int = 256,
        skip: int = 128,
        kernel: int = 3,
        n_blocks: int = 8,
        n_repeats: int = 2,
        width: int = 256,
        embedding_dim: int = 20,
        embedding_activation: str = "tanh",
        silence_db: float = 40.0,
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src, n_fft=n_fft, hop=hop)
        self._build_trunk(
            n_filters, filter_length, bottleneck, hidden, skip, kernel, n_blocks, n_repeats, width
        )
        self.silence_db = float(silence_db)
        self.embed = _EmbeddingHead(width, self.n_freq, embedding_dim, embedding_activation)

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, time]`` -> {"embeddings": [B, F*T, D], "mix_spec": complex [B, F, T]}."""
        spec, h = self._trunk(mixture)
        return {"embeddings": self.embed(h), "mix_spec": spec}

    def separate_chunk(
        self,
        mixture: torch.Tensor,
        *,
        references: Optional[torch.Tensor] = None,
        options: RunOptions = RunOptions(),
    ) -> ChunkOutput:
        return dc_chunk(self, mixture, options)
