"""The interface every separation model answers, learned or not."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.result import MASK_ESTIMATED, ChunkOutput
from separation_core.models.transforms import StftParams

# Family labels, for people (model lists, cards); behaviour is decided by the attributes below.
KIND_MASK = "mask"  # ff-mask, lstm-mask, blstm-mask
KIND_DEEP_CLUSTERING = "deep-clustering"
KIND_CHIMERA = "chimera"
KIND_TIME_DOMAIN = "time-domain"  # convtasnet, dprnn
KIND_ORACLE = "oracle"
KIND_CLASSICAL = "classical"  # denoise-wiener

# The ONNX graph contracts (``models.onnx_model``): what the graph takes and gives.
CONTRACT_TIME = "time-domain"  # mixture [B, T] -> waveforms [B, n_src, T]
CONTRACT_MASK = "mask"  # features [B, frames, freq] -> masks [B, n_src, freq, frames]


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
    arguments (recorded once by ``model_args``, from the constructor's signature, for
    checkpoints), and implement ``forward`` (training outputs, batched) and ``separate_chunk``
    (inference on one mono chunk).

    ``forward(mixture [batch, time]) -> dict`` with the keys its ``objective`` needs:
      "mask":            {"masks": [batch, n_src, freq, frames]}
      "deep-clustering": {"embeddings": [batch, freq*frames, dim]}
      "chimera":         {"embeddings": ..., "masks": ...}
      "waveform":        {"waveforms": [batch, n_src, time]}
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""  # the family's label, for people
    description: ClassVar[str] = ""
    needs_references: ClassVar[bool] = False
    trainable: ClassVar[bool] = True
    # The training objective (a name in ``training.objectives``); "" for models with none.
    objective: ClassVar[str] = ""
    # The number of sources is chosen at run time (``RunOptions.num_speakers``, K), so training
    # may also mix in batches of another number of speakers (``--alt-speakers``).
    takes_num_speakers: ClassVar[bool] = False
    # Trains on mixtures of any number of speakers (``--speakers`` need not be ``n_src``).
    trains_on_any_speaker_count: ClassVar[bool] = False
    # Its outputs are voices (a separator's), not speech and noise (an enhancer's: two outputs).
    # A family whose arguments decide it overrides ``voices_with`` and sets it on the instance.
    outputs_are_voices: ClassVar[bool] = True
    # The engine feeds it the mixture scaled to unit standard deviation (as Cocktail trains);
    # False: at the input's own level (ports of other toolkits' models, which take raw levels).
    unit_level_input: ClassVar[bool] = True
    # What its masks mean (``models.result.MASK_*``).
    mask_kind: ClassVar[str] = MASK_ESTIMATED
    # The ONNX graph contract it exports to ("time-domain", "mask"), or "" when it cannot.
    onnx_contract: ClassVar[str] = ""
    # Prefixes of another family's checkpoint layers that a warm start (--init) may leave out.
    warm_start_drops: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording_arguments(cls.__init__)

    def __init__(self, sample_rate: int = 16000, n_src: int = 2) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.n_src = int(n_src)

    def model_args(self) -> dict:
        """Keyword arguments that rebuild this model (plain types only)."""
        return dict(self.__dict__.get("_model_args", {}))

    def _resolved_args(self, **values) -> None:
        """Record values the constructor resolved from its arguments (a default STFT grid) in
        ``model_args`` in place of what was given."""
        self.__dict__["_model_args"].update(values)

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

    def check_batch(self, mixture: torch.Tensor) -> None:
        """Refuse, in one line, a ``forward`` input that is not ``[batch, time]``."""
        if mixture.dim() != 2:
            raise ModelError(
                f"{self.name} expects a batch of mixtures [batch, time], got shape "
                f"{tuple(mixture.shape)}"
            )

    def mono_input(self, mixture: torch.Tensor) -> torch.Tensor:
        """``separate_chunk``'s ``mixture [time]`` -> ``[time]`` on the device and in the dtype of
        the model's parameters (float32 for a model with none); anything else refused in one line.
        """
        if mixture.dim() != 1:
            raise ModelError(
                f"{self.name} expects a mono mixture [time], got shape {tuple(mixture.shape)}"
            )
        param = next(self.parameters(), None)
        if param is None:
            return mixture.float()
        return mixture.to(device=param.device, dtype=param.dtype)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @classmethod
    def voices_with(cls, model_args: dict) -> bool:
        """``outputs_are_voices`` of the model ``cls(**model_args)`` would build, known without
        building it (a checkpoint's entry): the class's, unless its arguments decide (an Asteroid
        file with one output is an enhancer; such a model sets the attribute on itself too)."""
        return cls.outputs_are_voices

    def init_new_layers(self, loaded: set[str]) -> None:
        """Called after a warm start loaded the ``state_dict`` keys in ``loaded`` from a smaller
        model: set up the other layers. Default: they keep their random initialisation."""


def _recording_arguments(init):
    """Wrap a model constructor so that the outermost call records its arguments, defaults
    included (``**kwargs`` flattened), as the model's ``model_args``."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def init_recording(self, *args, **kwargs):
        if "_model_args" not in self.__dict__:  # the most derived constructor records
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            recorded = {}
            for name, value in list(bound.arguments.items())[1:]:
                if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                    recorded.update(value)
                elif signature.parameters[name].kind is not inspect.Parameter.VAR_POSITIONAL:
                    recorded[name] = value
            self.__dict__["_model_args"] = recorded
        init(self, *args, **kwargs)

    return init_recording
