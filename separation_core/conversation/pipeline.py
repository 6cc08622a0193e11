"""Conversation mode: one stem per person, the separator used only where people overlap.

1. Speech activity of the mixture (silero-vad, ``activity``), and where two people talk at once
   (the trained overlap detector, ``overlap``).
2. Speaker embeddings (``speakers``) of windows of the mixture where one person talks, clustered
   into people (``people``): the count given, bounded or estimated. Each frame where one person
   talks goes to the person its windows resemble.
3. The separator (``engine.inference.separate``) on each overlap, and on each handover (one person
   to another with no pause: where the detector's missed overlaps mostly are), with a little
   context around it.
4. In an overlap each separator output goes to the person it resembles (one output each); in a
   handover to one of the two people, where its outputs hold both (not one after the other).
5. ``assembly.assemble``: the mixture where a person talks alone, their output where people
   overlap, silence elsewhere, crossfaded.

Everything runs at 16 kHz (the activity and speaker models' rate); the stems are resampled to the
input's rate and length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np
from scipy.ndimage import median_filter
from scipy.optimize import linear_sum_assignment

from separation_core.cancel import CancelToken, ProgressFn, cancel_scope, check_cancel, report
from separation_core.conversation.assembly import (
    MIXTURE,
    SILENT,
    Plan,
    assemble,
    consistent_outputs,
)
from separation_core.conversation.masks import MaskKeeper, views_of_plan
from separation_core.conversation.people import People, SpeakerCount, cluster_people
from separation_core.conversation.turns import runs_of, turns_from_activity
from separation_core.conversation.voices import VoiceSpace, profile
from separation_core.engine.inference import (
    EngineOptions,
    denoise_first,
    fit_length,
    separate,
)
from separation_core.engine.memory_check import return_freed_memory, sparse_zeros
from separation_core.errors import CocktailError
from separation_core.io.audio_io import resample
from separation_core.models.result import SeparationResult

RATE = 16000
HOP = 0.01  # the plan's frame, seconds
WINDOW_SECONDS = 1.5  # speaker embedding windows where one person talks
WINDOW_HOP_SECONDS = 0.75
MIN_WINDOW_SECONDS = 0.5  # a stretch of one voice shorter than this is not embedded alone
OVERLAP_THRESHOLD = 0.35  # the detector's probability of 2+ people above which they overlap
OVERLAP_SMOOTH_SECONDS = 0.25
MIN_OVERLAP_SECONDS = 0.2
SEPARATION_CONTEXT_SECONDS = 0.5  # audio each side of an overlap that the separator reads too
# A handover: one person's solo frames followed by another's within HANDOVER_GAP_SECONDS of speech
# (or a detected overlap); the separator also reads HANDOVER_SECONDS either side of it, and each
# output must resemble its person by HANDOVER_MARGIN (cosine) more than the other (chosen on the
# development sets, docs/conversations.md)
HANDOVER_SECONDS = 1.5
HANDOVER_GAP_SECONDS = 0.1
HANDOVER_MARGIN = 0.05
# ... and on each person's solo frames in the run their output may be at most -HANDOVER_CARRIER_DB
# below the other's: a separator that hears one voice at a time can keep both people in one output,
# one after the other, and then the voices' similarity alone gives one of them the other's output
# (chosen on the development sets, docs/conversations.md)
HANDOVER_CARRIER_DB = -10.0
# in an overlap whose two outputs both sound like one person, an output carries a person where,
# over that person's solo frames within the separator's context, it holds CARRIER_DB more energy
# than the other output (for CARRIER_MIN_SECONDS or more of them)
CARRIER_DB = 3.0
CARRIER_MIN_SECONDS = 0.2
# ... and where no output carries a person there, the output that resembles that one person less
# than SECOND_VOICE_RATIO as clearly as the other does (its similarity's margin over the next
# person) is a second voice, given to the next person, when both outputs are within
# SECOND_VOICE_FLOOR_DB of the mixture: a separator that splits one voice gives two halves of it
# that sound alike (chosen on the development sets, docs/conversations.md)
SECOND_VOICE_RATIO = 0.5
SECOND_VOICE_FLOOR_DB = 12.0
# where a person's separated output stays this far below the mixture, they are silent
QUIET_OUTPUT_DB = 20.0
QUIET_BESIDE_SOLO_DB = 5.0  # ... and this far where the clustering says another talks alone
QUIET_MIN_SECONDS = 0.1
PAUSE_BRIDGE_SECONDS = 0.5  # a pause of one person this short, nobody else talking, is theirs
# A person's turn given the mixture starts and ends this much inside each stretch of speech: the
# activity's pad (activity.PAD, 0.3 s) serves the people stage; turns as long as it reach past
# where people talk (docs/conversations.md, session 29).
TURN_TRIM_SECONDS = 0.1
ENERGY_WINDOW_SECONDS = 0.05
MIN_SPEECH_SECONDS = 1.0  # less speech than this: no conversation to find
MIN_PERSON_SECONDS = 2.0  # a person who talks less than this, or this share of the speech,
MIN_PERSON_SHARE = 0.03  # gets a note: the count may be too high


@dataclass(frozen=True)
class ConversationOptions:
    speakers: SpeakerCount = field(default_factory=SpeakerCount)
    engine: EngineOptions = field(default_factory=EngineOptions)
    overlap_threshold: Optional[float] = None  # None: OVERLAP_THRESHOLD
    # Where the recording holds no speech, return the model's own outputs instead of refusing it
    # (``cocktail separate --mode auto``).
    model_outputs_without_speech: bool = False


def _frame_energy(x: np.ndarray, n_frames: int) -> np.ndarray:
    """Mean power of ``x [..., T]`` at 16 kHz in windows of ENERGY_WINDOW_SECONDS around each
    HOP frame -> ``[..., n_frames]``."""
    hop = int(HOP * RATE)
    power = np.asarray(x, dtype=np.float64) ** 2
    pad = n_frames * hop - power.shape[-1]
    if pad > 0:
        power = np.concatenate([power, np.zeros(power.shape[:-1] + (pad,))], axis=-1)
    frames = power[..., : n_frames * hop].reshape(power.shape[:-1] + (n_frames, hop)).mean(-1)
    width = max(1, int(round(ENERGY_WINDOW_SECONDS / HOP)))
    kernel = np.ones(width) / width
    lo = (width - 1) // 2  # "same" alignment, kept when the run is shorter than the window
    return np.apply_along_axis(
        lambda r: np.convolve(r, kernel, mode="full")[lo : lo + n_frames], -1, frames
    )


def overlap_frames(
    x16: np.ndarray, speech: np.ndarray, threshold: Optional[float] = None
) -> np.ndarray:
    """Frames where people overlap: bool ``[frames]`` from the 16 kHz mixture ``x16`` and its
    ``speech [frames]``: the detector's probability above ``threshold``, smoothed, within speech,
    in stretches of at least MIN_OVERLAP_SECONDS."""
    from separation_core.conversation.overlap import overlap_probability

    threshold = OVERLAP_THRESHOLD if threshold is None else threshold
    p = overlap_probability(x16)
    n = speech.shape[0]
    p = np.pad(p[:n], (0, max(0, n - len(p))), mode="edge")
    raw = speech & (p > threshold)
    smooth = median_filter(raw.astype(np.uint8), size=int(OVERLAP_SMOOTH_SECONDS / HOP) | 1) > 0
    smooth &= speech
    return _drop_short(smooth, int(round(MIN_OVERLAP_SECONDS / HOP)))


def separator_spans(overlap: np.ndarray, n_samples: int) -> list[tuple[int, int]]:
    """Sample spans the separator reads: each run of ``overlap [frames]`` widened by
    SEPARATION_CONTEXT_SECONDS on either side, merged where they meet."""
    hop = int(HOP * RATE)
    context = int(SEPARATION_CONTEXT_SECONDS * RATE)
    spans: list[tuple[int, int]] = []
    for a, b in runs_of(overlap):
        lo, hi = max(0, a * hop - context), min(n_samples, b * hop + context)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def separate_overlaps(
    model,
    x16: np.ndarray,
    overlap: np.ndarray,
    engine: EngineOptions,
    progress=None,
    cancel=None,
    keeper: Optional[MaskKeeper] = None,
) -> tuple[Optional[np.ndarray], list[str]]:
    """The separator's outputs ``[S, T]`` (16 kHz, float32) on ``separator_spans``, zeros
    elsewhere (None where nobody overlaps), and the engine's notes; ``keeper`` collects the
    spans' masks and embedding samples. Only the spans' pages of the outputs are resident
    (``sparse_zeros``): under half of them on an hour of conversation."""
    spans = separator_spans(overlap, x16.shape[-1])
    total = sum(b - a for a, b in spans)
    outputs, done, notes = None, 0, []
    if keeper is not None:
        keeper.expect(spans, x16.shape[-1])
    for a, b in spans:
        check_cancel(cancel)

        def span_progress(fraction: float, stage: str, a=a, b=b, done=done) -> None:
            report(progress, (done + fraction * (b - a)) / total, stage)

        options = engine if keeper is None else keeper.options(engine, b - a)
        result = separate(model, x16[a:b], RATE, options, progress=span_progress, cancel=cancel)
        if keeper is not None:
            keeper.add(a, result)
        notes += [n for n in result.notes if n not in notes]
        waves = fit_length(result.waveforms, b - a)
        if outputs is None:
            outputs = sparse_zeros((waves.shape[0], x16.shape[-1]), np.float32)
        outputs[:, a:b] = waves
        done += b - a
        return_freed_memory()
    return outputs, notes


def add_up_in_spans(x16: np.ndarray, outputs: Optional[np.ndarray], separated: np.ndarray) -> None:
    """In place: the separator's ``outputs [S, T]`` made to add up to the 16 kHz mixture on each
    span it read (``separator_spans`` of ``separated [frames]``; ``consistent_outputs``). Done
    after the plan, which was chosen on the outputs as the separator gave them."""
    if outputs is None:
        return
    for a, b in separator_spans(separated, x16.shape[-1]):
        outputs[:, a:b] = consistent_outputs(x16[a:b], outputs[:, a:b], RATE)


def speech_frames(x16: np.ndarray) -> np.ndarray:
    """Where the 16 kHz mixture holds speech: bool ``[frames]`` on the HOP grid. The speech
    found reading the recording forwards, and the speech that only its backward read finds."""
    from separation_core.conversation.activity import (
        add_missed,
        backward_probability,
        speech_probability,
        speech_regions,
    )

    probs, frame_seconds = speech_probability(x16, RATE)
    backward = speech_regions(backward_probability(x16, RATE), frame_seconds)
    vad = add_missed(speech_regions(probs, frame_seconds), backward)
    n_frames = int(np.ceil(x16.shape[-1] / (HOP * RATE)))
    at = np.minimum((np.arange(n_frames) * HOP / frame_seconds).astype(int), len(vad) - 1)
    return vad[at]


def _drop_short(mask: np.ndarray, frames: int) -> np.ndarray:
    out = mask.copy()
    for a, b in runs_of(mask):
        if b - a < frames:
            out[a:b] = False
    return out


def _windows(solo: np.ndarray) -> list[tuple[int, int]]:
    """Embedding windows (frame spans) covering the stretches of ``solo [frames]``."""
    size = int(round(WINDOW_SECONDS / HOP))
    step = int(round(WINDOW_HOP_SECONDS / HOP))
    shortest = int(round(MIN_WINDOW_SECONDS / HOP))
    spans = []
    for a, b in runs_of(solo):
        if b - a < shortest:
            continue
        if b - a <= size:
            spans.append((a, b))
            continue
        starts = list(range(a, b - size + 1, step))
        if starts[-1] + size < b:
            starts.append(b - size)
        spans += [(s, s + size) for s in starts]
    return spans


def _solo_labels(
    n_frames: int, solo: np.ndarray, spans: list, similarity: np.ndarray
) -> np.ndarray:
    """A person per frame where one person talks (-1 elsewhere): the person whose centroid the
    windows covering the frame resemble most on average; frames no window covers take the
    nearest covered frame's person within their stretch."""
    n_people = similarity.shape[1]
    score = np.zeros((n_frames, n_people))
    count = np.zeros(n_frames)
    for (a, b), sim in zip(spans, similarity):
        score[a:b] += sim
        count[a:b] += 1
    labels = np.where(count > 0, score.argmax(1), -1)
    for a, b in runs_of(solo):
        covered = np.flatnonzero(labels[a:b] >= 0)
        if covered.size:
            idx = np.arange(a, b)
            nearest = covered[np.abs(idx[:, None] - (a + covered)[None, :]).argmin(1)]
            labels[a:b] = labels[a + nearest]
    return np.where(solo, labels, -1)


def _solo_vectors(encoder, wav16: np.ndarray, spans: list):
    """The recording's voice space and the joint vectors ``[W, dim]`` of its solo windows."""
    hop = int(HOP * RATE)
    embeddings = _embed_spans(encoder, wav16, spans)
    profiles = np.stack([profile(wav16[a * hop : b * hop]) for a, b in spans])
    space = VoiceSpace.of(embeddings, profiles)
    return space, space.vectors(embeddings, profiles)


def _embed_spans(encoder, wav16: np.ndarray, spans: list) -> np.ndarray:
    """Embeddings ``[len(spans), dim]`` of frame spans of ``wav16``: the full-size windows in one
    batch, the shorter stretches one by one."""
    hop = int(HOP * RATE)
    size = int(round(WINDOW_SECONDS / HOP))
    full = [i for i, (a, b) in enumerate(spans) if b - a == size]
    out = np.zeros((len(spans), 256), dtype=np.float32)
    if full:
        starts = np.array([spans[i][0] * hop for i in full])
        out[full] = encoder.embed_windows(wav16, starts, size * hop)
    for i, (a, b) in enumerate(spans):
        if b - a != size:
            out[i] = encoder.embed_segment(wav16[a * hop : b * hop])
    return out


def split_voices(x16: np.ndarray, talks: np.ndarray, solo: np.ndarray, encoder) -> np.ndarray:
    """A second clustering of one person: their windows where they talk alone (``solo
    [frames]`` of the 16 kHz mixture ``x16``) clustered in one or two, in a voice space of their
    own, as people are counted -> ``labels [frames]``: 0 or 1 where they talk (``talks
    [frames]``; a frame that no window labels takes the nearest labelled frame's; all 0 where one
    voice is found), -1 elsewhere, 0 the voice heard first. CocktailError when they say too
    little alone to tell two voices apart."""
    alone = solo & talks
    if len(_windows(alone)) < 2:
        raise CocktailError(
            f"too little speech alone to tell two voices apart (under "
            f"{WINDOW_SECONDS + WINDOW_HOP_SECONDS:g} s in stretches of {MIN_WINDOW_SECONDS:g} s "
            "or more)"
        )
    labels = find_people(x16, alone, np.zeros_like(alone), encoder, SpeakerCount(1, 2)).labels
    known = np.flatnonzero(labels >= 0)
    if not known.size:
        raise CocktailError("no stretch of speech alone to cluster")
    at = np.flatnonzero(talks)
    nearest = known[np.clip(np.searchsorted(known, at), 0, known.size - 1)]
    before = known[np.clip(np.searchsorted(known, at) - 1, 0, known.size - 1)]
    nearest = np.where(np.abs(before - at) < np.abs(nearest - at), before, nearest)
    out = np.full(len(talks), -1, dtype=np.int64)
    out[at] = labels[nearest]
    return out


@dataclass(frozen=True)
class SoloPeople:
    """Who talks alone where: ``labels [frames]`` a person (-1 where nobody talks alone), the
    ``people`` clustered from the solo windows and the recording's voice ``space`` (None when no
    stretch was long enough to embed)."""

    labels: np.ndarray
    people: People
    space: Optional[VoiceSpace]

    @property
    def n_people(self) -> int:
        return max(1, self.people.count)


def find_people(
    mixture16: np.ndarray,
    speech: np.ndarray,
    overlap: np.ndarray,
    encoder,
    count: SpeakerCount,
    judge=None,
) -> SoloPeople:
    """The people of the 16 kHz mixture from its solo frames (``speech & ~overlap``, bool
    ``[frames]``): their windows embedded with ``encoder`` and clustered with ``count``, each solo
    frame labelled. When the count is not given, the ``judge``'s embeddings of the windows
    (default ``SpeakerEncoder.judge()``, which ``people.SAME_PERSON_RATIO`` was set for) decide
    which clusters are one person."""
    solo = speech & ~overlap
    spans = _windows(solo)
    if not spans:
        return SoloPeople(
            np.where(solo, 0, -1), People(np.zeros(0, np.int64), np.zeros((1, 1))), None
        )
    space, vectors = _solo_vectors(encoder, mixture16, spans)
    weights = np.array([(b - a) * HOP for a, b in spans])
    judged = None
    if count.exact is None:
        if judge is None:
            from separation_core.conversation.speakers import SpeakerEncoder

            judge = SpeakerEncoder.judge()
        judged = _embed_spans(judge, mixture16, spans)
    people = cluster_people(vectors, count, weights, judged)
    labels = _solo_labels(len(speech), solo, spans, vectors @ people.centroids.T)
    return SoloPeople(labels, people, space)


def handovers(
    labels: np.ndarray, speech: np.ndarray, overlap: np.ndarray
) -> list[tuple[int, int, int, int]]:
    """Frame runs ``(a, b, before, after)`` around each change from one person's solo frames to
    another's with no pause between: at most HANDOVER_GAP_SECONDS of speech that nobody was
    given, or a detected ``overlap``, between them. Each run reaches HANDOVER_SECONDS beyond each
    side's last solo frame, ending where a pause, another overlap or a third person's frames
    begin; two runs that would meet split the frames between them. Most of the overlaps the
    detector misses are there: the next person starts before the last one ends."""
    gap = int(round(HANDOVER_GAP_SECONDS / HOP))
    reach = int(round(HANDOVER_SECONDS / HOP))
    free = speech & ~overlap
    known = np.flatnonzero(labels >= 0)
    out = []
    for i, j in zip(known[:-1], known[1:]):
        between = slice(i + 1, j)
        if labels[i] == labels[j] or not speech[between].all():
            continue
        if (~overlap[between]).sum() > gap:
            continue
        a = i
        while a > max(0, i - reach) and free[a - 1] and labels[a - 1] in (-1, labels[i]):
            a -= 1
        b = j + 1
        while b < min(len(free), j + 1 + reach) and free[b] and labels[b] in (-1, labels[j]):
            b += 1
        if out and out[-1][1] > a:  # two handovers close together share the stretch between
            middle = (a + out[-1][1]) // 2
            out[-1] = (out[-1][0], middle) + out[-1][2:]
            a = middle
        out.append((int(a), int(b), int(labels[i]), int(labels[j])))
    return out


def handover_frames(runs: list, n_frames: int) -> np.ndarray:
    """bool ``[n_frames]``: the frames of ``handovers`` runs."""
    out = np.zeros(n_frames, dtype=bool)
    for a, b, _, _ in runs:
        out[a:b] = True
    return out


def plan_people(
    mixture16: np.ndarray,
    outputs16: Optional[np.ndarray],
    speech: np.ndarray,
    overlap: np.ndarray,
    encoder,
    found: SoloPeople,
    handover_runs: list = (),
) -> tuple[Plan, People, np.ndarray]:
    """The per-frame plan of who takes which signal -> (plan, people, separated [frames]): each
    person the mixture where ``found`` labels them alone; in a ``handover_runs`` run the two
    people of the handover take one of the separator's two loudest ``outputs16 [S, T]`` each,
    where the outputs resemble one each and each carries its person where they talk alone
    (``_carry_their_sides``; else the run is left to what follows); in the rest of an
    ``overlap`` run each of the two loudest outputs goes to the person it resembles (where both
    resemble one person, to the two people they carry in the context around the run, ``_carriers``;
    else, where one resembles that person far less clearly than the other, to that person and the
    next, ``_second_voice``; else the run is that person's alone); turns given the mixture end
    TURN_TRIM_SECONDS inside each stretch of ``speech``; a person's pauses of
    PAUSE_BRIDGE_SECONDS or less are theirs. ``separated`` marks where outputs are used."""
    n_frames = speech.shape[0]
    hop = int(HOP * RATE)
    overlap = overlap.copy()
    people, space = found.people, found.space
    n_people = found.n_people
    source = np.full((n_people, n_frames), SILENT, dtype=np.int64)
    for p in range(n_people):
        source[p, found.labels == p] = MIXTURE

    def loudest_two(a: int, b: int):
        """The two loudest outputs over frames [a, b) and their voice vectors ``[2, dim]``."""
        outs = np.argsort(_frame_energy(outputs16[:, a * hop : b * hop], b - a).sum(1))[-2:]
        pieces = [outputs16[j, a * hop : b * hop] for j in outs]
        vectors = space.vectors(
            np.stack([encoder.embed_segment(x) for x in pieces]),
            np.stack([profile(x) for x in pieces]),
        )
        return outs, vectors

    taken = np.zeros(n_frames, dtype=bool)
    for a, b, before, after in handover_runs:
        outs, vectors = loudest_two(a, b)
        similarity = vectors @ people.centroids[[before, after]].T  # [2 outputs, 2 people]
        first = int(similarity[:, 0].argmax())
        prefers = similarity[[first, 1 - first], [0, 1]] - similarity[[first, 1 - first], [1, 0]]
        if prefers.min() <= HANDOVER_MARGIN:
            continue  # both outputs sound like one of them: the separator found no second voice
        if not _carry_their_sides(
            outputs16, outs[[first, 1 - first]], found.labels, overlap, a, b, (before, after)
        ):
            continue  # one output carries both people, one after the other: no second voice
        source[:, a:b] = SILENT
        source[before, a:b] = outs[first]
        source[after, a:b] = outs[1 - first]
        taken[a:b] = True
    for a, b in runs_of(overlap & ~taken):
        if n_people == 1:
            source[0, a:b] = MIXTURE
            continue
        outs, vectors = loudest_two(a, b)
        similarity = vectors @ people.centroids.T  # [2 outputs, people]
        nearest = similarity.argmax(1)
        if nearest[0] == nearest[1]:
            carried = _carriers(outputs16, outs, found.labels, overlap, a, b)
            if len(carried) == 2:  # each output goes on carrying a person it held next to the run
                for j, p in carried.items():
                    source[p, a:b] = outs[j]
                continue
            second = _second_voice(similarity, _levels_db(outputs16, outs, mixture16, a, b))
            if second is not None:
                for j, p in enumerate(second):
                    source[p, a:b] = outs[j]
                continue
            # one voice the separator split in two: not an overlap
            overlap[a:b] = False
            source[nearest[0], a:b] = MIXTURE
            continue
        rows, cols = linear_sum_assignment(-similarity)
        for r, c in zip(rows, cols):
            source[c, a:b] = outs[r]
    overlap |= taken
    _silence_quiet_outputs(source, outputs16, mixture16, found.labels)
    _trim_turns(source, speech, int(round(TURN_TRIM_SECONDS / HOP)))
    _bridge_pauses(source, int(round(PAUSE_BRIDGE_SECONDS / HOP)))
    return Plan(source, HOP), people, overlap


def _carry_their_sides(
    outputs16: np.ndarray, outs, labels: np.ndarray, overlap: np.ndarray, a: int, b: int, people
) -> bool:
    """Whether, over frames [a, b), the energy of each of ``people`` (two)'s own output
    ``outputs16[outs[i]]`` is above HANDOVER_CARRIER_DB (dB) relative to the other output's, on
    the frames labelled theirs alone (``labels [frames]``, outside ``overlap``); a side with
    under CARRIER_MIN_SECONDS of such frames is not checked."""
    hop = int(HOP * RATE)
    energy = _frame_energy(outputs16[list(outs), a * hop : b * hop], b - a)
    alone = _energy_alone(energy, np.where(overlap[a:b], -1, labels[a:b]))
    for i, person in enumerate(people):
        if person in alone:
            own, other = alone[person][0][[i, 1 - i]]
            if own <= other * 10 ** (HANDOVER_CARRIER_DB / 10):
                return False
    return True


def _carriers(
    outputs16: np.ndarray, outs, labels: np.ndarray, overlap: np.ndarray, a: int, b: int
) -> dict[int, int]:
    """index in ``outs`` -> person, for an overlap run on frames [a, b): which of the separator's
    outputs ``outputs16[outs]`` (``outputs16 [S, T]``) carries which person in the context the
    separator read around the run (the solo ``labels [frames]`` within SEPARATION_CONTEXT_SECONDS,
    outside ``overlap``), where one clearly does. A separator keeps a voice in one output across
    its input, so that output carries the person in the overlap too. Where one output carries two
    people, the one with more frames there."""
    hop = int(HOP * RATE)
    ctx = int(round(SEPARATION_CONTEXT_SECONDS / HOP))
    lo, hi = max(0, a - ctx), min(len(labels), b + ctx)
    near = labels[lo:hi].copy()
    near[a - lo : b - lo] = -1
    near[overlap[lo:hi]] = -1
    energy = _frame_energy(outputs16[outs, lo * hop : hi * hop], hi - lo)
    carried: dict[int, tuple[int, int]] = {}
    for p, (e, frames) in _energy_alone(energy, near).items():
        if e.max() <= 0 or e.max() < e.min() * 10 ** (CARRIER_DB / 10):
            continue
        j = int(e.argmax())
        if j not in carried or frames > carried[j][1]:
            carried[j] = (p, frames)
    return {j: p for j, (p, _) in carried.items()}


def _levels_db(outputs16: np.ndarray, outs, mixture16: np.ndarray, a: int, b: int) -> np.ndarray:
    """``[len(outs)]`` the energy of each of ``outputs16[outs]`` over frames [a, b) relative to
    the mixture's, in dB (sliced first: the outputs span the whole recording)."""
    hop = int(HOP * RATE)
    own = (np.asarray(outputs16[:, a * hop : b * hop][list(outs)], np.float64) ** 2).sum(-1)
    mix = (np.asarray(mixture16[a * hop : b * hop], np.float64) ** 2).sum()
    return 10 * np.log10(np.maximum(own, 1e-12) / max(mix, 1e-12))


def _second_voice(similarity: np.ndarray, levels_db: np.ndarray) -> Optional[tuple[int, int]]:
    """The person of each of two outputs in an overlap whose outputs both resemble one person
    most (``similarity [2 outputs, people]``, ``levels_db [2]`` against the mixture), where the
    one that resembles them less clearly (margin over the next person, below SECOND_VOICE_RATIO
    of the other's) is a second voice: that one goes to its next person. None where it is not
    (one voice the separator split) or an output is SECOND_VOICE_FLOOR_DB below the mixture."""
    person = int(similarity[0].argmax())
    others = [p for p in range(similarity.shape[1]) if p != person]
    if not others or levels_db.min() < -SECOND_VOICE_FLOOR_DB:
        return None
    margins = similarity[:, person] - similarity[:, others].max(1)
    weak = int(margins.argmin())
    if margins[weak] >= SECOND_VOICE_RATIO * margins[1 - weak]:
        return None
    out = [person, person]
    out[weak] = others[int(similarity[weak, others].argmax())]
    return out[0], out[1]


def _energy_alone(energy: np.ndarray, alone: np.ndarray) -> dict[int, tuple[np.ndarray, int]]:
    """person -> (the outputs' ``energy [outputs, frames]`` summed over the frames that ``alone
    [frames]`` gives that person ``[outputs]``, how many frames), for each person with
    CARRIER_MIN_SECONDS or more of them (-1 in ``alone``: nobody's)."""
    out = {}
    for p in np.unique(alone[alone >= 0]):
        at = alone == p
        if at.sum() >= CARRIER_MIN_SECONDS / HOP:
            out[int(p)] = (energy[:, at].sum(1), int(at.sum()))
    return out


def _trim_turns(source: np.ndarray, speech: np.ndarray, frames: int) -> None:
    """In place: SILENT where a person takes the mixture within ``frames`` of either end of a
    stretch of ``speech [frames]`` (not at the recording's ends, which cut the pad already)."""
    for a, b in runs_of(speech):
        edges = ([slice(a, a + frames)] if a > 0 else []) + (
            [slice(max(b - frames, a), b)] if b < speech.shape[0] else []
        )
        for edge in edges:
            part = source[:, edge]
            part[part == MIXTURE] = SILENT


def _bridge_pauses(source: np.ndarray, frames: int) -> None:
    """In place: where nobody talks for at most ``frames`` frames between two stretches of the
    same person talking alone, that person takes the mixture: one turn, not two, and their stem
    keeps the room's sound of their own voice between words."""
    talking = source != SILENT
    anyone = talking.any(axis=0)
    for a, b in runs_of(~anyone):
        if b - a > frames or a == 0 or b == source.shape[1]:
            continue
        before, after = np.flatnonzero(talking[:, a - 1]), np.flatnonzero(talking[:, b])
        if len(before) == 1 and before.tolist() == after.tolist():
            source[before[0], a:b] = MIXTURE


def _silence_quiet_outputs(
    source: np.ndarray, outputs16, mixture16: np.ndarray, labels: Optional[np.ndarray] = None
) -> None:
    """In place: SILENT where a person's separated output stays QUIET_OUTPUT_DB below the
    mixture for QUIET_MIN_SECONDS or more, or QUIET_BESIDE_SOLO_DB below it where the solo
    ``labels [frames]`` say another person talks alone (they are not talking there: what their
    output holds is the separator's leak of the others)."""
    hop = int(HOP * RATE)
    shortest = int(round(QUIET_MIN_SECONDS / HOP))
    for p in range(source.shape[0]):
        for a, b in runs_of(source[p] >= 0):
            mix = _frame_energy(mixture16[a * hop : b * hop], b - a)
            own = np.zeros(b - a)
            for j in np.unique(source[p, a:b]):
                at = source[p, a:b] == j
                own[at] = _frame_energy(outputs16[j, a * hop : b * hop], b - a)[at]
            quiet = own < mix * 10 ** (-QUIET_OUTPUT_DB / 10)
            if labels is not None:
                another = (labels[a:b] >= 0) & (labels[a:b] != p)
                quiet |= another & (own < mix * 10 ** (-QUIET_BESIDE_SOLO_DB / 10))
            for lo, hi in runs_of(quiet):
                if hi - lo >= shortest:
                    source[p, a + lo : a + hi] = SILENT


@dataclass(frozen=True)
class FoundTalk:
    """Who talks when, as found before the separator runs (HOP frames at 16 kHz): ``speech``
    and ``overlap`` bool ``[frames]``, the people ``found`` where one talks alone, the
    ``handover_runs``; ``n_samples`` at 16 kHz; ``denoised`` when found in a denoiser's output.
    Another separator can take over from here (``separate_conversation(..., found=)``): the
    same people and the same spans separated."""

    speech: np.ndarray
    overlap: np.ndarray
    found: SoloPeople
    handover_runs: list
    n_samples: int
    denoised: bool = False

    @property
    def separated(self) -> np.ndarray:
        """bool ``[frames]``: where the separator runs (the overlaps and the handovers)."""
        return self.overlap | handover_frames(self.handover_runs, len(self.speech))


def separate_conversation(
    model,
    mixture: np.ndarray,
    sample_rate: int,
    options: ConversationOptions = ConversationOptions(),
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
    found: Optional[FoundTalk] = None,
) -> SeparationResult:
    """``mixture [time]`` at ``sample_rate`` -> a SeparationResult with one stem per person
    (``waveforms [people, time]``), ``turns`` (who talks when), ``people`` and ``found_talk``.
    With ``found`` (a result's ``found_talk`` on the same mixture, found without a denoiser),
    who talks when is taken from it and only ``model`` runs: the same spans, a new plan."""
    from separation_core.conversation.speakers import SpeakerEncoder

    t0 = time.perf_counter()
    x = np.asarray(mixture, dtype=np.float32)
    if found is not None and (found.denoised or options.engine.denoiser is not None):
        raise ValueError("who talks when is taken over on the mixture as it is, not denoised")
    if options.engine.denoiser is not None:  # a first stage: people are found in its speech
        report(progress, 0.0, "denoising")
        x = denoise_first(options.engine.denoiser, x, sample_rate, options.engine, cancel=cancel)
    x16 = resample(x, sample_rate, RATE) if sample_rate != RATE else x
    if found is not None and found.n_samples != x16.shape[-1]:
        raise ValueError(
            f"who talks when was found on {found.n_samples} samples at 16 kHz, not "
            f"{x16.shape[-1]}: another recording"
        )
    with cancel_scope(cancel):
        if found is None:
            report(progress, 0.0, "voice activity")
            speech = speech_frames(x16)
            no_speech = speech.sum() * HOP < MIN_SPEECH_SECONDS
            if no_speech and not options.model_outputs_without_speech:
                raise CocktailError(
                    f"no speech found (under {MIN_SPEECH_SECONDS:g} s): nothing to separate into "
                    "people; --mode model runs the model on it anyway"
                )
            report(progress, 0.03, "overlapped speech")
            overlap = overlap_frames(x16, speech, options.overlap_threshold)
            return_freed_memory()  # the detector's features: the stages' peaks do not add up
            check_cancel(cancel)
        else:
            speech, overlap, no_speech = found.speech, found.overlap, False
        t_vad = time.perf_counter()

        def sep_progress(fraction: float, stage: str) -> None:
            report(progress, 0.1 + 0.78 * fraction, f"separating: {stage}")

        engine = EngineOptions(
            chunk_seconds=options.engine.chunk_seconds,
            overlap_seconds=options.engine.overlap_seconds,
            device=options.engine.device,
            run=options.engine.run,
            keep_masks=False,
            max_embedding_points=0,
            speaker_order=False,
            input_notes=False,
        )
        if no_speech:  # the model's own outputs over the recording, with masks as in model mode
            whole = replace(
                engine,
                speaker_order=True,
                keep_masks=options.engine.keep_masks,
                max_embedding_points=options.engine.max_embedding_points,
            )
            separated = separate(model, x16, RATE, whole, progress=sep_progress, cancel=cancel)
            note = f"no speech found (under {MIN_SPEECH_SECONDS:g} s): the model's outputs are kept"
            return _model_result(separated, x, sample_rate, note, progress)
        if found is None:
            report(progress, 0.05, "who talks when")
            people_found = find_people(
                x16, speech, overlap, SpeakerEncoder.shared(), options.speakers
            )
            return_freed_memory()  # the mel frames and the many small buffers of the embeddings
            runs = handovers(people_found.labels, speech, overlap)
            denoised = options.engine.denoiser is not None
            found = FoundTalk(speech, overlap, people_found, runs, x16.shape[-1], denoised)
        separated = found.separated
        t_people = time.perf_counter()
        keeper = (
            MaskKeeper(options.engine.max_embedding_points) if options.engine.keep_masks else None
        )
        reads = [[a / RATE, b / RATE] for a, b in separator_spans(separated, x16.shape[-1])]
        outputs16, engine_notes = separate_overlaps(
            model, x16, separated, engine, sep_progress, cancel, keeper
        )
        t_sep = time.perf_counter()
        report(progress, 0.88, "who takes which voice")
        plan, people, overlap = plan_people(
            x16,
            outputs16,
            speech,
            overlap,
            SpeakerEncoder.shared(),
            found.found,
            found.handover_runs,
        )
        return_freed_memory()  # the embeddings' buffers again, before the stems are made
        add_up_in_spans(x16, outputs16, separated)
        return_freed_memory()  # its buffers, span by span
        t_assign = time.perf_counter()
        report(progress, 0.92, "assembling the stems")
        stems16 = assemble(x16, RATE, plan, separated=outputs16)
    stems = resample(stems16, RATE, sample_rate) if sample_rate != RATE else stems16
    stems = fit_length(stems, x.shape[-1])
    turns = turns_from_activity(plan.active(), 1.0 / HOP)
    notes = engine_notes + _people_notes(plan)
    kept = keeper.result() if keeper is not None else None
    views = views_of_plan(plan.source, range(plan.n_people), plan.n_people, HOP, kept, np.float32)
    result = SeparationResult(
        waveforms=stems.astype(np.float32, copy=False),
        sample_rate=int(sample_rate),
        model_name=model.name,
        **views,
        separator_reads=reads,
        plan_masks=kept,
        found_talk=found,
        notes=notes,
        turns=turns,
        people=[f"Person {k + 1}" for k in range(plan.n_people)],
        separated_spans=[[a * HOP, b * HOP] for a, b in runs_of(overlap)],
        plan_source=plan.source,
        plan_hop=plan.hop,
        plan_outputs=outputs16,
        plan_rate=RATE,
        timings={
            "activity": t_vad - t0,
            "people": (t_people - t_vad) + (t_assign - t_sep),
            "separate": t_sep - t_people,
            "assemble": time.perf_counter() - t_assign,
            "total": time.perf_counter() - t0,
        },
    )
    report(progress, 1.0, "done")
    return result


def _model_result(
    separated: SeparationResult, x: np.ndarray, sample_rate: int, note: str, progress
) -> SeparationResult:
    """The model's own outputs (at the input's rate and length), noted."""
    waves = separated.waveforms
    waves = resample(waves, RATE, sample_rate) if sample_rate != RATE else waves
    separated.waveforms = fit_length(waves, x.shape[-1]).astype(np.float32, copy=False)
    separated.sample_rate = int(sample_rate)
    separated.notes = list(separated.notes) + [note]
    report(progress, 1.0, "done")
    return separated


def _people_notes(plan: Plan) -> list[str]:
    """One voice found; people who talk so little that they may not be there."""
    if plan.n_people == 1:
        return ["one voice found: one stem"]
    talk = plan.active().sum(1) * HOP
    shortest = max(MIN_PERSON_SECONDS, MIN_PERSON_SHARE * talk.sum())
    quiet = [f"Person {k + 1} ({talk[k]:.1f} s)" for k in np.flatnonzero(talk < shortest)]
    if not quiet:
        return []
    return [
        f"little speech for {', '.join(quiet)}: the recording may hold fewer people than "
        f"the {plan.n_people} found"
    ]
