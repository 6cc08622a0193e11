"""Convert the authors' GTCRN checkpoint (DNS Challenge 3) into Cocktail's checkpoint format and put
its licence beside it: ``resources/models/gtcrn-dns3-16k.pt`` and ``gtcrn-dns3-16k.LICENSE``.

The source folder is ``../shared/models/gtcrn`` (PROVENANCE.txt, LICENSE, checkpoints/); the
checkpoint is read with ``weights_only=True``, its sha256 and the upstream commit are recorded in the
converted file's ``imported`` field, and the weights must load strictly into ``models.gtcrn.GTCRN``.
The card (``gtcrn-dns3-16k.md``) is written by ``scripts/gtcrn_measure.py`` from its measurements.

    python scripts/convert_gtcrn.py [--source ../shared/models/gtcrn] [--out resources/models] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from separation_core.checkpoints.store import load_checkpoint, save_checkpoint  # noqa: E402
from separation_core.errors import CheckpointError  # noqa: E402
from separation_core.io.fileutil import atomic_write  # noqa: E402
from separation_core.models.gtcrn import GTCRN  # noqa: E402

NAME = "gtcrn-dns3-16k"
SOURCE_FILE = "checkpoints/model_trained_on_dns3.tar"
REPOSITORY = "https://github.com/Xiaobin-Rong/gtcrn"
DESCRIPTION = (
    "GTCRN speech enhancement trained by its authors on the DNS Challenge 3 data (many speakers, "
    "many noises), 16 kHz: outputs speech and noise; a first stage before a separator (--denoise)."
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def upstream_commit(provenance: Path) -> str:
    found = re.search(r"commit ([0-9a-f]{40})", provenance.read_text())
    if not found:
        raise CheckpointError(f"{provenance}: names no upstream commit")
    return found.group(1)


def authors_state_dict(path: Path) -> dict:
    """The ``model`` entry of the authors' archive (a dict with epoch, optimizer, model)."""
    try:
        archive = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any loader failure is a bad file
        raise CheckpointError(f"{path}: cannot be read ({type(e).__name__})") from None
    if not isinstance(archive, dict) or not isinstance(archive.get("model"), dict):
        raise CheckpointError(f"{path}: not the authors' GTCRN archive (no 'model' state dict)")
    return archive["model"]


def convert(source: Path, out_dir: Path, force: bool = False) -> Path:
    src = source / SOURCE_FILE
    out = out_dir / f"{NAME}.pt"
    licence = out_dir / f"{NAME}.LICENSE"
    for path in (out, licence):
        if path.exists() and not force:
            raise CheckpointError(f"{path}: already exists (give --force to replace it)")
    model = GTCRN()
    try:
        model.load_state_dict(authors_state_dict(src), strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{src}: weights do not fit gtcrn ({str(e)[:160]})") from None
    commit = upstream_commit(source / "PROVENANCE.txt")
    imported = {
        "from": "gtcrn",
        "label": f"GTCRN, the authors' DNS3 weights (Xiaobin-Rong/gtcrn {commit[:7]})",
        "model_name": Path(SOURCE_FILE).name,
        "repository": REPOSITORY,
        "commit": commit,
        "source_sha256": sha256(src),
        "licence": "MIT",
    }
    save_checkpoint(
        out,
        model.eval(),
        training={"steps": 0, "description": DESCRIPTION, "data": "DNS Challenge 3"},
        extra={"imported": imported},
    )
    load_checkpoint(out)  # the file as the product reads it
    with atomic_write(licence, "wb") as f:
        f.write((source / "LICENSE").read_bytes())
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "models" / "gtcrn")
    p.add_argument("--out", type=Path, default=ROOT / "resources" / "models")
    p.add_argument("--force", action="store_true", help="replace an existing conversion")
    args = p.parse_args()
    try:
        out = convert(args.source, args.out, args.force)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {out} and {out.with_suffix('.LICENSE').name} (sha256 {sha256(out)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
