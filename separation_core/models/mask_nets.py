"""Mask estimators of the deep clustering paper's lineage: feed-forward, LSTM and BLSTM.

Each predicts one mask per source ``[B, S, F, T]`` from the mixture's normalised log-magnitude
and is trained with utterance-level PIT (a fixed output order cannot work for speakers).

Mask activation (``mask_activation``):
  "sigmoid" (default) -- each mask lies in [0, 1] independently. The uPIT targets are the truncated
      phase-sensitive mask (or magnitude ratio), which live in [0, 1] per source and do not sum to
      one across sources (phase cancellation, noise), so an independent bound fits them best.
  "softmax" -- the masks sum to one across sources: a partition of the mixture, right when the
      mixture is exactly the sum of the sources and a residual can never be wanted.
Both work with uPIT.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.base import CONTRACT_MASK, KIND_MASK, RunOptions
from separation_core.models.blocks import STFT_MASKS, make_activation
from separation_core.models.features import StftSeparationModel
from separation_core.models.registry import register
from separation_core.models.result import ChunkOutput


class _MaskModel(StftSeparationModel):
    """Common part: features -> ``_logits [B, S, F, T]`` -> activation -> masks."""

    kind = KIND_MASK
    objective = "mask"
    onnx_contract = CONTRACT_MASK

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        n_fft: Optional[int] = None,
        hop: Optional[int] = None,
        mask_activation: str = "sigmoid",
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src, n_fft=n_fft, hop=hop)
        self._activation = make_activation(mask_activation, allowed=STFT_MASKS)

    def _logits(self, feats: torch.Tensor) -> torch.Tensor:
        """``feats [B, T, F]`` -> ``[B, S, F, T]``."""
        raise NotImplementedError

    def _to_masks(self, out: torch.Tensor) -> torch.Tensor:
        """Network output ``[B, T, S*F]`` -> masks ``[B, S, F, T]``."""
        b, t, _ = out.shape
        logits = out.reshape(b, t, self.n_src, self.n_freq).permute(0, 2, 3, 1)
        return self._activation(logits)

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, time]`` -> {"masks": [B, S, F, T], "mix_spec": complex [B, F, T]}."""
        spec, feats = self.analyse(mixture)
        return {"masks": self._to_masks(self._logits(feats)), "mix_spec": spec}

    def separate_chunk(
        self,
        mixture: torch.Tensor,
        *,
        references: Optional[torch.Tensor] = None,
        options: RunOptions = RunOptions(),
    ) -> ChunkOutput:
        length = int(mixture.shape[-1])
        with torch.no_grad():
            x = self._chunk_input(mixture)
            out = self.forward(x)
            masks, waveforms = self.synthesise_fitted(
                out["masks"][0], out["mix_spec"][0], x[0, :length]
            )
        return ChunkOutput(waveforms=waveforms, masks=masks[..., : self.frames_of(length)])


def _check_layers(layers: int, hidden: int) -> None:
    if layers < 1 or hidden < 1:
        raise ModelError(
            f"layers and hidden must be positive (got layers={layers}, hidden={hidden})"
        )


@register("ff-mask")
class FeedForwardMask(_MaskModel):
    """Feed-forward mask estimator over a window of ``2 * context + 1`` log-magnitude frames.

    Input ``[(2c+1) F]`` per frame -> ``layers`` x (Linear(hidden), ReLU, Dropout) -> Linear(S F).
    No memory beyond the window: the weakest of the three, the baseline.
    """

    description = "Feed-forward mask estimator over a context window of frames (uPIT)"

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        n_fft: Optional[int] = None,
        hop: Optional[int] = None,
        context: int = 5,
        hidden: int = 1024,
        layers: int = 3,
        dropout: float = 0.1,
        mask_activation: str = "sigmoid",
    ) -> None:
        _check_layers(layers, hidden)
        if context < 0:
            raise ModelError(f"context must be >= 0 (got {context})")
        super().__init__(
            sample_rate=sample_rate,
            n_src=n_src,
            n_fft=n_fft,
            hop=hop,
            mask_activation=mask_activation,
        )
        self.context = int(context)
        blocks: list[nn.Module] = []
        width = (2 * self.context + 1) * self.n_freq
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        blocks.append(nn.Linear(width, self.n_src * self.n_freq))
        self.net = nn.Sequential(*blocks)

    def _logits(self, feats: torch.Tensor) -> torch.Tensor:
        c = self.context
        # Edge frames repeat so every frame sees a full window: [B, T, F] -> [B, T, F * (2c+1)].
        padded = (
            F.pad(feats.transpose(1, 2), (c, c), mode="replicate").transpose(1, 2) if c else feats
        )
        # As padded.unfold(1, 2c+1, 1), in slices (which export to ONNX with a dynamic length).
        frames = feats.shape[1]
        windows = torch.stack(
            [padded[:, j : j + frames] for j in range(2 * c + 1)], dim=-1
        )  # [B, T, F, 2c+1]
        return self.net(windows.reshape(*windows.shape[:2], -1))


class _RecurrentMask(_MaskModel):
    bidirectional = False

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        n_fft: Optional[int] = None,
        hop: Optional[int] = None,
        hidden: int = 300,
        layers: int = 3,
        dropout: float = 0.2,
        mask_activation: str = "sigmoid",
    ) -> None:
        _check_layers(layers, hidden)
        super().__init__(
            sample_rate=sample_rate,
            n_src=n_src,
            n_fft=n_fft,
            hop=hop,
            mask_activation=mask_activation,
        )
        self.rnn = nn.LSTM(
            self.n_freq,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=self.bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        directions = 2 if self.bidirectional else 1
        self.out = nn.Linear(directions * hidden, self.n_src * self.n_freq)

    def _logits(self, feats: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(feats)[0])


@register("lstm-mask")
class LstmMask(_RecurrentMask):
    """Unidirectional LSTM mask estimator: the recurrence runs forwards in time only (the input
    normalisation uses the chunk's statistics, so a chunk as a whole is not strictly causal).

    ``layers`` x LSTM(``hidden``) -> Linear(S F). Defaults 3 x 400.
    """

    description = "Unidirectional LSTM mask estimator (uPIT)"

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        n_fft: Optional[int] = None,
        hop: Optional[int] = None,
        hidden: int = 400,
        layers: int = 3,
        dropout: float = 0.2,
        mask_activation: str = "sigmoid",
    ) -> None:
        super().__init__(
            sample_rate=sample_rate,
            n_src=n_src,
            n_fft=n_fft,
            hop=hop,
            hidden=hidden,
            layers=layers,
            dropout=dropout,
            mask_activation=mask_activation,
        )


@register("blstm-mask")
class BlstmMask(_RecurrentMask):
    """Bidirectional LSTM mask estimator: ``layers`` x BLSTM(``hidden`` per direction) -> Linear(S F).

    Defaults 3 x 300, the uPIT paper's architecture at a size that runs well above real time on CPU.
    """

    description = "Bidirectional LSTM mask estimator (uPIT)"
    bidirectional = True
