"""Long input through the chunked engine with the bundled default model: on a recording of more
than five minutes with the same two speakers throughout, the outputs never swap speakers.

One global output order over the whole file must score within 1 dB of the best order chosen
window by window (8 s windows), which is what a swap-free stitch gives."""

from __future__ import annotations

import numpy as np

from helpers import LIBRISPEECH_DIR, needs_data

SAMPLE_RATE = 16000
MINUTES = 5.5


def talker(files, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One speaker talking for ``seconds``: their utterances in random order and random crops, with
    pauses of 0.2-3 s between them (so the other speaker is sometimes alone)."""
    from separation_core.io.audio_io import load_audio

    clips = [load_audio(f, sample_rate=SAMPLE_RATE).samples for f in files]
    n, parts, total = int(seconds * SAMPLE_RATE), [], 0
    while total < n:
        clip = clips[int(rng.integers(len(clips)))]
        start = int(rng.integers(0, max(1, len(clip) // 3)))
        piece = clip[start:] * rng.uniform(0.5, 1.0)
        pause = np.zeros(int(rng.uniform(0.2, 3.0) * SAMPLE_RATE), dtype=np.float32)
        parts += [piece.astype(np.float32), pause]
        total += len(piece) + len(pause)
    out = np.concatenate(parts)[:n]
    return out / np.sqrt(np.mean(out**2))


@needs_data
def test_default_model_keeps_speakers_in_order_over_five_minutes():
    from separation_core.checkpoints.catalog import load_model
    from separation_core.data.splits import select_split
    from separation_core.engine.inference import separate
    from separation_core.evaluation.metrics import permutation_consistency, si_sdr

    speakers = select_split(LIBRISPEECH_DIR, "test")
    first, second = sorted(speakers)[:2]
    rng = np.random.default_rng(7)
    refs = 0.05 * np.stack(
        [talker(speakers[first], MINUTES * 60, rng), talker(speakers[second], MINUTES * 60, rng)]
    ).astype(np.float32)
    mixture = refs.sum(axis=0)

    result = separate(load_model(None), mixture, SAMPLE_RATE)
    assert result.waveforms.shape == refs.shape

    c = permutation_consistency(result.waveforms, refs, SAMPLE_RATE, window_seconds=8.0)
    input_si_sdr = float(np.mean(si_sdr(np.stack([mixture, mixture]), refs)))
    print(
        f"global {c.global_si_sdr:.2f} dB, per-window best {c.chunk_best_si_sdr:.2f} dB, "
        f"fixed order {c.chunk_fixed_si_sdr:.2f} dB, {c.swapped_windows}/{c.windows} windows "
        f"prefer another order; mixture {input_si_sdr:.2f} dB"
    )
    assert c.windows >= 20
    assert c.chunk_best_si_sdr - c.global_si_sdr <= 1.0
    assert c.chunk_best_si_sdr - c.chunk_fixed_si_sdr <= 1.0
    assert c.global_si_sdr - input_si_sdr > 3.0, (
        "the default model does not separate these speakers"
    )
