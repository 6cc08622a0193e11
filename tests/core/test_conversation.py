"""``cocktail mix --conversation``: seeded long-form recordings of two speakers taking turns, in the
mixture-set format (synthetic voices in LibriSpeech-style file names; no ../shared needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import voice
from separation_core.cli import main
from separation_core.data.conversation import build_conversation_set
from separation_core.data.mixing import load_mixture_set
from separation_core.errors import CocktailError
from separation_core.io.audio_save import save_audio

SR = 16000


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """40 speakers (so that the test split has a few), two 5 s utterances each."""
    root = tmp_path_factory.mktemp("speech")
    for k in range(40):
        for u in range(2):
            x = voice(90.0 + 5 * k, 5.0, SR, seed=100 * k + u)
            save_audio(root / f"{1000 + k}-1-{u:04d}.flac", x, SR)
    return root


def test_conversations_take_turns_and_are_reproducible(speech, tmp_path):
    path = build_conversation_set([speech], tmp_path / "a", num=2, minutes=1.0, seed=4)
    items = load_mixture_set(tmp_path / "a")
    meta = json.loads(path.read_text())
    assert meta["mode"] == "conversation" and meta["conversation"]["pause_range"] == [0.3, 3.0]
    for item, entry in zip(items, meta["mixtures"]):
        assert item.sources.shape == (2, 60 * SR) and len(set(item.speakers)) == 2
        assert np.abs(item.mixture - item.sources.sum(0)).max() < 1e-6
        turns = np.array(entry["turns"])
        assert len(turns) >= 10 and set(turns[:, 0]) == {0, 1}
        act = entry["activity"]
        assert 0.02 < act["both"] < 0.35 and act["one"] > 0.4 and act["none"] > 0.05
    build_conversation_set([speech], tmp_path / "b", num=2, minutes=1.0, seed=4)
    again = load_mixture_set(tmp_path / "b")
    assert all(np.array_equal(a.mixture, b.mixture) for a, b in zip(items, again))


def test_the_mix_command_builds_reverberant_conversations(speech, tmp_path, capsys):
    out = tmp_path / "r"
    assert (
        main(
            [
                "mix",
                "--conversation",
                "0.5",
                "--num",
                "1",
                "--speech",
                str(speech),
                "--out",
                str(out),
                "--rooms",
                "simulated",
                "--quiet",
            ]
        )
        == 0
    )
    assert "conversations of 0.5 min" in capsys.readouterr().out
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["mixtures"][0]["room"]["kind"] == "simulated" and meta["reverb"] is not None
    assert (
        main(
            [
                "mix",
                "--conversation",
                "1",
                "--num",
                "1",
                "--speech",
                str(speech),
                "--out",
                str(out),
                "--noise",
                str(speech),
                "--overwrite",
                "--quiet",
            ]
        )
        == 2
    )


def test_bad_conversation_options(speech, tmp_path):
    with pytest.raises(CocktailError, match="pause range"):
        build_conversation_set([speech], tmp_path / "x", num=1, minutes=1.0, pause_range=(2.0, 1.0))
    with pytest.raises(CocktailError, match="minutes"):
        build_conversation_set([speech], tmp_path / "x", num=1, minutes=0)
