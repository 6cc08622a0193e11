"""An adapted model kept as a user model: a checkpoint under a new name (never over another file)
with its ``adapted`` record, and its card beside it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Optional

import torch

from separation_core.adaptation.budget import Budget
from separation_core.adaptation.finetune import loss_words, settings_for
from separation_core.adaptation.recording import AdaptOptions, Adaptation, adapted_record
from separation_core.checkpoints.cards_adapted import adapted_card
from separation_core.checkpoints.catalog import CHECKPOINT_SUFFIX
from separation_core.checkpoints.store import load_checkpoint, save_checkpoint
from separation_core.errors import CocktailError
from separation_core.io.audio_io import file_sha256
from separation_core.io.fileutil import atomic_write
from separation_core.io.paths import user_models_dir
from separation_core.models.base import SeparationModel


def weights_sha256(model: torch.nn.Module) -> str:
    """Hex SHA-256 of a model's weights (names, shapes and bytes, in ``state_dict`` order)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def stock_training(checkpoint: Optional[Path]) -> dict:
    """The ``training`` record of the stock model's checkpoint ({} for a registry model)."""
    if checkpoint is None or Path(checkpoint).suffix != CHECKPOINT_SUFFIX:
        return {}
    return dict(load_checkpoint(checkpoint).get("training") or {})


def new_model_path(folder: Path, base: str) -> Path:
    """``folder/<base>.pt``, or ``<base>-2.pt``, ``-3`` ... where the name is taken (its card too)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "adapted"
    for k in range(1, 10_000):
        path = folder / f"{base}{'' if k == 1 else f'-{k}'}{CHECKPOINT_SUFFIX}"
        if not path.exists() and not path.with_suffix(".md").exists():
            return path
    raise CocktailError(f"{folder}: no free name for an adapted model '{base}'")


def save_adapted(
    model: SeparationModel,
    record: dict,
    training: dict,
    name: str,
    folder: Optional[Path] = None,
) -> Path:
    """Write ``model`` as a new user model named after ``name`` (see ``new_model_path``) with the
    ``adapted`` ``record`` and the ``training`` facts, and its card (.md) beside it; -> the path."""
    folder = Path(folder) if folder is not None else user_models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CocktailError(
            f"{folder}: cannot make the models folder ({e.strerror or e})"
        ) from None
    path = new_model_path(folder, name)
    metrics = {
        "adapted_valid_before_si_sdri": record.get("valid_before"),
        "adapted_valid_si_sdri": record.get("valid_after"),
        "step": record.get("best_step"),
    }
    try:
        save_checkpoint(path, model, training=training, metrics=metrics, extra={"adapted": record})
        with atomic_write(path.with_suffix(".md"), "w", encoding="utf-8") as f:
            f.write(adapted_card(load_checkpoint(path), path))
    except OSError as e:
        raise CocktailError(f"{path}: cannot write the adapted model ({e.strerror or e})") from None
    return path


def stock_options(entry, budget: Budget, device: str) -> AdaptOptions:
    """The adaptation of catalog model ``entry``: the learning rate and loss options its checkpoint
    was trained with."""
    stock = stock_training(entry.checkpoint)
    return AdaptOptions(
        budget,
        settings_for(stock),
        device=device,
        loss_options=dict(stock.get("loss_options") or {}),
    )


def _sha256_or_none(path: Optional[Path]) -> Optional[str]:
    """A file's SHA-256; None for no path, a folder model or a file gone since."""
    if path is None or not Path(path).is_file():
        return None
    try:
        return file_sha256(path)
    except CocktailError:
        return None


def keep_adapted(
    adapted: SeparationModel,
    record: Adaptation,
    options: AdaptOptions,
    entry,
    input_path: Optional[Path],
    turns_from: str,
    folder: Optional[Path] = None,
) -> Path:
    """Save ``adapted``, adapted from catalog model ``entry`` to the recording ``input_path`` (None:
    a mixture without a file), as a new user model ``<entry>-adapted-<file stem>`` with its card;
    -> the path (also in ``record.saved``)."""
    name = input_path.name if input_path is not None else "a mixture"
    facts = adapted_record(
        record,
        options,
        input_name=name,
        input_sha256=_sha256_or_none(input_path),
        from_sha256=_sha256_or_none(entry.checkpoint),
        turns_from=turns_from,
        loss=loss_words(adapted, options.loss_options),
    )
    training = dict(
        stock_training(entry.checkpoint),
        description=f"{entry.id} adapted to {name}",
        steps=record.report.steps,
        initialised_from=entry.id,
    )
    stem = input_path.stem if input_path is not None else "mixture"
    saved = save_adapted(adapted, facts, training, f"{entry.id}-adapted-{stem}", folder)
    record.saved = str(saved)
    return saved
