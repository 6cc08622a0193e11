"""Losses against naive / brute-force formulas computed here."""

from __future__ import annotations

import itertools
import time

import pytest
import torch

from separation_core.training import losses as L


def naive_dc(v: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """``sum_ij w_i w_j (v_i.v_j - y_i.y_j)^2 / (sum w)^2`` with the full N x N affinities."""
    w = torch.ones(v.shape[:2], dtype=v.dtype) if w is None else w
    diff = v @ v.transpose(1, 2) - y @ y.transpose(1, 2)
    ww = w.unsqueeze(2) * w.unsqueeze(1)
    return (ww * diff**2).sum(dim=(1, 2)) / w.sum(1) ** 2


def brute_force(pairwise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = pairwise.shape[1]
    losses, perms = [], []
    for item in pairwise:
        best = min(
            itertools.permutations(range(s)),
            key=lambda p: sum(item[i, p[i]].item() for i in range(s)),
        )
        perms.append(best)
        losses.append(torch.stack([item[i, best[i]] for i in range(s)]).mean())
    return torch.stack(losses), torch.tensor(perms)


def signals(b: int, s: int, t: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ref = torch.randn(b, s, t, generator=g, dtype=torch.float64)
    est = ref + 0.5 * torch.randn(b, s, t, generator=g, dtype=torch.float64)
    return est[:, torch.randperm(s, generator=g)], ref


@pytest.mark.parametrize("weighted", [False, True])
def test_deep_clustering_low_rank_equals_naive(weighted):
    g = torch.Generator().manual_seed(0)
    v = torch.nn.functional.normalize(
        torch.randn(3, 60, 5, generator=g, dtype=torch.float64), dim=-1
    )
    y = torch.nn.functional.one_hot(torch.randint(0, 3, (3, 60), generator=g), 3).double()
    w = torch.rand(3, 60, generator=g, dtype=torch.float64) if weighted else None
    got = L.deep_clustering_loss(v, y, w)
    assert got.shape == (3,)
    torch.testing.assert_close(got, naive_dc(v, y, w))
    # Perfect embeddings (V = Y) give zero loss.
    torch.testing.assert_close(L.deep_clustering_loss(y, y, w), torch.zeros(3, dtype=torch.float64))


def test_deep_clustering_never_builds_the_affinity():
    # An N x N float32 affinity here would take 160 GB; the low-rank form needs ~20 MB.
    n, d = 200_000, 20
    v = torch.nn.functional.normalize(torch.randn(1, n, d), dim=-1).requires_grad_()
    y = torch.nn.functional.one_hot(torch.randint(0, 2, (1, n)), 2).float()
    start = time.perf_counter()
    loss = L.deep_clustering_loss(v, y, torch.rand(1, n))
    loss.sum().backward()
    assert time.perf_counter() - start < 5.0
    assert torch.isfinite(loss).all() and loss.item() >= -1e-4
    assert torch.isfinite(v.grad).all()


@pytest.mark.parametrize("s", [2, 3, 5])
def test_pit_from_pairwise_matches_brute_force(s):
    g = torch.Generator().manual_seed(s)
    pairwise = torch.rand(4, s, s, generator=g, dtype=torch.float64)
    loss, perm = L.pit_from_pairwise(pairwise)
    want_loss, want_perm = brute_force(pairwise)
    torch.testing.assert_close(loss, want_loss)
    assert torch.equal(perm, want_perm)


def test_pit_from_pairwise_more_estimates_than_targets():
    pairwise = torch.tensor([[[5.0, 1.0, 9.0], [0.5, 7.0, 2.0]]])
    loss, perm = L.pit_from_pairwise(pairwise)
    assert perm.tolist() == [[1, 0]] and loss.item() == pytest.approx(0.75)


def test_pairwise_neg_si_sdr_entries():
    est, ref = signals(2, 3, 400, 1)
    pw = L.pairwise_neg_si_sdr(est, ref)
    assert pw.shape == (2, 3, 3)
    b, i, j = 1, 2, 0
    e, r = est[b, j] - est[b, j].mean(), ref[b, i] - ref[b, i].mean()
    target = (e @ r) / (r @ r) * r
    want = -10 * torch.log10(target.pow(2).sum() / (e - target).pow(2).sum())
    assert pw[b, i, j].item() == pytest.approx(want.item(), abs=1e-4)  # eps terms


def _sa_sdr_numpy_style(est, ref):
    """Brute force over permutations of ``-10 log10(sum ||s||^2 / sum ||s - s_hat||^2)``."""
    out = []
    for e, r in zip(est, ref):
        best = min(
            sum((r[i] - e[p[i]]).pow(2).sum() for i in range(len(r)))
            for p in itertools.permutations(range(len(r)))
        )
        out.append(-10 * torch.log10(r.pow(2).sum() / best))
    return torch.stack(out).mean()


def _spec_inputs(b, s, seed):
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(b, s, 9, 7, generator=g, dtype=torch.complex128)
    masks = torch.rand(b, s, 9, 7, generator=g, dtype=torch.float64)
    return masks, src.sum(1), src


LOSSES = {
    "pit_si_sdr": lambda est, ref: L.pit_si_sdr_loss(est, ref),
    "sa_sdr": lambda est, ref: L.sa_sdr_loss(est, ref),
}


@pytest.mark.parametrize("s", [2, 3, 5])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_waveform_pit_losses_invariant_to_target_order(name, s):
    est, ref = signals(3, s, 300, 10 + s)
    base = LOSSES[name](est, ref)
    shuffled = ref[:, torch.randperm(s, generator=torch.Generator().manual_seed(s))]
    torch.testing.assert_close(LOSSES[name](est, shuffled), base)


@pytest.mark.parametrize("s", [2, 3, 5])
def test_pit_si_sdr_matches_brute_force(s):
    est, ref = signals(3, s, 300, 20 + s)
    want, _ = brute_force(L.pairwise_neg_si_sdr(est, ref))
    torch.testing.assert_close(L.pit_si_sdr_loss(est, ref), want.mean())


@pytest.mark.parametrize("s", [2, 3, 5])
def test_sa_sdr_matches_brute_force(s):
    est, ref = signals(2, s, 200, 30 + s)
    torch.testing.assert_close(L.sa_sdr_loss(est, ref), _sa_sdr_numpy_style(est, ref))


@pytest.mark.parametrize("s", [2, 3, 5])
@pytest.mark.parametrize("phase_sensitive", [False, True])
def test_upit_mask_loss_invariant_and_brute_force(s, phase_sensitive):
    masks, mix, src = _spec_inputs(2, s, 40 + s)
    base = L.upit_mask_loss(masks, mix, src, phase_sensitive)
    perm = torch.randperm(s, generator=torch.Generator().manual_seed(s))
    torch.testing.assert_close(L.upit_mask_loss(masks, mix, src[:, perm], phase_sensitive), base)
    est = masks * mix.abs().unsqueeze(1)
    if phase_sensitive:
        cos = torch.cos(src.angle() - mix.angle().unsqueeze(1))
        target = torch.clamp(src.abs() * cos, min=0)
        target = torch.minimum(target, mix.abs().unsqueeze(1))
    else:
        target = src.abs()
    pairwise = torch.stack(
        [
            torch.stack(
                [((target[:, i] - est[:, j]) ** 2).mean(dim=(-2, -1)) for j in range(s)], dim=1
            )
            for i in range(s)
        ],
        dim=1,
    )
    want, _ = brute_force(pairwise)
    torch.testing.assert_close(base, want.mean())


@pytest.mark.parametrize("phase_sensitive", [False, True])
def test_upit_oracle_masks_give_zero_loss_in_any_order(phase_sensitive):
    _, mix, src = _spec_inputs(2, 2, 50)
    ymag = mix.abs().unsqueeze(1)
    if phase_sensitive:
        oracle = (src.abs() * torch.cos(src.angle() - mix.angle().unsqueeze(1)) / ymag).clamp(0, 1)
    else:
        oracle = src.abs() / ymag
    for order in ([0, 1], [1, 0]):
        loss = L.upit_mask_loss(oracle[:, order], mix, src, phase_sensitive)
        assert loss.item() == pytest.approx(0.0, abs=1e-20)


def test_pit_si_sdr_perfect_is_very_negative():
    _, ref = signals(2, 3, 1000, 60)
    ref = ref.float()
    assert L.pit_si_sdr_loss(ref[:, [2, 0, 1]], ref).item() < -80


def test_sa_sdr_known_value():
    _, ref = signals(1, 2, 500, 61)
    noise = 0.1 * torch.randn(
        ref.shape, generator=torch.Generator().manual_seed(62), dtype=ref.dtype
    )
    want = -10 * torch.log10(ref.pow(2).sum() / noise.pow(2).sum())
    torch.testing.assert_close(L.sa_sdr_loss((ref + noise)[:, [1, 0]], ref), want)


@pytest.mark.parametrize("s", [2, 5])
def test_gradients_flow(s):
    est, ref = signals(2, s, 256, 70 + s)
    est = est.float().requires_grad_()
    for loss in (L.pit_si_sdr_loss(est, ref.float()), L.sa_sdr_loss(est, ref.float())):
        est.grad = None
        loss.backward()
        assert est.grad is not None and torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0
    masks, mix, src = _spec_inputs(2, s, 80 + s)
    masks = masks.float().requires_grad_()
    L.upit_mask_loss(masks, mix.to(torch.complex64), src.to(torch.complex64)).backward()
    assert torch.isfinite(masks.grad).all() and masks.grad.abs().sum() > 0
    emb = torch.randn(2, 50, 4, requires_grad=True)
    y = torch.nn.functional.one_hot(torch.randint(0, 2, (2, 50)), 2)
    L.deep_clustering_loss(emb, y, torch.rand(2, 50)).sum().backward()
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0
