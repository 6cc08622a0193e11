"""GTCRN, a 48 K-parameter speech enhancer (Rong et al., ICASSP 2024), ported from the authors'
code (github.com/Xiaobin-Rong/gtcrn, MIT) so that their checkpoints run without einops.

The network estimates a complex ratio mask M on the STFT of 16 kHz audio (n_fft 512, hop 256,
window sqrt(Hann(512)), ``center=True``); speech = istft(M X), noise = mixture - speech. Inside:
magnitude, real and imaginary parts of X are banded onto 129 ERB bands (65 linear + 64 ERB),
a conv encoder (two strided convolutions, three grouped temporal convolutions with temporal
recurrent attention), two grouped dual-path GRNNs over 33 bands, and a mirrored decoder whose
2-channel tanh output, spread back to 257 bins, is M. Everything is causal in time.

Module names are the authors' (``encoder.en_convs.2.tra.att_gru...``), so their ``state_dict``
loads as it is. The STFT is written as convolutions with DFT kernels (the same numbers as
``torch.stft`` / ``torch.istft``) so that the whole waveform-to-waveform graph exports to ONNX.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.base import CONTRACT_TIME, RunOptions, SeparationModel
from separation_core.models.registry import register
from separation_core.models.result import MASK_ESTIMATED, ChunkOutput
from separation_core.models.transforms import StftParams

KIND_ENHANCEMENT = "enhancement"
SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_BINS = N_FFT // 2 + 1  # 257
LOW_BINS = 65  # bins kept as they are below the ERB bands
ERB_BANDS = 64
# The network is trained on audio at speech levels; the engine hands models unit-variance chunks,
# which are brought to this RMS (-25 dBFS, the DNS Challenge synthesis level) and back.
INPUT_RMS = 10.0 ** (-25.0 / 20.0)


# -- the spectral front end ----------------------------------------------------------------------


def _hz_to_erb(hz: np.ndarray) -> np.ndarray:
    return 21.4 * np.log10(0.00437 * hz + 1.0)


def _erb_to_hz(erb: np.ndarray) -> np.ndarray:
    return (10.0 ** (erb / 21.4) - 1.0) / 0.00437


def erb_filters(low_bins: int = LOW_BINS, bands: int = ERB_BANDS) -> torch.Tensor:
    """Triangular ERB filterbank ``[bands, N_BINS - low_bins]`` over the bins above ``low_bins``:
    ``bands`` centres evenly spaced on the ERB scale from ``low_bins``' frequency to 8 kHz, each
    triangle rising from the previous centre and falling to the next (the first and last are
    half triangles whose sides meet the neighbours' to sum to one)."""
    centres_erb = np.linspace(
        _hz_to_erb(low_bins / N_FFT * SAMPLE_RATE), _hz_to_erb(SAMPLE_RATE / 2), bands
    )
    bins = np.round(_erb_to_hz(centres_erb) / SAMPLE_RATE * N_FFT).astype(np.int32)
    filt = np.zeros([bands, N_BINS], dtype=np.float32)
    tiny = 1e-12

    def rising(a: int, b: int) -> np.ndarray:
        return (np.arange(a, b) - a + tiny) / (b - a + tiny)

    def falling(a: int, b: int) -> np.ndarray:
        return (b - np.arange(a, b) + tiny) / (b - a + tiny)

    filt[0, bins[0] : bins[1]] = falling(bins[0], bins[1])
    for i in range(bands - 2):
        filt[i + 1, bins[i] : bins[i + 1]] = rising(bins[i], bins[i + 1])
        filt[i + 1, bins[i + 1] : bins[i + 2]] = falling(bins[i + 1], bins[i + 2])
    filt[-1, bins[-2] : bins[-1] + 1] = 1.0 - filt[-2, bins[-2] : bins[-1] + 1]
    return torch.from_numpy(np.abs(filt[:, low_bins:]))


class ErbBands(nn.Module):
    """Bins -> bands (``bm``: 257 -> 129) and back (``bs``: 129 -> 257) on the last axis."""

    def __init__(self, low_bins: int = LOW_BINS, bands: int = ERB_BANDS) -> None:
        super().__init__()
        self.low_bins = low_bins
        filters = erb_filters(low_bins, bands)
        self.erb_fc = nn.Linear(N_BINS - low_bins, bands, bias=False)
        self.ierb_fc = nn.Linear(bands, N_BINS - low_bins, bias=False)
        self.erb_fc.weight = nn.Parameter(filters, requires_grad=False)
        self.ierb_fc.weight = nn.Parameter(filters.T.contiguous(), requires_grad=False)

    def bm(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., 257] -> [..., 129]``."""
        return torch.cat([x[..., : self.low_bins], self.erb_fc(x[..., self.low_bins :])], dim=-1)

    def bs(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., 129] -> [..., 257]``."""
        return torch.cat([x[..., : self.low_bins], self.ierb_fc(x[..., self.low_bins :])], dim=-1)


def subband_stack(x: torch.Tensor) -> torch.Tensor:
    """Subband feature extraction: each band with its two neighbours (zero beyond the edges),
    ``[B, C, T, F] -> [B, 3C, T, F]``, channel ``3c + k`` holding band ``f + k - 1`` of ``c``."""
    b, c, t, f = x.shape
    padded = F.pad(x, (1, 1))
    return torch.stack([padded[..., k : k + f] for k in range(3)], dim=2).reshape(b, 3 * c, t, f)


# -- encoder / decoder blocks --------------------------------------------------------------------


class ConvBlock(nn.Module):
    """(Transposed) 2-D convolution, batch norm, PReLU (tanh for the last block)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
        groups: int = 1,
        transposed: bool = False,
        last: bool = False,
    ) -> None:
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = conv(in_channels, out_channels, kernel, stride, padding, groups=groups)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.Tanh() if last else nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class TemporalAttention(nn.Module):
    """Temporal recurrent attention: a GRU over each channel's band-mean power gives a sigmoid
    gain per channel and frame. ``[B, C, T, F] -> [B, C, T, F]``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.att_gru = nn.GRU(channels, channels * 2, 1, batch_first=True)
        self.att_fc = nn.Linear(channels * 2, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        power = x.pow(2).mean(dim=-1).transpose(1, 2)  # [B, T, C]
        gain = torch.sigmoid(self.att_fc(self.att_gru(power)[0])).transpose(1, 2)  # [B, C, T]
        return x * gain.unsqueeze(-1)


class GroupedTemporalConv(nn.Module):
    """Half the channels go through subband stacking, a pointwise / causal dilated depthwise /
    pointwise convolution and temporal attention; the other half pass; the two halves are
    interleaved (channel shuffle). ``[B, C, T, F] -> [B, C, T, F]``."""

    def __init__(
        self,
        channels: int,
        hidden: int,
        kernel: tuple[int, int],
        padding: tuple[int, int],
        dilation: tuple[int, int],
        transposed: bool = False,
    ) -> None:
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        half = channels // 2
        self.causal_pad = (kernel[0] - 1) * dilation[0]  # frames of the past, on the left
        self.point_conv1 = conv(half * 3, hidden, 1)
        self.point_bn1 = nn.BatchNorm2d(hidden)
        self.point_act = nn.PReLU()
        self.depth_conv = conv(
            hidden, hidden, kernel, stride=1, padding=padding, dilation=dilation, groups=hidden
        )
        self.depth_bn = nn.BatchNorm2d(hidden)
        self.depth_act = nn.PReLU()
        self.point_conv2 = conv(hidden, half, 1)
        self.point_bn2 = nn.BatchNorm2d(half)
        self.tra = TemporalAttention(half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = torch.chunk(x, 2, dim=1)
        h = self.point_act(self.point_bn1(self.point_conv1(subband_stack(x1))))
        h = F.pad(h, (0, 0, self.causal_pad, 0))
        h = self.depth_act(self.depth_bn(self.depth_conv(h)))
        h = self.tra(self.point_bn2(self.point_conv2(h)))
        b, c, t, f = h.shape
        return torch.stack([h, x2], dim=2).reshape(b, 2 * c, t, f)


class GroupedGRU(nn.Module):
    """Two GRUs, each on half of the features: ``[N, L, input] -> [N, L, hidden]``."""

    def __init__(self, input_size: int, hidden_size: int, bidirectional: bool) -> None:
        super().__init__()
        self.rnn1 = nn.GRU(input_size // 2, hidden_size // 2, 1, batch_first=True,
                           bidirectional=bidirectional)  # fmt: skip
        self.rnn2 = nn.GRU(input_size // 2, hidden_size // 2, 1, batch_first=True,
                           bidirectional=bidirectional)  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = torch.chunk(x, 2, dim=-1)
        return torch.cat([self.rnn1(x1)[0], self.rnn2(x2)[0]], dim=-1)


class DualPathGRNN(nn.Module):
    """Grouped dual-path RNN: a bidirectional grouped GRU across bands within each frame, then a
    causal one along frames within each band, each followed by a linear layer, a layer norm over
    [bands, channels] and a residual sum. ``[B, C, T, F] -> [B, C, T, F]``."""

    def __init__(self, channels: int, bands: int) -> None:
        super().__init__()
        self.intra_rnn = GroupedGRU(channels, channels // 2, bidirectional=True)
        self.intra_fc = nn.Linear(channels, channels)
        self.intra_ln = nn.LayerNorm((bands, channels), eps=1e-8)
        self.inter_rnn = GroupedGRU(channels, channels, bidirectional=False)
        self.inter_fc = nn.Linear(channels, channels)
        self.inter_ln = nn.LayerNorm((bands, channels), eps=1e-8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # [B, T, F, C]
        b, t, f, c = x.shape
        intra = self.intra_fc(self.intra_rnn(x.reshape(b * t, f, c)))
        x = x + self.intra_ln(intra.reshape(b, t, f, c))
        across = x.transpose(1, 2).reshape(b * f, t, c)  # [B*F, T, C]
        inter = self.inter_fc(self.inter_rnn(across)).reshape(b, f, t, c).transpose(1, 2)
        x = x + self.inter_ln(inter)
        return x.permute(0, 3, 1, 2)


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.en_convs = nn.ModuleList(
            [
                ConvBlock(9, 16, (1, 5), stride=(1, 2), padding=(0, 2)),
                ConvBlock(16, 16, (1, 5), stride=(1, 2), padding=(0, 2), groups=2),
                GroupedTemporalConv(16, 16, (3, 3), padding=(0, 1), dilation=(1, 1)),
                GroupedTemporalConv(16, 16, (3, 3), padding=(0, 1), dilation=(2, 1)),
                GroupedTemporalConv(16, 16, (3, 3), padding=(0, 1), dilation=(5, 1)),
            ]
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``[B, 9, T, 129] -> [B, 16, T, 33]`` and each block's output (the skips)."""
        skips = []
        for block in self.en_convs:
            x = block(x)
            skips.append(x)
        return x, skips


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        deconv = dict(transposed=True)
        self.de_convs = nn.ModuleList(
            [
                GroupedTemporalConv(16, 16, (3, 3), padding=(10, 1), dilation=(5, 1), **deconv),
                GroupedTemporalConv(16, 16, (3, 3), padding=(4, 1), dilation=(2, 1), **deconv),
                GroupedTemporalConv(16, 16, (3, 3), padding=(2, 1), dilation=(1, 1), **deconv),
                ConvBlock(16, 16, (1, 5), stride=(1, 2), padding=(0, 2), groups=2, **deconv),
                ConvBlock(16, 2, (1, 5), stride=(1, 2), padding=(0, 2), last=True, **deconv),
            ]
        )

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """``[B, 16, T, 33]`` and the encoder's skips -> ``[B, 2, T, 129]``."""
        for block, skip in zip(self.de_convs, reversed(skips)):
            x = block(x + skip)
        return x


# -- the STFT as convolutions --------------------------------------------------------------------


def _dft_kernels() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Analysis kernels ``[2 * 257, 1, 512]`` (windowed cos, -sin), synthesis kernels of the
    inverse real DFT ``[2 * 257, 1, 512]`` (windowed), and the squared window ``[512]``."""
    n = torch.arange(N_FFT, dtype=torch.float64)
    k = torch.arange(N_BINS, dtype=torch.float64)
    window = torch.hann_window(N_FFT, dtype=torch.float64).sqrt()
    phase = 2.0 * torch.pi * k[:, None] * n[None, :] / N_FFT  # [257, 512]
    analysis = torch.cat([torch.cos(phase), -torch.sin(phase)]) * window
    # irfft: x[n] = (1/N) sum_k w_k (Re X_k cos - Im X_k sin), w_k = 1 at DC / Nyquist, else 2;
    # the imaginary parts at DC and Nyquist are ignored.
    weight = torch.full((N_BINS, 1), 2.0, dtype=torch.float64)
    weight[0] = weight[-1] = 1.0
    synthesis = torch.cat([torch.cos(phase) * weight, -torch.sin(phase) * weight]) / N_FFT
    synthesis = synthesis * window
    return (
        analysis.unsqueeze(1).float(),
        synthesis.unsqueeze(1).float(),
        window.square().float(),
    )


# -- the model -----------------------------------------------------------------------------------


@register("gtcrn")
class GTCRN(SeparationModel):
    """GTCRN speech enhancement at 16 kHz: outputs [speech, noise], noise = mixture - speech; masks
    [|M|, |1 - M|] of its complex ratio mask M on its own STFT grid (512 / 256).

    Only the authors' configuration exists (their checkpoints); ``sample_rate`` must be 16000 and
    ``n_src`` 2. Inputs are brought to ``INPUT_RMS`` before the network and outputs scaled back.
    """

    kind = KIND_ENHANCEMENT
    outputs_are_voices = False
    trainable = False  # trained by its authors; Cocktail's trainer mixes speakers, not noise
    mask_kind = MASK_ESTIMATED
    onnx_contract = CONTRACT_TIME
    # Long chunks: its recurrent state runs through a whole chunk, so cuts between chunks are rare.
    default_chunk_seconds = 60.0
    description = (
        "GTCRN speech enhancement (Rong et al. 2024, 48 K parameters, 16 kHz): a complex ratio "
        "mask from grouped temporal convolutions and dual-path GRNNs; outputs speech and noise."
    )

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_src: int = 2) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        if self.sample_rate != SAMPLE_RATE:
            raise ModelError(
                f"gtcrn runs at {SAMPLE_RATE} Hz only (the engine resamples), not {sample_rate}"
            )
        if self.n_src != 2:
            raise ModelError(f"gtcrn separates speech from noise: n_src must be 2, got {n_src}")
        self.erb = ErbBands()
        self.encoder = Encoder()
        self.dpgrnn1 = DualPathGRNN(16, 33)
        self.dpgrnn2 = DualPathGRNN(16, 33)
        self.decoder = Decoder()
        analysis, synthesis, window_sq = _dft_kernels()
        self.register_buffer("_analysis", analysis, persistent=False)
        self.register_buffer("_synthesis", synthesis, persistent=False)
        self.register_buffer("_window_sq", window_sq.view(1, 1, -1), persistent=False)

    @property
    def stft_params(self) -> StftParams:
        return StftParams(n_fft=N_FFT, hop=HOP, win_length=N_FFT, sample_rate=SAMPLE_RATE)

    # -- spectra ---------------------------------------------------------------------------------

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, T]`` -> STFT ``[B, 2, frames, 257]`` (real, imaginary), frames = T // 256 + 1,
        as ``torch.stft(center=True, pad_mode="reflect")`` with window sqrt(Hann(512))."""
        padded = F.pad(x.unsqueeze(1), (N_FFT // 2, N_FFT // 2), mode="reflect")
        spec = F.conv1d(padded, self._analysis, stride=HOP)  # [B, 2 * 257, frames]
        return spec.reshape(x.shape[0], 2, N_BINS, -1).transpose(2, 3)

    def synthesise(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """STFT ``[B, 2, frames, 257]`` -> ``[B, length]``, as ``torch.istft(center=True)``:
        windowed inverse DFTs overlap-added and divided by the summed squared window."""
        b, _, frames, _ = spec.shape
        flat = spec.transpose(2, 3).reshape(b, 2 * N_BINS, frames)
        y = F.conv_transpose1d(flat, self._synthesis, stride=HOP)  # [B, 1, (frames-1)*hop + N_FFT]
        ones = torch.ones(1, 1, frames, dtype=spec.dtype, device=spec.device)
        envelope = F.conv_transpose1d(ones, self._window_sq, stride=HOP)
        start = N_FFT // 2
        return (y / envelope.clamp_min(1e-11))[:, 0, start : start + length]

    def estimate_mask(self, spec: torch.Tensor) -> torch.Tensor:
        """The network: STFT ``[B, 2, T, 257]`` -> complex ratio mask ``[B, 2, T, 257]``."""
        real, imag = spec[:, 0], spec[:, 1]
        mag = torch.sqrt(real**2 + imag**2 + 1e-12)
        feat = subband_stack(self.erb.bm(torch.stack([mag, real, imag], dim=1)))  # [B, 9, T, 129]
        feat, skips = self.encoder(feat)
        feat = self.dpgrnn2(self.dpgrnn1(feat))
        return self.erb.bs(self.decoder(feat, skips))

    def enhance_spectrum(self, spec: torch.Tensor) -> torch.Tensor:
        """The authors' ``GTCRN.forward``: noisy STFT ``[B, 257, T, 2]`` -> enhanced, same layout."""
        x = spec.permute(0, 3, 2, 1)  # [B, 2, T, 257]
        return _apply_mask(self.estimate_mask(x), x).permute(0, 3, 2, 1)

    # -- waveforms -------------------------------------------------------------------------------

    def _speech_and_mask(self, mixture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``mixture [B, T]`` -> speech ``[B, T]`` and the mask ``[B, 2, frames, 257]``, at the
        input's level (the network runs at ``INPUT_RMS``)."""
        length = mixture.shape[-1]
        if length <= N_FFT // 2:  # the reflect padding of the first frame needs more samples
            mixture = F.pad(mixture, (0, N_FFT // 2 + 1 - length))
        rms = mixture.square().mean(dim=-1, keepdim=True).sqrt().clamp_min(1e-8)
        x = mixture * (INPUT_RMS / rms)
        spec = self.analyse(x)
        mask = self.estimate_mask(spec)
        speech = self.synthesise(_apply_mask(mask, spec), length) * (rms / INPUT_RMS)
        return speech, mask

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, T]`` -> ``{"waveforms": [B, 2, T]}`` (speech, mixture - speech)."""
        self.check_batch(mixture)
        speech, _ = self._speech_and_mask(mixture)
        return {"waveforms": torch.stack([speech, mixture - speech], dim=1)}

    def separate_chunk(
        self,
        mixture: torch.Tensor,
        *,
        references: Optional[torch.Tensor] = None,
        options: RunOptions = RunOptions(),
    ) -> ChunkOutput:
        x = self.mono_input(mixture).unsqueeze(0)
        with torch.no_grad():
            speech, mask = self._speech_and_mask(x)
            mask = mask[0, :, : self.stft_params.n_frames(x.shape[-1])]  # [2, frames, 257]
            gain = torch.sqrt(mask[0] ** 2 + mask[1] ** 2)
            rest = torch.sqrt((1.0 - mask[0]) ** 2 + mask[1] ** 2)
            waves = torch.cat([speech, x - speech])  # [2, T]
        return ChunkOutput(waveforms=waves, masks=torch.stack([gain, rest]).transpose(1, 2))


def _apply_mask(mask: torch.Tensor, spec: torch.Tensor) -> torch.Tensor:
    """Complex product of ``mask`` and ``spec``, both ``[B, 2 (re, im), T, F]``."""
    real = spec[:, 0] * mask[:, 0] - spec[:, 1] * mask[:, 1]
    imag = spec[:, 1] * mask[:, 0] + spec[:, 0] * mask[:, 1]
    return torch.stack([real, imag], dim=1)
