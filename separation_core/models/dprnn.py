"""Dual-path RNN (Luo, Chen & Yoshioka, 2020): RNNs within and across chunks of encoder frames."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from separation_core.errors import ModelError
from separation_core.models.blocks import (
    TIME_DOMAIN_MASKS,
    TimeDomainModel,
    WaveDecoder,
    WaveEncoder,
    global_layer_norm,
    make_activation,
)
from separation_core.models.registry import register


def segment(x: torch.Tensor, chunk: int) -> torch.Tensor:
    """``[B, C, T] -> [B, C, K, S]``: chunks of K frames with hop K/2. The input is padded by one hop
    on the left and, on the right, by one hop plus what rounds T up to a multiple of the hop, so
    every frame lies in exactly two chunks."""
    hop = chunk // 2
    xp = F.pad(x, (hop, hop + (-x.shape[-1]) % hop))
    # As xp.unfold(-1, chunk, hop), from hop-long blocks (chunk j = blocks j and j+1), which also
    # exports to ONNX with a dynamic length.
    blocks = xp.reshape(*xp.shape[:-1], -1, hop)  # [B, C, S+1, hop]
    return torch.cat([blocks[..., :-1, :], blocks[..., 1:, :]], dim=-1).transpose(-1, -2)


def overlap_add(chunks: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of ``segment``: ``[B, C, K, S] -> [B, C, length]`` by summing the overlaps."""
    b, c, k, s = chunks.shape
    hop = k // 2
    # With hop = K/2, output block j is the first half of chunk j plus the second half of chunk j-1.
    blocks = F.pad(chunks[:, :, :hop], (0, 1)) + F.pad(
        chunks[:, :, hop:], (1, 0)
    )  # [B, C, hop, S+1]
    out = blocks.transpose(-1, -2).reshape(b, c, (s + 1) * hop)
    return out[..., hop : hop + length]


class DualPathBlock(nn.Module):
    """Intra-chunk BLSTM (along K) then inter-chunk (B)LSTM (along S); each followed by a linear
    projection back to ``features``, gLN, and a residual connection. ``[B, C, K, S] -> same``."""

    def __init__(self, features: int, hidden: int, inter_bidirectional: bool) -> None:
        super().__init__()
        self.intra_rnn = nn.LSTM(features, hidden, bidirectional=True)
        self.intra_fc = nn.Linear(2 * hidden, features)
        self.intra_norm = global_layer_norm(features)
        n_dir = 2 if inter_bidirectional else 1
        self.inter_rnn = nn.LSTM(features, hidden, bidirectional=inter_bidirectional)
        self.inter_fc = nn.Linear(n_dir * hidden, features)
        self.inter_norm = global_layer_norm(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The LSTMs take time-major input [steps, sequences, C]; building it directly saves a copy.
        b, c, k, s = x.shape
        y = x.permute(2, 0, 3, 1).reshape(k, b * s, c)  # one sequence per chunk
        y = self.intra_fc(self.intra_rnn(y)[0])  # [K, B * S, C]
        x = x + self.intra_norm(y.view(k, b, s, c).permute(1, 3, 0, 2))
        y = x.permute(3, 0, 2, 1).reshape(s, b * k, c)  # one sequence per chunk position
        y = self.inter_fc(self.inter_rnn(y)[0])  # [S, B * K, C]
        return x + self.inter_norm(y.view(s, b, k, c).permute(1, 3, 2, 0))


@register("dprnn")
class DPRNN(TimeDomainModel):
    """Dual-path RNN TasNet (Luo et al. 2020). Arguments, with the paper's symbols where it has one:

    n_filters            encoder / decoder basis functions
    filter_length   L    encoder window in samples (stride L/2)
    features             feature size inside the dual-path blocks (1x1 bottleneck of the filters)
    hidden          H    LSTM hidden units per direction
    chunk           K    chunk length in frames (hop K/2)
    n_blocks             number of dual-path blocks
    inter_bidirectional  BLSTM across chunks (offline); LSTM if False (causal across chunks)
    mask_activation      "sigmoid" or "relu"

    Defaults: 256 filters, L=16 (a 0.5 ms stride at 16 kHz), 64 features, H=128, K=100, 6 blocks,
    BLSTMs both ways, sigmoid masks; 2.6 M parameters. Measured on the 2-core development machine
    (10 s at 16 kHz, no_grad): 3.7-3.9 s of CPU time on one thread, i.e. 2.6x faster than real
    time on a single core (wall time 4.2 s even while other jobs loaded the machine); L=32 takes
    1.4 s (7x). The LSTMs dominate (about 190 GFLOP per 10 s at L=16). The paper reached its best
    results with L=2, which is far too slow on a CPU.
    """

    description = (
        "DPRNN: learned filterbank and dual-path (intra/inter-chunk) BLSTMs (time domain)."
    )

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        n_filters: int = 256,
        filter_length: int = 16,
        features: int = 64,
        hidden: int = 128,
        chunk: int = 100,
        n_blocks: int = 6,
        inter_bidirectional: bool = True,
        mask_activation: str = "sigmoid",
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        self._mask_fn = make_activation(mask_activation, allowed=TIME_DOMAIN_MASKS)
        if chunk < 2 or chunk % 2:
            raise ModelError(f"the chunk size K must be even and >= 2, got {chunk}")
        self.chunk = chunk
        self.encoder = WaveEncoder(n_filters, filter_length)
        self.decoder = WaveDecoder(n_filters, filter_length)
        self.input_norm = global_layer_norm(n_filters)
        self.input_conv = nn.Conv1d(n_filters, features, 1)
        self.blocks = nn.Sequential(
            *(DualPathBlock(features, hidden, inter_bidirectional) for _ in range(n_blocks))
        )
        self.output = nn.Sequential(nn.PReLU(), nn.Conv2d(features, n_src * features, 1))
        self.gate_tanh = nn.Conv1d(features, features, 1)
        self.gate_sigmoid = nn.Conv1d(features, features, 1)
        self.mask_conv = nn.Conv1d(features, n_filters, 1, bias=False)

    def masks(self, w: torch.Tensor) -> torch.Tensor:
        """Encoder output ``w [B, N, frames]`` -> masks ``[B, n_src, N, frames]``."""
        b, n, frames = w.shape
        x = self.input_conv(self.input_norm(w))  # [B, D, frames]
        x = self.blocks(segment(x, self.chunk))  # [B, D, K, S]
        x = self.output(x)  # [B, n_src * D, K, S]
        x = x.view(b * self.n_src, -1, *x.shape[-2:])  # [B * n_src, D, K, S]
        x = overlap_add(x, frames)  # [B * n_src, D, frames]
        x = torch.tanh(self.gate_tanh(x)) * torch.sigmoid(self.gate_sigmoid(x))
        m = self._mask_fn(self.mask_conv(x))  # [B * n_src, N, frames]
        return m.view(b, self.n_src, n, frames)
