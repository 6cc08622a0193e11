"""The building blocks of Asteroid's ``ConvTasNet`` and ``DPRNNTasNet``, ported exactly (asteroid 0.7,
asteroid-filterbanks 0.4): Asteroid's layer norms, the free filterbank, the TCN and the DPRNN
masker, with Asteroid's module trees and key names. ``asteroid_port`` says what differs from
Cocktail's own blocks; the registered models are there.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.blocks import make_activation

# -- norms (asteroid.masknn.norms) ------------------------------------------------------------------

EPS = 1e-8


def _staged_mean(x: torch.Tensor, dims) -> torch.Tensor:
    for d in sorted(dims, reverse=True):
        x = x.mean(d, keepdim=True)
    return x


class _LayerNorm(nn.Module):
    """Per-channel gain ``gamma`` and bias ``beta`` on axis 1 of ``[batch, channels, *]``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def gain_and_bias(self, normed: torch.Tensor) -> torch.Tensor:
        return (self.gamma * normed.transpose(1, -1) + self.beta).transpose(1, -1)

    @staticmethod
    def z_norm(x: torch.Tensor, dims: list[int]) -> torch.Tensor:
        # Asteroid: x.mean(dims) and torch.var(x, dims, unbiased=False). Taken one axis at a time
        # here (equal in exact arithmetic): in ONNX a single ReduceMean over a whole
        # [channels x frames] slab loses about 1e-4 in onnxruntime.
        mean = _staged_mean(x, dims)
        centred = x - mean
        return centred / torch.sqrt(_staged_mean(centred * centred, dims) + EPS)


class GlobLN(_LayerNorm):
    """gLN: over every axis but the batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain_and_bias(self.z_norm(x, list(range(1, x.dim()))))


class FeatsGlobLN(_LayerNorm):
    """fgLN: over the axes after the channels, per channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain_and_bias(self.z_norm(x, list(range(2, x.dim()))))


class ChanLN(_LayerNorm):
    """cLN: over the channels of each frame."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.mean(x, dim=1, keepdim=True)
        var = torch.var(x, dim=1, keepdim=True, unbiased=False)
        return self.gain_and_bias((x - mean) / (var + EPS).sqrt())


class CumLN(_LayerNorm):
    """cgLN: over the channels and every earlier frame (causal); ``[batch, channels, time]`` only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chan = x.shape[1]
        cum_sum = torch.cumsum(x.sum(1, keepdim=True), dim=-1)
        cum_pow_sum = torch.cumsum(x.pow(2).sum(1, keepdim=True), dim=-1)
        cnt = (torch.arange(1, x.shape[-1] + 1, dtype=x.dtype, device=x.device) * chan).view(
            1, 1, -1
        )
        cum_mean = cum_sum / cnt
        cum_var = cum_pow_sum / cnt - cum_mean.pow(2)
        return self.gain_and_bias((x - cum_mean) / (cum_var + EPS).sqrt())


class BatchNorm(nn.modules.batchnorm._BatchNorm):
    """bN: batch norm over 3-D or 4-D input (running statistics at inference)."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2 or input.dim() > 4:
            raise ValueError(f"expected 4D or 3D input (got {input.dim()}D input)")


NORMS = {
    "gLN": GlobLN,
    "GlobLN": GlobLN,
    "cLN": ChanLN,
    "ChanLN": ChanLN,
    "cgLN": CumLN,
    "CumLN": CumLN,
    "fgLN": FeatsGlobLN,
    "FeatsGlobLN": FeatsGlobLN,
    "bN": BatchNorm,
    "BatchNorm": BatchNorm,
}


def make_norm(name: str, channels: int) -> nn.Module:
    if name not in NORMS:
        raise ModelError(f"norm_type={name!r} is not supported (known: {', '.join(NORMS)})")
    return NORMS[name](channels)


# -- free filterbank encoder / decoder (asteroid_filterbanks) -------------------------------------


class FreeFilterbank(nn.Module):
    """The filters of Asteroid's ``FreeFB``: ``_filters [n_filters, 1, kernel_size]``."""

    def __init__(self, n_filters: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.n_filters, self.kernel_size, self.stride = n_filters, kernel_size, stride
        self._filters = nn.Parameter(torch.empty(n_filters, 1, kernel_size))
        nn.init.xavier_normal_(self._filters)


class FreeEncoder(nn.Module):
    """``[batch, time] -> [batch, n_filters, (time + 2P - K) // S + 1]``: a strided convolution of
    the input zero-padded by ``padding`` P on both sides."""

    def __init__(self, n_filters: int, kernel_size: int, stride: int, padding: int = 0) -> None:
        super().__init__()
        self.filterbank = FreeFilterbank(n_filters, kernel_size, stride)
        self.padding = padding

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        fb = self.filterbank
        return F.conv1d(wav.unsqueeze(1), fb._filters, stride=fb.stride, padding=self.padding)


class FreeDecoder(nn.Module):
    """``[batch, n_filters, frames] -> [batch, (frames - 1) * S + K - 2P + output_padding]``:
    overlap-add of the filters, ``padding`` P cut from both ends."""

    def __init__(
        self,
        n_filters: int,
        kernel_size: int,
        stride: int,
        padding: int = 0,
        output_padding: int = 0,
    ) -> None:
        super().__init__()
        self.filterbank = FreeFilterbank(n_filters, kernel_size, stride)
        self.padding, self.output_padding = padding, output_padding

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        fb = self.filterbank
        return F.conv_transpose1d(
            spec,
            fb._filters,
            stride=fb.stride,
            padding=self.padding,
            output_padding=self.output_padding,
        ).squeeze(1)


# -- Conv-TasNet's temporal convolutional network (asteroid.masknn.convolutional) ----------------


class _Chop1d(nn.Module):
    """Drops the last ``chop_size`` frames (the look-ahead of a causal convolution)."""

    def __init__(self, chop_size: int) -> None:
        super().__init__()
        self.chop_size = chop_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., : x.shape[-1] - self.chop_size]


class Conv1DBlock(nn.Module):
    """1x1 conv -> PReLU -> norm -> depthwise dilated conv (chopped when causal) -> PReLU -> norm,
    then a residual 1x1 conv and, when ``skip_out_chan``, a skip 1x1 conv."""

    def __init__(
        self,
        in_chan: int,
        hid_chan: int,
        skip_out_chan: int,
        kernel_size: int,
        padding: int,
        dilation: int,
        norm_type: str,
        causal: bool,
    ) -> None:
        super().__init__()
        self.skip_out_chan = skip_out_chan
        depth = nn.Conv1d(
            hid_chan, hid_chan, kernel_size, padding=padding, dilation=dilation, groups=hid_chan
        )
        if causal:
            depth = nn.Sequential(depth, _Chop1d(padding))
        self.shared_block = nn.Sequential(
            nn.Conv1d(in_chan, hid_chan, 1),
            nn.PReLU(),
            make_norm(norm_type, hid_chan),
            depth,
            nn.PReLU(),
            make_norm(norm_type, hid_chan),
        )
        self.res_conv = nn.Conv1d(hid_chan, in_chan, 1)
        if skip_out_chan:
            self.skip_conv = nn.Conv1d(hid_chan, skip_out_chan, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        shared = self.shared_block(x)
        skip = self.skip_conv(shared) if self.skip_out_chan else None
        return self.res_conv(shared), skip


class TDConvNet(nn.Module):
    """Bottleneck (norm, 1x1 conv), ``n_repeats`` x ``n_blocks`` Conv1DBlocks with dilations 1, 2,
    ..., 2^(n_blocks-1), then PReLU, 1x1 conv to ``n_src * out_chan`` and the mask activation."""

    def __init__(
        self,
        in_chan: int,
        n_src: int,
        out_chan: int,
        n_blocks: int,
        n_repeats: int,
        bn_chan: int,
        hid_chan: int,
        skip_chan: int,
        conv_kernel_size: int,
        norm_type: str,
        mask_act: str,
        causal: bool,
    ) -> None:
        super().__init__()
        self.n_src, self.out_chan, self.skip_chan = n_src, out_chan, skip_chan
        self.bottleneck = nn.Sequential(
            make_norm(norm_type, in_chan), nn.Conv1d(in_chan, bn_chan, 1)
        )
        self.TCN = nn.ModuleList()
        for _ in range(n_repeats):
            for x in range(n_blocks):
                padding = (
                    (conv_kernel_size - 1) * 2**x if causal else (conv_kernel_size - 1) * 2**x // 2
                )
                self.TCN.append(
                    Conv1DBlock(
                        bn_chan,
                        hid_chan,
                        skip_chan,
                        conv_kernel_size,
                        padding=padding,
                        dilation=2**x,
                        norm_type=norm_type,
                        causal=causal,
                    )
                )
        self.mask_net = nn.Sequential(
            nn.PReLU(), nn.Conv1d(skip_chan or bn_chan, n_src * out_chan, 1)
        )
        self.output_act = make_activation(mask_act, "mask_act")

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """``w [B, N, frames]`` -> masks ``[B, n_src, out_chan, frames]``."""
        batch, _, frames = w.shape
        output = self.bottleneck(w)
        skips = torch.zeros(1, dtype=output.dtype, device=output.device)
        for layer in self.TCN:
            residual, skip = layer(output)
            if skip is not None:
                skips = skips + skip
            output = output + residual
        score = self.mask_net(skips if self.skip_chan else output)
        return self.output_act(score.view(batch, self.n_src, self.out_chan, frames))


# -- DPRNN (asteroid.masknn.recurrent) --------------------------------------------------------------


class SingleRNN(nn.Module):
    """An RNN/LSTM/GRU on ``[batch, seq, feats]`` (batch first)."""

    def __init__(
        self,
        rnn_type: str,
        input_size: int,
        hidden_size: int,
        n_layers: int,
        dropout: float,
        bidirectional: bool,
    ) -> None:
        super().__init__()
        self.rnn = getattr(nn, rnn_type)(
            input_size,
            hidden_size,
            num_layers=n_layers,
            dropout=dropout,
            batch_first=True,
            bidirectional=bool(bidirectional),
        )
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class MulCatRNN(nn.Module):
    """``cat([RNN_1(x) * RNN_2(x), x])`` (Nachmani et al. 2020)."""

    def __init__(
        self,
        rnn_type: str,
        input_size: int,
        hidden_size: int,
        n_layers: int,
        dropout: float,
        bidirectional: bool,
    ) -> None:
        super().__init__()
        kw = dict(
            num_layers=n_layers,
            dropout=dropout,
            batch_first=True,
            bidirectional=bool(bidirectional),
        )
        self.rnn1 = getattr(nn, rnn_type)(input_size, hidden_size, **kw)
        self.rnn2 = getattr(nn, rnn_type)(input_size, hidden_size, **kw)
        self.output_size = hidden_size * (2 if bidirectional else 1) + input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.rnn1(x)[0] * self.rnn2(x)[0], x), 2)


class DPRNNBlock(nn.Module):
    """Intra-chunk (always bidirectional) then inter-chunk RNN, each followed by a linear layer,
    a norm and a residual connection. ``[B, N, K, L] -> same``."""

    def __init__(
        self,
        in_chan: int,
        hid_size: int,
        norm_type: str,
        bidirectional: bool,
        rnn_type: str,
        use_mulcat: bool,
        num_layers: int,
        dropout: float,
    ) -> None:
        super().__init__()
        rnn = MulCatRNN if use_mulcat else SingleRNN
        self.intra_RNN = rnn(rnn_type, in_chan, hid_size, num_layers, dropout, True)
        self.inter_RNN = rnn(rnn_type, in_chan, hid_size, num_layers, dropout, bidirectional)
        self.intra_linear = nn.Linear(self.intra_RNN.output_size, in_chan)
        self.intra_norm = make_norm(norm_type, in_chan)
        self.inter_linear = nn.Linear(self.inter_RNN.output_size, in_chan)
        self.inter_norm = make_norm(norm_type, in_chan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, k, chunks = x.shape
        output = x
        y = x.transpose(1, -1).reshape(b * chunks, k, n)
        y = self.intra_linear(self.intra_RNN(y))
        y = y.reshape(b, chunks, k, n).transpose(1, -1)
        output = output + self.intra_norm(y)
        y = output.transpose(1, 2).transpose(2, -1).reshape(b * k, chunks, n)
        y = self.inter_linear(self.inter_RNN(y))
        y = y.reshape(b, k, chunks, n).transpose(1, -1).transpose(2, -1).contiguous()
        return output + self.inter_norm(y)


def _chunk_index(n_chunks: int, chunk: int, hop: int, device) -> torch.Tensor:
    """``[chunk, n_chunks]``: position of each chunk's frames in the padded sequence."""
    return torch.arange(chunk, device=device).unsqueeze(1) + (
        torch.arange(n_chunks, device=device) * hop
    ).unsqueeze(0)


def segment(x: torch.Tensor, chunk: int, hop: int) -> torch.Tensor:
    """``[B, C, T] -> [B, C, chunk, n_chunks]`` as Asteroid's ``unfold`` with padding ``chunk``."""
    length = x.shape[-1]
    n_chunks = (length + chunk) // hop + 1
    padded = F.pad(x, (chunk, (n_chunks - 1) * hop - length))
    return padded[:, :, _chunk_index(n_chunks, chunk, hop, x.device)]


def overlap_add(chunks: torch.Tensor, length: int, hop: int) -> torch.Tensor:
    """``[B, C, chunk, n_chunks] -> [B, C, length]``: the sum of the chunks, as Asteroid's ``fold``."""
    b, c, chunk, n_chunks = chunks.shape
    index = _chunk_index(n_chunks, chunk, hop, chunks.device).reshape(1, 1, -1).expand(b, c, -1)
    out = chunks.new_zeros(b, c, (n_chunks - 1) * hop + chunk)
    out = out.scatter_add(2, index, chunks.reshape(b, c, -1))
    return out[:, :, chunk : chunk + length]


class DPRNN(nn.Module):
    """Bottleneck, chunking, ``n_repeats`` DPRNN blocks, PReLU + 1x1 conv to ``n_src`` outputs,
    overlap-add, tanh x sigmoid gate, 1x1 conv to ``out_chan`` and the mask activation."""

    def __init__(
        self,
        in_chan: int,
        n_src: int,
        out_chan: int,
        bn_chan: int,
        hid_size: int,
        chunk_size: int,
        hop_size: int,
        n_repeats: int,
        norm_type: str,
        mask_act: str,
        bidirectional: bool,
        rnn_type: str,
        use_mulcat: bool,
        num_layers: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.n_src, self.out_chan, self.bn_chan = n_src, out_chan, bn_chan
        self.chunk_size, self.hop_size = chunk_size, hop_size
        self.bottleneck = nn.Sequential(
            make_norm(norm_type, in_chan), nn.Conv1d(in_chan, bn_chan, 1)
        )
        self.net = nn.Sequential(
            *(
                DPRNNBlock(
                    bn_chan,
                    hid_size,
                    norm_type,
                    bidirectional,
                    rnn_type,
                    use_mulcat,
                    num_layers,
                    dropout,
                )
                for _ in range(n_repeats)
            )
        )
        self.first_out = nn.Sequential(nn.PReLU(), nn.Conv2d(bn_chan, n_src * bn_chan, 1))
        self.net_out = nn.Sequential(nn.Conv1d(bn_chan, bn_chan, 1), nn.Tanh())
        self.net_gate = nn.Sequential(nn.Conv1d(bn_chan, bn_chan, 1), nn.Sigmoid())
        self.mask_net = nn.Conv1d(bn_chan, out_chan, 1, bias=False)
        self.output_act = make_activation(mask_act, "mask_act")

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """``w [B, N, frames]`` -> masks ``[B, n_src, out_chan, frames]``."""
        batch, _, frames = w.shape
        x = segment(self.bottleneck(w), self.chunk_size, self.hop_size)  # [B, bn, K, S]
        x = self.first_out(self.net(x))  # [B, n_src * bn, K, S]
        x = x.reshape(batch * self.n_src, self.bn_chan, *x.shape[-2:])
        x = overlap_add(x, frames, self.hop_size)  # [B * n_src, bn, frames]
        score = self.mask_net(self.net_out(x) * self.net_gate(x))
        return self.output_act(score).view(batch, self.n_src, self.out_chan, frames)
