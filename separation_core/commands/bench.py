"""``cocktail bench``: speed, memory and quality of models on this machine (a benchmark, not a test)."""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

from ..errors import CocktailError
from ..hardware import cpu_name
from .common import number_arg


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure speed, memory and quality of models",
                       description="Per model: real-time factor on the CPU (and GPU when present), peak "
                                   "memory of `separate` on a long synthetic input, and on a fixed test "
                                   "set (a `cocktail mix` folder) SI-SDRi / SDRi / PESQ / STOI beside "
                                   "the oracle IBM and IRM.")
    p.add_argument("--models", default=None, help="comma-separated ids (default: the bundled models)")
    p.add_argument("--seconds", type=number_arg(float, 0, above=True), default=60.0, help="input length for the real-time factor")
    p.add_argument("--long-minutes", type=number_arg(float, 0), default=60.0,
                   help="length of the long input for peak memory (0: skip)")
    p.add_argument("--test-set", type=Path, default=None, metavar="DIR",
                   help="mixture set for quality (`cocktail mix --split test ...`); none: skip")
    p.add_argument("--limit", type=number_arg(int, 1), default=None, help="use the first N mixtures of the test set")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def _model_ids(spec):
    from ..catalog import list_models
    if spec:
        return [s.strip() for s in spec.split(",") if s.strip()]
    ids = [e.id for e in list_models() if e.origin == "bundled"]
    if not ids:
        raise CocktailError("no bundled models to benchmark; name some with --models")
    return ids


def run(args: argparse.Namespace) -> int:
    import torch

    from .. import benchmark
    from ..catalog import load_model, resolve

    report = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
                          "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                          "torch": torch.__version__}, "models": {}}
    items = []
    if args.test_set is not None:
        from ..data.mixing import load_mixture_set
        items = load_mixture_set(args.test_set, limit=args.limit)
        report["test_set"] = {"path": str(args.test_set), "mixtures": len(items)}
        for oracle in ("oracle-ibm", "oracle-irm"):
            model = load_model(oracle)
            report["models"][oracle] = {"quality": benchmark.quality(model, items)}
    for model_id in _model_ids(args.models):
        entry = resolve(model_id)
        model = load_model(entry)
        row = {"parameters": entry.num_parameters, "sample_rate": entry.sample_rate, "n_src": entry.n_src}
        if not model.needs_references:
            row["cpu"] = benchmark.real_time_factor(model, args.seconds, "cpu")
            if torch.cuda.is_available():
                row["gpu"] = benchmark.real_time_factor(model, args.seconds, "cuda")
                model.to("cpu")
            if args.long_minutes > 0:
                row["long"] = benchmark.long_input_peak_memory(
                    str(entry.checkpoint) if entry.checkpoint else entry.id, args.long_minutes)
        if items:
            row["quality"] = benchmark.quality(model, items)
        report["models"][entry.id] = row
    if args.json:
        print(json.dumps(report, indent=2, default=float))
    else:
        _print_table(report)
    return 0


def _fmt(value, spec=".2f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _print_table(report: dict) -> None:
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['threads']} torch threads, GPU: {m['gpu'] or 'none'}, torch {m['torch']}")
    cols = ("cpu x RT", "gpu x RT", "peak MB", "SI-SDRi", "SDRi", "PESQ", "STOI")
    print(f"{'model':<28}" + "".join(f"{c:>10}" for c in cols))
    for name, row in report["models"].items():
        q = row.get("quality", {})
        cells = [row.get("cpu", {}).get("speed_x_realtime"), row.get("gpu", {}).get("speed_x_realtime"),
                 row.get("long", {}).get("peak_mb"), q.get("si_sdri"), q.get("sdri"), q.get("pesq"),
                 q.get("stoi")]
        specs = (".1f", ".1f", ".0f", ".2f", ".2f", ".2f", ".3f")
        print(f"{name:<28}" + "".join(f"{_fmt(c, s):>10}" for c, s in zip(cells, specs)))
    if "test_set" in report:
        print(f"test set: {report['test_set']['path']} ({report['test_set']['mixtures']} mixtures)")
