"""Quality over time: where along a recording a separation fails, and why.

``segmental_si_sdr`` scores each output against its reference in sliding windows (SI-SDR of
``separation_core.evaluation.metrics.si_sdr`` on exactly the window's samples) and flags the windows whose own
best permutation differs from the whole file's: there the outputs have swapped speakers.
``output_leakage`` needs no references: how much the outputs sound alike in each window (the cosine
similarity of their magnitude spectrograms), high where one speaker leaks into the other's output
or where the model did not separate at all.

Both go window by window (nothing of the length of the recording is copied) and take the usual
``progress(fraction, stage)`` callback and cancel token of long work.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from separation_core.cancel import CancelToken, ProgressFn, check_cancel, report
from separation_core.evaluation.metrics import si_sdr, solve_permutation

WINDOW_SECONDS = 1.0
HOP_SECONDS = 0.5
SILENCE_DB = -60.0  # a reference this far below its mean power in a window: no SI-SDR there (NaN)
ACTIVE_DB = -30.0  # swaps are judged only where every reference is within this of its mean power
LEAKAGE_FLOOR_DB = -50.0  # windows this far below the outputs' mean power are silence (NaN)
_EPS = np.finfo(np.float64).eps


def window_grid(
    n: int, sample_rate: int, window: float = WINDOW_SECONDS, hop: float = HOP_SECONDS
) -> tuple[np.ndarray, int]:
    """Start samples of the windows over ``n`` samples and the window length in samples.

    Windows of ``window`` seconds every ``hop`` seconds; a signal shorter than one window is one
    window; the last window ends at or before the signal's end, plus one ending exactly at the end
    when the grid would leave more than half a hop uncovered."""
    length = max(1, int(round(window * sample_rate)))
    step = max(1, int(round(hop * sample_rate)))
    if n <= length:
        return np.zeros(1, dtype=np.int64), n
    starts = np.arange(0, n - length + 1, step, dtype=np.int64)
    if n - (starts[-1] + length) > step // 2:
        starts = np.append(starts, n - length)
    return starts, length


def _every_progress(progress, cancel, i: int, total: int, stage: str) -> None:
    if i % 64 == 0:
        check_cancel(cancel)
        report(progress, i / max(total, 1), stage)


def global_permutation(
    estimates: np.ndarray, references: np.ndarray, block: int = 1 << 20
) -> np.ndarray:
    """The Hungarian permutation on whole-file SI-SDR (as ``evaluate_separation`` solves it),
    from sums accumulated block by block: ``estimates[perm[i]]`` matches ``references[i]``."""
    s_est, s_ref = estimates.shape[0], references.shape[0]
    n = references.shape[-1]
    er = np.zeros((s_ref, s_est))
    ee, e1 = np.zeros(s_est), np.zeros(s_est)
    rr, r1 = np.zeros(s_ref), np.zeros(s_ref)
    for s in range(0, n, block):
        e = np.asarray(estimates[:, s : s + block], dtype=np.float64)
        r = np.asarray(references[:, s : s + block], dtype=np.float64)
        er += r @ e.T
        ee += (e**2).sum(-1)
        rr += (r**2).sum(-1)
        e1 += e.sum(-1)
        r1 += r.sum(-1)
    # zero-mean inner products, then SI-SDR = |<e,r>|^2 / (|r|^2 |e|^2 - |<e,r>|^2)
    er_c = er - np.outer(r1, e1) / n
    ee_c, rr_c = ee - e1**2 / n, rr - r1**2 / n
    target = er_c**2 / (rr_c[:, None] + _EPS)
    residual = np.maximum(ee_c[None, :] - target, 0.0)
    scores = 10 * np.log10((target + _EPS) / (residual + _EPS))
    return solve_permutation(scores)


def segmental_si_sdr(
    estimates,
    references,
    sample_rate: int,
    window: float = WINDOW_SECONDS,
    hop: float = HOP_SECONDS,
    *,
    order=None,
    silence_db: float = SILENCE_DB,
    active_db: float = ACTIVE_DB,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SI-SDR of ``estimates [S_est, T]`` against ``references [S, T]`` in sliding windows.

    Returns ``times [W]`` (window centres, seconds), ``values [S, W]`` (dB, reference ``i`` scored
    against ``estimates[order[i]]``, NaN where the reference is ``silence_db`` below its mean power or
    has no estimate) and ``swapped [W]`` (bool: the window's own best permutation, Hungarian on its
    pairwise SI-SDR, is not ``order``; judged only where every reference is within ``active_db`` of
    its mean power, False elsewhere). ``order`` is the global permutation (``estimates[order[i]]``
    goes with ``references[i]``, -1: none), e.g. the one the GUI's columns show; None solves it on
    the whole file (see ``global_permutation``).
    """
    est, ref = np.asarray(estimates), np.asarray(references)
    if est.ndim != 2 or ref.ndim != 2 or est.shape[-1] != ref.shape[-1]:
        raise ValueError(
            f"expected [S, T] estimates and references of one length, got {est.shape} "
            f"and {ref.shape}"
        )
    n_ref = ref.shape[0]
    perm = (
        global_permutation(est, ref)
        if order is None
        else np.asarray(list(order)[:n_ref], dtype=np.int64)
    )
    if len(perm) < n_ref:
        perm = np.concatenate([perm, np.full(n_ref - len(perm), -1, dtype=np.int64)])
    starts, length = window_grid(ref.shape[-1], sample_rate, window, hop)
    power = np.array([np.mean(np.square(r, dtype=np.float64)) for r in ref])
    silent_below = power * 10 ** (silence_db / 10)
    active_above = power * 10 ** (active_db / 10)
    values = np.full((n_ref, len(starts)), np.nan)
    swapped = np.zeros(len(starts), dtype=bool)
    rows = np.arange(n_ref)
    for w, s in enumerate(starts):
        _every_progress(progress, cancel, w, len(starts), "quality over time: SI-SDR")
        e_win = np.asarray(est[:, s : s + length], dtype=np.float64)
        r_win = np.asarray(ref[:, s : s + length], dtype=np.float64)
        p_win = np.mean(r_win**2, axis=-1)
        scores = np.stack([si_sdr(e_win, r[None, :]) for r in r_win])  # [S_ref, S_est]
        for i in rows:
            if perm[i] >= 0 and p_win[i] > silent_below[i]:
                values[i, w] = scores[i, perm[i]]
        if np.all(p_win > active_above) and np.all(perm >= 0):
            swapped[w] = bool(np.any(solve_permutation(scores) != perm))
    report(progress, 1.0, "quality over time: SI-SDR")
    times = (starts + length / 2.0) / sample_rate
    return times, values, swapped


def _frames(x: np.ndarray, n_fft: int) -> np.ndarray:
    """Half-overlapping Hann-windowed frames ``[..., frames, n_fft]`` of ``x [..., time]``."""
    hop = n_fft // 2
    if x.shape[-1] < n_fft:
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n_fft - x.shape[-1])])
    count = 1 + (x.shape[-1] - n_fft) // hop
    idx = np.arange(count)[:, None] * hop + np.arange(n_fft)[None, :]
    return x[..., idx] * np.hanning(n_fft)


def output_leakage(
    estimates,
    sample_rate: int,
    window: float = WINDOW_SECONDS,
    hop: float = HOP_SECONDS,
    *,
    floor_db: float = LEAKAGE_FLOOR_DB,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """How alike the outputs ``estimates [S, T]`` sound in each window, without references.

    Returns ``times [W]`` (window centres, seconds) and ``values [W]`` in [0, 1]: the largest, over
    pairs of outputs, cosine similarity of their magnitude spectrograms in the window (32 ms Hann
    frames, half overlap): ``sum |A||B| / sqrt(sum |A|^2 sum |B|^2)`` over the window's
    time-frequency bins. Two talkers rarely fill the same bins, so well separated outputs score low
    (about 0.1-0.4 for speech); one speaker leaking into the other output raises it, and an output
    that is the mixture again scores near 1. NaN where the outputs together are ``floor_db`` below
    their mean power (silence); a single output gives zeros.
    """
    est = np.asarray(estimates)
    if est.ndim != 2:
        raise ValueError(f"expected [S, T] estimates, got {est.shape}")
    n_src = est.shape[0]
    starts, length = window_grid(est.shape[-1], sample_rate, window, hop)
    n_fft = 1 << int(round(np.log2(max(0.032 * sample_rate, 16))))
    total = float(sum(np.mean(np.square(e, dtype=np.float64)) for e in est))
    floor = total * 10 ** (floor_db / 10)
    values = np.full(len(starts), np.nan)
    for w, s in enumerate(starts):
        _every_progress(progress, cancel, w, len(starts), "quality over time: leakage")
        x = np.asarray(est[:, s : s + length], dtype=np.float64)
        if np.mean(x**2, axis=-1).sum() <= floor:
            continue
        if n_src < 2:
            values[w] = 0.0
            continue
        mag = np.abs(np.fft.rfft(_frames(x, n_fft), axis=-1)).reshape(n_src, -1)  # [S, bins]
        energy = (mag**2).sum(-1)
        best = 0.0
        for a in range(n_src):
            for b in range(a + 1, n_src):
                den = np.sqrt(energy[a] * energy[b])
                if den > 0:
                    best = max(best, float(mag[a] @ mag[b] / den))
        values[w] = min(best, 1.0)
    report(progress, 1.0, "quality over time: leakage")
    return (starts + length / 2.0) / sample_rate, values
