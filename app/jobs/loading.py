"""Reading the mixture and its reference sources (each reference set with the speaker order of
every result against it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LoadMixtureJob:
    path: Path

    def run(self, ctx) -> Any:
        from separation_core.io.audio_io import load_audio

        ctx.progress(0.0, f"reading {self.path.name}")
        audio = load_audio(self.path)
        ctx.progress(1.0, "loaded")
        return audio


@dataclass(frozen=True)
class LoadedReferences:
    references: np.ndarray  # [n_ref, T] at the mixture's rate and length
    orders: dict  # result key -> its order against them (see app.session.align_sources)


@dataclass(frozen=True)
class LoadReferencesJob:
    """Read the references; solve the speaker order of each of ``results`` against them."""

    paths: tuple
    sample_rate: int
    length: int
    results: tuple = ()  # ((key, waveforms [n_src, T]), ...)

    def run(self, ctx) -> LoadedReferences:
        from app.session import align_sources
        from separation_core.io.audio_io import load_references

        ctx.progress(0.0, "reading references")
        refs = load_references(
            [Path(p) for p in self.paths], sample_rate=self.sample_rate, length=self.length
        )
        orders = {}
        for key, waves in self.results:
            ctx.cancel.raise_if_cancelled()
            orders[key] = tuple(align_sources(waves, refs))
        return LoadedReferences(refs, orders)
