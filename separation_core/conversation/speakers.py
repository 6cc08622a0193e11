"""Speaker embeddings of stretches of speech: resemblyzer's pretrained speaker encoder (GE2E,
Apache-2.0), rebuilt here so that running it needs neither resemblyzer's code nor its librosa and
webrtcvad; only its weights file ``resemblyzer/pretrained.pt`` (``INSTALL``).

``SpeakerEncoder.judge()`` is the same network fine-tuned here on train-split speakers in rooms
(``resources/conversation/speaker-judge-16k.md``): it decides whether two clusters of a recording
are one person (``people``); resemblyzer's own weights describe the voices everywhere else.

Features as resemblyzer computes them: audio at 16 kHz, brought up to -30 dBFS when quieter, then
a power (not log) mel spectrogram of 40 Slaney bands over 25 ms Hann frames every 10 ms, centred
with zero padding (librosa.feature.melspectrogram's defaults).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from separation_core.cancel import CancelToken, check_cancel
from separation_core.errors import CheckpointError, CocktailError
from separation_core.io.audio_io import resample
from separation_core.io.paths import resources_dir

SAMPLE_RATE = 16000
HOP = 160  # 10 ms frames
N_FFT = 400  # 25 ms
N_MELS = 40
HIDDEN = 256
EMBEDDING_DIM = 256
TARGET_DBFS = -30.0
# embed_segment's partial windows, as resemblyzer's embed_utterance: 1.6 s each, 1.3 per second, the
# last one kept when at least 75 % of it is audio
PARTIAL_FRAMES = 160
PARTIALS_PER_SECOND = 1.3
MIN_COVERAGE = 0.75
BATCH = 64  # windows per forward pass
MEL_BLOCK = 8192  # frames per FFT block, bounding memory on long files
# samples squared in float64 at a time for the RMS; at least numpy's pairwise block (128)
SQUARES_BLOCK = 1 << 16
INSTALL = "pip install --no-deps resemblyzer==0.1.4"
JUDGE_FILE = "conversation/speaker-judge-16k.pt"


class SpeakerEncoder(nn.Module):
    """resemblyzer's network: a 3-layer LSTM over mel frames, its last hidden state projected,
    cut at zero and L2-normalised; ``embed_windows`` and ``embed_segment`` take audio."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, HIDDEN, num_layers=3, batch_first=True)
        self.linear = nn.Linear(HIDDEN, EMBEDDING_DIM)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """Mel frames ``[B, frames, N_MELS]`` -> unit embeddings ``[B, EMBEDDING_DIM]`` (all
        entries >= 0; all zero where the projection cuts every unit)."""
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-12)

    @classmethod
    def from_file(cls, path: Path) -> SpeakerEncoder:
        """The encoder in eval mode on the CPU, weights from a resemblyzer checkpoint (a dict whose
        ``model_state`` holds ``lstm.*`` and ``linear.*``; its other entries are not used)."""
        try:
            checkpoint = torch.load(path, weights_only=True, map_location="cpu")
        except FileNotFoundError:
            raise CheckpointError(f"{path}: the speaker encoder weights are missing") from None
        except (OSError, EOFError, pickle.UnpicklingError, RuntimeError) as err:
            raise CheckpointError(
                f"{path}: not a readable torch checkpoint ({type(err).__name__})"
            ) from None
        state = checkpoint.get("model_state") if isinstance(checkpoint, dict) else None
        encoder = cls()
        for name, value in encoder.state_dict().items():
            found = state.get(name) if isinstance(state, dict) else None
            if not isinstance(found, torch.Tensor) or found.shape != value.shape:
                raise CheckpointError(
                    f"{path}: not resemblyzer's speaker encoder (model_state[{name!r}] is missing "
                    f"or not of shape {tuple(value.shape)})"
                )
        encoder.load_state_dict({name: state[name] for name in encoder.state_dict()})
        return encoder.eval()

    @staticmethod
    @functools.cache
    def shared() -> SpeakerEncoder:
        """The pretrained encoder, loaded once per process (eval mode, CPU)."""
        return SpeakerEncoder.from_file(pretrained_weights_path())

    @staticmethod
    @functools.cache
    def judge() -> SpeakerEncoder:
        """The fine-tuned copy shipped in resources/ that tells whether two stretches are one
        person, loaded once per process (eval mode, CPU)."""
        return SpeakerEncoder.from_file(resources_dir() / JUDGE_FILE)

    def embed_windows(
        self,
        wav: np.ndarray,
        starts: Sequence[int] | np.ndarray,
        length: int,
        sample_rate: int = SAMPLE_RATE,
        cancel: Optional[CancelToken] = None,
    ) -> np.ndarray:
        """Embeddings ``[W, EMBEDDING_DIM]`` (unit norm) of windows of ``wav [T]``, batched:
        window ``w`` starts at sample ``starts[w]`` and lasts ``length`` samples, both at
        ``sample_rate`` and taken to the nearest 10 ms frame; windows may run past the end
        (silence there).

        The whole of ``wav`` is brought up to -30 dBFS first (as resemblyzer's ``preprocess_wav``),
        so that the windows keep their levels relative to one another."""
        starts = np.asarray(starts, dtype=np.float64).reshape(-1)
        if starts.size and starts.min() < 0:
            raise ValueError(
                f"windows must start inside the audio, got a start of {starts.min():g}"
            )
        frames_per_sample = SAMPLE_RATE / sample_rate / HOP
        n_frames = int(round(length * frames_per_sample))
        if n_frames < 1:
            raise ValueError(
                f"windows of {length} samples at {sample_rate} Hz are under one 10 ms frame"
            )
        start_frames = np.round(starts * frames_per_sample).astype(np.int64)
        wav = _at_16k(wav, sample_rate)
        return self._embed_frames(wav, volume_gain(wav), start_frames, n_frames, cancel)

    def embed_segment(self, wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """One embedding ``[EMBEDDING_DIM]`` (unit norm) of a stretch ``wav [T]`` at
        ``sample_rate``, of any length, as resemblyzer's ``embed_utterance``: the stretch brought
        up to -30 dBFS, the mean of its partial-window embeddings (``partial_starts``),
        renormalised."""
        wav = _at_16k(wav, sample_rate)
        if wav.size == 0:
            raise ValueError("cannot embed an empty stretch of audio")
        partials = self._embed_frames(
            wav, volume_gain(wav), partial_starts(len(wav)), PARTIAL_FRAMES, None
        )
        mean = partials.mean(axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)

    def _embed_frames(
        self,
        wav: np.ndarray,
        gain: Optional[float],
        start_frames: np.ndarray,
        n_frames: int,
        cancel: Optional[CancelToken],
    ) -> np.ndarray:
        """16 kHz ``wav [T]`` times ``gain`` (``volume_gain``) -> embeddings ``[W, EMBEDDING_DIM]``
        of the mel frames ``start_frames[w] ... + n_frames``; the audio is zero-extended to cover
        the last window."""
        if len(start_frames) == 0:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        end = int(start_frames.max()) + n_frames
        mel = mel_spectrogram(wav, length=end * HOP, gain=gain)
        out = np.empty((len(start_frames), EMBEDDING_DIM), dtype=np.float32)
        offsets = np.arange(n_frames)
        with torch.inference_mode():
            for a in range(0, len(start_frames), BATCH):
                check_cancel(cancel)
                batch = mel[start_frames[a : a + BATCH, None] + offsets]  # [B, n_frames, N_MELS]
                out[a : a + BATCH] = self(torch.from_numpy(batch)).numpy()
        return out


def pretrained_weights_path() -> Path:
    """``pretrained.pt`` of the installed resemblyzer package, found without importing it (its
    ``__init__`` imports webrtcvad and librosa)."""
    try:
        spec = importlib.util.find_spec("resemblyzer")
    except ValueError:  # imported already, without a spec
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise CocktailError(
            f"the speaker encoder needs resemblyzer's pretrained weights; install them: {INSTALL}"
        )
    for folder in folders:
        path = Path(folder) / "pretrained.pt"
        if path.is_file():
            return path
    raise CocktailError(
        f"{Path(folders[0]) / 'pretrained.pt'}: resemblyzer's pretrained speaker encoder is "
        f"missing; reinstall it: {INSTALL}"
    )


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's ``htk=False``)."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    logarithmic = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, logarithmic, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * (200.0 / 3)
    logarithmic = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, logarithmic, linear)


@functools.cache
def mel_filterbank(
    sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS
) -> np.ndarray:
    """librosa.filters.mel's default bank ``[n_mels, n_fft // 2 + 1]`` (float32, read-only):
    triangles between Slaney-mel-spaced edges from 0 Hz to Nyquist, each scaled by
    2 / (its width in Hz) so that every band has about the same energy."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    ramps = edges[:, None] - freqs[None, :]
    widths = np.diff(edges)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    bank = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    bank = bank.astype(np.float32)
    bank.flags.writeable = False
    return bank


def mel_spectrogram(
    wav: np.ndarray, length: Optional[int] = None, gain: Optional[float] = None
) -> np.ndarray:
    """resemblyzer's ``wav_to_mel_spectrogram``: 16 kHz ``wav [T]`` -> power mel frames
    ``[1 + L // HOP, N_MELS]`` float32, frame ``f`` centred on sample ``f * HOP``; ``wav`` is read
    as zero-extended to ``L = max(T, length)`` samples and times ``gain`` (in float32, as
    ``normalize_volume`` scales) where one is given. Computed block by block from slices of
    ``wav``: no copy of the whole audio is made, in float32 or float64."""
    wav = np.asarray(wav, dtype=np.float32)
    n_frames = 1 + max(len(wav), length or 0) // HOP
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    bank = mel_filterbank().astype(np.float64)
    out = np.empty((n_frames, N_MELS), dtype=np.float32)
    for a in range(0, n_frames, MEL_BLOCK):
        count = min(MEL_BLOCK, n_frames - a)
        piece = _zero_extended(wav, a * HOP - N_FFT // 2, (count - 1) * HOP + N_FFT)
        if gain is not None:
            piece = (piece * gain).astype(np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(piece, N_FFT)[::HOP]
        spectrum = np.fft.rfft(frames.astype(np.float64) * window, axis=-1)
        out[a : a + count] = (spectrum.real**2 + spectrum.imag**2) @ bank.T
    return out


def _zero_extended(wav: np.ndarray, start: int, size: int) -> np.ndarray:
    """Samples ``start .. start + size - 1`` of ``wav [T]``, zeros outside it -> ``[size]``."""
    piece = np.zeros(size, dtype=np.float32)
    lo, hi = max(start, 0), min(start + size, len(wav))
    if hi > lo:
        piece[lo - start : hi - start] = wav[lo:hi]
    return piece


def volume_gain(wav: np.ndarray) -> Optional[float]:
    """The gain that brings ``wav`` up to an RMS of ``TARGET_DBFS`` (full scale = 1), None when it
    is as loud already or silent."""
    wav = np.asarray(wav, dtype=np.float32)
    rms = math.sqrt(_sum_of_squares(wav) / wav.size) if wav.size else 0.0
    target = 10.0 ** (TARGET_DBFS / 20.0)
    if rms == 0.0 or rms >= target:
        return None
    return target / rms


def normalize_volume(wav: np.ndarray) -> np.ndarray:
    """``wav`` scaled up to an RMS of ``TARGET_DBFS`` (full scale = 1) when quieter; louder or
    silent audio is returned as it is (float32)."""
    wav = np.asarray(wav, dtype=np.float32)
    gain = volume_gain(wav)
    return wav if gain is None else (wav * gain).astype(np.float32)


def _sum_of_squares(x: np.ndarray) -> float:
    """``np.sum(np.square(x, dtype=np.float64))`` of a 1-D ``x`` without its float64 copy of
    ``x``: halves split as numpy's pairwise summation splits them, down to pieces of
    SQUARES_BLOCK summed by numpy itself (so the same to the last bit with numpy's present
    order, and within rounding whatever it becomes)."""
    n = len(x)
    if n <= SQUARES_BLOCK:
        return float(np.add.reduce(np.square(x, dtype=np.float64)))
    half = n // 2
    half -= half % 8  # numpy's pairwise sum keeps the halves to multiples of its 8-way unrolling
    return _sum_of_squares(x[:half]) + _sum_of_squares(x[half:])


def _at_16k(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise ValueError(f"speaker embeddings need mono audio [T], got shape {wav.shape}")
    return resample(wav, sample_rate, SAMPLE_RATE) if sample_rate != SAMPLE_RATE else wav


def partial_starts(n_samples: int) -> np.ndarray:
    """First mel frames ``[P]`` of resemblyzer's partial windows (``PARTIAL_FRAMES`` long) over
    ``n_samples`` of 16 kHz audio: at least one; the last dropped when under ``MIN_COVERAGE`` of it
    is audio and others remain."""
    n_frames = math.ceil((n_samples + 1) / HOP)
    step = int(np.round(SAMPLE_RATE / PARTIALS_PER_SECOND / HOP))
    starts = np.arange(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step)
    coverage = (n_samples - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(starts) > 1:
        starts = starts[:-1]
    return starts
