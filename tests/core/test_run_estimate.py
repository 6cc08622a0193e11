"""Issue 15: the time and memory a run will take, from bench figures, before it starts."""

from types import SimpleNamespace

import numpy as np
import pytest

from separation_core.engine.run_estimate import (
    DEFAULT_CHUNK_SECONDS,
    DSP_SPEED_X_REALTIME,
    LONG_RUN_SECONDS,
    RunEstimate,
    chunked_seconds,
    estimate_conversation,
    estimate_run,
    load_bench,
    with_denoiser,
)


def entry(model_id, kind="time-domain", params=1_000_000, sr=16000, model_name=None):
    return SimpleNamespace(
        id=model_id, kind=kind, num_parameters=params, sample_rate=sr, model_name=model_name
    )


BENCH = {
    "machine": {"cpu": "test CPU", "threads": 2},
    "models": {
        "m": {
            "parameters": 1_000_000,
            "sample_rate": 16000,
            "n_src": 2,
            "cpu": {"seconds": 60.0, "speed_x_realtime": 20.0},
            "long": {"minutes": 10.0, "peak_mb": 700.0, "speed_x_realtime": 10.0},
        }
    },
}


def test_time_interpolates_between_the_short_and_the_long_figure():
    e = entry("m")
    assert estimate_run(e, 30.0, BENCH).seconds == pytest.approx(30.0 / 20.0)  # short: as measured
    assert estimate_run(e, 3600.0, BENCH).seconds == pytest.approx(
        3600.0 / 10.0
    )  # long: as measured
    mid = estimate_run(e, 180.0, BENCH).seconds
    assert 180.0 / 20.0 < mid < 180.0 / 10.0


def test_memory_is_the_long_peak_plus_the_audio_of_the_difference():
    e = entry("m")
    assert estimate_run(e, 600.0, BENCH).peak_mb == pytest.approx(700.0)
    per_min = 3 * 4 * 16000 * 60 / 2**20  # mixture + two outputs, float32
    assert estimate_run(e, 1200.0, BENCH).peak_mb == pytest.approx(700.0 + 10 * per_min)


def test_warning_above_ten_minutes():
    bench = {"models": {"m": {"cpu": {"seconds": 60.0, "speed_x_realtime": 1.0}}}}
    e = entry("m")
    assert LONG_RUN_SECONDS == 600.0
    below, above = estimate_run(e, 599.0, bench), estimate_run(e, 601.0, bench)
    assert not below.warn and above.warn
    assert "over 10 min" in above.text() and "over" not in below.text()


def test_gpu_figure_only_when_the_bench_has_one():
    e = entry("m")
    no_gpu = estimate_run(e, 60.0, BENCH, device="cuda")
    assert no_gpu.seconds is None and no_gpu.text().startswith("no GPU figure")
    bench = {"models": {"m": dict(BENCH["models"]["m"], gpu={"speed_x_realtime": 200.0})}}
    assert estimate_run(e, 60.0, bench, device="cuda").seconds == pytest.approx(0.3)
    assert estimate_run(e, 60.0, bench, device="cpu").seconds == pytest.approx(3.0)


def test_models_without_figures_scale_from_one_of_the_same_kind_or_say_so():
    known = {"m": entry("m")}
    big = estimate_run(entry("big", params=3_000_000), 60.0, BENCH, known=known)
    assert big.seconds == pytest.approx(3 * 60.0 / 20.0) and "scaled from m" in big.text()
    slow_rate = estimate_run(entry("8k", params=1_000_000, sr=8000), 60.0, BENCH, known=known)
    assert slow_rate.seconds == pytest.approx(0.5 * 60.0 / 20.0)
    other = estimate_run(entry("dc", kind="deep-clustering"), 60.0, BENCH, known=known)
    unsized = estimate_run(entry("m2", params=0), 60.0, BENCH, known=known)
    assert other.seconds is None and other.text() == "no estimate"
    assert unsized.text() == "no estimate"


def test_a_copy_of_a_benchmarked_network_gets_its_figures_not_a_scaled_guess():
    """Issue 30: a byte-identical copy of a bundled model was 'scaled from another model by size'."""
    known = {"m": entry("m", model_name="convtasnet")}
    copy = entry("my-copy", model_name="convtasnet")
    measured = estimate_run(entry("m", model_name="convtasnet"), 180.0, BENCH, known=known)
    got = estimate_run(copy, 180.0, BENCH, known=known)
    assert (got.seconds, got.peak_mb) == (measured.seconds, measured.peak_mb)
    assert "same network" in got.text() and "scaled" not in got.text()
    other = estimate_run(
        entry("x", model_name="convtasnet", params=2_000_000), 60.0, BENCH, known=known
    )
    assert "scaled from m" in other.text()


def test_the_repository_bench_report_is_found():
    bench = load_bench()
    assert "convtasnet-libri-16k" in bench.get("models", {})
    assert RunEstimate("x", 0.5).text() == "< 1 s"


def test_shorter_chunks_cost_the_overlap_they_compute_again():
    """Issue 30: with 4 s chunks the estimate stayed at the default chunk's figure."""
    e = entry("m")
    base = estimate_run(e, 180.0, BENCH)
    assert estimate_run(e, 180.0, BENCH, chunk_seconds=None).seconds == base.seconds
    # 8 s chunks, 2 s overlap: 1 + ceil(172 / 6) = 30 chunks; 4 s, 1 s overlap: 1 + ceil(176 / 3) = 60
    assert chunked_seconds(180.0, 8.0) == (240.0, 30)
    assert chunked_seconds(180.0, 4.0) == (240.0, 60)
    assert chunked_seconds(180.0, 16.0) == (13 * 16.0, 13)  # 2 s overlap: steps of 14 s
    assert chunked_seconds(3.0, 4.0) == (3.0, 1) and chunked_seconds(30.0, 0) == (30.0, 1)
    short = estimate_run(e, 180.0, BENCH, chunk_seconds=4.0, default_chunk_seconds=16.0)
    factor = 240.0 / 208.0
    assert short.seconds == pytest.approx(base.seconds * factor) and factor > 1.1
    assert short.peak_mb == base.peak_mb
    same = estimate_run(e, 180.0, BENCH, chunk_seconds=8.0)  # the default, named
    assert same.seconds == pytest.approx(base.seconds)
    cuda = {"models": {"m": dict(BENCH["models"]["m"], gpu={"speed_x_realtime": 200.0})}}
    gpu = estimate_run(e, 180.0, cuda, device="cuda", chunk_seconds=4.0, default_chunk_seconds=16.0)
    assert gpu.seconds == pytest.approx(180.0 / 200.0 * factor)


def test_the_chunks_counted_are_the_engines():
    from separation_core.engine import inference
    from separation_core.models.registry import get_model_class

    assert DEFAULT_CHUNK_SECONDS == inference.DEFAULT_CHUNK_SECONDS
    model = get_model_class("denoise-wiener")()
    x = np.random.default_rng(0).standard_normal(16000 * 30).astype(np.float32) * 0.1
    for chunk in (4.0, 8.0, 12.0):
        result = inference.separate(model, x, 16000, inference.EngineOptions(chunk_seconds=chunk))
        assert result.timings["chunks"] == chunked_seconds(30.0, chunk)[1]


def test_classical_and_oracle_models_get_their_measured_speed():
    """Issue 30: denoise-wiener said "no estimate"."""
    wiener = entry("denoise-wiener", kind="classical", params=0)
    got = estimate_run(wiener, 120.0, BENCH)
    assert got.seconds == pytest.approx(120.0 / DSP_SPEED_X_REALTIME["classical"])
    assert got.peak_mb is None and "measured speed of classical models" in got.text()
    oracle = estimate_run(entry("oracle-irm", kind="oracle", params=0), 120.0, BENCH, device="cuda")
    assert oracle.seconds == pytest.approx(120.0 / DSP_SPEED_X_REALTIME["oracle"])


def test_denoising_first_adds_the_denoiser_once_on_the_whole_input():
    bench = {
        "models": {
            **BENCH["models"],
            "den": {
                "sample_rate": 16000,
                "n_src": 2,
                "cpu": {"seconds": 60.0, "speed_x_realtime": 40.0},
                "long": {"minutes": 10.0, "peak_mb": 1500.0, "speed_x_realtime": 50.0},
            },
        }
    }
    separator, denoiser = entry("m"), entry("den")
    plain = estimate_run(separator, 30.0, bench)
    got = with_denoiser(plain, denoiser, 30.0, bench)
    assert got.seconds == pytest.approx(30.0 / 20.0 + 30.0 / 40.0)
    den_peak = estimate_run(denoiser, 30.0, bench).peak_mb
    assert den_peak > plain.peak_mb and got.peak_mb == den_peak  # the larger of the two stages
    assert got.denoiser == "den" and got.text().endswith(", den first")
    # conversation mode: the separator on its share, the denoiser once over the whole recording
    talk = estimate_conversation(separator, 1800.0, bench)
    both = with_denoiser(talk, denoiser, 1800.0, bench)
    assert both.seconds == pytest.approx(talk.seconds + 1800.0 / 50.0) and both.conversation
    # on a GPU the denoiser has no figure here: left out, and said
    gpu = {
        "models": {
            **bench["models"],
            "m": {**bench["models"]["m"], "gpu": {"speed_x_realtime": 200.0}},
        }
    }
    on_gpu = with_denoiser(
        estimate_run(separator, 60.0, gpu, device="cuda"), denoiser, 60.0, gpu, device="cuda"
    )
    assert on_gpu.seconds == pytest.approx(0.3) and not on_gpu.denoiser
    assert "den first not counted: no GPU figure" in on_gpu.text()
    unknown = estimate_run(entry("x", kind="other"), 60.0, bench)
    assert with_denoiser(unknown, denoiser, 60.0, bench) == unknown  # nothing to add to
