"""Deep clustering (dc-blstm) and Chimera++ (chimera)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from separation_core.errors import ModelError
from separation_core.models.base import KIND_CHIMERA, KIND_DEEP_CLUSTERING, RunOptions
from separation_core.models.clustering import cluster_embeddings
from separation_core.models.deep_clustering import (
    ChimeraPlusPlus,
    DeepClusteringBlstm,
    cluster_masks,
    dc_targets,
)
from separation_core.models.features import active_bins
from separation_core.models.masks import ideal_binary_mask
from separation_core.models.transforms import stft
from separation_core.training.losses import deep_clustering_loss, upit_mask_loss

SR = 8000
TINY = dict(sample_rate=SR, n_fft=64, hop=16, hidden=16, layers=2, embedding_dim=6, dropout=0.0)
N_FREQ = 33
MODELS = [(DeepClusteringBlstm, TINY), (ChimeraPlusPlus, TINY)]
IDS = ["dc-blstm", "chimera"]


def make(cls, **extra):
    torch.manual_seed(0)
    return cls(**{**TINY, **extra}).eval()


def two_source_batch(batch=3, length=1600, seed=0):
    """Low harmonic source vs high harmonic source, random phases and levels: [B, 2, time]."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / SR
    srcs = []
    for freqs in ((250.0, 500.0, 750.0), (1800.0, 2600.0, 3300.0)):
        phase = 2 * math.pi * torch.rand(batch, len(freqs), 1, generator=g)
        level = 0.5 + torch.rand(batch, 1, generator=g)
        srcs.append(
            level * torch.sin(2 * math.pi * torch.tensor(freqs)[:, None] * t + phase).sum(1)
        )
    return torch.stack(srcs, 1)


def same_partition(a, b):
    return len(set(zip(a.tolist(), b.tolist()))) == len(set(a.tolist())) == len(set(b.tolist()))


# ---- targets and clustering ------------------------------------------------------------------


def test_dc_targets_are_the_ideal_binary_assignment():
    src = two_source_batch(batch=2, length=800)
    p = make(DeepClusteringBlstm).stft_params
    src_specs, mix_spec = stft(src, p), stft(src.sum(1), p)
    assign, weights = dc_targets(mix_spec, src_specs)
    f, t = mix_spec.shape[-2:]
    assert assign.shape == (2, f * t, 2) and weights.shape == (2, f * t)
    for b in range(2):
        ibm = ideal_binary_mask(src_specs[b])  # [S, F, T]
        torch.testing.assert_close(assign[b], ibm.reshape(2, -1).T)  # bin = f * T + t
        db = 20 * np.log10(np.maximum(mix_spec[b].abs().numpy(), 1e-10)).reshape(-1)
        np.testing.assert_array_equal(weights[b].numpy(), (db >= db.max() - 40).astype(np.float32))
    _, mag_w = dc_targets(mix_spec, src_specs, weighting="magnitude")
    torch.testing.assert_close(mag_w.mean(dim=1), torch.ones(2))
    torch.testing.assert_close(
        mag_w[0] / mag_w[0].max(), mix_spec[0].abs().reshape(-1) / mix_spec[0].abs().max()
    )
    with pytest.raises(ModelError):
        dc_targets(mix_spec, src_specs, weighting="loud")


def test_cluster_masks_reads_bins_freq_major():
    f, t = 8, 5
    # Low half of the spectrum points one way, high half the other.
    emb = torch.zeros(f * t, 3)
    emb[: (f // 2) * t, 0] = 1.0
    emb[(f // 2) * t :, 1] = 1.0
    masks, labels = cluster_masks(emb, torch.ones(f, t), k=2, sharpness=None)
    assert masks.shape == (2, f, t)
    low = masks[:, : f // 2].mean(dim=(1, 2))
    assert sorted(low.tolist()) == [0.0, 1.0]
    torch.testing.assert_close(masks.sum(0), torch.ones(f, t))
    torch.testing.assert_close(labels, masks.argmax(0).reshape(-1))


def test_oracle_embeddings_give_the_ideal_binary_mask():
    src = two_source_batch(batch=1, length=1200)[0]
    p = make(DeepClusteringBlstm).stft_params
    src_specs = stft(src, p)
    ibm = ideal_binary_mask(src_specs)
    emb = ibm.reshape(2, -1).T.contiguous()  # one-hot of the owner of each bin
    masks, _ = cluster_masks(emb, stft(src.sum(0), p).abs(), k=2, sharpness=None)
    assert torch.equal(masks, ibm) or torch.equal(masks, ibm.flip(0))


def test_soft_masks_are_the_softmax_of_distances_to_the_centres():
    # Two groups of unit embeddings around two directions, all bins equally loud: the k-means
    # centres are the group means, and each bin's masks are softmax(-3 |v - c_k|^2) over them.
    g = torch.Generator().manual_seed(0)
    f, t = 6, 20
    owner = (torch.arange(f * t) % 3 == 0).long()  # a third of the bins to speaker 1
    emb = torch.eye(4)[owner] + 0.15 * torch.randn(f * t, 4, generator=g)
    emb = emb / emb.norm(dim=1, keepdim=True)
    masks, labels = cluster_masks(emb, torch.ones(f, t), k=2)
    assert same_partition(labels, owner)
    centres = torch.stack([emb[labels == j].mean(0) for j in range(2)])
    expected = torch.softmax(-3.0 * torch.cdist(emb, centres) ** 2, dim=1).T.reshape(2, f, t)
    torch.testing.assert_close(masks, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(labels, masks.argmax(0).reshape(-1))
    assert ((masks > 0.02) & (masks < 0.98)).any()  # soft, not one-hot
    sharp, _ = cluster_masks(emb, torch.ones(f, t), k=2, sharpness=1e4)
    binary, _ = cluster_masks(emb, torch.ones(f, t), k=2, sharpness=None)
    torch.testing.assert_close(sharp, binary, atol=1e-4, rtol=0)  # the binary mask is the limit


def test_silent_bins_do_not_shape_the_clusters():
    f, t = 4, 10
    mag = torch.full((f, t), 1e-6)
    mag[:, :5] = 1.0  # loud half (frames 0-4)
    emb = torch.zeros(f * t, 2)
    idx = torch.arange(f * t)
    loud = (idx % t) < 5
    emb[loud & (idx // t < 2), 0] = 1.0  # two groups among loud bins
    emb[loud & (idx // t >= 2), 1] = 1.0
    emb[~loud] = torch.tensor([0.6, 0.8])  # silent bins form a third group
    masks, labels = cluster_masks(emb, mag, k=2, threshold_db=40.0)
    loud_labels = labels[loud]
    assert same_partition(loud_labels, (idx[loud] // t >= 2).long())
    assert (labels >= 0).all()
    torch.testing.assert_close(masks.sum(0), torch.ones(f, t))


def test_quiet_active_bins_do_not_take_a_centre_of_their_own():
    # Within the active range, many quiet bins (a reverberant tail) point their own way, and two
    # loud groups (two speakers) hold the energy: weighted by power, k-means gives the two
    # speakers a centre each; unweighted, the quiet crowd would take one of the two.
    f, t = 4, 50
    mag = torch.full((f, t), 0.05)  # -26 dB: active, quiet
    mag[:, :6] = 1.0
    idx = torch.arange(f * t)
    loud = (idx % t) < 6
    emb = torch.zeros(f * t, 3)
    emb[loud & (idx // t < 2)] = torch.tensor([1.0, 0.0, 0.0])
    emb[loud & (idx // t >= 2)] = torch.tensor([0.8, 0.6, 0.0])  # near the first speaker
    emb[~loud] = torch.tensor([0.0, 0.0, 1.0])
    _, labels = cluster_masks(emb, mag, k=2, threshold_db=40.0)
    assert same_partition(labels[loud], (idx[loud] // t >= 2).long())
    plain = cluster_embeddings(emb[mag.reshape(-1) > 0].numpy(), k=2)[0]
    assert not same_partition(torch.from_numpy(plain)[loud], (idx[loud] // t >= 2).long())


# ---- models ----------------------------------------------------------------------------------


def test_registered_names_and_kinds():
    assert (
        DeepClusteringBlstm.name == "dc-blstm" and DeepClusteringBlstm.kind == KIND_DEEP_CLUSTERING
    )
    assert ChimeraPlusPlus.name == "chimera" and ChimeraPlusPlus.kind == KIND_CHIMERA


@pytest.mark.parametrize("cls,kwargs", MODELS, ids=IDS)
def test_forward_embeddings_are_unit_vectors(cls, kwargs):
    m = make(cls, embedding_activation="linear")
    out = m(torch.randn(3, 1000))
    frames = 1000 // 16 + 1
    assert out["embeddings"].shape == (3, N_FREQ * frames, 6)
    torch.testing.assert_close(out["embeddings"].norm(dim=-1), torch.ones(3, N_FREQ * frames))
    if cls is ChimeraPlusPlus:
        assert out["masks"].shape == (3, 2, N_FREQ, frames)
        assert out["masks"].min() >= 0 and out["masks"].max() <= 1


def test_embedding_bin_order_is_freq_major():
    m = make(DeepClusteringBlstm)
    with torch.no_grad():
        # Embedding of frequency f: the unit vector e_(f mod D), whatever the input.
        m.embed.proj.weight.zero_()
        m.embed.proj.bias.copy_(10.0 * F.one_hot(torch.arange(N_FREQ) % 6, 6).reshape(-1).float())
        emb = m(torch.randn(1, 500))["embeddings"][0]
    frames = 500 // 16 + 1
    np.testing.assert_array_equal(
        emb.argmax(-1).numpy(), (np.arange(N_FREQ * frames) // frames) % 6
    )


@pytest.mark.parametrize("cls,kwargs", MODELS, ids=IDS)
@pytest.mark.parametrize("length", [1201, 37])  # odd, and shorter than one window
def test_separate_chunk_exact_length_and_outputs(cls, kwargs, length):
    m = make(cls)
    out = m.separate_chunk(torch.randn(length))
    frames = m.stft_params.n_frames(length)
    assert out.waveforms.shape == (2, length)
    assert out.masks.shape == (2, N_FREQ, frames)
    assert out.masks.min() >= 0 and out.masks.max() <= 1
    assert out.embeddings.shape == (N_FREQ * frames, 6)
    torch.testing.assert_close(out.embeddings.norm(dim=-1), torch.ones(N_FREQ * frames))
    assert out.labels.shape == (N_FREQ * frames,) and out.labels.dtype == torch.int64
    torch.testing.assert_close(out.labels, out.masks.argmax(0).reshape(-1))


def test_dc_masks_partition_the_mixture_and_k_follows_options():
    m = make(DeepClusteringBlstm)
    x = torch.randn(2001)
    for binary in (False, True):
        out = m.separate_chunk(x, options=RunOptions(binary_masks=binary))
        assert (set(out.masks.unique().tolist()) <= {0.0, 1.0}) == binary
        torch.testing.assert_close(out.masks.sum(0), torch.ones_like(out.masks[0]))
        # Masks that sum to one partition the mixture: the sources add back up to it.
        torch.testing.assert_close(out.waveforms.sum(0), x, atol=1e-5, rtol=0)
    three = m.separate_chunk(x, options=RunOptions(num_speakers=3))
    assert three.waveforms.shape == (3, 2001) and three.masks.shape[0] == 3
    again = m.separate_chunk(x, options=RunOptions(num_speakers=3))
    assert torch.equal(again.labels, three.labels)  # deterministic


@pytest.mark.parametrize("cls,kwargs", MODELS, ids=IDS)
def test_meanshift_path_runs(cls, kwargs):
    m = make(cls)
    out = m.separate_chunk(torch.randn(1601), options=RunOptions(clustering="meanshift"))
    k = out.waveforms.shape[0]
    assert k >= 1 and out.waveforms.shape == (k, 1601)
    assert out.masks.shape[0] == k and int(out.labels.max()) < k


def test_chimera_uses_mask_head_unless_asked_otherwise():
    m = make(ChimeraPlusPlus)
    x = torch.randn(1601)
    out = m.separate_chunk(x)
    with torch.no_grad():
        expected = m(x[None])["masks"][0]
    # The MI head's soft masks, each scaled by its non-negative mixture-fit gain.
    gains = (out.masks * expected).sum(dim=(1, 2)) / expected.pow(2).sum(dim=(1, 2))
    assert (gains >= 0).all()
    torch.testing.assert_close(out.masks, expected * gains[:, None, None])
    assert out.embeddings is not None
    three = m.separate_chunk(x, options=RunOptions(num_speakers=3))
    assert three.waveforms.shape == (3, 1601)
    torch.testing.assert_close(three.masks.sum(0), torch.ones_like(three.masks[0]))  # clustered
    binary = m.separate_chunk(x, options=RunOptions(num_speakers=3, binary_masks=True))
    assert set(binary.masks.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(binary.labels, three.labels)


@pytest.mark.parametrize("cls,kwargs", MODELS, ids=IDS)
def test_bad_run_options_refused(cls, kwargs):
    m = make(cls)
    with pytest.raises(ModelError):
        m.separate_chunk(torch.randn(500), options=RunOptions(clustering="spectral"))
    with pytest.raises(ModelError):
        m.separate_chunk(torch.randn(500), options=RunOptions(num_speakers=0))
    with pytest.raises(ModelError):
        cls(**{**TINY, "embedding_activation": "relu"})


@pytest.mark.parametrize("cls,kwargs", MODELS, ids=IDS)
def test_rebuilt_from_model_args_gives_same_output(cls, kwargs):
    m = make(cls, n_src=3, silence_db=30.0)
    torch.manual_seed(99)
    twin = cls(**m.model_args()).eval()
    twin.load_state_dict(m.state_dict())
    x = torch.randn(1200)
    a, b = m.separate_chunk(x), twin.separate_chunk(x)
    torch.testing.assert_close(a.waveforms, b.waveforms)
    torch.testing.assert_close(a.embeddings, b.embeddings)
    assert twin.model_args() == m.model_args()


# ---- training --------------------------------------------------------------------------------


def _train(m, loss_fn, steps=20, lr=1e-2):
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    with torch.no_grad():
        first = float(loss_fn())
    for _ in range(steps):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    with torch.no_grad():
        return first, float(loss_fn())


def ibm_agreement(m):
    """Fraction of the non-silent bins of an unseen mixture whose label is the IBM's owner."""
    test = two_source_batch(batch=1, length=2001, seed=5)[0]
    out = m.separate_chunk(test.sum(0))
    owner = ideal_binary_mask(stft(test, m.stft_params)).argmax(0).reshape(-1)
    active = active_bins(stft(test.sum(0), m.stft_params).abs()).reshape(-1)
    same = (out.labels == owner)[active].float().mean()
    return float(max(same, 1 - same))


def test_a_few_steps_lower_the_deep_clustering_loss():
    m = make(DeepClusteringBlstm)
    src = two_source_batch()
    mix = src.sum(1)
    assign, weights = dc_targets(stft(mix, m.stft_params), stft(src, m.stft_params))
    first, last = _train(
        m, lambda: deep_clustering_loss(m(mix)["embeddings"], assign, weights).mean()
    )
    assert last < 0.7 * first
    assert ibm_agreement(m.eval()) > 0.9
    # Mean-shift finds the two sources by itself.
    test = two_source_batch(batch=1, length=2001, seed=5)[0].sum(0)
    assert m.separate_chunk(test, options=RunOptions(clustering="meanshift")).waveforms.shape == (
        2,
        2001,
    )


def test_a_few_steps_lower_the_chimera_loss():
    m = make(ChimeraPlusPlus)
    src = two_source_batch()
    mix = src.sum(1)
    src_specs = stft(src, m.stft_params)
    assign, weights = dc_targets(stft(mix, m.stft_params), src_specs)

    def loss():
        out = m(mix)
        dc = deep_clustering_loss(out["embeddings"], assign, weights).mean()
        return 0.5 * dc + 0.5 * upit_mask_loss(out["masks"], out["mix_spec"], src_specs)

    first, last = _train(m, loss)
    assert last < 0.7 * first
    assert ibm_agreement(m.eval()) > 0.9


def _chimera_with_masks(make_masks):
    """A Chimera++ whose mask head is replaced by ``make_masks(masks) -> masks [B, C, F, T]``."""
    m = make(ChimeraPlusPlus)
    real = m.forward

    def forward(mixture):
        out = real(mixture)
        return {**out, "masks": make_masks(out["masks"])}

    m.forward = forward
    return m


def test_soft_masks_of_no_set_level_are_fitted_so_the_stems_add_up_to_the_mixture():
    # A mask trained with SI-SDR may come out at any level: here a quarter of the mixture each.
    m = _chimera_with_masks(lambda masks: torch.full_like(masks, 0.25))
    x = torch.randn(3200)
    out = m.separate_chunk(x)
    torch.testing.assert_close(out.waveforms.sum(0), x, atol=1e-3, rtol=0)
    torch.testing.assert_close(out.masks, torch.full_like(out.masks, 0.5), atol=1e-3, rtol=0)


def test_a_negative_fitted_gain_falls_back_to_one_common_gain():
    # Low band: m1 = 1, m2 = 0.5; high band: m1 = 0.5, m2 = 0. Per-source gains would be 2 and -2.
    def banded(masks):
        masks = torch.zeros_like(masks)
        half = masks.shape[2] // 2
        masks[:, 0, :half], masks[:, 0, half:], masks[:, 1, :half] = 1.0, 0.5, 0.5
        return masks

    m = _chimera_with_masks(banded)
    x = torch.randn(3200)
    out = m.separate_chunk(x)
    ratio = out.masks[:, 0, 0] / torch.tensor([1.0, 0.5])
    assert ratio[0] > 0 and torch.isclose(ratio[0], ratio[1])
    assert all(float(w.abs().max()) > 0 for w in out.waveforms)  # nobody silenced
