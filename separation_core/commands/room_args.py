"""The reverberation and noise-share options shared by ``cocktail mix`` and ``cocktail train``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from separation_core.commands.common import number_arg, range_arg

probability = number_arg(float, 0.0, 1.0)


def add_room_arguments(p: argparse.ArgumentParser, *, bank: bool) -> None:
    """``--rooms``, ``--rir``, ``--reverb-prob``, ``--measured-prob``, ``--rt60-range``, ``--noise-prob``."""
    if bank:
        p.add_argument(
            "--rooms",
            type=number_arg(int, 0, 100000),
            default=0,
            metavar="N",
            help="simulate N shoebox rooms (image-source method, pyroomacoustics) once, cached "
            "in the run folder, and draw each reverberant mixture's room from them",
        )
    else:
        p.add_argument(
            "--rooms",
            choices=("simulated",),
            default=None,
            help="simulated: a fresh shoebox room (image-source method) per reverberant mixture",
        )
    p.add_argument(
        "--rir",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="measured room impulse responses (repeatable); each folder holding audio files is "
        "one room, each file one position",
    )
    p.add_argument(
        "--reverb-prob",
        type=probability,
        default=1.0,
        metavar="P",
        help="share of the mixtures made reverberant when rooms are given (default 1)",
    )
    p.add_argument(
        "--measured-prob",
        type=probability,
        default=0.3,
        metavar="P",
        help="share of the reverberant mixtures that take a measured room when there are both "
        "kinds (default 0.3)",
    )
    p.add_argument(
        "--rt60-range",
        type=range_arg,
        default=(0.1, 0.8),
        metavar="LO,HI",
        help="reverberation time of the simulated rooms, seconds (default 0.1,0.8)",
    )
    p.add_argument(
        "--noise-prob",
        type=probability,
        default=1.0,
        metavar="P",
        help="share of the mixtures that get noise when --noise is given (default 1)",
    )


def reverb_from_args(
    args: argparse.Namespace, sample_rate: int, *, seed: int = 0, cache_dir: Optional[Path] = None
):
    """The ReverbOptions the parsed arguments describe (off when no room was asked for)."""
    from separation_core.data.rooms import ReverbOptions, measured_rooms, simulated_bank
    from separation_core.errors import CocktailError

    if args.rt60_range[0] <= 0:
        raise CocktailError(f"the RT60 range must be positive seconds, got {args.rt60_range}")
    measured = tuple(measured_rooms(args.rir, sample_rate)) if args.rir else ()
    each = args.rooms == "simulated"
    bank = ()
    if isinstance(args.rooms, int) and args.rooms > 0:
        bank = tuple(simulated_bank(args.rooms, sample_rate, seed, args.rt60_range, cache_dir))
    return ReverbOptions(
        simulated=bank,
        measured=measured,
        prob=args.reverb_prob,
        measured_prob=args.measured_prob,
        simulate_each=each,
        sample_rate=sample_rate,
        rt60_range=tuple(args.rt60_range),
    )
