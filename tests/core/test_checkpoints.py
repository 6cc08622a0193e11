import os
import pickle
import zipfile

import pytest
import torch

from separation_core.checkpoints.store import (
    FORMAT_VERSION,
    checkpoint_dict,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    save_checkpoint_dict,
)
from separation_core.errors import CheckpointError
from separation_core.models import get_model_class


def tiny_model():
    return get_model_class("convtasnet")(
        n_filters=16, filter_length=16, bottleneck=8, hidden=16, skip=8, n_blocks=2, n_repeats=1
    )


def test_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = tiny_model().eval()
    path = save_checkpoint(
        tmp_path / "m.pt", model, training={"steps": 3}, metrics={"si_sdri": 1.5}
    )
    ckpt = load_checkpoint(path)
    assert ckpt["format"] == "cocktail-checkpoint" and ckpt["format_version"] == FORMAT_VERSION
    assert (
        ckpt["model_name"] == "convtasnet" and ckpt["n_src"] == 2 and ckpt["sample_rate"] == 16000
    )
    assert ckpt["training"]["steps"] == 3 and ckpt["metrics"]["si_sdri"] == 1.5
    again = model_from_checkpoint(path)
    x = torch.randn(1, 4000)
    with torch.no_grad():
        assert torch.equal(model(x)["waveforms"], again(x)["waveforms"])
    assert not list(tmp_path.glob("*.tmp"))


def test_version_0_is_migrated(tmp_path):
    model = tiny_model()
    old = {
        "model_name": "convtasnet",
        "model_args": model.model_args(),
        "state_dict": model.state_dict(),
        "infos": {"metrics": {"si_sdri": 2.0}},
    }
    torch.save(old, tmp_path / "old.pt")
    ckpt = load_checkpoint(tmp_path / "old.pt")
    assert ckpt["format_version"] == FORMAT_VERSION and ckpt["metrics"] == {"si_sdri": 2.0}
    model_from_checkpoint(tmp_path / "old.pt")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model_name": "convtasnet", "payload": _Evil(marker)}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert not marker.exists()
    assert "evil.pt" in str(err.value) and "\n" not in str(err.value)
    # A raw pickle (not a torch zip) is refused too.
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_truncated_corrupt_empty_and_missing(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", tiny_model())
    data = good.read_bytes()
    cases = {
        "truncated.pt": data[: len(data) // 2],
        "garbage.pt": os.urandom(2048),
        "empty.pt": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(tmp_path / name)
        assert name in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)


def test_wrong_architecture_and_unknown_model(tmp_path):
    ckpt = checkpoint_dict(tiny_model())
    ckpt["model_args"]["hidden"] = 32  # weights no longer fit
    save_checkpoint_dict(tmp_path / "wrong.pt", ckpt)
    with pytest.raises(CheckpointError, match="do not fit"):
        model_from_checkpoint(tmp_path / "wrong.pt")
    ckpt = checkpoint_dict(tiny_model())
    ckpt["model_name"] = "no-such-model"
    save_checkpoint_dict(tmp_path / "unknown.pt", ckpt)
    with pytest.raises(CheckpointError, match="unknown model"):
        model_from_checkpoint(tmp_path / "unknown.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a Cocktail checkpoint"):
        load_checkpoint(tmp_path / "list.pt")
    newer = checkpoint_dict(tiny_model())
    newer["format_version"] = FORMAT_VERSION + 1
    save_checkpoint_dict(tmp_path / "newer.pt", newer)
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(tmp_path / "newer.pt")


def test_checkpoint_is_a_zip_of_plain_data(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model())
    assert zipfile.is_zipfile(path)
    torch.load(path, weights_only=True)  # would raise on any non-allowlisted global
