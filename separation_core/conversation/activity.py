"""Speech activity: silero-vad's speech probability every 32 ms, and the regions of speech it gives.

silero-vad (MIT, ``INSTALL``) ships its models in the package (``silero_vad/data``); nothing is
downloaded. The model here is its sequence export (``MODEL_FILE``): the streaming network with its
LSTM state carried from frame to frame inside one onnxruntime call per block of frames. The input
is first brought to a fixed loudness (``loudness_gain``); on that audio it gives the same
probabilities as the package's streaming ONNX model called window by window
(``load_silero_vad(onnx=True)``), 2-2.5x faster than that model run window by window with
onnxruntime and 4-7x faster than the package's own loop (an hour of speech in 8-15 s on one core).
The network hears speech only after about a second of it from its initial state, so over the
first ``COLD_START_SECONDS`` the probability is also taken from the first ``BACKWARD_SECONDS``
read backwards, and the larger of the two kept: a recording that starts mid-sentence keeps its
first words. Read forwards, its state also misses a loud word now and then that the recording
read backwards hears (``backward_probability``); ``add_missed`` adds such speech.

The regions follow silero's ``get_speech_timestamps``: speech starts on a frame at or above the
threshold and ends where the probability fell below ``threshold - 0.15`` and stayed below the
threshold for ``min_silence``; shorter speech is dropped, the rest padded. The defaults are lower
and longer than silero's: the conversation engine would rather keep a little silence than lose
quiet word endings and reverberant tails (``scripts/vad_eval.py`` measures both).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Optional

import numpy as np

from separation_core.cancel import ProgressFn, check_current_cancel, report
from separation_core.conversation.turns import runs_of, turns_from_activity
from separation_core.errors import CheckpointError, CocktailError
from separation_core.io.audio_io import resample

SAMPLE_RATE = 16000
WINDOW = 512  # samples per probability (32 ms)
CONTEXT = 64  # samples of the previous window the model sees with each window
BLOCK_FRAMES = 512  # windows per onnxruntime call (16 s of audio)
MODEL_FILE = "silero_vad_16k_sequence.onnx"
INSTALL = "pip install 'silero-vad>=6.2,<7'"
# The model's state can fall into a no-speech attractor for minutes on quiet recordings; at a fixed
# loudness it does so far less often, and the activity no longer depends on the recording's gain.
LOUD_PERCENTILE = 95  # of the frames' RMS: the loud speech of a conversation
LOUD_DBFS = -8.0
# From its initial state the network needs up to a second of speech before it says so (on a
# development conversation that starts mid-word it gave 0.17 at most over the first 0.6 s, 3.6% of
# that person's speech); the first seconds read backwards give the start a warm state.
COLD_START_SECONDS = 1.0
BACKWARD_SECONDS = 3.0

OFFSET_GAP = 0.15  # speech ends below threshold - OFFSET_GAP (silero's neg_threshold)
# Defaults from scripts/vad_eval.py (conversations of test-split speakers, clean and in measured
# rooms, with noise): 3.5-7 % of speech missed and 4-6 % false alarm, where silero's defaults (0.5,
# 0.1 s, 0.25 s, 0.03 s) miss 13-20 %. At 0.15 the offset threshold is at its floor (0.01), speech
# hardly ends and the false alarm doubles.
THRESHOLD = 0.2
MIN_SILENCE = 0.3  # seconds
MIN_SPEECH = 0.25  # seconds
PAD = 0.3  # seconds


def model_path() -> Path:
    """The sequence model file of the installed silero-vad, found without importing the package
    (its ``__init__`` sets torch's thread count to 1 for the whole process)."""
    try:
        spec = importlib.util.find_spec("silero_vad")
    except ValueError:  # imported already, without a spec
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise CocktailError(f"speech activity needs the silero-vad package; install it: {INSTALL}")
    for folder in folders:
        path = Path(folder) / "data" / MODEL_FILE
        if path.is_file():
            return path
    raise CocktailError(
        f"{Path(folders[0]) / 'data' / MODEL_FILE}: silero-vad's model is missing; "
        f"reinstall it: {INSTALL}"
    )


@functools.cache
def _session():
    """The onnxruntime session of ``model_path()``, one per process (1 thread: the network is
    small and sequential, a second thread only slows it down)."""
    import onnxruntime as ort

    path = model_path()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the export leaves unused initializers that ort warns about
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own untyped errors on a bad file
        why = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a usable silero-vad model ({why})") from None


def loudness_gain(x: np.ndarray) -> float:
    """The gain that brings the loud frames of ``x [time]`` (the ``LOUD_PERCENTILE`` of the RMS of
    its 32 ms frames) to ``LOUD_DBFS``; 1 for silence."""
    n = max(len(x) // WINDOW, 1)
    frames = x[: n * WINDOW].reshape(n, -1)
    rms = np.sqrt(np.einsum("ij,ij->i", frames, frames) / max(frames.shape[1], 1))
    loud = float(np.percentile(rms, LOUD_PERCENTILE))
    return 10 ** (LOUD_DBFS / 20) / loud if loud > 0 else 1.0


def _windows(x: np.ndarray, first: int, count: int, gain: float) -> np.ndarray:
    """Windows ``first .. first + count - 1`` of ``x [time]`` times ``gain``, each after the
    ``CONTEXT`` samples before it (zeros before the start and after the end)
    -> ``[count, CONTEXT + WINDOW]``."""
    start = first * WINDOW - CONTEXT
    piece = np.zeros(CONTEXT + count * WINDOW, dtype=np.float32)
    src = x[max(start, 0) : (first + count) * WINDOW]
    offset = max(-start, 0)
    piece[offset : offset + len(src)] = src
    piece *= np.float32(gain)
    view = np.lib.stride_tricks.sliding_window_view(piece, CONTEXT + WINDOW)[::WINDOW]
    return np.ascontiguousarray(view)


def speech_probability(
    wav: np.ndarray, sample_rate: int, progress: Optional[ProgressFn] = None
) -> tuple[np.ndarray, float]:
    """silero-vad's speech probability of ``wav [time]`` -> ``(probs [frames] float32, frame
    seconds)``: frame k covers ``[k, k + 1) * 0.032`` s of the input (16 kHz, other rates
    resampled; the last frame zero-padded), the input first brought to a fixed loudness
    (``loudness_gain``). The file is read in order, the model's state carried across frames;
    over the first COLD_START_SECONDS, the larger of that and the probability of the first
    BACKWARD_SECONDS read backwards. Cancellable between blocks of ``BLOCK_FRAMES`` frames
    (``cancel_scope``)."""
    x = _mono_16k(wav, sample_rate)
    gain = loudness_gain(x)
    probs = _forward_probability(x, gain, progress)
    # whole windows, so that the frames read backwards fall on those read forwards
    head = min(len(x), int(BACKWARD_SECONDS * SAMPLE_RATE)) // WINDOW * WINDOW
    cold = min(int(round(COLD_START_SECONDS * SAMPLE_RATE / WINDOW)), head // WINDOW)
    if cold:
        backward = _forward_probability(np.ascontiguousarray(x[:head][::-1]), gain)[::-1]
        probs[:cold] = np.maximum(probs[:cold], backward[:cold])
    report(progress, 1.0, "voice activity")
    return probs, WINDOW / SAMPLE_RATE


def backward_probability(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """silero-vad's speech probability of ``wav [time]`` read backwards, from its end, on the
    frames of ``speech_probability`` -> ``[frames]`` float32 (the same loudness; the last frame
    zero-padded before the reversal, so that each frame covers the same samples both ways)."""
    x = _mono_16k(wav, sample_rate)
    padded = np.zeros(-(-len(x) // WINDOW) * WINDOW, dtype=np.float32)
    padded[: len(x)] = x
    return _forward_probability(padded[::-1].copy(), loudness_gain(x))[::-1].copy()


def add_missed(mask: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``mask [frames]`` (bool speech regions) with each region of ``other [frames]`` that
    touches none of its regions added: speech one read missed whole, the edges of the speech it
    found left as they were."""
    found = np.asarray(mask, dtype=bool)
    out = found.copy()
    for a, b in runs_of(np.asarray(other, dtype=bool)):
        if not found[max(a - 1, 0) : b + 1].any():
            out[a:b] = True
    return out


def _mono_16k(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """``wav [time]`` as float32 at 16 kHz; CocktailError for more than one channel."""
    x = np.asarray(wav, dtype=np.float32)
    if x.ndim != 1:
        raise CocktailError(f"speech activity needs one channel [time], got shape {x.shape}")
    return resample(x, sample_rate, SAMPLE_RATE) if sample_rate != SAMPLE_RATE else x


def _forward_probability(
    x: np.ndarray, gain: float, progress: Optional[ProgressFn] = None
) -> np.ndarray:
    """The network's probability of each ``WINDOW`` of ``x [time]`` (16 kHz) times ``gain``,
    read in order from its initial state -> ``[ceil(time / WINDOW)]`` float32."""
    frames = -(-len(x) // WINDOW)
    session = _session()
    hidden = np.zeros((1, 1, 128), dtype=np.float32)
    cell = np.zeros((1, 1, 128), dtype=np.float32)
    probs = np.empty(frames, dtype=np.float32)
    for first in range(0, frames, BLOCK_FRAMES):
        check_current_cancel()
        report(progress, first / frames, "voice activity")
        count = min(BLOCK_FRAMES, frames - first)
        out, hidden, cell = session.run(
            ["speech_probs", "hn", "cn"],
            {"input": _windows(x, first, count, gain), "h": hidden, "c": cell},
        )
        probs[first : first + count] = out
    return probs


def _check_settings(threshold: float, min_silence: float, min_speech: float, pad: float) -> None:
    if not 0.0 < threshold <= 1.0:
        raise CocktailError(f"the speech threshold must be in (0, 1], got {threshold}")
    for name, value in (("min_silence", min_silence), ("min_speech", min_speech), ("pad", pad)):
        if not value >= 0.0:
            raise CocktailError(f"{name} must be >= 0 seconds, got {value}")


def speech_regions(
    probs: np.ndarray,
    frame_seconds: float,
    threshold: float = THRESHOLD,
    min_silence: float = MIN_SILENCE,
    min_speech: float = MIN_SPEECH,
    pad: float = PAD,
) -> np.ndarray:
    """Which frames of ``probs [frames]`` are speech -> bool ``[frames]``.

    Hysteresis as silero's ``get_speech_timestamps`` (without its cut of long speech): speech
    starts on a frame >= ``threshold``; once a frame falls below ``threshold - 0.15`` it ends
    there if no frame reaches ``threshold`` again within ``min_silence`` seconds. Speech of
    ``min_speech`` seconds or less is dropped, unless the recording's start or end cuts it; the
    rest is widened by ``pad`` seconds each side
    (rounded to frames), so regions closer than twice ``pad`` join."""
    _check_settings(threshold, min_silence, min_speech, pad)
    probs = np.asarray(probs, dtype=np.float32)
    offset = max(threshold - OFFSET_GAP, 0.01)
    quiet_frames = min_silence / frame_seconds
    speech_frames = min_speech / frame_seconds
    segments = []
    start = quiet = None  # the current speech's first frame; the first frame of its silence
    for i, p in enumerate(probs.tolist()):
        if p >= threshold:
            quiet = None
            if start is None:
                start = i
        elif start is not None and p < offset:
            if quiet is None:
                quiet = i
            if i - quiet >= quiet_frames:
                if quiet - start > speech_frames or start == 0:
                    segments.append((start, quiet))
                start = quiet = None
    if start is not None:  # however short: the recording's end cut it, not the speaker
        segments.append((start, len(probs)))
    widen = int(round(pad / frame_seconds))
    mask = np.zeros(len(probs), dtype=bool)
    for a, b in segments:
        mask[max(a - widen, 0) : b + widen] = True
    return mask


def speech_intervals(
    mask: np.ndarray, frame_seconds: float, duration: Optional[float] = None
) -> list[tuple[float, float]]:
    """The speech of a frame mask as ``(start, end)`` seconds in time order, the last end cut at
    ``duration`` (the length of the audio, which the last frame may pass)."""
    turns = turns_from_activity(np.asarray(mask, dtype=bool)[None], 1.0 / frame_seconds)
    out = [(t.start, t.end if duration is None else min(t.end, duration)) for t in turns]
    return [(a, b) for a, b in out if b > a]
