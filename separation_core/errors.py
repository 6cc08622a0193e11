"""Typed errors with one-line messages a user can act on."""

from __future__ import annotations


class CocktailError(Exception):
    """Base of every error Cocktail raises on purpose; ``str(err)`` is a one-line message."""


class AudioLoadError(CocktailError):
    """An audio file cannot be read or its content is unusable (names the file and the problem)."""


class AudioSaveError(CocktailError):
    """An audio file cannot be written (names the file and the problem)."""


class ReferenceMismatchError(CocktailError):
    """Reference sources do not fit the mixture (count, length or rate)."""


class CheckpointError(CocktailError):
    """A checkpoint is missing, corrupt, truncated, malicious or for another architecture."""


class ModelError(CocktailError):
    """A model name is unknown, registered twice, or cannot run with the given options."""


class Cancelled(CocktailError):
    """Long work stopped because its cancel token was set."""
