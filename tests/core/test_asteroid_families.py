"""Asteroid's DPTNet, SuDORMRFNet, SuDORMRFImprovedNet, DCUNet and DCCRNet: each built with
Asteroid's own code and random weights, saved in the published layout (``serialize()`` written as
a hub's ``pytorch_model.bin``), opened by Cocktail and compared with Asteroid's forward on spoken
mixtures (SI-SDR of Cocktail's output against Asteroid's, per output); everywhere a model goes
(list, separate and its sidecar, bench, ONNX); damaged or foreign files refused in one line, exit 2.
"""

from __future__ import annotations

import asteroid_reference as reference
import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import needs_espeak, si_sdr_reference
from separation_core.checkpoints.catalog import load_model, resolve
from separation_core.cli import main
from separation_core.engine.inference import EngineOptions, separate
from separation_core.errors import CheckpointError
from separation_core.models.mixture_fit import fit_to_mixture

MIN_SI_SDR = 30.0  # dB, Cocktail's output against Asteroid's (the bar)
TOL = 1e-4  # max |Cocktail - Asteroid| relative to the output's peak

# Asteroid class -> Cocktail's port and small configurations covering the options.
FAMILIES = {
    "DPTNet": (
        "asteroid-dptnet",
        {
            "default-options": dict(
                n_src=2, n_filters=32, n_heads=4, ff_hid=16, chunk_size=10, n_repeats=2
            ),
            "enhancement-cgLN-unidirectional-gelu-16k": dict(
                n_src=1,
                n_filters=30,  # not a multiple of n_heads: Asteroid adds an input layer
                n_heads=4,
                ff_hid=12,
                chunk_size=9,
                hop_size=4,
                n_repeats=1,
                norm_type="cgLN",
                bidirectional=False,
                ff_activation="gelu",
                mask_act="sigmoid",
                encoder_activation=None,
                sample_rate=16000,
            ),
            "batchnorm-3-sources-softmax": dict(
                n_src=3,
                n_filters=24,
                n_heads=2,
                ff_hid=8,
                chunk_size=12,
                n_repeats=1,
                norm_type="bN",
                mask_act="softmax",
                kernel_size=8,
                stride=4,
            ),
        },
    ),
    "SuDORMRFNet": (
        "asteroid-sudormrf",
        {
            "default-options": dict(
                n_src=2, n_filters=32, bn_chan=16, num_blocks=2, upsampling_depth=3
            ),
            "3-sources-sigmoid-even-kernel-16k": dict(
                n_src=3,
                n_filters=24,
                bn_chan=24,  # no reshape_before_masks
                num_blocks=1,
                upsampling_depth=4,
                kernel_size=16,
                mask_act="sigmoid",
                sample_rate=16000,
            ),
        },
    ),
    "SuDORMRFImprovedNet": (
        "asteroid-sudormrf-improved",
        {
            "default-options": dict(
                n_src=2, n_filters=32, bn_chan=16, num_blocks=2, upsampling_depth=3
            ),
            "enhancement-odd-filters-long-stride-16k": dict(
                n_src=1,
                n_filters=31,
                bn_chan=16,
                num_blocks=2,
                upsampling_depth=2,
                kernel_size=32,
                stride=20,
                sample_rate=16000,
            ),
        },
    ),
    "DCUNet": (
        "asteroid-dcunet",
        {
            "mini-pad": dict(
                architecture="mini",
                stft_n_filters=256,
                stft_kernel_size=256,
                stft_stride=64,
                fix_length_mode="pad",
            ),
            "DCUNet-10-trim-sigmoid-bound": dict(
                architecture="DCUNet-10",
                stft_n_filters=128,
                stft_kernel_size=100,
                stft_stride=50,
                mask_bound="sigmoid",
                fix_length_mode="trim",
            ),
        },
    ),
    "DCCRNet": (
        "asteroid-dccrnet",
        {
            "mini": dict(
                architecture="mini", stft_n_filters=64, stft_kernel_size=64, stft_stride=16
            ),
            "DCCRN-CL-unbounded-8k": dict(
                architecture="DCCRN-CL", mask_bound=None, sample_rate=8000
            ),
        },
    ),
}
ENHANCERS = ("DCUNet", "DCCRNet")  # Asteroid gives the speech; Cocktail adds mixture - speech
CASES = [
    (c, label, opts) for c, (_, configs) in FAMILIES.items() for label, opts in configs.items()
]


def _si_sdr(ours: np.ndarray, theirs: np.ndarray) -> float:
    """SI-SDR of Cocktail's output against Asteroid's (infinite when they are equal)."""
    with np.errstate(divide="ignore"):
        return si_sdr_reference(ours, theirs)


def _reference(theirs, cls_name: str, batch: torch.Tensor) -> torch.Tensor:
    """Asteroid's outputs ``[B, n_src, T]``; for an enhancer, speech and mixture - speech."""
    out = theirs(batch)
    if cls_name in ENHANCERS:
        out = torch.cat([out, batch.unsqueeze(1) - out], dim=1)
    return out


@pytest.fixture(scope="module")
def asteroid_models():
    return reference.asteroid_models()


@needs_espeak
@pytest.mark.parametrize("cls_name,label,options", CASES, ids=[f"{c}-{k}" for c, k, _ in CASES])
def test_imported_model_reproduces_asteroid_on_speech(
    asteroid_models, tmp_path, cls_name, label, options
):
    theirs = reference.build(asteroid_models, cls_name, options)
    path = reference.save(theirs, tmp_path / "pytorch_model.bin", recipe_name="LibriMix")
    entry = resolve(path)
    assert entry.model_name == FAMILIES[cls_name][0] and entry.trained
    assert entry.imported_from.startswith(f"Asteroid {cls_name} (asteroid ")
    assert entry.sample_rate == theirs.sample_rate
    ours = load_model(entry)
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())

    mix = reference.spoken_mixture(entry.sample_rate, 2.0)
    batch = torch.from_numpy(np.stack([mix, 0.5 * mix[::-1]]).copy())
    with torch.no_grad():
        expected = _reference(theirs, cls_name, batch).numpy()
        got = ours(batch)["waveforms"].numpy()
    assert reference.close(got, expected) <= TOL
    for ours_out, their_out in zip(
        got.reshape(-1, got.shape[-1]), expected.reshape(-1, got.shape[-1])
    ):
        assert _si_sdr(ours_out, their_out) >= MIN_SI_SDR

    # Through the engine, one chunk: the input scaled to unit deviation, the outputs fitted to
    # the mixture, then scaled back.
    result = separate(ours, mix, entry.sample_rate, EngineOptions(chunk_seconds=0))
    scale = float(np.std(mix))
    with torch.no_grad():
        y = torch.from_numpy(mix / scale)
        outputs = _reference(theirs, cls_name, y.unsqueeze(0))[0]
        fitted = (outputs if cls_name in ENHANCERS else fit_to_mixture(outputs, y)).numpy() * scale
    assert result.waveforms.shape == fitted.shape
    for ours_out, their_out in zip(result.waveforms, fitted):
        assert _si_sdr(ours_out, their_out) >= MIN_SI_SDR
    assert result.mask_kind == "effective" and result.masks.shape[0] == entry.n_src


def _refused(path) -> str:
    with pytest.raises(CheckpointError) as err:
        resolve(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize("cls_name", list(FAMILIES))
def test_damaged_and_foreign_files_are_refused_in_one_line(
    asteroid_models, tmp_path, capsys, cls_name
):
    options = next(iter(FAMILIES[cls_name][1].values()))
    good = reference.build(asteroid_models, cls_name, options).serialize()
    size = "stft_n_filters" if cls_name in ENHANCERS else "n_filters"
    bigger = reference.build(
        asteroid_models, cls_name, {**options, size: 2 * options[size]}
    ).serialize()
    convtasnet = reference.build(
        asteroid_models, "ConvTasNet", dict(n_src=2, n_filters=16, n_blocks=1, n_repeats=1)
    ).serialize()
    cases = {
        "shapes.pth": (dict(good, state_dict=bigger["state_dict"]), "is ["),
        "other-architecture.pth": (
            dict(good, state_dict=convtasnet["state_dict"]),
            "weights do not fit",
        ),
        "other-arguments.pth": (
            dict(good, model_args=convtasnet["model_args"]),
            f"Asteroid {cls_name}: option",
        ),
    }
    for name, (conf, words) in cases.items():
        torch.save(conf, tmp_path / name)
        assert words in _refused(tmp_path / name), name

    whole = tmp_path / "whole.pth"
    torch.save(good, whole)
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "truncated.pth").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    torch.save({**good, "infos": {"hook": print}}, tmp_path / "payload.pth")  # a callable
    assert "empty" in _refused(tmp_path / "empty.pth")
    assert "truncated" in _refused(tmp_path / "truncated.pth")
    assert "unsafe pickle" in _refused(tmp_path / "payload.pth")
    if cls_name.startswith("SuDORMRF"):  # Asteroid saves the encoder's filters twice
        state = dict(good["state_dict"])
        state["encoder.filterbank._filters"] = state["encoder.filterbank._filters"] + 1.0
        torch.save(dict(good, state_dict=state), tmp_path / "two-filterbanks.pth")
        assert "is not a copy of" in _refused(tmp_path / "two-filterbanks.pth")

    wav = tmp_path / "mix.wav"
    sf.write(wav, np.zeros(8000, np.float32), 8000)
    for name in ("empty.pth", "payload.pth", "other-architecture.pth"):
        capsys.readouterr()
        code = main(
            ["separate", str(wav), "--model", str(tmp_path / name), "--out", str(tmp_path / "o")]
        )
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and name in err, (name, err)


@needs_espeak
@pytest.mark.parametrize("cls_name", list(FAMILIES))
def test_imported_model_goes_everywhere_a_model_goes(
    asteroid_models, tmp_path, monkeypatch, capsys, cls_name
):
    """The model list, separate with its sidecar (origin, file hashes), the masks, bench and the
    ONNX export (whose graph is checked against the torch model before it is written)."""
    import hashlib
    import json

    def file_sha256(p):
        return hashlib.sha256(p.read_bytes()).hexdigest()

    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("COCKTAIL_MODELS_DIR", str(folder))
    options = next(iter(FAMILIES[cls_name][1].values()))
    theirs = reference.build(asteroid_models, cls_name, options)
    path = reference.save(theirs, folder / "hub.bin")
    rate = int(theirs.sample_rate)

    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("hub.bin"))
    assert f"imported: Asteroid {cls_name} (asteroid " in line and f" {rate} " in line

    wav = tmp_path / "talk.wav"
    sf.write(wav, reference.spoken_mixture(rate, 1.5), rate)
    assert main(["separate", str(wav), "--model", "hub.bin", "--out", str(tmp_path / "o")]) == 0
    sidecar = json.loads((tmp_path / "o" / "talk.json").read_text())
    assert sidecar["model"]["imported_from"].startswith(f"Asteroid {cls_name} (asteroid ")
    assert sidecar["model"]["checkpoint_sha256"] == file_sha256(path)
    assert sidecar["input_sha256"] == file_sha256(wav)
    assert len(list((tmp_path / "o").glob("talk_s*.wav"))) == resolve(path).n_src

    bench = ["bench", "--models", "hub.bin", "--seconds", "1", "--long-minutes", "0", "--json"]
    capsys.readouterr()
    assert main(bench) == 0
    figures = json.loads(capsys.readouterr().out)["models"]["hub.bin"]
    # The model list and bench count the file's floating-point tensors (STFT filters and
    # batch-norm statistics included), Asteroid's once each.
    own = load_model(path).state_dict().values()
    assert figures["parameters"] == sum(t.numel() for t in own if t.is_floating_point())

    out = tmp_path / "hub.onnx"
    assert main(["export-onnx", "hub.bin", str(out)]) == 0
    graph = load_model(out)
    mix = reference.spoken_mixture(rate, 1.3)
    with torch.no_grad():
        expected = _reference(theirs, cls_name, torch.from_numpy(mix).unsqueeze(0))[0].numpy()
    got = graph.forward(torch.from_numpy(mix).unsqueeze(0))["waveforms"][0].numpy()
    for ours_out, their_out in zip(got, expected):
        assert _si_sdr(ours_out, their_out) >= MIN_SI_SDR
