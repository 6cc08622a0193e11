"""Separation models: one interface (``SeparationModel``), one result type, one registry."""

from .base import RunOptions, SeparationModel
from .registry import get_model_class, model_names, register
from .result import ChunkOutput, SeparationResult

__all__ = [
    "RunOptions",
    "SeparationModel",
    "get_model_class",
    "model_names",
    "register",
    "ChunkOutput",
    "SeparationResult",
]
