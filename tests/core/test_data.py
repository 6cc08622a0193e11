"""Speaker ids, the speaker-disjoint split, seeded mixture sets, dynamic mixing and `cocktail mix`."""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from separation_core.commands import mix as mix_command
from separation_core.data import (
    DynamicMixDataset,
    MixtureSetDataset,
    assign_splits,
    build_mixture_set,
    corpus_splits,
    hash_split,
    identify,
    load_mixture_set,
    scan_speech,
    select_split,
    speaker_of,
    split_speakers,
)
from separation_core.data.mixture_recipe import PEAK_LIMIT, draw_crop, place, place_at_speed
from separation_core.errors import CocktailError
from separation_core.io.audio_io import load_audio

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"]


def _voice(rng: np.random.Generator, seconds: float, sr: int, f0: float) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    tone = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6)) / h for h in (1, 2, 3))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t) ** 2
    return (0.2 * tone * envelope + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def _write(path: Path, x: np.ndarray, sr: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """9 digit-corpus speakers at 8 kHz (2 short files each) and one 16 kHz noise file."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(7)
    for k, name in enumerate(NAMES):
        for digit in (3, 8):
            _write(
                root / "digits" / "recordings" / f"{digit}_{name}_{k}.wav",
                _voice(rng, rng.uniform(0.3, 0.7), 8000, 110 + 25 * k),
                8000,
            )
    _write(root / "noise" / "hum.wav", 0.1 * rng.standard_normal(32000).astype(np.float32), 16000)
    return {"speech": root / "digits", "noise": root / "noise", "root": root}


# ---- speaker ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, family, speaker",
    [
        ("1034-121119-0000.flac", "librispeech", "1034"),
        ("19-198-0001.wav", "librispeech", "19"),
        ("p225_003.wav", "vctk", "p225"),
        ("p226_011_mic1.flac", "vctk", "p226"),
        ("s5_001.wav", "vctk", "s5"),
        ("7_george_12.wav", "digits", "george"),
        ("0_yweweler_49.wav", "digits", "yweweler"),
    ],
)
def test_file_name_rules(name, family, speaker):
    assert identify(Path("/corpus") / name) == (family, speaker)
    assert speaker_of(Path("/corpus") / name, family) == speaker


def test_folder_rules_and_unknown_names():
    root = Path("/corpus")
    assert speaker_of(root / "wav48" / "p231" / "take_1.wav", root=root) == "p231"
    assert speaker_of(root / "anna" / "day1" / "hello.wav", "folder", root) == "anna"
    assert speaker_of(root / "hello.wav", "folder", root) is None
    assert speaker_of(root / "anna" / "hello.wav") is None  # auto never guesses from folders
    assert speaker_of(root / "7_george_12.wav", "librispeech") is None
    assert speaker_of(root / "7_george_12.wav", "fsdd") == "george"
    with pytest.raises(CocktailError, match="unknown speaker naming rule"):
        speaker_of(root / "x.wav", "timit")


def test_scan_speech_recursive_extensions(tmp_path):
    for rel in [
        "a/1034-1-0.flac",
        "a/b/1034-2-0.WAV",
        "103-5-1.ogg",
        "c/p225_001.aiff",
        "d/4_theo_1.mp3",
        "p225/anything.aif",
        "notes.txt",
        ".hidden/1034-9-9.wav",
        "._1034-3-0.wav",
        "unknown.wav",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = scan_speech([tmp_path])
    assert sorted(found) == ["103", "1034", "p225", "theo"]
    assert [p.name for p in found["1034"]] == ["1034-1-0.flac", "1034-2-0.WAV"]
    assert sorted(p.name for p in found["p225"]) == ["anything.aif", "p225_001.aiff"]
    folders = scan_speech(tmp_path, rule="folder")
    assert sorted(folders) == ["a", "c", "d", "p225"]
    with pytest.raises(CocktailError, match="not found"):
        scan_speech(tmp_path / "missing")
    with pytest.raises(CocktailError, match="no audio file with a speaker id"):
        scan_speech(tmp_path / "c", rule="digits")


# ---- splits --------------------------------------------------------------------------------------


def _independent_hash_split(speaker: str) -> str:
    u = int(hashlib.sha1(f"cocktail-split:{speaker}".encode()).hexdigest()[:15], 16) / 16**15
    return "train" if u < 0.8 else "valid" if u < 0.9 else "test"


def test_split_is_hash_of_id_disjoint_covering_and_stable():
    ids = [str(1000 + 37 * k) for k in range(150)]
    full = assign_splits(ids)
    assert full == {s: _independent_hash_split(s) for s in ids}
    parts = [set(split_speakers(ids, name)) for name in ("train", "valid", "test")]
    assert set.union(*parts) == set(ids) and sum(map(len, parts)) == len(ids)
    assert all(len(p) >= 2 for p in parts)
    # adding or removing speakers never moves the others
    more = assign_splits(ids + [str(9000 + k) for k in range(30)])
    fewer = assign_splits(ids[:100])
    assert all(more[s] == full[s] for s in ids) and all(fewer[s] == full[s] for s in ids[:100])


def test_small_corpus_gives_every_split_speakers():
    six = NAMES[:6]
    split = assign_splits(six)
    counts = {name: list(split.values()).count(name) for name in ("train", "valid", "test")}
    assert counts == {"train": 2, "valid": 2, "test": 2}
    order = sorted(six, key=lambda s: hashlib.sha1(f"cocktail-split:{s}".encode()).hexdigest())
    assert [split[s] for s in order] == ["train"] * 2 + ["valid"] * 2 + ["test"] * 2
    three = assign_splits(NAMES[:3])
    assert sorted(three.values()) == ["test", "train", "valid"]
    assert set(assign_splits(["x", "y"]).values()) <= {"train", "valid", "test"}
    with pytest.raises(CocktailError, match="unknown split"):
        split_speakers(six, "dev")


def test_corpus_split_stable_with_files_and_other_corpora(corpus, tmp_path):
    before, files = corpus_splits(corpus["speech"])
    assert sorted(before) == NAMES and all(len(v) == 2 for v in files.values())
    extra = tmp_path / "extra"
    _write(extra / "5_alice_99.wav", np.full(800, 0.1, np.float32), 8000)
    for k in range(40):  # a LibriSpeech corpus beside it: hash rule, digits still split alone
        (extra / f"{200 + k}-1-0.flac").write_bytes(b"")
    after, files_after = corpus_splits([corpus["speech"], extra])
    # several folders: each is one corpus and keys are corpus/id; the split of each id is unchanged
    assert all(after[f"digits/{s}"] == before[s] for s in NAMES)
    assert (
        len(files_after["digits/alice"]) == 2 and len(files_after["extra/alice"]) == 1
    )  # two people
    assert all(after[f"extra/{200 + k}"] == hash_split(str(200 + k)) for k in range(40))
    test = select_split(corpus["speech"], "test")
    assert sorted(test) == sorted(s for s in NAMES if before[s] == "test")


def test_auto_reads_one_folder_per_speaker_corpora_and_keeps_corpora_apart(tmp_path):
    for corpus, speakers in (
        ("ocean", ["so0001", "so0002", "so0003"]),
        ("voices", ["cv_a", "cv_b", "so0001"]),
    ):
        for speaker in speakers:
            for u in range(2):
                (tmp_path / corpus / speaker).mkdir(parents=True, exist_ok=True)
                (tmp_path / corpus / speaker / f"{u:09d}.ogg").write_bytes(b"")
    assert sorted(scan_speech(tmp_path / "ocean")) == ["so0001", "so0002", "so0003"]
    split, files = corpus_splits([tmp_path / "ocean", tmp_path / "voices"])
    assert sorted(split) == [
        "ocean/so0001",
        "ocean/so0002",
        "ocean/so0003",
        "voices/cv_a",
        "voices/cv_b",
        "voices/so0001",
    ]
    assert files["ocean/so0001"] != files["voices/so0001"]
    for corpus in (
        "ocean",
        "voices",
    ):  # small corpora: rule 2 gives each split a speaker, per corpus
        assert sorted(v for k, v in split.items() if k.startswith(corpus)) == [
            "test",
            "train",
            "valid",
        ]
    # a folder with unknown files at its top level is not a speaker-per-folder corpus
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "a").mkdir()
    (tmp_path / "loose" / "a" / "x.wav").write_bytes(b"")
    (tmp_path / "loose" / "b.wav").write_bytes(b"")
    with pytest.raises(CocktailError, match="no audio file with a speaker id"):
        scan_speech(tmp_path / "loose")


@pytest.mark.shared_data
@pytest.mark.skipif(not (DATA / "speech").is_dir(), reason="needs ../shared/data")
def test_every_shared_corpus_is_split_within_itself():
    dirs = sorted(p for p in (DATA / "speech").iterdir() if p.is_dir())
    split, _ = corpus_splits(dirs)
    corpora = {key.split("/")[0] for key in split}
    assert corpora == {d.name for d in dirs}
    for corpus in ("librispeech-train-clean-100", "speechocean762"):
        names = [v for k, v in split.items() if k.startswith(corpus + "/")]
        assert {"train", "valid", "test"} <= set(names), corpus


# ---- mixture sets --------------------------------------------------------------------------------


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _energy_db(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(np.sum(a.astype(np.float64) ** 2) / np.sum(b.astype(np.float64) ** 2))


def test_build_mixture_set_reproducible_and_seed_dependent(corpus, tmp_path):
    kw = dict(num=3, split="test", noise_dirs=corpus["noise"], snr_range=(0, 10))
    build_mixture_set(corpus["speech"], tmp_path / "a", seed=4, **kw)
    time.sleep(1.05)  # nothing in the files may depend on the time of writing
    build_mixture_set(corpus["speech"], tmp_path / "b", seed=4, **kw)
    build_mixture_set(corpus["speech"], tmp_path / "c", seed=5, **kw)
    a, b, c = (_files(tmp_path / n) for n in "abc")
    assert len(a) == 1 + 3 * 4 and a == b
    assert a["mix/00000.wav"] != c["mix/00000.wav"]
    # a larger set extends the smaller one
    build_mixture_set(corpus["speech"], tmp_path / "d", seed=4, **{**kw, "num": 4})
    d = _files(tmp_path / "d")
    assert all(d[k] == a[k] for k in a if k.endswith(".wav"))


@pytest.mark.parametrize("mode, speakers, split", [("min", 2, "test"), ("max", 3, "train")])
def test_mixture_set_matches_metadata(corpus, tmp_path, mode, speakers, split):
    out = tmp_path / "set"
    meta_path = build_mixture_set(
        corpus["speech"],
        out,
        num=4,
        speakers=speakers,
        mode=mode,
        split=split,
        sir_range=(-5, 5),
        noise_dirs=corpus["noise"],
        snr_range=(-5, 10),
        seed=1,
    )
    meta = json.loads(meta_path.read_text())
    allowed = set(select_split(corpus["speech"], split))
    assert meta["num_speakers"] == speakers and len(meta["mixtures"]) == 4
    for entry in meta["mixtures"]:
        mix, sr = sf.read(out / entry["files"]["mix"], dtype="float32")
        assert sr == 16000 and len(mix) == entry["frames"]
        srcs = np.stack(
            [sf.read(out / rel, dtype="float32")[0] for rel in entry["files"]["sources"]]
        )
        noise = sf.read(out / entry["files"]["noise"], dtype="float32")[0]
        np.testing.assert_array_equal(
            mix, srcs.astype(np.float64).sum(0) + noise
        )  # exact on the 24-bit grid
        assert max(np.abs(mix).max(), np.abs(srcs).max(), np.abs(noise).max()) <= PEAK_LIMIT + 1e-6
        spk = [s["speaker"] for s in entry["sources"]]
        assert len(set(spk)) == speakers and set(spk) <= allowed
        raw = []
        for k, s in enumerate(entry["sources"]):
            x = load_audio(s["path"], sample_rate=16000).samples
            raw.append(len(x))
            assert s["frames"] == min(len(x) - s["crop_start"], entry["frames"] - s["offset"])
            rebuilt = place(x, entry["frames"], s["crop_start"], s["offset"]) * 10 ** (
                s["gain_db"] / 20
            )
            np.testing.assert_allclose(srcs[k], rebuilt, atol=1e-5)
            assert s["level_db"] == pytest.approx(
                10 * np.log10(np.mean(srcs[k].astype(np.float64) ** 2)), abs=1e-3
            )
        assert entry["frames"] == (min(raw) if mode == "min" else max(raw))
        levels = entry["relative_levels_db"]
        for k in range(1, speakers):
            sir = _energy_db(srcs[0], srcs[k])
            assert sir == pytest.approx(levels[0] - levels[k], abs=1e-3)
            assert -5 <= sir <= 5
        snr = _energy_db(srcs.sum(0), noise)
        assert snr == pytest.approx(entry["noise"]["snr_db"], abs=1e-3) and -5 <= snr <= 10

    items = load_mixture_set(out)
    assert [it.id for it in items] == [e["id"] for e in meta["mixtures"]]
    assert (
        items[0].sources.shape == (speakers, len(items[0].mixture)) and items[0].noise is not None
    )
    ds = MixtureSetDataset(out, sample_rate=8000, limit=2)
    m, s = ds[1]
    assert len(ds) == 2 and m.dtype == torch.float32 and s.shape == (speakers, m.shape[0])
    assert abs(m.shape[0] - meta["mixtures"][1]["frames"] / 2) <= 1


def test_mixture_set_refuses_bad_requests(corpus, tmp_path):
    out = tmp_path / "set"
    build_mixture_set(corpus["speech"], out, num=3, seed=0)
    with pytest.raises(CocktailError, match="not empty"):
        build_mixture_set(corpus["speech"], out, num=2, seed=0)
    (out / "keep.txt").write_text("mine")
    build_mixture_set(corpus["speech"], out, num=2, seed=0, overwrite=True)
    assert sorted(p.name for p in (out / "mix").iterdir()) == ["00000.wav", "00001.wav"]
    assert (out / "keep.txt").read_text() == "mine"
    with pytest.raises(CocktailError, match="3 are needed"):
        build_mixture_set(corpus["speech"], tmp_path / "x", num=1, speakers=3, split="test")
    with pytest.raises(CocktailError, match="without a noise folder"):
        build_mixture_set(corpus["speech"], tmp_path / "y", num=1, snr_range=(0, 5))
    with pytest.raises(CocktailError, match="inside the speech folder"):
        build_mixture_set(corpus["speech"], corpus["speech"] / "mixes", num=1)
    with pytest.raises(CocktailError, match="not a mixture set"):
        load_mixture_set(tmp_path)


# ---- dynamic mixing ------------------------------------------------------------------------------


def _dataset(corpus, **kw) -> DynamicMixDataset:
    args = dict(split="train", speakers=2, segment_seconds=0.5, epoch_size=8, seed=3)
    return DynamicMixDataset(corpus["speech"], **{**args, **kw})


def test_dynamic_mixing_deterministic_per_seed_epoch_rank(corpus):
    a, b = _dataset(corpus), _dataset(corpus)
    mix, src = a[0]
    assert mix.shape == (8000,) and src.shape == (2, 8000)
    assert mix.dtype == torch.float32 and src.dtype == torch.float32
    torch.testing.assert_close(mix, src.sum(0))
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(len(a)))
    assert not torch.equal(a[0][0], a[1][0])
    b.set_epoch(1)
    assert not any(torch.equal(a[i][0], b[i][0]) for i in range(len(a)))
    r0, r1 = (_dataset(corpus, rank=r, world_size=2) for r in (0, 1))
    assert len(r0) == len(r1) == 4
    assert not torch.equal(r0[0][0], r1[0][0])
    for i in range(4):  # the union over ranks is the single-process epoch
        assert torch.equal(r0[i][0], a[2 * i][0]) and torch.equal(r1[i][0], a[2 * i + 1][0])
    with pytest.raises(IndexError):
        a[len(a)]


def test_dynamic_mixing_speakers_padding_levels_and_noise(corpus):
    train = set(select_split(corpus["speech"], "train"))
    ds = _dataset(
        corpus,
        speakers=3,
        segment_seconds=1.0,
        sir_range=(2, 2),
        noise_dirs=corpus["noise"],
        snr_range=(5, 5),
    )
    for i in range(len(ds)):
        comp, speakers = ds.draw(i)
        assert len(set(speakers)) == 3 and set(speakers) <= train
        # utterances are under 0.7 s: each source is zero-padded inside the 1 s segment
        assert all(np.count_nonzero(s == 0) >= 0.3 * 16000 for s in comp.sources)
        assert _energy_db(comp.sources[0], comp.sources[1]) == pytest.approx(2, abs=1e-3)
        assert _energy_db(comp.sources.sum(0), comp.noise) == pytest.approx(5, abs=1e-3)
        np.testing.assert_allclose(comp.mixture, comp.sources.sum(0) + comp.noise, atol=1e-6)
    with pytest.raises(CocktailError, match="outside the world"):
        _dataset(corpus, rank=2, world_size=2)


@pytest.mark.parametrize("factor", [0.9, 1.0, 1.13])
def test_place_at_speed_is_the_sped_up_signal(factor):
    sr, f0, length = 16000, 180.0, 6000
    x = np.sin(2 * np.pi * f0 * np.arange(3 * sr) / sr).astype(np.float32)
    for seed in range(4):
        y = place_at_speed(np.random.default_rng(seed), x, length, factor)
        crop, offset = draw_crop(np.random.default_rng(seed), int(round(len(x) / factor)), length)
        n = np.arange(length)
        expected = np.sin(2 * np.pi * f0 * factor * (n - offset + crop) / sr)  # x(factor * t)
        inner = slice(300, length - 300)  # away from the utterance's own ends
        assert y.shape == (length,) and y.dtype == np.float32
        # the excerpt starts on the input's sample grid: up to half an output sample from crop
        half_sample = np.pi * f0 * factor / sr
        np.testing.assert_allclose(y[inner], expected[inner], atol=half_sample + 2e-3)


def test_place_at_speed_pads_short_utterances():
    x = np.ones(1000, dtype=np.float32)
    y = place_at_speed(np.random.default_rng(0), x, 4000, 0.8)  # 1250 samples once slowed down
    assert y.shape == (4000,)
    assert abs(np.count_nonzero(np.abs(y) > 0.5) - 1250) <= 20
    assert np.count_nonzero(y == 0) >= 2700


def test_dynamic_mixing_speed_perturbation(corpus):
    plain, slow = _dataset(corpus), _dataset(corpus, speed_range=(0.8, 0.8))
    fast = _dataset(corpus, speed_range=(1.25, 1.25))
    # the 8 kHz digit voices are 0.3-0.7 s: padded inside 0.5 s, their voiced length scales by 1/factor
    voiced = [
        np.mean([np.count_nonzero(s) for i in range(len(ds)) for s in ds.draw(i)[0].sources])
        for ds in (slow, plain, fast)
    ]
    assert voiced[0] > voiced[1] > voiced[2]
    for ds in (slow, fast):
        comp, _ = ds.draw(0)
        np.testing.assert_allclose(comp.mixture, comp.sources.sum(0), atol=1e-6)
        assert torch.equal(ds[3][0], _dataset(corpus, speed_range=ds.speed_range)[3][0])
    assert plain.speed_range is None and not torch.equal(plain[0][0], fast[0][0])
    for bad in ((0.0, 1.1), (1.1, 0.9), (1.0,)):
        with pytest.raises(CocktailError, match="speed range"):
            _dataset(corpus, speed_range=bad)


# ---- the `mix` command ---------------------------------------------------------------------------


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cocktail")
    mix_command.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_mix_command_negative_ranges_and_run(corpus, tmp_path, capsys):
    out = tmp_path / "cli"
    args = _parse(
        [
            "mix",
            "--speech",
            str(corpus["speech"]),
            "--noise",
            str(corpus["noise"]),
            "--out",
            str(out),
            "--num",
            "2",
            "--sir-range",
            "-5,5",
            "--snr-range",
            "-3.5,-1",
            "--seed",
            "2",
            "--quiet",
        ]
    )
    assert args.sir_range == (-5.0, 5.0) and args.snr_range == (-3.5, -1.0)
    assert args.split == "test" and args.speakers == 2 and args.mode == "min"
    assert args.run(args) == 0
    assert "wrote 2 mixtures" in capsys.readouterr().out
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["sir_range"] == [-5.0, 5.0] and all(
        -3.5 <= m["noise"]["snr_db"] <= -1 for m in meta["mixtures"]
    )
    assert _parse(
        ["mix", "--speech", "d", "--out", "o", "--num", "1", "--sir-range=-2,0"]
    ).sir_range == (-2.0, 0.0)
    with pytest.raises(CocktailError, match="not empty"):
        mix_command.run(args)
    for bad in (["--sir-range", "5,-5"], ["--sir-range", "-5"], ["--speakers", "4"]):
        with pytest.raises(SystemExit):
            _parse(["mix", "--speech", "d", "--out", "o", "--num", "1", *bad])


def test_cli_mix_refusal_is_one_line(corpus, tmp_path, capsys):
    from separation_core.cli import main

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    code = main(
        [
            "mix",
            "--speech",
            str(corpus["speech"]),
            "--out",
            str(tmp_path / "full"),
            "--num",
            "1",
            "--sir-range",
            "-5,5",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("cocktail: error: ") and "not empty" in err[-1]


# ---- real data -----------------------------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.skipif(not DATA.exists(), reason="needs ../shared/data (LibriSpeech excerpts)")
def test_real_librispeech_test_mixtures(tmp_path):
    speech = DATA / "speech" / "librispeech-train-clean-100"
    test_speakers = set(select_split(speech, "test"))
    assert 15 <= len(test_speakers) <= 40
    assert all(hash_split(s) == "test" for s in test_speakers)
    build_mixture_set(speech, tmp_path / "real", num=3, split="test", seed=0)
    items = load_mixture_set(tmp_path / "real")
    assert len(items) == 3
    for it in items:
        assert set(it.speakers) <= test_speakers and len(set(it.speakers)) == 2
        assert it.mixture.shape[0] > 5 * 16000
        np.testing.assert_allclose(it.mixture, it.sources.sum(0), atol=1e-6)
