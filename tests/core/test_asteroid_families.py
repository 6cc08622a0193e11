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

from helpers import needs_espeak, si_sdr_reference, spoken_mixture
from separation_core.checkpoints.catalog import load_model, resolve
from separation_core.cli import main
from separation_core.engine.inference import EngineOptions, separate
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


def _enhancer(cls_name: str, options: dict) -> bool:
    """DCUNet and DCCRNet, and a file of any other class with one output (Asteroid's enhancement
    recipes): speech and noise."""
    return cls_name in ENHANCERS or options.get("n_src") == 1


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
    if out.shape[1] == 1:
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

    mix = spoken_mixture(entry.sample_rate, seconds=2.0)
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
        if _enhancer(cls_name, options):  # the speech at the level that explains the mixture
            gain = float(outputs[0] @ y / (outputs[0] @ outputs[0]))
            outputs = torch.stack([gain * outputs[0], y - gain * outputs[0]])
        fitted = outputs if _enhancer(cls_name, options) else fit_to_mixture(outputs, y)
        fitted = fitted.numpy() * scale
    assert result.waveforms.shape == fitted.shape
    for ours_out, their_out in zip(result.waveforms, fitted):
        assert _si_sdr(ours_out, their_out) >= MIN_SI_SDR
    assert result.mask_kind == "effective" and result.masks.shape[0] == entry.n_src
    assert entry.outputs_are_voices == ours.outputs_are_voices == (not _enhancer(cls_name, options))
    if not entry.outputs_are_voices:
        assert entry.n_src == 2
        np.testing.assert_allclose(result.waveforms.sum(0), mix, atol=1e-5)  # the stems add up


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
        assert words in reference.refused(tmp_path / name), name

    whole = tmp_path / "whole.pth"
    torch.save(good, whole)
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "truncated.pth").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    torch.save({**good, "infos": {"hook": print}}, tmp_path / "payload.pth")  # a callable
    assert "empty" in reference.refused(tmp_path / "empty.pth")
    assert "truncated" in reference.refused(tmp_path / "truncated.pth")
    assert "unsafe pickle" in reference.refused(tmp_path / "payload.pth")
    if cls_name.startswith("SuDORMRF"):  # Asteroid saves the encoder's filters twice
        state = dict(good["state_dict"])
        state["encoder.filterbank._filters"] = state["encoder.filterbank._filters"] + 1.0
        torch.save(dict(good, state_dict=state), tmp_path / "two-filterbanks.pth")
        assert "is not a copy of" in reference.refused(tmp_path / "two-filterbanks.pth")

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
    sf.write(wav, spoken_mixture(rate, seconds=1.5), rate)
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
    # The model list and bench count Asteroid's trainable parameters (no STFT filters or
    # batch-norm statistics).
    assert figures["parameters"] == sum(p.numel() for p in theirs.parameters())

    out = tmp_path / "hub.onnx"
    assert main(["export-onnx", "hub.bin", str(out)]) == 0
    graph = load_model(out)
    mix = spoken_mixture(rate, seconds=1.3)
    with torch.no_grad():
        expected = _reference(theirs, cls_name, torch.from_numpy(mix).unsqueeze(0))[0].numpy()
    got = graph.forward(torch.from_numpy(mix).unsqueeze(0))["waveforms"][0].numpy()
    for ours_out, their_out in zip(got, expected):
        assert _si_sdr(ours_out, their_out) >= MIN_SI_SDR


# One-output files of the separator classes (Asteroid's enhancement recipes, as the published
# ``JorisCos/DPTNet_Libri1Mix_enhsingle_16k``): each opens as an enhancer, speech and noise.
ONE_OUTPUT = {
    "DPTNet": dict(n_src=1, n_filters=32, n_heads=4, ff_hid=16, chunk_size=10, n_repeats=1),
    "ConvTasNet": dict(
        n_src=1, n_filters=32, n_blocks=2, n_repeats=1, bn_chan=16, hid_chan=32, skip_chan=16
    ),
    "DPRNNTasNet": dict(n_src=1, n_filters=32, bn_chan=16, hid_size=16, chunk_size=20, n_repeats=1),
}


@pytest.mark.parametrize("cls_name", list(ONE_OUTPUT))
def test_a_one_output_file_opens_as_speech_and_noise(
    asteroid_models, tmp_path, monkeypatch, capsys, cls_name
):
    from separation_core.checkpoints.cards import write_card
    from separation_core.checkpoints.store import load_checkpoint, save_checkpoint
    from separation_core.models.registry import get_model_class

    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("COCKTAIL_MODELS_DIR", str(folder))
    options = {**ONE_OUTPUT[cls_name], "sample_rate": 16000}
    theirs = reference.build(asteroid_models, cls_name, options)
    path = reference.save(theirs, folder / "enhsingle.bin")

    entry = resolve(path)
    ours = load_model(entry)
    assert (entry.n_src, entry.outputs_are_voices) == (2, False)
    assert (ours.n_src, ours.outputs_are_voices) == (2, False)
    assert entry.num_parameters == sum(p.numel() for p in theirs.parameters())
    # The class still describes its separators: a two-output file of it gives voices.
    cls = get_model_class(entry.model_name)
    assert cls.outputs_are_voices and cls.voices_with({"n_src": 2})
    two = reference.save(
        reference.build(asteroid_models, cls_name, {**options, "n_src": 2}), tmp_path / "two.bin"
    )
    assert resolve(two).outputs_are_voices and load_model(two).outputs_are_voices

    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("enhsingle.bin"))
    assert "speech and noise" in line
    assert (
        "| sample rate, outputs | 16000 Hz, speech and noise"
        in write_card(path, out=tmp_path / "card.md").read_text()
    )

    # Speech at the level that explains the mixture (Asteroid's training is scale-invariant),
    # noise the rest: the stems add up to the input.
    mix = 0.1 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    result = separate(ours, mix, 16000, EngineOptions(chunk_seconds=0))
    with torch.no_grad():
        speech = theirs(torch.from_numpy(mix / mix.std()).unsqueeze(0))[0, 0].numpy()
    gain = float(speech @ mix / (speech @ speech))  # least squares (the engine's adds a 1e-4 ridge)
    assert reference.close(result.waveforms[0], gain * speech) < 1e-3
    np.testing.assert_allclose(result.waveforms.sum(0), mix, atol=1e-5)
    assert result.masks.shape[0] == 2

    # Written by Cocktail and read back: the arguments keep Asteroid's one mask.
    saved = save_checkpoint(tmp_path / "saved.pt", ours)
    assert load_checkpoint(saved)["model_args"]["n_src"] == 1
    assert resolve(saved).outputs_are_voices is False


# The published enhancers' configurations (their hub files' model_args) and their sizes as reported
# (JorisCos/DCUNet_Libri1Mix_enhsingle_16k: Large-DCUNet-20, 7.66 M; the DCCRN-CL one, 3.67 M).
PUBLISHED_SIZES = {
    "DCUNet": (
        dict(
            architecture="Large-DCUNet-20",
            stft_n_filters=1024,
            stft_kernel_size=1024,
            stft_stride=256,
            sample_rate=16000,
        ),
        7.66,
    ),
    "DCCRNet": (
        dict(
            architecture="DCCRN-CL",
            stft_n_filters=512,
            stft_kernel_size=400,
            stft_stride=100,
            sample_rate=16000,
        ),
        3.67,
    ),
}


@pytest.mark.parametrize("cls_name", list(PUBLISHED_SIZES))
def test_parameters_are_the_trainable_ones_not_the_stft_filters_and_statistics(
    asteroid_models, tmp_path, monkeypatch, capsys, cls_name
):
    import json

    from separation_core.checkpoints.cards import write_card

    options, millions = PUBLISHED_SIZES[cls_name]
    theirs = getattr(asteroid_models, cls_name)(**options)
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("COCKTAIL_MODELS_DIR", str(folder))
    path = reference.save(theirs, folder / "pytorch_model.bin")
    trainable = sum(p.numel() for p in theirs.parameters())
    stored = sum(t.numel() for t in theirs.state_dict().values() if t.is_floating_point())
    assert stored > trainable  # the file also holds STFT filters and batch-norm statistics

    entry = resolve(path)
    assert entry.num_parameters == trainable and round(trainable / 1e6, 2) == millions
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert next(m for m in listed if m["id"] == "pytorch_model.bin")["parameters"] == trainable
    card = write_card(path, out=tmp_path / "card.md").read_text()
    assert f"| parameters | {trainable:,} |" in card
