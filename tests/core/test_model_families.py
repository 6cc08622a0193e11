"""Models describe themselves: a family declares what it is trained with, how its masks read, how
it exports, and its constructor's arguments become its ``model_args``; adding one takes its own
file and a line in ``models/builtin.py``, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from helpers import two_voices, voice
from separation_core.checkpoints.catalog import load_model
from separation_core.checkpoints.onnx_export import export_onnx
from separation_core.checkpoints.store import load_checkpoint, model_from_checkpoint
from separation_core.cli import main
from separation_core.engine.inference import separate
from separation_core.models import get_model_class, model_names, registry
from separation_core.models.base import SeparationModel
from separation_core.models.blocks import TimeDomainModel, WaveDecoder, WaveEncoder
from separation_core.models.result import MASK_EFFECTIVE

SR = 8000
FIXTURES = Path(__file__).parents[1] / "fixtures" / "checkpoints"


class TinyGate(TimeDomainModel):
    """A new family as a user would write it: a learned encoder, one 1x1 convolution and a sigmoid
    per source, the shared decoder. It names no objective, mask kind or export contract of its
    own: it inherits the time-domain family's."""

    description = "test family: one gated 1x1 convolution"

    def __init__(
        self, sample_rate: int = SR, n_src: int = 2, n_filters: int = 16, filter_length: int = 16
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        self.encoder = WaveEncoder(n_filters, filter_length)
        self.decoder = WaveDecoder(n_filters, filter_length)
        self.gate = nn.Conv1d(n_filters, n_src * n_filters, 1)

    def masks(self, w: torch.Tensor) -> torch.Tensor:
        b, n, frames = w.shape
        return torch.sigmoid(self.gate(w)).view(b, self.n_src, n, frames)


@pytest.fixture
def tiny_gate():
    """``TinyGate`` registered as "tiny-gate" for one test, then forgotten."""
    registry.register("tiny-gate")(TinyGate)
    yield TinyGate
    registry._REGISTRY.pop("tiny-gate")
    TinyGate.name = ""


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory):
    """Eight synthetic 'speakers' named like LibriSpeech, two files each."""
    root = tmp_path_factory.mktemp("speech")
    for k in range(8):
        for u in range(2):
            x = voice(100 + 30 * k, 1.5, SR, seed=10 * k + u, syllable_hz=2 + k % 3)
            sf.write(root / f"{2000 + k}-1-{u:04d}.flac", x, SR)
    return root


def test_a_new_family_trains_separates_exports_and_reloads(tiny_gate, speech_dir, tmp_path):
    assert "tiny-gate" in model_names()
    run = tmp_path / "run"
    args = ["train", "--model", "tiny-gate", "--speech", str(speech_dir), "--out", str(run)]
    args += ["--steps", "1", "--batch-size", "2", "--segment-seconds", "0.5", "--valid-num", "2"]
    assert main([*args, "--quiet"]) == 0

    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt["model_name"] == "tiny-gate"
    assert ckpt["model_args"] == {
        "sample_rate": SR,
        "n_src": 2,
        "n_filters": 16,
        "filter_length": 16,
    }
    model = load_model(str(run / "best.pt"))
    assert isinstance(model, TinyGate)

    _, mix = two_voices(1.0, sample_rate=SR)
    result = separate(model, mix, SR)
    assert result.waveforms.shape == (2, len(mix))
    assert result.mask_kind == MASK_EFFECTIVE

    export_onnx(model, tmp_path / "tiny.onnx")
    graph = load_model(str(tmp_path / "tiny.onnx"))
    from_graph = separate(graph, mix, SR).waveforms
    np.testing.assert_allclose(from_graph, result.waveforms, atol=1e-4)


def test_model_args_are_the_constructor_arguments_defaults_included():
    model = get_model_class("convtasnet")(n_filters=32, n_blocks=2, n_repeats=1)
    assert model.model_args() == {
        "sample_rate": 16000,
        "n_src": 2,
        "n_filters": 32,
        "filter_length": 32,
        "bottleneck": 128,
        "hidden": 256,
        "skip": 128,
        "kernel": 3,
        "n_blocks": 2,
        "n_repeats": 1,
        "mask_activation": "sigmoid",
    }
    rebuilt = get_model_class("convtasnet")(**model.model_args())
    assert rebuilt.model_args() == model.model_args()


def test_the_outermost_constructor_records_and_resolved_values_replace_given_ones():
    """A subclass's arguments are recorded once, by its own constructor (not its parents'); the STFT
    grid a mask model resolves from ``n_fft=None`` is recorded as resolved."""
    lstm = get_model_class("lstm-mask")(hidden=8, layers=1)
    args = lstm.model_args()
    assert args["hidden"] == 8 and args["layers"] == 1
    assert (args["n_fft"], args["hop"]) == (lstm.stft_params.n_fft, lstm.stft_params.hop)
    assert set(args) == {
        "sample_rate",
        "n_src",
        "n_fft",
        "hop",
        "hidden",
        "layers",
        "dropout",
        "mask_activation",
    }


def test_every_family_states_its_objective_and_export():
    for name in model_names():
        cls = get_model_class(name)
        assert issubclass(cls, SeparationModel)
        if cls.trainable:
            assert cls.objective, f"{name} trains but names no objective"
        if cls.takes_num_speakers:
            assert cls.objective in ("deep-clustering", "chimera")
    assert get_model_class("convtasnet").onnx_contract == "time-domain"
    assert get_model_class("blstm-mask").onnx_contract == "mask"
    assert get_model_class("chimera-tcn").onnx_contract == ""
    assert get_model_class("dc-blstm").trains_on_any_speaker_count
    assert not get_model_class("chimera").trains_on_any_speaker_count


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.pt")), ids=lambda p: p.stem)
def test_checkpoints_written_before_model_args_came_from_signatures_still_load(path):
    """tests/fixtures/checkpoints: written by the model code of commit 32aa7b1, when each
    constructor copied its arguments by hand, with the outputs they gave then."""
    record = json.loads((FIXTURES / "outputs.json").read_text())[path.stem]
    ckpt = load_checkpoint(path)
    model = model_from_checkpoint(ckpt)
    assert model.model_args() == ckpt["model_args"] == record["model_args"]
    _, mix = two_voices(1.0)
    y = np.asarray(separate(model, mix[: model.sample_rate], model.sample_rate).waveforms)
    assert list(y.shape) == record["shape"]
    # k-means on another CPU's float rounding may give a few quiet bins to the other speaker
    atol = 0.02 * float(np.abs(y).max()) if model.takes_num_speakers else 2e-5
    np.testing.assert_allclose(y[:, ::97], record["samples"], rtol=1e-3, atol=atol)
