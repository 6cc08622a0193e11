"""The document: a mixture, optional reference sources, and the results of the models run on it.
Plain Python (no widgets); the views read it, the controllers change it.

The speaker order of each result (which output shows in which column, see ``Session.order``) is solved
once against the session's anchor (the references, else the first result), on full signals, by the
job that has them (separation, references loading, metrics) and stored here with the anchor it was
solved against; every view and the metrics use that one order."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np


@dataclass
class ResultRecord:
    key: str  # the model's catalog id; one result per model
    entry: Any  # separation_core.checkpoints.catalog.ModelEntry
    result: Any  # separation_core.models.result.SeparationResult
    options: dict  # run options as plain values (for the sidecar)
    seconds: float = 0.0  # wall time of the run
    evaluation: Any = None  # separation_core.evaluation.scoring.Evaluation once computed
    meeting: Any = None  # app.meeting.Meeting of a conversation result: its corrections
    adaptation: Optional[dict] = None  # the sidecar's "adaptation" entry (app.jobs.separation)

    @property
    def label(self) -> str:
        return self.key


def align_sources(estimates: np.ndarray, anchor: np.ndarray) -> list[int]:
    """PIT order of ``estimates [n_est, T]`` against ``anchor [n_anchor, T]``.

    Returns ``order`` of length ``max(n_est, n_anchor)``: column ``j`` shows estimate ``order[j]``
    (-1: none). Columns past ``n_anchor`` hold the estimates left over, in their own order. Solved on
    the full signals, as ``separation_core.evaluation.scoring.evaluate_separation`` does (so the first
    ``n_anchor`` entries are its permutation): run it off the GUI thread (the jobs in app.jobs do).
    """
    from separation_core.evaluation.metrics import pairwise_si_sdr, solve_permutation

    length = min(estimates.shape[1], anchor.shape[1])
    scores = pairwise_si_sdr(estimates[:, :length], anchor[:, :length])
    return order_from_permutation(solve_permutation(scores, maximize=True), estimates.shape[0])


def order_from_permutation(permutation, n_est: int) -> list[int]:
    """A metrics permutation (estimate per reference, -1: none) and the estimates left over."""
    perm = [int(p) for p in permutation]
    return perm + [k for k in range(n_est) if k not in perm]


@dataclass
class Session:
    path: Optional[Path] = None
    audio: Any = None  # separation_core.io.audio_io.Audio
    reference_paths: tuple = ()
    references: Optional[np.ndarray] = None  # [n_src, time] at the mixture's rate
    results: dict = field(default_factory=dict)  # key -> ResultRecord, in run order
    selected: Optional[str] = None
    exported: set = field(default_factory=set)  # keys whose stems were written since they ran
    _orders: dict = field(default_factory=dict)  # key -> (anchor token, order)
    _serials: dict = field(
        default_factory=dict
    )  # key -> serial of the result / "references" -> of them
    _serial: int = 0

    @property
    def loaded(self) -> bool:
        return self.audio is not None

    @property
    def sample_rate(self) -> int:
        return int(self.audio.sample_rate) if self.audio is not None else 0

    @property
    def mixture(self) -> Optional[np.ndarray]:
        return self.audio.samples if self.audio is not None else None

    @property
    def duration(self) -> float:
        return len(self.audio.samples) / self.audio.sample_rate if self.audio is not None else 0.0

    def set_mixture(self, audio, path: Optional[Path] = None) -> None:
        self.path = Path(path) if path else getattr(audio, "path", None)
        self.audio = audio
        self.reference_paths, self.references = (), None
        self.results.clear()
        self.selected = None
        self.exported.clear()
        self._orders.clear()
        self._serials.clear()

    def _next_serial(self, name: str) -> None:
        self._serial += 1
        self._serials[name] = self._serial

    def set_references(self, references: Optional[np.ndarray], paths=()) -> None:
        self.references = references
        self.reference_paths = tuple(str(p) for p in paths)
        for record in self.results.values():
            record.evaluation = None
        self._next_serial("references")
        self._orders.clear()

    def add_result(self, record: ResultRecord) -> None:
        self.results.pop(record.key, None)
        self.results[record.key] = record
        self.exported.discard(record.key)
        if self.selected is None or self.selected == record.key:
            self.selected = record.key
        self._next_serial(record.key)
        self._orders.pop(record.key, None)

    def replace_result(self, key: str, result) -> None:
        """Result ``key`` corrected (``app.meeting``): its scores, its order and the orders solved
        against it go; it is no longer exported."""
        record = self.results[key]
        record.result = result
        record.evaluation = None
        self.exported.discard(key)
        self._next_serial(key)
        self._orders.pop(key, None)

    def remove_result(self, key: str) -> None:
        self.results.pop(key, None)
        if self.selected == key:
            self.selected = next(iter(self.results), None)
        self._orders.pop(key, None)

    def mark_exported(self, keys) -> None:
        self.exported.update(k for k in keys if k in self.results)

    def unexported(self) -> list[str]:
        """Model results (not the oracles, made again from the references) never exported."""
        return [
            k
            for k, r in self.results.items()
            if k not in self.exported and not r.entry.needs_references
        ]

    def preferred(self, default_id: Optional[str] = None, ticked=()) -> Optional[str]:
        """The result to show first: the default model's, else the best mean SI-SDR once scored,
        else the first ticked model's, else the first model's (an oracle's only when alone)."""
        models = [k for k, r in self.results.items() if not r.entry.needs_references]
        if not models:
            return next(iter(self.results), None)
        if default_id in models:
            return default_id
        scores = {
            k: self.results[k].evaluation.mean.get("si_sdr", float("nan"))
            for k in models
            if self.results[k].evaluation is not None
        }
        scores = {k: v for k, v in scores.items() if v == v}
        if scores:
            return max(scores, key=scores.get)
        return next((k for k in ticked if k in models), models[0])

    def selected_record(self) -> Optional[ResultRecord]:
        return self.results.get(self.selected) if self.selected else None

    def anchor(self) -> Optional[np.ndarray]:
        """What sources are aligned to: the references, else the first result's waveforms."""
        if self.references is not None:
            return self.references
        first = next(iter(self.results.values()), None)
        return first.result.waveforms if first is not None else None

    def result_token(self, key: str) -> tuple:
        """Names result ``key`` as an anchor, as a value a job can carry (a re-run is another one)."""
        return ("result", key, self._serials.get(key))

    def anchor_token(self) -> Optional[tuple]:
        """Names the current anchor: the references as loaded, else the first result."""
        if self.references is not None:
            return ("references", self._serials.get("references"))
        first = next(iter(self.results), None)
        return self.result_token(first) if first is not None else None

    def set_order(self, key: str, order, token, record: Optional[ResultRecord] = None) -> bool:
        """Keep the ``order`` of result ``key`` that a job solved against the anchor ``token`` (and,
        when given, from that very ``record``). Ignored, False, when either changed since."""
        if key not in self.results or token is None or token != self.anchor_token():
            return False
        if record is not None and self.results[key] is not record:
            return False
        self._orders[key] = (token, [int(c) for c in order])
        return True

    def stored_order(self, key: str) -> Optional[list[int]]:
        """The order solved against the current anchor, or None (nothing solved it yet)."""
        if key in self.results and self.anchor_token() == self.result_token(key):
            return list(range(self.results[key].result.n_src))  # the anchor itself
        stored = self._orders.get(key)
        return stored[1] if stored is not None and stored[0] == self.anchor_token() else None

    def order(self, key: str) -> list[int]:
        """Column -> source index of result ``key`` (-1: empty column); see ``align_sources``.

        The jobs store it (``set_order``); a result no job solved against the current anchor (one
        added by hand, or whose anchor changed since: a re-run of the first result) is solved here,
        once, on the full signals."""
        order = self.stored_order(key)
        if order is None:
            anchor, token = self.anchor(), self.anchor_token()
            waves = self.results[key].result.waveforms
            order = list(range(waves.shape[0])) if anchor is None else align_sources(waves, anchor)
            self._orders[key] = (token, order)
        return order

    def n_columns(self) -> int:
        n = self.references.shape[0] if self.references is not None else 0
        return max([n] + [len(self.order(k)) for k in self.results])
