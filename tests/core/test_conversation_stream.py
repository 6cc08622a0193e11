"""Conversations drawn on the fly for the overlap detector (``ConversationStream``): lengths, the
sum, each person silent outside their turns (in seconds, as a set's metadata gives them), seeding,
and bad options (synthetic voices, no ../shared needed)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import noise, voice
from separation_core.data.conversation_stream import ConversationStream
from separation_core.data.splits import select_split
from separation_core.errors import CocktailError
from separation_core.io.audio_save import save_audio

SR = 8000
SECONDS = 10.0


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """One corpus of 24 speakers; those of the train split get two 5 s utterances."""
    root = tmp_path_factory.mktemp("speech") / "alpha"
    root.mkdir()
    for k in range(24):
        save_audio(root / f"{2000 + k}-1-0000.flac", voice(100.0, 0.5, SR), SR)
    for key in select_split([root], "train"):
        speaker = key.split("/")[-1]
        for u in range(2):
            x = voice(60.0 + int(speaker) % 89 * 2, 5.0, SR, seed=10 * int(speaker) + u)
            save_audio(root / f"{speaker}-1-{u:04d}.flac", x, SR, overwrite=True)
    return root


@pytest.fixture(scope="module")
def stream(speech):
    return ConversationStream(
        [speech],
        seconds=SECONDS,
        sample_rate=SR,
        people_weights={2: 1, 3: 1},
        overlap_share_range=(0.2, 0.3),
    )


def test_a_drawn_conversation_is_its_people_summed_each_heard_only_in_their_turns(stream):
    for seed in range(4):
        c = stream.draw(np.random.default_rng(seed))
        assert c.mixture.shape == (int(SECONDS * SR),)
        assert c.sources.shape[0] in (2, 3) and c.sources.shape[1] == c.mixture.shape[0]
        np.testing.assert_allclose(c.sources.sum(0), c.mixture, atol=1e-6)
        for k, source in enumerate(c.sources):
            inside = np.zeros(len(source), dtype=bool)
            for t in c.turns:
                if t.speaker == k:
                    inside[round(t.start * SR) : round(t.end * SR)] = True
            assert np.any(np.abs(source[inside]) > 0) or not inside.any()
            assert not np.any(source[~inside])
        assert len({t.speaker for t in c.turns}) >= 2


def test_draws_repeat_with_their_generator_and_differ_without_it(stream):
    a, b = (stream.draw(np.random.default_rng(3)) for _ in range(2))
    np.testing.assert_array_equal(a.mixture, b.mixture)
    c = stream.draw(np.random.default_rng(4))
    assert not np.array_equal(a.mixture, c.mixture)


def test_noise_is_added_with_its_probability(speech, tmp_path):
    save_audio(tmp_path / "hum.wav", noise(60.0, SR, seed=1, color="pink"), SR)
    noisy = ConversationStream(
        [speech], seconds=SECONDS, sample_rate=SR, noise_dirs=[tmp_path], noise_prob=1.0
    )
    c = noisy.draw(np.random.default_rng(0))
    residual = c.mixture - c.sources.sum(0)
    assert np.sqrt(np.mean(residual**2)) > 1e-4


@pytest.mark.parametrize(
    "options, message",
    [
        ({"people_weights": {0: 1.0}}, "people weights"),
        ({"people_weights": {2: -1.0}}, "people weights"),
        ({"overlap_share_range": (0.3, 0.1)}, "overlap share range"),
        ({"seconds": 0}, "more than 0 s"),
        ({"people_weights": {40: 1.0}}, "need 40"),
    ],
)
def test_bad_options_are_refused_in_one_line(speech, options, message):
    with pytest.raises(CocktailError, match=message) as err:
        ConversationStream([speech], sample_rate=SR, **options)
    assert "\n" not in str(err.value)
