"""Exact ports of Asteroid's ``ConvTasNet`` and ``DPRNNTasNet`` (asteroid 0.7, asteroid-filterbanks
0.4), so that checkpoints written by Asteroid's ``BaseModel.serialize()`` run in Cocktail without
Asteroid installed (see ``separation_core.checkpoints.importers.asteroid``).

The module tree mirrors Asteroid's, so an Asteroid ``state_dict`` loads with its own key names
(``encoder.filterbank._filters``, ``masker.TCN.3.shared_block.0.weight``, ...). The arguments are
Asteroid's, with Asteroid's defaults. What differs from Cocktail's own ``convtasnet`` / ``dprnn``
and must be kept to reproduce Asteroid's outputs:

- the encoder is a plain strided convolution with no padding: ``frames = (T - K) // S + 1``; the
  last ``(T - K) % S`` samples reach no frame, and the decoder's output is zero-padded (or cut) on
  the right to ``T`` (Asteroid's ``pad_x_to_y``);
- no ReLU after the encoder unless ``encoder_activation`` says so (Asteroid's default is linear);
- every TCN block has a residual convolution (also the last), the block output is added to its
  input; without skip connections (``skip_chan=0``) the masks come from the residual path;
- layer norms are Asteroid's (``gLN``: mean and biased variance over all but the batch axis,
  ``eps=1e-8`` inside the square root; ``cLN`` over channels; ``cgLN`` cumulative over time;
  ``fgLN`` over time per channel; ``bN`` batch norm with running statistics);
- DPRNN chunks are ``chunk_size`` frames taken every ``hop_size`` frames from the bottleneck
  output zero-padded by ``chunk_size`` on both sides, and are summed back (not averaged).

Segmentation and overlap-add use index gathers and scatter-adds (equal to ``unfold`` / ``fold``),
which also export to ONNX with a dynamic length.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from separation_core.errors import ModelError
from separation_core.models.asteroid_blocks import (
    DPRNN,
    NORMS,
    CumLN,
    FreeDecoder,
    FreeEncoder,
    TDConvNet,
)
from separation_core.models.base import RunOptions
from separation_core.models.blocks import TimeDomainModel, enhancer_chunk, make_activation
from separation_core.models.registry import register
from separation_core.models.result import ChunkOutput

# -- the models -----------------------------------------------------------------------------------


class AsteroidTasNet(TimeDomainModel):
    """Asteroid's ``BaseEncoderMaskerDecoder`` with the free filterbank: encoder, optional encoder
    activation, masker, masks times the encoder output, decoder, output fitted to the input length.
    Inference (mixture fit, effective masks) is ``TimeDomainModel``'s.

    With one mask (``n_src=1``, Asteroid's enhancement recipes) the model is an enhancer: it
    outputs speech and the rest of the mixture (``n_src`` 2, ``outputs_are_voices`` False)."""

    trainable = True

    def __init__(self, sample_rate: int, n_src: int) -> None:
        """``n_src``: the masker's outputs (Asteroid's argument)."""
        super().__init__(sample_rate=sample_rate, n_src=2 if n_src == 1 else n_src)
        self.outputs_are_voices = self.voices_with({"n_src": n_src})

    @classmethod
    def voices_with(cls, model_args: dict) -> bool:
        return model_args.get("n_src", 2) != 1

    def _build_filterbanks(
        self,
        n_filters: int,
        kernel_size: int,
        stride: Optional[int],
        encoder_activation: Optional[str],
    ) -> int:
        stride = int(stride) if stride else kernel_size // 2
        if kernel_size < 1 or stride < 1 or n_filters < 1:
            raise ModelError(
                f"kernel_size, stride and n_filters must be positive "
                f"(got {kernel_size}, {stride}, {n_filters})"
            )
        self.kernel_size, self.stride = int(kernel_size), stride
        self.shortest_input = self.kernel_size  # samples the encoder needs for one frame
        self.encoder = FreeEncoder(n_filters, kernel_size, stride)
        self.decoder = FreeDecoder(n_filters, kernel_size, stride)
        self.enc_activation = make_activation(encoder_activation, "encoder_activation")
        return stride

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, T]`` -> ``{"waveforms": [B, n_src, T]}``."""
        self.check_batch(mixture)
        batch, length = mixture.shape
        x = mixture
        if length < self.shortest_input:  # Asteroid cannot encode it at all; pad to one frame
            x = F.pad(x, (0, self.shortest_input - length))
        w = self.enc_activation(self.encoder(x))  # [B, N, frames]
        masked = self.masker(w) * w.unsqueeze(1)  # [B, masks, N, frames]
        y = self.decoder(masked.flatten(0, 1))
        y = F.pad(y, (0, max(0, length - y.shape[-1])))[:, :length]  # Asteroid's pad_x_to_y
        y = y.reshape(batch, -1, length)
        if not self.outputs_are_voices:  # speech, and the rest of the mixture
            y = torch.cat([y, mixture.unsqueeze(1) - y], dim=1)
        return {"waveforms": y}

    def separate_chunk(
        self,
        mixture: torch.Tensor,
        *,
        references: Optional[torch.Tensor] = None,
        options: RunOptions = RunOptions(),
    ) -> ChunkOutput:
        """A separator's: ``TimeDomainModel``'s. An enhancer's speech is at the level of Asteroid's
        scale-invariant training: its level is fitted to the mixture alone (``speech_and_noise``),
        then the noise is the rest."""
        if self.outputs_are_voices:
            return super().separate_chunk(mixture, references=references, options=options)
        return enhancer_chunk(self, mixture)


def masks_out_chan(out_chan: Optional[int], n_filters: int) -> int:
    if out_chan and out_chan != n_filters:
        raise ModelError(
            f"out_chan={out_chan} differs from n_filters={n_filters}: the masks would "
            "not fit the encoder output"
        )
    return n_filters


def check_in_chan(in_chan: Optional[int], n_filters: int) -> None:
    if in_chan is not None and in_chan != n_filters:
        raise ModelError(f"in_chan={in_chan} differs from n_filters={n_filters}")


@register("asteroid-convtasnet")
class AsteroidConvTasNet(AsteroidTasNet):
    """Asteroid's ``ConvTasNet`` (free filterbank), same arguments and defaults:

    n_filters N, kernel_size L, stride (L // 2 when None), encoder_activation (None: linear),
    bn_chan B, hid_chan H, skip_chan Sc (0: no skip connections), conv_kernel_size P, n_blocks X,
    n_repeats R, norm_type (gLN, cLN, cgLN, fgLN, bN), mask_act, causal (then a norm other than
    cLN / cgLN becomes cLN, as in Asteroid), sample_rate.
    """

    description = (
        "Asteroid ConvTasNet (free filterbank), ported: imported Asteroid checkpoints run on it."
    )

    def __init__(
        self,
        n_src: int = 2,
        out_chan: Optional[int] = None,
        n_blocks: int = 8,
        n_repeats: int = 3,
        bn_chan: int = 128,
        hid_chan: int = 512,
        skip_chan: int = 128,
        conv_kernel_size: int = 3,
        norm_type: str = "gLN",
        mask_act: str = "sigmoid",
        in_chan: Optional[int] = None,
        causal: bool = False,
        kernel_size: int = 16,
        n_filters: int = 512,
        stride: Optional[int] = 8,
        encoder_activation: Optional[str] = None,
        sample_rate: int = 8000,
    ) -> None:
        if causal and norm_type not in ("cgLN", "cLN"):
            norm_type = "cLN"
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        check_in_chan(in_chan, n_filters)
        self._build_filterbanks(n_filters, kernel_size, stride, encoder_activation)
        self.masker = TDConvNet(
            n_filters,
            n_src,
            masks_out_chan(out_chan, n_filters),
            n_blocks,
            n_repeats,
            bn_chan,
            hid_chan,
            skip_chan,
            conv_kernel_size,
            norm_type,
            mask_act,
            bool(causal),
        )


@register("asteroid-dprnn")
class AsteroidDPRNNTasNet(AsteroidTasNet):
    """Asteroid's ``DPRNNTasNet`` (free filterbank), same arguments and defaults:

    n_filters, kernel_size, stride, encoder_activation, bn_chan, hid_size, chunk_size, hop_size
    (chunk_size // 2 when None), n_repeats, norm_type (gLN, cLN, fgLN, bN), mask_act,
    bidirectional (inter-chunk RNN), rnn_type (RNN, LSTM, GRU), num_layers, dropout (training only),
    use_mulcat, sample_rate.
    """

    description = (
        "Asteroid DPRNNTasNet (free filterbank), ported: imported Asteroid checkpoints run on it."
    )

    def __init__(
        self,
        n_src: int = 2,
        out_chan: Optional[int] = None,
        bn_chan: int = 128,
        hid_size: int = 128,
        chunk_size: int = 100,
        hop_size: Optional[int] = None,
        n_repeats: int = 6,
        norm_type: str = "gLN",
        mask_act: str = "sigmoid",
        bidirectional: bool = True,
        rnn_type: str = "LSTM",
        num_layers: int = 1,
        dropout: float = 0.0,
        in_chan: Optional[int] = None,
        kernel_size: int = 16,
        n_filters: int = 64,
        stride: Optional[int] = 8,
        encoder_activation: Optional[str] = None,
        sample_rate: int = 8000,
        use_mulcat: bool = False,
    ) -> None:
        hop_size = int(hop_size) if hop_size is not None else chunk_size // 2
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        self._resolved_args(hop_size=hop_size)
        if norm_type not in NORMS or NORMS[norm_type] is CumLN:
            raise ModelError(
                f"norm_type={norm_type!r} is not supported for DPRNN (known: gLN, cLN, "
                "fgLN, bN; Asteroid's cgLN cannot run on its 4-D chunks either)"
            )
        if str(rnn_type).upper() not in ("RNN", "LSTM", "GRU"):
            raise ModelError(f"rnn_type={rnn_type!r} is not supported (known: RNN, LSTM, GRU)")
        if chunk_size < 1 or hop_size < 1:
            raise ModelError(
                f"chunk_size and hop_size must be positive (got {chunk_size}, {hop_size})"
            )
        check_in_chan(in_chan, n_filters)
        self._build_filterbanks(n_filters, kernel_size, stride, encoder_activation)
        self.masker = DPRNN(
            n_filters,
            n_src,
            masks_out_chan(out_chan, n_filters),
            bn_chan,
            hid_size,
            chunk_size,
            hop_size,
            n_repeats,
            norm_type,
            mask_act,
            bool(bidirectional),
            str(rnn_type).upper(),
            bool(use_mulcat),
            num_layers,
            float(dropout),
        )
