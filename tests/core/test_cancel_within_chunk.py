"""Stop is honoured within a chunk: the engine checks the cancel token around every layer of the
model and between clustering steps, not only between chunks (issue 13, item 10)."""

import threading
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from separation_core.cancel import CancelToken, cancel_scope, check_current_cancel
from separation_core.engine.inference import EngineOptions, separate
from separation_core.errors import Cancelled
from separation_core.models import clustering
from separation_core.models.base import KIND_TIME_DOMAIN, RunOptions, SeparationModel
from separation_core.models.result import ChunkOutput

STEPS = 100


class Step(nn.Module):
    """One sub-step of a long forward; calls ``on_step(index)`` when it runs."""

    def __init__(self, index: int, on_step) -> None:
        super().__init__()
        self.index, self.on_step = index, on_step

    def forward(self, x):
        self.on_step(self.index)
        return x


class ManyStepModel(SeparationModel):
    """A chunk's forward runs ``STEPS`` layers; ``on_step`` sees each one run."""

    kind: ClassVar[str] = KIND_TIME_DOMAIN
    trainable: ClassVar[bool] = False

    def __init__(self, on_step) -> None:
        super().__init__()
        self.body = nn.Sequential(*[Step(i, on_step) for i in range(STEPS)])

    def separate_chunk(self, mixture, *, references=None, options=RunOptions()):
        y = self.body(mixture)
        return ChunkOutput(waveforms=torch.stack([y, mixture - y]))


def test_cancel_is_observed_inside_a_single_chunk():
    token = CancelToken()
    ran = []

    def on_step(i):
        ran.append(i)
        if i == 30:
            token.cancel()  # Stop pressed while the chunk's forward is at step 30

    model = ManyStepModel(on_step)
    x = np.random.default_rng(0).standard_normal(16000 * 4).astype(np.float32)
    progress = []
    with pytest.raises(Cancelled):
        separate(
            model,
            x,
            16000,
            EngineOptions(chunk_seconds=0),
            cancel=token,
            progress=lambda f, s: progress.append(s),
        )
    assert ran == list(range(31))  # the layer after the cancel never ran
    assert not any("chunk 1/1" in s for s in progress)  # it stopped within the (only) chunk
    # the hooks are gone: the same model runs to the end afterwards, and without a token
    ran.clear()
    token = CancelToken()
    res = separate(model, x, 16000, EngineOptions(chunk_seconds=0))
    assert ran == list(range(STEPS)) and res.waveforms.shape == (2, len(x))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_the_current_token_belongs_to_its_thread():
    cancelled = CancelToken()
    cancelled.cancel()
    inside, outside = threading.Event(), threading.Event()
    errors = []

    def other():
        with cancel_scope(cancelled):
            inside.set()
            outside.wait(5)
            try:
                check_current_cancel()
            except Cancelled:
                errors.append("other")

    t = threading.Thread(target=other)
    t.start()
    inside.wait(5)
    check_current_cancel()  # this thread has no cancelled token: nothing raised
    with cancel_scope(CancelToken()):
        check_current_cancel()
    outside.set()
    t.join(5)
    assert errors == ["other"]
    check_current_cancel()


def test_clustering_checks_the_token_between_its_steps(monkeypatch):
    token = CancelToken()
    fitted = []
    real_kmeans = clustering._kmeans

    def kmeans_then_stop(x, k, seed, weights=None):
        fitted.append(len(x))
        centres = real_kmeans(x, k, seed, weights)
        token.cancel()  # Stop pressed during the k-means fit
        return centres

    monkeypatch.setattr(clustering, "_kmeans", kmeans_then_stop)
    emb = np.random.default_rng(0).standard_normal((5000, 8)).astype(np.float32)
    with cancel_scope(token), pytest.raises(Cancelled):
        clustering.cluster_embeddings(emb, "kmeans", k=2)
    assert fitted == [5000]
    labels, centres = clustering.cluster_embeddings(emb, "kmeans", k=2)  # no scope: runs
    assert labels.shape == (5000,) and centres.shape == (2, 8)


def test_nearest_centre_in_blocks_matches_the_direct_formula(monkeypatch):
    rng = np.random.default_rng(1)
    emb, centres = rng.standard_normal((1000, 5)).astype(np.float32), rng.standard_normal((3, 5))
    monkeypatch.setattr(clustering, "_NEAREST_BLOCK", 64)
    d = ((emb[:, None, :] - centres[None]) ** 2).sum(-1)
    assert np.array_equal(clustering.nearest_centre(emb, centres), d.argmin(1))
    token = CancelToken()
    token.cancel()
    with cancel_scope(token), pytest.raises(Cancelled):
        clustering.nearest_centre(emb, centres)
