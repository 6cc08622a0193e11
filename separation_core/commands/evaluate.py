"""``cocktail evaluate``: PIT-aligned metrics of estimates (by default SI-SDR, SI-SDRi, SDR, PESQ (mean
over 30 s segments) and STOI; any registered in ``separation_core.evaluation.scoring``)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from separation_core.errors import CocktailError
from separation_core.evaluation.scoring import metric_specs


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score separated estimates against references",
        description="Scores estimates against reference sources after solving the "
        "permutation (Hungarian algorithm on pairwise SI-SDR).",
    )
    p.add_argument("--mixture", required=True, type=Path)
    p.add_argument("--refs", required=True, nargs="+", type=Path)
    p.add_argument("--estimates", required=True, nargs="+", type=Path)
    known = metric_specs()
    p.add_argument(
        "--metrics",
        default=",".join(m.name for m in known if m.default),
        help="comma-separated metrics (default: %(default)s): "
        + "; ".join(f"{m.name}: {m.description or m.label}" for m in known).replace("%", "%%"),
    )
    p.add_argument(
        "--rttm-ref",
        type=Path,
        metavar="REF.rttm",
        help="the true turns (RTTM); with --rttm, the diarization error rate is printed",
    )
    p.add_argument(
        "--rttm",
        type=Path,
        metavar="HYP.rttm",
        help="the turns found (RTTM), scored against --rttm-ref with a 0.25 s collar",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from separation_core.evaluation.scoring import ALL_METRICS, evaluate_separation, get_metric
    from separation_core.io.audio_io import load_audio, load_references

    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:
        raise CocktailError(
            f"unknown metric(s) {', '.join(unknown)} (known: {', '.join(ALL_METRICS)})"
        )
    specs = [get_metric(m) for m in metrics]
    if (args.rttm_ref is None) != (args.rttm is None):
        raise CocktailError("--rttm-ref and --rttm go together: the true turns and those found")
    if len(args.estimates) < len(args.refs):
        raise CocktailError(
            f"{len(args.estimates)} estimates for {len(args.refs)} references: "
            "give at least one estimate per reference"
        )
    mix = load_audio(args.mixture)
    n = len(mix.samples)
    refs = load_references(args.refs, sample_rate=mix.sample_rate, length=n)
    ests = load_references(args.estimates, sample_rate=mix.sample_rate, length=n, role="estimate")
    ev = evaluate_separation(ests, refs, mix.samples, mix.sample_rate, metrics=metrics)
    der = None if args.rttm is None else _diarization(args, n / mix.sample_rate)
    matched = set(ev.permutation.tolist())
    left_out = [p for j, p in enumerate(args.estimates) if j not in matched]
    if left_out:
        print(
            f"cocktail: note: {len(args.estimates)} estimates for {len(args.refs)} reference(s), "
            "paired by the highest total SI-SDR; not scored: " + ", ".join(map(str, left_out)),
            file=sys.stderr,
        )
    if args.json:
        print(
            json.dumps(
                {
                    "mixture": str(args.mixture),
                    "sample_rate": mix.sample_rate,
                    "permutation": [int(i) for i in ev.permutation],
                    "per_source": [
                        dict(ref=str(r), estimate=_name(args.estimates, j, str), **_clean(m))
                        for r, j, m in zip(args.refs, ev.permutation, ev.per_source)
                    ],
                    "mean": _clean(ev.mean),
                    "left_out": [str(p) for p in left_out],
                    "diarization": der,
                },
                indent=2,
            )
        )
        return 0
    print(f"{'reference':<28} {'estimate':<28} " + " ".join(f"{m.name:>8}" for m in specs))
    for r, j, values in zip(args.refs, ev.permutation, ev.per_source):
        print(
            f"{r.name:<28} {_name(args.estimates, j, lambda p: p.name):<28} "
            + " ".join(f"{m.format(values[m.name], 'nan'):>8}" for m in specs)
        )
    print(f"{'mean':<57} " + " ".join(f"{m.format(ev.mean[m.name], 'nan'):>8}" for m in specs))
    if der is not None:
        print(
            f"DER {100 * der['der']:.2f}% (0.25 s collar): missed {der['missed']:.2f} s, "
            f"false alarm {der['false_alarm']:.2f} s, confusion {der['confusion']:.2f} s "
            f"of {der['total']:.2f} s of speech"
        )
    return 0


def _diarization(args: argparse.Namespace, duration: float) -> dict:
    """DER parts of ``--rttm`` against ``--rttm-ref``, both cut to the mixture's ``duration``."""
    from separation_core.evaluation.diarization import diarization_error_rate
    from separation_core.io.rttm import read_rttm

    reference, _ = read_rttm(args.rttm_ref, duration=duration)
    hypothesis, _ = read_rttm(args.rttm, duration=duration)
    return diarization_error_rate(reference, hypothesis, collar=0.25)


def _name(estimates, j, fmt) -> str:
    return fmt(estimates[int(j)]) if j >= 0 else "(none)"


def _clean(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else float(v)) for k, v in d.items()}
