"""A SpeechBrain pretrained folder opens from the model panel (Open model… on its hyperparams.yaml, or
the folder dropped on the panel), is listed beside the bundled models with its origin, separates the
mixture and shows its effective masks (the cells' images and hover values are |S_k| / sum_j |S_j| of
its outputs); a folder that is not a model is refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QMimeData, QPointF, QUrl, Qt
from PySide6.QtGui import QDropEvent

from app.jobs.separation import ModelDone
from conftest import open_mixture, run_models
from separation_core.models.transforms import stft

HYPERPARAMS = """\
sample_rate: 16000
num_spks: 2
Encoder: !new:speechbrain.lobes.models.dual_path.Encoder
    kernel_size: 16
    out_channels: 32
SBtfintra: !new:speechbrain.lobes.models.dual_path.SBTransformerBlock
    num_layers: 1
    d_model: 16
    nhead: 4
    d_ffn: 32
    dropout: 0
    use_positional_encoding: true
    norm_before: true
MaskNet: !new:speechbrain.lobes.models.dual_path.Dual_Path_Model
    num_spks: !ref <num_spks>
    in_channels: 32
    out_channels: 16
    num_layers: 1
    K: 40
    intra_model: !ref <SBtfintra>
    inter_model: !ref <SBtfintra>
    norm: ln
    linear_layer_after_inter_intra: false
    skip_around_intra: true
Decoder: !new:speechbrain.lobes.models.dual_path.Decoder
    in_channels: 32
    out_channels: 1
    kernel_size: 16
    stride: 8
    bias: false
modules:
    encoder: !ref <Encoder>
    decoder: !ref <Decoder>
    masknet: !ref <MaskNet>
"""


def speechbrain_folder(folder):
    """The layout SpeechBrain publishes, made without SpeechBrain: the port has SpeechBrain's
    module tree, so its modules' state dicts are what ``encoder.ckpt`` etc. hold."""
    from separation_core.models.registry import get_model_class

    torch.manual_seed(0)
    model = get_model_class("speechbrain-sepformer")(
        sample_rate=16000,
        channels=32,
        out_channels=16,
        num_layers=1,
        K=40,
        intra_layers=1,
        inter_layers=1,
        nhead=4,
        d_ffn=32,
    )
    folder.mkdir()
    (folder / "hyperparams.yaml").write_text(HYPERPARAMS)
    for name in ("encoder", "masknet", "decoder"):
        torch.save(getattr(model, name).state_dict(), folder / f"{name}.ckpt")
    return folder


def drop_on(widget, paths) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    widget.dropEvent(event)
    return event


def test_open_a_speechbrain_folder_run_it_and_see_its_masks(qtbot, window, audio_files, tmp_path):
    dropped = speechbrain_folder(tmp_path / "sepformer-small")
    chosen = speechbrain_folder(tmp_path / "sepformer-chosen")
    assert drop_on(window.panel, [dropped]).isAccepted()
    window.models.open_checkpoint(chosen / "hyperparams.yaml")  # what Open model… gives
    for name in (dropped.name, chosen.name):
        qtbot.waitUntil(lambda n=name: n in window.panel.entries, timeout=30000)
        assert name in window.panel.checked_ids()
    entry = window.panel.entries[dropped.name]
    assert (
        entry.model_name == "speechbrain-sepformer"
        and entry.imported_from == "SpeechBrain SepFormer"
    )
    assert "Imported from SpeechBrain SepFormer" in window.panel.item(dropped.name).toolTip(0)
    assert not window.panel.item(dropped.name).font(0).italic()
    open_mixture(qtbot, window, audio_files[0])
    (outcome,) = run_models(qtbot, window, [dropped.name])
    assert isinstance(outcome, ModelDone)
    result = outcome.result
    assert result.waveforms.shape[0] == 2 and result.mask_kind == "effective"
    window.set_view("masks")
    qtbot.wait(50)
    view = window.masks
    shown = [(c, img) for c, img in zip(view.cells, view.images) if c.key == dropped.name]
    assert sorted(c.source for c, _ in shown) == [0, 1]  # one cell per output
    # The effective masks of its outputs, |S_k| / sum_j |S_j| on their STFT (one chunk: the file
    # is 1.5 s), are what the cells draw and what hovering reads (kept as float16).
    spec = np.abs(stft(torch.from_numpy(result.waveforms), result.stft).numpy())
    effective = spec / (spec.sum(0, keepdims=True) + 1e-8)
    np.testing.assert_allclose(result.masks, effective, atol=1e-3)
    seconds = result.waveforms.shape[-1] / result.stft.sample_rate
    frames = effective.shape[-1]
    for cell, image in shown:
        image.refresh(0.0, seconds, 10 * frames)  # every frame, as the view asks for when zoomed
        np.testing.assert_allclose(image.last.data, effective[cell.source], atol=1e-3)
        np.testing.assert_array_equal(image.item.image, image.last.data)
        for t, f in ((0.25, 500.0), (0.8, 2000.0), (1.2, 6000.0)):
            k, b = (
                round(t * result.stft.sample_rate / result.stft.hop),
                round(f * result.stft.n_fft / result.stft.sample_rate),
            )
            assert view.value_at(cell, t, f) == pytest.approx(
                effective[cell.source, b, k], abs=1e-4
            )


def test_a_folder_that_is_no_model_is_refused_in_one_line(qtbot, window, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "hyperparams.yaml").write_text("Encoder: !apply:os.system ['echo hi']\n")
    drop_on(window.panel, [folder])
    qtbot.waitUntil(lambda: bool(window.errors), timeout=30000)
    message = window.errors[-1]
    assert "\n" not in message and str(folder / "hyperparams.yaml") in message
    assert "!apply:os.system" in message and folder.name not in window.panel.entries
