"""The model catalog: one bad checkpoint never hides the others, and files are read once."""

import json
import os

import pytest

from helpers import voice
from separation_core.checkpoints import catalog
from separation_core.checkpoints.store import checkpoint_dict, save_checkpoint_dict
from separation_core.cli import main
from separation_core.errors import CheckpointError
from separation_core.io.audio_save import save_audio
from separation_core.models import get_model_class


def tiny_ckpt() -> dict:
    return checkpoint_dict(
        get_model_class("ff-mask")(hidden=8, layers=1, context=0), training={"steps": 3}
    )


def bad_variants() -> dict:
    """File name -> a checkpoint broken in one field (those of issue 13)."""
    out = {}
    for name, change in {
        "rate-text.pt": lambda c: c.update(sample_rate="abc"),
        "training-list.pt": lambda c: c.update(training=[1, 2, 3]),
        "args-rate-zero.pt": lambda c: c["model_args"].update(sample_rate=0),
        "wrong-arch.pt": lambda c: c["model_args"].update(hidden=16),
        "unknown-model.pt": lambda c: c.update(model_name="nope"),
    }.items():
        ckpt = tiny_ckpt()
        change(ckpt)
        out[name] = ckpt
    return out


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("COCKTAIL_MODELS_DIR", str(folder))
    save_checkpoint_dict(folder / "good.pt", tiny_ckpt())
    for name, ckpt in bad_variants().items():
        save_checkpoint_dict(folder / name, ckpt)
    return folder


def test_bad_checkpoints_are_skipped_and_named_and_the_good_one_listed(user_dir):
    problems = []
    ids = {e.id: e for e in catalog.list_models(problems)}
    assert ids["good"].origin == "user" and ids["good"].sample_rate == 16000
    for name in bad_variants():
        assert name[:-3] not in ids
        assert sum(str(user_dir / name) in p for p in problems) == 1, (name, problems)
    assert all("\n" not in p for p in problems)


def test_models_command_lists_the_rest_and_model_path_gives_one_line(user_dir, tmp_path, capsys):
    assert main(["models", "--json"]) == 0
    out = capsys.readouterr()
    payload = json.loads(out.out)
    assert "good" in {m["id"] for m in payload["models"]}
    assert len(payload["problems"]) == len(bad_variants())
    wav = save_audio(tmp_path / "x.wav", voice(seconds=0.5), 16000)
    for name, field in (
        ("rate-text.pt", "'sample_rate'"),
        ("training-list.pt", "'training'"),
        ("args-rate-zero.pt", "'model_args.sample_rate'"),
        ("wrong-arch.pt", "do not fit"),
        ("unknown-model.pt", "unknown model 'nope'"),
    ):
        code = main(
            [
                "separate",
                str(wav),
                "--model",
                str(user_dir / name),
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.count("\n") == 0, err
        assert str(user_dir / name) in err and field in err, err


def test_unchanged_files_are_not_read_again(user_dir, monkeypatch):
    reads = []
    real = catalog.load_checkpoint
    monkeypatch.setattr(catalog, "load_checkpoint", lambda p: reads.append(p.name) or real(p))
    catalog.list_models([])
    first = len(reads)
    problems = []
    catalog.list_models(problems)
    assert len(reads) == first  # good and refused files alike
    assert len(problems) == len(bad_variants())  # refusals are still reported
    st = (user_dir / "good.pt").stat()
    os.utime(user_dir / "good.pt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    catalog.list_models([])
    assert reads[first:] == ["good.pt"]


def test_an_unforeseen_fault_still_names_the_file(user_dir, monkeypatch):
    def broken(path):
        raise AttributeError("'list' object has no attribute 'get'")

    monkeypatch.setattr(catalog, "load_checkpoint", broken)
    (user_dir / "fresh.pt").write_bytes((user_dir / "good.pt").read_bytes())
    with pytest.raises(CheckpointError, match=r"fresh\.pt: cannot be listed \(AttributeError"):
        catalog.entry_from_checkpoint(user_dir / "fresh.pt")
