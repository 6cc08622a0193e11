"""Hand-made results with known masks and embeddings, to check what the views draw."""

from __future__ import annotations

import numpy as np

from app.session import ResultRecord


def entry(model_id: str, *, needs_references: bool = False, kind: str = "mask"):
    from separation_core.checkpoints.catalog import ModelEntry

    return ModelEntry(
        id=model_id,
        model_name=model_id,
        kind=kind,
        sample_rate=16000,
        n_src=2,
        num_parameters=0,
        checkpoint=None,
        origin="builtin",
        needs_references=needs_references,
        trained=True,
    )


def record(
    model_id: str,
    waveforms: np.ndarray,
    masks: np.ndarray,
    stft,
    *,
    needs_references=False,
    embeddings=None,
    bins=None,
    labels=None,
) -> ResultRecord:
    from separation_core.models.result import SeparationResult

    result = SeparationResult(
        waveforms=np.asarray(waveforms, np.float32),
        sample_rate=16000,
        model_name=model_id,
        masks=masks,
        mask_kind="estimated",
        stft=stft,
        embeddings=embeddings,
        embedding_bins=bins,
        embedding_labels=labels,
    )
    return ResultRecord(
        model_id, entry(model_id, needs_references=needs_references), result, {}, 0.1
    )


def add_records(window, *records) -> None:
    for r in records:
        window.session.add_result(r)
    window.results_changed()
