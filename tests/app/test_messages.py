"""Issue 30, messages: a bad model file is named with what is wrong in the user's words, the
library's own text under Show Details; a folder given as a model is worded as a models-folder
listing words it."""

import os
import zipfile
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.jobs.separation import ModelFailed
from app.messages import plain_message
from conftest import open_mixture, run_models
from separation_core.checkpoints import catalog
from separation_core.errors import CheckpointError


def renamed_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    return path


def text_onnx(path: Path) -> Path:
    path.write_text("not a graph\n")
    return path


def core_message(path: Path) -> str:
    with pytest.raises(CheckpointError) as err:
        catalog.resolve(str(path))
    return str(err.value)


@pytest.mark.parametrize(
    "make, words, library",
    [
        (renamed_zip, "not a PyTorch checkpoint", "inline_container"),
        (text_onnx, "not an ONNX model", "INVALID_PROTOBUF"),
    ],
)
def test_the_library_text_goes_to_the_details(tmp_path, make, words, library):
    path = make(tmp_path / ("model.pth" if make is renamed_zip else "model.onnx"))
    message = core_message(path)
    assert library in message  # what the core says
    head, detail = plain_message(message)
    assert head.startswith(f"{path}: {words}") and "[" not in head
    assert library in detail and detail in message


def test_user_words_pass_through():
    for message in (
        "/m/junk.pt: not a PyTorch checkpoint (neither a zip archive nor a pickle file)",
        "/m (old)/a.pt: empty file (0 bytes)",
        "Open a mixture first.",
    ):
        assert plain_message(message) == (message, "")
    assert plain_message("/m/a.pt: cannot be listed (KeyError: 'x')") == (
        "/m/a.pt: cannot be listed",
        "KeyError: 'x'",
    )


def test_the_window_says_what_is_wrong_and_keeps_the_details(qtbot, window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(
        QMessageBox, "exec", lambda box: shown.append((box.text(), box.detailedText())) or 0
    )
    monkeypatch.setattr(QMessageBox, "warning", lambda _w, _t, text: shown.append((text, "")))
    window.quiet = False
    path = renamed_zip(tmp_path / "weights.pth")
    window.models.open_checkpoint(path)
    qtbot.waitUntil(lambda: bool(shown), timeout=30000)
    text, details = shown[0]
    assert text == f"{path}: not a PyTorch checkpoint (a zip archive of other files)"
    assert "enforce fail" in details and "enforce fail" not in window.statusBar().currentMessage()
    window.quiet = True


def test_a_folder_is_worded_as_a_models_folder_listing_words_it(qtbot, window, audio_files):
    folder = Path(os.environ["COCKTAIL_MODELS_DIR"])
    (folder / "stems.pt").mkdir(parents=True)
    problems = []
    catalog.list_models(problems)
    listed = next(p for p in problems if "stems.pt" in p)
    assert listed == f"{(folder / 'stems.pt').resolve()}: is a folder, not a checkpoint file"
    for spec in (folder / "stems.pt", folder):
        assert core_message(spec) == f"{spec.resolve()}: is a folder, not a checkpoint file"
    open_mixture(qtbot, window, audio_files[0])
    (failed,) = run_models(qtbot, window, [str(folder)])
    assert isinstance(failed, ModelFailed) and failed.message.endswith(
        "is a folder, not a checkpoint file"
    )
