"""Chimera++ and deep clustering on a Conv-TasNet trunk (chimera-tcn, dc-tcn)."""

import pytest
import torch

from separation_core.errors import ModelError
from separation_core.models import get_model_class
from separation_core.models.base import KIND_CHIMERA, KIND_DEEP_CLUSTERING, RunOptions
from separation_core.models.chimera_tcn import ChimeraTcn, DeepClusteringTcn
from separation_core.training.objectives import family_loss

SR = 8000
TINY = dict(
    sample_rate=SR,
    n_fft=128,
    hop=32,
    n_filters=16,
    filter_length=16,
    bottleneck=8,
    hidden=16,
    skip=8,
    n_blocks=2,
    n_repeats=1,
    width=12,
    embedding_dim=6,
)


def make(**extra):
    torch.manual_seed(0)
    return ChimeraTcn(**{**TINY, **extra}).eval()


def test_registered_as_a_chimera():
    assert get_model_class("chimera-tcn") is ChimeraTcn and ChimeraTcn.kind == KIND_CHIMERA


@pytest.mark.parametrize("length", [4000, 4001, 4031, 100])
def test_outputs_lie_on_the_stft_grid(length):
    m = make()
    with torch.no_grad():
        out = m(torch.randn(2, length))
    frames = length // 32 + 1
    assert out["mix_spec"].shape == (2, 65, frames)
    assert out["masks"].shape == (2, 2, 65, frames)
    assert ((out["masks"] >= 0) & (out["masks"] <= 1)).all()
    assert out["embeddings"].shape == (2, 65 * frames, 6)
    torch.testing.assert_close(out["embeddings"].norm(dim=-1), torch.ones(2, 65 * frames))


def test_hop_must_be_a_multiple_of_the_encoder_stride():
    with pytest.raises(ModelError, match="hop \\(36\\) must be a multiple of the encoder stride"):
        ChimeraTcn(**{**TINY, "hop": 36})
    with pytest.raises(ModelError, match="must be odd"):
        ChimeraTcn(**{**TINY, "kernel": 4})
    with pytest.raises(ModelError, match="mask_activation='relu'"):
        ChimeraTcn(**{**TINY, "mask_activation": "relu"})


def test_mask_head_for_its_own_k_clustered_embeddings_for_another():
    m = make()
    x = torch.randn(3001)
    two = m.separate_chunk(x)
    assert two.waveforms.shape == (2, 3001) and two.masks.shape == (2, 65, 3001 // 32 + 1)
    with torch.no_grad():
        head = m(x[None])["masks"][0]
    gains = (two.masks * head).sum(dim=(1, 2)) / head.pow(2).sum(dim=(1, 2))
    torch.testing.assert_close(two.masks, head * gains[:, None, None])  # the head, fitted
    three = m.separate_chunk(x, options=RunOptions(num_speakers=3))
    assert three.waveforms.shape == (3, 3001)
    torch.testing.assert_close(three.masks.sum(0), torch.ones(65, 3001 // 32 + 1))
    torch.testing.assert_close(three.labels, three.masks.argmax(0).reshape(-1))


def test_rebuilt_from_its_arguments_gives_the_same_output():
    m = make(n_src=3)
    twin = ChimeraTcn(**m.model_args()).eval()
    twin.load_state_dict(m.state_dict())
    x = torch.randn(2000)
    torch.testing.assert_close(m.separate_chunk(x).waveforms, twin.separate_chunk(x).waveforms)


def test_a_few_steps_lower_its_loss():
    torch.manual_seed(0)
    m = make().train()
    t = torch.arange(4000) / SR
    src = torch.stack(
        [torch.sin(2 * torch.pi * 300 * t), 0.7 * torch.sign(torch.sin(2 * torch.pi * 1700 * t))]
    )[None].repeat(2, 1, 1)
    mix = src.sum(1)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = family_loss(m, m, mix, src, mask_loss="si_sdr", chimera_alpha=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < losses[0] - 0.2 * abs(losses[0]), losses


def test_chimera_learns_only_deep_clustering_from_another_number_of_speakers():
    m = make().train()
    t = torch.arange(2000) / SR
    src = torch.stack([torch.sin(2 * torch.pi * f * t) for f in (200, 900, 2500)])[None]
    mix = src.sum(1)
    three = family_loss(m, m, mix, src, chimera_alpha=0.5)
    dc_only = family_loss(m, m, mix, src, chimera_alpha=1.0)
    torch.testing.assert_close(three, dc_only)
    three.backward()
    assert m.mask_head.weight.grad is None or not m.mask_head.weight.grad.any()
    assert m.embed.proj.weight.grad.abs().sum() > 0


def test_dc_tcn_is_the_trunk_and_the_embedding_head_of_a_chimera_tcn():
    assert get_model_class("dc-tcn") is DeepClusteringTcn
    assert DeepClusteringTcn.kind == KIND_DEEP_CLUSTERING
    chimera = make()
    args = {k: v for k, v in chimera.model_args().items() if k != "mask_activation"}
    dc = DeepClusteringTcn(**args).eval()
    own = dc.state_dict()
    assert set(own) == {k for k in chimera.state_dict() if not k.startswith("mask_head.")}
    dc.load_state_dict({k: v for k, v in chimera.state_dict().items() if k in own})
    x = torch.randn(1, 3001)
    with torch.no_grad():
        out, ref = dc(x), chimera(x)
    assert set(out) == {"embeddings", "mix_spec"}
    torch.testing.assert_close(out["embeddings"], ref["embeddings"])
    # Any K comes from clustering the embeddings: masks that sum to one on the grid.
    for k in (2, 3):
        res = dc.separate_chunk(x[0], options=RunOptions(num_speakers=k, binary_masks=k == 3))
        assert res.waveforms.shape == (k, 3001)
        assert (set(res.masks.unique().tolist()) <= {0.0, 1.0}) == (k == 3)
        torch.testing.assert_close(res.masks.sum(0), torch.ones(65, 3001 // 32 + 1))
    with pytest.raises(ModelError, match="dc-tcn expects a batch of mixtures"):
        dc(torch.randn(3001))
    with pytest.raises(ModelError, match="dc-tcn: the STFT hop \\(36\\)"):
        DeepClusteringTcn(**{**args, "hop": 36})


def test_dc_from_chimera_keeps_the_trunk_and_embeddings_and_refuses_other_models():
    import importlib.util
    from pathlib import Path

    from separation_core.checkpoints.store import checkpoint_dict
    from separation_core.errors import CocktailError

    script = Path(__file__).resolve().parents[2] / "scripts" / "dc_from_chimera.py"
    spec = importlib.util.spec_from_file_location("dc_from_chimera", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    chimera = make()
    dc = module.deep_clustering_half(checkpoint_dict(chimera))
    assert dc.kind == KIND_DEEP_CLUSTERING and "mask_activation" not in dc.model_args()
    x = torch.randn(1, 2500)
    with torch.no_grad():
        torch.testing.assert_close(dc(x)["embeddings"], chimera(x)["embeddings"])
    with pytest.raises(CocktailError, match="holds a 'dc-tcn' model, not 'chimera-tcn'"):
        module.deep_clustering_half(checkpoint_dict(dc))


@pytest.mark.parametrize("cls", [ChimeraTcn, DeepClusteringTcn])
def test_engine_cuts_sixteen_second_chunks_unless_told_otherwise(cls):
    from separation_core.engine.inference import EngineOptions, separate

    torch.manual_seed(0)
    m = cls(**TINY)
    x = torch.randn(40 * SR).numpy() * 0.1
    spans = [
        (c["start"], c["stop"])
        for c in separate(m.eval(), x, SR, EngineOptions(keep_masks=False)).stitching
    ]
    assert spans[0] == (0, 16 * SR) and len(spans) == 3 and spans[-1][1] == 40 * SR  # step 14 s
    told = separate(m, x, SR, EngineOptions(keep_masks=False, chunk_seconds=8.0)).stitching
    assert told[0]["stop"] == 8 * SR and len(told) == 7  # step 6 s
