"""The checkpoint format: a plain dict saved with ``torch.save`` and loaded with ``weights_only=True``.

Format (version 1)::

    {
      "format": "cocktail-checkpoint", "format_version": 1,
      "model_name": "convtasnet",           # registry name
      "model_args": {...},                   # plain types; rebuilds the model
      "state_dict": {name: tensor},
      "sample_rate": 16000, "n_src": 2,
      "stft": {"n_fft", "hop", "win_length", "sample_rate"} | None,
      "training": {...},                     # steps, data, hardware, hours, ...
      "metrics": {...},                      # validation figures
      "created": "2026-11-21T12:00:00+00:00", "cocktail_version": "0.1.0",
    }

Nothing in it is a pickled class, so it survives refactors and never runs code on load.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path
from typing import Union

import torch

from separation_core import __version__
from separation_core.checkpoints import checks
from separation_core.errors import CheckpointError
from separation_core.io.fileutil import atomic_write
from separation_core.models.base import SeparationModel
from separation_core.models.registry import get_model_class

FORMAT_NAME = "cocktail-checkpoint"
FORMAT_VERSION = 1
_REQUIRED = ("model_name", "model_args", "state_dict", "sample_rate", "n_src")

# Migrations: version N -> N+1, applied in order on load.
_MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


def _migrate_v0(ckpt: dict) -> dict:
    """Version 0 (Asteroid-like ``{model_name, model_args, state_dict, infos}``) -> version 1."""
    out = dict(ckpt)
    args = dict(out.get("model_args") or {})
    out.setdefault("sample_rate", args.get("sample_rate", 16000))
    out.setdefault("n_src", args.get("n_src", 2))
    infos = out.pop("infos", {}) or {}
    out.setdefault("training", infos.get("training", {}))
    out.setdefault("metrics", infos.get("metrics", {}))
    out.setdefault("stft", None)
    out["format"] = FORMAT_NAME
    out["format_version"] = 1
    return out


_MIGRATIONS[0] = _migrate_v0


def checkpoint_dict(model: SeparationModel, *, training=None, metrics=None, extra=None) -> dict:
    stft = model.stft_params
    ckpt = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_name": model.name,
        "model_args": model.model_args(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "sample_rate": model.sample_rate,
        "n_src": model.n_src,
        "stft": stft.to_dict() if stft is not None else None,
        "training": dict(training or {}),
        "metrics": dict(metrics or {}),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "cocktail_version": __version__,
    }
    ckpt.update(extra or {})
    return ckpt


def save_checkpoint(
    path: Union[str, Path], model: SeparationModel, *, training=None, metrics=None, extra=None
) -> Path:
    """Write ``model`` atomically (temporary file in the same folder, then rename)."""
    return save_checkpoint_dict(
        path, checkpoint_dict(model, training=training, metrics=metrics, extra=extra)
    )


def save_checkpoint_dict(path: Union[str, Path], ckpt: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        torch.save(ckpt, f)
    return path


def load_checkpoint(path: Union[str, Path]) -> dict:
    """Read, validate and migrate a checkpoint; CheckpointError with a one-line reason otherwise.

    The file is vetted before torch reads it (see ``checkpoint_checks``): a regular readable file,
    a zip archive of sane declared size or a legacy torch pickle, and nothing else. A folder with a
    ``hyperparams.yaml`` is a SpeechBrain pretrained model (``importers.speechbrain``)."""
    path = Path(path)
    from separation_core.checkpoints.importers import speechbrain

    if speechbrain.is_speechbrain_folder(path):
        return validate_checkpoint(speechbrain.folder_checkpoint(path), path)
    from separation_core.checkpoints.importers.asteroid import (
        safe_globals,  # torch.__version__, numpy scalars: no code
    )

    return validate_checkpoint(checks.load_vetted(path, safe_globals()), path)


def validate_checkpoint(ckpt, path: Union[str, Path] = "<checkpoint>") -> dict:
    """Migrate ``ckpt`` to the current format and check every field and that its weights fit the
    architecture it declares; CheckpointError naming the file and the first bad field."""
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not a Cocktail checkpoint (found {type(ckpt).__name__})")
    from separation_core.checkpoints.importers import (
        asteroid as _asteroid,  # an Asteroid serialize() dict: converted here
    )
    from separation_core.checkpoints.importers import torchaudio as _torchaudio

    if _asteroid.is_asteroid_file(ckpt):
        ckpt = _asteroid.to_cocktail(ckpt, path)
    elif _torchaudio.is_torchaudio_state_dict(ckpt):
        ckpt = _torchaudio.to_cocktail(ckpt, path)
    ckpt = _migrate(ckpt, path)
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: not a Cocktail checkpoint (missing {', '.join(missing)})")
    checks.check_fields(ckpt, path)
    checks.check_architecture(ckpt, path)
    return ckpt


def _migrate(ckpt: dict, path: Union[str, Path]) -> dict:
    """Apply the migrations from the checkpoint's format version up to FORMAT_VERSION."""
    if "format" in ckpt and ckpt["format"] != FORMAT_NAME:
        raise CheckpointError(
            f"{path}: not a Cocktail checkpoint (format {str(ckpt['format'])[:40]!r})"
        )
    version = ckpt.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise CheckpointError(
            f"{path}: field 'format_version' must be a version number, not {str(version)[:40]!r}"
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this "
            f"program understands ({FORMAT_VERSION}); update Cocktail"
        )
    for field in ("model_args", "infos"):
        if version == 0 and ckpt.get(field) is not None and not isinstance(ckpt[field], dict):
            raise CheckpointError(
                f"{path}: field '{field}' must be a dict, not a {type(ckpt[field]).__name__}"
            )
    while version < FORMAT_VERSION:
        ckpt = _MIGRATIONS[version](ckpt)
        version = ckpt["format_version"]
    return ckpt


def model_from_checkpoint(source: Union[str, Path, dict]) -> SeparationModel:
    """Rebuild the model of a checkpoint (CPU, eval mode)."""
    path = source if not isinstance(source, dict) else "<checkpoint>"
    ckpt = load_checkpoint(source) if not isinstance(source, dict) else validate_checkpoint(source)
    cls = get_model_class(ckpt["model_name"])  # known: validated above
    try:
        model = cls(**ckpt["model_args"])
    except Exception as e:
        raise CheckpointError(f"{path}: model arguments do not fit '{cls.name}' ({e})") from None
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as e:
        first = " ".join(str(e).split())[:200]
        raise CheckpointError(
            f"{path}: weights do not fit the '{cls.name}' architecture ({first})"
        ) from None
    model.eval()
    return model
