"""torchaudio's ``ConvTasNet`` (``torchaudio.models.conv_tasnet``, torchaudio 2.11), ported with
torchaudio's module names so that its state dict (the ``CONVTASNET_BASE_LIBRI2MIX`` pipeline's
``conv_tasnet_base_libri2mix.pt``) loads as it is (see
``separation_core.checkpoints.importers.torchaudio``).

What differs from Cocktail's ``convtasnet`` and Asteroid's, and must be kept to reproduce torchaudio:

- the encoder pads ``stride`` zeros on both sides (``padding=stride``, no bias, no ReLU), after the
  input is zero-padded on the right so that its end falls on a frame boundary; the decoder (a
  transposed convolution with the same padding) is cut back to the input length;
- the mask network normalises its input with ``GroupNorm(1, N, eps=1e-8)``; every block is
  conv 1x1, PReLU, GroupNorm, dilated depthwise conv (padding = dilation), PReLU, GroupNorm, then a
  residual and a skip 1x1 conv (the last block has no residual conv); the skip outputs are summed,
  then PReLU, a 1x1 conv to ``N * sources`` channels and the mask activation (sigmoid or ReLU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.blocks import TimeDomainModel
from separation_core.models.registry import register

MASK_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}


class ConvBlock(nn.Module):
    """torchaudio's ``ConvBlock``: ``[B, Bn, M]`` -> (residual or None, skip), both ``[B, Bn, M]``."""

    def __init__(
        self, io_channels: int, hidden: int, kernel_size: int, dilation: int, no_residual: bool
    ) -> None:
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv1d(io_channels, hidden, 1),
            nn.PReLU(),
            nn.GroupNorm(1, hidden, eps=1e-8),
            nn.Conv1d(
                hidden, hidden, kernel_size, padding=dilation, dilation=dilation, groups=hidden
            ),
            nn.PReLU(),
            nn.GroupNorm(1, hidden, eps=1e-8),
        )
        self.res_out = None if no_residual else nn.Conv1d(hidden, io_channels, 1)
        self.skip_out = nn.Conv1d(hidden, io_channels, 1)

    def forward(self, x: torch.Tensor):
        feature = self.conv_layers(x)
        residual = None if self.res_out is None else self.res_out(feature)
        return residual, self.skip_out(feature)


class MaskGenerator(nn.Module):
    """torchaudio's ``MaskGenerator``: encodings ``[B, N, M]`` -> masks ``[B, S, N, M]``."""

    def __init__(
        self,
        input_dim: int,
        num_sources: int,
        kernel_size: int,
        num_feats: int,
        num_hidden: int,
        num_layers: int,
        num_stacks: int,
        msk_activate: str,
    ) -> None:
        super().__init__()
        self.input_dim, self.num_sources = input_dim, num_sources
        self.input_norm = nn.GroupNorm(1, input_dim, eps=1e-8)
        self.input_conv = nn.Conv1d(input_dim, num_feats, 1)
        self.conv_layers = nn.ModuleList(
            ConvBlock(
                num_feats,
                num_hidden,
                kernel_size,
                dilation=2**layer,
                no_residual=(layer == num_layers - 1 and stack == num_stacks - 1),
            )
            for stack in range(num_stacks)
            for layer in range(num_layers)
        )
        self.output_prelu = nn.PReLU()
        self.output_conv = nn.Conv1d(num_feats, input_dim * num_sources, 1)
        self.mask_activate = MASK_ACTIVATIONS[msk_activate]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.input_conv(self.input_norm(x))
        output = torch.zeros_like(feats)
        for layer in self.conv_layers:
            residual, skip = layer(feats)
            if residual is not None:
                feats = feats + residual
            output = output + skip
        output = self.mask_activate(self.output_conv(self.output_prelu(output)))
        return output.reshape(x.shape[0], self.num_sources, self.input_dim, -1)


@register("torchaudio-convtasnet")
class TorchaudioConvTasNet(TimeDomainModel):
    """torchaudio's ``ConvTasNet``, same arguments and defaults (``num_sources``,
    ``enc_kernel_size`` L, ``enc_num_feats`` N, ``msk_kernel_size`` P, ``msk_num_feats`` B,
    ``msk_num_hidden_feats`` H, ``msk_num_layers`` X, ``msk_num_stacks`` R, ``msk_activate``), plus
    the ``sample_rate`` its weights were trained at."""

    unit_level_input = False  # torchaudio's pipeline runs it on the recording's own level

    description = "torchaudio ConvTasNet, ported: imported torchaudio state dicts run on it."

    def __init__(
        self,
        num_sources: int = 2,
        enc_kernel_size: int = 16,
        enc_num_feats: int = 512,
        msk_kernel_size: int = 3,
        msk_num_feats: int = 128,
        msk_num_hidden_feats: int = 512,
        msk_num_layers: int = 8,
        msk_num_stacks: int = 3,
        msk_activate: str = "sigmoid",
        sample_rate: int = 8000,
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=num_sources)
        if enc_kernel_size < 2:
            raise ModelError(f"enc_kernel_size={enc_kernel_size} must be at least 2")
        if msk_activate not in MASK_ACTIVATIONS:
            raise ModelError(
                f"msk_activate={msk_activate!r} is not supported (known: sigmoid, relu)"
            )
        self.num_sources, self.enc_num_feats = num_sources, enc_num_feats
        self.enc_kernel_size, self.enc_stride = enc_kernel_size, enc_kernel_size // 2
        self.encoder = nn.Conv1d(
            1,
            enc_num_feats,
            enc_kernel_size,
            stride=self.enc_stride,
            padding=self.enc_stride,
            bias=False,
        )
        self.mask_generator = MaskGenerator(
            enc_num_feats,
            num_sources,
            msk_kernel_size,
            msk_num_feats,
            msk_num_hidden_feats,
            msk_num_layers,
            msk_num_stacks,
            msk_activate,
        )
        self.decoder = nn.ConvTranspose1d(
            enc_num_feats,
            1,
            enc_kernel_size,
            stride=self.enc_stride,
            padding=self.enc_stride,
            bias=False,
        )

    def _alignment_padding(self, length: int) -> int:
        """torchaudio's ``_align_num_frames_with_strides``: zeros to append so that the input's end
        falls on a frame boundary."""
        is_odd = self.enc_kernel_size % 2
        remaining = length - (is_odd + (length - is_odd) // self.enc_stride * self.enc_stride)
        return 0 if remaining == 0 else self.enc_stride - remaining

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, T]`` -> ``{"waveforms": [B, n_src, T]}``."""
        self.check_batch(mixture)
        batch, length = mixture.shape
        padded = F.pad(mixture, (0, self._alignment_padding(length))).unsqueeze(1)
        feats = self.encoder(padded)  # [B, N, M]
        masked = self.mask_generator(feats) * feats.unsqueeze(1)  # [B, S, N, M]
        decoded = self.decoder(masked.reshape(batch * self.num_sources, self.enc_num_feats, -1))
        return {"waveforms": decoded.reshape(batch, self.num_sources, -1)[..., :length]}
