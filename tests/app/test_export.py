"""Item 7: export stems in each format and rate, template, residual, JSON sidecar; asks before
overwriting; errors are shown and lose nothing."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

from conftest import open_mixture, run_models, synthetic_sources


@pytest.fixture
def exported(qtbot, window, tmp_path):
    rate = 22050
    src = synthetic_sources(seconds=1.0, sr=rate)
    mix = tmp_path / "talk.wav"
    sf.write(mix, src.sum(0), rate, subtype="FLOAT")
    open_mixture(qtbot, window, mix)
    run_models(qtbot, window, ["ff-mask"])
    from app.export_dialog import ExportDialog

    dialog = ExportDialog(window)
    qtbot.addWidget(dialog)
    dialog.show()
    out = tmp_path / "stems"
    dialog.folder.setText(str(out))
    return window, dialog, out, mix


def export_and_wait(qtbot, dialog):
    dialog.written, dialog.error = [], ""
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: bool(dialog.written) or bool(dialog.error) or "Nothing" in dialog.status.text(),
        timeout=20000,
    )


def test_flac24_with_residual_and_sidecar(qtbot, exported):
    w, dialog, out, mix = exported
    dialog.format.setCurrentIndex(dialog.format.findData("flac24"))
    dialog.residual.setChecked(True)
    dialog.template.setText("{stem}-{model}-{index}")
    export_and_wait(qtbot, dialog)
    names = sorted(p.name for p in dialog.written)  # every file written, the sidecar too
    assert names == [
        "talk-ff-mask-1.flac",
        "talk-ff-mask-2.flac",
        "talk.json",
        "talk_residual.flac",
    ]
    assert dialog.status.text().startswith("Wrote 4 file(s)")
    res = w.session.results["ff-mask"].result
    for i in range(2):
        data, rate = sf.read(out / f"talk-ff-mask-{i + 1}.flac", dtype="float32")
        assert rate == 22050 and sf.info(out / f"talk-ff-mask-{i + 1}.flac").subtype == "PCM_24"
        np.testing.assert_allclose(data, res.waveforms[i], atol=2**-22)
    residual, _ = sf.read(out / "talk_residual.flac", dtype="float32")
    np.testing.assert_allclose(residual, w.session.mixture - res.waveforms.sum(0), atol=2**-22)
    side = json.loads((out / "talk.json").read_text())
    assert side["input_sha256"] == hashlib.sha256(mix.read_bytes()).hexdigest()
    assert side["model"]["id"] == "ff-mask" and side["options"]["subtype"] == "PCM_24"
    assert "torch" in side["versions"] and side["outputs"][0] == "talk-ff-mask-1.flac"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    # the choices persist
    assert w.settings.export_options()["format"] == "flac24"


def test_model_rate_and_float_wav(qtbot, exported):
    w, dialog, out, mix = exported
    dialog.format.setCurrentIndex(dialog.format.findData("wavf"))
    dialog.rate.setCurrentIndex(dialog.rate.findData("model"))
    export_and_wait(qtbot, dialog)
    info = sf.info(out / "talk_s1.wav")
    assert info.samplerate == 16000 and info.subtype == "FLOAT"
    assert info.frames == pytest.approx(22050 * 16000 / 22050, abs=2)


def test_never_overwrites_without_asking(qtbot, exported, monkeypatch):
    w, dialog, out, mix = exported
    export_and_wait(qtbot, dialog)
    first = {p: p.stat().st_mtime_ns for p in dialog.written}
    asked = []
    monkeypatch.setattr(
        dialog, "confirm_overwrite", lambda existing: asked.append(existing) or False
    )
    export_and_wait(qtbot, dialog)
    assert asked and sorted(p.name for p in asked[0]) == ["talk.json", "talk_s1.wav", "talk_s2.wav"]
    assert {p: p.stat().st_mtime_ns for p in first} == first and "kept" in dialog.status.text()
    monkeypatch.setattr(dialog, "confirm_overwrite", lambda existing: True)
    os.utime(out / "talk_s1.wav", ns=(0, 0))
    export_and_wait(qtbot, dialog)
    assert (out / "talk_s1.wav").stat().st_mtime_ns > 0


def test_errors_are_shown_and_lose_nothing(qtbot, exported, tmp_path):
    w, dialog, out, mix = exported
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    dialog.folder.setText(str(blocker / "sub"))  # a folder that cannot be created
    export_and_wait(qtbot, dialog)
    assert "a-file" in dialog.error and "Export failed" in dialog.status.text()
    assert dialog.isVisible() and "ff-mask" in w.session.results
    dialog.folder.setText(str(out))  # fix the folder and try again: it works
    export_and_wait(qtbot, dialog)
    assert len(dialog.written) == 3  # two stems and the sidecar


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder(qtbot, exported):
    w, dialog, out, mix = exported
    out.mkdir()
    out.chmod(0o500)
    try:
        export_and_wait(qtbot, dialog)
        assert dialog.error and not list(out.iterdir())
    finally:
        out.chmod(0o700)


def test_results_that_would_write_the_same_files_are_refused(qtbot, window, tmp_path):
    """Issue 13 item 6: the dialog uses the core's export plan; nothing is written."""
    mix = tmp_path / "talk.wav"
    sf.write(mix, synthetic_sources(seconds=1.0, sr=22050).sum(0), 22050, subtype="FLOAT")
    open_mixture(qtbot, window, mix)
    run_models(qtbot, window, ["ff-mask", "denoise-wiener"])
    from app.export_dialog import ExportDialog

    dialog = ExportDialog(window)
    qtbot.addWidget(dialog)
    dialog.show()
    for i in range(dialog.results.count()):
        dialog.results.item(i).setCheckState(Qt.CheckState.Checked)
    out = tmp_path / "stems"
    dialog.folder.setText(str(out))
    dialog.template.setText("{index}")
    assert not dialog.export_button.isEnabled() and "would both write" in dialog.preview.text()
    dialog.export()
    assert "ff-mask" in dialog.error and "denoise-wiener" in dialog.error
    assert str(out / "1.wav") in dialog.error and not out.exists()


def test_a_full_disk_leaves_no_stem_and_names_the_reason(qtbot, exported, monkeypatch):
    """Issue 13 item 8: the set is written as a unit; the message names the errno."""
    import errno

    from separation_core.io import export

    w, dialog, out, mix = exported
    real, calls = export.encode_audio, []

    def encode(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(export, "encode_audio", encode)
    export_and_wait(qtbot, dialog)
    assert dialog.error == f"{out / 'talk_s2.wav'}: cannot write: No space left on device"
    assert list(out.iterdir()) == []


def test_rates_offered_and_an_export_at_48k(qtbot, exported):
    w, dialog, out, mix = exported
    offered = [dialog.rate.itemData(i) for i in range(dialog.rate.count())]
    assert offered == ["original", "model", 8000, 16000, 24000, 32000, 44100, 48000]  # input: 22050
    assert dialog.rate.itemText(0) == "original (22050 Hz)"
    dialog.rate.setCurrentIndex(dialog.rate.findData(48000))
    export_and_wait(qtbot, dialog)
    assert sf.info(out / "talk_s1.wav").samplerate == 48000
    assert w.settings.export_options()["rate"] == 48000
    assert len(dialog.written) == 3 and dialog.status.text().startswith("Wrote 3 file(s)")


def test_export_folder_defaults_to_documents_then_the_last_one(qtbot, exported, tmp_path):
    from PySide6.QtCore import QStandardPaths

    from app.export_dialog import ExportDialog

    w, dialog, out, mix = exported
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    fresh = ExportDialog(w)
    qtbot.addWidget(fresh)
    assert fresh.folder.text() == str(Path(docs) / "Cocktail") != str(mix.parent)
    export_and_wait(qtbot, dialog)
    again = ExportDialog(w)
    qtbot.addWidget(again)
    assert again.folder.text() == str(out)
