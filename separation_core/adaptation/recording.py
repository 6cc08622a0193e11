"""Adapting the separator to a recording, end to end: from who talks when, each person's solo
stretches; a fine-tuned copy of the separator (``finetune``); the overlaps separated again with it
and the stems re-assembled (``reassembly``).

Whatever goes wrong on the way (one person, too little solo speech, a model that cannot be trained,
a stop, no memory left, no gain on the held-out mixtures) leaves the stock model's stems with a
one-line note saying why; the ``Adaptation`` record says what was done."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Optional

import numpy as np

from separation_core.adaptation.budget import Budget
from separation_core.adaptation.examples import VALID_MIXTURES, solo_pool
from separation_core.adaptation.finetune import (
    FineTuneReport,
    FineTuneSettings,
    fine_tune,
    trainable_reason,
)
from separation_core.adaptation.reassembly import (
    RATE,
    separate_overlaps,
    separator_reads,
    voice_profiles,
)
from separation_core.adaptation.solo import (
    FRAME_SECONDS,
    MARGIN_SECONDS,
    MIN_STRETCH_SECONDS,
    VALID_SHARE,
    SoloSpeech,
    frame_activity,
    solo_speech,
)
from separation_core.cancel import CancelToken, ProgressFn, report
from separation_core.conversation.assembly import Plan, assemble
from separation_core.conversation.pipeline import ConversationOptions, separate_conversation
from separation_core.engine.inference import EngineOptions, fit_length
from separation_core.errors import Cancelled
from separation_core.io.audio_io import resample
from separation_core.io.rttm import Turn
from separation_core.models.base import SeparationModel
from separation_core.models.result import SeparationResult

MIN_SOLO_SECONDS = 10.0  # per person, below this there is too little to learn from


@dataclass(frozen=True)
class AdaptOptions:
    budget: Budget
    settings: FineTuneSettings = field(default_factory=FineTuneSettings)
    device: str = "auto"
    margin_seconds: float = MARGIN_SECONDS
    min_stretch_seconds: float = MIN_STRETCH_SECONDS
    min_solo_seconds: float = MIN_SOLO_SECONDS
    valid_share: float = VALID_SHARE
    loss_options: dict = field(default_factory=dict)  # the stock model's (its checkpoint's)


@dataclass
class Adaptation:
    """What an adaptation did. ``adapted``: whether the stems come from the adapted model;
    ``note``: why not, or what it gained (one line)."""

    from_model: str
    budget: str
    adapted: bool = False
    note: str = ""
    solo_seconds: list = field(default_factory=list)
    report: Optional[FineTuneReport] = None
    weights_sha256: Optional[str] = None
    saved: Optional[str] = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """The sidecar's ``adaptation`` entry."""
        rep = self.report
        return {
            "from_model": self.from_model,
            "budget": self.budget,
            "adapted": self.adapted,
            "note": self.note,
            "solo_seconds": [round(s, 2) for s in self.solo_seconds],
            "steps": rep.steps if rep else 0,
            "best_step": rep.best_step if rep else 0,
            "device": rep.device if rep else None,
            "valid_before_si_sdri": rep.valid_before if rep else None,
            "valid_after_si_sdri": rep.valid_after if rep else None,
            "history": [list(h) for h in rep.history] if rep else [],
            "weights_sha256": self.weights_sha256,
            "saved": self.saved,
            "seconds": round(self.seconds, 2),
        }


def _solo_problem(solo: SoloSpeech, least: float) -> Optional[str]:
    if solo.n_people < 2:
        return "one person only: there is no one to mix them with"
    seconds = solo.seconds()
    short = [f"Person {k + 1} ({s:.1f} s)" for k, s in enumerate(seconds) if s < least]
    if short:
        return f"too little solo speech (under {least:g} s) for {', '.join(short)}"
    if any(not v for v in solo.valid):
        return "too few solo stretches to hold some out for validation"
    return None


def adapt_model(
    model: SeparationModel,
    wav: np.ndarray,
    sample_rate: int,
    turns: Sequence[Turn],
    n_people: int,
    options: AdaptOptions,
    exclude: Sequence[Sequence[float]] = (),
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
    on_validation=None,
    finish: Optional[CancelToken] = None,
) -> tuple[Optional[SeparationModel], Adaptation, SoloSpeech]:
    """Fine-tune a copy of ``model`` on the solo stretches of ``wav [T]`` that ``turns`` of
    ``n_people`` give (``exclude``: further ``[start, stop]`` second spans to keep clear, e.g. the
    overlaps a pipeline found; ``finish``: see ``fine_tune``). -> (the adapted model, or None with the record's note saying why;
    the record; the solo stretches at the model's rate)."""
    t0 = time.perf_counter()
    record = Adaptation(from_model=model.name, budget=options.budget.text())
    msr = model.sample_rate
    x = np.asarray(wav, dtype=np.float32)
    x = resample(x, sample_rate, msr) if sample_rate != msr else x
    solo = solo_speech(
        turns,
        n_people,
        len(x),
        msr,
        exclude,
        options.margin_seconds,
        options.min_stretch_seconds,
        options.valid_share,
    )
    record.solo_seconds = solo.seconds()
    problem = trainable_reason(model) or _solo_problem(solo, options.min_solo_seconds)
    if problem is None and n_people < model.n_src:
        problem = f"{n_people} people, but '{model.name}' separates {model.n_src} voices"
    if problem:
        record.note = f"not adapted: {problem}; the stock model's stems"
        return None, record, solo
    train = [solo_pool(x, spans, msr) for spans in solo.train]
    valid = [solo_pool(x, spans, msr) for spans in solo.valid]
    try:
        adapted, rep = fine_tune(
            model,
            train,
            valid,
            options.budget,
            loss_options=options.loss_options,
            settings=options.settings,
            device=options.device,
            progress=progress,
            cancel=cancel,
            on_validation=on_validation,
            finish=finish,
        )
    except Cancelled:
        record.note = "adaptation stopped: the stock model's stems"
        return None, record, solo
    except (RuntimeError, MemoryError) as err:
        if not (isinstance(err, MemoryError) or "out of memory" in str(err).lower()):
            raise
        record.note = "not adapted: out of memory while fine-tuning; the stock model's stems"
        return None, record, solo
    finally:
        record.seconds = time.perf_counter() - t0
    record.report = rep
    if not rep.improved:
        record.note = (
            f"not adapted: {rep.steps} steps did not raise the held-out SI-SDRi "
            f"({rep.valid_before:.2f} dB); the stock model's stems"
        )
        return None, record, solo
    record.adapted = True
    stopped = "stopped after" if rep.finished_early else "adapted in"
    record.note = (
        f"{stopped} {rep.steps} steps ({record.seconds:.0f} s on {rep.device}): held-out "
        f"SI-SDRi {rep.valid_before:.2f} -> {rep.valid_after:.2f} dB"
    )
    return adapted, record, solo


def profiles_of(solo: SoloSpeech, wav: np.ndarray, sample_rate: int, encoder) -> np.ndarray:
    """Each person's voice from their solo stretches (``solo`` at ``sample_rate``)."""
    x16 = resample(wav, sample_rate, RATE) if sample_rate != RATE else wav
    ratio = RATE / solo.sample_rate
    pools = []
    for t, v in zip(solo.train, solo.valid):
        spans = sorted((int(a * ratio), int(b * ratio)) for a, b in list(t) + list(v))
        pools.append(solo_pool(x16, spans, RATE))
    return voice_profiles(encoder, pools)


def adapted_stems(
    adapted: SeparationModel,
    wav: np.ndarray,
    sample_rate: int,
    turns: Sequence[Turn],
    n_people: int,
    solo: SoloSpeech,
    device: str = "auto",
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> tuple[np.ndarray, Plan, np.ndarray]:
    """Stems ``[n_people, T]`` at ``sample_rate``: the overlaps of ``turns`` separated by
    ``adapted``, the rest from the mixture (``reassembly``); with the plan and the separated
    signals ``[n_people, T16]`` at 16 kHz it names (what the studio corrects)."""
    from separation_core.conversation.speakers import SpeakerEncoder

    x = np.asarray(wav, dtype=np.float32)
    x16 = resample(x, sample_rate, RATE) if sample_rate != RATE else x
    encoder = SpeakerEncoder.shared()
    profiles = profiles_of(solo, x, sample_rate, encoder)
    n_frames = int(np.ceil(len(x16) / (FRAME_SECONDS * RATE)))
    active = frame_activity(turns, n_people, n_frames)
    plan, separated = separate_overlaps(
        adapted, x16, active, profiles, encoder, device, progress, cancel
    )
    stems16 = assemble(x16, RATE, plan, separated=separated)
    stems = resample(stems16, RATE, sample_rate) if sample_rate != RATE else stems16
    return fit_length(stems, len(x)).astype(np.float32, copy=False), plan, separated


def adapt_conversation(
    model: SeparationModel,
    mixture: np.ndarray,
    sample_rate: int,
    stock: SeparationResult,
    options: AdaptOptions,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
    finish: Optional[CancelToken] = None,
) -> tuple[SeparationResult, Optional[SeparationModel], Adaptation]:
    """Adapt ``model`` to the recording of a conversation-mode result ``stock`` (its ``turns``
    and ``separated_spans``) and re-make its stems -> (the result: ``stock`` with a note where the
    adaptation did not happen; the adapted model or None; the record). ``finish`` set while
    fine-tuning: the best copy so far separates the overlaps (see ``fine_tune``). Where ``stock``
    keeps who talks when as conversation mode found it (``found_talk``), conversation mode runs
    again from there with the adapted copy as its separator; else the overlaps of its turns are
    separated again (``adapted_stems``)."""
    if stock.turns is None:
        record = Adaptation(from_model=model.name, budget=options.budget.text())
        record.note = "not adapted: the result has no turns (conversation mode only)"
        return _noted(stock, record.note), None, record
    n_people = stock.n_src

    def stage(lo: float, hi: float):
        return lambda f, s: report(progress, lo + (hi - lo) * f, s)

    adapted, record, solo = adapt_model(
        model,
        mixture,
        sample_rate,
        stock.turns,
        n_people,
        options,
        exclude=stock.separated_spans,
        progress=stage(0.0, 0.85),
        cancel=cancel,
        finish=finish,
    )
    if adapted is None:
        return _noted(stock, record.note), None, record
    talk = stock.found_talk
    try:
        if talk is not None and not talk.denoised:
            again = _separated_again(
                adapted, mixture, sample_rate, stock, options, stage(0.85, 1), cancel
            )
            result = replace(
                again,
                model_name=f"{stock.model_name} (adapted)",
                notes=list(again.notes) + [record.note],
                timings=dict(again.timings, adaptation=record.seconds),
            )
            return result, adapted, record
        stems, plan, separated = adapted_stems(
            adapted,
            mixture,
            sample_rate,
            stock.turns,
            n_people,
            solo,
            options.device,
            stage(0.85, 1.0),
            cancel,
        )
    except Cancelled:
        record.adapted = False
        record.note = "adaptation stopped while separating the overlaps: the stock model's stems"
        return _noted(stock, record.note), None, record
    result = replace(
        stock,
        waveforms=stems,
        model_name=f"{stock.model_name} (adapted)",
        plan_source=plan.source,
        plan_hop=plan.hop,
        plan_outputs=separated,
        plan_rate=RATE,
        plan_masks=None,
        separator_reads=separator_reads(
            frame_activity(stock.turns, n_people, plan.source.shape[1])
        ),
        masks=None,
        embeddings=None,
        embedding_bins=None,
        embedding_labels=None,
        notes=list(stock.notes) + [record.note],
        timings=dict(stock.timings, adaptation=record.seconds),
    )
    return result, adapted, record


def _separated_again(
    adapted: SeparationModel,
    mixture: np.ndarray,
    sample_rate: int,
    stock: SeparationResult,
    options: AdaptOptions,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> SeparationResult:
    """Conversation mode again with ``adapted`` as the separator, who talks when taken from
    ``stock`` (its ``found_talk``): the same people and spans, the adapted outputs, a new plan."""
    engine = EngineOptions(device=options.device, keep_masks=stock.plan_masks is not None)
    return separate_conversation(
        adapted,
        mixture,
        sample_rate,
        ConversationOptions(engine=engine),
        progress,
        cancel,
        found=stock.found_talk,
    )


def _noted(result: SeparationResult, note: str) -> SeparationResult:
    return replace(result, notes=list(result.notes) + [note])


def adapted_record(
    record: Adaptation,
    options: AdaptOptions,
    *,
    input_name: str,
    input_sha256: Optional[str],
    from_sha256: Optional[str],
    turns_from: str,
    loss: str,
) -> dict:
    """The checkpoint's ``adapted`` record of an adaptation (the card is made from it)."""
    rep = record.report
    s = options.settings
    return {
        "from_model": record.from_model,
        "from_sha256": from_sha256,
        "input": input_name,
        "input_sha256": input_sha256,
        "turns_from": turns_from,
        "solo_seconds": [round(v, 2) for v in record.solo_seconds],
        "budget": record.budget,
        "steps": rep.steps,
        "best_step": rep.best_step,
        "seconds": round(rep.seconds, 1),
        "device": rep.device,
        "valid_before": rep.valid_before,
        "valid_after": rep.valid_after,
        "history": [list(h) for h in rep.history],
        "valid_mixtures": VALID_MIXTURES,
        "valid_share": options.valid_share,
        "margin_seconds": options.margin_seconds,
        "min_stretch_seconds": options.min_stretch_seconds,
        "loss": loss,
        "loss_options": dict(options.loss_options),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **{k: v for k, v in asdict(s).items() if k != "validations"},
    }
