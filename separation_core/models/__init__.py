"""Separation models: one interface (``SeparationModel``), one result type, one registry."""

from separation_core.models.base import RunOptions, SeparationModel
from separation_core.models.registry import get_model_class, model_names, register
from separation_core.models.result import ChunkOutput, SeparationResult

__all__ = [
    "RunOptions",
    "SeparationModel",
    "get_model_class",
    "model_names",
    "register",
    "ChunkOutput",
    "SeparationResult",
]
