"""Pack the training audio for a short GPU stretch: every speech corpus, the noise files and the
training rooms' responses, as Ogg Opus (about 16 kb/s) in a git-ignored folder of the repository,
small enough to travel with `run --carry` beside the repository itself.

    python scripts/gpu_pack.py [--shared ../shared] [--out work-data/pack] [--seconds-per-speaker S]

The layout keeps what the speaker rules read (one folder per corpus, file and folder names), so
`cocktail train --speech work-data/pack/speech/<corpus> ...` splits the speakers exactly as on
../shared/data (the split depends on the speaker ids of each corpus). Every speaker is packed,
test speakers too, because the split of a corpus with a split missing falls back to rule 2 and
would move speakers: the trainer never reads the test split. No test noise travels: each noise file
keeps its length with its test region (the last 10 %) silenced, so that the trainer draws its
train and valid regions from the same stretches as on ../shared.

A device call carries 64 MiB in all: the repository's tracked and unignored files, .whl and
work-data/gpu-run take their share first; a pack over the rest ends with exit status 1 and the
room left, and --seconds-per-speaker then packs fewer of each speaker's files (one at least).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from separation_core.data.mixing import noise_region  # noqa: E402
from separation_core.data.speakers import find_audio  # noqa: E402
from separation_core.data.splits import corpus_splits  # noqa: E402
from separation_core.io.audio_io import load_audio  # noqa: E402

CARRY_LIMIT = 64 * 2**20  # what one device call carries: working tree and carried paths together
CARRIED_BESIDE = (".whl", "work-data/gpu-run")  # scripts/gpu_train.sh's other carried paths
LEVEL = 0.96  # libsndfile's Opus compression level: about 16 kb/s for 16 kHz speech
TRAIN_ROOMS = ("bbc-listening-room", "seminar-room-clap")
MIB = 2**20


def write(path: Path, x: np.ndarray, sr: int) -> int:
    path = path.with_suffix(".ogg")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr, format="OGG", subtype="OPUS", compression_level=LEVEL)
    return path.stat().st_size


def travelling_bytes(root: Path) -> int:
    """Bytes of what travels to the device besides the pack: the repository's tracked and
    untracked-but-not-ignored files, and the other paths gpu_train.sh carries."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    files = [root / name.decode() for name in listed if name]
    for carried in CARRIED_BESIDE:
        files += (root / carried).rglob("*")
    return sum(p.stat().st_size for p in files if p.is_file())


def speaker_files(paths: list[Path], seconds: Optional[float]) -> list[Path]:
    """``paths`` in order up to ``seconds`` of audio (one file at least); all with None."""
    if seconds is None:
        return paths
    kept, total = [], 0.0
    for path in paths:
        if kept and total >= seconds:
            break
        kept.append(path)
        total += sf.info(path).duration
    return kept


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--out", type=Path, default=ROOT / "work-data" / "pack")
    ap.add_argument("--seconds-per-speaker", type=float, default=None, metavar="S")
    args = ap.parse_args()
    data = args.shared / "data"
    corpora = sorted(p for p in (data / "speech").iterdir() if p.is_dir())
    assignment, files = corpus_splits(corpora)
    total = 0
    for key in assignment:
        for path in speaker_files(files[key], args.seconds_per_speaker):
            total += write(
                args.out / "speech" / path.relative_to(data / "speech"),
                load_audio(path, sample_rate=16000).samples,
                16000,
            )
    for _, path in find_audio(data / "noise"):
        x = load_audio(path, sample_rate=16000, allow_silent=True).samples
        start, stop = noise_region(len(x), "test")
        x[start:stop] = 0.0
        total += write(args.out / "noise" / path.relative_to(data / "noise"), x, 16000)
    for room in TRAIN_ROOMS:
        for _, path in find_audio(data / "rir" / room):
            x, sr = sf.read(path, dtype="float32")
            out = args.out / "rir" / room / (path.stem + ".flac")  # responses stay lossless (tiny)
            out.parent.mkdir(parents=True, exist_ok=True)
            sf.write(out, x, sr)
            total += out.stat().st_size
    beside = travelling_bytes(ROOT)
    print(f"{args.out}: {total / MIB:.1f} MiB")
    if total + beside > CARRY_LIMIT:
        room = (CARRY_LIMIT - beside) / MIB
        print(
            f"gpu_pack.py: the pack does not fit in a device call: {room:.1f} of its "
            f"{CARRY_LIMIT / MIB:.0f} MiB are left beside the repository, .whl and "
            "work-data/gpu-run; pack fewer --seconds-per-speaker",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
