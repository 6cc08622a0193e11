"""Per-user settings in an INI file through QSettings.

The file lives in ``$COCKTAIL_SETTINGS_DIR/cocktail.ini`` when that variable is set (tests point it
at a tmp folder), else where Qt keeps user settings for organisation "Cocktail", application
"cocktail". Structured values are stored as JSON text so they read back with their types.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QByteArray, QSettings

ORG = "Cocktail"
APP = "cocktail"
ENV_DIR = "COCKTAIL_SETTINGS_DIR"
MAX_RECENT = 10

EXPORT_DEFAULTS = {
    "format": "wav16",
    "rate": "original",
    "template": "{stem}_s{index}",
    "residual": False,
    "sidecar": True,
}


class Settings:
    """Typed access to the few things Cocktail remembers between runs."""

    def __init__(self, folder: Optional[os.PathLike] = None) -> None:
        folder = folder or os.environ.get(ENV_DIR)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self._qs = QSettings(str(Path(folder) / "cocktail.ini"), QSettings.Format.IniFormat)
        else:
            self._qs = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG, APP)

    @property
    def file_name(self) -> str:
        return self._qs.fileName()

    def _get_json(self, key: str, default: Any) -> Any:
        raw = self._qs.value(key)
        if raw is None:
            return default
        try:
            return json.loads(str(raw))
        except ValueError:
            return default

    def _set_json(self, key: str, value: Any) -> None:
        self._qs.setValue(key, json.dumps(value))

    # recent files and folders
    def recent_files(self) -> list[str]:
        value = self._get_json("recent_files", [])
        return [str(v) for v in value] if isinstance(value, list) else []

    def add_recent_file(self, path: os.PathLike) -> list[str]:
        path = str(Path(path).resolve())
        files = [path] + [p for p in self.recent_files() if p != path]
        self._set_json("recent_files", files[:MAX_RECENT])
        return self.recent_files()

    def remove_recent_file(self, path: os.PathLike) -> None:
        self._set_json("recent_files", [p for p in self.recent_files() if p != str(path)])

    def last_folder(self, kind: str) -> str:
        return str(self._qs.value(f"folders/{kind}", "") or "")

    def set_last_folder(self, kind: str, folder: os.PathLike) -> None:
        self._qs.setValue(f"folders/{kind}", str(folder))

    # run and export options
    def device(self) -> str:
        return str(self._qs.value("run/device", "auto") or "auto")

    def set_device(self, device: str) -> None:
        self._qs.setValue("run/device", device)

    def run_options(self) -> dict:
        value = self._get_json("run/options", {})
        return value if isinstance(value, dict) else {}

    def set_run_options(self, options: dict) -> None:
        self._set_json("run/options", options)

    def checked_models(self) -> Optional[list[str]]:
        """The ticked models' ids (None: never saved, tick the default)."""
        value = self._get_json("run/checked_models", None)
        return [str(v) for v in value] if isinstance(value, list) else None

    def set_checked_models(self, ids) -> None:
        self._set_json("run/checked_models", list(ids))

    def show_untrained(self) -> bool:
        return self._get_json("models/show_untrained", False) is True

    def set_show_untrained(self, show: bool) -> None:
        self._set_json("models/show_untrained", bool(show))

    def export_options(self) -> dict:
        value = self._get_json("export/options", {})
        merged = dict(EXPORT_DEFAULTS)
        if isinstance(value, dict):
            merged.update({k: v for k, v in value.items() if k in EXPORT_DEFAULTS})
        return merged

    def set_export_options(self, options: dict) -> None:
        self._set_json("export/options", {k: options[k] for k in EXPORT_DEFAULTS if k in options})

    # window layout
    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._qs.setValue("window/geometry", geometry)
        self._qs.setValue("window/state", state)

    def window(self) -> tuple[Optional[QByteArray], Optional[QByteArray]]:
        return self._qs.value("window/geometry"), self._qs.value("window/state")

    def sync(self) -> None:
        self._qs.sync()
