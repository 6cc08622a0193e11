"""Exact ports of Asteroid's ``DCUNet`` and ``DCCRNet`` (asteroid 0.7, asteroid-filterbanks 0.4):
complex-spectrogram speech enhancement, so that their serialized files run in Cocktail without
Asteroid. Module trees and key names are Asteroid's (``masker.encoders.0.conv.re_module.weight``).

Asteroid computes on torch complex tensors; here every complex tensor is a pair ``(re, im)`` of real
tensors (the same arithmetic, and the graph exports to ONNX). The pipeline:

1. STFT: a strided convolution with Asteroid's saved ``STFTFB`` filters (no padding),
   ``[B, T] -> (re, im) [B, F, frames]``, F = n_filters / 2 + 1 (DCCRNet drops the Nyquist bin);
2. a complex U-Net on ``[B, 1, F, frames]``: each encoder a complex Conv2d (``W_re * re - W_im *
   im``, ``W_re * im + W_im * re``), batch norm on the real and on the imaginary part, an
   activation on each (DCUNet leaky ReLU, DCCRNet PReLU); decoders are transposed and concatenate
   the mirrored encoder output; DCCRNet puts a complex LSTM + linear over (channels x freq) at the
   bottom; a complex transposed conv gives the mask, bounded ("tanh": tanh(|M|) e^{i arg M} with
   |M| = sqrt(re^2 + im^2 + 1e-8); "sigmoid": sigmoid on re and im; None: unbounded);
3. the mask times the mixture's STFT, then Asteroid's STFT decoder (transposed convolution) cut to
   the input length.

The output is one enhanced speech; the noise (mixture - speech) is added as a second output, as
Cocktail's enhancement models do (in ``separate_chunk`` after the speech's level is fitted to the
mixture: Asteroid trains them scale-invariantly). DCUNet needs ``frames - 1`` to be a multiple of its encoders' time
strides: Asteroid refuses other lengths unless ``fix_length_mode`` is "pad" or "trim"; Cocktail
pads the frames then (as "pad": any length runs).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.asteroid_blocks import BatchNorm, SingleRNN
from separation_core.models.base import RunOptions
from separation_core.models.blocks import TimeDomainModel, enhancer_chunk
from separation_core.models.registry import register
from separation_core.models.result import ChunkOutput

KIND_COMPLEX_MASK = "complex-mask"  # label for people: complex STFT masks, one speech output
MASK_BOUNDS = ("tanh", "BDT", "sigmoid", "BDSS", "UBD", None)

# Asteroid's named architectures (asteroid.masknn._dcunet_architectures / _dccrn_architectures,
# MIT licence), resolved: encoders (in, out, kernel, stride, padding), decoders (in, out, kernel,
# stride, padding[, output padding]); the last decoder is the output layer (its out: n_src).
_D10 = (
    ((1, 32, (7, 5), (2, 2), (3, 2)), (32, 64, (7, 5), (2, 2), (3, 2)))
    + ((64, 64, (5, 3), (2, 2), (2, 1)),) * 2
    + ((64, 64, (5, 3), (2, 1), (2, 1)),)
)
DCUNET_ARCHITECTURES = {
    "DCUNet-10": (
        _D10,
        ((64, 64, (5, 3), (2, 1), (2, 1)),)
        + ((128, 64, (5, 3), (2, 2), (2, 1)),) * 2
        + ((128, 32, (7, 5), (2, 2), (3, 2)), (64, 1, (7, 5), (2, 2), (3, 2))),
    ),
    "DCUNet-16": (
        ((1, 32, (7, 5), (2, 2), (3, 2)), (32, 32, (7, 5), (2, 1), (3, 2)))
        + ((32, 64, (7, 5), (2, 2), (3, 2)),)
        + ((64, 64, (5, 3), (2, 1), (2, 1)), (64, 64, (5, 3), (2, 2), (2, 1))) * 2
        + ((64, 64, (5, 3), (2, 1), (2, 1)),),
        ((64, 64, (5, 3), (2, 1), (2, 1)),)
        + ((128, 64, (5, 3), (2, 2), (2, 1)), (128, 64, (5, 3), (2, 1), (2, 1))) * 2
        + ((128, 32, (7, 5), (2, 2), (3, 2)), (64, 32, (7, 5), (2, 1), (3, 2)))
        + ((64, 1, (7, 5), (2, 2), (3, 2)),),
    ),
    "DCUNet-20": (
        ((1, 32, (7, 1), (1, 1), (3, 0)), (32, 32, (1, 7), (1, 1), (0, 3)))
        + ((32, 64, (7, 5), (2, 2), (3, 2)), (64, 64, (7, 5), (2, 1), (3, 2)))
        + ((64, 64, (5, 3), (2, 2), (2, 1)), (64, 64, (5, 3), (2, 1), (2, 1))) * 2
        + ((64, 64, (5, 3), (2, 2), (2, 1)), (64, 90, (5, 3), (2, 1), (2, 1))),
        ((90, 64, (5, 3), (2, 1), (2, 1)),)
        + ((128, 64, (5, 3), (2, 2), (2, 1)), (128, 64, (5, 3), (2, 1), (2, 1))) * 2
        + ((128, 64, (5, 3), (2, 2), (2, 1)), (128, 64, (7, 5), (2, 1), (3, 2)))
        + ((128, 32, (7, 5), (2, 2), (3, 2)), (64, 32, (1, 7), (1, 1), (0, 3)))
        + ((64, 1, (7, 1), (1, 1), (3, 0)),),
    ),
    "Large-DCUNet-20": (
        ((1, 45, (7, 1), (1, 1), (3, 0)), (45, 45, (1, 7), (1, 1), (0, 3)))
        + ((45, 90, (7, 5), (2, 2), (3, 2)), (90, 90, (7, 5), (2, 1), (3, 2)))
        + ((90, 90, (5, 3), (2, 2), (2, 1)), (90, 90, (5, 3), (2, 1), (2, 1))) * 2
        + ((90, 90, (5, 3), (2, 2), (2, 1)), (90, 128, (5, 3), (2, 1), (2, 1))),
        ((128, 90, (5, 3), (2, 1), (2, 1), (0, 0)),)
        + ((180, 90, (5, 3), (2, 2), (2, 1), (0, 0)), (180, 90, (5, 3), (2, 1), (2, 1), (0, 0))) * 2
        + ((180, 90, (5, 3), (2, 2), (2, 1), (0, 0)), (180, 90, (7, 5), (2, 1), (3, 2), (0, 0)))
        + ((180, 90, (7, 5), (2, 2), (3, 2), (0, 0)), (135, 90, (1, 7), (1, 1), (0, 3), (0, 0)))
        + ((135, 1, (7, 1), (1, 1), (3, 0), (0, 0)),),
    ),
    "mini": (
        ((1, 4, (7, 5), (2, 2), (3, 2)), (4, 8, (7, 5), (2, 2), (3, 2)))
        + ((8, 16, (5, 3), (2, 2), (2, 1)),),
        ((16, 8, (5, 3), (2, 2), (2, 1)), (16, 4, (7, 5), (2, 2), (3, 2)))
        + ((8, 1, (7, 5), (2, 2), (3, 2)),),
    ),
}
_CL = ((5, 2), (2, 1), (2, 0))
DCCRN_ARCHITECTURES = {
    "DCCRN-CL": (
        tuple(
            (i, o, *_CL)
            for i, o in ((1, 16), (16, 32), (32, 64), (64, 128), (128, 128), (128, 128))
        ),
        tuple(
            (i, o, *_CL, (1, 0))
            for i, o in ((256, 128), (256, 128), (256, 64), (128, 32), (64, 16), (32, 1))
        ),
    ),
    "mini": (
        ((1, 4, *_CL), (4, 8, *_CL)),
        ((16, 4, *_CL, (1, 0)), (8, 1, *_CL, (1, 0))),
    ),
}


# -- complex layers on (re, im) pairs (asteroid.complex_nn) ----------------------------------------


class ComplexMultiplication(nn.Module):
    """Asteroid's ``ComplexMultiplicationWrapper``: ``f(a + ib) = f_re(a) - f_im(b) + i (f_re(b) +
    f_im(a))`` with two real modules."""

    def __init__(self, make) -> None:
        super().__init__()
        self.re_module, self.im_module = make(), make()

    def forward(self, re: torch.Tensor, im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            self.re_module(re) - self.im_module(im),
            self.re_module(im) + self.im_module(re),
        )


class OnReIm(nn.Module):
    """Asteroid's ``OnReIm``: one module on the real part, another on the imaginary part."""

    def __init__(self, make) -> None:
        super().__init__()
        self.re_module, self.im_module = make(), make()

    def forward(self, re: torch.Tensor, im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.re_module(re), self.im_module(im)


class PairIdentity(nn.Module):
    def forward(self, re: torch.Tensor, im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return re, im


class UNetBlock(nn.Module):
    """Asteroid's ``DCUNetComplexEncoderBlock`` (``conv``) / ``DecoderBlock`` (``deconv``): complex
    (transposed) Conv2d without bias, batch norm and the activation on re and im."""

    def __init__(self, args: tuple, activation: str, transposed: bool) -> None:
        super().__init__()
        in_chan, out_chan, kernel, stride, padding, *output_padding = args
        if transposed:
            extra = tuple(output_padding[0]) if output_padding else (0, 0)
            self.deconv = ComplexMultiplication(
                lambda: nn.ConvTranspose2d(
                    in_chan, out_chan, kernel, stride, padding, extra, bias=False
                )
            )
        else:
            self.conv = ComplexMultiplication(
                lambda: nn.Conv2d(in_chan, out_chan, kernel, stride, padding, bias=False)
            )
        self.norm = OnReIm(lambda: BatchNorm(out_chan))
        self.activation = OnReIm(nn.LeakyReLU if activation == "leaky_relu" else nn.PReLU)

    def forward(self, re: torch.Tensor, im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        conv = self.deconv if hasattr(self, "deconv") else self.conv
        return self.activation(*self.norm(*conv(re, im)))


class ComplexRNN(nn.Module):
    """Asteroid's ``DCCRMaskNetRNN``: over frames, a complex LSTM (each layer a complex
    multiplication of two real LSTMs) and a complex linear layer on (channels x freq), same shape
    back: ``[B, C, F, T] -> [B, C, F, T]``."""

    def __init__(self, in_size: int, hid_size: int = 128, n_layers: int = 2) -> None:
        super().__init__()

        def rnn(size: int) -> ComplexMultiplication:
            return ComplexMultiplication(lambda: SingleRNN("LSTM", size, hid_size, 1, 0.0, False))

        self.rnn = nn.Module()
        self.rnn.rnns = nn.ModuleList([rnn(in_size)] + [rnn(hid_size) for _ in range(n_layers - 1)])
        self.linear = ComplexMultiplication(lambda: nn.Linear(hid_size, in_size))

    def forward(self, re: torch.Tensor, im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = re.permute(0, 3, 1, 2).shape  # [B, T, C, F]
        re, im = (x.permute(0, 3, 1, 2).flatten(2) for x in (re, im))  # [B, T, C * F]
        for layer in self.rnn.rnns:
            re, im = layer(re, im)
        re, im = self.linear(re, im)
        return tuple(x.reshape(shape).permute(0, 2, 3, 1) for x in (re, im))


def bound_mask(re: torch.Tensor, im: torch.Tensor, bound: Optional[str]):
    """Asteroid's ``bound_complex_mask`` on ``(re, im)``."""
    if bound in ("BDSS", "sigmoid"):
        return torch.sigmoid(re), torch.sigmoid(im)
    mag = (re * re + im * im + 1e-8).pow(0.5)
    phase = torch.atan2(im, re)
    if bound in ("BDT", "tanh"):
        mag = torch.tanh(mag)
    return mag * torch.cos(phase), mag * torch.sin(phase)


class ComplexUNet(nn.Module):
    """Asteroid's ``BaseDCUMaskNet``: ``(re, im) [B, F, T] -> complex masks [B, n_src, F, T]``."""

    def __init__(
        self,
        encoders: list,
        decoders: list,
        output_args: tuple,
        mask_bound: Optional[str],
        time_multiple: int,
        trim: bool = False,
    ) -> None:
        super().__init__()
        self.encoders, self.decoders = nn.ModuleList(encoders), nn.ModuleList(decoders)
        in_chan, n_src, kernel, stride, padding, *output_padding = output_args
        extra = tuple(output_padding[0]) if output_padding else (0, 0)
        self.output_layer = nn.ModuleList(
            [
                ComplexMultiplication(
                    lambda: nn.ConvTranspose2d(in_chan, n_src, kernel, stride, padding, extra)
                )
            ]
        )
        self.mask_bound, self.time_multiple, self.trim = mask_bound, time_multiple, trim

    def forward(self, re: torch.Tensor, im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = re.shape[-1]
        if self.trim:  # Asteroid's fix_length_mode "trim", else "pad"
            usable = frames - (frames - 1) % self.time_multiple
            x = tuple(t[..., :usable].unsqueeze(1) for t in (re, im))  # [B, 1, F, T']
        else:
            pad = -(frames - 1) % self.time_multiple
            x = tuple(F.pad(t, (0, pad)).unsqueeze(1) for t in (re, im))
        skips = []
        for enc in self.encoders:
            x = enc(*x)
            skips.append(x)
        for skip, dec in zip(reversed(skips[:-1]), self.decoders):
            x = dec(*x)
            x = tuple(torch.cat([a, b], dim=1) for a, b in zip(x, skip))
        re, im = bound_mask(*self.output_layer[0](*x), self.mask_bound)
        return tuple(_fit_last(t, frames, self.time_multiple) for t in (re, im))


def _fit_last(x: torch.Tensor, length: int, most: int) -> torch.Tensor:
    """Asteroid's ``pad_x_to_y``: zeros appended, or the end cut, to ``length`` on the last axis,
    when ``x`` is at most ``most`` short (a fixed pad, then a cut: the ONNX graph keeps any
    length)."""
    return F.pad(x, (0, most))[..., :length]


# -- the STFT filterbank (asteroid_filterbanks.STFTFB) ----------------------------------------------


class STFTFilterbank(nn.Module):
    """``_filters [2 (N/2 + 1), 1, K]``: windowed DFT rows (real then imaginary), Asteroid's
    normalisation; ``torch_window [K]``, the square root of a periodic Hann window."""

    def __init__(self, n_filters: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        window = np.hanning(kernel_size + 1)[:-1] ** 0.5
        basis = np.fft.fft(np.eye(n_filters)) / (0.5 * np.sqrt(kernel_size * n_filters / stride))
        lpad = (n_filters - kernel_size) // 2
        cutoff = n_filters // 2 + 1
        cols = slice(lpad, lpad + kernel_size)
        filters = np.vstack([np.real(basis[:cutoff, cols]), np.imag(basis[:cutoff, cols])])
        filters[0, :] /= np.sqrt(2)
        filters[n_filters // 2, :] /= np.sqrt(2)
        self.register_buffer("_filters", torch.from_numpy(filters * window).unsqueeze(1).float())
        self.register_buffer("torch_window", torch.from_numpy(window).float())


class STFTEncoder(nn.Module):
    def __init__(self, n_filters: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.filterbank = STFTFilterbank(n_filters, kernel_size, stride)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, T] -> (re, im) [B, N/2 + 1, (T - K) // S + 1]``."""
        fb = self.filterbank
        spec = F.conv1d(wav.unsqueeze(1), fb._filters, stride=fb.stride)
        return spec.chunk(2, dim=1)


class STFTDecoder(nn.Module):
    def __init__(self, n_filters: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.filterbank = STFTFilterbank(n_filters, kernel_size, stride)

    def forward(self, re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
        """``(re, im) [B, N/2 + 1, frames] -> [B, (frames - 1) * S + K]``."""
        fb = self.filterbank
        spec = torch.cat([re, im], dim=1)
        return F.conv_transpose1d(spec, fb._filters, stride=fb.stride).squeeze(1)


# -- the models -----------------------------------------------------------------------------------


class _AsteroidComplexEnhancer(TimeDomainModel):
    """Asteroid's ``BaseDCUNet``: STFT, complex mask, inverse STFT; outputs [speech, noise]."""

    kind = KIND_COMPLEX_MASK
    outputs_are_voices = False
    objective = ""
    trainable = False
    drops_nyquist = False

    def _build(self, n_filters: int, kernel_size: int, stride: int, n_src: int, mask_bound) -> None:
        if n_src != 1:
            raise ModelError(
                f"n_src={n_src}: Cocktail imports the one-output (enhancement) {self.name}"
            )
        if n_filters % 2 or n_filters < kernel_size or min(kernel_size, stride) < 1:
            raise ModelError(
                f"the STFT needs an even stft_n_filters >= stft_kernel_size and a positive "
                f"stride (got {n_filters}, {kernel_size}, {stride})"
            )
        if mask_bound not in MASK_BOUNDS:
            raise ModelError(
                f"mask_bound={mask_bound!r} is not supported (known: tanh, sigmoid, None)"
            )
        self.kernel_size, self.stride = kernel_size, stride
        self.encoder = STFTEncoder(n_filters, kernel_size, stride)
        self.decoder = STFTDecoder(n_filters, kernel_size, stride)

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, T]`` -> ``{"waveforms": [B, 2, T]}``: speech, mixture - speech."""
        self.check_batch(mixture)
        length = mixture.shape[-1]
        x = mixture
        if length < self.kernel_size:  # Asteroid cannot transform it at all: pad to one frame
            x = F.pad(x, (0, self.kernel_size - length))
        re, im = self.encoder(x)  # [B, F, frames]
        if self.drops_nyquist:
            re, im = re[:, :-1], im[:, :-1]
        m_re, m_im = self.masker(re, im)  # [B, 1, F, frames]
        s_re, s_im = m_re[:, 0] * re - m_im[:, 0] * im, m_re[:, 0] * im + m_im[:, 0] * re
        if self.drops_nyquist:
            s_re, s_im = F.pad(s_re, (0, 0, 0, 1)), F.pad(s_im, (0, 0, 0, 1))
        speech = _fit_last(self.decoder(s_re, s_im), length, self.stride)  # [B, T]
        return {"waveforms": torch.stack([speech, mixture - speech], dim=1)}

    def separate_chunk(
        self,
        mixture: torch.Tensor,
        *,
        references: Optional[torch.Tensor] = None,
        options: RunOptions = RunOptions(),
    ) -> ChunkOutput:
        """Speech fitted to the mixture and the rest (``blocks.enhancer_chunk``): Asteroid trains
        its enhancers scale-invariantly (the LibriMix recipes' SI-SDR loss)."""
        return enhancer_chunk(self, mixture)


@register("asteroid-dcunet")
class AsteroidDCUNet(_AsteroidComplexEnhancer):
    """Asteroid's ``DCUNet``, same arguments and defaults: architecture ("DCUNet-10", "DCUNet-16",
    "DCUNet-20", "Large-DCUNet-20", "mini"), stft_n_filters, stft_kernel_size, stft_stride,
    sample_rate, and the mask net's n_src (1), fix_length_mode (None, "pad", "trim"; see the module
    docstring) and mask_bound ("tanh")."""

    description = (
        "Asteroid DCUNet (complex U-Net on the STFT, speech enhancement), ported: imported "
        "Asteroid checkpoints run on it; outputs speech and noise."
    )

    def __init__(
        self,
        architecture: str = "DCUNet-10",
        stft_n_filters: int = 1024,
        stft_kernel_size: int = 1024,
        stft_stride: int = 256,
        sample_rate: int = 16000,
        n_src: int = 1,
        fix_length_mode: Optional[str] = None,
        mask_bound: Optional[str] = "tanh",
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=2)
        if architecture not in DCUNET_ARCHITECTURES:
            raise ModelError(
                f"architecture={architecture!r} is not one of DCUNet's "
                f"({', '.join(DCUNET_ARCHITECTURES)})"
            )
        if fix_length_mode not in (None, "pad", "trim"):
            raise ModelError(f"fix_length_mode={fix_length_mode!r} is not None, 'pad' or 'trim'")
        self._build(stft_n_filters, stft_kernel_size, stft_stride, n_src, mask_bound)
        encoders, decoders = DCUNET_ARCHITECTURES[architecture]
        freq, time = (math.prod(s[3][k] for s in encoders) for k in (0, 1))
        if (stft_n_filters // 2) % freq:
            raise ModelError(
                f"{architecture} needs stft_n_filters / 2 to be a multiple of {freq} "
                f"(got {stft_n_filters})"
            )
        self.masker = ComplexUNet(
            [UNetBlock(a, "leaky_relu", transposed=False) for a in encoders],
            [UNetBlock(a, "leaky_relu", transposed=True) for a in decoders[:-1]],
            decoders[-1],
            mask_bound,
            time,
            trim=fix_length_mode == "trim",
        )


@register("asteroid-dccrnet")
class AsteroidDCCRNet(_AsteroidComplexEnhancer):
    """Asteroid's ``DCCRNet``, same arguments and defaults: architecture ("DCCRN-CL", "mini"),
    stft_n_filters (512), stft_kernel_size (400), stft_stride (100), sample_rate, and the mask net's
    n_src (1), n_freqs (stft_n_filters / 2: the Nyquist bin is dropped) and mask_bound ("tanh")."""

    description = (
        "Asteroid DCCRNet (complex convolution-recurrent network on the STFT, speech "
        "enhancement), ported: imported Asteroid checkpoints run on it; outputs speech and noise."
    )
    drops_nyquist = True

    def __init__(
        self,
        architecture: str = "DCCRN-CL",
        stft_n_filters: int = 512,
        stft_kernel_size: int = 400,
        stft_stride: int = 100,
        sample_rate: int = 16000,
        n_src: int = 1,
        n_freqs: Optional[int] = None,
        mask_bound: Optional[str] = "tanh",
    ) -> None:
        n_freqs = stft_n_filters // 2 if n_freqs is None else int(n_freqs)
        super().__init__(sample_rate=sample_rate, n_src=2)
        self._resolved_args(n_freqs=n_freqs)
        if architecture not in DCCRN_ARCHITECTURES:
            raise ModelError(
                f"architecture={architecture!r} is not one of DCCRNet's "
                f"({', '.join(DCCRN_ARCHITECTURES)})"
            )
        self._build(stft_n_filters, stft_kernel_size, stft_stride, n_src, mask_bound)
        encoders, decoders = DCCRN_ARCHITECTURES[architecture]
        freq = math.prod(s[3][0] for s in encoders)
        if n_freqs != stft_n_filters // 2 or n_freqs % freq:
            raise ModelError(
                f"n_freqs={n_freqs} must be stft_n_filters / 2 = {stft_n_filters // 2} and a "
                f"multiple of {freq}"
            )
        self.masker = ComplexUNet(
            [UNetBlock(a, "prelu", transposed=False) for a in encoders]
            + [ComplexRNN(encoders[-1][1] * math.ceil(n_freqs / freq))],
            [PairIdentity()] + [UNetBlock(a, "prelu", transposed=True) for a in decoders[:-1]],
            decoders[-1],
            mask_bound,
            1,
        )
