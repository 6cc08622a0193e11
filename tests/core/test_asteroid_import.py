"""Asteroid checkpoints: built with Asteroid's own code and random weights, serialized as Asteroid does,
imported onto Cocktail's ports, and compared output for output (whole input and through the engine);
the options Cocktail does not support are refused in one line naming the option and the file."""

from __future__ import annotations

import subprocess
import sys

import asteroid_reference as reference
import numpy as np
import pytest
import torch

from separation_core.checkpoints.catalog import load_model, resolve
from separation_core.engine.inference import EngineOptions, separate
from separation_core.models.mixture_fit import fit_to_mixture

TOL = 1e-4  # max |Cocktail - Asteroid| relative to the output's peak


@pytest.fixture(scope="module")
def asteroid_models():
    return reference.asteroid_models()


SMALL = dict(n_src=2, n_filters=32, sample_rate=8000)
CONVTASNET = {
    "default-options": dict(n_blocks=2, n_repeats=2, bn_chan=16, hid_chan=24, skip_chan=8),
    "no-skip-relu-encoder-softmax-cLN": dict(
        n_blocks=2,
        n_repeats=1,
        bn_chan=16,
        hid_chan=24,
        skip_chan=0,
        kernel_size=20,
        stride=5,
        encoder_activation="relu",
        mask_act="softmax",
        norm_type="cLN",
        conv_kernel_size=5,
    ),
    "causal-cgLN-16k": dict(
        n_blocks=3,
        n_repeats=1,
        bn_chan=16,
        hid_chan=24,
        causal=True,
        norm_type="cgLN",
        mask_act="relu",
        sample_rate=16000,
    ),
    "batchnorm-prelu": dict(
        n_blocks=2,
        n_repeats=1,
        bn_chan=16,
        hid_chan=24,
        norm_type="bN",
        mask_act="prelu",
        encoder_activation="prelu",
        n_src=3,
    ),
    "fgLN-tanh-gelu-even-kernel": dict(
        n_blocks=2,
        n_repeats=1,
        bn_chan=16,
        hid_chan=24,
        norm_type="fgLN",
        encoder_activation="tanh",
        mask_act="gelu",
        kernel_size=32,
        stride=16,
    ),
}
DPRNN = {
    "default-options": dict(bn_chan=16, hid_size=12, chunk_size=10, n_repeats=2),
    "gru-unidirectional-mulcat": dict(
        bn_chan=16,
        hid_size=12,
        chunk_size=9,
        hop_size=4,
        n_repeats=2,
        rnn_type="GRU",
        bidirectional=False,
        num_layers=2,
        norm_type="cLN",
        use_mulcat=True,
        mask_act="relu",
        encoder_activation="relu",
    ),
    "rnn-fgLN-stride4": dict(
        bn_chan=16,
        hid_size=12,
        chunk_size=12,
        n_repeats=1,
        rnn_type="RNN",
        norm_type="fgLN",
        kernel_size=8,
        stride=4,
    ),
    "batchnorm-swish": dict(
        bn_chan=16, hid_size=12, chunk_size=10, n_repeats=1, norm_type="bN", mask_act="swish"
    ),
}


def _build(models, cls_name: str, options: dict):
    return reference.build(models, cls_name, {**SMALL, **options})


_save, _close = reference.save, reference.close


CASES = [("ConvTasNet", k, v) for k, v in CONVTASNET.items()] + [
    ("DPRNNTasNet", k, v) for k, v in DPRNN.items()
]


@pytest.mark.parametrize("cls_name,label,options", CASES, ids=[f"{c}-{k}" for c, k, _ in CASES])
def test_imported_model_reproduces_asteroid(asteroid_models, tmp_path, cls_name, label, options):
    theirs = _build(asteroid_models, cls_name, options)
    path = _save(theirs, tmp_path / "model.pth")
    entry = resolve(path)
    assert entry.model_name in ("asteroid-convtasnet", "asteroid-dprnn") and entry.trained
    assert entry.imported_from.startswith(f"Asteroid {cls_name}") and entry.id == "model.pth"
    assert entry.sample_rate == theirs.sample_rate and entry.n_src == theirs.masker.n_src
    ours = load_model(entry)
    rng = np.random.default_rng(1)
    for n in (8000, 8003, 12001):  # lengths that leave samples past the last full frame
        x = torch.from_numpy(rng.standard_normal((2, n)).astype(np.float32))
        with torch.no_grad():
            assert _close(ours(x)["waveforms"], theirs(x)) <= TOL

    # Through the engine, one chunk (no stitching): the input scaled to unit deviation, the
    # outputs fitted to the mixture, then scaled back.
    mix = (0.2 * rng.standard_normal(12000)).astype(np.float32)
    result = separate(ours, mix, entry.sample_rate, EngineOptions(chunk_seconds=0))
    scale = float(np.std(mix))
    with torch.no_grad():
        y = torch.from_numpy(mix / scale)
        expected = fit_to_mixture(theirs(y.unsqueeze(0))[0], y).numpy() * scale
    assert _close(result.waveforms, expected) <= TOL
    assert result.mask_kind == "effective" and result.masks.shape[0] == entry.n_src


def test_hub_files_with_versions_and_numpy_metrics_load_with_weights_only(
    asteroid_models, tmp_path
):
    """A model hub's pytorch_model.bin (and .ckpt): the infos hold torch.__version__ (a TorchVersion)
    and numpy scalars from the recipes' final_metrics; they load with weights_only=True."""
    theirs = _build(asteroid_models, "ConvTasNet", CONVTASNET["default-options"])
    metrics = {"si_sdr": np.float64(14.5), "si_sdr_imp": np.float32(14.1), "n": np.int64(3000)}
    for name in ("pytorch_model.bin", "model.ckpt"):
        path = _save(theirs, tmp_path / name, final_metrics=metrics, recipe_name="LibriMix")
        entry = resolve(path)
        assert entry.id == name and entry.model_name == "asteroid-convtasnet"
    from separation_core.checkpoints.store import load_checkpoint

    ckpt = load_checkpoint(tmp_path / "pytorch_model.bin")
    infos = ckpt["imported"]["infos"]
    assert infos["final_metrics"] == {"si_sdr": 14.5, "si_sdr_imp": pytest.approx(14.1), "n": 3000}
    assert type(infos["software_versions"]["torch_version"]) is str
    assert ckpt["imported"]["model_args"]["fb_name"] == "FreeFB"


def test_no_asteroid_import_at_run_time(asteroid_models, tmp_path):
    path = _save(
        _build(asteroid_models, "DPRNNTasNet", DPRNN["default-options"]), tmp_path / "m.pth"
    )
    code = (
        "import sys, numpy as np; from separation_core.checkpoints.catalog import load_model; "
        "from separation_core.engine.inference import separate, EngineOptions; "
        f"m = load_model({str(path)!r}); "
        "r = separate(m, np.zeros(8000, np.float32) + 0.1, 8000, EngineOptions(chunk_seconds=0)); "
        "assert not any(k.split('.')[0] in ('asteroid', 'asteroid_filterbanks') for k in sys.modules), "
        "'asteroid imported'; print(r.waveforms.shape)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    assert "(2, 8000)" in out.stdout


def test_unsupported_options_are_refused_in_one_line(asteroid_models, tmp_path):
    stft = asteroid_models.ConvTasNet(
        n_src=2,
        n_blocks=1,
        n_repeats=1,
        bn_chan=8,
        hid_chan=8,
        fb_name="stft",
        n_filters=64,
        kernel_size=64,
        stride=16,
    )
    assert "fb_name='STFTFB'" in reference.refused(_save(stft, tmp_path / "stft.pth"))
    good = _build(asteroid_models, "DPRNNTasNet", DPRNN["default-options"]).serialize()
    for change, word in (
        (dict(norm_type="cgLN"), "norm_type='cgLN'"),
        (dict(rnn_type="SRU"), "rnn_type='SRU'"),
        (dict(mask_act="sparsemax"), "mask_act='sparsemax'"),
        (dict(out_chan=16), "out_chan=16"),
        (dict(padding=4), "padding=4"),
        (dict(sample_rate=None), "sample_rate"),
        (dict(frobnicate=True), "frobnicate"),
    ):
        conf = dict(good, model_args={**good["model_args"], **change})
        path = tmp_path / "bad.pth"
        torch.save(conf, path)
        message = reference.refused(path)
        assert word in message and "Asteroid DPRNNTasNet" in message, message
    torch.save(dict(good, model_name="LSTMTasNet"), tmp_path / "lstm.pth")
    assert "'LSTMTasNet'" in reference.refused(tmp_path / "lstm.pth")


def test_sidecar_card_and_listing_name_the_origin(asteroid_models, tmp_path, monkeypatch, capsys):
    from separation_core.checkpoints.importers.asteroid import imported_card
    from separation_core.checkpoints.store import load_checkpoint
    from separation_core.cli import main
    from separation_core.io.export import build_sidecar

    folder = tmp_path / "user-models"
    folder.mkdir()
    monkeypatch.setenv("COCKTAIL_MODELS_DIR", str(folder))
    path = _save(
        _build(asteroid_models, "ConvTasNet", CONVTASNET["default-options"]),
        folder / "librimix.pth",
        recipe_name="LibriMix",
    )
    entry = resolve("librimix.pth")
    assert entry.origin == "user"
    sidecar = build_sidecar(None, entry, {})
    assert sidecar["model"]["imported_from"].startswith("Asteroid ConvTasNet (asteroid ")
    card = imported_card(load_checkpoint(path), path)
    assert "**Imported**" in card and "ConvTasNet" in card and "LibriMix" in card
    assert '"n_filters": 32' in card
    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("librimix.pth"))
    assert "imported: Asteroid ConvTasNet" in line and "untrained" not in line


def test_imported_checkpoint_runs_chunked_and_exports_stems(asteroid_models, tmp_path):
    from separation_core.evaluation.scoring import evaluate_separation
    from separation_core.io.export import write_stems

    path = _save(
        _build(asteroid_models, "ConvTasNet", CONVTASNET["causal-cgLN-16k"]), tmp_path / "c.pth"
    )
    model = load_model(path)
    rng = np.random.default_rng(0)
    refs = (0.1 * rng.standard_normal((2, 48000))).astype(np.float32)
    result = separate(model, refs.sum(0), 16000, EngineOptions(chunk_seconds=1.0))
    assert result.waveforms.shape == (2, 48000) and result.timings["chunks"] > 1
    evaluation = evaluate_separation(
        result.waveforms, refs, refs.sum(0), 16000, metrics=("si_sdr",)
    )
    assert len(evaluation.per_source) == 2
    written = write_stems(result, tmp_path / "out", "mix")
    assert [p.name for p in written] == ["mix_s1.wav", "mix_s2.wav"]
