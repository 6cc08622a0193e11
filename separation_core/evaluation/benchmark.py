"""Benchmarks of models: real-time factor, peak memory on a long input, quality on a test set.

A benchmark, not a test: numbers depend on the machine. ``cocktail bench`` prints them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from separation_core.engine.inference import EngineOptions, separate
from separation_core.models.base import RunOptions


def quality_metrics() -> tuple[str, ...]:
    """The registered metrics ``quality`` reports: the default ones and the headline ones."""
    from separation_core.evaluation.scoring import metric_specs

    return tuple(m.name for m in metric_specs() if m.default or m.headline)


def speech_like(seconds: float, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Two interleaved harmonic 'talkers' with syllable-rate envelopes: a stand-in input for timing."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    out = np.zeros_like(t)
    for f0, rate in ((110.0, 3.1), (190.0, 4.3)):
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.4 * t))) / sample_rate
        voice = sum(np.sin(k * phase + rng.uniform(0, 6.3)) / k for k in range(1, 12))
        out += voice * np.clip(np.sin(2 * np.pi * rate * t + rng.uniform(0, 6.3)), 0, None)
    out += 0.01 * rng.standard_normal(len(t))
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


def real_time_factor(model, seconds: float, device: str = "cpu", repeats: int = 2) -> dict:
    """Audio seconds processed per wall-clock second (higher is faster) through the engine."""
    x = speech_like(seconds, model.sample_rate)
    refs = np.stack([x, x]) if model.needs_references else None
    opts = EngineOptions(device=device, keep_masks=False, max_embedding_points=0)
    separate(
        model,
        x[: model.sample_rate],
        model.sample_rate,
        opts,
        references=None if refs is None else refs[:, : model.sample_rate],
    )  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        separate(model, x, model.sample_rate, opts, references=refs)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return {"device": device, "seconds": seconds, "wall": best, "speed_x_realtime": seconds / best}


def long_input_peak_memory(model_spec: str, minutes: float) -> dict:
    """Peak resident memory (MB) of ``cocktail separate`` on a synthetic input of ``minutes``, run in
    a child process so the figure is the whole program's."""
    with tempfile.TemporaryDirectory() as tmp:
        import soundfile as sf

        wav = Path(tmp) / "long.wav"
        with sf.SoundFile(wav, "w", 16000, 1, "PCM_16") as f:
            for i in range(int(np.ceil(minutes))):
                f.write(speech_like(min(60.0, minutes * 60 - i * 60), 16000, seed=i))
        argv = [
            "separate",
            str(wav),
            "--model",
            model_spec,
            "--out",
            str(Path(tmp) / "out"),
            "--quiet",
            "--device",
            "cpu",
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _PEAK_WRAPPER, *argv], capture_output=True, text=True
        )
        wall = time.perf_counter() - t0
        peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_KB ")]
        if proc.returncode != 0 or not peak:
            return {"minutes": minutes, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
        return {
            "minutes": minutes,
            "peak_mb": int(peak[-1].split()[1]) / 1024,
            "wall": wall,
            "speed_x_realtime": minutes * 60 / wall,
        }


# Runs the CLI and reports the process's own peak resident set (Linux: kB).
# The peak is this process's own: VmHWM (reset by exec). ru_maxrss is not: Linux keeps it across
# exec, so a child started from a large process (a bench holding its test sets) reports the
# parent's size; it is the fallback where /proc is missing.
_PEAK_WRAPPER = (
    "import resource, sys\n"
    "from separation_core.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "try:\n"
    "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
    "    peak = int(hwm[0].split()[1])\n"
    "except (OSError, IndexError, ValueError):\n"
    "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "print('PEAK_KB', peak, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def quality(model, items, run: RunOptions = RunOptions(), device: str = "cpu") -> dict:
    """Mean of each of ``quality_metrics()`` (SI-SDR, SI-SDRi, SDR, SDRi, PESQ, STOI, ...) over
    the sources of mixture-set items (PIT per mixture)."""
    from separation_core.evaluation.scoring import evaluate_separation

    names = quality_metrics()
    rows = []
    for item in items:
        res = separate(
            model,
            item.mixture,
            item.sample_rate,
            EngineOptions(device=device, keep_masks=False, max_embedding_points=0, run=run),
            references=item.sources,
        )
        ev = evaluate_separation(
            res.waveforms, item.sources, item.mixture, item.sample_rate, metrics=names
        )
        rows += ev.per_source
    return {k: float(np.nanmean([r[k] for r in rows])) for k in names} | {"mixtures": len(items)}


def conversation_quality(model, items, options=None) -> dict:
    """Conversation mode (``separate_conversation``) on recordings with their true turns (a
    ``cocktail mix --conversation`` set): whole-file SI-SDRi per person, the share of recordings
    with the right number of stems, the DER (0.25 s collar) and the pipeline's speed."""
    from separation_core.conversation.pipeline import ConversationOptions, separate_conversation
    from separation_core.evaluation.conversation_scores import (
        score_conversation,
        summarize_conversations,
    )
    from separation_core.io.rttm import Turn

    options = options or ConversationOptions()
    scores, wall, audio = [], 0.0, 0.0
    for item in items:
        t0 = time.perf_counter()
        result = separate_conversation(model, item.mixture, item.sample_rate, options)
        wall += time.perf_counter() - t0
        audio += len(item.mixture) / item.sample_rate
        truth = [Turn(int(t["speaker"]), t["start"], t["end"]) for t in item.info.get("turns", [])]
        scores.append(
            score_conversation(
                result.waveforms,
                item.sources,
                item.mixture,
                item.sample_rate,
                truth or None,
                result.turns if truth else None,
            )
        )
    summary = summarize_conversations(scores)
    return {
        "recordings": summary.recordings,
        "people": summary.people,
        "si_sdri": summary.si_sdri,
        "right_count": summary.right_count_share,
        "der": summary.der,
        "speed_x_realtime": audio / wall,
    }


def gpu_available() -> bool:
    return torch.cuda.is_available()


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, default=float)


def cpu_threads() -> int:
    return torch.get_num_threads() or os.cpu_count() or 1


__all__ = [
    "real_time_factor",
    "long_input_peak_memory",
    "quality",
    "quality_metrics",
    "conversation_quality",
    "speech_like",
    "gpu_available",
    "to_json",
    "cpu_threads",
]
