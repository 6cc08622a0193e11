"""Running models on the mixture: the run options, the job that runs several models in turn, and
what it reports per model; in conversation mode, each model's adaptation to the recording when the
run options ask for it (``separation_core.adaptation``)."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from separation_core.cancel import CancelToken
from separation_core.errors import Cancelled, CocktailError

log = logging.getLogger(__name__)

MAX_EMBEDDING_POINTS = 60000  # enough for the scatter and for a dense selection mask
# The engine reports a chunk once it is done: "separating: chunk 4/5" while the fifth one runs.
ENGINE_CHUNK = re.compile(r"separating: chunk (\d+)/(\d+)")
# Of a model's share of the progress bar when it adapts: its conversation run, then the adaptation
# (the fine-tuning for the budget, then the overlaps separated again).
SEPARATION_SHARE = 0.3
NOT_CONVERSATION = (
    "not adapted: adaptation needs conversation mode (Mode: Conversation, or Auto on a "
    "recording of 20 s or more)"
)
TURNS_FROM = "conversation mode's estimate (Cocktail's window)"


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
    # conversation mode: fine-tune a copy of each model on the recording's own solo speech for this
    # many seconds, then separate the overlaps again with it ("Adapt to this recording"); None: no
    adapt_seconds: Optional[float] = None
    # as `cocktail separate --adapt-steps`: a budget in training steps instead (the same weights
    # twice on one machine); not offered in the panel
    adapt_steps: Optional[int] = None

    def adapt_budget(self):
        """The adaptation's ``Budget`` (None: no adaptation); CocktailError, one line, for a budget
        of 0, below, NaN, too large, or both kinds at once."""
        from separation_core.adaptation.budget import Budget

        if self.adapt_seconds is not None and self.adapt_steps is not None:
            raise CocktailError("adaptation budget: seconds or steps, not both")
        if self.adapt_steps is not None:
            return Budget(steps=self.adapt_steps)
        if self.adapt_seconds is not None:
            return Budget(seconds=self.adapt_seconds)
        return None

    @property
    def adapts(self) -> bool:
        """Whether an adaptation is asked for (see ``adapt_budget``)."""
        return self.adapt_seconds is not None or self.adapt_steps is not None

    def conversation_for(self, entry, seconds: float) -> bool:
        """Whether a run of ``entry`` on ``seconds`` of audio is a conversation (one stem per
        person): as ``cocktail separate --mode`` decides."""
        from separation_core.commands.separate import CONVERSATION_MIN_SECONDS, separates_voices

        fits = separates_voices(entry, self.num_speakers)
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
            # the command line's sidecar key and value (``Budget.to_dict``)
            "adapt": (
                {"seconds": self.adapt_seconds, "steps": self.adapt_steps} if self.adapts else None
            ),
        }


@dataclass(frozen=True)
class ModelDone:
    entry: Any
    result: Any
    settings: RunSettings
    seconds: float
    order: Optional[tuple] = None  # against the job's anchor (see SeparationJob)
    meeting: Any = None  # app.meeting.Meeting of a conversation result (its corrections)
    adapted_from: str = ""  # the stock model's id when ``entry`` is its adaptation, just saved
    # the sidecar's "adaptation" entry (``Adaptation.to_dict``) of an adapted result, or of a stock
    # one whose adaptation gave no model (``adapted: false`` and why); None: no adaptation
    adaptation: Optional[dict] = None


@dataclass(frozen=True)
class AdaptationNote:
    """Why the adaptation of stock result ``key`` gave no adapted model: one line (its notes), and
    the record of the attempt for its sidecar (``Adaptation.to_dict``, ``adapted: false``)."""

    key: str
    note: str
    adaptation: dict


@dataclass(frozen=True)
class NotRun:
    """The models (names) a Stop while adapting left unrun: those after the one adapting."""

    names: tuple


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
    session's references or first result); without one, the first result is the anchor.

    With an adaptation budget in the run options, each conversation result's model is then adapted
    to the recording: the stock ModelDone is published first, then a second one for the adapted
    model (saved as a user model under a new name), or an AdaptationNote saying why there is none.
    ``finish`` (``finish_early``, the first Stop while adapting) keeps the best copy so far and
    leaves the models after it unrun (a NotRun names them); the cancel token stops everything."""

    mixture: np.ndarray
    sample_rate: int
    models: tuple  # ModelEntry or spec strings
    settings: RunSettings = field(default_factory=RunSettings)
    references: Optional[np.ndarray] = None
    anchor: Optional[np.ndarray] = None
    input_path: Optional[Path] = None  # the session's file: the adapted model's card names it
    finish: CancelToken = field(default_factory=CancelToken, compare=False)
    adapting: threading.Event = field(default_factory=threading.Event, compare=False)

    def finish_early(self) -> bool:
        """Stop while a model adapts: its fine-tuning ends with the best copy so far, which then
        separates the overlaps. True when that is what Stop does now (a second Stop cancels)."""
        if not self.adapting.is_set() or self.finish.cancelled:
            return False
        self.finish.cancel()
        return True

    def run(self, ctx) -> list:
        import traceback

        from separation_core.checkpoints import catalog
        from separation_core.engine.inference import separate

        leave_core_for_gui()
        budget = self.settings.adapt_budget()  # a bad budget fails the run in one line, at once

        outcomes = []
        anchor = self.anchor
        n = len(self.models)
        for i, spec in enumerate(self.models):
            if self.finish.cancelled:  # stopped while adapting: the models after it do not run
                ctx.publish(NotRun(tuple(getattr(m, "id", str(m)) for m in self.models[i:])))
                break
            name = getattr(spec, "id", str(spec))
            prefix = f"{name} ({i + 1}/{n})" if n > 1 else name
            progress = _part(ctx, i, n, prefix, 0.0, 1.0, ChunkStages())

            ctx.cancel.raise_if_cancelled()
            progress(0.0, "loading model")
            stock = None  # a conversation result to adapt the model to
            try:
                entry = catalog.resolve(spec)
                model = catalog.load_model(entry)
                refs = self.references if entry.needs_references else None
                t0 = time.perf_counter()
                seconds = self.mixture.shape[-1] / self.sample_rate
                conversation = self.settings.conversation_for(entry, seconds)
                if budget is not None and conversation:
                    progress = _part(ctx, i, n, prefix, 0.0, SEPARATION_SHARE, ChunkStages())
                if conversation:
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
                if budget is not None and result.turns is None:
                    result = replace(result, notes=[*result.notes, NOT_CONVERSATION])
                if budget is not None and result.turns is not None:
                    stock = result
                else:
                    model = None  # its weights and buffers go before the next model loads
                outcome, anchor = self._done(entry, result, time.perf_counter() - t0, anchor)
            except Cancelled:
                raise
            except Exception as e:  # CocktailError, or a bug in one model: the others still run
                stock = None
                outcome = ModelFailed(
                    name, str(e) if str(e) else type(e).__name__, traceback.format_exc()
                )
            outcomes.append(outcome)
            ctx.publish(outcome)
            if stock is None:
                continue
            adapt_progress = _part(ctx, i, n, prefix, SEPARATION_SHARE, 1.0)
            adapted, anchor = self._adapted(
                ctx, model, entry, stock, budget, anchor, adapt_progress
            )
            model = stock = None
            if isinstance(adapted, ModelDone):
                outcomes.append(adapted)
                ctx.publish(adapted)
            else:  # the stock result says why there is no adapted one
                noted = replace(outcome.result, notes=[*outcome.result.notes, adapted.note])
                outcomes[-1] = replace(outcome, result=noted, adaptation=adapted.adaptation)
                ctx.publish(adapted)
        return outcomes

    def _done(self, entry, result, seconds: float, anchor):
        """A result as the window keeps it (its meeting, compacted, in order against ``anchor``,
        or the anchor itself when there is none yet) -> (its ModelDone, the anchor)."""
        from app.session import align_sources

        meeting = self._meeting(result)
        if meeting is not None:
            result = meeting.result(result)
        result = compact_for_display(result)
        if anchor is None:
            anchor, order = result.waveforms, tuple(range(result.n_src))
        else:
            order = tuple(align_sources(result.waveforms, anchor))
        return ModelDone(entry, result, self.settings, seconds, order, meeting), anchor

    def _conversation(self, model, progress, cancel):
        """One stem per person (``separate_conversation``), with the run options' people."""
        from separation_core.conversation.people import SpeakerCount
        from separation_core.conversation.pipeline import (
            ConversationOptions,
            separate_conversation,
        )

        s = self.settings
        options = ConversationOptions(
            speakers=SpeakerCount.parse(s.speakers),
            engine=s.engine_options(),
            # an adaptation needs who talks when, as `cocktail separate --adapt` does
            model_outputs_without_speech=s.mode == "auto" and not s.adapts,
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

    def _adapted(self, ctx, model, entry, stock, budget, anchor, progress):
        """``model`` adapted to the recording of its conversation result ``stock`` and kept as a
        user model -> (the adapted model's ModelDone, the anchor), or (an AdaptationNote: why
        there is none, the anchor). Each carries the adaptation's record for the sidecar.
        Cancelled (the second Stop) goes through."""
        from separation_core.adaptation.recording import Adaptation

        t0 = time.perf_counter()
        self.adapting.set()
        try:
            made, record = self._adapt(ctx, model, entry, stock, budget, progress)
        except Cancelled:
            raise
        except Exception as e:  # e.g. the models folder cannot be written: the stock result stays
            log.warning("adapting %s failed", entry.id, exc_info=True)
            message = (str(e) or type(e).__name__).splitlines()[0]
            record = Adaptation(
                from_model=model.name,
                budget=budget.text(),
                note=f"not adapted: {message}; the stock model's stems",
                seconds=time.perf_counter() - t0,
            )
            return AdaptationNote(entry.id, record.note, record.to_dict()), anchor
        finally:
            self.adapting.clear()
        if made is None:
            return AdaptationNote(entry.id, record.note, record.to_dict()), anchor
        result, adapted_entry = made
        done, anchor = self._done(adapted_entry, result, time.perf_counter() - t0, anchor)
        return replace(done, adapted_from=entry.id, adaptation=record.to_dict()), anchor

    def _adapt(self, ctx, model, entry, stock, budget, progress):
        """As ``cocktail separate --adapt --keep-adapted`` (``commands.adapting.adapt_result``):
        -> ((the adapted result, the saved model's catalog entry) or None, the ``Adaptation``
        record: its weights' hash and file once saved, else its note saying why not)."""
        from separation_core.adaptation.recording import adapt_conversation
        from separation_core.adaptation.saving import keep_adapted, stock_options, weights_sha256
        from separation_core.checkpoints.catalog import entry_from_checkpoint

        options = stock_options(entry, budget, self.settings.device)
        result, adapted, record = adapt_conversation(
            model,
            self.mixture,
            self.sample_rate,
            stock,
            options,
            progress=progress,
            cancel=ctx.cancel,
            finish=self.finish,
        )
        ctx.cancel.raise_if_cancelled()  # the second Stop: the stock result, published, stays
        if adapted is None:
            return None, record
        record.weights_sha256 = weights_sha256(adapted)
        saved = keep_adapted(adapted, record, options, entry, self.input_path, TURNS_FROM)
        return (result, entry_from_checkpoint(saved, "user")), record


def _part(ctx, i: int, n: int, prefix: str, lo: float, hi: float, read=None):
    """The progress callback of model ``i`` of ``n`` for the part ``[lo, hi]`` of its share of the
    bar, its stages prefixed with its name (and read by ``ChunkStages`` where given)."""

    def progress(fraction: float, stage: str) -> None:
        text = read(fraction, stage) if read is not None else stage
        ctx.progress((i + lo + (hi - lo) * fraction) / n, f"{prefix}: {text}")

    return progress
