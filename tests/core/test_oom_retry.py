"""Issue 30: out of memory while moving the model to the device is retried, on the first try and on
a later one (the "meta" device stands in for a GPU: tensors move there, nothing is computed)."""

from typing import ClassVar

import numpy as np
import pytest
import torch

import separation_core.engine.inference as inference
from separation_core.engine.inference import EngineOptions, separate
from separation_core.models.base import KIND_MASK, SeparationModel
from separation_core.models.result import ChunkOutput


class HeavyModel(SeparationModel):
    """``.to`` raises out-of-memory for a device other than the CPU on the calls numbered in
    ``failing_moves`` (1-based); chunks longer than ``max_seconds`` do not fit off the CPU. On the
    CPU it returns half the mixture twice."""

    kind: ClassVar[str] = KIND_MASK
    trainable: ClassVar[bool] = False

    def __init__(self, failing_moves=(1,), max_seconds=1e9):
        super().__init__()
        self.failing_moves, self.max_seconds = set(failing_moves), max_seconds
        self.moves: list[str] = []

    def to(self, device, *args, **kwargs):
        device = torch.device(device)
        self.moves.append(device.type)
        if device.type != "cpu" and len(self.moves) in self.failing_moves:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
        return super().to(device, *args, **kwargs)

    def separate_chunk(self, mixture, *, references=None, options=None):
        if mixture.device.type != "cpu":
            if len(mixture) > self.max_seconds * self.sample_rate:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            raise AssertionError("only the chunk-size retry runs off the CPU in these tests")
        return ChunkOutput(waveforms=torch.stack([mixture / 2, mixture / 2]))


@pytest.fixture
def fake_gpu(monkeypatch):
    monkeypatch.setattr(inference, "resolve_device", lambda name: torch.device("meta"))


def mixture(seconds=6.0):
    return np.random.default_rng(0).standard_normal(int(16000 * seconds)).astype(np.float32)


def oom_notes(result):
    """The retries' notes (the input's own notes, such as "not speech", are not under test)."""
    return [note for note in result.notes if note.startswith("out of memory")]


def test_model_too_big_on_the_first_try_runs_on_the_cpu(fake_gpu):
    x = mixture()
    model = HeavyModel(failing_moves=(1,))
    res = separate(model, x, 16000, EngineOptions(chunk_seconds=4.0, device="cuda"))
    assert model.moves == ["meta", "cpu"]
    assert oom_notes(res) == ["out of memory on meta for the model: retried on the CPU"]
    assert res.timings["device"] == "cpu"
    np.testing.assert_allclose(res.waveforms, np.stack([x / 2, x / 2]), atol=1e-5)


def test_model_too_big_on_a_later_try_runs_on_the_cpu(fake_gpu):
    """The first try moves the model but its 4 s chunk does not fit; the retry with 2 s chunks
    cannot move the model any more: shorter chunks would not help, so the CPU runs it."""
    x = mixture()
    model = HeavyModel(failing_moves=(2,), max_seconds=1.5)
    res = separate(model, x, 16000, EngineOptions(chunk_seconds=4.0, device="cuda"))
    assert model.moves == ["meta", "meta", "cpu"]
    assert oom_notes(res) == [
        "out of memory on meta: retried with 2.0 s chunks",
        "out of memory on meta for the model: retried on the CPU",
    ]
    assert res.timings["device"] == "cpu" and res.timings["chunk_seconds"] == pytest.approx(2.0)
    np.testing.assert_allclose(res.waveforms, np.stack([x / 2, x / 2]), atol=1e-5)
