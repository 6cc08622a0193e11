"""The interface every separation model answers, learned or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import nn

from separation_core.models.result import ChunkOutput
from separation_core.models.transforms import StftParams

KIND_MASK = "mask"  # ff-mask, lstm-mask, blstm-mask
KIND_DEEP_CLUSTERING = "deep-clustering"
KIND_CHIMERA = "chimera"
CLUSTERING_KINDS = (KIND_DEEP_CLUSTERING, KIND_CHIMERA)  # models that take K at run time
KIND_TIME_DOMAIN = "time-domain"  # convtasnet, dprnn
KIND_ORACLE = "oracle"
KIND_CLASSICAL = "classical"  # denoise-wiener


@dataclass(frozen=True)
class RunOptions:
    """Run-time options a model may honour.

    num_speakers: clustering models' K (None: the model's ``n_src``).
    clustering:   "kmeans" or "meanshift" (deep clustering / chimera embeddings).
    binary_masks: clustered embeddings give one-hot masks instead of soft ones.
    """

    num_speakers: Optional[int] = None
    clustering: str = "kmeans"
    binary_masks: bool = False


class SeparationModel(nn.Module):
    """Base class. Subclasses set the class attributes, build layers in ``__init__`` from keyword
    arguments only (recorded by ``model_args`` for checkpoints), and implement ``forward`` (training
    outputs, batched) and ``separate_chunk`` (inference on one mono chunk).

    ``forward(mixture [batch, time]) -> dict`` with the keys the family's loss needs:
      mask models:      {"masks": [batch, n_src, freq, frames]}
      deep clustering:  {"embeddings": [batch, freq*frames, dim]}
      chimera:          {"embeddings": ..., "masks": ...}
      time-domain:      {"waveforms": [batch, n_src, time]}
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    needs_references: ClassVar[bool] = False
    trainable: ClassVar[bool] = True
    description: ClassVar[str] = ""
    # Prefixes of another family's checkpoint layers that a warm start (--init) may leave out.
    warm_start_drops: ClassVar[tuple[str, ...]] = ()

    def __init__(self, sample_rate: int = 16000, n_src: int = 2, **kwargs) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.n_src = int(n_src)
        self._model_args = {"sample_rate": self.sample_rate, "n_src": self.n_src, **kwargs}

    def model_args(self) -> dict:
        """Keyword arguments that rebuild this model (plain types only)."""
        return dict(self._model_args)

    @property
    def stft_params(self) -> Optional[StftParams]:
        """The STFT grid of this model's masks (None if it has no masks)."""
        return None

    def separate_chunk(
        self,
        mixture: torch.Tensor,
        *,
        references: Optional[torch.Tensor] = None,
        options: RunOptions = RunOptions(),
    ) -> ChunkOutput:
        """``mixture [time]`` at ``sample_rate`` -> ChunkOutput with ``waveforms [n_src, time]``.

        ``references [n_src, time]`` are given to models that need them. Runs under no_grad,
        on the device of the model's parameters.
        """
        raise NotImplementedError

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def init_new_layers(self, loaded: set[str]) -> None:
        """Called after a warm start loaded the ``state_dict`` keys in ``loaded`` from a smaller
        model: set up the other layers. Default: they keep their random initialisation."""
