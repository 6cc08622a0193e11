"""Issue 15: the time and memory a run will take, from bench figures, before it starts."""

from types import SimpleNamespace

import pytest

from separation_core.engine.run_estimate import (
    LONG_RUN_SECONDS,
    RunEstimate,
    estimate_run,
    load_bench,
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
    oracle = estimate_run(entry("oracle-irm", kind="oracle", params=0), 60.0, BENCH, known=known)
    assert (
        other.seconds is None and other.text() == "no estimate" and oracle.text() == "no estimate"
    )


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
