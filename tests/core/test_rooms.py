"""Reverberation: simulated and measured rooms, the images they make, and the mixtures built with them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from separation_core.data import build_mixture_set, load_mixture_set
from separation_core.data.dynamic import DynamicMixDataset
from separation_core.data.rooms import (
    ReverbOptions,
    Room,
    measured_rooms,
    reverberate,
    simulate_room,
    simulated_bank,
    trim_rir,
)
from separation_core.errors import CocktailError

SR = 8000


def _speech(
    root, names=("1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "1010")
):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for k, name in enumerate(names):
        t = np.arange(int(1.2 * SR)) / SR
        x = (
            0.2
            * np.sin(2 * np.pi * (120 + 20 * k) * t)
            * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
        )
        sf.write(
            root / f"{name}-1-0000.wav",
            (x + 0.01 * rng.standard_normal(len(t))).astype(np.float32),
            SR,
        )
    return root


def test_trim_rir_starts_just_before_the_peak_with_a_unit_direct_path():
    h = np.zeros(4000)
    h[700], h[900], h[1500] = 2.0, 0.5, -0.3
    out = trim_rir(h, 8000)
    lead = int(round(0.002 * 8000))
    assert np.argmax(np.abs(out)) == lead
    assert out.dtype == np.float32 and len(out) == 4000 - (700 - lead)
    direct = out[: 2 * lead + 4]
    assert np.sum(direct.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-5)


def test_reverberate_is_the_convolution_cut_to_the_input_length():
    rng = np.random.default_rng(0)
    placed = rng.standard_normal((2, 500)).astype(np.float32)
    room = Room(rng.standard_normal((3, 64)).astype(np.float32), {"kind": "test"})
    wet = reverberate(placed, room, [2, 0])
    assert wet.shape == (2, 500)
    for k, p in enumerate([2, 0]):
        np.testing.assert_allclose(wet[k], np.convolve(placed[k], room.rirs[p])[:500], atol=1e-4)


def test_simulated_room_decays_as_its_rt60_says_and_is_seeded():
    room = simulate_room(np.random.default_rng([5, 1]), 16000, (0.4, 0.4), positions=2)
    again = simulate_room(np.random.default_rng([5, 1]), 16000, (0.4, 0.4), positions=2)
    np.testing.assert_array_equal(room.rirs, again.rirs)
    assert room.rirs.shape[0] == 2 and room.info["rt60"] == pytest.approx(0.4)
    # Schroeder backward integration: the time the energy decay curve takes from -5 to -25 dB, x3
    h = room.rirs[0].astype(np.float64)
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    t5, t25 = np.argmax(edc_db < -5), np.argmax(edc_db < -25)
    rt60 = 3 * (t25 - t5) / 16000
    assert 0.2 < rt60 < 0.8  # the image-source method is close to Sabine's formula, not equal


def test_bank_is_cached_and_reloaded_identically(tmp_path):
    bank = simulated_bank(2, 8000, seed=3, rt60_range=(0.1, 0.2), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("rooms-*.npz"))) == 1
    again = simulated_bank(2, 8000, seed=3, rt60_range=(0.1, 0.2), cache_dir=tmp_path)
    for a, b in zip(bank, again):
        np.testing.assert_array_equal(a.rirs, b.rirs)
        assert a.info == b.info


def test_measured_rooms_one_per_folder(tmp_path):
    for room, n in (("hall", 3), ("booth", 2)):
        (tmp_path / room).mkdir()
        for k in range(n):
            h = np.zeros(800, np.float32)
            h[10 + k] = 1.0
            h[200:] = 0.01 * np.random.default_rng(k).standard_normal(600)
            sf.write(tmp_path / room / f"r{k}.wav", h, SR)
    rooms = measured_rooms(tmp_path, SR)
    assert [(r.info["room"], r.rirs.shape[0]) for r in rooms] == [("booth", 2), ("hall", 3)]
    with pytest.raises(CocktailError, match="no room impulse response"):
        (tmp_path / "empty").mkdir()
        measured_rooms(tmp_path / "empty", SR)


def test_reverb_options_draw_distinct_positions_and_nothing_when_off():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert ReverbOptions().draw(rng, 2) == (None, [])
    assert rng.bit_generator.state == state  # off: no draw, so dry runs keep their old mixtures
    room = Room(np.ones((3, 4), np.float32), {"kind": "test"})
    options = ReverbOptions(simulated=(room,), prob=1.0)
    for _ in range(20):
        chosen, positions = options.draw(rng, 2)
        assert chosen is room and len(set(positions)) == 2
    never = ReverbOptions(simulated=(room,), prob=0.0)
    assert all(never.draw(rng, 2)[0] is None for _ in range(10))


def test_reverberant_set_keeps_the_dry_sets_draws_and_sums_to_the_mixture(tmp_path):
    speech = _speech(tmp_path / "speech")
    room = simulate_room(np.random.default_rng(1), SR, (0.5, 0.5))
    dry = build_mixture_set(speech, tmp_path / "dry", num=3, split="train", seed=4, sample_rate=SR)
    wet = build_mixture_set(
        speech,
        tmp_path / "wet",
        num=3,
        split="train",
        seed=4,
        sample_rate=SR,
        reverb=ReverbOptions(simulated=(room,)),
    )
    meta_dry, meta_wet = (json.loads(p.read_text()) for p in (dry, wet))
    for a, b in zip(meta_dry["mixtures"], meta_wet["mixtures"]):
        assert [s["speaker"] for s in a["sources"]] == [s["speaker"] for s in b["sources"]]
        assert a["room"] is None and b["room"]["kind"] == "simulated"
    assert meta_wet["reverb"]["target"] == "reverberant image of each speaker"
    for item in load_mixture_set(tmp_path / "wet"):
        np.testing.assert_allclose(item.sources.sum(0), item.mixture, atol=1e-6)


def test_dynamic_mixing_with_rooms_and_a_noise_share_is_deterministic(tmp_path):
    speech = _speech(tmp_path / "speech")
    noise = tmp_path / "noise"
    noise.mkdir()
    sf.write(
        noise / "hum.wav",
        0.1 * np.random.default_rng(0).standard_normal(4 * SR).astype(np.float32),
        SR,
    )
    room = simulate_room(np.random.default_rng(2), SR, (0.3, 0.3))
    kw = dict(
        split="train",
        sample_rate=SR,
        segment_seconds=0.5,
        noise_dirs=noise,
        noise_prob=0.5,
        reverb=ReverbOptions(simulated=(room,), prob=0.5),
        epoch_size=40,
        seed=1,
    )
    a, b = DynamicMixDataset(speech, **kw), DynamicMixDataset(speech, **kw)
    noisy = 0
    for i in range(40):
        (ma, sa), (mb, sb) = a[i], b[i]
        assert (ma == mb).all() and (sa == sb).all()
        residual = float((ma - sa.sum(0)).abs().max())
        noisy += residual > 1e-6
    assert 8 <= noisy <= 32  # about half of the mixtures carry noise
    with pytest.raises(CocktailError, match="probability"):
        DynamicMixDataset(speech, **{**kw, "noise_prob": 1.5})


def test_mix_command_builds_reverberant_sets_from_measured_and_simulated_rooms(tmp_path, capsys):
    from separation_core.cli import main

    speech = _speech(tmp_path / "speech")
    rir = tmp_path / "rir" / "hall"
    rir.mkdir(parents=True)
    for k in range(3):
        h = np.zeros(400, np.float32)
        h[5 + k] = 1.0
        sf.write(rir / f"r{k}.wav", h, SR)
    args = [
        "mix",
        "--speech",
        str(speech),
        "--num",
        "4",
        "--split",
        "train",
        "--sample-rate",
        str(SR),
        "--rooms",
        "simulated",
        "--rir",
        str(tmp_path / "rir"),
        "--measured-prob",
        "0.5",
        "--rt60-range",
        "0.2,0.3",
        "--quiet",
        "--out",
    ]
    assert main(args + [str(tmp_path / "set")]) == 0
    meta = json.loads((tmp_path / "set" / "metadata.json").read_text())
    kinds = {m["room"]["kind"] for m in meta["mixtures"]}
    assert kinds <= {"simulated", "measured"} and all(m["room"] for m in meta["mixtures"])
    assert meta["reverb"]["measured_rooms"] == ["hall"]
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "mix",
                "--speech",
                str(speech),
                "--num",
                "1",
                "--out",
                str(tmp_path / "bad"),
                "--reverb-prob",
                "2",
            ]
        )
    assert exit_.value.code == 2
    assert "at most 1" in capsys.readouterr().err
