"""Fine-tuning the speaker encoder: the GE2E loss against its formula, the equal error rate."""

import numpy as np
import pytest
import torch

from separation_core.conversation.encoder_training import GE2ELoss, equal_error_rate


def _ge2e_by_hand(emb: np.ndarray, w: float, b: float) -> float:
    """Wan et al. (2018) eq. 6-9, one window at a time."""
    n, m, _ = emb.shape
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    total = 0.0
    for j in range(n):
        for i in range(m):
            sims = []
            for k in range(n):
                if k == j:
                    others = [emb[k, t] for t in range(m) if t != i]
                    centroid = unit(np.mean(others, axis=0))
                else:
                    centroid = unit(emb[k].mean(0))
                sims.append(w * float(emb[j, i] @ centroid) + b)
            sims = np.array(sims)
            total += -sims[j] + np.log(np.exp(sims).sum())
    return total / (n * m)


def test_ge2e_loss_equals_its_formula():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(4, 3, 8))
    emb /= np.linalg.norm(emb, axis=-1, keepdims=True)
    loss_fn = GE2ELoss()
    with torch.no_grad():
        loss_fn.w.fill_(7.0)
        loss_fn.b.fill_(-2.0)
    got = loss_fn(torch.from_numpy(emb)).item()
    assert got == pytest.approx(_ge2e_by_hand(emb, 7.0, -2.0), rel=1e-9)


def test_ge2e_loss_falls_as_speakers_separate_and_its_gradient_reaches_them():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(5, 1, 16))
    noise = rng.normal(size=(5, 4, 16))
    losses = []
    for spread in (3.0, 1.0, 0.2):
        emb = torch.nn.functional.normalize(torch.from_numpy(centres + spread * noise), dim=-1)
        losses.append(GE2ELoss()(emb).item())
    assert losses[0] > losses[1] > losses[2]
    emb = torch.from_numpy(centres + noise).requires_grad_(True)
    GE2ELoss()(torch.nn.functional.normalize(emb, dim=-1)).backward()
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0


def test_ge2e_needs_two_speakers_of_two_windows():
    with pytest.raises(ValueError, match="2 or more speakers"):
        GE2ELoss()(torch.ones(1, 4, 8))
    with pytest.raises(ValueError, match="2 or more windows"):
        GE2ELoss()(torch.ones(3, 1, 8))


def test_equal_error_rate_of_known_scores():
    same = np.array([True, True, True, False, False, False])
    # sorted: 0.9 S, 0.8 S, 0.7 D, 0.3 S, 0.2 D, 0.1 D; a threshold in (0.3, 0.7) rejects one of
    # three same pairs and accepts one of three different ones
    scores = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1])
    assert equal_error_rate(scores, same) == pytest.approx(1 / 3)
    assert equal_error_rate(np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1]), same) == 0.0
    assert equal_error_rate(np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), same) == 1.0


def test_equal_error_rate_of_one_distribution_is_a_half():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=20000)
    same = rng.uniform(size=20000) < 0.3
    assert equal_error_rate(scores, same) == pytest.approx(0.5, abs=0.02)


def test_equal_error_rate_needs_both_kinds_of_pair():
    with pytest.raises(ValueError, match="both same- and different-speaker pairs"):
        equal_error_rate(np.array([0.1, 0.2]), np.array([True, True]))


def _training_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "train_speaker_encoder.py"
    spec = importlib.util.spec_from_file_location("train_speaker_encoder", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_batch_of_one_corpus_draws_distinct_speakers_of_a_corpus_big_enough():
    draw = _training_script().draw_speakers
    corpora = np.array([0] * 40 + [1] * 12 + [2] * 3)  # corpus 2 is too small for a batch
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(50):
        pick = draw(rng, corpora, 32, 1.0)
        assert len(set(pick)) == len(pick) and len(set(corpora[pick])) == 1
        assert corpora[pick[0]] != 2 and len(pick) == min(32, (corpora == corpora[pick[0]]).sum())
        seen.add(int(corpora[pick[0]]))
    assert seen == {0, 1}
    mixed = [draw(rng, corpora, 20, 0.0) for _ in range(20)]
    assert all(len(set(p)) == 20 for p in mixed)
    assert any(len(set(corpora[p])) > 1 for p in mixed)
