"""Issue 30: ``cocktail evaluate`` with more estimates than references says which it left out."""

import json

import numpy as np
import soundfile as sf

from helpers import si_sdr_reference, two_voices
from separation_core.cli import main

SR = 16000


def write(path, x):
    sf.write(path, x, SR, subtype="FLOAT")
    return str(path)


def test_one_reference_and_two_estimates_names_the_estimate_left_out(tmp_path, capsys):
    sources, mixture = two_voices(3.0, SR, seed=4)
    noisy = sources[1] + 0.05 * np.random.default_rng(0).standard_normal(len(mixture))
    args = [
        "evaluate",
        "--mixture",
        write(tmp_path / "mix.wav", mixture),
        "--refs",
        write(tmp_path / "ref.wav", sources[1]),
        "--estimates",
        write(tmp_path / "other.wav", sources[0]),
        write(tmp_path / "match.wav", noisy),
        "--metrics",
        "si_sdr",
    ]
    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["permutation"] == [1] and payload["left_out"] == [str(tmp_path / "other.wav")]
    expected = si_sdr_reference(sf.read(tmp_path / "match.wav")[0], sources[1])
    assert abs(payload["per_source"][0]["si_sdr"] - expected) < 0.01
    assert captured.err == (
        "cocktail: note: 2 estimates for 1 reference(s), paired by the highest total SI-SDR; "
        f"not scored: {tmp_path / 'other.wav'}\n"
    )

    assert main(args) == 0  # the table says it too
    assert f"not scored: {tmp_path / 'other.wav'}" in capsys.readouterr().err


def test_as_many_estimates_as_references_need_no_note(tmp_path, capsys):
    sources, mixture = two_voices(3.0, SR, seed=4)
    refs = [write(tmp_path / f"ref{k}.wav", s) for k, s in enumerate(sources)]
    args = ["evaluate", "--mixture", write(tmp_path / "mix.wav", mixture), "--refs", *refs]
    assert main([*args, "--estimates", *refs[::-1], "--metrics", "si_sdr", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and json.loads(captured.out)["left_out"] == []
