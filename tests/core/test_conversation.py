"""``cocktail mix --conversation``: seeded long-form recordings of 1-8 people taking turns, with the
true turns (metadata.json and RTTM), in the mixture-set format (synthetic voices in LibriSpeech-style
file names, two corpora; no ../shared needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import noise, voice
from separation_core.cli import main
from separation_core.data.conversation import build_conversation_set
from separation_core.data.mixing import load_mixture_set
from separation_core.data.splits import select_split
from separation_core.errors import CocktailError
from separation_core.io.audio_save import save_audio

SR = 16000
FAST_SR = 8000  # the 3-minute sets


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """Three corpora of 40 speakers; those of the test split (about 4 a corpus) get two 5 s
    utterances, the others a 0.5 s one (too short for a conversation, so not drawn)."""
    root = tmp_path_factory.mktemp("speech")
    dirs = [root / name for name in ("alpha", "beta", "gamma")]
    for d in dirs:
        d.mkdir()
        for k in range(40):
            save_audio(d / f"{1000 + k}-1-0000.flac", voice(100.0, 0.5, SR), SR)
    for key in select_split(dirs, "test"):
        corpus, speaker = key.split("/")
        for u in range(2):
            x = voice(40.0 + int(speaker) % 97 * 2, 5.0, SR, seed=10 * int(speaker) + u)
            save_audio(root / corpus / f"{speaker}-1-{u:04d}.flac", x, SR, overwrite=True)
    return dirs


@pytest.fixture(scope="module")
def noise_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("noise")
    save_audio(root / "hum.wav", noise(60.0, SR, seed=3, color="pink"), SR)
    return root


def _turn_mask(turns: list[dict], k: int, frames: int, rate: int) -> np.ndarray:
    mask = np.zeros(frames, dtype=bool)
    for t in turns:
        if t["speaker"] == k:
            mask[round(t["start"] * rate) : round(t["end"] * rate)] = True
    return mask


@pytest.mark.parametrize("people", [1, 3, 8])
def test_each_reference_talks_in_its_turns_and_nowhere_else(corpora, tmp_path, people):
    path = build_conversation_set(corpora, tmp_path, num=1, minutes=1.0, people=people, seed=2)
    item = load_mixture_set(tmp_path)[0]
    entry = json.loads(path.read_text())["mixtures"][0]
    assert item.sources.shape == (people, 60 * SR) and len(set(item.speakers)) == people
    assert np.abs(item.mixture - item.sources.sum(0)).max() < 1e-6
    # Each corpus's test split has fewer than 8 speakers: 8 people come from several, fewer from one.
    assert (len({s["corpus"] for s in entry["sources"]}) > 1) == (people == 8)
    hop = SR // 50  # 20 ms
    for k in range(people):
        mask = _turn_mask(entry["turns"], k, item.sources.shape[1], SR)
        ref = item.sources[k]
        assert mask.any() and np.all(ref[~mask] == 0)
        # every 20 ms frame inside a turn (10 ms fades aside) is within 30 dB of the person's level
        inside = np.flatnonzero(
            [
                mask[max(0, f * hop - 160) : f * hop + hop + 160].all()
                for f in range(len(ref) // hop)
            ]
        )
        frame_rms = np.sqrt(np.mean(ref[: len(ref) // hop * hop].reshape(-1, hop) ** 2, axis=1))
        assert frame_rms[inside].min() > np.sqrt(np.mean(ref[mask] ** 2)) * 10 ** (-30 / 20)
        own = sorted((t["start"], t["end"]) for t in entry["turns"] if t["speaker"] == k)
        assert all(a[1] < b[0] for a, b in zip(own, own[1:]))  # a person's turns never overlap
        assert entry["sources"][k]["turns"] == len(own)
    if people == 1:
        assert entry["overlap_share"] == 0.0


@pytest.mark.parametrize(("people", "share"), [(2, 0.02), (3, 0.12), (4, 0.12)])
def test_the_overlap_share_is_the_one_asked(corpora, tmp_path, people, share):
    """Three minutes: the share of speech time where two talk, from the turns and from the
    references' samples, is within 0.02 of the asked one; never three at once."""
    path = build_conversation_set(
        corpora,
        tmp_path,
        num=1,
        minutes=3.0,
        people=people,
        overlap_share=share,
        seed=5,
        sample_rate=FAST_SR,
    )
    entry = json.loads(path.read_text())["mixtures"][0]
    frames = entry["frames"]
    talking = sum(_turn_mask(entry["turns"], k, frames, FAST_SR) for k in range(people))
    from_turns = np.mean(talking[talking > 0] >= 2)
    assert talking.max() == 2 and entry["overlap_share"] == pytest.approx(from_turns, abs=1e-4)
    assert abs(from_turns - share) < 0.02
    refs = load_mixture_set(tmp_path)[0].sources
    hop = FAST_SR // 50
    active = (refs[:, : frames // hop * hop].reshape(people, -1, hop) != 0).any(axis=-1).sum(0)
    assert abs(np.mean(active[active > 0] >= 2) - share) < 0.02


def test_recordings_are_reproducible_and_depend_on_their_index_only(corpora, tmp_path):
    build_conversation_set(corpora, tmp_path / "a", num=2, minutes=0.5, people=3, seed=4)
    build_conversation_set(corpora, tmp_path / "b", num=1, minutes=0.5, people=3, seed=4)
    first = load_mixture_set(tmp_path / "a")
    again = load_mixture_set(tmp_path / "b")[0]
    assert np.array_equal(first[0].mixture, again.mixture) and first[0].speakers == again.speakers
    assert not np.array_equal(first[0].mixture, first[1].mixture)


def _rttm_turns(path) -> tuple[set, list]:
    """The file ids and the sorted ``(name, start, end)`` of an RTTM file, read by hand."""
    lines = [line.split() for line in path.read_text().splitlines()]
    assert all(len(f) == 10 and f[0] == "SPEAKER" and f[2] == "1" for f in lines)
    assert all(f[5] == f[6] == f[8] == f[9] == "<NA>" for f in lines)
    turns = sorted((f[7], float(f[3]), float(f[3]) + float(f[4])) for f in lines)
    return {f[1] for f in lines}, turns


def test_the_mix_command_adds_noise_rooms_and_an_rttm_per_recording(
    corpora, noise_dir, tmp_path, capsys
):
    common = ["mix", "--conversation", "0.5", "--num", "2", "--people", "3", "--quiet"]
    common += [arg for c in corpora for arg in ("--speech", str(c))]
    assert main([*common, "--out", str(tmp_path / "clean")]) == 0
    assert "2 conversations of 0.5 min, 3 people each" in capsys.readouterr().out
    noisy = [*common, "--out", str(tmp_path / "wet"), "--noise", str(noise_dir)]
    assert main([*noisy, "--snr-range", "5,5", "--rooms", "simulated"]) == 0
    clean = json.loads((tmp_path / "clean" / "metadata.json").read_text())
    wet = json.loads((tmp_path / "wet" / "metadata.json").read_text())
    for dry_entry, entry, item in zip(
        clean["mixtures"], wet["mixtures"], load_mixture_set(tmp_path / "wet")
    ):
        assert entry["turns"] == dry_entry["turns"]  # the same conversation, in a room and noise
        assert entry["room"]["kind"] == "simulated" and len(set(entry["room"]["positions"])) == 3
        speech = item.sources.sum(0)
        assert np.abs(item.mixture - speech - item.noise).max() < 1e-6
        snr = 20 * np.log10(np.sqrt(np.mean(speech**2)) / np.sqrt(np.mean(item.noise**2)))
        assert snr == pytest.approx(5.0, abs=0.01)
        file_ids, rttm = _rttm_turns(tmp_path / "wet" / "mix" / f"{entry['id']}.rttm")
        names = [s["name"] for s in entry["sources"]]
        assert file_ids == {entry["id"]} and names == ["s1", "s2", "s3"]
        truth = sorted((names[t["speaker"]], t["start"], t["end"]) for t in entry["turns"])
        assert [r[0] for r in rttm] == [t[0] for t in truth]
        np.testing.assert_allclose([r[1:] for r in rttm], [t[1:] for t in truth], atol=0.0011)


def test_bad_conversation_options_are_refused_in_one_line(corpora, tmp_path, capsys):
    for options, message in [
        ({"people": 0}, "1 to 8 people, got 0"),
        ({"people": 9}, "1 to 8 people, got 9"),
        ({"overlap_share": 0.6}, "overlap share must be between 0 and 0.5"),
        ({"overlap_share": -0.1}, "overlap share must be between 0 and 0.5"),
        ({"people": 1, "overlap_share": 0.1}, "one person cannot overlap"),
        ({"turn_range": (8.0, 1.0)}, "turn range"),
        ({"pause_range": (2.0, 1.0)}, "pause range"),
        ({"snr_range": (0.0, 5.0)}, "SNR range was given without a noise folder"),
        ({"minutes": 0}, "minutes"),
    ]:
        with pytest.raises(CocktailError, match=message):
            build_conversation_set(corpora, tmp_path / "x", num=1, **{"minutes": 1.0, **options})
    base = ["mix", "--conversation", "1", "--num", "1", "--speech", str(corpora[0])]
    base += ["--out", str(tmp_path / "y"), "--quiet"]
    for extra, message in [
        (["--people", "0"], "argument --people: must be at least 1, got '0'"),
        (["--people", "9"], "argument --people: must be at most 8, got '9'"),
        (["--overlap-share", "0.6"], "argument --overlap-share: must be at most 0.5"),
        (["--turn-range", "8,1"], "argument --turn-range: range '8,1' has its low end above"),
    ]:
        with pytest.raises(SystemExit) as info:
            main([*base, *extra])
        assert info.value.code == 2 and message in capsys.readouterr().err.splitlines()[-1]
    assert main([*base, "--speakers", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "takes --people N" in err
