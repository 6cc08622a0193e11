"""Separation metrics on numpy signals: SNR, SI-SDR(i), BSS Eval SDR, PESQ (mean over 30 s
segments), STOI, segmental SI-SDR, the permutation between estimates and references, and how well
one output order holds over a long file.

All functions take ``[..., time]`` float arrays (cast to float64) and return dB values as float64.
``separation_core.evaluation.scoring`` registers them and scores a separation with them.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np

_EPS = np.finfo(np.float64).eps
_PESQ_RATE = {8000: "nb", 16000: "wb"}
PESQ_SEGMENT_SECONDS = 30.0  # pesq (the C library) crashes the process on inputs of ~150 s and more
_PESQ_SILENT_DB = -50.0  # a segment this far below the whole reference's power is silence
_log = logging.getLogger(__name__)
_SDR_CLAMP_DB = 150.0  # fast_bss_eval gives -inf/NaN for a perfect estimate unless clamped


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _ratio_db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``10 log10(num / den)`` with an eps on both sides, so 0/0 gives 0 dB and nothing is inf."""
    return 10.0 * np.log10((num + _EPS) / (den + _EPS))


def snr(est, ref) -> np.ndarray:
    """Plain SNR ``[..., time] -> [...]``: ``||ref||^2 / ||ref - est||^2`` in dB (not scale invariant)."""
    est, ref = _f64(est), _f64(ref)
    return _ratio_db(np.sum(ref**2, axis=-1), np.sum((ref - est) ** 2, axis=-1))


def si_sdr(est, ref) -> np.ndarray:
    """Scale-invariant SDR ``[..., time] -> [...]`` (Le Roux et al. 2019), both signals zero-meaned."""
    est, ref = _f64(est), _f64(ref)
    est = est - est.mean(axis=-1, keepdims=True)
    ref = ref - ref.mean(axis=-1, keepdims=True)
    alpha = np.sum(est * ref, axis=-1, keepdims=True) / (
        np.sum(ref**2, axis=-1, keepdims=True) + _EPS
    )
    target = alpha * ref
    return _ratio_db(np.sum(target**2, axis=-1), np.sum((est - target) ** 2, axis=-1))


def si_sdri(est, ref, mixture) -> np.ndarray:
    """SI-SDR improvement over the unprocessed mixture: ``si_sdr(est, ref) - si_sdr(mixture, ref)``."""
    return si_sdr(est, ref) - si_sdr(np.broadcast_to(_f64(mixture), np.shape(ref)), ref)


def pairwise_si_sdr(est, ref) -> np.ndarray:
    """``est [n_est, T]``, ``ref [n_ref, T]`` -> ``[n_ref, n_est]`` SI-SDR of every pair (row = reference)."""
    est = _f64(est)
    return np.stack([si_sdr(est, r[None, :]) for r in _f64(ref)]).reshape(len(ref), len(est))


def solve_permutation(scores, maximize: bool = True) -> np.ndarray:
    """Hungarian assignment on ``scores [n_ref, n_est]`` -> ``perm [n_ref]``: ``est[perm[i]]`` matches ``ref[i]``.

    With more estimates than references the best subset is picked; with fewer, the references left
    without an estimate get ``-1``. Non-finite scores count as the worst possible match.
    """
    from scipy.optimize import (
        linear_sum_assignment,  # not at import: the CLI's parser reads this module
    )

    scores = np.asarray(scores, dtype=np.float64)
    finite = scores[np.isfinite(scores)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    margin = (high - low + 1.0) * max(scores.shape)  # worse than any assignment of finite scores
    scores = np.where(np.isfinite(scores), scores, low - margin if maximize else high + margin)
    rows, cols = linear_sum_assignment(scores, maximize=maximize)
    perm = np.full(scores.shape[0], -1, dtype=np.int64)
    perm[rows] = cols
    return perm


def sdr(est, ref, filter_length: int = 512) -> np.ndarray:
    """BSS Eval SDR (fast_bss_eval, 512-tap distortion filter) of matched pairs ``[..., time] -> [...]``.

    Pairs are scored one at a time, so fast_bss_eval's own permutation search has nothing to
    permute (pairing is the caller's, via ``solve_permutation``) and a degenerate pair (a silent
    signal makes its system singular) gives NaN without spoiling the others.
    """
    est, ref = np.broadcast_arrays(_f64(est), _f64(ref))
    flat_est, flat_ref = est.reshape(-1, est.shape[-1]), ref.reshape(-1, ref.shape[-1])
    out = [_sdr_pair(e, r, min(filter_length, r.shape[-1])) for e, r in zip(flat_est, flat_ref)]
    return np.asarray(out, dtype=np.float64).reshape(est.shape[:-1])


def _sdr_pair(est: np.ndarray, ref: np.ndarray, filter_length: int) -> float:
    import fast_bss_eval

    try:
        with np.errstate(all="ignore"):
            value = fast_bss_eval.sdr(
                ref[None, :], est[None, :], filter_length=filter_length, clamp_db=_SDR_CLAMP_DB
            )
        return float(np.asarray(value).reshape(-1)[0])
    except (ValueError, np.linalg.LinAlgError):
        return float("nan")


def pesq_score(est, ref, sample_rate: int) -> float:
    """PESQ MOS-LQO of a pair ``[time]`` (mean over 30 s segments): wide band at 16 kHz, narrow band
    at 8 kHz; other rates are resampled to 16 kHz (wide band).

    The pesq C library crashes the whole process on inputs of about 150 s and more, so the pair is
    cut into equal non-overlapping segments of at most ``PESQ_SEGMENT_SECONDS``; segments where the
    reference is silent are skipped and the others' scores averaged, weighted by their length.
    NaN, with a one-line note in the log, when no segment can be scored (silence, too short):
    pesq's own errors never reach the caller."""
    from pesq import pesq

    est, ref = _f64(est), _f64(ref)
    if not (np.isfinite(est).all() and np.isfinite(ref).all()):
        return _pesq_nan("the signals hold NaN or infinite samples")
    if sample_rate not in _PESQ_RATE:
        import soxr

        est, ref = (soxr.resample(x, sample_rate, 16000) for x in (est, ref))
        sample_rate = 16000
    scores, weights, errors = [], [], []
    for s, e in _pesq_segments(ref, sample_rate):
        try:
            with np.errstate(all="ignore"):  # pesq divides by the peak: 0/0 on silence
                scores.append(float(pesq(sample_rate, ref[s:e], est[s:e], _PESQ_RATE[sample_rate])))
            weights.append(e - s)
        except (
            Exception
        ) as err:  # pesq raises its own types (NoUtterancesError, BufferTooShortError, ...)
            errors.append(type(err).__name__)
    if not weights:
        why = (
            f"pesq refused it ({', '.join(sorted(set(errors)))})"
            if errors
            else "the reference is silent"
        )
        return _pesq_nan(why)
    if errors:
        _log.info(
            "PESQ: %d segment(s) could not be scored (%s); mean of the others",
            len(errors),
            ", ".join(sorted(set(errors))),
        )
    return float(np.average(scores, weights=weights))


def _pesq_segments(ref: np.ndarray, sample_rate: int) -> list[tuple[int, int]]:
    """``(start, end)`` of equal segments of at most PESQ_SEGMENT_SECONDS covering ``ref``, less
    those where the reference is silent (power ``_PESQ_SILENT_DB`` below the whole signal's)."""
    n = ref.shape[-1]
    count = max(1, int(np.ceil(n / (PESQ_SEGMENT_SECONDS * sample_rate))))
    bounds = np.linspace(0, n, count + 1).round().astype(int)
    floor = np.mean(ref**2) * 10 ** (_PESQ_SILENT_DB / 10) if n else 0.0
    return [
        (int(s), int(e))
        for s, e in zip(bounds[:-1], bounds[1:])
        if e > s and np.mean(ref[s:e] ** 2) > floor
    ]


def _pesq_nan(why: str) -> float:
    _log.warning("PESQ not scored: %s", why)
    return float("nan")


def stoi_score(est, ref, sample_rate: int) -> float:
    """STOI (pystoi, 0..1) of a pair ``[time]``; NaN when the signal is too short or silent to score."""
    from pystoi import stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = float(stoi(_f64(ref), _f64(est), sample_rate, extended=False))
        except Exception:
            return float("nan")
    # pystoi only warns (and returns 1e-5) when too few non-silent frames are left to score.
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return float("nan")
    return value


def segmental_si_sdr(
    est, ref, sample_rate: int, segment_seconds: float = 1.0, silence_db: float = -60.0
) -> tuple[np.ndarray, np.ndarray]:
    """SI-SDR over consecutive windows: ``[..., time] -> (times [n_seg], values [..., n_seg])``.

    ``times`` are window centres in seconds; the last window may be shorter. Windows where the
    reference is more than ``silence_db`` below its overall power get NaN (SI-SDR is meaningless there).
    """
    est, ref = np.broadcast_arrays(_f64(est), _f64(ref))
    n = ref.shape[-1]
    seg = max(1, int(round(segment_seconds * sample_rate)))
    starts = np.arange(0, n, seg)
    ends = np.minimum(starts + seg, n)
    power = np.mean(ref**2, axis=-1)
    values = []
    for s, e in zip(starts, ends):
        v = si_sdr(est[..., s:e], ref[..., s:e])
        quiet = np.mean(ref[..., s:e] ** 2, axis=-1) <= power * 10 ** (silence_db / 10)
        values.append(np.where(quiet, np.nan, v))
    times = (starts + ends) / 2.0 / sample_rate
    return times, np.stack(values, axis=-1)


@dataclass
class PermutationConsistency:
    """How well one output order holds over a long file (see ``permutation_consistency``).

    The ``*_si_sdri`` fields (None without the mixture) are the same figures as improvements over
    the unprocessed mixture, windows scored against the mixture's SI-SDR in the same window."""

    global_si_sdr: float  # mean SI-SDR over the whole file, one permutation for all of it
    chunk_best_si_sdr: float  # mean over windows of each window's best-permutation SI-SDR
    chunk_fixed_si_sdr: float  # mean over windows of their SI-SDR under the global permutation
    windows: int
    swapped_windows: int  # windows whose best permutation is not the global one
    global_si_sdri: Optional[float] = None
    chunk_best_si_sdri: Optional[float] = None
    chunk_fixed_si_sdri: Optional[float] = None

    @property
    def gap_db(self) -> float:
        """``chunk_best - global``: near 0 when no speaker swaps, large when outputs swap."""
        return self.chunk_best_si_sdr - self.global_si_sdr

    @property
    def swapped_share(self) -> float:
        """Share of the scored time (windows are equally long) whose best permutation is not the
        global one."""
        return self.swapped_windows / self.windows


def permutation_consistency(
    est,
    ref,
    sample_rate: int,
    window_seconds: float = 8.0,
    *,
    mixture=None,
    active_db: float = -60.0,
) -> PermutationConsistency:
    """Speaker swaps of a long separation ``est [S, T]`` against ``ref [S, T]``.

    The global permutation is the Hungarian one on whole-file SI-SDR; each non-overlapping window of
    ``window_seconds`` also gets its own best permutation. Only windows where every reference is
    active are scored: a reference's power in the window must exceed its whole-file mean power by
    ``active_db`` dB (-60: skip silence only; about -20: windows where every speaker talks). With
    ``mixture [T]`` the SI-SDRi fields are filled too.
    """
    est, ref = _f64(est), _f64(ref)
    if est.shape != ref.shape or est.ndim != 2:
        raise ValueError(
            f"expected two [S, T] arrays of one shape, got {est.shape} and {ref.shape}"
        )
    mix = None if mixture is None else _f64(mixture)
    if mix is not None and mix.shape != ref.shape[1:]:
        raise ValueError(
            f"the mixture's shape {mix.shape} does not match the references' {ref.shape}"
        )
    perm = solve_permutation(pairwise_si_sdr(est, ref))
    global_value = float(np.mean(si_sdr(est[perm], ref)))
    seg = max(1, int(round(window_seconds * sample_rate)))
    power = np.mean(ref**2, axis=-1)
    rows = np.arange(len(ref))
    best, fixed, base, swapped = [], [], [], 0
    for s in range(0, ref.shape[-1] - seg + 1, seg):
        e_win, r_win = est[:, s : s + seg], ref[:, s : s + seg]
        if np.any(np.mean(r_win**2, axis=-1) <= power * 10 ** (active_db / 10)):
            continue
        scores = pairwise_si_sdr(e_win, r_win)
        local = solve_permutation(scores)
        best.append(float(np.mean(scores[rows, local])))
        fixed.append(float(np.mean(scores[rows, perm])))
        if mix is not None:
            base.append(
                float(np.mean(si_sdr(np.broadcast_to(mix[s : s + seg], r_win.shape), r_win)))
            )
        swapped += int(np.any(local != perm))
    if not best:
        raise ValueError(f"no window of {window_seconds} s with every reference active")
    out = PermutationConsistency(
        global_value, float(np.mean(best)), float(np.mean(fixed)), len(best), swapped
    )
    if mix is not None:
        out.global_si_sdri = global_value - float(
            np.mean(si_sdr(np.broadcast_to(mix, ref.shape), ref))
        )
        out.chunk_best_si_sdri = out.chunk_best_si_sdr - float(np.mean(base))
        out.chunk_fixed_si_sdri = out.chunk_fixed_si_sdr - float(np.mean(base))
    return out
