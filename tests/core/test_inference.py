"""The engine: chunking, stitching, overlap-add, exact lengths, rates, cancel, progress."""

from typing import ClassVar

import numpy as np
import pytest
import torch

from separation_core.cancel import CancelToken
from separation_core.engine.inference import EngineOptions, resolve_device, separate
from separation_core.engine.overlap_add import stitch_permutation
from separation_core.errors import Cancelled, ModelError
from separation_core.models.base import KIND_MASK, SeparationModel
from separation_core.models.masks import ideal_ratio_mask
from separation_core.models.result import ChunkOutput
from separation_core.models.transforms import StftParams, stft


def two_sources(n, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    a = np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    b = rng.standard_normal(n) * 0.3 * (np.sin(2 * np.pi * 0.3 * t) > -0.5)
    return np.stack([a, b]).astype(np.float32)


class ShufflingModel(SeparationModel):
    """Returns the references it is given, in a fresh random order on every chunk, with their IRMs.

    It does not declare ``needs_references``, so the engine stitches its chunks like a learned model's.
    """

    kind: ClassVar[str] = KIND_MASK
    trainable: ClassVar[bool] = False

    def __init__(self, sample_rate=16000, n_src=2, seed=0):
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        self.rng = np.random.default_rng(seed)
        self.calls = []

    @property
    def stft_params(self):
        return StftParams(sample_rate=self.sample_rate)

    def separate_chunk(self, mixture, *, references=None, options=None):
        perm = torch.as_tensor(self.rng.permutation(references.shape[0]))
        self.calls.append((len(mixture), perm.tolist()))
        refs = references[perm]
        masks = ideal_ratio_mask(stft(refs, self.stft_params))
        emb = torch.nn.functional.one_hot(masks.argmax(0).flatten(), refs.shape[0]).float()
        return ChunkOutput(
            waveforms=refs, masks=masks, embeddings=emb, labels=masks.argmax(0).flatten()
        )


def global_best_error(est, ref):
    errs = [np.abs(est[list(p)] - ref).max() for p in ([0, 1], [1, 0])]
    return min(errs)


@pytest.mark.parametrize("n", [16000 * 10 + 37, 16000 * 3 + 1, 800])
def test_stitching_undoes_per_chunk_permutations(n):
    refs = two_sources(n)
    mix = refs.sum(0)
    model = ShufflingModel()
    res = separate(
        model, mix, 16000, EngineOptions(chunk_seconds=2.0, overlap_seconds=0.5), references=refs
    )
    assert res.waveforms.shape == (2, n) and res.waveforms.dtype == np.float32
    assert global_best_error(res.waveforms, refs) < 1e-4
    if n > 16000 * 5:
        assert len(model.calls) > 3 and len({tuple(p) for _, p in model.calls}) == 2


def test_masks_and_embeddings_are_stitched_on_the_global_grid():
    n = 16000 * 6 + 5
    refs = two_sources(n, seed=1)
    res = separate(
        ShufflingModel(seed=3),
        refs.sum(0),
        16000,
        EngineOptions(chunk_seconds=2.0, overlap_seconds=0.5, max_embedding_points=3000),
        references=refs,
    )
    p = res.stft
    frames = n // p.hop + 1
    assert res.masks.shape == (2, p.n_freq, frames)
    order = [0, 1] if np.abs(res.waveforms - refs).max() < 1e-4 else [1, 0]
    whole = ideal_ratio_mask(stft(torch.from_numpy(refs[order]), p)).numpy()
    mix_mag = stft(torch.from_numpy(refs.sum(0)), p).abs().numpy()
    energetic = (
        mix_mag > mix_mag.max() * 1e-3
    )  # the IRM of near-silent bins is numerically arbitrary
    energetic[:, :4] = energetic[:, -4:] = False
    assert np.abs(res.masks - whole)[:, energetic].max() < 0.05
    f, t = res.embedding_bins.T
    assert res.embeddings.shape[0] == len(f) <= 3000 and t.max() < frames
    # each point's label is the stitched source whose mask wins at that bin
    assert np.mean(res.embedding_labels == whole.argmax(0)[f, t]) > 0.97


def test_output_length_and_rate_follow_the_input():
    sr_in, n = 22050, 22050 * 3 + 11
    refs = np.stack(
        [
            np.sin(2 * np.pi * 300 * np.arange(n) / sr_in),
            np.sin(2 * np.pi * 1200 * np.arange(n) / sr_in),
        ]
    ).astype(np.float32)
    res = separate(
        ShufflingModel(), refs.sum(0), sr_in, EngineOptions(chunk_seconds=1.0), references=refs
    )
    assert res.sample_rate == sr_in and res.waveforms.shape == (2, n)
    assert global_best_error(res.waveforms[:, 2000:-2000], refs[:, 2000:-2000]) < 0.05


def test_progress_cancel_and_determinism():
    n = 16000 * 8
    refs = two_sources(n)
    seen = []
    res1 = separate(
        ShufflingModel(seed=5),
        refs.sum(0),
        16000,
        EngineOptions(chunk_seconds=2.0),
        references=refs,
        progress=lambda f, s: seen.append((f, s)),
    )
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 <= fractions[0]
    assert any("chunk" in s for _, s in seen)
    res2 = separate(
        ShufflingModel(seed=5),
        refs.sum(0),
        16000,
        EngineOptions(chunk_seconds=2.0),
        references=refs,
    )
    assert np.array_equal(res1.waveforms, res2.waveforms)

    token = CancelToken()

    def cancel_after_first(fraction, stage):
        if "chunk 1/" in stage:
            token.cancel()

    model = ShufflingModel()
    with pytest.raises(Cancelled):
        separate(
            model,
            refs.sum(0),
            16000,
            EngineOptions(chunk_seconds=2.0),
            references=refs,
            progress=cancel_after_first,
            cancel=token,
        )
    assert len(model.calls) == 1


def test_stitch_permutation_matches_by_overlap():
    prev = np.stack([np.ones(50), np.zeros(50), -np.ones(50)])
    cur = prev[[2, 0, 1]] + 0.01
    perm = stitch_permutation(prev, cur)
    assert perm.tolist() == [1, 2, 0]
    assert np.allclose(cur[perm], prev + 0.01)


def test_bad_inputs_and_devices():
    with pytest.raises(ModelError, match="mono"):
        separate(ShufflingModel(), np.zeros((2, 100), np.float32), 16000)
    with pytest.raises(ModelError, match="unknown device"):
        resolve_device("tpu")
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="cuda"):
            resolve_device("cuda")


class FussyGpuModel(SeparationModel):
    """Raises out-of-memory for chunks longer than ``max_seconds`` unless its input is on the CPU;
    returns the mixture and silence (so only the engine's retries are under test)."""

    kind: ClassVar[str] = KIND_MASK
    trainable: ClassVar[bool] = False

    def __init__(self, sample_rate=16000, n_src=2, max_seconds=1.5):
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        self.max_seconds = max_seconds
        self.seen = []

    @property
    def stft_params(self):
        return StftParams(sample_rate=self.sample_rate)

    def separate_chunk(self, mixture, *, references=None, options=None):
        self.seen.append((mixture.device.type, len(mixture)))
        if mixture.device.type != "cpu" and len(mixture) > self.max_seconds * self.sample_rate:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        n = len(mixture)
        return ChunkOutput(waveforms=torch.stack([torch.zeros(n), torch.zeros(n)]))


def test_out_of_memory_retries_smaller_chunks_then_cpu(monkeypatch):
    import separation_core.engine.inference as inference

    monkeypatch.setattr(inference, "resolve_device", lambda name: torch.device("meta"))
    x = np.random.default_rng(0).standard_normal(16000 * 10).astype(np.float32)
    model = FussyGpuModel(max_seconds=1.5)
    res = separate(model, x, 16000, EngineOptions(chunk_seconds=4.0, device="cuda"))
    assert res.waveforms.shape == (2, len(x))
    oom = [n for n in res.notes if n.startswith("out of memory")]
    assert [n.split(":")[0] for n in oom] == ["out of memory on meta"] * 2
    assert "2.0 s" in oom[0] and "1.0 s" in oom[1]
    assert res.timings["chunk_seconds"] == pytest.approx(1.0) and res.timings["device"] == "meta"

    model = FussyGpuModel(max_seconds=0.1)  # even 1 s chunks do not fit: fall back to the CPU
    res = separate(model, x, 16000, EngineOptions(chunk_seconds=4.0, device="cuda"))
    oom = [n for n in res.notes if n.startswith("out of memory")]
    assert "retried on the CPU" in oom[-1] and res.timings["device"] == "cpu"
    assert model.seen[-1][0] == "cpu"
