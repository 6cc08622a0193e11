"""Issue 13, item 10: closing the window during a long chunk cancels the job within the chunk,
waits briefly, and prints nothing (no "Signal source has been deleted")."""

import threading

import torch
from torch import nn

from conftest import open_mixture
from separation_core.models.base import KIND_TIME_DOMAIN, SeparationModel
from separation_core.models.result import ChunkOutput

STEPS = 2000  # 20 s of sub-steps when nothing stops them


class SlowStep(nn.Module):
    def __init__(self, ran: list) -> None:
        super().__init__()
        self.ran = ran
        self.pause = threading.Event()  # never set: each step waits its 10 ms

    def forward(self, x):
        self.ran.append(1)
        self.pause.wait(0.01)
        return x


class SlowModel(SeparationModel):
    """One chunk whose forward runs STEPS layers, like a long chunk of a deep model."""

    kind = KIND_TIME_DOMAIN
    trainable = False

    def __init__(self, ran: list) -> None:
        super().__init__()
        self.body = nn.Sequential(*[SlowStep(ran) for _ in range(STEPS)])
        self.default_chunk_seconds = 0  # the whole input in one chunk

    def separate_chunk(self, mixture, *, references=None, options=None):
        y = self.body(mixture)
        return ChunkOutput(waveforms=torch.stack([y, mixture - y]))


def test_closing_during_a_long_chunk_stops_it_quietly(
    qtbot, window, audio_files, monkeypatch, capfd
):
    from separation_core.checkpoints import catalog

    ran: list = []
    monkeypatch.setattr(catalog, "load_model", lambda spec: SlowModel(ran))
    open_mixture(qtbot, window, audio_files[0])
    capfd.readouterr()
    with qtbot.captureExceptions() as exceptions:
        window.separate(["ff-mask"])
        qtbot.waitUntil(lambda: len(ran) >= 5, timeout=20000)  # inside the chunk's forward
        window.close()
        # close waited for the worker: it saw the cancel within the chunk and ended
        assert window.runner.pool.activeThreadCount() == 0
        assert len(ran) < STEPS
        qtbot.wait(100)  # anything still queued is delivered (and dropped) now
    assert exceptions == []
    err = capfd.readouterr().err
    assert "RuntimeError" not in err and "Traceback" not in err, err
    assert window.session.results == {}
