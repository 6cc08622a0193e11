"""Issue 30: a CPU run whose chunks will not fit in memory is refused before it starts, with a
--chunk-seconds that fits."""

import json
import math
import re
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest
import soundfile as sf
import torch

import separation_core.engine.memory_check as mc
from helpers import two_voices
from separation_core.cli import main
from separation_core.models.base import KIND_TIME_DOMAIN, SeparationModel
from separation_core.models.result import ChunkOutput

SR = 16000
CHANNELS = 8


class WideModel(SeparationModel):
    """One 1x1 convolution to ``CHANNELS`` channels: its largest layer output is
    ``CHANNELS * time`` float32 values."""

    kind: ClassVar[str] = KIND_TIME_DOMAIN
    trainable: ClassVar[bool] = False

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(1, CHANNELS, 1)

    def separate_chunk(self, mixture, *, references=None, options=None):
        return ChunkOutput(waveforms=self.conv(mixture[None, None])[0, :2])


PER_SECOND_MB = CHANNELS * SR * 4 / 2**20
BENCH = {
    "models": {
        "m": {
            "sample_rate": SR,
            "n_src": 2,
            "cpu": {"seconds": 60.0, "speed_x_realtime": 20.0},
            "long": {"minutes": 10.0, "peak_mb": 700.0, "speed_x_realtime": 10.0},
        }
    }
}
ENTRY = SimpleNamespace(id="m", kind=KIND_TIME_DOMAIN, n_src=2, num_parameters=1, sample_rate=SR)


def test_the_probe_finds_the_largest_layer_output_per_second():
    assert mc.largest_activation_mb_per_second(WideModel()) == pytest.approx(PER_SECOND_MB)
    from separation_core.models import get_model_class

    assert mc.largest_activation_mb_per_second(get_model_class("oracle-irm")()) == 0.0


def test_the_longest_chunk_that_fits_is_the_last_whole_second_under_the_memory():
    base, per_second, own = 900.0, PER_SECOND_MB, 8.0
    fits = mc.longest_chunk_that_fits(base, per_second, 2000.0, own)
    assert fits == math.floor(own + (2000.0 - base) / (mc.ACTIVATION_FACTOR * per_second))
    assert mc.run_peak_mb(base, per_second, fits, own) <= 2000.0
    assert mc.run_peak_mb(base, per_second, fits + 1, own) > 2000.0
    assert mc.run_peak_mb(base, per_second, own / 2, own) == base  # shorter chunks: the bench's
    assert mc.longest_chunk_that_fits(base, per_second, base - 1, own) is None


@pytest.fixture
def memory(monkeypatch):
    """Sets the memory the check sees as free (MB); the program itself holds nothing."""
    monkeypatch.setattr(mc, "resident_mb", lambda: 0.0)

    def set_free(mb):
        monkeypatch.setattr(mc, "available_memory_mb", lambda: mb)

    return set_free


def test_a_whole_30_minute_input_in_one_chunk_is_refused_with_a_chunk_that_fits(memory):
    per_minute = 3 * 4 * SR * 60 / 2**20  # the mixture and two outputs, float32
    base = 700.0 + per_minute * (30.0 - 10.0)  # the bench's peak for 10 minutes, grown to 30
    model = WideModel()
    memory(2000.0)
    assert mc.memory_problem(ENTRY, model, 1800.0, None, BENCH) is None  # the model's 8 s chunks
    for chunk in (0.0, math.inf, 1e9):
        problem = mc.memory_problem(ENTRY, model, 1800.0, chunk, BENCH)
        expected = math.floor(8.0 + (2000.0 - base) / (mc.ACTIVATION_FACTOR * PER_SECOND_MB))
        assert problem.chunk_seconds == expected
        assert problem.text.endswith(
            f"(the whole 1800 s as one chunk) but 2.0 GB is free: "
            f"give --chunk-seconds {expected} or less"
        )
    assert mc.memory_problem(ENTRY, model, 1800.0, expected, BENCH) is None
    memory(base - 1)
    problem = mc.memory_problem(ENTRY, model, 1800.0, None, BENCH)
    assert problem.chunk_seconds is None and problem.text.endswith(": it may fail")
    memory(None)  # a system that does not say
    assert mc.memory_problem(ENTRY, model, 1800.0, 0.0, BENCH) is None


def test_free_memory_is_read_from_the_system_or_left_unknown(monkeypatch):
    free = mc.available_memory_mb()
    if free is not None:
        assert free > 0

    def unreadable(*_args, **_kwargs):
        raise OSError("no such file")

    monkeypatch.setattr(mc, "open", unreadable, raising=False)
    monkeypatch.setattr(mc.Path, "read_text", unreadable)
    monkeypatch.setattr(mc.os, "sysconf", unreadable)
    assert mc.available_memory_mb() is None


def test_cli_refuses_a_chunk_too_long_and_the_suggested_one_runs(
    tmp_path, monkeypatch, memory, capsys
):
    bench = dict(
        BENCH,
        models={
            "convtasnet": dict(
                BENCH["models"]["m"],
                long={"minutes": 10.0, "peak_mb": 500.0, "speed_x_realtime": 10.0},
            )
        },
    )
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    monkeypatch.setenv("COCKTAIL_BENCH", str(tmp_path / "bench.json"))
    _, mixture = two_voices(30.0, SR)
    sf.write(tmp_path / "talk.wav", mixture, SR, subtype="FLOAT")
    per_minute = 3 * 4 * SR * 60 / 2**20
    memory(500.0 + per_minute * (0.5 - 10.0) + 50.0)  # 50 MB over the 8 s chunks' peak
    argv = ["separate", str(tmp_path / "talk.wav"), "--model", "convtasnet", "--device", "cpu"]
    argv += ["--out", str(tmp_path / "out"), "--quiet"]
    assert main([*argv, "--chunk-seconds", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"cocktail: error: {tmp_path / 'talk.wav'}: this run needs about ")
    assert not (tmp_path / "out" / "talk_s1.wav").exists()
    (chunk,) = re.findall(r"give --chunk-seconds (\d+) or less", err)
    assert 8 <= int(chunk) < 30
    assert main([*argv, "--chunk-seconds", chunk]) == 0
    assert np.isfinite(sf.read(tmp_path / "out" / "talk_s1.wav")[0]).all()


def test_freed_memory_goes_back_through_malloc_trim_where_there_is_one(monkeypatch):
    from separation_core.engine import memory_check

    calls = []

    class Libc:
        def malloc_trim(self, pad):
            calls.append(pad)
            return 1

    monkeypatch.setattr(memory_check, "_libc", lambda: Libc())
    memory_check.return_freed_memory()
    assert calls == [0]
    monkeypatch.setattr(memory_check, "_libc", lambda: None)  # not glibc: nothing, no error
    memory_check.return_freed_memory()
    assert calls == [0]


def test_sparse_zeros_are_zeros_resident_only_where_written():
    from separation_core.engine.memory_check import resident_mb, sparse_zeros

    z = sparse_zeros((2, 50_000_000), np.float32)  # 400 MB asked for
    assert z.shape == (2, 50_000_000) and z.dtype == np.float32 and z.flags.writeable
    before = resident_mb()
    for a in range(0, z.shape[1], 5_000_000):  # ten stretches of 0.4 MB apart: 1 % of it
        z[:, a : a + 50_000] = 1.0
    assert z.sum() == 2 * 10 * 50_000 and not z[:, 50_000:5_000_000].any()  # all of it read
    if before:  # Linux: huge pages, or reading a shared mapping, would make 40-400 MB resident
        assert resident_mb() - before < 12
    assert sparse_zeros((0, 3)).shape == (0, 3)
