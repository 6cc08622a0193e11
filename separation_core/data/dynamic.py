"""Torch datasets for training: dynamic mixing on the fly, and fixed mixture sets from disk."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from separation_core.cancel import CancelToken, ProgressFn, check_cancel, report
from separation_core.data.mixing import (
    MixtureItem,
    load_mixture_set,
    noise_files,
    split_speakers_files,
)
from separation_core.data.mixture_recipe import (
    Composition,
    check_mix_options,
    check_speed_range,
    compose,
    draw_crop,
    draw_levels,
    noise_excerpt,
    noise_region,
    place,
    place_at_speed,
    rms,
)
from separation_core.data.rooms import ReverbOptions, check_probability, reverberate
from separation_core.data.speakers import PathLike
from separation_core.data.splits import DEFAULT_FRACTIONS
from separation_core.errors import AudioLoadError, CocktailError


class DynamicMixDataset(Dataset):
    """Fresh random mixtures of the speakers of one split, every epoch (map-style).

    Item ``index`` of epoch ``e`` on ``rank`` is drawn from ``np.random.default_rng([seed, e, g])``
    with the global index ``g = index * world_size + rank``: deterministic, different on every rank,
    and the union over ranks of an epoch does not depend on the world size. Each mixture takes
    ``speakers`` different speakers (uniformly), one of their files (uniformly), a random excerpt of
    ``segment_seconds`` (shorter utterances are zero-padded at a random offset), levels and noise as
    in ``separation_core.data.mixture_recipe``. With ``speed_range = (lo, hi)`` each source is first
    played at a speed factor drawn uniformly from it (tempo and pitch together: new voices from the
    same speakers; the draws of a run without it are unchanged). With ``noise_prob < 1`` only that share
    of the mixtures gets noise; with ``reverb`` (see ``separation_core.data.rooms``) each source is
    convolved with the response of its own position in a drawn room, and its target is that
    reverberant image. All audio is decoded once, at
    ``sample_rate``, and kept in memory. Call ``set_epoch`` before each epoch (DataLoader workers copy
    the dataset when an iteration starts, so do not use ``persistent_workers``).

    ``__getitem__`` -> ``(mixture [T], sources [S, T])`` float32 tensors, ``T = segment`` samples.
    Files that cannot be loaded are skipped and listed in ``skipped`` (one line each).
    """

    def __init__(
        self,
        speech_dirs: PathLike | Iterable[PathLike],
        *,
        split: str = "train",
        speakers: int = 2,
        sample_rate: int = 16000,
        segment_seconds: float = 4.0,
        sir_range: Sequence[float] = (-5.0, 5.0),
        noise_dirs: PathLike | Iterable[PathLike] | None = None,
        snr_range: Optional[Sequence[float]] = None,
        speed_range: Optional[Sequence[float]] = None,
        noise_prob: float = 1.0,
        reverb: Optional[ReverbOptions] = None,
        epoch_size: int = 2000,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        rule: str = "auto",
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        progress: Optional[ProgressFn] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        from separation_core.io.audio_io import load_audio

        self.snr_range = check_mix_options(speakers, "min", sir_range, noise_dirs, snr_range, split)
        self.speed_range = check_speed_range(speed_range)
        self.noise_prob = check_probability("the noise probability", noise_prob)
        self.reverb = reverb or ReverbOptions()
        if not 0 <= rank < world_size:
            raise CocktailError(f"rank {rank} is outside the world of {world_size} process(es)")
        if epoch_size < world_size:
            raise CocktailError(
                f"an epoch of {epoch_size} mixtures cannot be shared by {world_size} ranks"
            )
        if segment_seconds <= 0 or int(seed) < 0:
            raise CocktailError("segment_seconds must be positive and the seed non-negative")
        self.split, self.n_src, self.sample_rate = split, int(speakers), int(sample_rate)
        self.segment = int(round(segment_seconds * sample_rate))
        self.sir_range = (float(sir_range[0]), float(sir_range[1]))
        self.epoch_size, self.seed, self.rank, self.world_size = (
            int(epoch_size),
            int(seed),
            rank,
            world_size,
        )
        self.epoch = 0
        self.skipped: list[str] = []

        files = split_speakers_files(speech_dirs, split, speakers, rule, fractions)
        noises = noise_files(noise_dirs) if noise_dirs else []
        total, done = sum(len(v) for v in files.values()) + len(noises), 0

        def load(path: Path) -> Optional[np.ndarray]:
            nonlocal done
            check_cancel(cancel)
            done += 1
            report(progress, done / total, "loading audio")
            try:
                return load_audio(path, sample_rate=self.sample_rate).samples
            except AudioLoadError as err:
                self.skipped.append(str(err))
                return None

        self._audio: dict[str, list[np.ndarray]] = {}
        for speaker, paths in files.items():
            loaded = [x for x in map(load, paths) if x is not None]
            if loaded:
                self._audio[speaker] = loaded
        self.speakers = sorted(self._audio)
        self._rms = {s: [rms(x) for x in xs] for s, xs in self._audio.items()}
        self._noise = []
        for path in noises:
            x = load(path)
            region = noise_region(len(x), split, fractions) if x is not None else (0, 0)
            if region[1] > region[0]:
                self._noise.append((x, region))
        if self.skipped:
            warnings.warn(
                f"{len(self.skipped)} audio file(s) skipped; first: {self.skipped[0]}", stacklevel=2
            )
        if len(self.speakers) < speakers:
            raise CocktailError(
                f"only {len(self.speakers)} speaker(s) of the {split} split have usable "
                f"audio; {speakers} are needed per mixture"
            )
        if noises and not self._noise:
            raise CocktailError("no usable noise file in the noise folder(s)")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.epoch_size // self.world_size

    def draw(self, index: int) -> tuple[Composition, tuple[str, ...]]:
        """The numpy mixture of item ``index`` of the current epoch and its speakers."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} mixtures")
        rng = np.random.default_rng([self.seed, self.epoch, index * self.world_size + self.rank])
        chosen = [
            self.speakers[j] for j in rng.choice(len(self.speakers), self.n_src, replace=False)
        ]
        picks = [int(rng.integers(len(self._audio[s]))) for s in chosen]
        utterances = [self._audio[s][k] for s, k in zip(chosen, picks)]
        if self.speed_range:
            factors = rng.uniform(*self.speed_range, size=self.n_src)
            placed = np.stack(
                [place_at_speed(rng, u, self.segment, f) for u, f in zip(utterances, factors)]
            )
        else:
            crops = [draw_crop(rng, len(u), self.segment) for u in utterances]
            placed = np.stack(
                [place(u, self.segment, c, o) for u, (c, o) in zip(utterances, crops)]
            )
        levels = draw_levels(rng, self.n_src, self.sir_range)
        excerpt, snr = None, None
        if self._noise and (self.noise_prob >= 1.0 or rng.uniform() < self.noise_prob):
            noise, region = self._noise[int(rng.integers(len(self._noise)))]
            start = int(rng.integers(region[0], region[1]))
            snr = float(rng.uniform(*self.snr_range))
            excerpt = noise_excerpt(noise, region, start, self.segment)
        room, positions = self.reverb.draw(rng, self.n_src)
        if room is not None:
            placed = reverberate(placed, room, positions)
        comp = compose(
            placed, levels, [self._rms[s][k] for s, k in zip(chosen, picks)], excerpt, snr
        )
        return comp, tuple(chosen)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        comp, _ = self.draw(index)
        return torch.from_numpy(comp.mixture), torch.from_numpy(comp.sources)


class MixtureSetDataset(Dataset):
    """A fixed mixture set (``cocktail mix`` output) as ``(mixture [T], sources [S, T])`` tensors;
    lengths vary between items, so batch them one at a time or with a padding collate."""

    def __init__(
        self,
        source: Union[PathLike, Sequence[MixtureItem]],
        *,
        sample_rate: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> None:
        if isinstance(source, (str, os.PathLike)):
            source = load_mixture_set(source, sample_rate=sample_rate, limit=limit)
        self.items = list(source)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        item = self.items[index]
        return torch.from_numpy(item.mixture), torch.from_numpy(item.sources)
