"""Checkpoint files vetted before and after torch.load: malformed fields, wrong architectures, zip
bombs and files that are not checkpoints at all, each refused in one line naming the file."""

import os
import pickle
import zipfile

import pytest
import torch

from separation_core.checkpoints import checks as checkpoint_checks
from separation_core.checkpoints.store import checkpoint_dict, load_checkpoint, save_checkpoint_dict
from separation_core.errors import CheckpointError
from separation_core.io import fileutil
from separation_core.models import get_model_class


def tiny_ckpt() -> dict:
    model = get_model_class("ff-mask")(hidden=8, layers=1, context=0)
    return checkpoint_dict(model, training={"steps": 3})


def refusal(path) -> str:
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert str(path) in text and "\n" not in text, text
    return text


def _set(ckpt, dotted, value):
    *parents, last = dotted.split(".")
    target = ckpt
    for key in parents:
        target = target[key]
    target[last] = value


MALFORMED = [
    ("sample_rate", "abc", "'sample_rate'"),
    ("sample_rate", 0, "'sample_rate'"),
    ("sample_rate", True, "'sample_rate'"),
    ("n_src", -2, "'n_src'"),
    ("model_args.sample_rate", 0, "'model_args.sample_rate'"),
    ("model_args.sample_rate", 8000, "'model_args.sample_rate' is 8000 but 'sample_rate' is 16000"),
    ("model_args", [1, 2], "'model_args'"),
    ("training", [1, 2, 3], "'training' must be a dict"),
    ("training.steps", "many", "'training.steps'"),
    ("training.description", 7, "'training.description'"),
    ("metrics", "good", "'metrics' must be a dict"),
    ("metrics.si_sdri", torch.ones(2), "'metrics.si_sdri' must be plain data"),
    ("stft", [512], "'stft'"),
    ("stft.hop", 0, "'stft.hop'"),
    ("stft.sample_rate", 8000, "'stft.sample_rate' is 8000"),
    ("state_dict", [1], "'state_dict' must be a dict"),
    ("state_dict.net.0.bias", "zeros", "'state_dict.net.0.bias' must be a tensor"),
    ("model_name", 42, "'model_name'"),
    ("model_name", "no-such-model", "unknown model 'no-such-model'"),
    ("format_version", "1", "'format_version'"),
    ("format_version", -1, "'format_version'"),
    ("created", 20260101, "'created'"),
]


@pytest.mark.parametrize(
    "field, value, expected", MALFORMED, ids=[f"{f}={v!r}" for f, v, _ in MALFORMED]
)
def test_every_malformed_field_is_named_with_the_file(tmp_path, field, value, expected):
    ckpt = tiny_ckpt()
    if field == "state_dict.net.0.bias":
        ckpt["state_dict"]["net.0.bias"] = value
    else:
        _set(ckpt, field, value)
    path = save_checkpoint_dict(tmp_path / "bad.pt", ckpt)
    assert expected in refusal(path)


def test_weights_that_do_not_fit_the_declared_architecture_are_refused_on_load(tmp_path):
    ckpt = tiny_ckpt()
    ckpt["model_args"]["hidden"] = 16  # the weights are for hidden=8
    text = refusal(save_checkpoint_dict(tmp_path / "shapes.pt", ckpt))
    assert "do not fit the 'ff-mask' architecture" in text and "the model needs" in text
    ckpt = tiny_ckpt()
    ckpt["state_dict"].pop("net.0.bias")
    ckpt["state_dict"]["extra.weight"] = torch.zeros(2)
    text = refusal(save_checkpoint_dict(tmp_path / "keys.pt", ckpt))
    assert (
        "1 missing (first 'net.0.bias')" in text and "1 unexpected (first 'extra.weight')" in text
    )
    ckpt = tiny_ckpt()
    ckpt["model_args"]["hidden"] = -3  # cannot even be built
    assert "model_args do not fit 'ff-mask'" in refusal(
        save_checkpoint_dict(tmp_path / "args.pt", ckpt)
    )


def test_random_bytes_are_not_called_an_unsafe_pickle(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(b"\x13\x37" + os.urandom(4094))
    text = refusal(path)
    assert "not a PyTorch checkpoint (neither a zip archive nor a pickle file)" in text
    assert "unsafe" not in text
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps({"weights": [1, 2]}, protocol=4))
    text = refusal(plain)
    assert "not a PyTorch checkpoint" in text and "unsafe" not in text


def test_a_pickled_callable_is_still_called_unsafe(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model_name": "ff-mask", "hook": os.getcwd}, path)
    assert "unsafe pickle" in refusal(path)


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_proc_file_is_not_a_regular_file_rather_than_empty(tmp_path):
    text = refusal("/proc/self/mem")
    assert "not a regular file" in text and "empty" not in text


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    assert "not a regular file" in refusal(fifo)


def test_unreadable_file_says_permission_denied(tmp_path, monkeypatch):
    path = save_checkpoint_dict(tmp_path / "locked.pt", tiny_ckpt())

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fileutil, "open", denied, raising=False)  # root ignores chmod 000
    assert "cannot be read: permission denied" in refusal(path)


def _deflated_copy(src, dst):
    """The same torch archive with every entry deflated (what a zip bomb does to its tensors)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    return dst


def test_zip_bomb_is_refused_from_its_directory_before_torch_reads_it(tmp_path, monkeypatch):
    plain = tmp_path / "zeros.pt"
    torch.save({"w": torch.zeros(2 << 20)}, plain)  # 8 MB of zeros, stored
    bomb = _deflated_copy(plain, tmp_path / "bomb.pt")
    assert bomb.stat().st_size < 100_000

    def never(*args, **kwargs):
        raise AssertionError("torch.load must not see a refused file")

    monkeypatch.setattr(torch, "load", never)
    monkeypatch.setattr(checkpoint_checks, "MAX_DECLARED_BYTES", 4 << 20)
    text = refusal(bomb)
    assert "zip entries declare 8.4 MB" in text and "above the 4.2 MB limit" in text
    assert "refused" in refusal(plain)  # the limit holds stored or not
    monkeypatch.setattr(checkpoint_checks, "MAX_DECLARED_BYTES", 2 << 30)
    monkeypatch.setattr(checkpoint_checks, "RATIO_FLOOR", 1 << 20)
    text = refusal(bomb)
    assert "decompression bomb" in text and "8.4 MB of data compressed into a" in text


def test_deflated_but_sane_checkpoint_still_loads(tmp_path):
    plain = save_checkpoint_dict(tmp_path / "plain.pt", tiny_ckpt())
    ckpt = load_checkpoint(_deflated_copy(plain, tmp_path / "deflated.pt"))
    assert ckpt["model_name"] == "ff-mask"


def test_truncated_zip_names_the_damage(tmp_path):
    plain = save_checkpoint_dict(tmp_path / "plain.pt", tiny_ckpt())
    cut = tmp_path / "cut.pt"
    cut.write_bytes(plain.read_bytes()[:600])
    assert "corrupt or truncated checkpoint" in refusal(cut)
