"""Where two people talk at once: a small trained overlapped-speech detector on the mixture.

``OverlapNet`` reads log-mel frames of the 16 kHz mixture (the speaker encoder's 40 power mel bands,
25 ms frames every 10 ms) and gives, per frame, the probabilities of nobody, one person and two or
more people talking. Two 1-D convolutions (5 frames each) feed a two-layer bidirectional GRU and a
linear layer. Each window of ``WINDOW_FRAMES`` frames is normalised on its own (each band's mean
removed, then divided by the window's standard deviation), so the level of the recording does not
matter; long recordings are read in windows that overlap by ``MARGIN_FRAMES`` on each side, keeping
each window's middle.

The weights (``resources/conversation/overlap-detector-16k.pt``, with its card beside it) were
trained by ``scripts/train_overlap_detector.py`` on simulated conversations of train-split
speakers; the card says on what and how well.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn

from separation_core.cancel import check_current_cancel
from separation_core.conversation.speakers import N_MELS, mel_spectrogram
from separation_core.errors import CheckpointError
from separation_core.io.paths import resources_dir

WEIGHTS_FILE = "conversation/overlap-detector-16k.pt"
WINDOW_FRAMES = 500  # 5 s
MARGIN_FRAMES = 100  # each window's first and last second are its context, not its answer
BATCH_WINDOWS = 16
CLASSES = ("nobody", "one", "two or more")
FORMAT = "cocktail-overlap-detector"


class OverlapNet(nn.Module):
    """``features [B, frames, N_MELS]`` (from ``normalised_windows``) -> logits ``[B, frames, 3]``."""

    def __init__(self, channels: int = 96, hidden: int = 64):
        super().__init__()
        self.config = {"channels": channels, "hidden": hidden}
        self.front = nn.Sequential(
            _Transposed(nn.Conv1d(N_MELS, channels, 5, padding=2)),
            nn.ReLU(),
            _Transposed(nn.Conv1d(channels, channels, 5, padding=2)),
            nn.ReLU(),
        )
        self.gru = nn.GRU(channels, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, len(CLASSES))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(self.front(features))
        return self.head(h)


class _Transposed(nn.Module):
    """A Conv1d over ``[B, frames, channels]``."""

    def __init__(self, conv: nn.Conv1d):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


def log_mel(x16: np.ndarray) -> np.ndarray:
    """16 kHz ``x16 [T]`` -> log power mel frames ``[1 + T // HOP, N_MELS]`` float32 (in place:
    one array of frames on hour-long recordings)."""
    mel = mel_spectrogram(x16)
    mel += 1e-8
    return np.log(mel, out=mel)


def normalised_windows(windows: torch.Tensor) -> torch.Tensor:
    """Log-mel ``windows [B, frames, N_MELS]``, each band's mean over the window removed and the
    window divided by its standard deviation."""
    centred = windows - windows.mean(dim=1, keepdim=True)
    return centred / (centred.flatten(1).std(dim=1)[:, None, None] + 1e-5)


def save_detector(net: OverlapNet, path: Path, info: dict) -> None:
    """The plain-dict file ``load_detector`` reads (loads with ``weights_only=True``)."""
    payload = {
        "format": FORMAT,
        "config": dict(net.config),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "info": info,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_detector(path: Path) -> OverlapNet:
    """The detector saved at ``path``; CheckpointError in one line when it is not one."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file reads the same to the user
        raise CheckpointError(f"{path}: not a readable overlap detector ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an overlap detector file (format {FORMAT!r} expected)")
    net = OverlapNet(**payload["config"])
    net.load_state_dict(payload["state_dict"])
    return net.eval()


@functools.lru_cache(maxsize=1)
def bundled_detector() -> OverlapNet:
    """The detector shipped in resources/ (loaded once)."""
    return load_detector(resources_dir() / WEIGHTS_FILE)


@torch.no_grad()
def overlap_probability(x16: np.ndarray, net: OverlapNet | None = None) -> np.ndarray:
    """16 kHz ``x16 [T]`` -> probability that two or more people talk, per 10 ms frame
    ``[1 + T // HOP]`` float32 (frame ``f`` centred on sample ``f * HOP``)."""
    net = bundled_detector() if net is None else net
    feats = torch.from_numpy(log_mel(x16))
    n = feats.shape[0]
    step = WINDOW_FRAMES - 2 * MARGIN_FRAMES
    starts = list(range(0, n, step))
    out = np.zeros(n, dtype=np.float32)
    for b in range(0, len(starts), BATCH_WINDOWS):
        check_current_cancel()
        group = starts[b : b + BATCH_WINDOWS]
        windows = torch.stack([_window(feats, s - MARGIN_FRAMES) for s in group])
        probs = torch.softmax(net(normalised_windows(windows)), dim=-1)[..., 2].numpy()
        for s, p in zip(group, probs):
            hi = min(n, s + step)
            out[s:hi] = p[MARGIN_FRAMES : MARGIN_FRAMES + hi - s]
    return out


def _window(feats: torch.Tensor, start: int) -> torch.Tensor:
    """``WINDOW_FRAMES`` frames of ``feats [n, N_MELS]`` from ``start`` (may run past either end:
    the edge frames repeat there)."""
    idx = torch.arange(start, start + WINDOW_FRAMES).clamp(0, feats.shape[0] - 1)
    return feats[idx]
