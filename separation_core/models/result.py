"""What every model returns: separated waveforms, and masks / embeddings where it has them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from separation_core.models.transforms import StftParams

# Labels of ``masks``: what the numbers mean for the user.
MASK_ESTIMATED = "estimated"  # the model's own time-frequency masks
MASK_EFFECTIVE = "effective"  # |S_k| / sum_j |S_j| from a time-domain model's outputs
MASK_ORACLE = "oracle"  # computed from the reference sources


@dataclass
class ChunkOutput:
    """A model's output on one chunk (torch tensors, any device).

    waveforms  [n_src, time]           separated signals at the model's rate
    masks      [n_src, freq, frames]   optional, values in [0, 1] (may exceed 1 for PSM-like heads)
    embeddings [freq * frames, dim]    optional, one unit vector per bin, freq-major
                                       (bin index = f * frames + t)
    labels     [freq * frames]         optional cluster (= source) index of each bin, -1 if unused
    """

    waveforms: torch.Tensor
    masks: Optional[torch.Tensor] = None
    embeddings: Optional[torch.Tensor] = None
    labels: Optional[torch.Tensor] = None


@dataclass
class SeparationResult:
    """A whole separation, as the CLI writes it and the GUI draws it (numpy arrays on the CPU).

    waveforms        [n_src, time] float32 at ``sample_rate``, same length as the input
    masks            [n_src, freq, frames] float32 on the grid of ``stft`` (None if not kept)
    mask_kind        one of MASK_ESTIMATED, MASK_EFFECTIVE, MASK_ORACLE
    embeddings       [points, dim] float32, a subsample of bin embeddings (None if the model has none)
    embedding_bins   [points, 2] int64 (freq index, frame index) of each embedding on the ``stft`` grid
    embedding_labels [points] int64 source index of each point after stitching (-1: unassigned)
    stitching        one dict per chunk of the chunked engine, in time order (empty for models
                     that take references, and for results not made by the engine):
                     ``start``, ``stop`` (int, samples at ``sample_rate``) the chunk's span;
                     ``order`` (list[int]) the permutation applied to the chunk's outputs: output j
                     of the result is the chunk's output ``order[j]``;
                     ``confidence`` (float in [0, 1], None for the first chunk) how sure the
                     decision is; ``cue`` what decided it: "first", "overlap" (agreement with the
                     previous chunk on their shared samples), "profile" (who each output sounds
                     like, against the speakers learnt over the whole recording), "global" (no
                     evidence in this chunk: the order follows from the solve over all chunks);
                     ``sub_orders`` (list of ``[start, stop, order]``) parts of the chunk where the
                     order differs from ``order`` (the model swapped inside the chunk).
    """

    waveforms: np.ndarray
    sample_rate: int
    model_name: str
    masks: Optional[np.ndarray] = None
    mask_kind: Optional[str] = None
    stft: Optional[StftParams] = None
    embeddings: Optional[np.ndarray] = None
    embedding_bins: Optional[np.ndarray] = None
    embedding_labels: Optional[np.ndarray] = None
    notes: list = field(default_factory=list)  # e.g. "out of memory on cuda: retried on cpu"
    timings: dict = field(default_factory=dict)  # seconds per stage
    stitching: list = field(default_factory=list)  # list[dict], one per chunk (see above)
    # Conversation mode (separation_core.conversation): one stem per person.
    turns: Optional[list] = None  # list[io.rttm.Turn]: who talks when; None otherwise
    people: list = field(default_factory=list)  # a name per stem ("Person 1", ...)
    # [start, stop] seconds where the separator's outputs were used
    separated_spans: list = field(default_factory=list)
    # What the stems were assembled from, kept so that corrections re-assemble them without a new
    # separation: the plan (``conversation.assembly.Plan``: ``plan_source [people, frames]`` int,
    # frames of ``plan_hop`` s) and the separator's outputs it names (``plan_outputs [outputs,
    # time]`` float32 at ``plan_rate``).
    plan_source: Optional[np.ndarray] = None
    plan_hop: float = 0.0
    plan_outputs: Optional[np.ndarray] = None
    plan_rate: int = 0
    # [start, stop] seconds of audio the separator read (each overlap with its context): with
    # ``separated_spans``, where it ran, as the chunks view shows
    separator_reads: list = field(default_factory=list)
    # The separator's masks and embedding samples on those spans
    # (``conversation.masks.SpanMasks``), from which ``masks`` follow the plan: per person, the
    # mask of the output they take in an overlap, 1 where they talk alone, 0 where silent, on
    # ``stft`` (its hop a multiple of the separator's on long recordings; see that module)
    plan_masks: Optional[object] = None
    # Who talks when as found before the separator ran (``conversation.pipeline.FoundTalk``), so
    # that another separator (a copy adapted to the recording) can take over from there
    found_talk: Optional[object] = None

    @property
    def n_src(self) -> int:
        return int(self.waveforms.shape[0])
