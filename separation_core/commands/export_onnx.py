"""``cocktail export-onnx MODEL OUT.onnx``: a model's network as an ONNX graph with a dynamic length."""

from __future__ import annotations

import argparse
from pathlib import Path

from separation_core.commands.common import add_command

DESCRIPTION = (
    "Export MODEL (a time-domain model: mixture -> waveforms, or a mask estimator: features "
    "-> masks; the STFT stays outside) to OUT.onnx with a dynamic batch and length and its "
    "sample rate, speakers and STFT grid as metadata. The graph is checked against the "
    "torch model with onnxruntime on random inputs of three lengths before it is written "
    "(atomically). Open the file as a model like any checkpoint."
)


def add_parser(sub) -> None:
    p = add_command(
        sub,
        "export-onnx",
        help="export a model's network to ONNX",
        description=DESCRIPTION,
        model="positional",
        overwrite="replace an existing OUT.onnx",
    )
    p.add_argument("out", type=Path, metavar="OUT.onnx")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from separation_core.checkpoints.catalog import load_model, resolve
    from separation_core.checkpoints.onnx_export import export_onnx

    entry = resolve(args.model)
    model = load_model(entry)
    source = str(entry.checkpoint) if entry.checkpoint else entry.id
    done = export_onnx(model, args.out, overwrite=args.overwrite, source=source, opset=args.opset)
    print(
        f"wrote {done['path']} ({done['contract']} graph of '{entry.id}', {model.sample_rate} Hz, "
        f"{model.n_src} outputs); onnxruntime reproduces torch within "
        f"{done['max_rel_diff']:.1e} of the output's peak"
    )
    return 0
