"""Issue 30, the model panel: the count says what the list shows and hides, the files a listing
skipped are one line with their reasons one click away, a long checkpoint name is cut while Rate, Spk
and Size stay in view."""

import os
import shutil
import zipfile
from pathlib import Path

from app.model_panel import is_untrained_builtin
from separation_core.io.paths import bundled_models_dir

N_BAD = 8


def user_models() -> Path:
    folder = Path(os.environ["COCKTAIL_MODELS_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def relist(qtbot, window, until) -> None:
    window.models.refresh()
    qtbot.waitUntil(lambda: window.models.catalog_job.handle.ended and until(), timeout=60000)


def test_the_count_says_what_is_shown_and_what_is_hidden(qtbot, window):
    panel = window.panel
    hidden = [i for i, e in panel.entries.items() if is_untrained_builtin(e)]
    shown = len(panel.entries) - len(hidden)
    assert hidden and shown == sum(not it.isHidden() for it in panel.items())
    assert panel.status.text() == f"{shown} models, {len(hidden)} untrained hidden"
    window.models.set_show_untrained(True)
    assert panel.status.text() == f"{len(panel.entries)} models"


def test_skipped_files_are_one_line_with_their_reasons_a_click_away(qtbot, window):
    folder = user_models()
    for i in range(N_BAD - 2):
        (folder / f"notes-{i}-with-a-long-name-for-a-long-reason.pt").write_text("not a model\n")
    with zipfile.ZipFile(folder / "renamed-zip.pth", "w") as z:
        z.writestr("readme.txt", "hello")
    (folder / "text.onnx").write_text("not a graph\n")
    panel = window.panel
    relist(qtbot, window, lambda: len(panel.skipped) == N_BAD)
    qtbot.wait(50)
    label = panel.status
    assert f"{N_BAD} files skipped" in label.text() and "\n" not in label.text()
    one_line = label.fontMetrics().lineSpacing()
    assert label.height() < 2 * one_line  # the list keeps its rows
    assert "renamed-zip.pth" in label.toolTip()

    label.linkActivated.emit("skipped")  # the click
    box = panel.skipped_box
    assert box.isVisible() and box.text().startswith(f"{N_BAD} model files")
    lines = box.informativeText().splitlines()
    assert len(lines) == N_BAD and all(str(folder) in line for line in lines)
    assert "[" not in box.informativeText()  # the libraries' words are in the details
    assert "inline_container" in box.detailedText() and "INVALID_PROTOBUF" in box.detailedText()
    box.close()


def test_a_long_name_is_cut_and_the_columns_stay_in_view(qtbot, window):
    long_id = "a-checkpoint-with-a-very-long-name-trained-on-rooms-at-sixteen-kilohertz-v2"
    shutil.copy(
        bundled_models_dir() / f"{window.models.default_id}.pt", user_models() / f"{long_id}.pt"
    )
    panel = window.panel
    relist(qtbot, window, lambda: long_id in panel.entries)
    qtbot.wait(50)
    tree, header = panel.tree, panel.tree.header()
    assert tree.fontMetrics().horizontalAdvance(long_id) > tree.viewport().width()
    size_right = header.sectionViewportPosition(3) + header.sectionSize(3)
    assert size_right <= tree.viewport().width()  # Rate, Spk and Size in view
    item = panel.item(long_id)
    assert item.text(3) and long_id in item.toolTip(0)  # the whole name on hover
    assert header.sectionSize(0) < tree.fontMetrics().horizontalAdvance(long_id)  # cut


def test_the_default_mode_is_auto_as_the_cli(qtbot, window):
    """Issue 32: conversation mode for inputs of 20 s or more, the model's outputs below."""
    from separation_core.commands.separate import CONVERSATION_MIN_SECONDS

    settings = window.panel.settings()
    assert settings.mode == "auto" and window.panel.mode.currentText() == "Auto"
    entry = window.panel.entries[window.models.default_id]
    assert settings.conversation_for(entry, CONVERSATION_MIN_SECONDS)
    assert not settings.conversation_for(entry, CONVERSATION_MIN_SECONDS - 0.1)
