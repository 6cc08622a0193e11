"""Learn the within-speaker whitening of the stitching's speaker profiles (a linear speaker
embedding) from train-split speakers, and write it as ``resources/speaker_whitening.npy``: a
float64 ``[D, D]`` lower-triangular ``W`` with ``W @ W.T`` the inverse of the pooled within-speaker
covariance (``speaker_features.learnt_whitening`` reads it).

Each speaker's speech (up to ``--seconds``, utterances concatenated, at unit variance) is cut into
the engine's blocks (``stitching.BLOCK_SECONDS``); a block's profile is the mean of its active frames'
features (``speaker_features.FeatureGrid``: 20 MFCC + 2 pitch). The within-speaker covariance of
those block profiles, pooled over speakers, says which directions vary inside one voice (what is
said) rather than between voices; the engine measures distances after whitening by it (the LDA
metric). The line it prints (blocks, speakers, corpora) belongs in ``resources/README.md``.

    python scripts/train_speaker_whitening.py --speech ../shared/data/speech/librispeech-train-clean-100 \\
        --speech ../shared/data/speech/speechocean762 --speech ../shared/data/speech/commonvoice-en \\
        --speech ../shared/data/speech/vctk-excerpts
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from separation_core.data.splits import select_split
from separation_core.engine import stitching as st
from separation_core.engine.speaker_features import WHITENING_FILE
from separation_core.io.audio_io import load_audio
from separation_core.io.fileutil import atomic_write
from separation_core.io.paths import resources_dir

OUT = resources_dir() / WHITENING_FILE


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--speech", action="append", required=True, type=Path)
    p.add_argument("--speakers", type=int, default=300)
    p.add_argument("--seconds", type=float, default=40.0)
    p.add_argument("--min-frames", type=int, default=5, help="active frames a block needs to count")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    speakers = select_split(args.speech, "train")
    keys = sorted(speakers)
    np.random.default_rng(args.seed).shuffle(keys)
    keys = keys[: args.speakers]
    resid, count = [], 0
    for key in keys:
        x = np.concatenate([load_audio(f, sample_rate=16000).samples for f in speakers[key][:8]])
        x = x[: int(args.seconds * 16000)]
        x = x / (np.std(x) + 1e-9)
        prof = st.block_profiles(x[None, :], 16000)
        ok = prof.mass[:, 0] >= args.min_frames
        if ok.sum() < 2:
            continue
        means = prof.sums[ok, 0] / prof.mass[ok, 0, None]
        resid.append(means - means.mean(0))
        count += 1
    resid = np.concatenate(resid)
    cov = resid.T @ resid / len(resid)
    ell = np.linalg.cholesky(np.linalg.inv(cov + 1e-6 * np.eye(len(cov))))
    with atomic_write(args.out) as f:
        np.save(f, ell.astype(np.float64), allow_pickle=False)
    corpora = ", ".join(d.name for d in args.speech)
    print(
        f"{args.out}: {len(resid)} blocks of {st.BLOCK_SECONDS:g} s from {count} train-split "
        f"speakers of {corpora}"
    )


if __name__ == "__main__":
    main()
