"""Where models come from: the registry (built-in, untrained or parameter-free), checkpoints bundled in
``resources/models/``, the user's models folder, and checkpoints opened by path.

A model is named on the command line and in the GUI by an id: a checkpoint's file stem
(``convtasnet-libri2mix``), a registry name (``oracle-irm``) or a path to a ``.pt`` file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

import torch

from .checkpoints import load_checkpoint, model_from_checkpoint
from .errors import CheckpointError, ModelError
from .models.base import SeparationModel
from .models.registry import get_model_class, model_names
from .paths import bundled_models_dir, user_models_dir

CHECKPOINT_SUFFIX = ".pt"
DEFAULT_FILE = "DEFAULT"  # resources/models/DEFAULT holds the default model's id


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

    def to_dict(self) -> dict:
        return {"id": self.id, "model": self.model_name, "kind": self.kind,
                "sample_rate": self.sample_rate, "n_src": self.n_src,
                "parameters": self.num_parameters,
                "checkpoint": str(self.checkpoint) if self.checkpoint else None,
                "origin": self.origin, "needs_references": self.needs_references,
                "trained": self.trained, "description": self.description, "metrics": self.metrics}


@lru_cache(maxsize=64)
def _entry_from_checkpoint(path: Path, origin: str, mtime: float) -> ModelEntry:
    ckpt = load_checkpoint(path)
    cls = get_model_class(str(ckpt["model_name"]))
    n_params = int(sum(t.numel() for t in ckpt["state_dict"].values()
                       if hasattr(t, "numel") and t.is_floating_point()))
    training = ckpt.get("training") or {}
    return ModelEntry(id=path.stem, model_name=cls.name, kind=cls.kind,
                      sample_rate=int(ckpt["sample_rate"]), n_src=int(ckpt["n_src"]),
                      num_parameters=n_params, checkpoint=path, origin=origin,
                      needs_references=cls.needs_references, trained=bool(training.get("steps", 0)),
                      description=str(training.get("description", cls.description)),
                      metrics=dict(ckpt.get("metrics") or {}))


def entry_from_checkpoint(path: Union[str, Path], origin: str = "path") -> ModelEntry:
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    return _entry_from_checkpoint(path, origin, path.stat().st_mtime)


@lru_cache(maxsize=None)
def _builtin_entry(name: str) -> ModelEntry:
    cls = get_model_class(name)
    model = cls()
    return ModelEntry(id=name, model_name=name, kind=cls.kind, sample_rate=model.sample_rate,
                      n_src=model.n_src, num_parameters=model.num_parameters(), checkpoint=None,
                      origin="builtin", needs_references=cls.needs_references,
                      trained=not cls.trainable, description=cls.description)


def _scan(folder: Path, origin: str, problems: Optional[list]) -> list[ModelEntry]:
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.glob(f"*{CHECKPOINT_SUFFIX}")):
        try:
            entries.append(entry_from_checkpoint(path, origin))
        except (CheckpointError, ModelError) as e:
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
    raise ModelError("no bundled default model is installed; name one with --model "
                     "(see `cocktail models`)")


def resolve(spec: Union[str, Path, ModelEntry, None]) -> ModelEntry:
    """A model id, registry name or checkpoint path -> its catalog entry (None: the default)."""
    if isinstance(spec, ModelEntry):
        return spec
    if spec is None or str(spec) == "":
        spec = default_model_id()
    text = str(spec)
    path = Path(text).expanduser()
    if text.endswith(CHECKPOINT_SUFFIX) or path.is_file():
        return entry_from_checkpoint(path, "path")
    for folder, origin in ((bundled_models_dir(), "bundled"), (user_models_dir(), "user")):
        candidate = folder / f"{text}{CHECKPOINT_SUFFIX}"
        if candidate.is_file():
            return entry_from_checkpoint(candidate, origin)
    lowered = text.lower()
    if lowered in model_names():
        return _builtin_entry(lowered)
    raise ModelError(f"unknown model '{text}': not a checkpoint file, bundled or user model, "
                     f"or registry name (see `cocktail models`)")


def load_model(spec: Union[str, Path, ModelEntry, None]) -> SeparationModel:
    """Build the model of an entry or spec on the CPU, in eval mode."""
    entry = resolve(spec)
    if entry.checkpoint is not None:
        return model_from_checkpoint(entry.checkpoint)
    # Untrained registry models get the same weights on every load (deterministic results).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = get_model_class(entry.model_name)()
    model.eval()
    return model
