"""`cocktail card`: a freshly trained checkpoint's card from the checkpoint and `cocktail bench
--json`, its figures traced to one of the two files; one-line refusals."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest
import soundfile as sf

from helpers import voice
from separation_core.checkpoints.cards import trained_card
from separation_core.checkpoints.store import load_checkpoint
from separation_core.cli import main
from separation_core.models.registry import get_model_class

SR = 8000
TINY = dict(n_filters=16, filter_length=16, bottleneck=8, hidden=16, skip=8, n_blocks=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step convtasnet in a models folder as ``tiny.pt``, and `cocktail bench --json` of it
    on a one-mixture test set (path of the checkpoint, path of the JSON)."""
    root = tmp_path_factory.mktemp("card")
    speech = root / "speech"
    speech.mkdir()
    for k in range(12):
        for u in range(2):
            x = voice(90 + 25 * k, 1.5, SR, seed=100 * k + u, syllable_hz=2 + k % 3)
            sf.write(speech / f"{1000 + k}-1-{u:04d}.flac", x, SR)
    model_args = {**TINY, "n_repeats": 1, "sample_rate": SR}
    train = ["train", "--model", "convtasnet", "--speech", str(speech), "--out", str(root / "run")]
    train += [a for k, v in model_args.items() for a in ("--model-arg", f"{k}={v}")]
    train += ["--steps", "2", "--steps-per-epoch", "2", "--batch-size", "2", "--lr", "0.005"]
    train += ["--segment-seconds", "0.5", "--seed", "3", "--valid-num", "2", "--quiet"]
    assert main(train) == 0
    (root / "models").mkdir()
    shutil.copy(root / "run" / "best.pt", root / "models" / "tiny.pt")
    mix = ["mix", "--speech", str(speech), "--out", str(root / "test"), "--num", "1", "--quiet"]
    assert main([*mix, "--split", "test", "--sample-rate", str(SR)]) == 0
    bench = ["bench", "--models", "tiny", "--seconds", "1", "--long-minutes", "0", "--json"]
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        mp.setenv("COCKTAIL_MODELS_DIR", str(root / "models"))
        assert main([*bench, "--test-set", str(root / "test")]) == 0
    (root / "bench.json").write_text(printed.getvalue())
    return root / "models" / "tiny.pt", root / "bench.json"


def test_card_of_a_trained_checkpoint_takes_its_figures_from_the_two_files(
    trained, tmp_path, capsys
):
    ckpt_path, bench_path = trained
    out = tmp_path / "tiny.md"
    assert main(["card", str(ckpt_path), str(bench_path), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    text = out.read_text()
    ckpt, bench = load_checkpoint(ckpt_path), json.loads(bench_path.read_text())
    model = get_model_class("convtasnet")(**ckpt["model_args"])
    n_params = sum(p.numel() for p in model.parameters())
    assert text.startswith("# tiny\n")
    assert f"| parameters | {n_params:,} |" in text
    assert f"| sample rate, speakers | {SR} Hz, 2 |" in text
    assert f"`tiny.pt`, {ckpt_path.stat().st_size / 2**20:.1f} MiB" in text
    assert "--steps 2 --batch-size 2 --segment-seconds 0.5 --lr 0.005 --seed 3" in text
    assert f"SI-SDRi {ckpt['metrics']['valid_si_sdri']:.2f} dB on 2 held-out" in text
    quality = bench["models"]["tiny"]["quality"]
    assert f"| **tiny** | {quality['si_sdri']:.2f} |" in text
    irm = bench["models"]["oracle-irm"]["quality"]["si_sdri"]
    assert f"| oracle-irm | {irm:.2f} |" in text
    speed = bench["models"]["tiny"]["cpu"]["speed_x_realtime"]
    assert f"- {speed:.1f}x faster than real time on the CPU" in text
    assert "- Always gives 2 outputs, whatever the number of speakers." in text

    assert main(["card", str(ckpt_path), str(bench_path)]) == 0  # default: beside the checkpoint
    assert ckpt_path.with_suffix(".md").read_text() == text


def test_a_model_that_takes_the_speaker_count_says_so_on_its_card(trained):
    ckpt_path, bench_path = trained
    ckpt = load_checkpoint(ckpt_path)
    cls = get_model_class("dc-blstm")
    assert cls.takes_num_speakers
    ckpt["model_name"], ckpt["model_args"] = "dc-blstm", cls(hidden=16, layers=1).model_args()
    text = trained_card(ckpt_path, ckpt, json.loads(bench_path.read_text()))
    assert "the number of speakers K can be asked at run time (k-means)" in text
    assert "Clustered embeddings give soft masks" in text
    assert "Always gives" not in text


def test_card_refuses_in_one_line(trained, tmp_path, capsys):
    ckpt_path, bench_path = trained
    missing = tmp_path / "nothing.pt"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"models": {"someone-else": {}}}))
    broken = tmp_path / "broken.json"
    broken.write_text('{"models": ')
    for args, message in [
        ([missing], f"{missing}: no such checkpoint file"),
        ([ckpt_path], f"{ckpt_path}: a Cocktail checkpoint's card needs the `cocktail bench"),
        ([ckpt_path, tmp_path / "none.json"], f"{tmp_path / 'none.json'}: file not found"),
        ([ckpt_path, other], f"{other}: no model 'tiny' in it"),
        ([ckpt_path, broken], f"{broken}: not JSON ("),
    ]:
        assert main(["card", *map(str, args), "--out", str(tmp_path / "x.md")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"cocktail: error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "x.md").exists()
