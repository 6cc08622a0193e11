"""Stem export: loud stems are scaled together instead of clipping in integer files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from separation_core.io.export import PCM_PEAK, write_stems
from separation_core.models.result import SeparationResult

SR = 16000


def _result(peak: float) -> SeparationResult:
    t = np.arange(SR) / SR
    waves = np.stack(
        [peak * np.sin(2 * np.pi * 220 * t), 0.25 * peak * np.sin(2 * np.pi * 330 * t)]
    )
    return SeparationResult(waveforms=waves.astype(np.float32), sample_rate=SR, model_name="test")


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24"])
def test_loud_stems_are_scaled_together_not_clipped(tmp_path, subtype):
    result = _result(1.6)
    mixture = result.waveforms.sum(axis=0)
    paths = write_stems(result, tmp_path, "loud", subtype=subtype, residual_of=mixture, sidecar={})
    s1, s2, residual = (sf.read(p, dtype="float64")[0] for p in paths)
    gain = PCM_PEAK / 1.6
    assert np.max(np.abs(s1)) == pytest.approx(PCM_PEAK, abs=1e-4)
    np.testing.assert_allclose(s1, gain * result.waveforms[0], atol=1e-4)
    np.testing.assert_allclose(s2, gain * result.waveforms[1], atol=1e-4)  # the balance is kept
    assert np.max(np.abs(residual)) < 1e-4
    sidecar = json.loads((tmp_path / "loud.json").read_text())
    assert sidecar["output_gain_db"] == pytest.approx(20 * np.log10(gain), abs=1e-3)


def test_float_and_quiet_stems_are_written_as_they_are(tmp_path):
    loud = write_stems(_result(1.6), tmp_path / "float", "loud", subtype="FLOAT", sidecar={})
    assert np.max(np.abs(sf.read(loud[0], dtype="float32")[0])) == pytest.approx(1.6, abs=1e-5)
    assert json.loads((tmp_path / "float" / "loud.json").read_text())["output_gain_db"] == 0.0
    quiet = _result(0.5)
    paths = write_stems(quiet, tmp_path / "pcm", "quiet", subtype="PCM_16", sidecar={})
    np.testing.assert_allclose(sf.read(paths[0], dtype="float64")[0], quiet.waveforms[0], atol=1e-4)
    assert json.loads((tmp_path / "pcm" / "quiet.json").read_text())["output_gain_db"] == 0.0


def test_a_negative_peak_counts_and_long_stems_are_scaled_block_by_block(tmp_path):
    """The peak is the largest magnitude, found on either side of zero; a stem longer than one
    write block is scaled as one array would be, sample for sample."""
    from separation_core.io.audio_io import BLOCK_SAMPLES

    rng = np.random.default_rng(0)
    waves = (0.3 * rng.standard_normal((2, BLOCK_SAMPLES + 12_345))).clip(-0.9, 0.9)
    waves[1, BLOCK_SAMPLES + 7] = -2.0  # the loudest sample: negative, in the second block
    result = SeparationResult(waveforms=waves.astype(np.float32), sample_rate=SR, model_name="t")
    paths = write_stems(result, tmp_path, "long", subtype="PCM_24", sidecar={})
    gain = np.float32(PCM_PEAK / 2.0)
    for path, wave in zip(paths, result.waveforms):
        written = sf.read(path, dtype="int32")[0] >> 8
        expected = np.clip(np.rint((wave * gain).astype(np.float64) * 2**23), -(2**23), 2**23 - 1)
        np.testing.assert_array_equal(written, expected)
    assert json.loads((tmp_path / "long.json").read_text())["output_gain_db"] == pytest.approx(
        20 * np.log10(PCM_PEAK / 2.0), abs=1e-3
    )


def test_a_stem_not_finite_past_the_first_block_is_refused(tmp_path):
    from separation_core.errors import AudioSaveError
    from separation_core.io.audio_io import BLOCK_SAMPLES

    waves = np.zeros((2, BLOCK_SAMPLES + 100), dtype=np.float32)
    waves[1, BLOCK_SAMPLES + 50] = np.inf
    result = SeparationResult(waveforms=waves, sample_rate=SR, model_name="t")
    with pytest.raises(AudioSaveError, match="samples contain NaN or infinite values"):
        write_stems(result, tmp_path, "bad", sidecar={})
    assert list(tmp_path.iterdir()) == []
