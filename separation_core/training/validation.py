"""Validation of a model in training: the metric registry's validation metrics on fixed mixture
sets, the score that picks best.pt, and the oracle IRM's as the ceiling to compare against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from separation_core.cancel import CancelToken, check_cancel
from separation_core.engine.inference import EngineOptions, separate
from separation_core.evaluation.scoring import PRIMARY_METRIC, evaluate_separation, metric_specs
from separation_core.models.base import RunOptions
from separation_core.models.registry import get_model_class


def validation_metrics(model, items, device: str, cancel: Optional[CancelToken] = None) -> dict:
    """Mean of each validation metric of the registry (SI-SDR, SI-SDRi, ...) of ``model`` over
    mixture-set items, through the inference engine."""
    names = tuple(m.name for m in metric_specs(validation=True))
    values: dict[str, list] = {n: [] for n in names}
    model.eval()
    for item in items:
        check_cancel(cancel)
        run = RunOptions(num_speakers=item.sources.shape[0] if model.takes_num_speakers else None)
        res = separate(
            model,
            item.mixture,
            item.sample_rate,
            EngineOptions(device=device, keep_masks=False, max_embedding_points=0, run=run),
            references=item.sources if model.needs_references else None,
        )
        ev = evaluate_separation(
            res.waveforms, item.sources, item.mixture, item.sample_rate, metrics=names
        )
        for n in names:
            values[n].append(ev.mean[n])
    return {n: float(np.mean(v)) for n, v in values.items()} | {"mixtures": len(items)}


def validate_sets(model, valids, device: str, cancel: Optional[CancelToken] = None):
    """``validation_metrics`` of every ``(suffix, items)`` set, each name carrying its set's suffix
    ("" for the run's speakers, "_3spk" for three), and the score that picks best.pt: the mean
    SI-SDRi over the sets. -> (metrics, score)."""
    metrics, scores = {}, []
    for suffix, items in valids:
        values = validation_metrics(model, items, device, cancel)
        metrics.update({f"{k}{suffix}": v for k, v in values.items()})
        scores.append(values[PRIMARY_METRIC])
    return metrics, float(np.mean(scores))


def valid_folder(run_dir: Path, suffix: str) -> Path:
    """The validation set of ``suffix``: ``valid`` or ``valid-3spk``."""
    return Path(run_dir) / f"valid{suffix.replace('_', '-')}"


def oracle_reference(items, sample_rate: int) -> dict:
    """The oracle IRM's SI-SDRi on the validation items: the ceiling to compare against."""
    oracle = get_model_class("oracle-irm")(sample_rate=sample_rate, n_src=items[0].sources.shape[0])
    return validation_metrics(oracle, items, "cpu")


def oracle_metrics(run_dir: Path, valids, sample_rate: int) -> dict:
    """``oracle_reference`` of each ``(suffix, items)`` validation set, by suffix, computed once
    and kept beside the set (``valid_oracle_irm.json``)."""
    result = {}
    for suffix, items in valids:
        folder = valid_folder(run_dir, suffix)
        path = folder.with_name(f"{folder.name}_oracle_irm.json")
        if not path.exists():
            path.write_text(json.dumps(oracle_reference(items, sample_rate), indent=2))
        result[suffix] = json.loads(path.read_text())
    return result


def oracle_columns(oracles: dict) -> dict:
    """The oracle IRM's SI-SDRi of each set, as ``valid.csv`` columns."""
    return {f"oracle_irm_si_sdri{k}": v.get("si_sdri") for k, v in oracles.items()}
