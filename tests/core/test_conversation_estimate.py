"""The run estimate of conversation mode covers the whole pipeline: the separator on the share of
the recording it is expected to read, and the other stages at their measured speed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from separation_core.engine.run_estimate import (
    CONVERSATION_READ_SHARE,
    CONVERSATION_STAGES_X_REALTIME,
    estimate_conversation,
    estimate_run,
)

ENTRY = SimpleNamespace(
    id="sep", kind="tcn", model_name="sep", num_parameters=1000, sample_rate=16000
)
BENCH = {
    "models": {
        "sep": {
            "sample_rate": 16000,
            "n_src": 2,
            "cpu": {"seconds": 60.0, "speed_x_realtime": 20.0},
            "long": {"minutes": 10.0, "speed_x_realtime": 10.0, "peak_mb": 500.0},
        }
    }
}


def test_the_whole_pipeline_is_the_separator_on_its_share_plus_the_stages():
    seconds = 1800.0
    got = estimate_conversation(ENTRY, seconds, BENCH, device="cpu")
    # 450 s of separation, a few seconds at a time: at the short input's speed (20x), not the
    # long one's
    separator = seconds * CONVERSATION_READ_SHARE / 20.0
    stages = sum(seconds / s for s in CONVERSATION_STAGES_X_REALTIME.values())
    assert got.seconds == pytest.approx(separator + stages)
    alone = estimate_run(ENTRY, 60.0, BENCH, device="cpu")
    # the memory of the separator's outputs over the whole recording
    assert got.peak_mb == estimate_run(ENTRY, seconds, BENCH, device="cpu").peak_mb
    assert got.conversation and not alone.conversation
    assert got.text().endswith(", the whole conversation pipeline")
    assert got.seconds < estimate_run(ENTRY, seconds, BENCH, device="cpu").seconds + stages


def test_without_a_figure_for_the_separator_it_says_so_for_its_share():
    got = estimate_conversation(ENTRY, 600.0, BENCH, device="cuda")
    assert got.seconds is None and got.text().startswith("no GPU figure (on the CPU ≈ ")
    assert got.text().endswith("(for its share of the conversation)")
    unknown = SimpleNamespace(**{**vars(ENTRY), "id": "other", "kind": "new"})
    assert estimate_conversation(unknown, 60.0, BENCH).text() == (
        "no estimate (for its share of the conversation)"
    )
