"""Scoring results against the references, one metric at a time (so progress moves while the slow
metrics run)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MetricsJob:
    """Score each result against the references; publishes ``(key, Evaluation)`` per result. A
    result's permutation is its speaker order when given (the one the views show), else solved."""

    results: tuple  # ((key, waveforms [n_src, T], permutation [n_ref] or None), ...)
    references: np.ndarray
    mixture: np.ndarray
    sample_rate: int

    def run(self, ctx) -> dict:
        from separation_core.cancel import cancel_scope

        out = {}
        n = len(self.results)
        for i, (key, waves, permutation) in enumerate(self.results):
            ctx.cancel.raise_if_cancelled()

            def progress(fraction: float, metric: str, i=i, key=key) -> None:
                ctx.progress((i + fraction) / n, f"metrics: {key} ({metric})")

            with cancel_scope(ctx.cancel):  # checked between the metrics of each source, too
                evaluation = evaluate_in_steps(
                    waves, self.references, self.mixture, self.sample_rate, progress, permutation
                )
            out[key] = evaluation
            ctx.publish((key, evaluation))
        ctx.progress(1.0, "metrics done")
        return out


def evaluate_in_steps(estimates, references, mixture, sample_rate: int, progress, permutation=None):
    """``evaluate_separation`` one metric at a time, calling ``progress(fraction, metric)`` before
    each, so a progress bar moves while the slow metrics (SDR, PESQ) run. The permutation is solved
    once (unless given), then used by every metric."""
    from separation_core.evaluation.scoring import DEFAULT_METRICS, Evaluation, evaluate_separation

    parts = []
    for k, metric in enumerate(DEFAULT_METRICS):
        progress(k / len(DEFAULT_METRICS), metric)
        parts.append(
            evaluate_separation(
                estimates,
                references,
                mixture,
                sample_rate,
                metrics=(metric,),
                permutation=permutation,
            )
        )
        permutation = parts[0].permutation
    per_source = [
        {m: v for p in parts for m, v in p.per_source[i].items()}
        for i in range(len(parts[0].per_source))
    ]
    mean = {m: v for p in parts for m, v in p.mean.items()}
    return Evaluation(permutation=parts[0].permutation, per_source=per_source, mean=mean)
