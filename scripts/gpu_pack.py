"""Pack the training audio for a short GPU stretch: every speech corpus, the train
region of every noise file and the training rooms' responses, as Ogg Opus (about 16 kb/s) in a
git-ignored folder of the repository, at most 64 MiB, so that it travels with `run --carry`.

    python scripts/gpu_pack.py [--shared ../shared] [--out work-data/pack]

The layout keeps what the speaker rules read (one folder per corpus, file and folder names), so
`cocktail train --speech work-data/pack/speech/<corpus> ...` splits the speakers exactly as on
../shared/data (the split depends on the speaker ids of each corpus). Every speaker is packed,
test speakers too, because the split of a corpus with a split missing falls back to rule 2 and
would move speakers: the trainer never reads the test split, and no test noise travels (noise
files are cut to their train region, the first 80 %).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from separation_core.data.speakers import find_audio  # noqa: E402
from separation_core.data.splits import corpus_splits  # noqa: E402
from separation_core.io.audio_io import load_audio  # noqa: E402

LIMIT = 64 * 2**20
LEVEL = 0.96  # libsndfile's Opus compression level: about 16 kb/s for 16 kHz speech
TRAIN_ROOMS = ("bbc-listening-room", "seminar-room-clap")


def write(path: Path, x: np.ndarray, sr: int) -> int:
    path = path.with_suffix(".ogg")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr, format="OGG", subtype="OPUS", compression_level=LEVEL)
    return path.stat().st_size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--out", type=Path, default=ROOT / "work-data" / "pack")
    args = ap.parse_args()
    data = args.shared / "data"
    corpora = sorted(p for p in (data / "speech").iterdir() if p.is_dir())
    assignment, files = corpus_splits(corpora)
    total = 0
    for key in assignment:
        corpus = key.split("/")[0]
        for path in files[key]:
            rel = path.relative_to(data / "speech" / corpus)
            total += write(
                args.out / "speech" / corpus / rel,
                load_audio(path, sample_rate=16000).samples,
                16000,
            )
    for _, path in find_audio(data / "noise"):
        x = load_audio(path, sample_rate=16000, allow_silent=True).samples
        total += write(
            args.out / "noise" / path.relative_to(data / "noise"), x[: int(0.8 * len(x))], 16000
        )
    for room in TRAIN_ROOMS:
        for _, path in find_audio(data / "rir" / room):
            x, sr = sf.read(path, dtype="float32")
            out = args.out / "rir" / room / (path.stem + ".flac")  # responses stay lossless (tiny)
            out.parent.mkdir(parents=True, exist_ok=True)
            sf.write(out, x, sr)
            total += out.stat().st_size
    print(f"{args.out}: {total / 2**20:.1f} MiB")
    if total > LIMIT:
        print(
            f"over the {LIMIT / 2**20:.0f} MiB a device call carries; raise LEVEL", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
