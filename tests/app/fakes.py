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


def open_meeting(qtbot, window, folder, references: bool = False, made=None):
    """The synthetic three-person meeting (``tests/meeting_helpers.py``; ``made``: another
    ``(result, voices, mixture)``) opened in ``window``, its voices as references if asked, and
    its conversation result (as the separation job makes it, correctable) selected -> ``(result,
    voices, mixture)``."""
    import soundfile as sf
    from meeting_helpers import SR, meeting_result

    from app.jobs.separation import compact_for_display
    from app.meeting import Meeting
    from conftest import open_mixture

    result, voices, mixture = meeting_result() if made is None else made
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / "meeting.wav", mixture, SR, subtype="FLOAT")
    refs = []
    for k, v in enumerate(voices if references else ()):
        refs.append(folder / f"ref{k + 1}.wav")
        sf.write(refs[-1], v, SR, subtype="FLOAT")
    open_mixture(qtbot, window, folder / "meeting.wav", refs)
    meeting = Meeting.of_result(result, mixture)
    shown = compact_for_display(meeting.result(result))  # as the separation job keeps it
    record = ResultRecord("conv", entry("conv"), shown, {"mode": "conversation"}, 1.0, None, None)
    record.meeting = meeting
    window.session.add_result(record)
    window.session.selected = "conv"
    window.playback.user_chose = True
    window.results_changed()
    return result, voices, mixture
