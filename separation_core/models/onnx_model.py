"""ONNX graphs run by onnxruntime as Cocktail models (``.onnx`` files; see ``cocktail export-onnx``).

The contract a graph must meet (checked on load; anything else is refused in one line):

time-domain graph
    one input ``mixture``: float32 ``[batch, time]``, the mixture at ``sample_rate``;
    output ``waveforms`` (or the only output): float32 ``[batch, n_src, time]``.
mask graph
    one input ``features``: float32 ``[batch, frames, freq]``, Cocktail's normalised log-magnitude
    of the mixture's STFT (``models.features.log_magnitude_features``: Hann window ``n_fft``, hop
    ``hop``, centred, ``freq = n_fft // 2 + 1``);
    output ``masks`` (or the only output): float32 ``[batch, n_src, freq, frames]``.
metadata_props (``onnx.helper.set_model_props``)
    ``sample_rate`` and ``n_src`` (whole numbers), and for mask graphs ``n_fft``, ``hop`` and
    ``features = cocktail-log-magnitude``. ``cocktail export-onnx`` writes them, with the source
    model's name and arguments (``cocktail.*`` keys).

The STFT, the features, the mixture fit and the effective masks stay outside the graph, in torch,
exactly as for the model the graph was exported from, so the engine, the views and the export treat
an ONNX model like any other. onnxruntime runs on the CPU, or on CUDA when the model is moved to a
CUDA device and the CUDA execution provider is installed (else the CPU, silently).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from separation_core.errors import CheckpointError, ModelError
from separation_core.models.base import CONTRACT_MASK, CONTRACT_TIME
from separation_core.models.blocks import TimeDomainModel
from separation_core.models.mask_nets import _MaskModel

INPUTS = {"mixture": CONTRACT_TIME, "features": CONTRACT_MASK}
OUTPUTS = {CONTRACT_TIME: "waveforms", CONTRACT_MASK: "masks"}
RANKS = {CONTRACT_TIME: (2, 3), CONTRACT_MASK: (3, 4)}  # (input rank, output rank)
FEATURES = "cocktail-log-magnitude"
REQUIRED_META = {
    CONTRACT_TIME: ("sample_rate", "n_src"),
    CONTRACT_MASK: ("sample_rate", "n_src", "n_fft", "hop", "features"),
}


def onnxruntime():
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - a dependency
        raise ModelError("ONNX models need onnxruntime (pip install onnxruntime)") from None
    return ort


@dataclass(frozen=True)
class OnnxInfo:
    """What the file says of itself, once the contract is checked."""

    path: Path
    contract: str
    input_name: str
    output_name: str
    sample_rate: int
    n_src: int
    n_fft: Optional[int] = None
    hop: Optional[int] = None
    num_parameters: int = 0
    metadata: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def kind(self) -> str:
        return "time-domain" if self.contract == CONTRACT_TIME else "mask"

    @property
    def description(self) -> str:
        src = self.metadata.get("cocktail.model_name")
        made = (
            f", exported from '{src}' by Cocktail {self.metadata.get('cocktail.version', '?')}"
            if src
            else ""
        )
        return f"ONNX graph run by onnxruntime ({self.contract} contract){made}"


def _fail(path, problem: str) -> CheckpointError:
    return CheckpointError(" ".join(f"{path}: {problem}".split()))


def session(source: Union[str, Path, bytes], device: str = "cpu", optimize: bool = True):
    """An InferenceSession on ``device`` ("cpu" or "cuda"; CUDA only where its provider exists),
    with as many intra-op threads as torch uses."""
    ort = onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    providers = ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    data = str(source) if isinstance(source, Path) else source
    return ort.InferenceSession(data, sess_options=opts, providers=providers)


def _count_parameters(path: Path) -> int:
    try:
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - the count is informative only
        return 0
    return int(
        sum(int(np.prod(t.dims)) for t in proto.graph.initializer if t.data_type in (1, 10, 11, 16))
    )  # float, float16, double, bfloat16


def _int_meta(path, meta: dict, key: str) -> int:
    try:
        value = int(str(meta[key]).strip())
    except ValueError:
        raise _fail(
            path, f"metadata '{key}' = {str(meta[key])[:30]!r} is not a whole number"
        ) from None
    if value <= 0:
        raise _fail(path, f"metadata '{key}' must be positive, not {value}")
    return value


def inspect_onnx(path: Union[str, Path]) -> OnnxInfo:
    """Open ``path`` with onnxruntime and check the contract; CheckpointError in one line if the
    file is not an ONNX model or the graph does not fit."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "no such ONNX file" if not path.exists() else "not a regular file")
    if path.stat().st_size == 0:
        raise _fail(path, "empty file (0 bytes)")
    try:
        sess = session(path, optimize=False)
    except ModelError:
        raise
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own classes
        detail = " ".join(str(err).split())[:160] or type(err).__name__
        raise _fail(path, f"not a readable ONNX model ({detail})") from None
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    names = ", ".join(i.name for i in inputs)
    if len(inputs) != 1:
        raise _fail(
            path,
            f"the graph has {len(inputs)} inputs ({names}); Cocktail runs graphs with "
            "one input, 'mixture' [batch, time] or 'features' [batch, frames, freq]",
        )
    inp = inputs[0]
    contract = INPUTS.get(inp.name)
    if contract is None:
        raise _fail(
            path,
            f"the graph's input is named {inp.name!r}; Cocktail runs graphs whose input "
            "is 'mixture' [batch, time] or 'features' [batch, frames, freq]",
        )
    in_rank, out_rank = RANKS[contract]
    if inp.type != "tensor(float)":
        raise _fail(path, f"input {inp.name!r} is {inp.type}, not float32 (tensor(float))")
    if len(inp.shape) != in_rank:
        raise _fail(
            path,
            f"input {inp.name!r} has rank {len(inp.shape)} (shape {inp.shape}); the "
            f"{contract} contract needs rank {in_rank}",
        )
    wanted = OUTPUTS[contract]
    out = next((o for o in outputs if o.name == wanted), outputs[0] if len(outputs) == 1 else None)
    if out is None:
        raise _fail(path, f"the graph has {len(outputs)} outputs and none is named {wanted!r}")
    if out.type != "tensor(float)" or len(out.shape) != out_rank:
        raise _fail(
            path,
            f"output {out.name!r} is {out.type} of rank {len(out.shape)}; the "
            f"{contract} contract needs float32 of rank {out_rank}",
        )
    meta = dict(sess.get_modelmeta().custom_metadata_map)
    missing = [k for k in REQUIRED_META[contract] if k not in meta]
    if missing:
        raise _fail(
            path,
            f"missing metadata {', '.join(repr(m) for m in missing)} (metadata_props "
            "that `cocktail export-onnx` writes; a graph from elsewhere needs them added)",
        )
    info = dict(
        path=path,
        contract=contract,
        input_name=inp.name,
        output_name=out.name,
        sample_rate=_int_meta(path, meta, "sample_rate"),
        n_src=_int_meta(path, meta, "n_src"),
        metadata=meta,
    )
    if contract == CONTRACT_MASK:
        if meta["features"] != FEATURES:
            raise _fail(
                path,
                f"metadata 'features' is {meta['features'][:40]!r}; Cocktail computes "
                f"only {FEATURES!r}",
            )
        info.update(n_fft=_int_meta(path, meta, "n_fft"), hop=_int_meta(path, meta, "hop"))
        n_freq = info["n_fft"] // 2 + 1
        if isinstance(inp.shape[2], int) and inp.shape[2] != n_freq:
            raise _fail(
                path,
                f"input 'features' has {inp.shape[2]} frequency bins but n_fft "
                f"{info['n_fft']} gives {n_freq}",
            )
    return OnnxInfo(num_parameters=_count_parameters(path), **info)


class _OnnxRunner:
    """What both ONNX model kinds share: sessions per device, and a run from torch to torch."""

    trainable = False

    def _setup(self, info: OnnxInfo) -> None:
        self.info = info
        self._sessions: dict = {}
        # Not a weight: a zero-size tensor that tells the engine's ``.to(device)`` where to run.
        self._device_anchor = nn.Parameter(torch.zeros(0), requires_grad=False)

    def model_args(self) -> dict:
        return {"path": str(self.info.path)}

    def run_graph(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (the graph's input, any device) -> its output, on ``x``'s device."""
        device = "cuda" if x.device.type == "cuda" else "cpu"
        if device not in self._sessions:
            self._sessions[device] = session(self.info.path, device)
        feed = {self.info.input_name: x.detach().to("cpu", torch.float32).contiguous().numpy()}
        out = self._sessions[device].run([self.info.output_name], feed)[0]
        return torch.from_numpy(np.asarray(out, dtype=np.float32)).to(x.device)

    def __getstate__(self):  # sessions are not picklable; rebuilt on first use
        state = dict(self.__dict__)
        state["_sessions"] = {}
        return state


class OnnxTimeDomainModel(_OnnxRunner, TimeDomainModel):
    """A time-domain ONNX graph: ``mixture [B, T] -> waveforms [B, n_src, T]``; the engine's
    mixture fit and effective masks are ``TimeDomainModel``'s."""

    name = "onnx"
    description = "ONNX time-domain graph run by onnxruntime"

    def __init__(self, info: OnnxInfo) -> None:
        TimeDomainModel.__init__(self, sample_rate=info.sample_rate, n_src=info.n_src)
        self._setup(info)

    def forward(self, mixture: torch.Tensor) -> dict:
        if mixture.dim() != 2:
            raise ModelError(
                f"{self.info.path.name} expects [batch, time], got {tuple(mixture.shape)}"
            )
        y = self.run_graph(mixture)
        if y.dim() != 3 or y.shape[0] != mixture.shape[0] or y.shape[-1] != mixture.shape[-1]:
            raise ModelError(
                f"{self.info.path.name}: the graph returned shape {tuple(y.shape)} for "
                f"input {tuple(mixture.shape)}; the contract is [batch, n_src, time]"
            )
        return {"waveforms": y}


class OnnxMaskModel(_OnnxRunner, _MaskModel):
    """A mask ONNX graph: ``features [B, frames, freq] -> masks [B, n_src, freq, frames]``; the STFT,
    the features and the synthesis are the mask estimators' (``StftSeparationModel``)."""

    name = "onnx"
    description = "ONNX mask-estimator graph run by onnxruntime"

    def __init__(self, info: OnnxInfo) -> None:
        _MaskModel.__init__(
            self, sample_rate=info.sample_rate, n_src=info.n_src, n_fft=info.n_fft, hop=info.hop
        )
        self._setup(info)

    def forward(self, mixture: torch.Tensor) -> dict:
        spec, feats = self.analyse(mixture)
        masks = self.run_graph(feats)
        if masks.shape[0] != feats.shape[0] or tuple(masks.shape[2:]) != tuple(spec.shape[1:]):
            raise ModelError(
                f"{self.info.path.name}: the graph returned shape {tuple(masks.shape)} "
                f"for features {tuple(feats.shape)}; the contract is "
                "[batch, n_src, freq, frames]"
            )
        return {"masks": masks, "mix_spec": spec}


def load_onnx_model(path: Union[str, Path]) -> TimeDomainModel:
    """The model of an ``.onnx`` file (contract checked), in eval mode."""
    info = inspect_onnx(path)
    model = OnnxTimeDomainModel(info) if info.contract == CONTRACT_TIME else OnnxMaskModel(info)
    return model.eval()


def onnx_entry_fields(path: Union[str, Path]) -> dict:
    """The catalog fields of an ``.onnx`` file (its id is the whole file name), contract checked."""
    info = inspect_onnx(path)
    src = info.metadata.get("cocktail.model_name")
    return dict(
        id=Path(path).name,
        model_name="onnx",
        kind=info.kind,
        sample_rate=info.sample_rate,
        n_src=info.n_src,
        num_parameters=info.num_parameters,
        needs_references=False,
        trained=True,
        description=info.description,
        metrics={},
        imported_from="ONNX graph" + (f" of '{src}'" if src else ""),
    )
