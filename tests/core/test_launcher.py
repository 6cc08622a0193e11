"""The ``cocktail`` console script (``app.launcher.main``): one table of commands
(``separation_core.cli.COMMANDS``) that the launcher and the command line share, each command's
--help and one real call of each through the console script, mistyped commands and options, and
the exit-status rule that --help states."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from app.launcher import main
from helpers import voice
from separation_core import cli
from separation_core.cli import COMMANDS, EXIT_STATUS

SR = 16000


def _one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_answers_help_with_its_own_usage(name, capsys):
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and out.startswith(f"usage: cocktail {name} ")


def test_the_table_names_each_command_as_typed_and_the_parser_agrees():
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert list(sub.choices) == list(COMMANDS)
    assert COMMANDS["export-onnx"] == "export_onnx" and "_" not in "".join(COMMANDS)


@pytest.mark.parametrize("entry", ["launcher", "cli"])
def test_help_lists_the_commands_as_typed_and_states_the_exit_status(entry, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")  # argparse wraps at hyphens: export- / onnx
    if entry == "launcher":
        assert main(["--help"]) == 0
    else:
        with pytest.raises(SystemExit) as info:
            cli.main(["--help"])
        assert info.value.code == 0
    out = _one_line(capsys.readouterr().out)
    assert all(name in out for name in COMMANDS) and "export_onnx" not in out
    assert _one_line(EXIT_STATUS) in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["seperate", "x.wav"], "unknown command 'seperate' (did you mean separate?)"),
        (
            ["export_onnx", "m", "o.onnx"],
            "unknown command 'export_onnx' (did you mean export-onnx?)",
        ),
        (
            ["import", "m.onnx"],
            "unknown command 'import' (commands: separate, evaluate, models, mix, train, bench, "
            "export-onnx, card; see cocktail --help)",
        ),
        (["help"], "unknown command 'help' (commands: "),
    ],
)
def test_a_mistyped_command_is_refused_in_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(f"cocktail: error: {message}")
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"cocktail: error: {message}")


def test_a_mistyped_command_loads_neither_qt_nor_torch(tmp_path):
    code = (
        "import sys; from app.launcher import main; rc = main(['seperate', 'x.wav']);"
        "print(rc, [m for m in ('torch', 'PySide6') if m in sys.modules])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.stdout.split() == ["2", "[]"], proc.stderr
    assert proc.stderr == "cocktail: error: unknown command 'seperate' (did you mean separate?)\n"


@pytest.mark.parametrize("argv", [["recording"], ["take.wav"], ["--view", "masks"], []])
def test_files_and_window_options_still_open_the_window(argv, tmp_path, monkeypatch):
    import app.main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "recording").write_bytes(b"")  # a file named like a word opens as a file
    opened = []
    monkeypatch.setattr(app.main, "main", lambda args: opened.append(args) or 0)
    assert main(argv) == 0 and opened == [argv]


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["separate", "x.wav", "--out", "o", "--numspeakers", "3"],
            "unrecognized arguments: --numspeakers 3 (did you mean --num-speakers?)",
        ),
        (
            ["mix", "--speech", "s", "--out", "o", "--num", "1", "--frobnicate"],
            "unrecognized arguments: --frobnicate",
        ),
    ],
)
def test_an_unknown_option_is_refused_with_the_commands_usage(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.splitlines()
    assert info.value.code == 2 and err[0].startswith(f"usage: cocktail {argv[0]} ")
    assert err[-1] == f"cocktail {argv[0]}: error: {message}"


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """12 synthetic 'speakers' named like LibriSpeech (so that every split has some), two 1.5 s
    files each."""
    root = tmp_path_factory.mktemp("speech")
    for k in range(12):
        for u in range(2):
            sf.write(
                root / f"{1000 + k}-1-{u:04d}.flac", voice(90 + 25 * k, 1.5, SR, seed=k + u), SR
            )
    return root


def test_the_exit_status_keeps_the_rule_that_help_states(speech, tmp_path, capsys):
    """0 success; 1 some inputs failed (the others done); 2 an error stopped the command."""
    good = sorted(speech.glob("*.flac"))[0]
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF not really a wav file" * 10)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    separate = ["separate", "--model", "denoise-wiener", "--quiet"]

    assert main([*separate, str(good), "--out", str(tmp_path / "o")]) == 0
    assert main([*separate, str(garbage), str(good), "--out", str(tmp_path / "o2")]) == 1
    assert (tmp_path / "o2" / f"{good.stem}_s1.wav").is_file()
    assert main([*separate, str(good), "--out", str(a_file)]) == 2  # a bad --out
    assert main([*separate, str(good), "--model", "oracle-irm", "--out", str(tmp_path / "o3")]) == 2
    evaluate = ["evaluate", "--refs", str(good), "--estimates", str(good)]
    assert main([*evaluate, "--mixture", str(tmp_path / "missing.wav")]) == 2  # a bad input
    with pytest.raises(SystemExit) as info:
        main([*separate, str(good), "--out", str(tmp_path / "o"), "--chunk-seconds", "x"])
    assert info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 5 and "garbage.wav" in err[0] and "missing.wav" in err[3]


@pytest.mark.slow
def test_each_command_runs_once_through_the_console_script(speech, tmp_path, capsys):
    """models, then a mixture set (mix), its separation (separate) and score (evaluate), a 2-step
    model (train), its ONNX graph (export-onnx), its benchmark (bench) and its card (card)."""

    def run(*argv) -> str:
        capsys.readouterr()
        assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    assert "denoise-wiener" in {m["id"] for m in json.loads(run("models", "--json"))["models"]}

    assert run("mix", "--speech", speech, "--out", tmp_path / "set", "--num", "1", "--quiet")
    (mix,) = (tmp_path / "set" / "mix").iterdir()
    refs = [tmp_path / "set" / s / mix.name for s in ("s1", "s2")]

    run("separate", mix, "--model", "denoise-wiener", "--out", tmp_path / "stems", "--quiet")
    stems = sorted((tmp_path / "stems").glob(f"{mix.stem}_s*.wav"))
    assert [sf.info(s).frames for s in stems] == [sf.info(mix).frames] * 2

    report = json.loads(
        run(
            "evaluate",
            "--mixture",
            mix,
            "--refs",
            *refs,
            "--estimates",
            *stems,
            "--metrics",
            "si_sdr",
            "--json",
        )
    )
    assert sorted(report["permutation"]) == [0, 1] and np.isfinite(report["mean"]["si_sdr"])

    run(
        "train",
        "--model",
        "ff-mask",
        "--model-arg",
        "hidden=16",
        "--model-arg",
        "layers=1",
        "--speech",
        speech,
        "--out",
        tmp_path / "run",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--segment-seconds",
        "1",
        "--valid-num",
        "2",
        "--quiet",
    )
    model = tmp_path / "run" / "best.pt"
    assert "onnxruntime reproduces torch" in run("export-onnx", model, tmp_path / "ff.onnx")
    assert (tmp_path / "ff.onnx").stat().st_size > 0

    bench = run(
        "bench",
        "--models",
        model,
        "--seconds",
        "1",
        "--long-minutes",
        "0",
        "--test-set",
        tmp_path / "set",
        "--json",
    )
    assert json.loads(bench)["models"]["best"]["cpu"]["speed_x_realtime"] > 0
    (tmp_path / "bench.json").write_text(bench)

    run("card", model, tmp_path / "bench.json", "--out", tmp_path / "card.md")
    assert (tmp_path / "card.md").read_text().startswith("# best\n")
