"""Audio reading, resampling and atomic writing; one-line errors for every bad input."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import struct
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from helpers import LIBRISPEECH_DIR, needs_data, tone, voice
from separation_core.errors import AudioLoadError, AudioSaveError, ReferenceMismatchError
from separation_core.io import audio_io, audio_save
from separation_core.io.audio_io import (
    Audio,
    file_sha256,
    load_audio,
    load_references,
    read_info,
    resample,
)
from separation_core.io.audio_save import save_audio

SR = 16000


def _write(path, x, sr=SR, subtype="PCM_16", fmt=None):
    sf.write(str(path), x, sr, subtype=subtype, format=fmt)
    return path


def _peak_freq(x, sr):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)]


# ---------------------------------------------------------------- bad inputs


def _empty(d):
    p = d / "empty.wav"
    p.write_bytes(b"")
    return p


def _zero_samples(d):
    return _write(d / "zero.wav", np.zeros(0, np.float32))


def _truncated_wav(d):
    full = _write(d / "full.wav", voice(seconds=1.0))
    p = d / "truncated.wav"
    p.write_bytes(full.read_bytes()[:16000])
    return p


def _truncated_flac(d):
    full = _write(d / "full.flac", voice(seconds=1.0))
    p = d / "truncated.flac"
    p.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return p


def _header_only_wav(d):
    full = _write(d / "full.wav", voice(seconds=1.0))
    p = d / "header_only.wav"
    p.write_bytes(full.read_bytes()[:44])
    return p


def _garbage(d):
    p = d / "garbage.wav"
    p.write_bytes(np.random.default_rng(7).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return p


def _text(d):
    p = d / "notes.txt"
    p.write_text("not audio at all\n" * 50)
    return p


def _directory(d):
    p = d / "folder.wav"
    p.mkdir()
    return p


def _missing(d):
    return d / "missing.wav"


def _unsupported_m4a(d):
    p = d / "speech.m4a"
    p.write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00" + bytes(4000))
    return p


def _nan(d):
    x = voice(seconds=0.5)
    x[1234] = np.nan
    return _write(d / "nan.wav", x, subtype="FLOAT")


def _inf(d):
    x = voice(seconds=0.5)
    x[99] = -np.inf
    return _write(d / "inf.wav", x, subtype="FLOAT")


def _silent(d):
    return _write(d / "silent.wav", np.zeros(SR, np.float32))


def _too_short(d):
    return _write(d / "short.wav", voice(seconds=0.05))


BAD_INPUTS = {
    "empty": (_empty, "empty file (0 bytes)"),
    "zero_samples": (_zero_samples, "no audio samples"),
    "truncated_wav": (_truncated_wav, "truncated"),
    "truncated_flac": (_truncated_flac, "truncated"),
    "header_only_wav": (_header_only_wav, "truncated"),
    "garbage": (_garbage, "unrecognised data"),
    "text": (_text, "unrecognised data"),
    "directory": (_directory, "folder"),
    "missing": (_missing, "not found"),
    "unsupported": (_unsupported_m4a, "unsupported format"),
    "nan": (_nan, "NaN or infinite"),
    "inf": (_inf, "NaN or infinite"),
    "silent": (_silent, "silent"),
    "too_short": (_too_short, "too short: 0.050 s long; the minimum is 0.100 s"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_line_error_naming_the_file(tmp_path, case):
    make, expected = BAD_INPUTS[case]
    path = make(tmp_path)
    with pytest.raises(AudioLoadError) as info:
        load_audio(path)
    msg = str(info.value)
    assert str(path) in msg
    assert expected in msg
    assert "\n" not in msg and "\r" not in msg and "Traceback" not in msg


def test_truncated_wav_message_gives_both_lengths(tmp_path):
    with pytest.raises(AudioLoadError, match=r"\(1\.00 s\).*\(0\.50 s\)"):
        read_info(_truncated_wav(tmp_path))


def test_nan_message_gives_position(tmp_path):
    with pytest.raises(AudioLoadError, match=r"first at 0\.077 s"):
        load_audio(_nan(tmp_path))


def test_silent_allowed_on_request(tmp_path):
    audio = load_audio(_silent(tmp_path), allow_silent=True)
    assert len(audio.samples) == SR and not audio.samples.any()


def test_min_seconds_can_be_lowered(tmp_path):
    audio = load_audio(_too_short(tmp_path), min_seconds=0.01)
    assert len(audio.samples) == round(0.05 * SR)


def test_downmix_that_cancels_suggests_picking_a_channel(tmp_path):
    x = voice(seconds=0.5)
    path = _write(tmp_path / "anti.wav", np.stack([x, -x], axis=1))
    with pytest.raises(AudioLoadError, match="pick one channel"):
        load_audio(path)
    assert np.abs(load_audio(path, channel=1).samples).max() > 0.1


def test_channel_out_of_range(tmp_path):
    path = _write(tmp_path / "stereo.wav", np.stack([voice(), voice(seed=1)], axis=1))
    for bad in (2, -1):
        with pytest.raises(AudioLoadError) as info:
            load_audio(path, channel=bad)
        msg = str(info.value)
        assert (
            str(path) in msg and f"channel {bad}" in msg and "2 channels" in msg and "\n" not in msg
        )


def _write_only_sysfs_file():
    """A /sys attribute that can be written but not read (root too), or None."""
    for root, _, files in os.walk("/sys/bus"):
        for name in files:
            path = os.path.join(root, name)
            if (
                name in ("uevent", "drivers_probe", "drivers_autoprobe")
                and not os.stat(path).st_mode & 0o444
            ):
                return path
    return None


@pytest.mark.parametrize("path", ["/proc/self/mem", "sysfs"])
def test_kernel_pseudo_files_are_not_regular_files(path):
    path = _write_only_sysfs_file() if path == "sysfs" else path
    if path is None or not os.path.exists(path):
        pytest.skip("needs Linux /proc and /sys")
    with pytest.raises(AudioLoadError) as info:
        load_audio(path)
    msg = str(info.value)
    assert "not a regular file" in msg and path in msg
    assert "empty" not in msg and "unrecognised data" not in msg


def test_file_that_refuses_to_open_says_it_cannot_be_read(tmp_path, monkeypatch):
    from separation_core.io import fileutil

    path = _write(tmp_path / "locked.wav", voice(seconds=0.5))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fileutil, "open", denied, raising=False)  # root ignores chmod 000
    with pytest.raises(AudioLoadError, match="locked.wav: cannot be read: permission denied"):
        load_audio(path)

    def io_error(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fileutil, "open", io_error, raising=False)
    with pytest.raises(AudioLoadError, match=r"cannot be read \(Input/output error\)"):
        load_audio(path)


def test_libsndfile_multiline_message_is_flattened(tmp_path, monkeypatch):
    path = tmp_path / "odd.wav"
    path.write_bytes(b"RIFF" + bytes(100))

    def explode(*args, **kwargs):
        raise RuntimeError("Error : first line\n  second line\r\nTraceback (most recent call last)")

    monkeypatch.setattr(audio_io.sf, "SoundFile", explode)
    with pytest.raises(AudioLoadError) as info:
        load_audio(path)
    msg = str(info.value)
    assert "\n" not in msg and "\r" not in msg
    assert str(path) in msg and "first line second line" in msg


def test_clipping_is_a_warning_not_an_error(tmp_path):
    x = 2.0 * voice(seconds=0.5, amplitude=0.9)
    path = _write(tmp_path / "clipped.wav", np.clip(x, -1, 1))
    audio = load_audio(path)
    assert len(audio.warnings) == 1
    assert "clipping" in audio.warnings[0] and str(path) in audio.warnings[0]
    assert "\n" not in audio.warnings[0]


def test_float_beyond_full_scale_warns(tmp_path):
    x = voice(seconds=0.5)
    x[100] = 1.5
    assert load_audio(_write(tmp_path / "over.wav", x, subtype="FLOAT")).warnings


def test_single_full_scale_peak_is_not_clipping(tmp_path):
    x = voice(seconds=0.5)
    x = x / np.abs(x).max()  # peak-normalised: one sample at full scale, no flat top
    assert load_audio(_write(tmp_path / "normalised.wav", x, subtype="FLOAT")).warnings == ()


def test_clip_run_across_block_boundary_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_io, "BLOCK_SAMPLES", 1000)
    monkeypatch.setattr(audio_io, "MIN_BLOCK_FRAMES", 1000)
    x = voice(seconds=0.5)
    x[999:1001] = 1.0
    assert load_audio(_write(tmp_path / "edge.wav", x, subtype="FLOAT")).warnings


# ---------------------------------------------------------------- reading


def test_read_info(tmp_path):
    path = _write(
        tmp_path / "a.flac", np.zeros((22050, 3), np.float32) + 0.1, sr=44100, subtype="PCM_24"
    )
    info = read_info(path)
    assert (info.sample_rate, info.channels, info.frames) == (44100, 3, 22050)
    assert info.duration == pytest.approx(0.5)
    assert (info.format, info.subtype, info.path) == ("FLAC", "PCM_24", path)


def test_multichannel_downmix_and_channel_pick(tmp_path):
    chans = np.stack([voice(110 + 40 * k, seconds=0.5, seed=k) for k in range(5)], axis=1)
    path = _write(tmp_path / "five.wav", chans, subtype="FLOAT")
    audio = load_audio(path)
    assert isinstance(audio, Audio) and audio.channels == 5 and audio.sample_rate == SR
    assert audio.samples.dtype == np.float32 and audio.samples.shape == (chans.shape[0],)
    np.testing.assert_allclose(audio.samples, chans.mean(axis=1), atol=1e-7)
    np.testing.assert_array_equal(load_audio(path, channel=3).samples, chans[:, 3])
    with pytest.raises(dataclasses.FrozenInstanceError):
        audio.sample_rate = 8000


def test_block_reading_matches_whole_file(tmp_path, monkeypatch):
    chans = np.stack([voice(seconds=1.0), voice(200, seconds=1.0, seed=3)], axis=1)
    path = _write(tmp_path / "st.wav", chans, subtype="FLOAT", sr=44100)
    whole = load_audio(path, sample_rate=SR).samples
    monkeypatch.setattr(audio_io, "BLOCK_SAMPLES", 2000)
    monkeypatch.setattr(audio_io, "MIN_BLOCK_FRAMES", 10)
    blocks = load_audio(path, sample_rate=SR).samples
    np.testing.assert_allclose(blocks, whole, atol=1e-6)
    np.testing.assert_allclose(blocks, resample(chans.mean(axis=1), 44100, SR), atol=1e-6)


def test_downmix_does_not_hold_a_full_copy_of_the_channels(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_io, "BLOCK_SAMPLES", 1 << 16)
    n, ch = 40 * SR, 4
    path = tmp_path / "long.wav"
    with sf.SoundFile(str(path), "w", SR, ch, "FLOAT") as f:
        for k in range(8):
            f.write(np.full((n // 8, ch), 0.01 * (k + 1), np.float32))
    tracemalloc.start()
    try:
        audio = load_audio(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out = audio.samples.nbytes
    assert peak < out + 1024 * 1024  # the output plus a few blocks, no full-length temporary
    assert audio.samples[-1] == pytest.approx(0.08)


@pytest.mark.parametrize(
    "subtype,fmt,ext,step",
    [
        ("PCM_U8", "WAV", "wav", 1 / 128),
        ("PCM_S8", "AIFF", "aiff", 1 / 128),
        ("PCM_32", "WAV", "wav", 1e-7),
        ("DOUBLE", "WAV", "wav", 1e-7),
    ],
)
def test_other_bit_depths(tmp_path, subtype, fmt, ext, step):
    x = voice(seconds=0.5)
    path = _write(tmp_path / f"x.{ext}", x, subtype=subtype, fmt=fmt)
    audio = load_audio(path)
    assert np.abs(audio.samples - x).max() <= step


@pytest.mark.parametrize("sr", [8000, 22050, 96000, 192000])
def test_any_sample_rate(tmp_path, sr):
    x = tone(1000, seconds=0.25, sample_rate=sr)
    audio = load_audio(_write(tmp_path / "r.wav", x, sr=sr))
    assert audio.sample_rate == sr and len(audio.samples) == len(x)


@pytest.mark.parametrize(
    "fmt,subtype,ext",
    [("MP3", "MPEG_LAYER_III", "mp3"), ("OGG", "VORBIS", "ogg"), ("OGG", "OPUS", "opus")],
)
def test_lossy_formats_read_when_libsndfile_writes_them(tmp_path, fmt, subtype, ext):
    sr = 48000 if subtype == "OPUS" else 44100
    x = tone(1000, seconds=1.0, sample_rate=sr)
    path = tmp_path / f"t.{ext}"
    try:
        sf.write(str(path), x, sr, format=fmt, subtype=subtype)
    except (sf.LibsndfileError, TypeError, ValueError) as err:
        pytest.skip(f"libsndfile here cannot write {fmt}/{subtype}: {err}")
    audio = load_audio(path, sample_rate=SR)
    assert audio.sample_rate == SR
    assert abs(len(audio.samples) - SR) < 0.05 * SR
    assert abs(_peak_freq(audio.samples, SR) - 1000) < 5


@needs_data
def test_reads_real_librispeech_flac():
    path = sorted(LIBRISPEECH_DIR.glob("*.flac"))[0]
    audio = load_audio(path)
    info = read_info(path)
    assert audio.sample_rate == info.sample_rate == 16000
    assert len(audio.samples) == info.frames and np.abs(audio.samples).max() > 0.01


# ---------------------------------------------------------------- resampling


def test_resample_keeps_frequency_and_length(tmp_path):
    n = 44100 + 37
    x = tone(1000, seconds=n / 44100, sample_rate=44100)
    y = resample(x, 44100, 16000)
    assert y.dtype == np.float32 and len(y) == round(n * 16000 / 44100)
    assert abs(_peak_freq(y, 16000) - 1000) < 2
    # away from the edges the tone is reproduced: compare with the ideal 1 kHz at 16 kHz
    t = np.arange(len(y)) / 16000
    ideal = 0.5 * np.sin(2 * np.pi * 1000 * t)
    assert np.abs(y[200:-200] - ideal[200:-200]).max() < 1e-3

    audio = load_audio(_write(tmp_path / "t.wav", x, sr=44100, subtype="FLOAT"), sample_rate=16000)
    assert len(audio.samples) == len(y)
    np.testing.assert_allclose(audio.samples, y, atol=1e-6)


def test_resample_batch_shapes_and_identity():
    x = np.random.default_rng(0).standard_normal((2, 3, 4410)).astype(np.float32)
    y = resample(x, 44100, 8000)
    assert y.shape == (2, 3, 800)
    np.testing.assert_allclose(y[1, 2], resample(x[1, 2], 44100, 8000), atol=1e-6)
    same = resample(x, 16000, 16000)
    np.testing.assert_array_equal(same, x)
    assert same is not x
    assert resample(np.zeros((2, 0), np.float32), 8000, 16000).shape == (2, 0)


# ---------------------------------------------------------------- references


def test_load_references_pads_crops_and_resamples(tmp_path):
    length = SR
    a = _write(tmp_path / "a.wav", voice(seconds=1.02), subtype="FLOAT")
    b = _write(
        tmp_path / "b.wav",
        voice(200, seconds=0.98, sample_rate=8000, seed=2),
        sr=8000,
        subtype="FLOAT",
    )
    refs = load_references([a, b], sample_rate=SR, length=length)
    assert refs.shape == (2, length) and refs.dtype == np.float32
    np.testing.assert_allclose(refs[0], voice(seconds=1.02)[:length], atol=1e-7)
    assert not refs[1, round(0.98 * SR) :].any()
    assert np.abs(refs[1, : round(0.98 * SR)]).max() > 0.1


def test_load_references_refuses_length_mismatch(tmp_path):
    a = _write(tmp_path / "a.wav", voice(seconds=1.0))
    b = _write(tmp_path / "b.wav", voice(seconds=1.3))
    with pytest.raises(ReferenceMismatchError) as info:
        load_references([a, b], sample_rate=SR, length=SR)
    msg = str(info.value)
    assert str(b) in msg and "1.300 s" in msg and "1.000 s" in msg and "\n" not in msg
    with pytest.raises(ReferenceMismatchError):
        load_references([], sample_rate=SR, length=SR)


# ---------------------------------------------------------------- writing

ROUND_TRIPS = [
    (".wav", "PCM_16", 0.5 / 32768),
    (".wav", "PCM_24", 0.5 / 2**23),
    (".wav", "FLOAT", 0.0),
    (".flac", "PCM_16", 0.5 / 32768),
    (".flac", "PCM_24", 0.5 / 2**23),
]


@pytest.mark.parametrize("ext,subtype,tol", ROUND_TRIPS)
def test_save_round_trip(tmp_path, ext, subtype, tol):
    x = np.stack([voice(seconds=0.5, amplitude=0.99), voice(230, seconds=0.5, seed=4)])
    x[0, :4] = [-1.0, 0.999, -0.5, 1 / 32768]
    path = save_audio(tmp_path / f"out{ext}", x, SR, subtype=subtype)
    assert path == tmp_path / f"out{ext}"
    info = read_info(path)
    assert (info.channels, info.frames, info.subtype) == (2, x.shape[1], subtype)
    back, sr = sf.read(str(path), dtype="float32", always_2d=True)
    assert sr == SR
    err = np.abs(back.T.astype(np.float64) - x.astype(np.float64)).max()
    assert err <= tol + 1e-9
    if subtype == "FLOAT":
        np.testing.assert_array_equal(back.T, x)
    np.testing.assert_array_equal(load_audio(path, channel=1).samples, back[:, 1])
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_save_mono_1d(tmp_path):
    x = voice(seconds=0.3)
    path = save_audio(tmp_path / "m.wav", x, 8000, subtype="FLOAT")
    back, sr = sf.read(str(path), dtype="float32")
    assert sr == 8000 and back.ndim == 1
    np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize("subtype,full", [("PCM_16", 32767), ("PCM_24", 2**23 - 1)])
def test_save_clips_instead_of_wrapping(tmp_path, subtype, full):
    x = np.array([1.5, -1.5, 1.0, -1.0, 0.25] * 100, np.float32)
    path = save_audio(tmp_path / "c.wav", x, SR, subtype=subtype)
    back, _ = sf.read(str(path), dtype="int32")
    q = back[:5] >> (32 - (16 if subtype == "PCM_16" else 24))
    np.testing.assert_array_equal(q, [full, -full - 1, full, -full - 1, (full + 1) // 4])


def test_save_refuses_to_overwrite(tmp_path):
    path = tmp_path / "keep.wav"
    path.write_bytes(b"precious")
    with pytest.raises(AudioSaveError) as info:
        save_audio(path, voice(seconds=0.2), SR)
    assert str(path) in str(info.value) and "exists" in str(info.value)
    assert path.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]
    save_audio(path, voice(seconds=0.2), SR, overwrite=True)
    assert read_info(path).frames == round(0.2 * SR)


def test_failed_save_leaves_no_temp_and_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "out.wav"
    path.write_bytes(b"old")
    calls = []

    def fail_second_block(block, subtype):
        calls.append(len(block))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return block.astype(np.float32)

    monkeypatch.setattr(audio_save, "BLOCK_SAMPLES", 1000)
    monkeypatch.setattr(audio_save, "MIN_BLOCK_FRAMES", 1000)
    monkeypatch.setattr(audio_save, "_to_file_dtype", fail_second_block)
    with pytest.raises(AudioSaveError) as info:
        save_audio(path, voice(seconds=0.5), SR, subtype="FLOAT", overwrite=True)
    msg = str(info.value)
    assert str(path) in msg and "No space left on device" in msg and "\n" not in msg
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]
    assert path.read_bytes() == b"old"


@pytest.mark.parametrize(
    "name,subtype,samples,expected",
    [
        ("x.flac", "FLOAT", None, "FLAC cannot be written as FLOAT"),
        ("x.mp3", "PCM_16", None, "unsupported extension"),
        ("x.wav", "PCM_8", None, "WAV cannot be written as PCM_8"),
        ("x.wav", "PCM_16", np.array([0.1, np.nan, 0.2]), "NaN"),
        ("x.wav", "PCM_16", np.zeros((2, 0)), "nothing to write"),
        ("x.wav", "PCM_16", np.zeros((2, 3, 4)), "nothing to write"),
        ("missing/x.wav", "PCM_16", None, "does not exist"),
    ],
)
def test_save_refusals(tmp_path, name, subtype, samples, expected):
    x = voice(seconds=0.1) if samples is None else samples
    path = tmp_path / name
    with pytest.raises(AudioSaveError) as info:
        save_audio(path, x, SR, subtype=subtype)
    assert expected in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)
    assert not path.exists()


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions, not root"
)
def test_save_into_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(AudioSaveError, match="not writable"):
            save_audio(folder / "x.wav", voice(seconds=0.1), SR)
    finally:
        folder.chmod(0o755)
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_saved_file_gets_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = save_audio(tmp_path / "p.wav", voice(seconds=0.1), SR)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# ---------------------------------------------------------------- hashing


def test_file_sha256(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, 3_000_000, dtype=np.uint8).tobytes()
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    with pytest.raises(AudioLoadError, match="not found"):
        file_sha256(tmp_path / "nope.bin")


def test_wav_with_odd_chunk_before_data_is_not_called_truncated(tmp_path):
    path = _write(tmp_path / "plain.wav", voice(seconds=0.3))
    raw = path.read_bytes()
    # insert an odd-sized LIST chunk (padded to even) between fmt and data
    i = raw.find(b"data")
    extra = b"LIST" + struct.pack("<I", 5) + b"INFO!" + b"\x00"
    body = raw[12:i] + extra + raw[i:]
    fixed = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    path.write_bytes(fixed)
    assert len(load_audio(path).samples) == round(0.3 * SR)


def test_one_lsb_dither_counts_as_silence(tmp_path):
    x = np.random.default_rng(3).integers(-1, 2, SR).astype(np.int16)
    path = tmp_path / "dither.wav"
    sf.write(str(path), x, SR, subtype="PCM_16")
    with pytest.raises(AudioLoadError, match="silent"):
        load_audio(path)


def test_save_permission_denied_is_reported(tmp_path, monkeypatch):
    real_open = os.open

    def deny(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path / ".cocktail-")):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(audio_save.os, "open", deny)
    with pytest.raises(AudioSaveError, match="not writable") as info:
        save_audio(tmp_path / "x.wav", voice(seconds=0.1), SR)
    assert str(tmp_path / "x.wav") in str(info.value)
    assert list(tmp_path.iterdir()) == []
