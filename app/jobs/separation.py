"""Running models on the mixture: the run options, the job that runs several models in turn, and
what it reports per model."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from separation_core.errors import Cancelled

MAX_EMBEDDING_POINTS = 60000  # enough for the scatter and for a dense selection mask
# The engine reports a chunk once it is done: "separating: chunk 4/5" while the fifth one runs.
ENGINE_CHUNK = re.compile(r"separating: chunk (\d+)/(\d+)")


class ChunkStages:
    """The engine's stages as the status bar reads them: "separating: 4/5 chunks done" (what the
    engine means), and the count kept beside the stages after the chunks ("ordering speakers ·
    5/5 chunks done"), which come too soon after the last chunk for its own report to be seen."""

    def __init__(self) -> None:
        self.done = ""

    def __call__(self, fraction: float, stage: str) -> str:
        found = ENGINE_CHUNK.fullmatch(stage)
        if found:
            self.done = f"{found[1]}/{found[2]} chunks done"
            return f"separating: {self.done}"
        if fraction == 0.0:  # the start, or a retry after running out of memory: chunks anew
            self.done = ""
        return f"{stage} · {self.done}" if self.done and stage != "done" else stage


def compact_for_display(result):
    """The result as the GUI keeps it: waveforms stay float32 (heard, scored, exported); masks and
    embeddings, only drawn and read on hover, become float16 (3 significant digits, as shown);
    bin indices int32 and labels int16. Halves what a result holds beyond its waveforms."""
    from dataclasses import replace

    def cast(x, dtype):
        return None if x is None else np.asarray(x).astype(dtype, copy=False)

    return replace(
        result,
        masks=cast(result.masks, np.float16),
        embeddings=cast(result.embeddings, np.float16),
        embedding_bins=cast(result.embedding_bins, np.int32),
        embedding_labels=cast(result.embedding_labels, np.int16),
    )


def leave_core_for_gui() -> None:
    """Let torch use every core but one, so the GUI thread always has one to draw with."""
    import os

    import torch

    wanted = max(1, (os.cpu_count() or 2) - 1)
    if torch.get_num_threads() > wanted:
        torch.set_num_threads(wanted)


@dataclass(frozen=True)
class RunSettings:
    """What the model panel's run options mean (None: the model's default)."""

    num_speakers: Optional[int] = None
    clustering: str = "kmeans"
    binary_masks: bool = False
    chunk_seconds: Optional[float] = None
    device: str = "auto"
    # "model": the model's own outputs; "conversation": one stem per person (the model only where
    # people overlap); "auto": conversation for inputs of CONVERSATION_MIN_SECONDS or more with a
    # separator of voices, as ``cocktail separate --mode`` does
    mode: str = "auto"
    speakers: str = "auto"  # conversation mode: how many people, "auto", "N" or "MIN-MAX"
    denoise: bool = False  # a first stage: the bundled enhancer, as `cocktail separate --denoise`

    def conversation_for(self, entry, seconds: float) -> bool:
        """Whether a run of ``entry`` on ``seconds`` of audio is a conversation (one stem per
        person): as ``cocktail separate --mode`` decides."""
        from separation_core.commands.separate import CONVERSATION_MIN_SECONDS

        fits = (
            not entry.needs_references
            and entry.n_src >= 2
            and entry.outputs_are_voices
            and self.num_speakers is None
        )
        if self.mode == "conversation" and not fits:
            from separation_core.errors import CocktailError

            raise CocktailError(
                f"conversation mode needs a separator of voices with two or more outputs and "
                f"the model's own speaker count; '{entry.id}' cannot serve"
            )
        return fits and (
            self.mode == "conversation"
            or (self.mode == "auto" and seconds >= CONVERSATION_MIN_SECONDS)
        )

    def engine_options(self):
        from separation_core.engine.inference import EngineOptions
        from separation_core.models.base import RunOptions

        return EngineOptions(
            chunk_seconds=self.chunk_seconds,
            device=self.device,
            run=RunOptions(
                num_speakers=self.num_speakers,
                clustering=self.clustering,
                binary_masks=self.binary_masks,
            ),
            max_embedding_points=MAX_EMBEDDING_POINTS,
            denoiser=self.denoiser(),
        )

    def denoiser(self):
        """The first stage's model when ``denoise`` is ticked (loaded afresh: 0.3 MB), else None."""
        if not self.denoise:
            return None
        from separation_core.checkpoints.catalog import load_model
        from separation_core.commands.separate import DENOISER

        return load_model(DENOISER)

    def to_dict(self) -> dict:
        return {
            "num_speakers": self.num_speakers,
            "clustering": self.clustering,
            "binary_masks": self.binary_masks,
            "chunk_seconds": self.chunk_seconds,
            "device": self.device,
            "mode": self.mode,
            "speakers": self.speakers,
            "denoise": self.denoise,
        }


@dataclass(frozen=True)
class ModelDone:
    entry: Any
    result: Any
    settings: RunSettings
    seconds: float
    order: Optional[tuple] = None  # against the job's anchor (see SeparationJob)
    meeting: Any = None  # app.meeting.Meeting of a conversation result (its corrections)


@dataclass(frozen=True)
class ModelFailed:
    spec: str
    message: str
    details: str = ""


@dataclass(frozen=True)
class SeparationJob:
    """Run several models one after the other; one that fails is reported and the others go on.
    Publishes a ModelDone or ModelFailed per model; returns the list of those.

    Each ModelDone carries its speaker order solved on the full signals against ``anchor`` (the
    session's references or first result); without one, the first result is the anchor."""

    mixture: np.ndarray
    sample_rate: int
    models: tuple  # ModelEntry or spec strings
    settings: RunSettings = field(default_factory=RunSettings)
    references: Optional[np.ndarray] = None
    anchor: Optional[np.ndarray] = None

    def run(self, ctx) -> list:
        import traceback

        from app.session import align_sources
        from separation_core.checkpoints import catalog
        from separation_core.engine.inference import separate

        leave_core_for_gui()

        outcomes = []
        anchor = self.anchor
        n = len(self.models)
        for i, spec in enumerate(self.models):
            name = getattr(spec, "id", str(spec))
            prefix = f"{name} ({i + 1}/{n})" if n > 1 else name
            read = ChunkStages()

            def progress(fraction: float, stage: str, i=i, prefix=prefix, read=read) -> None:
                ctx.progress((i + fraction) / n, f"{prefix}: {read(fraction, stage)}")

            ctx.cancel.raise_if_cancelled()
            progress(0.0, "loading model")
            try:
                entry = catalog.resolve(spec)
                model = catalog.load_model(entry)
                refs = self.references if entry.needs_references else None
                t0 = time.perf_counter()
                seconds = self.mixture.shape[-1] / self.sample_rate
                if self.settings.conversation_for(entry, seconds):
                    result = self._conversation(model, progress, ctx.cancel)
                else:
                    result = separate(
                        model,
                        self.mixture,
                        self.sample_rate,
                        self.settings.engine_options(),
                        references=refs,
                        progress=progress,
                        cancel=ctx.cancel,
                    )
                del model  # its weights and buffers go before the next model loads
                meeting = self._meeting(result)
                if meeting is not None:
                    result = meeting.result(result)
                result = compact_for_display(result)
                seconds = time.perf_counter() - t0
                if anchor is None:
                    anchor, order = result.waveforms, tuple(range(result.n_src))
                else:
                    order = tuple(align_sources(result.waveforms, anchor))
                outcome = ModelDone(entry, result, self.settings, seconds, order, meeting)
            except Cancelled:
                raise
            except Exception as e:  # CocktailError, or a bug in one model: the others still run
                outcome = ModelFailed(
                    name, str(e) if str(e) else type(e).__name__, traceback.format_exc()
                )
            outcomes.append(outcome)
            ctx.publish(outcome)
        return outcomes

    def _conversation(self, model, progress, cancel):
        """One stem per person (``separate_conversation``), with the run options' people."""
        from separation_core.conversation.people import SpeakerCount
        from separation_core.conversation.pipeline import (
            ConversationOptions,
            separate_conversation,
        )

        options = ConversationOptions(
            speakers=SpeakerCount.parse(self.settings.speakers),
            engine=self.settings.engine_options(),
            model_outputs_without_speech=self.settings.mode == "auto",
        )
        return separate_conversation(
            model, self.mixture, self.sample_rate, options, progress=progress, cancel=cancel
        )

    def _meeting(self, result):
        """The correctable meeting of a conversation result (None for others): its stems are
        assembled again at the mixture's rate, so that corrections re-assemble the same samples."""
        if result.plan_source is None:
            return None
        from app.meeting import Meeting

        return Meeting.of_result(result, self.mixture)
