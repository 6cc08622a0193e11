"""The model card of a model imported from SpeechBrain or torchaudio: what its files say of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Union

from separation_core.checkpoints.checks import trainable_parameters
from separation_core.models.registry import get_model_class


def _size(path: Path) -> float:
    """MiB on disk: the file, or a folder's files."""
    files = [p for p in path.iterdir() if p.is_file()] if path.is_dir() else [path]
    return sum(p.stat().st_size for p in files) / 2**20


def toolkit_card(ckpt: dict, path: Union[str, Path]) -> str:
    """A Markdown card for a checkpoint that ``importers.speechbrain`` or ``importers.torchaudio``
    made, or one converted from its authors' files (the bundled GTCRN: ``repository``, ``commit``,
    ``source_sha256`` and ``licence``): its origin, the source format and files (with SHA-256),
    the arguments, the outputs."""
    path = Path(path)
    imp = ckpt["imported"]
    n_params = trainable_parameters(ckpt, path)
    outputs = (
        f"{ckpt['n_src']} voices"
        if get_model_class(ckpt["model_name"]).voices_with(ckpt["model_args"])
        else "speech, then noise (the rest of the mixture)"
    )
    hashes = imp.get("files_sha256") or (
        {imp["model_name"]: imp["source_sha256"]} if imp.get("source_sha256") else {}
    )
    source = imp.get("source_format") or (
        f"`{imp.get('model_name')}` of {imp['repository']}"
        + (f" at commit `{imp['commit']}`" if imp.get("commit") else "")
        if imp.get("repository")
        else "not recorded"
    )
    lines = [
        f"# {path.name if path.is_dir() else path.stem}",
        "",
        f"**Imported** from {imp.get('label')}: not trained or measured by Cocktail. Everything "
        "below is what its files say.",
        "",
        "| | |",
        "|---|---|",
        f"| architecture | {imp.get('label')}, run on Cocktail's port `{ckpt['model_name']}` |",
        f"| source | {source} |",
        *([f"| licence | {imp['licence']} |"] if imp.get("licence") else []),
        f"| arguments | `{json.dumps(imp.get('model_args', ckpt['model_args']), sort_keys=True)}` |",
        f"| parameters | {n_params:,} |",
        f"| sample rate, outputs | {ckpt['sample_rate']} Hz, {outputs} |",
        f"| size | `{path.name}`, {_size(path):.1f} MiB |",
        "",
    ]
    if hashes:
        lines += ["## Files", "", "| file | SHA-256 |", "|---|---|"]
        lines += [f"| `{name}` | `{digest}` |" for name, digest in hashes.items()]
        lines.append("")
    return "\n".join(lines + imported_limits(path))


def imported_limits(path: Path) -> list[str]:
    """The Limits section of an imported model's card (Markdown lines): nothing measured here."""
    return [
        "## Limits",
        "",
        "- Quality and speed are not known here: measure them with "
        f"`cocktail bench --models {path} --test-set DIR`.",
        "- Inputs at other sample rates are resampled to the model's on the way in and back on the "
        "way out.",
        "",
    ]
