"""Training and validation mixtures from a recording's solo stretches: crops of different people
added at a relative level drawn in +-``LEVEL_DB``, every group of people taking its turn.

Each person's stretches are joined into one pool of their solo audio (short fades at the joins),
so a crop may span a join but never leaves the person's solo speech."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

CROP_SECONDS = (2.0, 4.0)  # each batch's crop length is drawn in this range
LEVEL_DB = 5.0
JOIN_FADE_SECONDS = 0.01
VALID_CROP_SECONDS = 3.0
VALID_MIXTURES = 12


@dataclass(frozen=True)
class Example:
    """One validation mixture, as ``training.validation.validation_metrics`` takes it:
    ``mixture [T]`` = the sum of ``sources [k, T]``, at ``sample_rate``."""

    mixture: np.ndarray
    sources: np.ndarray
    sample_rate: int


def solo_pool(wav: np.ndarray, spans: Sequence[tuple[int, int]], sample_rate: int) -> np.ndarray:
    """The stretches ``spans`` of ``wav [T]`` joined end to end, each faded in and out over
    JOIN_FADE_SECONDS -> ``[sum of lengths]`` float32 (empty without spans)."""
    fade = max(1, int(JOIN_FADE_SECONDS * sample_rate))
    parts = []
    for a, b in spans:
        x = np.array(wav[a:b], dtype=np.float32)
        n = min(fade, len(x) // 2)
        if n:
            ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
            x[:n] *= ramp
            x[-n:] *= ramp[::-1]
        parts.append(x)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def groups(n_people: int, size: int) -> list[tuple[int, ...]]:
    """Every group of ``size`` different people, in a fixed order."""
    return list(itertools.combinations(range(n_people), size))


def _crop(pool: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    if len(pool) <= length:  # a short pool is placed at random in silence
        out = np.zeros(length, dtype=np.float32)
        at = int(rng.integers(0, length - len(pool) + 1))
        out[at : at + len(pool)] = pool
        return out
    start = int(rng.integers(0, len(pool) - length + 1))
    return pool[start : start + length]


def mix_crops(
    pools: Sequence[np.ndarray], group: Sequence[int], length: int, rng: np.random.Generator
) -> np.ndarray:
    """Sources ``[len(group), length]``: a crop of each person's pool, the others brought to the
    first one's power times a gain drawn in +-LEVEL_DB."""
    sources = np.stack([_crop(pools[p], length, rng) for p in group]).astype(np.float32)
    first = float(np.mean(sources[0] ** 2))
    for k in range(1, len(group)):
        power = float(np.mean(sources[k] ** 2))
        gain_db = float(rng.uniform(-LEVEL_DB, LEVEL_DB))
        if power > 0 and first > 0:
            sources[k] *= np.float32(np.sqrt(first / power) * 10 ** (gain_db / 20))
    return sources


def training_batch(
    pools: Sequence[np.ndarray],
    size: int,
    batch_size: int,
    step: int,
    sample_rate: int,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch ``step``: ``(mixture [B, T], sources [B, size, T])``, its crop length drawn in
    CROP_SECONDS, item ``i`` mixing group ``(step * B + i) % groups`` of ``size`` people."""
    everyone = groups(len(pools), size)
    seconds = float(rng.uniform(*CROP_SECONDS))
    length = int(seconds * sample_rate)
    sources = np.stack(
        [
            mix_crops(pools, everyone[(step * batch_size + i) % len(everyone)], length, rng)
            for i in range(batch_size)
        ]
    )
    src = torch.from_numpy(sources)
    return src.sum(1), src


def validation_examples(
    pools: Sequence[np.ndarray],
    size: int,
    sample_rate: int,
    seed: int,
    count: int = VALID_MIXTURES,
    seconds: float = VALID_CROP_SECONDS,
) -> list[Example]:
    """``count`` fixed mixtures of ``seconds`` from the held-out ``pools``, groups in turn."""
    rng = np.random.default_rng([seed, 1])
    everyone = groups(len(pools), size)
    length = int(seconds * sample_rate)
    out = []
    for i in range(count):
        sources = mix_crops(pools, everyone[i % len(everyone)], length, rng)
        out.append(Example(sources.sum(0), sources, int(sample_rate)))
    return out
