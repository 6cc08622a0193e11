"""``cocktail mix``: build a seeded mixture set (wsj0-2mix style) from speech folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from separation_core.commands.common import (
    ProgressBar,
    allow_negative_ranges,
    number_arg,
    range_arg,
)
from separation_core.commands.room_args import add_room_arguments, reverb_from_args


def add_parser(sub) -> None:
    p = sub.add_parser(
        "mix",
        help="build a seeded mixture set from speech folders",
        description="Writes OUT/mix, OUT/s1.. OUT/sN (and OUT/noise) as 24-bit WAV and OUT/metadata.json. "
        "Speakers come from the file names (LibriSpeech, VCTK, spoken digits; --rule folder "
        "for one folder per speaker, detected by auto) and are split train/valid/test by a "
        "hash of their id, within every speech folder. --rooms simulated / --rir DIR make "
        "the mixtures reverberant (each speaker's target is its reverberant image).",
    )
    allow_negative_ranges(p)
    p.add_argument(
        "--speech",
        required=True,
        action="append",
        type=Path,
        metavar="DIR",
        help="folder of speech files (repeatable)",
    )
    p.add_argument(
        "--noise",
        action="append",
        type=Path,
        metavar="DIR",
        help="folder of noise files (repeatable; SNR from --snr-range, default 0,10)",
    )
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--num", required=True, type=number_arg(int, 1), help="number of mixtures")
    p.add_argument("--speakers", type=int, choices=(2, 3), default=2)
    p.add_argument(
        "--mode",
        choices=("min", "max"),
        default="min",
        help="min: cut to the shortest utterance; max: pad to the longest",
    )
    p.add_argument(
        "--sir-range",
        type=range_arg,
        default=(-5.0, 5.0),
        metavar="LOW,HIGH",
        help="level of speaker 1 over each other speaker, dB (default -5,5)",
    )
    p.add_argument(
        "--snr-range",
        type=range_arg,
        default=None,
        metavar="LOW,HIGH",
        help="speech-to-noise ratio, dB (needs --noise)",
    )
    p.add_argument("--split", choices=("train", "valid", "test"), default="test")
    p.add_argument("--seed", type=number_arg(int, 0), default=0)
    p.add_argument("--sample-rate", type=number_arg(int, 1000, 384000), default=16000)
    p.add_argument(
        "--rule",
        choices=("auto", "librispeech", "vctk", "digits", "folder"),
        default="auto",
        help="how speaker ids are read from file names",
    )
    add_room_arguments(p, bank=False)
    p.add_argument(
        "--conversation",
        type=number_arg(float, 0.01, 600.0),
        default=None,
        metavar="MINUTES",
        help="long-form recordings instead: --people people of one corpus taking turns for "
        "MINUTES each, the true turns in metadata.json and mix/<id>.rttm (see "
        "separation_core/data/turn_taking.py); --mode and --speakers do not apply",
    )
    p.add_argument(
        "--people",
        type=number_arg(int, 1, 8),
        default=2,
        metavar="N",
        help="with --conversation: people in each recording, 1-8 (default 2)",
    )
    p.add_argument(
        "--turn-range",
        type=range_arg,
        default=(1.0, 8.0),
        metavar="LO,HI",
        help="with --conversation: length of a turn, seconds, cut to the utterance (default 1,8)",
    )
    p.add_argument(
        "--pause-range",
        type=range_arg,
        default=(0.3, 3.0),
        metavar="LO,HI",
        help="with --conversation: pause between turns, seconds (default 0.3,3)",
    )
    p.add_argument(
        "--overlap-range",
        type=range_arg,
        default=(0.5, 2.5),
        metavar="LO,HI",
        help="with --conversation: length of one overlap, seconds, at most half of either turn "
        "(default 0.5,2.5)",
    )
    p.add_argument(
        "--overlap-share",
        type=number_arg(float, 0.0, 0.5),
        default=None,
        metavar="F",
        help="with --conversation: share of the speech time where two people talk at once "
        "(default 0.1; 0 for one person; an interview: --people 2 --overlap-share 0.02)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace a mixture set in a non-empty OUT"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from separation_core.data.mixing import build_mixture_set, read_metadata
    from separation_core.io.filesets import ensure_writable_folder

    ensure_writable_folder(args.out, create=False)  # before the speech folders are read
    bar = ProgressBar("mix", enabled=not args.quiet)
    if args.conversation is not None:
        return _run_conversation(args, bar)
    try:
        path = build_mixture_set(
            args.speech,
            args.out,
            num=args.num,
            speakers=args.speakers,
            mode=args.mode,
            sir_range=args.sir_range,
            snr_range=args.snr_range,
            noise_dirs=args.noise,
            split=args.split,
            seed=args.seed,
            sample_rate=args.sample_rate,
            rule=args.rule,
            overwrite=args.overwrite,
            noise_prob=args.noise_prob,
            reverb=reverb_from_args(args, args.sample_rate),
            progress=bar,
        )
    finally:
        bar.close()
    meta = read_metadata(path.parent)
    seconds = sum(m["seconds"] for m in meta["mixtures"])
    speakers = {s["speaker"] for m in meta["mixtures"] for s in m["sources"]}
    print(
        f"wrote {len(meta['mixtures'])} mixtures ({seconds / 60:.1f} min, {len(speakers)} speakers of "
        f"the {args.split} split) to {path.parent}",
        file=sys.stdout,
    )
    return 0


def _run_conversation(args: argparse.Namespace, bar: ProgressBar) -> int:
    from separation_core.data.conversation import build_conversation_set
    from separation_core.data.mixing import read_metadata
    from separation_core.errors import CocktailError

    if args.speakers != 2:
        raise CocktailError(
            "--conversation takes --people N for the number of people, not --speakers"
        )
    try:
        path = build_conversation_set(
            args.speech,
            args.out,
            num=args.num,
            minutes=args.conversation,
            people=args.people,
            split=args.split,
            seed=args.seed,
            sample_rate=args.sample_rate,
            sir_range=args.sir_range,
            turn_range=args.turn_range,
            pause_range=args.pause_range,
            overlap_range=args.overlap_range,
            overlap_share=args.overlap_share,
            noise_dirs=args.noise,
            snr_range=args.snr_range,
            noise_prob=args.noise_prob,
            rule=args.rule,
            overwrite=args.overwrite,
            reverb=reverb_from_args(args, args.sample_rate),
            progress=bar,
        )
    finally:
        bar.close()
    meta = read_metadata(path.parent)
    _write_rttms(path.parent, meta)
    entries = meta["mixtures"]
    share = sum(m["overlap_share"] for m in entries) / len(entries)
    speakers = {s["speaker"] for m in entries for s in m["sources"]}
    print(
        f"wrote {len(entries)} conversations of {args.conversation:g} min, {args.people} people each "
        f"({len(speakers)} speakers of the {args.split} split; two talking in {100 * share:.1f}% of "
        f"the speech time) to {path.parent}",
        file=sys.stdout,
    )
    asked = meta["conversation"]["overlap_share"]
    if abs(share - asked) > 0.02:
        print(
            f"note: the overlap share measured, {share:.3f}, is more than 0.02 off the {asked:g} "
            "asked: a recording holds only so many overlaps, each at most half a turn and "
            "--overlap-range long",
            file=sys.stderr,
        )
    return 0


def _write_rttms(out: Path, meta: dict) -> None:
    """``out/mix/<id>.rttm`` for each recording of a conversation set (the people by their stems)."""
    from separation_core.io.rttm import Turn, write_rttm

    for stale in (out / "mix").glob("*.rttm"):
        stale.unlink()
    for entry in meta["mixtures"]:
        turns = [Turn(t["speaker"], t["start"], t["end"]) for t in entry["turns"]]
        names = [s["name"] for s in entry["sources"]]
        write_rttm(out / "mix" / f"{entry['id']}.rttm", turns, entry["id"], names)
