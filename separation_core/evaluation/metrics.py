"""Separation metrics on numpy signals: SNR, SI-SDR(i), BSS Eval SDR(i), PESQ (mean over 30 s
segments), STOI, permutations; and the metric registry every consumer reads.

All functions take ``[..., time]`` float arrays (cast to float64) and return dB values as float64.
The permutation between estimates and references is solved once, on the pairwise SI-SDR matrix,
and every other metric is computed on the matched pairs.

**Adding a metric** takes its function and one ``register_metric(Metric(...))`` at the end of this
file: ``evaluate_separation``, ``cocktail evaluate``, ``cocktail bench``, the desktop Metrics view,
training validation and the model cards all list metrics from the registry (``metric_specs``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from separation_core.cancel import check_current_cancel
from separation_core.errors import ReferenceMismatchError

_EPS = np.finfo(np.float64).eps
# Kept up to date by register_metric / unregister_metric (plain tuples, so they can be monkeypatched):
ALL_METRICS: tuple[str, ...] = ()  # every registered metric, in registration order
DEFAULT_METRICS: tuple[str, ...] = ()  # those scored when none are named (Metric.default)
PRIMARY_METRIC = "si_sdri"  # what training selects checkpoints by; bench's per-set table
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


@dataclass
class Evaluation:
    """Result of ``evaluate_separation``: ``estimates[permutation[i]]`` was scored against reference ``i``."""

    permutation: np.ndarray
    per_source: list[dict[str, float]]
    mean: dict[str, float]


def _pair_metrics(est, ref, mixture, sample_rate, metrics) -> dict[str, float]:
    pair = Pair(est, ref, mixture, sample_rate)
    out = {}
    for m in metrics:
        check_current_cancel()  # metrics of long signals take seconds each: Stop between them
        out[m] = pair.score(m)
    return out


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def evaluate_separation(
    estimates, references, mixture, sample_rate: int, metrics=None, permutation=None
) -> Evaluation:
    """Score ``estimates [n_est, T]`` against ``references [n_ref, T]`` (``mixture [T]`` for SI-SDRi)
    on ``metrics`` (registered names; None: ``DEFAULT_METRICS``).

    The permutation is solved once on the pairwise SI-SDR, unless ``permutation`` (``[n_ref]``: the
    estimate of reference ``i``, -1 for none) is given and used as is; ``per_source[i]`` holds the
    requested metrics of reference ``i`` (NaN when no estimate is left for it); ``mean`` averages the
    finite ones.
    """
    metrics = DEFAULT_METRICS if metrics is None else tuple(metrics)
    unknown = [m for m in metrics if m not in _REGISTRY]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {ALL_METRICS}")
    est, ref, mix = np.atleast_2d(_f64(estimates)), np.atleast_2d(_f64(references)), _f64(mixture)
    if not (est.shape[-1] == ref.shape[-1] == mix.shape[-1]):
        raise ReferenceMismatchError(
            f"lengths differ: estimates {est.shape[-1]}, references {ref.shape[-1]}, "
            f"mixture {mix.shape[-1]} samples"
        )
    if permutation is None:
        perm = solve_permutation(pairwise_si_sdr(est, ref), maximize=True)
    else:
        perm = np.asarray(permutation, dtype=np.int64).reshape(-1)
        if len(perm) != len(ref) or perm.max(initial=-1) >= len(est) or perm.min(initial=-1) < -1:
            raise ValueError(
                f"permutation {perm.tolist()} does not fit {len(est)} estimates and "
                f"{len(ref)} references"
            )
    per_source = [
        _pair_metrics(est[j], ref[i], mix, sample_rate, metrics)
        if j >= 0
        else {m: float("nan") for m in metrics}
        for i, j in enumerate(perm)
    ]
    mean = {m: _nanmean([d[m] for d in per_source]) for m in metrics}
    return Evaluation(permutation=perm, per_source=per_source, mean=mean)


# -- the metric registry ---------------------------------------------------------------------------


@dataclass
class Pair:
    """One matched estimate / reference pair ``[time]`` (float64) as a metric sees it; ``score``
    gives another registered metric of the same pair, computed once (SDRi reuses the SDR)."""

    est: np.ndarray
    ref: np.ndarray
    mixture: Optional[np.ndarray]
    sample_rate: int
    _scores: dict = field(default_factory=dict, repr=False)

    def score(self, name: str) -> float:
        if name not in self._scores:
            self._scores[name] = float(get_metric(name).compute(self))
        return self._scores[name]


@dataclass(frozen=True)
class Metric:
    """A registered metric: ``compute(pair) -> float`` scores one ``Pair``; the rest says how to
    show it and where it is used."""

    name: str  # key in results, JSON and ``--metrics`` (lower case)
    compute: Callable[[Pair], float]
    label: str  # column label: "SI-SDRi"
    unit: str = ""  # "dB"; "" for a score
    fmt: str = ".2f"  # format spec of a value
    higher_is_better: bool = True
    needs_mixture: bool = False  # uses ``pair.mixture``
    default: bool = True  # in DEFAULT_METRICS: `cocktail evaluate`, the Metrics view
    headline: bool = False  # a column of the `cocktail bench` table and of model cards
    validation: bool = False  # scored at every validation while training (keep it cheap)
    description: str = ""  # one line for tooltips and --help

    @property
    def heading(self) -> str:
        """``"SI-SDRi (dB)"``, ``"PESQ"``."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def format(self, value, missing: str = "–") -> str:
        """``value`` with ``fmt``; ``missing`` for None and NaN."""
        if value is None or not np.isfinite(value):
            return missing
        return format(value, self.fmt)


_REGISTRY: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` (a name taken twice is refused) and refresh ALL_METRICS / DEFAULT_METRICS."""
    if metric.name != metric.name.lower() or not metric.name.isidentifier():
        raise ValueError(f"metric name '{metric.name}' must be a lower-case identifier")
    if metric.name in _REGISTRY:
        raise ValueError(f"metric '{metric.name}' is already registered")
    _REGISTRY[metric.name] = metric
    _refresh()
    return metric


def unregister_metric(name: str) -> None:
    _REGISTRY.pop(name, None)
    _refresh()


def _refresh() -> None:
    global ALL_METRICS, DEFAULT_METRICS
    ALL_METRICS = tuple(_REGISTRY)
    DEFAULT_METRICS = tuple(n for n, m in _REGISTRY.items() if m.default)


def get_metric(name: str) -> Metric:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown metric '{name}' (known: {', '.join(_REGISTRY)})") from None


def metric_specs(
    names=None,
    *,
    default: Optional[bool] = None,
    headline: Optional[bool] = None,
    validation: Optional[bool] = None,
) -> list[Metric]:
    """Registered metrics in registration order: those of ``names``, else all, less those whose
    ``default`` / ``headline`` / ``validation`` flag differs from one given."""
    chosen = [get_metric(n) for n in names] if names is not None else list(_REGISTRY.values())
    wanted = {"default": default, "headline": headline, "validation": validation}
    return [m for m in chosen if all(v is None or getattr(m, k) == v for k, v in wanted.items())]


def _improvement(metric: str, base: Callable) -> Callable[[Pair], float]:
    """``metric`` of the pair less ``base(mixture, ref)``: the gain over the unprocessed mixture."""

    def compute(p: Pair) -> float:
        return p.score(metric) - float(base(np.broadcast_to(p.mixture, np.shape(p.ref)), p.ref))

    return compute


register_metric(
    Metric(
        "snr",
        lambda p: snr(p.est, p.ref),
        "SNR",
        "dB",
        default=False,
        description="plain SNR (not scale invariant)",
    )
)
register_metric(
    Metric(
        "si_sdr",
        lambda p: si_sdr(p.est, p.ref),
        "SI-SDR",
        "dB",
        validation=True,
        description="scale-invariant SDR",
    )
)
register_metric(
    Metric(
        "si_sdri",
        lambda p: si_sdri(p.est, p.ref, p.mixture),
        "SI-SDRi",
        "dB",
        needs_mixture=True,
        headline=True,
        validation=True,
        description="SI-SDR improvement over the unprocessed mixture",
    )
)
register_metric(
    Metric(
        "sdr",
        lambda p: sdr(p.est, p.ref),
        "SDR",
        "dB",
        description="BSS Eval SDR (512-tap distortion filter)",
    )
)
register_metric(
    Metric(
        "sdri",
        _improvement("sdr", sdr),
        "SDRi",
        "dB",
        needs_mixture=True,
        default=False,
        headline=True,
        description="SDR improvement over the unprocessed mixture",
    )
)
register_metric(
    Metric(
        "pesq",
        lambda p: pesq_score(p.est, p.ref, p.sample_rate),
        "PESQ",
        headline=True,
        description="PESQ (mean over 30 s segments): long signals are scored in "
        "segments of at most 30 s, silent ones skipped, and averaged "
        "by length",
    )
)
register_metric(
    Metric(
        "stoi",
        lambda p: stoi_score(p.est, p.ref, p.sample_rate),
        "STOI",
        fmt=".3f",
        headline=True,
        description="short-time objective intelligibility (0..1)",
    )
)
