"""Model registry: names are registered once and looked up case-insensitively."""

from __future__ import annotations

from separation_core.errors import ModelError

_REGISTRY: dict[str, type] = {}


def register(name: str):
    """Class decorator: ``@register("convtasnet")``. A name taken twice is refused."""

    def deco(cls: type) -> type:
        key = name.lower()
        if key in _REGISTRY:
            raise ModelError(
                f"model name '{name}' is already registered by {_REGISTRY[key].__name__}"
            )
        cls.name = key
        _REGISTRY[key] = cls
        return cls

    return deco


def get_model_class(name: str) -> type:
    _ensure_loaded()
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise ModelError(
            f"unknown model '{name}' (known: {', '.join(sorted(_REGISTRY))})"
        ) from None


def model_names() -> list[str]:
    _ensure_loaded()
    return sorted(_REGISTRY)


def _ensure_loaded() -> None:
    # Importing the package registers every built-in model.
    from separation_core.models import builtin  # noqa: F401
