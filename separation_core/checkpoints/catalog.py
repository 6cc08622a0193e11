"""Where models come from: the registry (built-in, untrained or parameter-free), checkpoints bundled in
``resources/models/``, the user's models folder, and checkpoints opened by path.

A model is named on the command line and in the GUI by an id: a checkpoint's file stem
(``convtasnet-libri2mix``), a registry name (``oracle-irm``) or a path to a ``.pt`` file.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Optional, Union

import torch

from separation_core.checkpoints.checks import trainable_parameters
from separation_core.checkpoints.importers.speechbrain import is_speechbrain_folder
from separation_core.checkpoints.store import load_checkpoint, model_from_checkpoint
from separation_core.errors import CheckpointError, ModelError
from separation_core.io.fileutil import unreadable_reason
from separation_core.io.paths import bundled_models_dir, user_models_dir
from separation_core.models.base import SeparationModel
from separation_core.models.registry import get_model_class, model_names

CHECKPOINT_SUFFIX = ".pt"
# Model files a folder or a path may hold: Cocktail's .pt, Asteroid's serialize() dict (.pth, .ckpt,
# a hub's pytorch_model.bin), ONNX graphs. Ids are file stems for .pt, whole file names otherwise.
MODEL_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".onnx")
DEFAULT_FILE = "DEFAULT"  # resources/models/DEFAULT holds the default model's id
_CACHE_SIZE = 256  # checkpoint files remembered, good or refused
_ENTRY_CACHE: OrderedDict[tuple, object] = OrderedDict()
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class ModelEntry:
    id: str
    model_name: str
    kind: str
    sample_rate: int
    n_src: int
    num_parameters: int
    checkpoint: Optional[Path]
    origin: str  # "bundled" | "user" | "path" | "builtin"
    needs_references: bool
    trained: bool
    description: str = ""
    metrics: dict = field(default_factory=dict, compare=False, hash=False)
    imported_from: str = (
        ""  # e.g. "Asteroid ConvTasNet (asteroid 0.7.0)", "ONNX graph"; "" if native
    )
    takes_num_speakers: bool = False  # the model's, see SeparationModel
    outputs_are_voices: bool = True  # the model's, see SeparationModel
    source_format: str = ""  # an imported model's file format, e.g. a SpeechBrain folder
    source_sha256: dict = field(default_factory=dict, compare=False, hash=False)  # its files'

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "model": self.model_name,
            "kind": self.kind,
            "sample_rate": self.sample_rate,
            "n_src": self.n_src,
            "parameters": self.num_parameters,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "origin": self.origin,
            "needs_references": self.needs_references,
            "trained": self.trained,
            "description": self.description,
            "metrics": self.metrics,
            "imported_from": self.imported_from,
            "takes_num_speakers": self.takes_num_speakers,
            "outputs_are_voices": self.outputs_are_voices,
            "source_format": self.source_format,
            "source_sha256": self.source_sha256,
        }


def _read_entry(path: Path) -> ModelEntry:
    """Load and validate ``path`` and summarise it as an entry (origin "path")."""
    if path.suffix.lower() == ".onnx":
        from separation_core.models.onnx_model import onnx_entry_fields

        return ModelEntry(checkpoint=path, origin="path", **onnx_entry_fields(path))
    ckpt = load_checkpoint(path)
    cls = get_model_class(ckpt["model_name"])
    n_params = trainable_parameters(ckpt, path)
    training = ckpt.get("training") or {}
    return ModelEntry(
        id=entry_id(path),
        model_name=cls.name,
        kind=cls.kind,
        sample_rate=ckpt["sample_rate"],
        n_src=ckpt["n_src"],
        num_parameters=n_params,
        checkpoint=path,
        origin="path",
        needs_references=cls.needs_references,
        trained=bool(training.get("steps", 0)) or "imported" in ckpt,
        description=str(training.get("description") or cls.description),
        metrics=dict(ckpt.get("metrics") or {}),
        imported_from=_imported_label(ckpt),
        source_format=str((ckpt.get("imported") or {}).get("source_format") or ""),
        source_sha256=dict((ckpt.get("imported") or {}).get("files_sha256") or {}),
        takes_num_speakers=cls.takes_num_speakers,
        outputs_are_voices=cls.voices_with(ckpt["model_args"]),
    )


def entry_id(path: Path) -> str:
    """A model file's id: its stem for a .pt, its whole name otherwise (``model.onnx`` beside
    ``model.pt`` are two models)."""
    return path.stem if path.suffix == CHECKPOINT_SUFFIX else path.name


def _imported_label(ckpt: dict) -> str:
    imported = ckpt.get("imported")
    if not isinstance(imported, dict):
        return ""
    if imported.get("label"):  # the toolkit's own spelling: "SpeechBrain SepFormer"
        return str(imported["label"])
    version = imported.get(f"{imported.get('from')}_version")
    return f"{str(imported.get('from', '?')).capitalize()} {imported.get('model_name', '?')}" + (
        f" ({imported.get('from')} {version})" if version else ""
    )


def _entry_or_error(path: Path) -> Union[ModelEntry, CheckpointError]:
    """The entry of ``path``, or the CheckpointError naming it: one bad file never breaks a listing."""
    try:
        return _read_entry(path)
    except CheckpointError as e:
        return e
    except Exception as e:  # noqa: BLE001 - a fault not foreseen still names the file, one line
        detail = " ".join(str(e).split())[:160]
        return CheckpointError(f"{path}: cannot be listed ({type(e).__name__}: {detail})")


def entry_from_checkpoint(path: Union[str, Path], origin: str = "path") -> ModelEntry:
    """Catalog entry of a checkpoint file. Each file is read once per (path, inode, size, mtime,
    ctime): an unchanged file, good or refused, is answered from a cache at the next listing."""
    path = Path(path).expanduser().resolve()
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot access the file ({e.strerror or e})") from None
    key = (path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if path.is_dir():  # a SpeechBrain folder: its files' states too
        key += tuple(
            (p.name, p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(path.iterdir())
            if p.is_file()
        )
    with _CACHE_LOCK:
        found = _ENTRY_CACHE.get(key)
    if found is None:
        found = _entry_or_error(path)
        with _CACHE_LOCK:
            _ENTRY_CACHE[key] = found
            while len(_ENTRY_CACHE) > _CACHE_SIZE:
                _ENTRY_CACHE.popitem(last=False)
    if isinstance(found, CheckpointError):
        raise CheckpointError(str(found))
    return replace(found, origin=origin, metrics=dict(found.metrics))


@cache
def _builtin_entry(name: str) -> ModelEntry:
    cls = get_model_class(name)
    model = cls()
    return ModelEntry(
        id=name,
        model_name=name,
        kind=cls.kind,
        sample_rate=model.sample_rate,
        n_src=model.n_src,
        num_parameters=model.num_parameters(),
        checkpoint=None,
        origin="builtin",
        needs_references=cls.needs_references,
        # parameter-free models need no training; a pretrained-only family (gtcrn) without its
        # checkpoint has random weights
        trained=not cls.trainable and model.num_parameters() == 0,
        description=cls.description,
        takes_num_speakers=cls.takes_num_speakers,
        outputs_are_voices=model.outputs_are_voices,
    )


def _scan(folder: Path, origin: str, problems: Optional[list]) -> list[ModelEntry]:
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(
        p
        for p in folder.iterdir()
        if (p.suffix.lower() in MODEL_SUFFIXES or is_speechbrain_folder(p))
        and not p.name.startswith(".")
    ):
        try:
            entries.append(entry_from_checkpoint(path, origin))
        except CheckpointError as e:
            if problems is not None:
                problems.append(str(e))
    return entries


def list_models(problems: Optional[list] = None) -> list[ModelEntry]:
    """Bundled checkpoints, then the user's, then every registry model (a bad file is skipped and,
    when ``problems`` is a list, its one-line reason appended)."""
    entries = _scan(bundled_models_dir(), "bundled", problems)
    entries += _scan(user_models_dir(), "user", problems)
    entries += [_builtin_entry(name) for name in model_names()]
    return entries


def default_model_id() -> str:
    marker = bundled_models_dir() / DEFAULT_FILE
    if marker.is_file():
        return marker.read_text().strip()
    raise ModelError(
        "no bundled default model is installed; name one with --model (see `cocktail models`)"
    )


def resolve(spec: Union[str, Path, ModelEntry, None]) -> ModelEntry:
    """A model id, registry name or checkpoint path -> its catalog entry (None: the default)."""
    if isinstance(spec, ModelEntry):
        return spec
    if spec is None or str(spec) == "":
        spec = default_model_id()
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_file() or is_speechbrain_folder(path):
        return entry_from_checkpoint(path, "path")
    for folder, origin in ((bundled_models_dir(), "bundled"), (user_models_dir(), "user")):
        for candidate in (folder / f"{text}{CHECKPOINT_SUFFIX}", folder / text):
            if "/" not in text and (
                (candidate.suffix.lower() in MODEL_SUFFIXES and candidate.is_file())
                or is_speechbrain_folder(candidate)
            ):
                return entry_from_checkpoint(candidate, origin)
    if path.suffix.lower() in MODEL_SUFFIXES:
        return entry_from_checkpoint(path, "path")
    lowered = text.lower()
    if lowered in model_names():
        return _builtin_entry(lowered)
    if path.is_dir():  # worded as a listing of a models folder words it
        raise CheckpointError(f"{path.resolve()}: {unreadable_reason(path, 'a checkpoint file')}")
    raise ModelError(
        f"unknown model '{text}': not a checkpoint file, bundled or user model, "
        f"or registry name (see `cocktail models`)"
    )


def load_model(spec: Union[str, Path, ModelEntry, None]) -> SeparationModel:
    """Build the model of an entry or spec on the CPU, in eval mode."""
    entry = resolve(spec)
    if entry.checkpoint is not None:
        if Path(entry.checkpoint).suffix.lower() == ".onnx":
            from separation_core.models.onnx_model import load_onnx_model

            return load_onnx_model(entry.checkpoint)
        return model_from_checkpoint(entry.checkpoint)
    # Untrained registry models get the same weights on every load (deterministic results).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = get_model_class(entry.model_name)()
    model.eval()
    return model
