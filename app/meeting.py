"""A conversation result corrected by hand: who talks when, the people's names, and the stems that
follow, with undo and redo. Plain Python (no Qt).

The stems come from a plan (``separation_core.conversation.assembly``): per frame, the signal each
plan row takes (silence, the mixture, or separated output ``j``). A person owns one or more rows
and their stem is the sum of their rows' stems, so a merge moves rows and leaves every sample as it
was (the merged stem is the sum of the two), and a stretch moved to someone who already talks there
goes to another row of theirs. A correction is a pure function of the plan (``Correction.apply``)
that also says which frames changed; the ``Meeting`` re-assembles only the samples those frames
reach (``assembly.affected_samples``), from the mixture and the separator's outputs the result
kept: no new separation. Undo puts back the samples it saved, to the last one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
from scipy.optimize import linear_sum_assignment

from separation_core.conversation.assembly import (
    MIXTURE,
    SILENT,
    Plan,
    affected_samples,
    assemble,
    assemble_span,
)
from separation_core.conversation.masks import SpanMasks, views_of_plan
from separation_core.conversation.turns import runs_of, turns_from_activity
from separation_core.errors import CocktailError
from separation_core.io.rttm import Turn


class CorrectionError(CocktailError):
    """A correction that cannot be made (one line saying why)."""


def clock(seconds: float) -> str:
    """``75.25 -> "1:15.2"``: times in the corrections' messages."""
    m, s = divmod(max(0.0, seconds), 60.0)
    return f"{int(m)}:{s:04.1f}"


@dataclass(frozen=True)
class WhoTalks:
    """Plan ``rows [rows, frames]`` int (SILENT, MIXTURE or a separated output's index) on frames
    of ``hop`` s; ``owner[r]`` the person of row r; ``names`` one per person."""

    rows: np.ndarray
    owner: tuple
    names: tuple
    hop: float

    @classmethod
    def of_plan(cls, source: np.ndarray, hop: float, names) -> WhoTalks:
        """One row per person of an engine plan ``source [people, frames]``."""
        source = np.asarray(source, dtype=np.int64)
        names = tuple(names) or tuple(f"Person {k + 1}" for k in range(source.shape[0]))
        return cls(source.copy(), tuple(range(source.shape[0])), names, float(hop))

    @property
    def n_people(self) -> int:
        return len(self.names)

    @property
    def n_frames(self) -> int:
        return int(self.rows.shape[1])

    def rows_of(self, person: int) -> list[int]:
        return [r for r, p in enumerate(self.owner) if p == person]

    def active(self) -> np.ndarray:
        """Who talks per frame: bool ``[people, frames]``."""
        out = np.zeros((self.n_people, self.n_frames), dtype=bool)
        for r, p in enumerate(self.owner):
            out[p] |= self.rows[r] != SILENT
        return out

    def turns(self) -> list[Turn]:
        return turns_from_activity(self.active(), 1.0 / self.hop)

    def frame(self, seconds: float) -> int:
        return int(np.clip(round(seconds / self.hop), 0, self.n_frames))

    def person(self, index: int) -> str:
        if not 0 <= index < self.n_people:
            raise CorrectionError(
                f"there is no person {index + 1} (the meeting has {self.n_people})"
            )
        return self.names[index]

    def new_name(self) -> str:
        k = self.n_people + 1
        while f"Person {k}" in self.names:
            k += 1
        return f"Person {k}"


@dataclass(frozen=True)
class Outcome:
    """A correction's new plan, the frames ``[first, stop)`` whose signals changed (None: no
    sample changes) and its description (for the sidecar and the Edit menu)."""

    plan: WhoTalks
    frames: Optional[tuple]
    description: dict


# --- the corrections ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Merge:
    """Person ``absorbed`` becomes person ``kept`` (their rows and turns); the stem is the sum."""

    kept: int
    absorbed: int

    def apply(self, plan: WhoTalks) -> Outcome:
        kept, gone = plan.person(self.kept), plan.person(self.absorbed)
        if self.kept == self.absorbed:
            raise CorrectionError(f"{kept} cannot be merged with themselves: pick another person")

        def renumber(p: int) -> int:
            p = self.kept if p == self.absorbed else p
            return p - 1 if p > self.absorbed else p

        owner = tuple(renumber(p) for p in plan.owner)
        names = tuple(n for k, n in enumerate(plan.names) if k != self.absorbed)
        new = replace(plan, owner=owner, names=names)
        return Outcome(new, None, {"correction": "merge", "person": gone, "into": kept})


@dataclass(frozen=True)
class Move:
    """Person ``person``'s speech in ``[start, end)`` s goes to person ``to`` (None: a new one)."""

    person: int
    start: float
    end: float
    to: Optional[int] = None

    def apply(self, plan: WhoTalks) -> Outcome:
        name = plan.person(self.person)
        f0, f1 = _stretch(plan, self.person, self.start, self.end)
        if self.to == self.person:
            raise CorrectionError(f"that stretch is already {name}'s: pick another person")
        target = plan.n_people if self.to is None else self.to
        to_name = plan.new_name() if self.to is None else plan.person(self.to)
        rows, owner = plan.rows.copy(), list(plan.owner)
        for r in plan.rows_of(self.person):
            cells = rows[r, f0:f1].copy()
            moving = cells != SILENT
            if not moving.any():
                continue
            for q in [q for q, p in enumerate(owner) if p == target]:
                theirs = rows[q, f0:f1]
                if np.all((theirs == SILENT) | (theirs == cells) | ~moving):
                    theirs[moving] = cells[moving]  # the same signal twice is heard once
                    break
            else:  # they talk there already, with another signal: a row of their own
                row = np.full((1, plan.n_frames), SILENT, dtype=rows.dtype)
                row[0, f0:f1] = np.where(moving, cells, SILENT)
                rows = np.vstack([rows, row])
                owner.append(target)
            rows[r, f0:f1][moving] = SILENT
        names = plan.names + ((to_name,) if self.to is None else ())
        new = WhoTalks(rows, tuple(owner), names, plan.hop)
        return Outcome(
            new,
            (f0, f1),
            {
                "correction": "move",
                "person": name,
                "start": round(f0 * plan.hop, 3),
                "end": round(f1 * plan.hop, 3),
                "to": to_name,
            },
        )


@dataclass(frozen=True)
class SplitAt:
    """Person ``person``'s speech from ``time`` s on goes to a new person."""

    person: int
    time: float

    def apply(self, plan: WhoTalks) -> Outcome:
        name = plan.person(self.person)
        talks = np.flatnonzero(plan.active()[self.person])
        f = plan.frame(self.time)
        if not talks.size or talks[-1] < f:
            raise CorrectionError(f"{name} says nothing after {clock(self.time)}: nothing to split")
        if talks[0] >= f:
            raise CorrectionError(
                f"{name} says nothing before {clock(self.time)}: a split there leaves them silent"
            )
        outcome = Move(self.person, f * plan.hop, (talks[-1] + 1) * plan.hop).apply(plan)
        return replace(
            outcome,
            description={
                "correction": "split",
                "person": name,
                "at": round(f * plan.hop, 3),
                "new": outcome.plan.names[-1],
            },
        )


@dataclass(frozen=True, eq=False)
class SplitVoices:
    """Person ``person``'s speech at the plan frames ``moved [frames]`` (bool: where a second
    clustering of their stretches heard another voice, ``pipeline.split_voices``) goes to a new
    person."""

    person: int
    moved: np.ndarray

    def apply(self, plan: WhoTalks) -> Outcome:
        name = plan.person(self.person)
        talks = plan.active()[self.person]
        moved = np.zeros(plan.n_frames, dtype=bool)
        given = np.asarray(self.moved, dtype=bool)[: plan.n_frames]
        moved[: len(given)] = given
        moved &= talks
        if not moved.any() or moved.sum() == talks.sum():
            raise CorrectionError(
                f"{name} sounds like one voice: a second clustering found no other to split off"
            )
        rows, owner = plan.rows.copy(), list(plan.owner)
        added = []
        for r in plan.rows_of(self.person):
            take = moved & (rows[r] != SILENT)
            if take.any():
                added.append(np.where(take, rows[r], SILENT))
                owner.append(plan.n_people)
                rows[r, take] = SILENT
        new_name = plan.new_name()
        new = WhoTalks(np.vstack([rows] + added), tuple(owner), plan.names + (new_name,), plan.hop)
        at = np.flatnonzero(moved)
        return Outcome(
            new,
            (int(at[0]), int(at[-1]) + 1),
            {
                "correction": "split by voice",
                "person": name,
                "new": new_name,
                "seconds": round(float(moved.sum() * plan.hop), 2),
            },
        )


@dataclass(frozen=True)
class Nobody:
    """Person ``person``'s ``[start, end)`` s is nobody's (noise): silent in their stem."""

    person: int
    start: float
    end: float

    def apply(self, plan: WhoTalks) -> Outcome:
        name = plan.person(self.person)
        f0, f1 = _stretch(plan, self.person, self.start, self.end)
        rows = plan.rows.copy()
        for r in plan.rows_of(self.person):
            rows[r, f0:f1] = SILENT
        return Outcome(
            replace(plan, rows=rows),
            (f0, f1),
            {
                "correction": "nobody",
                "person": name,
                "start": round(f0 * plan.hop, 3),
                "end": round(f1 * plan.hop, 3),
            },
        )


@dataclass(frozen=True)
class Rename:
    person: int
    name: str

    def apply(self, plan: WhoTalks) -> Outcome:
        old, name = plan.person(self.person), " ".join(str(self.name).split())
        if not name:
            raise CorrectionError(f"a name cannot be empty ({old} keeps theirs)")
        if name == old:
            raise CorrectionError(f"{old} is already called so")
        if name in plan.names:
            raise CorrectionError(f"another person is already called '{name}'")
        names = tuple(name if k == self.person else n for k, n in enumerate(plan.names))
        return Outcome(
            replace(plan, names=names), None, {"correction": "rename", "person": old, "to": name}
        )


@dataclass(frozen=True)
class ReplaceTurns:
    """Who talks when from elsewhere (an RTTM file): one row per person; where one person talks,
    the mixture; where several do, each takes the separated output of the person of the current
    plan they overlap most, where that person had one there, else the mixture."""

    turns: tuple
    names: tuple
    origin: str = ""

    def apply(self, plan: WhoTalks) -> Outcome:
        n_people = max([len(self.names)] + [t.speaker + 1 for t in self.turns])
        if not self.turns:
            raise CorrectionError(
                f"{self.origin or 'the turns'}: no turn to assemble the stems from"
            )
        active = np.zeros((n_people, plan.n_frames), dtype=bool)
        for t in self.turns:
            active[t.speaker, plan.frame(t.start) : plan.frame(t.end)] = True
        if not active.any():
            raise CorrectionError(
                f"{self.origin or 'the turns'}: every turn is shorter than a frame "
                f"({plan.hop * 1000:.0f} ms)"
            )
        rows = np.where(active, MIXTURE, SILENT).astype(np.int64)
        match = _matching(active, plan.active())
        overlap = active.sum(0) > 1
        outputs = _outputs_of_people(plan)
        for k in range(n_people):
            if match[k] < 0:
                continue
            theirs = outputs[match[k]]
            take = overlap & active[k] & (theirs >= 0)
            rows[k, take] = theirs[take]
        for f in np.flatnonzero(overlap):  # one output for one person only
            seen = set()
            for k in np.flatnonzero(rows[:, f] >= 0):
                if rows[k, f] in seen:
                    rows[k, f] = MIXTURE
                seen.add(int(rows[k, f]))
        names = tuple(
            self.names[k] if k < len(self.names) else f"Person {k + 1}" for k in range(n_people)
        )
        new = WhoTalks(rows, tuple(range(n_people)), names, plan.hop)
        return Outcome(
            new, (0, plan.n_frames), {"correction": "who talks when", "from": self.origin}
        )


def _stretch(plan: WhoTalks, person: int, start: float, end: float) -> tuple[int, int]:
    """The frames of ``[start, end)`` s, refused when empty or when ``person`` is silent there."""
    f0, f1 = plan.frame(min(start, end)), plan.frame(max(start, end))
    if f1 <= f0:
        raise CorrectionError(
            f"the stretch {clock(start)}-{clock(end)} is empty: select a stretch of at least "
            f"{plan.hop * 1000:.0f} ms"
        )
    if not plan.active()[person, f0:f1].any():
        raise CorrectionError(
            f"{plan.names[person]} does not talk between {clock(f0 * plan.hop)} and "
            f"{clock(f1 * plan.hop)}: nothing to change"
        )
    return f0, f1


def _matching(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """For each row of ``new [people, frames]``, the row of ``old`` it shares most frames with
    (one each, -1 for none)."""
    shared = new.astype(np.float64) @ old.T.astype(np.float64)
    match = np.full(new.shape[0], -1)
    if shared.size:
        rows, cols = linear_sum_assignment(-shared)
        for r, c in zip(rows, cols):
            if shared[r, c] > 0:
                match[r] = c
    return match


def _outputs_of_people(plan: WhoTalks) -> np.ndarray:
    """The separated output each person takes per frame (-1: none): ``[people, frames]``."""
    out = np.full((plan.n_people, plan.n_frames), -1, dtype=np.int64)
    for r, p in enumerate(plan.owner):
        row = plan.rows[r]
        out[p] = np.where((out[p] < 0) & (row >= 0), row, out[p])
    return out


# --- the editor --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Edit:
    """One applied correction: the plans before and after, and the row stems of samples
    ``span [start, stop)`` before and after (span None: no sample changed)."""

    description: dict
    before: WhoTalks
    after: WhoTalks
    span: Optional[tuple]
    samples_before: Optional[np.ndarray]
    samples_after: Optional[np.ndarray]

    @property
    def label(self) -> str:
        return describe(self.description)


def describe(d: dict) -> str:
    """A correction's description in words: "merge Person 2 into Person 1"."""
    kind = d["correction"]
    if kind == "merge":
        return f"merge {d['person']} into {d['into']}"
    if kind == "move":
        return f"move {d['person']} {clock(d['start'])}-{clock(d['end'])} to {d['to']}"
    if kind == "split":
        return f"split {d['person']} at {clock(d['at'])} ({d['new']})"
    if kind == "split by voice":
        return f"split {d['person']} by voice ({d['new']}: {d['seconds']:.1f} s)"
    if kind == "nobody":
        return f"{d['person']} {clock(d['start'])}-{clock(d['end'])} is nobody"
    if kind == "rename":
        return f"rename {d['person']} to {d['to']}"
    return f"who talks when from {d.get('from') or 'a file'}"


@dataclass(frozen=True)
class Change:
    """What an apply, undo or redo did: its label and the samples that changed (None: none)."""

    label: str
    span: Optional[tuple]


class Meeting:
    """The corrected stems of one conversation result: ``mixture [T]`` and the separator's
    ``outputs [S, T]`` (None: none kept) at ``sample_rate``, the plan, and ``row_stems [rows, T]``
    float32 (a person's stem: the sum of their rows')."""

    def __init__(
        self,
        mixture: np.ndarray,
        sample_rate: int,
        plan: WhoTalks,
        outputs: Optional[np.ndarray] = None,
        span_masks: Optional[SpanMasks] = None,
    ) -> None:
        self.mixture = np.asarray(mixture, dtype=np.float32)
        self.sample_rate = int(sample_rate)
        self.outputs = None if outputs is None else np.asarray(outputs, dtype=np.float32)
        # the separator's masks where it ran, in float16 (only drawn): the people's follow the plan
        self.span_masks = None if span_masks is None else span_masks.astype(np.float16)
        self.plan = plan
        self.row_stems = assemble(
            self.mixture, self.sample_rate, self._engine_plan(plan), self.outputs
        )
        self.done: list[Edit] = []
        self.undone: list[Edit] = []

    @classmethod
    def of_result(cls, result, mixture: np.ndarray) -> Meeting:
        """The meeting of a conversation result (``plan_source`` set) on ``mixture [T]`` at the
        result's rate; the separator's outputs are brought to that rate and length."""
        from separation_core.engine.inference import fit_length
        from separation_core.io.audio_io import resample

        if result.plan_source is None:
            raise CorrectionError(
                f"{result.model_name}: not a conversation result, no who talks when"
            )
        outputs = result.plan_outputs
        if outputs is not None:
            if result.plan_rate != result.sample_rate:
                outputs = resample(outputs, result.plan_rate, result.sample_rate)
            outputs = fit_length(outputs, np.asarray(mixture).shape[-1])
        plan = WhoTalks.of_plan(result.plan_source, result.plan_hop, result.people)
        return cls(mixture, result.sample_rate, plan, outputs, result.plan_masks)

    def _engine_plan(self, plan: WhoTalks) -> Plan:
        return Plan(plan.rows, plan.hop)

    # --- what it holds -------------------------------------------------------------------------
    def stems(self) -> np.ndarray:
        """``[people, T]`` float32: each person's rows summed."""
        out = np.zeros((self.plan.n_people, self.row_stems.shape[1]), dtype=np.float32)
        for r, p in enumerate(self.plan.owner):
            out[p] += self.row_stems[r]
        return out

    def turns(self) -> list[Turn]:
        return self.plan.turns()

    def corrections(self) -> list[dict]:
        """The corrections in force, oldest first (the sidecar's record)."""
        return [dict(e.description) for e in self.done]

    def separated_spans(self) -> list:
        """``[start, stop]`` seconds where someone takes a separated output."""
        used = (self.plan.rows >= 0).any(0)
        return [[a * self.plan.hop, b * self.plan.hop] for a, b in runs_of(used)]

    def views(self) -> dict:
        """The people's masks and embedding labels for the current plan (float16, as drawn;
        ``conversation.masks``)."""
        p = self.plan
        return views_of_plan(p.rows, p.owner, p.n_people, p.hop, self.span_masks, np.float16)

    def result(self, base):
        """``base`` (a SeparationResult) with the corrected stems, turns, people, plan, masks and
        embedding labels."""
        return replace(
            base,
            waveforms=self.stems(),
            turns=self.turns(),
            people=list(self.plan.names),
            separated_spans=self.separated_spans(),
            plan_source=None,
            plan_outputs=None,
            plan_masks=None,
            **self.views(),
        )

    def alone(self, person: int) -> tuple[np.ndarray, np.ndarray]:
        """Where ``person`` talks, and where they talk alone: bool ``[frames]`` each."""
        self.plan.person(person)
        active = self.plan.active()
        return active[person], active[person] & (active.sum(0) == 1)

    @property
    def can_undo(self) -> bool:
        return bool(self.done)

    @property
    def can_redo(self) -> bool:
        return bool(self.undone)

    # --- changes -------------------------------------------------------------------------------
    def apply(self, correction) -> Change:
        """Make ``correction`` (CorrectionError when it cannot be made; nothing changes then)."""
        outcome = correction.apply(self.plan)
        span = before = after = None
        if outcome.frames is not None:
            span = affected_samples(
                outcome.frames, self.plan.hop, self.sample_rate, self.row_stems.shape[1]
            )
            before = self.row_stems[:, span[0] : span[1]].copy()
            after = assemble_span(
                self.mixture,
                self.sample_rate,
                self._engine_plan(outcome.plan),
                self.outputs,
                *span,
            )
        edit = Edit(outcome.description, self.plan, outcome.plan, span, before, after)
        self._put(edit.after, edit.span, edit.samples_after)
        self.done.append(edit)
        self.undone = []
        return Change(edit.label, span)

    def undo(self) -> Optional[Change]:
        """Take back the last correction (None: nothing to undo)."""
        if not self.done:
            return None
        edit = self.done.pop()
        self._put(edit.before, edit.span, edit.samples_before)
        self.undone.append(edit)
        return Change(edit.label, edit.span)

    def redo(self) -> Optional[Change]:
        """Make the last undone correction again (None: nothing to redo)."""
        if not self.undone:
            return None
        edit = self.undone.pop()
        self._put(edit.after, edit.span, edit.samples_after)
        self.done.append(edit)
        return Change(edit.label, edit.span)

    def _put(self, plan: WhoTalks, span, samples) -> None:
        """The plan, and the row stems of ``span`` (rows added or dropped by a correction are
        silent outside its span)."""
        rows = plan.rows.shape[0]
        if self.row_stems.shape[0] != rows:
            resized = np.zeros((rows, self.row_stems.shape[1]), dtype=np.float32)
            keep = min(rows, self.row_stems.shape[0])
            resized[:keep] = self.row_stems[:keep]
            self.row_stems = resized
        if span is not None:
            self.row_stems[:, span[0] : span[1]] = samples
        self.plan = plan
