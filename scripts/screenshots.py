"""Regenerate the user's guide screenshots in docs/screenshots/ from real speech.

    python scripts/screenshots.py [--speech DIR] [--out docs/screenshots] [--only NAME.png ...]

Builds one two-speaker mixture of held-out LibriSpeech speakers with `cocktail mix --split test`,
and a three-minute three-person meeting with `cocktail mix --conversation 3 --people 3` (in a
temporary folder: the audio is never written into the repository), then drives the desktop
program in its scripted mode (`--run`, `--view`, `--screenshot`) once per picture, with a fresh
settings folder so window size and choices are the defaults. Runs headless (Qt's offscreen platform).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEECH = ROOT.parent / "shared" / "data" / "speech" / "librispeech-train-clean-100"

# (file name, models to run, view, extra arguments): one picture each, in the guide's order.
SHOTS = [
    ("01-open.png", None, "listen", []),
    ("02-separate-listen.png", "convtasnet-rooms-16k,chimera-tcn-rooms-16k", "listen", []),
    (
        "03-masks.png",
        "convtasnet-rooms-16k,chimera-tcn-rooms-16k,dc-tcn-rooms-16k,oracle-irm",
        "masks",
        [],
    ),
    ("04-embeddings.png", "chimera-tcn-rooms-16k", "embeddings", []),
    (
        "05-metrics.png",
        "convtasnet-rooms-16k,chimera-tcn-rooms-16k,dc-tcn-rooms-16k,oracle-ibm,oracle-irm",
        "metrics",
        [],
    ),
    ("06-export.png", "convtasnet-rooms-16k", "listen", ["--export-dialog"]),
    ("07-timeline.png", "convtasnet-rooms-16k,chimera-tcn-rooms-16k", "listen", []),
    (
        "08-chunks.png",
        "convtasnet-rooms-16k",
        "listen",
        ["--no-refs", "--show-chunks", "--chunk-seconds", "4"],
    ),
    ("09-abx.png", "convtasnet-rooms-16k,chimera-tcn-rooms-16k", "listen", ["--abx-dialog"]),
    (
        "10-estimates.png",
        None,
        "listen",
        ["--no-refs", "--tick", "convtasnet-rooms-16k,chimera-tcn-rooms-16k,dc-tcn-rooms-16k"],
    ),
]
# The same on a three-minute, three-person meeting (``cocktail mix --conversation``), its turns
# found in conversation mode.
MEETING_SHOTS = [
    ("11-meeting.png", "convtasnet-rooms-16k", "listen", ["--mode", "conversation"]),
    ("12-meeting-masks.png", "convtasnet-rooms-16k", "masks", ["--mode", "conversation"]),
]
ONLY_HERE = ("--no-refs",)  # options of this script: the mixture is opened without its references


def run(args: list, env: dict) -> None:
    print("$", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, env=env, cwd=ROOT)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--speech", type=Path, default=DEFAULT_SPEECH, help="LibriSpeech-style speech folder"
    )
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    p.add_argument("--seed", type=int, default=3, help="which test-split mixture to show")
    p.add_argument("--only", nargs="+", metavar="NAME.png", help="make only these pictures")
    a = p.parse_args()
    if not a.speech.is_dir():
        print(f"screenshots: error: {a.speech}: speech folder not found", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cocktail-shots-") as tmp:
        tmp = Path(tmp)
        env = dict(os.environ)
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        mixset = tmp / "mix"
        run(
            [
                sys.executable,
                "-m",
                "separation_core.cli",
                "mix",
                "--speech",
                a.speech,
                "--out",
                mixset,
                "--num",
                "1",
                "--speakers",
                "2",
                "--mode",
                "min",
                "--split",
                "test",
                "--seed",
                a.seed,
            ],
            env,
        )
        meetings = tmp / "meeting"
        if not a.only or any(name in a.only for name, *_ in MEETING_SHOTS):
            run(
                [sys.executable, "-m", "separation_core.cli", "mix", "--speech", a.speech]
                + ["--out", meetings, "--num", "1", "--split", "test", "--seed", a.seed]
                + ["--conversation", "3", "--people", "3", "--overlap-share", "0.12"],
                env,
            )
        shots = [(mixset, shot) for shot in SHOTS] + [(meetings, shot) for shot in MEETING_SHOTS]
        for folder, (name, models, view, extra) in shots:
            if a.only and name not in a.only:
                continue
            item = json.loads((folder / "metadata.json").read_text())["mixtures"][0]["files"]
            mixture = folder / item["mix"]
            refs = [folder / r for r in item["sources"]]
            with_refs = ["--refs", *refs] if "--no-refs" not in extra else []
            cmd = [
                sys.executable,
                "-m",
                "app.main",
                mixture,
                *with_refs,
                "--view",
                view,
                "--screenshot",
                a.out / name,
                *[x for x in extra if x not in ONLY_HERE],
            ]
            if models:
                cmd += ["--run", models]
            # a fresh settings folder per picture: default window size and options, none remembered
            run(cmd, dict(env, COCKTAIL_SETTINGS_DIR=str(tmp / f"settings-{Path(name).stem}")))
    print(f"screenshots written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
