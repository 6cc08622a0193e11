"""scripts/train_overlap_detector.py with ``--stream``: the frame targets of a conversation drawn on
the fly against a count by hand; a few steps on such conversations from synthetic voices, validated
on a conversation set of the valid split; the detector it saves loads and says what it was trained
on."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import voice
from separation_core.conversation.overlap import load_detector
from separation_core.data.conversation import build_conversation_set
from separation_core.data.conversation_stream import ConversationStream
from separation_core.data.splits import select_split
from separation_core.io.audio_save import save_audio

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_overlap_detector.py"
SR = 16000


def _script():
    spec = importlib.util.spec_from_file_location("train_overlap_detector", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """30 speakers, each with two 5 s utterances."""
    root = tmp_path_factory.mktemp("speech") / "alpha"
    root.mkdir()
    for k in range(30):
        for u in range(2):
            x = voice(70.0 + 4 * k, 5.0, SR, seed=10 * k + u)
            save_audio(root / f"{3000 + k}-1-{u:04d}.flac", x, SR)
    assert len(select_split([root], "valid")) >= 2
    return root


def test_the_frame_targets_are_the_turns_at_each_frame_centre(speech):
    stream = ConversationStream(
        [speech], seconds=10.0, people_weights={2: 1}, overlap_share_range=(0.2, 0.3)
    )
    c = stream.draw(np.random.default_rng(7))
    hop = 160
    frames = 1 + len(c.mixture) // hop
    talking = np.zeros(len(c.mixture), dtype=int)
    for t in c.turns:
        talking[round(t.start * SR) : round(t.end * SR)] += 1
    expected = talking[np.minimum(np.arange(frames) * hop, len(talking) - 1)]
    expected[np.arange(frames) * hop >= len(talking)] = 0
    counts = _script().frame_counts(c.turns, len(c.sources), frames)
    np.testing.assert_array_equal(counts, expected)
    assert counts.max() == 2  # the share asked for makes two people overlap somewhere


def test_streamed_training_saves_a_detector_that_loads_and_records_its_data(speech, tmp_path):
    valid = tmp_path / "valid"
    build_conversation_set(
        [speech], valid, num=1, minutes=0.25, people=2, split="valid", seed=0, overlap_share=0.2
    )
    out = tmp_path / "detector.pt"
    argv = [
        "--stream",
        str(speech),
        "--valid",
        str(valid),
        "--steps",
        "3",
        "--valid-every",
        "3",
        "--batch",
        "2",
        "--pool",
        "4",
        "--fresh",
        "1",
        "--stream-rooms",
        "1",
        "--room-prob",
        "0",
        "--channels",
        "8",
        "--hidden",
        "8",
        "--cache",
        str(tmp_path / "cache"),
        "--out",
        str(out),
    ]
    assert _script().main(argv) == 0
    net = load_detector(out)
    info = torch.load(out, weights_only=True)["info"]
    assert info["trained_on"] == [str(speech)]
    assert info["streamed"]["pool"] == 4 and info["streamed"]["fresh_per_step"] == 1
    assert [row["step"] for row in info["curve"]] == [3]
    assert net.config == {"channels": 8, "hidden": 8}


def test_sets_and_a_stream_together_are_refused(speech, tmp_path, capsys):
    with pytest.raises(SystemExit):
        _script().main(
            [
                "--stream",
                str(speech),
                "--train",
                str(tmp_path),
                "--valid",
                str(tmp_path),
                "--out",
                str(tmp_path / "x.pt"),
            ]
        )
    assert "either --train sets or --stream" in capsys.readouterr().err
