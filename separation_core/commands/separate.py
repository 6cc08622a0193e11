"""``cocktail separate``: separate audio files into one WAV per speaker, with a JSON sidecar.

Under torchrun each rank separates its share of the inputs (inputs[rank::world_size]).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

from separation_core.commands.adapting import adapt_budget, adapt_result, add_adapt_arguments
from separation_core.commands.common import add_command, number_arg
from separation_core.errors import CocktailError

FORMATS = {"wav": ".wav", "flac": ".flac"}
MAX_SPEAKERS = 8  # clustering models: the most speakers asked for
MIN_CHUNK_SECONDS = 0.25
CONVERSATION_MIN_SECONDS = 20.0  # --mode auto: shorter inputs run the model alone  # shorter chunks are too short for the models' STFT windows
DENOISER = "gtcrn-dns3-16k"  # --denoise (and the GUI's tick): a bundled enhancement model
log = logging.getLogger(__name__)


DESCRIPTION = (
    "Separate each INPUT into OUT/<stem>_s1.wav, _s2.wav, ... at the input's sample rate "
    "and length, plus OUT/<stem>.json. Every output is planned before any work: inputs "
    "that would write the same files (good.wav and good.ogg, a/take.wav and b/take.wav) "
    "are refused (give them different --out folders), OUT must be writable, and existing "
    "files are kept unless --overwrite. An input that fails is reported in one line, the "
    "others still run, and the exit status is then 1."
)


def add_parser(sub) -> None:
    p = add_command(
        sub,
        "separate",
        help="separate audio files into one file per speaker",
        description=DESCRIPTION,
        model="option",
        overwrite="replace existing outputs",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", type=Path)
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument(
        "--refs",
        nargs="+",
        type=Path,
        default=None,
        metavar="REF",
        help="reference sources (one file per speaker; one input only): needed by oracle-*",
    )
    p.add_argument(
        "--num-speakers",
        type=number_arg(int, 1, MAX_SPEAKERS),
        default=None,
        metavar="K",
        help=f"number of speakers (1..{MAX_SPEAKERS}) for clustering models (dc-blstm, "
        "chimera, with kmeans); other models only take their own count",
    )
    p.add_argument(
        "--mode",
        choices=("auto", "conversation", "model"),
        default="auto",
        help="conversation: one stem per person found, the mixture where one person talks and "
        "the model only where people overlap, plus an RTTM file of who talks when; model: the "
        f"model's own outputs; auto (default): conversation for inputs of {CONVERSATION_MIN_SECONDS:g} s "
        "or more with a separator of voices, else model",
    )
    p.add_argument(
        "--speakers",
        type=speaker_count,
        default="auto",
        metavar="auto|N|MIN-MAX",
        help="conversation mode: how many people (1-8): found (auto, default), given, or found "
        "within a range",
    )
    p.add_argument("--clustering", choices=("kmeans", "meanshift"), default="kmeans")
    p.add_argument(
        "--binary-masks",
        action="store_true",
        help="clustering models: each bin to one speaker (default: soft masks from the "
        "distances to the cluster centres)",
    )
    p.add_argument(
        "--denoise",
        action="store_true",
        help="a first stage: the bundled speech enhancer (GTCRN, DNS3 weights) removes noise "
        "before the model runs",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    p.add_argument(
        "--chunk-seconds",
        type=number_arg(float, MIN_CHUNK_SECONDS, or_zero=True),
        default=None,
        metavar="S",
        help=f"chunk length, at least {MIN_CHUNK_SECONDS:g} (0: whole input at once; "
        "default: the model's)",
    )
    p.add_argument(
        "--overlap-seconds",
        type=number_arg(float, 0.0),
        default=None,
        metavar="O",
        help="overlap of neighbouring chunks (at most half a chunk)",
    )
    p.add_argument(
        "--channel",
        type=number_arg(int, 0),
        default=None,
        metavar="C",
        help="use this channel (0-based) instead of a downmix",
    )
    p.add_argument("--format", choices=sorted(FORMATS), default="wav")
    p.add_argument("--subtype", choices=("PCM_16", "PCM_24", "FLOAT"), default="PCM_16")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_adapt_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from separation_core.checkpoints.catalog import load_model, resolve
    from separation_core.commands.common import dist_rank_world
    from separation_core.engine.inference import EngineOptions
    from separation_core.io.export_plan import refuse_existing
    from separation_core.io.filesets import ensure_writable_folder
    from separation_core.models.base import RunOptions

    _check_options(args)
    entry = resolve(args.model)
    n_model = output_count(entry, args.num_speakers, args.refs, args.clustering)
    conversation = conversation_possible(args, entry)
    if adapt_budget(args) is not None and not conversation:
        raise CocktailError(f"--adapt needs conversation mode; '{entry.id}' cannot serve")
    n_out = max(n_model, args.speakers.high if conversation else 0)
    targets = plan_outputs(args, n_out, rttm=conversation)
    ensure_writable_folder(args.out)
    rank, world = dist_rank_world()
    mine = list(zip(args.inputs, targets))[rank::world]
    failures, ready = 0, []
    for path, target in mine:
        try:
            refuse_existing([target], args.overwrite, "use --overwrite to replace it")
            ready.append((path, target))
        except CocktailError as e:
            failures += _report(path, e)
    if ready:
        t_load = time.perf_counter()
        model = load_model(entry)
        load_seconds = time.perf_counter() - t_load
        options = EngineOptions(
            chunk_seconds=args.chunk_seconds,
            overlap_seconds=args.overlap_seconds,
            device=args.device,
            keep_masks=False,
            max_embedding_points=0,
            denoiser=load_model(DENOISER) if args.denoise else None,
            run=RunOptions(
                num_speakers=args.num_speakers,
                clustering=args.clustering,
                binary_masks=args.binary_masks,
            ),
        )
        for path, target in ready:
            failures += _run_one(
                path, target, args, entry, model, options, load_seconds, conversation
            )
    if failures:
        print(f"cocktail: {failures} of {len(mine)} input(s) failed", file=sys.stderr)
    return 1 if failures else 0


def _check_options(args: argparse.Namespace) -> None:
    if args.refs and len(args.inputs) > 1:
        raise CocktailError("--refs can only be given with a single input")
    if args.format == "flac" and args.subtype == "FLOAT":
        raise CocktailError("FLAC cannot hold 32-bit float samples; use --subtype PCM_16 or PCM_24")
    chunk, overlap = args.chunk_seconds, args.overlap_seconds
    if chunk and overlap is not None and 2 * overlap > chunk:
        raise CocktailError(
            f"--overlap-seconds {args.overlap_seconds:g} is more than half of "
            f"--chunk-seconds {args.chunk_seconds:g}"
        )


def output_count(entry, num_speakers, refs, clustering: str = "kmeans") -> int:
    """How many stems ``entry`` gives; refuses a --num-speakers the model cannot honour, and an
    oracle without --refs."""
    if entry.needs_references and not refs:
        raise CocktailError(
            f"model '{entry.id}' needs the reference sources: give --refs (one file per speaker)"
        )
    if entry.takes_num_speakers:
        if num_speakers is not None and clustering == "meanshift":
            raise CocktailError(
                "--num-speakers cannot be used with --clustering meanshift, which finds "
                "the number of speakers itself"
            )
        return num_speakers or entry.n_src
    n = len(refs) if entry.needs_references and refs else entry.n_src
    if num_speakers is not None and num_speakers != n:
        gives = (
            f"one source per reference ({n})"
            if entry.needs_references
            else f"always gives {n} sources"
        )
        raise CocktailError(
            f"model '{entry.id}' {gives}, so --num-speakers "
            f"{num_speakers} cannot be honoured (clustering models such as dc-blstm "
            "take a number of speakers)"
        )
    return n


def plan_outputs(args: argparse.Namespace, n_out: int, rttm: bool = False) -> list:
    """The files of every input (all ranks' inputs, so that no two collide): ``n_out`` stems at
    most (a conversation writes as many as it finds people), and an RTTM file with ``rttm``."""
    from separation_core.io.export_plan import ExportRequest, plan_exports

    requests = [ExportRequest(str(path), path.stem, n_out) for path in args.inputs]
    return plan_exports(
        requests,
        args.out,
        extension=FORMATS[args.format],
        rttm=rttm,
        collision_hint="give them different --out folders",
    )


def speaker_count(text: str):
    """``--speakers`` as a SpeakerCount (argparse reports a bad value in one line)."""
    from separation_core.conversation.people import SpeakerCount

    try:
        return SpeakerCount.parse(text)
    except CocktailError as e:
        raise argparse.ArgumentTypeError(str(e).split(": ", 1)[-1]) from None


def separates_voices(entry, num_speakers: int | None) -> bool:
    """Whether ``entry`` can serve conversation mode: a separator of voices with two or more
    outputs, that needs no references, run with its own speaker count (the CLI and the window)."""
    return (
        not entry.needs_references
        and entry.n_src >= 2
        and entry.outputs_are_voices
        and num_speakers is None
    )


def conversation_possible(args: argparse.Namespace, entry) -> bool:
    """Whether ``--mode`` may run conversation mode with ``entry`` (``separates_voices``);
    refuses --mode conversation otherwise."""
    fits = separates_voices(entry, args.num_speakers)
    if args.mode == "conversation" and not fits:
        raise CocktailError(
            f"--mode conversation needs a separator of voices with two or more outputs and no "
            f"--num-speakers; '{entry.id}' cannot serve"
        )
    if args.mode == "model" and args.speakers.text() != "auto":
        raise CocktailError(
            "--speakers is for conversation mode; with --mode model use --num-speakers"
        )
    return args.mode != "model" and fits


def _run_one(path: Path, target, args, entry, model, options, load_seconds, conversation) -> int:
    """Separate one input into its planned ``target``; a failure is reported in one line and
    counted (returns 0 or 1)."""
    try:
        _separate_one(path, target, args, entry, model, options, load_seconds, conversation)
        return 0
    except CocktailError as e:
        return _report(path, e)
    except Exception as e:  # a bug or the system (memory, ...): the other inputs still run
        log.debug("separating %s failed", path, exc_info=True)
        return _report(path, f"{type(e).__name__}: {e}")


def _report(path: Path, error) -> int:
    text = " ".join(str(error).split())
    if str(path) not in text and path.name not in text:
        text = f"{path}: {text}"
    print(f"cocktail: error: {text}", file=sys.stderr)
    return 1


def _separate_one(path, target, args, entry, model, options, load_seconds, conversation) -> None:
    from separation_core.commands.common import ProgressBar
    from separation_core.engine.inference import resolve_device, separate
    from separation_core.engine.memory_check import memory_problem
    from separation_core.engine.run_estimate import load_bench
    from separation_core.io.audio_io import load_audio, load_references
    from separation_core.io.export import (
        build_sidecar,
        describe_input,
        output_options,
        write_target,
    )

    t0 = time.perf_counter()
    audio = load_audio(path, channel=args.channel)
    load_input = time.perf_counter() - t0
    refs = None
    if args.refs:
        refs = load_references(args.refs, sample_rate=audio.sample_rate, length=len(audio.samples))
    for warning in audio.warnings:
        print(f"cocktail: warning: {warning}", file=sys.stderr)
    if resolve_device(args.device).type == "cpu":  # a GPU run retries shorter chunks itself
        seconds = len(audio.samples) / audio.sample_rate
        problem = memory_problem(entry, model, seconds, args.chunk_seconds, load_bench())
        if problem is not None and problem.chunk_seconds is not None:
            raise CocktailError(problem.text)
        if problem is not None:
            print(f"cocktail: warning: {path}: {problem.text}", file=sys.stderr)
    seconds = len(audio.samples) / audio.sample_rate
    as_conversation = conversation and (
        args.mode == "conversation" or seconds >= CONVERSATION_MIN_SECONDS
    )
    bar = ProgressBar(path.name, enabled=not args.quiet)
    try:
        if as_conversation:
            from separation_core.conversation.pipeline import (
                ConversationOptions,
                separate_conversation,
            )

            result = separate_conversation(
                model,
                audio.samples,
                audio.sample_rate,
                ConversationOptions(
                    speakers=args.speakers,
                    engine=options,
                    model_outputs_without_speech=args.mode == "auto" and adapt_budget(args) is None,
                ),
                progress=bar,
            )
        else:
            result = separate(
                model, audio.samples, audio.sample_rate, options, references=refs, progress=bar
            )
    finally:
        bar.close()
    target = target.with_stems(result.n_src)
    as_conversation = as_conversation and result.turns is not None
    if not as_conversation:
        target = replace(target, rttm=None)
        short = conversation and args.mode == "auto" and seconds < CONVERSATION_MIN_SECONDS
        why = (
            f" (conversation mode starts at {CONVERSATION_MIN_SECONDS:g} s; "
            "--mode conversation asks for it)"
            if short
            else ""
        )
        print(
            f"cocktail: {path.name}: {result.n_src} stems, the model's own outputs{why}",
            file=sys.stderr,
        )
    else:
        who = ", ".join(result.people)
        turns = f"{len(result.turns)} turn{'' if len(result.turns) == 1 else 's'}"
        print(
            f"cocktail: {path.name}: {result.n_src} {'person' if result.n_src == 1 else 'people'} "
            f"({who}), {turns}, the model's outputs used on "
            f"{sum(b - a for a, b in result.separated_spans):.1f} s (overlaps and handovers)",
            file=sys.stderr,
        )
    adaptation, budget = None, adapt_budget(args)
    if budget is not None and as_conversation:
        result, adaptation = adapt_result(path, audio, model, entry, result, args, budget)
    elif budget is not None:
        result.notes.append("not adapted: adaptation needs conversation mode (--mode conversation)")
    for note in result.notes:
        print(f"cocktail: note: {path}: {note}", file=sys.stderr)
    # result.timings' "prepare" is the engine's resampling; "load_input" reading the file
    timings = dict(
        result.timings,
        model_load=load_seconds,
        load_input=load_input,
        wall=time.perf_counter() - t0,
        audio_seconds=len(audio.samples) / audio.sample_rate,
    )
    opts = {
        "mode": "conversation" if as_conversation else "model",
        "speakers": args.speakers.text() if as_conversation else None,
        "num_speakers": args.num_speakers,
        "clustering": args.clustering,
        "binary_masks": args.binary_masks,
        "device": args.device,
        "denoise": DENOISER if args.denoise else None,
        "chunk_seconds": args.chunk_seconds,
        "overlap_seconds": args.overlap_seconds,
        "channel": args.channel,
        "adapt": budget.to_dict() if budget is not None else None,
        **output_options(FORMATS[args.format], args.subtype),
    }
    source = describe_input(path, audio.sample_rate, len(audio.samples))
    sidecar = build_sidecar(
        source, entry, opts, timings=timings, references=args.refs or (), notes=result.notes
    )
    if adaptation is not None:
        sidecar["adaptation"] = adaptation
    write_target(result, target, subtype=args.subtype, overwrite=args.overwrite, sidecar=sidecar)
