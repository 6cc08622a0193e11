"""``cocktail separate``: separate audio files into one WAV per speaker, with a JSON sidecar.

Under torchrun each rank separates its share of the inputs (inputs[rank::world_size]).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import CocktailError

FORMATS = {"wav": ".wav", "flac": ".flac"}


def add_parser(sub) -> None:
    p = sub.add_parser("separate", help="separate audio files into one file per speaker",
                       description="Separate each INPUT into OUT/<stem>_s1.wav, _s2.wav, ... at the "
                                   "input's sample rate and length, plus OUT/<stem>.json.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", type=Path)
    p.add_argument("--model", default=None,
                   help="model id, registry name or checkpoint path (default: the bundled default)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--refs", nargs="+", type=Path, default=None, metavar="REF",
                   help="reference sources (one file per speaker; one input only): needed by oracle-*")
    p.add_argument("--num-speakers", type=int, default=None, metavar="K",
                   help="number of speakers for clustering models (dc-blstm, chimera)")
    p.add_argument("--clustering", choices=("kmeans", "meanshift"), default="kmeans")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    p.add_argument("--chunk-seconds", type=float, default=None, metavar="S",
                   help="chunk length (0: whole input at once; default: the model's)")
    p.add_argument("--overlap-seconds", type=float, default=None, metavar="O")
    p.add_argument("--channel", type=int, default=None, help="use this channel instead of a downmix")
    p.add_argument("--format", choices=sorted(FORMATS), default="wav")
    p.add_argument("--subtype", choices=("PCM_16", "PCM_24", "FLOAT"), default="PCM_16")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..catalog import load_model, resolve
    from ..inference import EngineOptions
    from ..models.base import RunOptions
    from .common import dist_rank_world

    if args.refs and len(args.inputs) > 1:
        raise CocktailError("--refs can only be given with a single input")
    if args.num_speakers is not None and args.num_speakers < 1:
        raise CocktailError(f"--num-speakers must be at least 1, got {args.num_speakers}")
    if args.format == "flac" and args.subtype == "FLOAT":
        raise CocktailError("FLAC cannot hold 32-bit float samples; use --subtype PCM_16 or PCM_24")
    rank, world = dist_rank_world()
    inputs = args.inputs[rank::world]
    entry = resolve(args.model)
    t_load = time.perf_counter()
    model = load_model(entry)
    load_seconds = time.perf_counter() - t_load
    options = EngineOptions(chunk_seconds=args.chunk_seconds, overlap_seconds=args.overlap_seconds,
                            device=args.device, keep_masks=False, max_embedding_points=0,
                            run=RunOptions(num_speakers=args.num_speakers, clustering=args.clustering))
    extension = FORMATS[args.format]
    failures = 0
    for path in inputs:
        try:
            _separate_one(path, args, entry, model, options, extension, load_seconds)
        except CocktailError as e:
            failures += 1
            print(f"cocktail: error: {e}", file=sys.stderr)
    return 1 if failures else 0


def _separate_one(path, args, entry, model, options, extension, load_seconds) -> None:
    from ..audio_io import load_audio, load_references
    from ..export import build_sidecar, stem_paths, write_stems
    from ..inference import separate
    from .common import ProgressBar

    n_out = args.num_speakers or (len(args.refs) if args.refs else model.n_src)
    planned = stem_paths(args.out, path.stem, n_out, extension=extension)
    existing = [p for p in planned + [args.out / f"{path.stem}.json"] if p.exists()]
    if existing and not args.overwrite:
        raise CocktailError(f"{existing[0]}: already exists (use --overwrite to replace it)")
    t0 = time.perf_counter()
    audio = load_audio(path, channel=args.channel)
    refs = None
    if args.refs:
        refs = load_references(args.refs, sample_rate=audio.sample_rate, length=len(audio.samples))
    for warning in audio.warnings:
        print(f"cocktail: warning: {warning}", file=sys.stderr)
    bar = ProgressBar(path.name, enabled=not args.quiet)
    try:
        result = separate(model, audio.samples, audio.sample_rate, options, references=refs,
                          progress=bar)
    finally:
        bar.close()
    for note in result.notes:
        print(f"cocktail: note: {path}: {note}", file=sys.stderr)
    timings = dict(result.timings, model_load=load_seconds, load_input=result.timings.get("prepare"),
                   wall=time.perf_counter() - t0, audio_seconds=len(audio.samples) / audio.sample_rate)
    opts = {"num_speakers": args.num_speakers, "clustering": args.clustering, "device": args.device,
            "chunk_seconds": args.chunk_seconds, "overlap_seconds": args.overlap_seconds,
            "channel": args.channel, "subtype": args.subtype}
    sidecar = build_sidecar(path, entry, opts, timings=timings, references=args.refs or ())
    sidecar["sample_rate"] = audio.sample_rate
    sidecar["samples"] = len(audio.samples)
    write_stems(result, args.out, path.stem, subtype=args.subtype, extension=extension,
                overwrite=args.overwrite, sidecar=sidecar)
