"""File ▸ Open checkpoint… takes an Asteroid model file and an ONNX graph exported by Cocktail: both
appear in the model panel, ticked, and separate like any other model."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt

from app.jobs.separation import ModelDone
from conftest import open_mixture, run_models


def _asteroid_file(path):
    """What Asteroid's ``ConvTasNet(...).serialize()`` writes, made without Asteroid: the port has
    Asteroid's module tree, so its state dict has Asteroid's key names."""
    from separation_core.models.registry import get_model_class

    args = dict(
        n_src=2,
        n_blocks=2,
        n_repeats=1,
        bn_chan=16,
        hid_chan=24,
        skip_chan=8,
        conv_kernel_size=3,
        norm_type="gLN",
        mask_act="sigmoid",
        causal=False,
    )
    torch.manual_seed(0)
    model = get_model_class("asteroid-convtasnet")(
        n_filters=32, kernel_size=16, stride=8, sample_rate=16000, **args
    )
    torch.save(
        {
            "model_name": "ConvTasNet",
            "model_args": {
                "fb_name": "FreeFB",
                "n_filters": 32,
                "kernel_size": 16,
                "stride": 8,
                "sample_rate": 16000.0,
                "in_chan": 32,
                "out_chan": 32,
                "encoder_activation": None,
                **args,
            },
            "state_dict": model.state_dict(),
            "infos": {"software_versions": {"asteroid_version": "0.7.0"}},
        },
        path,
    )
    return path


def _onnx_file(path):
    from separation_core.checkpoints.onnx_export import export_onnx
    from separation_core.models.registry import get_model_class

    torch.manual_seed(0)
    model = get_model_class("convtasnet")(
        n_filters=32, bottleneck=16, hidden=16, skip=16, n_blocks=2, n_repeats=1
    ).eval()
    export_onnx(model, path)
    return path


def test_the_file_dialog_offers_model_files():
    from app.controllers.models import MODEL_FILTER

    for suffix in ("*.pt", "*.pth", "*.ckpt", "*.bin", "*.onnx"):
        assert suffix in MODEL_FILTER


def test_open_an_asteroid_file_and_an_onnx_graph(qtbot, window, audio_files, tmp_path):
    pytest.importorskip("onnxruntime")
    pth = _asteroid_file(tmp_path / "librimix-convtasnet.pth")
    graph = _onnx_file(tmp_path / "small-convtasnet.onnx")
    for path in (pth, graph):
        window.models.open_checkpoint(path)
        qtbot.waitUntil(lambda name=path.name: name in window.panel.entries, timeout=30000)
        assert path.name in window.panel.checked_ids()
    imported = window.panel.entries[pth.name]
    assert imported.model_name == "asteroid-convtasnet" and imported.trained
    assert "Imported from Asteroid ConvTasNet" in window.panel.item(pth.name).toolTip(0)
    assert not window.panel.item(pth.name).font(0).italic()
    onnx_entry = window.panel.entries[graph.name]
    assert onnx_entry.model_name == "onnx" and onnx_entry.kind == "time-domain"
    assert "onnxruntime" in window.panel.item(graph.name).toolTip(0)
    assert window.panel.item(graph.name).checkState(0) == Qt.CheckState.Checked
    open_mixture(qtbot, window, audio_files[0])
    outcomes = run_models(qtbot, window, [pth.name, graph.name])
    assert [type(o) for o in outcomes] == [ModelDone, ModelDone]
    for outcome in outcomes:
        assert outcome.result.waveforms.shape[0] == 2 and outcome.result.mask_kind == "effective"
    window.models.refresh()  # opened files stay listed after the catalog is read again
    qtbot.waitUntil(
        lambda: (
            window.models.ready
            and pth.name in window.panel.entries
            and graph.name in window.panel.entries
        ),
        timeout=30000,
    )
