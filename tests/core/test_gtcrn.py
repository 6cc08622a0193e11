"""GTCRN (models/gtcrn.py) and its bundled DNS3 weights: the port against the authors' code on real
noisy speech, its STFT against torch's, stems that add up, the checkpoint, --denoise."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import DATA_DIR, LIBRISPEECH_DIR, NOISE_DIR, needs_data, si_sdr_reference, two_voices
from separation_core.io.paths import bundled_models_dir
from separation_core.models.gtcrn import GTCRN, INPUT_RMS, N_FFT, erb_filters

SR = 16000
GTCRN_DIR = DATA_DIR.parent / "models" / "gtcrn"
BUNDLED = bundled_models_dir() / "gtcrn-dns3-16k.pt"
needs_gtcrn = pytest.mark.skipif(
    not (GTCRN_DIR / "gtcrn.py").is_file() or not LIBRISPEECH_DIR.is_dir(),
    reason="needs ../shared/models/gtcrn (the authors' code and weights) and ../shared/data",
)


def _bundled():
    from separation_core.checkpoints.catalog import load_model

    return load_model("gtcrn-dns3-16k")


def _torch_stft(x: torch.Tensor) -> torch.Tensor:
    """The authors' analysis (infer.py): ``[B, T] -> [B, 257, frames, 2]``."""
    window = torch.hann_window(N_FFT).sqrt()
    spec = torch.stft(x, N_FFT, N_FFT // 2, N_FFT, window, return_complex=True)
    return torch.view_as_real(spec)


def _noisy_speech(seconds: float = 6.0, snr_db: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Real speech (LibriSpeech) plus real noise (Speech Commands' dishes) at ``snr_db``."""
    from separation_core.io.audio_io import load_audio

    n = int(seconds * SR)
    speech = load_audio(sorted(LIBRISPEECH_DIR.glob("*.flac"))[7]).samples[:n]
    noise = load_audio(NOISE_DIR / "doing_the_dishes.wav").samples[5 * SR : 5 * SR + len(speech)]
    noise = noise * np.sqrt(np.sum(speech**2) / np.sum(noise**2) / 10 ** (snr_db / 10))
    return speech.astype(np.float32), (speech + noise).astype(np.float32)


# -- the port against the authors' code, on real data -------------------------------------------


@needs_gtcrn
def test_port_matches_the_authors_code_on_real_noisy_speech():
    pytest.importorskip("einops", reason="the authors' gtcrn.py imports einops (test extra)")
    spec = importlib.util.spec_from_file_location("authors_gtcrn", GTCRN_DIR / "gtcrn.py")
    authors = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(authors)
    archive = GTCRN_DIR / "checkpoints" / "model_trained_on_dns3.tar"
    state = torch.load(archive, map_location="cpu", weights_only=True)["model"]
    reference = authors.GTCRN().eval()
    reference.load_state_dict(state)
    port = GTCRN().eval()
    port.load_state_dict(state)

    speech, mixture = _noisy_speech()
    x = torch.from_numpy(mixture).unsqueeze(0)
    window = torch.hann_window(N_FFT).sqrt()
    with torch.no_grad():
        theirs = reference(_torch_stft(x))
        ours = port.enhance_spectrum(_torch_stft(x))
        y_theirs = torch.istft(torch.view_as_complex(theirs.contiguous()), N_FFT, N_FFT // 2,
                               N_FFT, window, length=x.shape[-1])[0].numpy()  # fmt: skip
        # the whole waveform path: the port's own STFT, level, mask and synthesis
        y_ours = port(x)["waveforms"][0, 0].numpy()
    torch.testing.assert_close(ours, theirs, atol=1e-5 * float(theirs.abs().max()), rtol=0)
    assert si_sdr_reference(y_ours, y_theirs) >= 30.0
    # and it enhances: the speech is closer to the clean speech than the mixture was
    assert si_sdr_reference(y_theirs, speech) > si_sdr_reference(mixture, speech) + 3.0


@needs_gtcrn
def test_bundled_weights_are_the_authors():
    from separation_core.checkpoints.store import load_checkpoint

    archive = GTCRN_DIR / "checkpoints" / "model_trained_on_dns3.tar"
    theirs = torch.load(archive, map_location="cpu", weights_only=True)["model"]
    ours = load_checkpoint(BUNDLED)
    assert set(ours["state_dict"]) == set(theirs)
    for key, value in theirs.items():
        assert torch.equal(ours["state_dict"][key], value), key
    assert ours["imported"]["source_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()


# -- everywhere ---------------------------------------------------------------------------------


def test_stft_and_its_inverse_are_torchs():
    model = GTCRN().eval()
    x = torch.randn(2, 3 * SR + 123, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        spec = model.analyse(x)  # [B, 2, frames, 257]
        back = model.synthesise(spec, x.shape[-1])
    expected = _torch_stft(x).permute(0, 3, 2, 1)
    assert spec.shape == expected.shape == (2, 2, x.shape[-1] // 256 + 1, 257)
    torch.testing.assert_close(spec, expected, atol=2e-5 * float(expected.abs().max()), rtol=0)
    torch.testing.assert_close(back, x, atol=1e-5, rtol=0)


def test_erb_filters_sum_to_one_over_the_bands():
    filters = erb_filters()  # [64, 192]
    assert filters.shape == (64, 192)
    assert torch.all(filters >= 0)
    # triangles overlapping between neighbouring centres: every bin from the first centre on is
    # shared by the bands to one (the bins below it belong to the first band alone, at weight <= 1)
    covered = filters.sum(0)
    first = int(torch.nonzero(filters[1]).min())
    torch.testing.assert_close(covered[first:], torch.ones_like(covered[first:]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("length", [100, 256, 257, SR, 3 * SR + 77])
def test_outputs_keep_the_length_and_add_up_to_the_mixture(length):
    model = _bundled()
    x = torch.randn(length, generator=torch.Generator().manual_seed(length)) * 0.1
    out = model.separate_chunk(x)
    assert out.waveforms.shape == (2, length)
    torch.testing.assert_close(out.waveforms.sum(0), x, atol=1e-6, rtol=0)
    assert out.masks.shape == (2, 257, length // 256 + 1)
    assert torch.all(out.masks >= 0)
    batch = model(torch.stack([x, 0.5 * x]))["waveforms"]
    assert batch.shape == (2, 2, length)
    torch.testing.assert_close(batch[0], out.waveforms, atol=1e-6, rtol=1e-5)
    # the network runs at one level: half the input gives half the outputs
    torch.testing.assert_close(batch[1], 0.5 * out.waveforms, atol=1e-6, rtol=1e-4)


def test_masks_are_the_gains_the_speech_went_through():
    """The speech is istft(M X) with torch's own STFT, and the masks are |M| and |1 - M|."""
    model = _bundled()
    _, mixture = two_voices(2.0)
    x = torch.from_numpy(mixture)
    out = model.separate_chunk(x)
    with torch.no_grad():
        level = INPUT_RMS / x.square().mean().sqrt()
        m = model.estimate_mask(model.analyse(x[None] * level))[0]  # [2, frames, 257]
    mask = torch.complex(m[0], m[1]).T  # [257, frames]
    spec = torch.view_as_complex(_torch_stft(x[None])[0].contiguous())
    window = torch.hann_window(N_FFT).sqrt()
    speech = torch.istft(mask * spec, N_FFT, N_FFT // 2, N_FFT, window, length=len(x))
    torch.testing.assert_close(out.waveforms[0], speech, atol=1e-5 * float(x.abs().max()), rtol=0)
    torch.testing.assert_close(out.masks[0], mask.abs())
    torch.testing.assert_close(out.masks[1], (1 - mask).abs())
    assert torch.all(out.masks.sum(0) >= 1 - 1e-5)  # |M| + |1 - M| >= 1


def test_gtcrn_refuses_other_rates_and_counts_in_one_line():
    from separation_core.errors import ModelError

    with pytest.raises(ModelError, match="16000 Hz only"):
        GTCRN(sample_rate=8000)
    with pytest.raises(ModelError, match="n_src must be 2"):
        GTCRN(n_src=3)


def test_bundled_checkpoint_loads_weights_only_and_round_trips(tmp_path):
    from separation_core.checkpoints.catalog import resolve
    from separation_core.checkpoints.store import (
        load_checkpoint,
        model_from_checkpoint,
        save_checkpoint,
    )

    raw = torch.load(BUNDLED, map_location="cpu", weights_only=True)  # plain data only
    assert raw["model_name"] == "gtcrn" and raw["imported"]["licence"] == "MIT"
    assert len(raw["imported"]["source_sha256"]) == 64 and len(raw["imported"]["commit"]) == 40
    assert BUNDLED.with_suffix(".LICENSE").read_text().startswith("MIT License")
    entry = resolve("gtcrn-dns3-16k")
    assert (entry.origin, entry.kind, entry.trained, entry.outputs_are_voices) == (
        "bundled", "enhancement", True, False,
    )  # fmt: skip
    assert entry.num_parameters == 48_245  # the paper's 48.2 K (batch-norm statistics aside)
    model = _bundled()
    again = model_from_checkpoint(save_checkpoint(tmp_path / "copy.pt", model))
    x = torch.randn(SR, generator=torch.Generator().manual_seed(1)) * 0.1
    torch.testing.assert_close(again.separate_chunk(x).waveforms, model.separate_chunk(x).waveforms)
    assert load_checkpoint(tmp_path / "copy.pt")["state_dict"].keys() == raw["state_dict"].keys()


def test_random_weight_builtin_is_listed_untrained():
    from separation_core.checkpoints.catalog import resolve

    assert resolve("gtcrn").trained is False


def test_a_damaged_bundled_copy_is_refused_in_one_line(tmp_path):
    from separation_core.checkpoints.store import load_checkpoint
    from separation_core.errors import CheckpointError

    bad = tmp_path / "gtcrn-dns3-16k.pt"
    bad.write_bytes(BUNDLED.read_bytes()[:5000])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_onnx_export_of_the_whole_waveform_graph(tmp_path):
    pytest.importorskip("onnxruntime")
    from separation_core.checkpoints.catalog import load_model
    from separation_core.checkpoints.onnx_export import export_onnx
    from separation_core.engine.inference import separate

    export_onnx(_bundled(), tmp_path / "gtcrn.onnx")  # checked against torch before it is written
    graph = load_model(str(tmp_path / "gtcrn.onnx"))
    _, mixture = two_voices(2.0)
    ours = separate(_bundled(), mixture, SR).waveforms
    theirs = separate(graph, mixture, SR).waveforms
    assert si_sdr_reference(theirs[0], ours[0]) > 40.0


# -- in the engine and on the command line --------------------------------------------------------


def test_denoise_first_feeds_the_model_the_speech():
    from separation_core.checkpoints.catalog import load_model
    from separation_core.engine.inference import EngineOptions, denoise_first, separate
    from separation_core.errors import ModelError

    _, mixture = two_voices(2.0)
    mixture = mixture + 0.05 * np.random.default_rng(0).standard_normal(len(mixture)).astype(
        np.float32
    )
    separator = load_model("ff-mask")
    speech = denoise_first(_bundled(), mixture, SR)
    stages = []
    result = separate(
        separator,
        mixture,
        SR,
        EngineOptions(denoiser=_bundled()),
        progress=lambda f, s: stages.append((f, s)),
    )
    np.testing.assert_allclose(
        result.waveforms, separate(separator, speech, SR).waveforms, atol=1e-5
    )
    assert "denoise" in result.timings
    fractions = [f for f, _ in stages]
    assert fractions == sorted(fractions) and stages[0][1].startswith("denoising")
    assert not any(s.startswith("denoising") for f, s in stages if f > 0.1)
    with pytest.raises(ModelError, match="not an enhancement model"):
        denoise_first(separator, mixture, SR)


def test_cli_gtcrn_gives_speech_and_noise_and_denoise_is_recorded(tmp_path):
    from separation_core.cli import main

    _, mixture = two_voices(2.0)
    noisy = mixture + 0.05 * np.random.default_rng(1).standard_normal(len(mixture))
    path = tmp_path / "noisy.wav"
    sf.write(path, noisy.astype(np.float32), SR, subtype="FLOAT")
    out = tmp_path / "enh"
    args = ["separate", str(path), "--model", "gtcrn-dns3-16k", "--out", str(out), "--quiet"]
    assert main([*args, "--subtype", "FLOAT"]) == 0
    speech, _ = sf.read(out / "noisy_s1.wav")
    noise, _ = sf.read(out / "noisy_s2.wav")
    np.testing.assert_allclose(speech + noise, noisy, atol=1e-5)
    assert json.loads((out / "noisy.json").read_text())["options"]["denoise"] is None

    sep = tmp_path / "sep"
    assert main(["separate", str(path), "--model", "ff-mask", "--denoise", "--out", str(sep),
                 "--quiet"]) == 0  # fmt: skip
    sidecar = json.loads((sep / "noisy.json").read_text())
    assert sidecar["options"]["denoise"] == "gtcrn-dns3-16k"
    assert sidecar["timings"]["denoise"] > 0


def test_denoise_in_conversation_mode_finds_people_in_the_speech(monkeypatch):
    """The conversation pipeline runs the first stage once, on the whole recording."""
    from separation_core.conversation import pipeline
    from separation_core.engine.inference import EngineOptions

    seen = []
    real = pipeline.denoise_first
    monkeypatch.setattr(
        pipeline, "denoise_first", lambda *a, **k: seen.append(a[1]) or real(*a, **k)
    )
    _, mixture = two_voices(3.0)
    options = pipeline.ConversationOptions(engine=EngineOptions(denoiser=_bundled()))
    from separation_core.checkpoints.catalog import load_model

    pipeline.separate_conversation(load_model("ff-mask"), mixture, SR, options)
    assert len(seen) == 1 and len(seen[0]) == len(mixture)


@needs_data
def test_gtcrn_on_real_noisy_speech_through_the_engine():
    from separation_core.engine.inference import separate

    speech, mixture = _noisy_speech(8.0, snr_db=0.0)
    result = separate(_bundled(), mixture, SR)
    assert result.mask_kind == "estimated" and result.masks.shape[:2] == (2, 257)
    gain = si_sdr_reference(result.waveforms[0], speech) - si_sdr_reference(mixture, speech)
    assert gain > 5.0
    # the engine's input at another rate is resampled to 16 kHz and back
    from separation_core.io.audio_io import resample

    at_48k = separate(_bundled(), resample(mixture, SR, 48000), 48000)
    assert at_48k.waveforms.shape == (2, 3 * len(mixture))


def test_bundled_file_is_the_one_the_card_names():
    card = BUNDLED.with_suffix(".md")
    if not card.is_file():
        pytest.skip("the card is written by scripts/gtcrn_measure.py")
    raw = torch.load(BUNDLED, map_location="cpu", weights_only=True)
    text = card.read_text()
    assert raw["imported"]["source_sha256"] in text and raw["imported"]["commit"] in text
    assert Path(BUNDLED.with_suffix(".LICENSE").name).name in text


def test_cocktail_card_keeps_the_measured_card_unless_forced(tmp_path, capsys):
    """The bundled card holds figures measured by scripts/gtcrn_measure.py that the checkpoint
    does not: `cocktail card` refuses to replace it, and with --force writes the card of what the
    file says (its source, licence, parameters, outputs), which it then leaves as it is."""
    import shutil

    from separation_core.cli import main

    ckpt = Path(shutil.copy(BUNDLED, tmp_path / BUNDLED.name))
    card = ckpt.with_suffix(".md")
    card.write_text("# gtcrn-dns3-16k\n\n## Measured here\n\n| tap | 24 | 4.20 | 6.78 |\n")
    measured = card.read_text()
    assert main(["card", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{card}: holds another card" in err and "--force" in err
    assert card.read_text() == measured

    assert main(["card", str(ckpt), "--force"]) == 0
    text = card.read_text()
    raw = torch.load(BUNDLED, map_location="cpu", weights_only=True)
    imp = raw["imported"]
    assert f"| parameters | {GTCRN().num_parameters():,} |" in text
    assert f"{imp['repository']} at commit `{imp['commit']}`" in text
    assert f"| `{imp['model_name']}` | `{imp['source_sha256']}` |" in text
    assert "| licence | MIT |" in text and "speech, then noise" in text
    assert main(["card", str(ckpt)]) == 0  # the same text again: nothing to keep
    assert card.read_text() == text


def test_the_run_estimate_has_its_own_figures():
    from separation_core.checkpoints.catalog import resolve
    from separation_core.engine.run_estimate import estimate_run, load_bench

    bench = load_bench()
    if "gtcrn-dns3-16k" not in bench.get("models", {}):
        pytest.skip("no bench report with gtcrn-dns3-16k (docs/bench.json)")
    estimate = estimate_run(resolve("gtcrn-dns3-16k"), 600.0, bench)
    assert estimate.seconds is not None and estimate.basis == "" and estimate.peak_mb > 0
