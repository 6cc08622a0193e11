"""Scoring a separation: the metric registry every consumer reads, and ``evaluate_separation``.

The permutation between estimates and references is solved once, on the pairwise SI-SDR matrix,
and every other metric is computed on the matched pairs. The counts may differ: a reference without
an estimate gets each metric's ``unmatched`` value (0 dB for the improvements, NaN for the rest) and
the estimates left over are reported (``separation_core.evaluation.matching``).

**Adding a metric** takes its function and one ``register_metric(Metric(...))`` at the end of this
file: ``evaluate_separation``, ``cocktail evaluate``, ``cocktail bench``, the desktop Metrics view,
training validation and the model cards all list metrics from the registry (``metric_specs``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from separation_core.cancel import check_current_cancel
from separation_core.errors import ReferenceMismatchError
from separation_core.evaluation.matching import ExtraStem, extra_stems
from separation_core.evaluation.metrics import (
    pairwise_si_sdr,
    pesq_score,
    sdr,
    si_sdr,
    si_sdri,
    snr,
    solve_permutation,
    stoi_score,
)

# Kept up to date by register_metric / unregister_metric (plain tuples, so they can be monkeypatched):
ALL_METRICS: tuple[str, ...] = ()  # every registered metric, in registration order
DEFAULT_METRICS: tuple[str, ...] = ()  # those scored when none are named (Metric.default)
PRIMARY_METRIC = "si_sdri"  # what training selects checkpoints by; bench's per-set table


@dataclass
class Evaluation:
    """Result of ``evaluate_separation``: ``estimates[permutation[i]]`` was scored against reference
    ``i`` (-1: no estimate was left for it); ``extra_stems`` are the estimates no reference got."""

    permutation: np.ndarray
    per_source: list[dict[str, float]]
    mean: dict[str, float]
    extra_stems: tuple[ExtraStem, ...] = ()

    @property
    def unmatched(self) -> list[int]:
        """Indices of the references without an estimate."""
        return [i for i, j in enumerate(self.permutation) if j < 0]


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
    requested metrics of reference ``i`` (each metric's ``unmatched`` value when no estimate is left
    for it: SI-SDRi and SDRi 0 dB, the others NaN); ``mean`` averages the finite ones. Estimates
    left over are in ``extra_stems``, with their level relative to the mixture.
    """
    metrics = DEFAULT_METRICS if metrics is None else tuple(metrics)
    unknown = [m for m in metrics if m not in _REGISTRY]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {ALL_METRICS}")
    est = np.atleast_2d(np.asarray(estimates, dtype=np.float64))
    ref = np.atleast_2d(np.asarray(references, dtype=np.float64))
    mix = np.asarray(mixture, dtype=np.float64)
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
        else {m: _REGISTRY[m].unmatched for m in metrics}
        for i, j in enumerate(perm)
    ]
    mean = {m: _nanmean([d[m] for d in per_source]) for m in metrics}
    return Evaluation(perm, per_source, mean, extra_stems(est, perm, mix))


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
    unmatched: float = float("nan")  # the value of a reference no estimate is left for
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
        unmatched=0.0,  # the mixture is left for that person: no gain
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
        unmatched=0.0,  # the mixture is left for that person: no gain
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
