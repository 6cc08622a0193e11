"""Issue 15, timed (not run by CI: speed lives in benchmarks): the run estimate from a bench figure
measured here is within a factor of two of a timed run of a file twice as long.

    OMP_NUM_THREADS=2 python -m pytest -q tests/benchmarks/test_estimate_timing.py
"""

import time

import pytest

from separation_core.engine.run_estimate import estimate_run


def test_estimate_of_a_model_against_a_timed_run():
    """The estimate from a bench figure measured here, for this model, is within a factor of two of
    a timed run on a file twice as long."""
    import numpy as np

    from separation_core.checkpoints import catalog
    from separation_core.engine.inference import EngineOptions, separate
    from separation_core.evaluation.benchmark import real_time_factor, speech_like

    e = catalog.resolve("convtasnet")
    model = catalog.load_model(e)
    figure = real_time_factor(model, seconds=2.0, repeats=3)  # best of 3, as the timed run below
    bench = {
        "models": {
            e.id: {
                "parameters": e.num_parameters,
                "sample_rate": model.sample_rate,
                "n_src": model.n_src,
                "cpu": figure,
            }
        }
    }
    duration = 4.0
    estimate = estimate_run(e, duration, bench, device="cpu")
    x = speech_like(duration, model.sample_rate, seed=1)
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = separate(model, x, model.sample_rate, EngineOptions(device="cpu"))
        walls.append(time.perf_counter() - t0)
    assert np.isfinite(out.waveforms).all()
    assert estimate.seconds == pytest.approx(duration / figure["speed_x_realtime"])
    assert 0.5 <= estimate.seconds / min(walls) <= 2.0, (estimate.seconds, walls)
