"""Will a run on the CPU fit in memory? Checked before it starts, so that a chunk too long for the
machine is refused with a chunk length that fits, instead of the system killing the program.

The peak of a run is the run estimate's (``run_estimate``: the bench's peak for the model's own
chunk length, scaled to the input's length, less what the program holds already; without one, the
audio the engine holds and the layer outputs of one chunk) plus what a longer chunk adds: the
model's layer outputs grow with the chunk, and the peak grows by ``ACTIVATION_FACTOR`` times the
largest of them per extra second (measured on a one-second probe). Peak resident memory for 20 s
and 80 s chunks grew by 1.8 (convtasnet), 2.0-2.5 (chimera-tcn), 2.3 (dc-tcn), 2.7 (sudormrf) and
3.9 (dprnn) times the largest layer output.
"""

from __future__ import annotations

import ctypes
import functools
import math
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from separation_core.engine.run_estimate import audio_mb_per_minute, human_mb

ACTIVATION_FACTOR = 4.0  # the largest measured growth (dprnn's 3.9), so that the check errs safe
PROBE_SECONDS = 1.0


def largest_activation_mb_per_second(model) -> float:
    """The largest tensor a layer of ``model`` outputs on a ``PROBE_SECONDS`` chunk, in MB per
    second of chunk (0 for a model without learned layers: it holds little beyond the audio)."""
    import torch  # not at import: the window and the assembly use this module without torch

    if not isinstance(model, torch.nn.Module) or next(model.parameters(), None) is None:
        return 0.0
    largest = [0]

    def hook(_module, _inputs, output) -> None:
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if torch.is_tensor(t):
                largest[0] = max(largest[0], t.numel() * t.element_size())

    handles = []
    for module in model.modules():
        try:
            handles.append(module.register_forward_hook(hook))
        except RuntimeError:  # a scripted module takes no hooks
            pass
    try:
        probe = torch.zeros(int(PROBE_SECONDS * model.sample_rate))
        probe[:: max(1, model.sample_rate // 200)] = (
            1.0  # clicks: a silent probe may take shortcuts
        )
        with torch.inference_mode():
            model.to("cpu").separate_chunk(probe)
    finally:
        for h in handles:
            h.remove()
    return largest[0] / 2**20 / PROBE_SECONDS


def available_memory_mb() -> Optional[float]:
    """Memory the program may still take (MB): the system's ``MemAvailable``, lowered to the
    room left under a cgroup limit; elsewhere the free physical pages; None when the system says
    nothing (Windows)."""
    figures = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            figures += [
                int(line.split()[1]) / 1024 for line in f if line.startswith("MemAvailable:")
            ]
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            figures.append((int(limit) - used) / 2**20)
    except (OSError, ValueError):
        pass
    if not figures:
        try:
            figures.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20)
        except (AttributeError, ValueError, OSError):
            pass
    return min(figures) if figures else None


@functools.cache
def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, Windows, musl): nothing to hand back
        return None


def return_freed_memory() -> None:
    """Hand the memory the C allocator holds freed back to the system (glibc's ``malloc_trim``;
    elsewhere nothing). Separating many stretches of different lengths in a row otherwise leaves
    their freed buffers resident: 1.8 GB against 0.6 GB on 20 minutes of conversation."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def sparse_zeros(shape: tuple, dtype=np.float32) -> np.ndarray:
    """A zero array of ``shape`` whose memory becomes resident only where it is written, page by
    small page (reading the rest costs nothing): a private anonymous mapping kept from
    transparent huge pages. ``np.zeros`` asks for huge pages (2 MB) on large arrays, so writing a
    few stretches of an hour-long array made nearly all of it resident (0.46 GB for two outputs of
    an hour at 16 kHz, of which a third is written)."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if size == 0:
        return np.zeros(shape, dtype=dtype)
    if hasattr(mmap, "MAP_PRIVATE"):  # private: a shared mapping's pages are resident once read
        buffer = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    else:  # Windows: pages are committed as they are touched
        buffer = mmap.mmap(-1, size)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):  # Linux; elsewhere pages are small already
        buffer.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


def resident_mb() -> float:
    """What this program holds now (MB; 0 where the system does not say)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))
    except (OSError, ValueError, StopIteration):
        return 0.0


def run_peak_mb(
    base_mb: float, per_second_mb: float, chunk_seconds: float, model_chunk_seconds: float
) -> float:
    """The peak of a run: ``base_mb`` (its peak in chunks of ``model_chunk_seconds``) plus
    ``ACTIVATION_FACTOR * per_second_mb`` for every second the chunk is longer."""
    return base_mb + ACTIVATION_FACTOR * per_second_mb * max(
        0.0, chunk_seconds - model_chunk_seconds
    )


def longest_chunk_that_fits(
    base_mb: float, per_second_mb: float, available_mb: float, model_chunk_seconds: float
) -> Optional[float]:
    """The longest chunk (whole seconds) whose ``run_peak_mb`` stays within ``available_mb``; None
    when even the model's own chunks do not."""
    if base_mb > available_mb:
        return None
    if per_second_mb <= 0:
        return math.inf
    room = (available_mb - base_mb) / (ACTIVATION_FACTOR * per_second_mb)
    return float(math.floor(model_chunk_seconds + room))


@dataclass(frozen=True)
class MemoryProblem:
    """A run that will not fit: ``text`` says so in one line; ``chunk_seconds`` is the longest
    chunk that fits (None: even the model's own chunks do not, and the run may fail)."""

    text: str
    chunk_seconds: Optional[float]


def memory_problem(
    entry, model, seconds: float, chunk_seconds: Optional[float], bench: dict
) -> Optional[MemoryProblem]:
    """Checks a CPU run of ``model`` (its catalog ``entry``) on ``seconds`` of input in chunks of
    ``chunk_seconds`` (None: the model's own; 0 or inf: the whole input) against the memory
    available; None when it fits or the system does not say what is available."""
    from separation_core.engine.inference import model_chunk_seconds
    from separation_core.engine.run_estimate import estimate_run

    available = available_memory_mb()
    if available is None:
        return None
    own = model_chunk_seconds(model)
    asked = own if chunk_seconds is None else chunk_seconds
    chunk = seconds if not asked or math.isinf(asked) else min(seconds, asked)
    estimate = estimate_run(entry, seconds, bench, device="cpu")
    measured = estimate.peak_mb is not None
    per_second = largest_activation_mb_per_second(model) if chunk > own or not measured else 0.0
    if measured:
        base = estimate.peak_mb - resident_mb()  # the bench's peak counts the program itself
    else:
        audio = audio_mb_per_minute(model.sample_rate, entry.n_src) * seconds / 60.0
        base = audio + ACTIVATION_FACTOR * per_second * min(chunk, own)
    peak = run_peak_mb(base, per_second, chunk, own)
    if peak <= available:
        return None
    how = f"the whole {seconds:.0f} s as one chunk" if chunk >= seconds else f"{chunk:g} s chunks"
    text = f"this run needs about {human_mb(peak)} more memory ({how})"
    text += f" but {human_mb(available)} is free"
    fits = longest_chunk_that_fits(base, per_second, available, own)
    if fits is None:
        return MemoryProblem(f"{text}: it may fail", None)
    return MemoryProblem(f"{text}: give --chunk-seconds {fits:g} or less", fits)
