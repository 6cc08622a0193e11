"""``cocktail mix``: build a seeded mixture set (wsj0-2mix style) from speech folders."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .common import ProgressBar, float_pair

# argparse takes "-5,5" for an option flag (only "-5" and "-.5" look like negative numbers to it), so
# "--sir-range -5,5" would fail with "expected one argument". This parser also counts "low,high"
# pairs with a leading minus as values; no option of the command starts with a digit.
_NUMBER_OR_PAIR = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d*\.?\d+(e-?\d+)?\s*,\s*-?\d*\.?\d+(e-?\d+)?$")


def _range(text: str) -> tuple[float, float]:
    try:
        return float_pair(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_parser(sub) -> None:
    p = sub.add_parser(
        "mix", help="build a seeded mixture set from speech folders",
        description="Writes OUT/mix, OUT/s1.. OUT/sN (and OUT/noise) as float WAV and OUT/metadata.json. "
                    "Speakers come from the file names (LibriSpeech, VCTK, spoken digits; --rule folder "
                    "for one folder per speaker) and are split train/valid/test by a hash of their id.")
    p._negative_number_matcher = _NUMBER_OR_PAIR
    p.add_argument("--speech", required=True, action="append", type=Path, metavar="DIR",
                   help="folder of speech files (repeatable)")
    p.add_argument("--noise", action="append", type=Path, metavar="DIR",
                   help="folder of noise files (repeatable; SNR from --snr-range, default 0,10)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--num", required=True, type=int, help="number of mixtures")
    p.add_argument("--speakers", type=int, choices=(2, 3), default=2)
    p.add_argument("--mode", choices=("min", "max"), default="min",
                   help="min: cut to the shortest utterance; max: pad to the longest")
    p.add_argument("--sir-range", type=_range, default=(-5.0, 5.0), metavar="LOW,HIGH",
                   help="level of speaker 1 over each other speaker, dB (default -5,5)")
    p.add_argument("--snr-range", type=_range, default=None, metavar="LOW,HIGH",
                   help="speech-to-noise ratio, dB (needs --noise)")
    p.add_argument("--split", choices=("train", "valid", "test"), default="test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--rule", choices=("auto", "librispeech", "vctk", "digits", "folder"), default="auto",
                   help="how speaker ids are read from file names")
    p.add_argument("--overwrite", action="store_true", help="replace a mixture set in a non-empty OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..data.mixing import build_mixture_set, read_metadata

    bar = ProgressBar("mix", enabled=not args.quiet)
    try:
        path = build_mixture_set(args.speech, args.out, num=args.num, speakers=args.speakers, mode=args.mode,
                                 sir_range=args.sir_range, snr_range=args.snr_range, noise_dirs=args.noise,
                                 split=args.split, seed=args.seed, sample_rate=args.sample_rate,
                                 rule=args.rule, overwrite=args.overwrite, progress=bar)
    finally:
        bar.close()
    meta = read_metadata(path.parent)
    seconds = sum(m["seconds"] for m in meta["mixtures"])
    speakers = {s["speaker"] for m in meta["mixtures"] for s in m["sources"]}
    print(f"wrote {len(meta['mixtures'])} mixtures ({seconds / 60:.1f} min, {len(speakers)} speakers of "
          f"the {args.split} split) to {path.parent}", file=sys.stdout)
    return 0
