"""The headless command line, run in-process through ``cli.main`` and once as a real process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import LIBRISPEECH_DIR, needs_data, si_sdr_reference, two_voices
from separation_core.checkpoints.store import save_checkpoint
from separation_core.cli import main
from separation_core.models import get_model_class, model_names

SR = 16000


@pytest.fixture
def mixture_files(tmp_path):
    sources, mixture = two_voices(3.0, SR, seed=2)
    paths = {"mix": tmp_path / "in" / "talk.wav"}
    paths["mix"].parent.mkdir()
    sf.write(paths["mix"], mixture, SR, subtype="FLOAT")
    for k, s in enumerate(sources):
        paths[f"s{k + 1}"] = tmp_path / "in" / f"ref{k + 1}.wav"
        sf.write(paths[f"s{k + 1}"], s, SR, subtype="FLOAT")
    return paths, sources, mixture


def test_separate_with_oracle_writes_stems_and_sidecar(mixture_files, tmp_path, capsys):
    paths, sources, mixture = mixture_files
    out = tmp_path / "out"
    code = main(
        [
            "separate",
            str(paths["mix"]),
            "--model",
            "oracle-irm",
            "--out",
            str(out),
            "--refs",
            str(paths["s1"]),
            str(paths["s2"]),
            "--subtype",
            "FLOAT",
            "--quiet",
        ]
    )
    assert code == 0
    stems = [out / "talk_s1.wav", out / "talk_s2.wav"]
    for k, stem in enumerate(stems):
        est, sr = sf.read(stem, dtype="float32")
        assert sr == SR and len(est) == len(mixture)
        assert si_sdr_reference(est, sources[k]) > si_sdr_reference(mixture, sources[k]) + 8
    side = json.loads((out / "talk.json").read_text())
    assert side["model"]["id"] == "oracle-irm" and len(side["input_sha256"]) == 64
    assert side["outputs"] == ["talk_s1.wav", "talk_s2.wav"] and side["samples"] == len(mixture)
    assert {"torch", "numpy", "cocktail"} <= set(side["versions"]) and side["timings"]["total"] > 0

    # A second run refuses to overwrite; --overwrite replaces.
    before = stems[0].stat().st_mtime_ns
    assert (
        main(
            [
                "separate",
                str(paths["mix"]),
                "--model",
                "oracle-irm",
                "--out",
                str(out),
                "--refs",
                str(paths["s1"]),
                str(paths["s2"]),
                "--quiet",
            ]
        )
        == 1
    )
    assert "already exists" in capsys.readouterr().err and stems[0].stat().st_mtime_ns == before
    assert (
        main(
            [
                "separate",
                str(paths["mix"]),
                "--model",
                "oracle-irm",
                "--out",
                str(out),
                "--refs",
                str(paths["s1"]),
                str(paths["s2"]),
                "--quiet",
                "--overwrite",
            ]
        )
        == 0
    )


def test_resampled_input_keeps_rate_and_length(tmp_path):
    sources, mixture = two_voices(2.0, 22050, seed=3)
    path = tmp_path / "odd.flac"
    sf.write(path, np.stack([mixture, mixture * 0.5], axis=1), 22050, subtype="PCM_24")
    model = get_model_class("convtasnet")(
        n_filters=16, filter_length=16, bottleneck=8, hidden=16, skip=8, n_blocks=2, n_repeats=1
    )
    ckpt = save_checkpoint(tmp_path / "tiny.pt", model)
    assert (
        main(
            [
                "separate",
                str(path),
                "--model",
                str(ckpt),
                "--out",
                str(tmp_path / "o"),
                "--quiet",
                "--chunk-seconds",
                "0.5",
            ]
        )
        == 0
    )
    for k in (1, 2):
        info = sf.info(tmp_path / "o" / f"odd_s{k}.wav")
        assert info.samplerate == 22050 and info.frames == len(mixture)


def test_bad_input_is_one_line_and_the_others_still_run(mixture_files, tmp_path, capsys):
    paths, _, _ = mixture_files
    garbage = tmp_path / "in" / "garbage.wav"
    garbage.write_bytes(b"RIFF\x00\x00not really a wav file at all" * 10)
    code = main(
        [
            "separate",
            str(garbage),
            str(paths["mix"]),
            "--model",
            "denoise-wiener",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "garbage.wav" in lines[0] and "Traceback" not in err
    assert (tmp_path / "o" / "talk_s1.wav").exists() and (tmp_path / "o" / "talk_s2.wav").exists()


def test_a_short_input_in_auto_mode_states_its_stems_and_why(mixture_files, tmp_path, capsys):
    """Under 20 s, --mode auto keeps the model's own outputs: the line says how many and why."""
    paths, _, _ = mixture_files
    out = tmp_path / "o"
    args = ["separate", str(paths["mix"]), "--model", "convtasnet-libri-16k", "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "talk.wav: 2 stems, the model's own outputs (conversation mode starts at 20 s" in err
    assert sorted(p.name for p in out.glob("*.wav")) == ["talk_s1.wav", "talk_s2.wav"]
    assert main([*args, "--mode", "model", "--overwrite", "--quiet"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert "cocktail: talk.wav: 2 stems, the model's own outputs" in lines


def test_errors_exit_nonzero_without_traceback(tmp_path):
    missing = tmp_path / "nope.wav"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "separation_core.cli",
            "separate",
            str(missing),
            "--model",
            "denoise-wiener",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "nope.wav" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "separation_core.cli",
            "separate",
            str(missing),
            "--model",
            "no-such-model",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "unknown model" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_oracle_without_refs_is_refused_before_any_work(mixture_files, tmp_path, capsys, no_model):
    paths, _, _ = mixture_files
    assert (
        main(
            [
                "separate",
                str(paths["mix"]),
                "--model",
                "oracle-ibm",
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err == (
        "cocktail: error: model 'oracle-ibm' needs the reference sources: give --refs "
        "(one file per speaker)"
    )
    assert not (tmp_path / "o").exists()


def test_models_lists_registry_and_user_checkpoints(tmp_path, monkeypatch, capsys):
    user = tmp_path / "user-models"
    monkeypatch.setenv("COCKTAIL_MODELS_DIR", str(user))
    model = get_model_class("ff-mask")()
    save_checkpoint(user / "my-ff.pt", model, training={"steps": 7})
    (user / "broken.pt").write_bytes(b"not a checkpoint")
    assert main(["models", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    ids = {m["id"]: m for m in payload["models"]}
    assert set(model_names()) <= set(ids)
    assert ids["my-ff"]["origin"] == "user" and ids["my-ff"]["trained"] is True
    assert ids["my-ff"]["parameters"] == model.num_parameters()
    assert ids["oracle-irm"]["needs_references"] is True
    assert any("broken.pt" in p for p in payload["problems"])
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "my-ff" in text and "convtasnet" in text


def test_evaluate_json_solves_the_permutation(mixture_files, tmp_path, capsys):
    paths, sources, mixture = mixture_files
    est = [tmp_path / "e1.wav", tmp_path / "e2.wav"]
    sf.write(
        est[0],
        sources[1] + 0.01 * np.random.default_rng(0).standard_normal(len(mixture)),
        SR,
        subtype="FLOAT",
    )
    sf.write(est[1], sources[0], SR, subtype="FLOAT")
    assert (
        main(
            [
                "evaluate",
                "--mixture",
                str(paths["mix"]),
                "--refs",
                str(paths["s1"]),
                str(paths["s2"]),
                "--estimates",
                *map(str, est),
                "--metrics",
                "si_sdr,si_sdri",
                "--json",
            ]
        )
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert payload["permutation"] == [1, 0]
    assert payload["per_source"][0]["si_sdr"] > 100
    expected = si_sdr_reference(np.asarray(sf.read(est[0])[0]), sources[1])
    assert payload["per_source"][1]["si_sdr"] == pytest.approx(expected, abs=0.01)


def test_evaluate_calls_an_estimate_an_estimate(mixture_files, tmp_path, capsys):
    paths, sources, _ = mixture_files
    long = tmp_path / "long_estimate.wav"
    sf.write(long, np.concatenate([sources[0], sources[0]]), SR, subtype="FLOAT")
    assert (
        main(
            [
                "evaluate",
                "--mixture",
                str(paths["mix"]),
                "--refs",
                str(paths["s1"]),
                "--estimates",
                str(long),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"{long}: estimate is 6.000 s long but the mixture is 3.000 s" in err
    assert "reference is" not in err


@needs_data
@pytest.mark.parametrize("name", sorted(model_names()))
def test_every_model_separates_real_speech(name, tmp_path):
    from separation_core.io.audio_io import load_audio

    files = sorted(LIBRISPEECH_DIR.glob("*.flac"))[:2]
    a, b = (load_audio(f).samples[: 6 * SR] for f in files)
    n = min(len(a), len(b))
    refs = np.stack([a[:n], b[:n] * 0.7])
    mix = tmp_path / "mix.wav"
    sf.write(mix, refs.sum(0), SR, subtype="FLOAT")
    for k in range(2):
        sf.write(tmp_path / f"r{k}.wav", refs[k], SR, subtype="FLOAT")
    torch.manual_seed(0)
    args = [
        "separate",
        str(mix),
        "--model",
        name,
        "--out",
        str(tmp_path / "o"),
        "--quiet",
        "--subtype",
        "FLOAT",
        "--refs",
        str(tmp_path / "r0.wav"),
        str(tmp_path / "r1.wav"),
    ]
    assert main(args) == 0
    outs = [sf.read(p, dtype="float32") for p in sorted((tmp_path / "o").glob("mix_s*.wav"))]
    assert len(outs) == 2 and all(sr == SR and len(x) == n for x, sr in outs)
    if name.startswith("oracle-"):
        imp = [
            max(si_sdr_reference(x, r) for x, _ in outs) - si_sdr_reference(refs.sum(0), r)
            for r in refs
        ]
        assert 8 < np.mean(imp) < 25, imp


def test_bench_smoke(tmp_path, capsys):
    """Seconds-long smoke of `cocktail bench` (the benchmark itself is not a test)."""
    from separation_core.data.mixing import build_mixture_set

    speech = tmp_path / "speech"
    speech.mkdir()
    for k in range(9):
        sf.write(speech / f"{200 + k}-1-0000.wav", two_voices(1.0, SR, seed=k)[0][k % 2], SR)
    build_mixture_set([speech], tmp_path / "test", num=1, split="test", seed=0)
    assert (
        main(
            [
                "bench",
                "--models",
                "denoise-wiener,oracle-irm",
                "--seconds",
                "1",
                "--long-minutes",
                "0.05",
                "--test-set",
                str(tmp_path / "test"),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    row = report["models"]["denoise-wiener"]
    assert row["cpu"]["speed_x_realtime"] > 0 and row["long"]["peak_mb"] > 10
    assert {"si_sdri", "sdri", "pesq", "stoi"} <= set(row["quality"])
    assert report["models"]["oracle-irm"]["quality"]["si_sdri"] > row["quality"]["si_sdri"]
    assert "oracle-ibm" in report["models"]
    # one row per condition: the same set twice under two names gives the same figures twice
    assert (
        main(
            [
                "bench",
                "--models",
                "denoise-wiener",
                "--seconds",
                "1",
                "--long-minutes",
                "0",
                "--test-set",
                f"clean={tmp_path / 'test'}",
                "--test-set",
                f"again={tmp_path / 'test'}",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    by_set = report["models"]["denoise-wiener"]["quality_by_set"]
    assert list(by_set) == ["clean", "again"] and list(report["test_sets"]) == ["clean", "again"]
    assert by_set["clean"]["si_sdri"] == pytest.approx(by_set["again"]["si_sdri"])
    assert set(report["models"]["oracle-irm"]["quality_by_set"]) == {"clean", "again"}
    assert (
        main(
            [
                "bench",
                "--models",
                "denoise-wiener",
                "--seconds",
                "1",
                "--long-minutes",
                "0",
                "--test-set",
                str(tmp_path / "test"),
                "--test-set",
                str(tmp_path / "test"),
            ]
        )
        == 2
    )
    assert "share one name" in capsys.readouterr().err


def test_bench_asks_clustering_models_for_the_sets_speaker_count_and_skips_fixed_ones(
    tmp_path, capsys
):
    from separation_core.data.mixing import build_mixture_set

    speech = tmp_path / "speech"
    speech.mkdir()
    for k in range(12):
        sf.write(speech / f"{200 + k}-1-0000.wav", two_voices(1.0, SR, seed=k)[0][k % 2], SR)
    build_mixture_set([speech], tmp_path / "three", num=1, speakers=3, split="train", seed=0)
    dc = save_checkpoint(
        tmp_path / "dc.pt",
        get_model_class("dc-blstm")(sample_rate=SR, hidden=8, layers=1, embedding_dim=4),
    )
    tasnet = save_checkpoint(
        tmp_path / "tasnet.pt",
        get_model_class("convtasnet")(
            sample_rate=SR,
            n_filters=16,
            filter_length=16,
            bottleneck=8,
            hidden=16,
            skip=8,
            n_blocks=2,
            n_repeats=1,
        ),
    )
    args = ["bench", "--models", f"{dc},{tasnet}", "--seconds", "1", "--long-minutes", "0"]
    assert main([*args, "--test-set", f"three={tmp_path / 'three'}", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)["models"]
    assert len(models) == 4  # both oracles, then the two checkpoints in order
    dc_row, tasnet_row = list(models.values())[2:]
    clustered = dc_row["quality_by_set"]["three"]
    assert clustered["num_speakers"] == 3 and np.isfinite(clustered["si_sdri"])
    assert tasnet_row["quality_by_set"]["three"] == {
        "skipped": "3-speaker mixtures; the model has 2 outputs"
    }
    assert np.isfinite(models["oracle-irm"]["quality_by_set"]["three"]["si_sdri"])


# ---------------------------------------------------------------- issue 13: plan first, then work


@pytest.fixture
def no_model(monkeypatch):
    """Fails the test if a model is loaded: the run was expected to stop before any work."""
    import separation_core.checkpoints.catalog as catalog

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(catalog, "load_model", refuse)


def _talk(folder, name, seed=2):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(
        path, two_voices(1.0, SR, seed=seed)[1], SR, format="OGG" if name.endswith(".ogg") else None
    )
    return path


@pytest.mark.parametrize("names", [("good.wav", "good.ogg"), ("a/take.wav", "b/take.wav")])
def test_inputs_writing_the_same_stems_are_refused_before_any_work(
    tmp_path, capsys, no_model, names
):
    first, second = (_talk(tmp_path / "in", n) for n in names)
    out = tmp_path / "out"
    assert (
        main(
            [
                "separate",
                str(first),
                str(second),
                "--model",
                "denoise-wiener",
                "--out",
                str(out),
                "--quiet",
                "--overwrite",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(first) in err and str(second) in err
    assert str(out / f"{first.stem}_s1.wav") in err and "--out" in err
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_an_unwritable_out_fails_before_the_model_runs(
    mixture_files, tmp_path, capsys, no_model, where
):
    paths, _, _ = mixture_files
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = blocker if where == "file" else blocker / "sub"
    assert (
        main(
            [
                "separate",
                str(paths["mix"]),
                "--model",
                "denoise-wiener",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"cocktail: error: {out}: ")
    assert ("is a file, not a folder" if where == "file" else "a-file is a file") in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_a_read_only_out_fails_before_the_model_runs(mixture_files, tmp_path, capsys, no_model):
    paths, _, _ = mixture_files
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        assert (
            main(["separate", str(paths["mix"]), "--model", "denoise-wiener", "--out", str(out)])
            == 2
        )
    finally:
        out.chmod(0o700)
    assert f"{out}: cannot write in this folder" in capsys.readouterr().err


def test_existing_outputs_are_found_before_the_model_loads(
    mixture_files, tmp_path, capsys, no_model
):
    paths, _, _ = mixture_files
    out = tmp_path / "out"
    out.mkdir()
    (out / "talk.json").write_text("{}")
    assert (
        main(["separate", str(paths["mix"]), "--model", "denoise-wiener", "--out", str(out)]) == 1
    )
    err = capsys.readouterr().err
    assert f"{out / 'talk.json'}: already exists (use --overwrite" in err
    assert sorted(p.name for p in out.iterdir()) == ["talk.json"]


def test_a_crash_on_one_input_does_not_stop_the_batch(mixture_files, tmp_path, capsys, monkeypatch):
    import separation_core.engine.inference as inference

    paths, _, _ = mixture_files
    other = _talk(tmp_path / "in", "other.wav", seed=5)
    real = inference.separate

    def crash_on_talk(model, samples, *args, **kwargs):
        if len(samples) == 3 * SR:
            raise RuntimeError("boom\nsecond line")
        return real(model, samples, *args, **kwargs)

    monkeypatch.setattr(inference, "separate", crash_on_talk)
    code = main(
        [
            "separate",
            str(paths["mix"]),
            str(other),
            "--model",
            "denoise-wiener",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    errors = [line for line in err.splitlines() if "error" in line]
    assert errors == [f"cocktail: error: {paths['mix']}: RuntimeError: boom second line"]
    assert "1 of 2 input(s) failed" in err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "other.json",
        "other_s1.wav",
        "other_s2.wav",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["separate", "x.wav", "--out", "o", "--chunk-seconds", "nan"],
        ["separate", "x.wav", "--out", "o", "--chunk-seconds", "-1"],
        ["separate", "x.wav", "--out", "o", "--chunk-seconds", "0.001"],
        ["separate", "x.wav", "--out", "o", "--overlap-seconds", "nan"],
        ["separate", "x.wav", "--out", "o", "--overlap-seconds", "-0.5"],
        ["separate", "x.wav", "--out", "o", "--num-speakers", "100"],
        ["separate", "x.wav", "--out", "o", "--num-speakers", "0"],
        ["separate", "x.wav", "--out", "o", "--channel", "-1"],
        ["bench", "--seconds", "nan"],
        ["bench", "--long-minutes", "-1"],
        ["bench", "--limit", "0"],
        ["mix", "--speech", "s", "--out", "o", "--num", "0"],
        ["mix", "--speech", "s", "--out", "o", "--num", "1", "--seed", "-1"],
        ["mix", "--speech", "s", "--out", "o", "--num", "1", "--sample-rate", "0"],
        ["mix", "--speech", "s", "--out", "o", "--num", "1", "--sir-range", "nan,5"],
        ["train", "--model", "ff-mask", "--speech", "s", "--out", "o", "--lr", "nan"],
        ["train", "--model", "ff-mask", "--speech", "s", "--out", "o", "--batch-size", "0"],
        ["train", "--model", "ff-mask", "--speech", "s", "--out", "o", "--steps", "-5"],
        ["train", "--model", "ff-mask", "--speech", "s", "--out", "o", "--segment-seconds", "inf"],
        ["train", "--model", "ff-mask", "--speech", "s", "--out", "o", "--chimera-alpha", "2"],
        ["train", "--model", "ff-mask", "--speech", "s", "--out", "o", "--clip-norm", "0"],
    ],
)
def test_numeric_arguments_are_refused_in_one_line(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert info.value.code == 2 and "Traceback" not in err
    assert len(errors) == 1 and f"argument {argv[-2]}: " in errors[0]


def test_overlap_longer_than_half_a_chunk_is_refused(tmp_path, capsys, no_model):
    assert (
        main(
            [
                "separate",
                "x.wav",
                "--out",
                str(tmp_path),
                "--chunk-seconds",
                "2",
                "--overlap-seconds",
                "1.5",
            ]
        )
        == 2
    )
    assert "--overlap-seconds 1.5 is more than half of --chunk-seconds 2" in capsys.readouterr().err


@pytest.mark.parametrize(
    "model,extra,message",
    [
        (
            "denoise-wiener",
            ["--num-speakers", "3"],
            "model 'denoise-wiener' always gives 2 sources",
        ),
        ("dc-blstm", ["--num-speakers", "3", "--clustering", "meanshift"], "meanshift"),
    ],
)
def test_num_speakers_the_model_cannot_honour_is_refused_before_loading_audio(
    tmp_path, capsys, no_model, model, extra, message
):
    missing = tmp_path / "missing.wav"
    assert (
        main(["separate", str(missing), "--model", model, "--out", str(tmp_path / "o"), *extra])
        == 2
    )
    err = capsys.readouterr().err
    assert message in err and "missing.wav" not in err and len(err.strip().splitlines()) == 1


def test_clustering_models_give_the_speakers_asked_for(mixture_files, tmp_path):
    from separation_core.checkpoints.catalog import resolve

    assert resolve("dc-blstm").takes_num_speakers and resolve("chimera").takes_num_speakers
    assert not resolve("convtasnet").takes_num_speakers
    paths, _, _ = mixture_files
    out = tmp_path / "o"
    assert (
        main(
            [
                "separate",
                str(paths["mix"]),
                "--model",
                "dc-blstm",
                "--num-speakers",
                "3",
                "--out",
                str(out),
                "--quiet",
                "--chunk-seconds",
                "0",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.glob("talk_s*.wav")) == [
        "talk_s1.wav",
        "talk_s2.wav",
        "talk_s3.wav",
    ]
    assert json.loads((out / "talk.json").read_text())["options"]["binary_masks"] is False


def test_binary_masks_option_reaches_the_model_and_the_sidecar(mixture_files, tmp_path):
    paths, _, _ = mixture_files
    stems = {}
    for binary in (False, True):
        out = tmp_path / f"binary-{binary}"
        args = ["separate", str(paths["mix"]), "--model", "dc-blstm", "--out", str(out)]
        assert main(args + ["--quiet"] + (["--binary-masks"] if binary else [])) == 0
        assert json.loads((out / "talk.json").read_text())["options"]["binary_masks"] is binary
        stems[binary] = sf.read(out / "talk_s1.wav")[0]
    assert stems[False].shape == stems[True].shape
    assert not np.allclose(stems[False], stems[True], atol=1e-4)


def test_mix_checks_its_out_folder_before_reading_speech(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert (
        main(
            [
                "mix",
                "--speech",
                str(tmp_path / "no-speech-yet"),
                "--out",
                str(blocker / "set"),
                "--num",
                "1",
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert (
        err == f"cocktail: error: {blocker / 'set'}: cannot create the folder ({blocker} is a file)"
    )
