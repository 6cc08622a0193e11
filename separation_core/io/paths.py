"""Where Cocktail's files live: the bundled ``resources/`` folder and the user's models folder.

Imports neither torch nor Qt, so the desktop window can find its icon before torch loads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional


def resources_dir() -> Path:
    """``COCKTAIL_RESOURCES``, else the PyInstaller bundle's, else the checkout's ``resources/``."""
    if os.environ.get("COCKTAIL_RESOURCES"):
        return Path(os.environ["COCKTAIL_RESOURCES"])
    frozen = getattr(sys, "_MEIPASS", None)  # PyInstaller one-folder build: dist/cocktail/_internal
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def bundled_models_dir() -> Path:
    return resources_dir() / "models"


def user_models_dir() -> Path:
    """The per-user models folder (``COCKTAIL_MODELS_DIR`` overrides it)."""
    if os.environ.get("COCKTAIL_MODELS_DIR"):
        return Path(os.environ["COCKTAIL_MODELS_DIR"])
    from platformdirs import user_data_dir

    return Path(user_data_dir("cocktail", appauthor=False)) / "models"


def app_icon_path() -> Optional[Path]:
    """``resources/icons/cocktail.png`` (256 px, from packaging/icons/cocktail.svg), or None."""
    path = resources_dir() / "icons" / "cocktail.png"
    return path if path.is_file() else None
