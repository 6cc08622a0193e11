"""``cocktail bench``: speed, memory and quality of models on this machine (a benchmark, not a test)."""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

from separation_core.commands.common import number_arg
from separation_core.engine.hardware import cpu_name
from separation_core.errors import CocktailError
from separation_core.evaluation.scoring import PRIMARY_METRIC, get_metric, metric_specs


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="measure speed, memory and quality of models",
        description="Per model: real-time factor on the CPU (and GPU when present), peak "
        "memory of `separate` on a long synthetic input, and on a fixed test "
        "set (a `cocktail mix` folder) the headline metrics (SI-SDRi, SDRi, "
        "PESQ, STOI, ...) beside the oracle IBM and IRM.",
    )
    p.add_argument(
        "--models", default=None, help="comma-separated ids (default: the bundled models)"
    )
    p.add_argument(
        "--seconds",
        type=number_arg(float, 0, above=True),
        default=60.0,
        help="input length for the real-time factor",
    )
    p.add_argument(
        "--long-minutes",
        type=number_arg(float, 0),
        default=60.0,
        help="length of the long input for peak memory (0: skip)",
    )
    p.add_argument(
        "--test-set",
        action="append",
        type=_named_set,
        default=[],
        metavar="[NAME=]DIR",
        help="mixture set for quality (`cocktail mix --split test ...`), repeatable: one "
        "condition each (clean, reverberant, noisy...), named NAME or by its folder; "
        "none: skip",
    )
    p.add_argument(
        "--conversation-set",
        action="append",
        type=_named_set,
        default=[],
        metavar="[NAME=]DIR",
        help="conversation set (`cocktail mix --conversation ...`, with its true turns), "
        "repeatable: conversation mode's per-person SI-SDRi, right number of stems, DER and "
        "speed with each model as its separator",
    )
    p.add_argument(
        "--limit",
        type=number_arg(int, 1),
        default=None,
        help="use the first N mixtures of the test set",
    )
    p.add_argument(
        "--onnx",
        action="store_true",
        help="also time each time-domain model and mask estimator exported to ONNX and run "
        "by onnxruntime on the CPU, beside torch (same engine, same input)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def _named_set(text: str) -> tuple[str, Path]:
    """'NAME=DIR' or 'DIR' (named by its folder) -> (name, path)."""
    name, sep, path = text.partition("=")
    if not sep:
        return Path(text).name, Path(text)
    if not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR or DIR, got '{text}'")
    return name, Path(path)


def _model_ids(spec):
    from separation_core.checkpoints.catalog import list_models

    if spec:
        return [s.strip() for s in spec.split(",") if s.strip()]
    ids = [e.id for e in list_models() if e.origin == "bundled"]
    if not ids:
        raise CocktailError("no bundled models to benchmark; name some with --models")
    return ids


def run(args: argparse.Namespace) -> int:
    import torch

    from separation_core.checkpoints.catalog import load_model, resolve
    from separation_core.evaluation import benchmark

    report = {
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__,
        },
        "models": {},
    }
    sets = {}
    for flag, named in (
        ("--test-set", args.test_set),
        ("--conversation-set", args.conversation_set),
    ):
        if len({name for name, _ in named}) < len(named):
            raise CocktailError(f"two {flag} share one name; name them NAME=DIR")
    conversations = {}
    if args.conversation_set:
        from separation_core.data.mixing import load_mixture_set

        conversations = {
            name: load_mixture_set(path, limit=args.limit) for name, path in args.conversation_set
        }
        report["conversation_sets"] = {
            name: {"path": str(path), "recordings": len(conversations[name])}
            for name, path in args.conversation_set
        }
    if args.test_set:
        from separation_core.data.mixing import load_mixture_set

        sets = {name: load_mixture_set(path, limit=args.limit) for name, path in args.test_set}
        report["test_sets"] = {
            name: {"path": str(path), "mixtures": len(sets[name])} for name, path in args.test_set
        }
        first = args.test_set[0]
        report["test_set"] = {"path": str(first[1]), "mixtures": len(sets[first[0]])}
        for oracle in ("oracle-ibm", "oracle-irm"):
            report["models"][oracle] = _quality_rows(benchmark, load_model(oracle), sets)
    for model_id in _model_ids(args.models):
        entry = resolve(model_id)
        model = load_model(entry)
        row = {
            "parameters": entry.num_parameters,
            "sample_rate": entry.sample_rate,
            "n_src": entry.n_src,
        }
        if not model.needs_references:
            row["cpu"] = benchmark.real_time_factor(model, args.seconds, "cpu")
            if args.onnx:
                row["onnx_cpu"] = _onnx_speed(model, args.seconds)
            if torch.cuda.is_available():
                row["gpu"] = benchmark.real_time_factor(model, args.seconds, "cuda")
                model.to("cpu")
            if args.long_minutes > 0:
                row["long"] = benchmark.long_input_peak_memory(
                    str(entry.checkpoint) if entry.checkpoint else entry.id, args.long_minutes
                )
        if sets:
            row.update(_quality_rows(benchmark, model, sets))
        if conversations and not model.needs_references:
            row["conversation_by_set"] = {
                name: benchmark.conversation_quality(model, items)
                for name, items in conversations.items()
            }
        report["models"][entry.id] = row
    if args.json:
        print(json.dumps(report, indent=2, default=float))
    else:
        _print_table(report)
    return 0


def _quality_rows(benchmark, model, sets: dict) -> dict:
    """``{"quality": first set's figures, "quality_by_set": {name: figures}}``.

    On a set of mixtures of another number of speakers than the model's outputs, a clustering
    model (deep clustering, Chimera++) is told that number (its K); a separator with fewer
    outputs than speakers is skipped, with the reason in place of the figures (the unmatched
    speakers would drop out of the means)."""
    from separation_core.models.base import RunOptions

    by_set = {}
    for name, items in sets.items():
        speakers = int(items[0].sources.shape[0]) if items else model.n_src
        if model.needs_references or speakers == model.n_src:
            by_set[name] = benchmark.quality(model, items)
        elif model.takes_num_speakers:
            run = RunOptions(num_speakers=speakers)
            by_set[name] = benchmark.quality(model, items, run) | {"num_speakers": speakers}
        elif 2 <= model.n_src < speakers:
            by_set[name] = {
                "skipped": f"{speakers}-speaker mixtures; the model has {model.n_src} outputs"
            }
        else:
            by_set[name] = benchmark.quality(model, items)
    return {"quality": next(iter(by_set.values())), "quality_by_set": by_set}


def _onnx_speed(model, seconds: float) -> dict:
    """Real-time factor of ``model`` exported to ONNX and run by onnxruntime on the CPU (or why not)."""
    import tempfile

    from separation_core.checkpoints.onnx_export import export_onnx
    from separation_core.errors import CocktailError
    from separation_core.evaluation import benchmark
    from separation_core.models.onnx_model import load_onnx_model

    with tempfile.TemporaryDirectory() as tmp:
        try:
            export_onnx(model, Path(tmp) / "model.onnx")
            onnx_model = load_onnx_model(Path(tmp) / "model.onnx")
        except CocktailError as err:
            return {"error": str(err)}
        return benchmark.real_time_factor(onnx_model, seconds, "cpu")


def _fmt(value, spec=".2f") -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else format(value, spec)
    )


def _print_table(report: dict) -> None:
    m = report["machine"]
    print(
        f"machine: {m['cpu']}, {m['cores']} cores, {m['threads']} torch threads, GPU: {m['gpu'] or 'none'}, torch {m['torch']}"
    )
    quality = metric_specs(headline=True)
    cols = ("cpu x RT", "ort x RT", "gpu x RT", "peak MB", *(m.label for m in quality))
    print(f"{'model':<28}" + "".join(f"{c:>10}" for c in cols))
    for name, row in report["models"].items():
        q = row.get("quality", {})
        cells = [
            row.get("cpu", {}).get("speed_x_realtime"),
            row.get("onnx_cpu", {}).get("speed_x_realtime"),
            row.get("gpu", {}).get("speed_x_realtime"),
            row.get("long", {}).get("peak_mb"),
            *(q.get(m.name) for m in quality),
        ]
        specs = (".1f", ".1f", ".1f", ".0f", *(m.fmt for m in quality))
        print(f"{name:<28}" + "".join(f"{_fmt(c, s):>10}" for c, s in zip(cells, specs)))
    if "test_set" in report:
        print(f"test set: {report['test_set']['path']} ({report['test_set']['mixtures']} mixtures)")
    if len(report.get("test_sets", {})) > 1:
        names = list(report["test_sets"])
        primary = get_metric(PRIMARY_METRIC)
        print(
            f"\n{primary.heading} per test set\n{'model':<28}"
            + "".join(f"{n[:14]:>15}" for n in names)
        )
        for name, row in report["models"].items():
            by_set = row.get("quality_by_set", {})
            print(
                f"{name:<28}"
                + "".join(
                    f"{_fmt(by_set.get(n, {}).get(primary.name), primary.fmt):>15}" for n in names
                )
            )
        for name, info in report["test_sets"].items():
            print(f"{name}: {info['path']} ({info['mixtures']} mixtures)")
    if report.get("conversation_sets"):
        _print_conversations(report)


def _print_conversations(report: dict) -> None:
    print(
        "\nconversation mode: SI-SDRi per person (dB) / right count / DER / x real time\n"
        f"{'model':<28}{'set':<16}{'SI-SDRi':>9}{'count':>8}{'DER':>8}{'x RT':>8}"
    )
    for name, row in report["models"].items():
        for set_name, q in row.get("conversation_by_set", {}).items():
            print(
                f"{name:<28}{set_name[:15]:<16}{_fmt(q['si_sdri']):>9}"
                f"{_fmt(100 * q['right_count'], '.0f'):>7}%"
                f"{_fmt(None if q['der'] is None else 100 * q['der'], '.1f'):>7}%"
                f"{_fmt(q['speed_x_realtime'], '.1f'):>8}"
            )
    for name, info in report["conversation_sets"].items():
        print(f"{name}: {info['path']} ({info['recordings']} recordings)")
