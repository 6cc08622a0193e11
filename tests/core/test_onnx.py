"""ONNX out (``cocktail export-onnx``) and in (an ``.onnx`` file opened as a model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from separation_core.checkpoints.catalog import load_model, resolve  # noqa: E402
from separation_core.checkpoints.onnx_export import export_onnx  # noqa: E402
from separation_core.checkpoints.store import save_checkpoint  # noqa: E402
from separation_core.cli import main  # noqa: E402
from separation_core.engine.inference import EngineOptions, separate  # noqa: E402
from separation_core.errors import CheckpointError, CocktailError, ModelError  # noqa: E402
from separation_core.models.onnx_model import OnnxMaskModel, OnnxTimeDomainModel  # noqa: E402
from separation_core.models.registry import get_model_class  # noqa: E402

TOL = 1e-4
SMALL = {
    "convtasnet": dict(n_filters=32, bottleneck=16, hidden=24, skip=16, n_blocks=3, n_repeats=2),
    "dprnn": dict(n_filters=32, features=16, hidden=12, chunk=20, n_blocks=2),
    "asteroid-convtasnet": dict(
        n_filters=32,
        bn_chan=16,
        hid_chan=24,
        skip_chan=8,
        n_blocks=2,
        n_repeats=1,
        sample_rate=16000,
    ),
    "asteroid-dprnn": dict(
        n_filters=32,
        bn_chan=16,
        hid_size=12,
        chunk_size=9,
        hop_size=4,
        n_repeats=1,
        rnn_type="GRU",
        sample_rate=16000,
    ),
    "ff-mask": dict(hidden=32, layers=2, context=2),
    "lstm-mask": dict(hidden=16, layers=2),
    "blstm-mask": dict(hidden=16, layers=2),
}


def _model(name):
    torch.manual_seed(0)
    return get_model_class(name)(**SMALL[name]).eval()


@pytest.mark.parametrize("name", list(SMALL))
def test_exported_graph_reproduces_the_torch_model(tmp_path, name):
    model = _model(name)
    done = export_onnx(model, tmp_path / f"{name}.onnx")
    assert done["max_rel_diff"] <= TOL
    sess = ort.InferenceSession(str(tmp_path / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["sample_rate"] == str(model.sample_rate) and meta["n_src"] == str(model.n_src)
    assert meta["cocktail.model_name"] == name
    rng = np.random.default_rng(3)
    time_domain = model.kind == "time-domain"
    for seconds, batch in ((0.5, 1), (1.3, 2), (3.07, 1)):  # lengths other than the traced one
        x = torch.from_numpy(
            (0.1 * rng.standard_normal((batch, int(seconds * 16000)))).astype(np.float32)
        )
        with torch.no_grad():
            if time_domain:
                inputs, ref = x, model(x)["waveforms"]
            else:
                inputs = model.analyse(x)[1]
                ref = model._to_masks(model._logits(inputs))
        out = sess.run(None, {sess.get_inputs()[0].name: inputs.numpy()})[0]
        assert out.shape == tuple(ref.shape)
        assert np.abs(out - ref.numpy()).max() <= TOL * np.abs(ref.numpy()).max()
    # Opened as a model: the same engine, masks and outputs as the torch model.
    onnx_model = load_model(tmp_path / f"{name}.onnx")
    assert isinstance(onnx_model, OnnxTimeDomainModel if time_domain else OnnxMaskModel)
    mix = (0.1 * rng.standard_normal(40000)).astype(np.float32)
    opts = EngineOptions(chunk_seconds=1.0)
    a, b = separate(model, mix, 16000, opts), separate(onnx_model, mix, 16000, opts)
    assert a.mask_kind == b.mask_kind and b.masks.shape == a.masks.shape
    assert np.abs(a.waveforms - b.waveforms).max() <= 1e-3 * np.abs(a.waveforms).max()


def test_export_onnx_command_refuses_to_overwrite_and_writes_atomically(tmp_path, capsys):
    ckpt = tmp_path / "small.pt"
    save_checkpoint(ckpt, _model("convtasnet"), training={"steps": 0})
    out = tmp_path / "out" / "small.onnx"
    assert main(["export-onnx", str(ckpt), str(out)]) == 0
    assert "reproduces torch" in capsys.readouterr().out
    first = out.read_bytes()
    assert main(["export-onnx", str(ckpt), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "already exists" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert out.read_bytes() == first
    assert main(["export-onnx", str(ckpt), str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["small.onnx"]  # no temporary left
    meta = ort.InferenceSession(str(out)).get_modelmeta().custom_metadata_map
    assert json.loads(meta["cocktail.model_args"])["n_filters"] == 32
    assert meta["cocktail.source"] == str(ckpt)
    assert main(["export-onnx", "dc-blstm", str(tmp_path / "dc.onnx")]) == 2
    assert "only time-domain models and mask estimators" in capsys.readouterr().err
    assert not (tmp_path / "dc.onnx").exists()


def test_onnx_model_entry_and_sidecar(tmp_path, monkeypatch):
    from separation_core.io.export import build_sidecar

    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("COCKTAIL_MODELS_DIR", str(folder))
    export_onnx(_model("blstm-mask"), folder / "blstm.onnx")
    entry = resolve("blstm.onnx")
    assert (entry.id, entry.origin, entry.kind, entry.model_name) == (
        "blstm.onnx",
        "user",
        "mask",
        "onnx",
    )
    assert entry.trained and entry.num_parameters > 0 and "blstm-mask" in entry.imported_from
    sidecar = build_sidecar(None, entry, {})
    assert sidecar["model"]["imported_from"].startswith("ONNX graph")
    assert sidecar["model"]["checkpoint_sha256"]


def _graph(path, inputs, output, meta):
    """A tiny valid graph: the first input passed through (Identity, or Unsqueeze when the output
    has one more axis), all dimensions symbolic, with ``meta`` as metadata_props."""
    first = inputs[0]
    extra = len(output[2]) - len(first[2])
    init = [helper.make_tensor("axes", TensorProto.INT64, [1], [1])] if extra else []
    node = (
        helper.make_node("Unsqueeze", [first[0], "axes"], [output[0]])
        if extra
        else helper.make_node("Identity", [first[0]], [output[0]])
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(*i) for i in inputs],
        [helper.make_tensor_value_info(*output)],
        initializer=init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, meta)
    onnx.save(model, str(path))
    return path


META = {"sample_rate": "16000", "n_src": "2"}
F32, F64 = TensorProto.FLOAT, TensorProto.DOUBLE
MIX, WAVES = ("mixture", F32, ["b", "t"]), ("waveforms", F32, ["b", "s", "t"])


@pytest.mark.parametrize(
    "inputs,output,meta,words",
    [
        ([MIX, ("extra", F32, ["b", "t"])], WAVES, META, "2 inputs"),
        ([("audio", F32, ["b", "t"])], WAVES, META, "input is named 'audio'"),
        ([("mixture", F64, ["b", "t"])], ("waveforms", F64, ["b", "s", "t"]), META, "not float32"),
        (
            [("mixture", F32, ["b", "c", "t"])],
            ("waveforms", F32, ["b", "c", "s", "t"]),
            META,
            "rank 3",
        ),
        ([MIX], ("waveforms", F32, ["b", "t"]), META, "output 'waveforms'"),
        ([MIX], WAVES, {}, "missing metadata 'sample_rate', 'n_src'"),
        ([MIX], WAVES, {"sample_rate": "16 kHz", "n_src": "2"}, "'sample_rate'"),
        (
            [("features", F32, ["b", "t", "f"])],
            ("masks", F32, ["b", "s", "t", "f"]),
            {**META, "n_fft": "512", "hop": "128"},
            "missing metadata 'features'",
        ),
        (
            [("features", F32, ["b", "t", "f"])],
            ("masks", F32, ["b", "s", "t", "f"]),
            {**META, "n_fft": "512", "hop": "128", "features": "mel"},
            "metadata 'features'",
        ),
    ],
    ids=[
        "two-inputs",
        "name",
        "dtype",
        "rank",
        "output-rank",
        "no-metadata",
        "bad-metadata",
        "mask-no-features",
        "mask-other-features",
    ],
)
def test_graphs_that_do_not_fit_the_contract_are_refused(tmp_path, inputs, output, meta, words):
    path = _graph(tmp_path / "bad.onnx", inputs, output, meta)
    with pytest.raises(CheckpointError) as err:
        resolve(path)
    message = str(err.value)
    assert words in message and str(path) in message and "\n" not in message, message
    ok = _graph(tmp_path / "ok.onnx", [MIX], WAVES, META)  # the same kind of graph, fitting
    assert resolve(ok).kind == "time-domain"


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\x08\x07not a protobuf at all" * 10)
    with pytest.raises(CheckpointError, match="not a readable ONNX model"):
        load_model(path)
    with pytest.raises(ModelError, match="already an ONNX graph"):
        export_onnx(_onnx_of(tmp_path), tmp_path / "again.onnx")
    with pytest.raises(CocktailError, match="must end in .onnx"):
        export_onnx(_model("convtasnet"), tmp_path / "x.bin")


def _onnx_of(tmp_path):
    export_onnx(_model("convtasnet"), tmp_path / "ctn.onnx")
    return load_model(tmp_path / "ctn.onnx")


def test_bench_times_onnxruntime_beside_torch(tmp_path, capsys):
    ckpt = tmp_path / "small.pt"
    save_checkpoint(ckpt, _model("convtasnet"), training={"steps": 0})
    assert (
        main(
            [
                "bench",
                "--models",
                str(ckpt),
                "--seconds",
                "2",
                "--long-minutes",
                "0",
                "--onnx",
                "--json",
            ]
        )
        == 0
    )
    row = json.loads(capsys.readouterr().out)["models"]["small"]
    assert row["cpu"]["speed_x_realtime"] > 0 and row["onnx_cpu"]["speed_x_realtime"] > 0
