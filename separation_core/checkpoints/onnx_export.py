"""Export a model's network to ONNX (``cocktail export-onnx``), with a dynamic length.

Time-domain models export ``mixture [batch, time] -> waveforms [batch, n_src, time]``; the mask
estimators export ``features [batch, frames, freq] -> masks [batch, n_src, freq, frames]`` (the STFT
and the features stay outside the graph). The contract and the metadata are those that
``models.onnx_model`` checks on load. The graph is made with torch's TorchScript-based exporter
(``dynamo=False``: it needs no onnxscript and handles the LSTMs), checked against the torch model
with onnxruntime on random inputs of several lengths, and only then written, atomically.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import numpy as np
import torch
from torch import nn

from separation_core import __version__
from separation_core.errors import CocktailError, ModelError
from separation_core.io.fileutil import atomic_write
from separation_core.models.base import SeparationModel
from separation_core.models.onnx_model import (
    CONTRACT_MASK,
    CONTRACT_TIME,
    FEATURES,
    OUTPUTS,
    OnnxMaskModel,
    OnnxTimeDomainModel,
    session,
)

OPSET = 17
TOLERANCE = 1e-4  # max |torch - onnxruntime| relative to the torch output's peak
CHECK_SECONDS = (1.0, 1.37, 2.51)


class _TimeGraph(nn.Module):
    def __init__(self, model: SeparationModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        return self.model(mixture)["waveforms"]


class _MaskGraph(nn.Module):
    def __init__(self, model: SeparationModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model._to_masks(self.model._logits(features))


def staged_mean(x: torch.Tensor, dims) -> torch.Tensor:
    """Mean over ``dims`` one axis at a time (keepdim): onnxruntime's ReduceMean sums a whole
    [channels x frames] slab in one float32 accumulator, which cost the bundled Conv-TasNet 1.2e-4 of
    its output's peak after its first norm; short sums per axis keep it within 1e-6, as torch."""
    for d in sorted(dims, reverse=True):
        x = x.mean(d, keepdim=True)
    return x


class _ExplicitGroupNorm(nn.Module):
    """``nn.GroupNorm`` written out with staged means (it would export to InstanceNormalization,
    whose single-pass statistics lose precision the same way)."""

    def __init__(self, norm: nn.GroupNorm) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.norm
        y = x.reshape(x.shape[0], n.num_groups, x.shape[1] // n.num_groups, -1)
        centred = y - staged_mean(y, (2, 3))
        y = (centred / torch.sqrt(staged_mean(centred * centred, (2, 3)) + n.eps)).reshape(x.shape)
        if n.affine:
            shape = [1, -1] + [1] * (x.dim() - 2)
            y = y * n.weight.view(shape) + n.bias.view(shape)
        return y


def _for_export(model: SeparationModel) -> SeparationModel:
    """A copy of ``model`` whose GroupNorms are ``_ExplicitGroupNorm`` (same weights)."""
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.GroupNorm):
                setattr(module, child_name, _ExplicitGroupNorm(child))
    return model.eval()


def contract_of(model: SeparationModel) -> str:
    """The graph contract of ``model``, or ModelError saying why it cannot be exported."""
    if isinstance(model, (OnnxTimeDomainModel, OnnxMaskModel)):
        raise ModelError("this model is already an ONNX graph")
    if model.onnx_contract:
        return model.onnx_contract
    raise ModelError(
        f"'{model.name}' is a {model.kind} model; only time-domain models and mask "
        "estimators can be exported to ONNX"
    )


def _graph_and_input(model: SeparationModel, contract: str, seconds: float = 1.0):
    n = int(round(seconds * model.sample_rate))
    gen = torch.Generator().manual_seed(int(seconds * 1000))
    x = 0.1 * torch.randn(1, n, generator=gen)
    if contract == CONTRACT_TIME:
        return _TimeGraph(model), x
    # Features of a random mixture: the graph's input has the features' statistics.
    return _MaskGraph(model), model.analyse(x)[1]


def metadata(model: SeparationModel, contract: str, source: str = "") -> dict:
    meta = {
        "sample_rate": str(model.sample_rate),
        "n_src": str(model.n_src),
        "cocktail.contract": contract,
        "cocktail.version": __version__,
        "cocktail.model_name": model.name,
        "cocktail.model_args": json.dumps(model.model_args(), sort_keys=True, default=str),
    }
    if source:
        meta["cocktail.source"] = source
    if contract == CONTRACT_MASK:
        p = model.stft_params
        meta.update(
            n_fft=str(p.n_fft), hop=str(p.hop), win_length=str(p.win_length), features=FEATURES
        )
    return meta


def export_bytes(
    model: SeparationModel, contract: str, *, source: str = "", opset: int = OPSET
) -> bytes:
    """The serialized ONNX model of ``model`` (CPU, eval) with its metadata."""
    import onnx

    model = _for_export(model.to("cpu").eval())
    graph, example = _graph_and_input(model, contract)
    graph.eval()  # the exporter restores the wrapper's mode afterwards, recursively: keep it eval
    name_in = "mixture" if contract == CONTRACT_TIME else "features"
    name_out = OUTPUTS[contract]
    dynamic = (
        {name_in: {0: "batch", 1: "time"}, name_out: {0: "batch", 2: "time"}}
        if contract == CONTRACT_TIME
        else {name_in: {0: "batch", 1: "frames"}, name_out: {0: "batch", 3: "frames"}}
    )
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                graph,
                (example,),
                buf,
                input_names=[name_in],
                output_names=[name_out],
                dynamic_axes=dynamic,
                opset_version=opset,
                dynamo=False,
                do_constant_folding=True,
            )
        except Exception as err:  # noqa: BLE001 - the exporter's failures are many
            detail = " ".join(str(err).split())[:200] or type(err).__name__
            raise ModelError(f"'{model.name}' could not be exported to ONNX ({detail})") from None
    proto = onnx.load_from_string(buf.getvalue())
    onnx.helper.set_model_props(proto, metadata(model, contract, source))
    proto.producer_name, proto.producer_version = "cocktail", __version__
    return proto.SerializeToString()


def check_graph(
    model: SeparationModel,
    contract: str,
    data: Union[bytes, Path],
    seconds: Sequence[float] = CHECK_SECONDS,
    batch: int = 2,
) -> float:
    """Worst ``max|torch - onnxruntime| / max|torch|`` over random inputs of several lengths."""
    sess = session(data)
    name_in = sess.get_inputs()[0].name
    worst = 0.0
    for s in seconds:
        graph, x = _graph_and_input(model, contract, s)
        graph.eval()
        x = x.expand(batch, *x.shape[1:]) * torch.linspace(1.0, 0.5, batch).view(
            -1, *[1] * (x.dim() - 1)
        )
        with torch.no_grad():
            ref = graph(x).numpy()
        out = sess.run(None, {name_in: x.numpy().astype(np.float32)})[0]
        if out.shape != ref.shape:
            return float("inf")
        worst = max(worst, float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-12)))
    return worst


def export_onnx(
    model: SeparationModel,
    out: Union[str, Path],
    *,
    overwrite: bool = False,
    source: str = "",
    opset: int = OPSET,
    tolerance: float = TOLERANCE,
) -> dict:
    """Export, check and write ``model`` to ``out``. Returns ``{"path", "contract", "max_rel_diff"}``.

    Refuses (CocktailError) an existing ``out`` without ``overwrite``, a model that is neither
    time-domain nor a mask estimator, and a graph whose outputs differ from torch's by more than
    ``tolerance`` of the output's peak (nothing is written then)."""
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise CocktailError(f"{out}: the output file name must end in .onnx")
    if out.exists() and not overwrite:
        raise CocktailError(f"{out}: already exists (use --overwrite to replace it)")
    contract = contract_of(model)
    data = export_bytes(model, contract, source=source, opset=opset)
    diff = check_graph(model, contract, data)
    if not diff <= tolerance:
        raise ModelError(
            f"the ONNX graph of '{model.name}' does not reproduce the torch model "
            f"(max difference {diff:.2g} of the output's peak, above {tolerance:g}); "
            "nothing written"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as fh:
        fh.write(data)
    return {"path": out, "contract": contract, "max_rel_diff": diff}
