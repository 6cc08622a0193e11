"""Issue 13 (6, 8, 20): one export plan made before any work; a stem set written as a unit;
temporaries that fit wherever the final name fits and do not outlive a killed process."""

import errno
import json
import os
import time

import numpy as np
import pytest
import soundfile as sf

from separation_core.errors import AudioSaveError
from separation_core.io import audio_save, export, filesets
from separation_core.io.audio_save import save_audio
from separation_core.io.export import write_stems
from separation_core.io.export_plan import ExportRequest, plan_exports, refuse_existing
from separation_core.io.filesets import ensure_writable_folder, write_file_set
from separation_core.io.fileutil import atomic_write
from separation_core.models.result import SeparationResult

SR = 16000


def _result(n_src=2, seconds=0.25):
    t = np.arange(int(seconds * SR)) / SR
    waves = np.stack([0.2 * np.sin(2 * np.pi * (200 + 100 * k) * t) for k in range(n_src)])
    return SeparationResult(waveforms=waves.astype(np.float32), sample_rate=SR, model_name="test")


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------- the plan


@pytest.mark.parametrize(
    "first,second",
    [("good.wav", "good.ogg"), ("a/take.wav", "b/take.wav"), ("Talk.wav", "talk.flac")],
)
def test_inputs_that_would_write_the_same_file_are_refused(tmp_path, first, second):
    requests = [
        ExportRequest(name, name.split("/")[-1].split(".")[0], 2) for name in (first, second)
    ]
    with pytest.raises(AudioSaveError) as info:
        plan_exports(requests, tmp_path, collision_hint="give them different --out folders")
    msg = str(info.value)
    assert first in msg and second in msg and "_s1.wav" in msg and "\n" not in msg


def test_plan_lists_stems_residual_and_sidecar(tmp_path):
    [target] = plan_exports(
        [ExportRequest("x.wav", "x", 2, "m")],
        tmp_path,
        template="{stem}-{model}-{index}",
        extension=".flac",
        residual=True,
    )
    assert [p.name for p in target.paths] == [
        "x-m-1.flac",
        "x-m-2.flac",
        "x_residual.flac",
        "x.json",
    ]


def test_refuse_existing_names_the_file_and_a_folder_is_never_replaced(tmp_path):
    [target] = plan_exports([ExportRequest("x.wav", "x", 2)], tmp_path)
    refuse_existing([target], overwrite=False)
    (tmp_path / "x_s2.wav").write_bytes(b"old")
    with pytest.raises(AudioSaveError, match="x_s2.wav: already exists"):
        refuse_existing([target], overwrite=False)
    refuse_existing([target], overwrite=True)
    (tmp_path / "x.json").mkdir()
    with pytest.raises(AudioSaveError, match="is a folder"):
        refuse_existing([target], overwrite=True)


# ---------------------------------------------------------------- the set is one unit


def _fail_second(monkeypatch):
    real, calls = export.encode_audio, []

    def encode(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(export, "encode_audio", encode)


def test_full_disk_leaves_none_of_the_set(tmp_path, monkeypatch):
    _fail_second(monkeypatch)
    with pytest.raises(AudioSaveError) as info:
        write_stems(_result(), tmp_path, "X", sidecar={"k": 1})
    assert str(info.value) == f"{tmp_path / 'X_s2.wav'}: cannot write: No space left on device"
    assert _names(tmp_path) == []


def test_full_disk_keeps_the_old_set(tmp_path, monkeypatch):
    old = {name: name.encode() for name in ("X_s1.wav", "X_s2.wav", "X.json")}
    for name, data in old.items():
        (tmp_path / name).write_bytes(data)
    _fail_second(monkeypatch)
    with pytest.raises(AudioSaveError, match="No space left on device"):
        write_stems(_result(), tmp_path, "X", sidecar={}, overwrite=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == old


def test_a_failed_rename_undoes_the_set(tmp_path, monkeypatch):
    (tmp_path / "X_s1.wav").write_bytes(b"old")
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(src, dst)

    monkeypatch.setattr(filesets.os, "replace", replace)
    with pytest.raises(AudioSaveError, match="X.json: cannot write: Input/output error"):
        write_stems(_result(), tmp_path, "X", sidecar={}, overwrite=True)
    monkeypatch.undo()
    assert _names(tmp_path) == ["X_s1.wav"] and (tmp_path / "X_s1.wav").read_bytes() == b"old"


def test_a_file_that_appears_meanwhile_is_not_replaced(tmp_path):
    def write(tmp):
        tmp.write_bytes(b"new")
        (tmp_path / "a.txt").write_bytes(b"theirs")

    with pytest.raises(AudioSaveError, match="already exists"):
        write_file_set(
            [(tmp_path / "b.txt", lambda tmp: tmp.write_bytes(b"b")), (tmp_path / "a.txt", write)]
        )
    assert _names(tmp_path) == ["a.txt"] and (tmp_path / "a.txt").read_bytes() == b"theirs"


def test_the_disk_error_behind_libsndfile_is_named(tmp_path, monkeypatch):
    """libsndfile reports only "System error"; the writer keeps the errno it hid."""

    class FullDisk:
        def __init__(self, fh):
            self.fh, self.written = fh, 0

        def write(self, data):
            self.written += len(data)
            if self.written > 20000:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(audio_save, "open", lambda *a, **k: FullDisk(open(*a, **k)), raising=False)
    with pytest.raises(AudioSaveError) as info:
        save_audio(tmp_path / "x.wav", np.zeros(SR, np.float32) + 0.1, SR)
    assert str(info.value) == f"{tmp_path / 'x.wav'}: cannot write: No space left on device"
    assert _names(tmp_path) == []


def test_stale_temporaries_are_removed_at_the_next_write(tmp_path):
    stale, fresh, theirs = (
        tmp_path / n
        for n in (".cocktail-0badc0de.tmp", ".cocktail-12345678.tmp", ".cocktail-notes.tmp")
    )
    for path in (stale, fresh, theirs):
        path.write_bytes(b"x")
    hours_ago = time.time() - 2 * 3600
    for path in (stale, theirs):
        os.utime(path, (hours_ago, hours_ago))
    write_stems(_result(), tmp_path, "X", sidecar={})
    assert not stale.exists() and fresh.exists() and theirs.exists()
    assert json.loads((tmp_path / "X.json").read_text())["outputs"] == ["X_s1.wav", "X_s2.wav"]


def test_a_248_character_name_can_be_written(tmp_path):
    stem = "n" * (248 - len("_s1.wav"))
    paths = write_stems(_result(), tmp_path, stem, sidecar={})
    assert len(paths[0].name) == 248 and sf.info(paths[0]).frames == len(_result().waveforms[0])
    assert save_audio(tmp_path / ("a" * 244 + ".wav"), np.zeros(100), SR).exists()
    with atomic_write(tmp_path / ("b" * 248), "w") as f:
        f.write("ok")
    assert (tmp_path / ("b" * 248)).read_text() == "ok"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- the folder, before any work


def test_a_folder_under_a_file_is_refused_naming_the_file(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(AudioSaveError) as info:
        ensure_writable_folder(blocker / "sub")
    assert str(info.value) == f"{blocker / 'sub'}: cannot create the folder ({blocker} is a file)"
    with pytest.raises(AudioSaveError, match="is a file, not a folder"):
        ensure_writable_folder(blocker)
    with pytest.raises(AudioSaveError, match="a-file is a file"):
        ensure_writable_folder(blocker / "sub", create=False)


def test_the_folder_is_created_and_probed(tmp_path):
    folder = ensure_writable_folder(tmp_path / "new" / "deeper")
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert (
        ensure_writable_folder(tmp_path / "not-yet", create=False)
        and not (tmp_path / "not-yet").exists()
    )


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions"
)
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(AudioSaveError, match="cannot write in this folder"):
            ensure_writable_folder(folder)
    finally:
        folder.chmod(0o755)
