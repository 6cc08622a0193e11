"""Oracle mask models and the classical Wiener denoiser, checked against independent formulas."""

from pathlib import Path

import numpy as np
import pytest
import torch

from separation_core.errors import ModelError
from separation_core.models.base import KIND_CLASSICAL, KIND_ORACLE
from separation_core.models.denoise import WienerDenoiser
from separation_core.models.oracle import OracleIBM, OracleIRM, OraclePSM, OracleWiener

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LIBRI = DATA / "speech" / "librispeech-train-clean-100"
ORACLES = [OracleIBM, OracleIRM, OracleWiener, OraclePSM]


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    """SI-SDR in dB of one signal (zero-mean, optimal scaling of the reference)."""
    est = est - est.mean()
    ref = ref - ref.mean()
    target = (est @ ref) / (ref @ ref) * ref
    return float(10 * np.log10((target @ target) / ((est - target) @ (est - target))))


def snr(est: np.ndarray, ref: np.ndarray) -> float:
    return float(10 * np.log10((ref @ ref) / ((ref - est) @ (ref - est))))


def harmonic(
    length: int, sample_rate: int, f0: float, rate: float, phase: float, n_harmonics: int = 20
) -> np.ndarray:
    """A voiced-speech stand-in: gliding harmonic series under a syllable-like on/off envelope."""
    t = np.arange(length) / sample_rate
    pitch = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))) / sample_rate
    voice = sum(np.sin(k * pitch + k * phase) / k for k in range(1, n_harmonics + 1))
    envelope = np.clip(np.sin(2 * np.pi * rate * t + phase), 0, None) ** 0.5
    return voice * envelope


def two_speakers(length: int = 24001, sample_rate: int = 16000) -> np.ndarray:
    a = harmonic(length, sample_rate, 120.0, 2.0, 0.0)
    b = harmonic(length, sample_rate, 210.0, 2.7, 1.3)
    return (0.1 * np.stack([a, b / np.std(b) * np.std(a)])).astype(np.float32)


def run_oracle(cls, refs: np.ndarray, **kw):
    mixture = torch.from_numpy(refs.sum(0))
    return cls(**kw).separate_chunk(mixture, references=torch.from_numpy(refs))


# ---------------------------------------------------------------- oracle masks


@pytest.mark.parametrize("cls", [*ORACLES, WienerDenoiser])
def test_stft_grid_is_32ms_window_8ms_hop(cls):
    for rate, n_fft in ((16000, 512), (8000, 256), (48000, 2048)):
        p = cls(sample_rate=rate).stft_params
        assert (p.n_fft, p.hop, p.win_length, p.sample_rate) == (n_fft, n_fft // 4, n_fft, rate)


@pytest.mark.parametrize("cls", ORACLES)
def test_oracle_attributes(cls):
    m = cls()
    assert m.kind == KIND_ORACLE and m.needs_references and not m.trainable
    assert m.num_parameters() == 0 and m.n_src == 2 and m.sample_rate == 16000
    assert cls(**m.model_args()).model_args() == m.model_args()


@pytest.mark.parametrize("cls", ORACLES)
def test_oracle_si_sdr_improvement(cls):
    refs = two_speakers()
    mixture = refs.sum(0)
    out = run_oracle(cls, refs)
    p = cls().stft_params
    assert out.waveforms.shape == (2, refs.shape[1])
    assert out.masks.shape == (2, p.n_freq, p.n_frames(refs.shape[1]))
    est = out.waveforms.double().numpy()
    for k in range(2):
        improvement = si_sdr(est[k], refs[k]) - si_sdr(mixture, refs[k])
        assert improvement > 10.0, (cls.name, k, improvement)


def test_ibm_masks_are_binary_and_partition_the_bins():
    masks = run_oracle(OracleIBM, two_speakers(12345)).masks
    assert set(torch.unique(masks).tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(masks.sum(0), torch.ones_like(masks[0]))


@pytest.mark.parametrize("cls,power", [(OracleIRM, 1), (OracleWiener, 2)])
def test_ratio_masks_match_formula_and_outputs_sum_to_mixture(cls, power):
    refs = two_speakers(12345)
    out = run_oracle(cls, refs)
    spec = (
        torch.stft(
            torch.from_numpy(refs),
            512,
            128,
            512,
            torch.hann_window(512),
            center=True,
            return_complex=True,
        ).abs()
        ** power
    )
    energetic = spec.sum(0) > 1e-4
    torch.testing.assert_close(
        out.masks[0][energetic], (spec[0] / spec.sum(0))[energetic], rtol=1e-4, atol=1e-4
    )
    # Masks summing to one redistribute the mixture: the outputs add back up to it.
    np.testing.assert_allclose(out.waveforms.sum(0).numpy(), refs.sum(0), atol=1e-4)


def test_psm_is_truncated_and_uses_the_phase():
    refs = two_speakers(8000)
    refs[1] = -0.9 * refs[0]  # sources in opposite phase: the mixture is 0.1 x source 0
    masks = run_oracle(OraclePSM, refs).masks
    assert masks.min() >= 0.0 and masks.max() <= 1.0
    # Source 1 is in anti-phase with the mixture wherever there is energy: its PSM is 0 there.
    loud = (
        torch.stft(
            torch.from_numpy(refs[0]),
            512,
            128,
            512,
            torch.hann_window(512),
            center=True,
            return_complex=True,
        ).abs()
        > 1e-2
    )
    assert masks[1][loud].max() == 0.0 and masks[0][loud].min() == 1.0


def test_oracle_takes_as_many_sources_as_references():
    a, b = two_speakers(9001)
    c = harmonic(9001, 16000, 330.0, 3.3, 2.1).astype(np.float32) * 0.1
    out = run_oracle(OracleIRM, np.stack([a, b, c]))
    assert out.waveforms.shape == (3, 9001) and out.masks.shape[0] == 3


def test_oracle_batch_forward():
    refs = torch.from_numpy(np.stack([two_speakers(4001), two_speakers(4001)[::-1].copy()]))
    out = OracleWiener()(refs.sum(1), references=refs)
    assert out["waveforms"].shape == (2, 2, 4001) and out["masks"].shape == (2, 2, 257, 32)
    single = OracleWiener().separate_chunk(refs[1].sum(0), references=refs[1])
    torch.testing.assert_close(out["waveforms"][1], single.waveforms)


def test_oracle_at_8khz_uses_its_grid():
    refs = two_speakers(8001, 8000)
    out = run_oracle(OracleIRM, refs, sample_rate=8000)
    assert out.waveforms.shape == (2, 8001)
    assert out.masks.shape == (2, 129, 8001 // 64 + 1)


def test_oracle_without_references_raises_model_error():
    with pytest.raises(ModelError, match="reference"):
        OracleIRM().separate_chunk(torch.randn(16000))
    with pytest.raises(ModelError, match="references"):
        OracleIRM().separate_chunk(torch.randn(16000), references=torch.randn(2, 15000))


@pytest.mark.shared_data
@pytest.mark.skipif(not LIBRI.exists(), reason="needs LibriSpeech in ../shared/data")
def test_oracle_irm_on_real_speech_gives_usual_ceiling():
    import soundfile as sf

    sources = []
    for name in ("1040-133433-0000.flac", "1069-133699-0000.flac"):
        x, rate = sf.read(LIBRI / name, dtype="float64")
        assert rate == 16000
        x = x[16000 : 16000 * 7]  # 6 s after the first second
        sources.append(0.1 * x / np.std(x))
    refs = np.stack(sources).astype(np.float32)
    mixture = refs.sum(0)
    est = run_oracle(OracleIRM, refs).waveforms.double().numpy()
    improvement = np.mean([si_sdr(est[k], refs[k]) - si_sdr(mixture, refs[k]) for k in range(2)])
    assert 10.0 < improvement < 16.0, improvement


# ---------------------------------------------------------------- Wiener denoiser


def noisy_speech(length: int = 4 * 16000, sample_rate: int = 16000):
    speech = harmonic(length, sample_rate, 150.0, 2.0, 0.0, n_harmonics=24)
    noise = np.random.default_rng(1).standard_normal(length)
    noise *= np.sqrt((speech @ speech) / (noise @ noise))  # 0 dB
    return (0.1 * speech).astype(np.float32), (0.1 * noise).astype(np.float32)


def test_denoiser_attributes():
    m = WienerDenoiser()
    assert m.kind == KIND_CLASSICAL and not m.trainable and not m.needs_references
    assert m.num_parameters() == 0 and m.n_src == 2
    assert WienerDenoiser(**m.model_args()).model_args() == m.model_args()
    with pytest.raises(ModelError):
        WienerDenoiser(n_src=3)


def test_denoiser_improves_snr_and_outputs_sum_to_mixture():
    speech, noise = noisy_speech()
    mixture = speech + noise
    out = WienerDenoiser().separate_chunk(torch.from_numpy(mixture))
    est = out.waveforms.double().numpy()
    assert abs(snr(mixture.astype(np.float64), speech.astype(np.float64))) < 1e-3
    assert snr(est[0], speech.astype(np.float64)) > 5.0
    assert snr(est[1], noise.astype(np.float64)) > 5.0
    np.testing.assert_allclose(est.sum(0), mixture, atol=1e-5)


def test_denoiser_masks_are_gain_and_complement():
    speech, noise = noisy_speech(16001)
    m = WienerDenoiser()
    out = m.separate_chunk(torch.from_numpy(speech + noise))
    assert out.waveforms.shape == (2, 16001)
    assert out.masks.shape == (2, 257, 16001 // 128 + 1)
    torch.testing.assert_close(out.masks.sum(0), torch.ones_like(out.masks[0]))
    floor = 10 ** (-15 / 20)
    assert out.masks[0].min() >= floor - 1e-6 and out.masks[0].max() < 1.0


def test_noise_estimate_is_unbiased_on_white_noise():
    p = WienerDenoiser().stft_params
    noise = np.random.default_rng(7).standard_normal(5 * 16000)
    spec = torch.stft(
        torch.from_numpy(noise),
        p.n_fft,
        p.hop,
        p.win_length,
        torch.hann_window(p.n_fft, dtype=torch.float64),
        center=True,
        return_complex=True,
    )
    power = spec.abs().square().numpy()
    estimate = WienerDenoiser().noise_power(power)
    assert 0.8 < estimate[1:-1].mean() / power[1:-1].mean() < 1.25


def test_denoiser_batch_forward_and_silence():
    speech, noise = noisy_speech(8000)
    x = torch.from_numpy(np.stack([speech + noise, np.zeros(8000, np.float32)]))
    out = WienerDenoiser()(x)
    assert out["waveforms"].shape == (2, 2, 8000)
    assert torch.isfinite(out["waveforms"]).all()
    assert torch.equal(out["waveforms"][1], torch.zeros(2, 8000))
