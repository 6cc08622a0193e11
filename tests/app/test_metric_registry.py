"""One metric registry in the core: a metric registered there (and removed after) shows up in
``evaluate_separation``, `cocktail evaluate`, `cocktail bench`, training validation, the model card's
table and the desktop Metrics view, with nothing else to edit."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

import separation_core.evaluation.scoring as M
from helpers import two_voices
from separation_core.cli import main

SR = 16000


def peak(pair: M.Pair) -> float:
    return float(np.max(np.abs(pair.est)))


@pytest.fixture
def dummy():
    metric = M.register_metric(
        M.Metric(
            "dummy_peak",
            peak,
            "Peak",
            "FS",
            fmt=".4f",
            headline=True,
            validation=True,
            description="peak of the estimate",
        )
    )
    try:
        yield metric
    finally:
        M.unregister_metric("dummy_peak")
    assert "dummy_peak" not in M.ALL_METRICS + M.DEFAULT_METRICS


@pytest.fixture
def voices():
    sources, mixture = two_voices(1.0, SR)
    return sources.astype(np.float64), mixture.astype(np.float64)


def test_registry_refuses_a_second_registration_and_lists_in_order(dummy):
    with pytest.raises(ValueError, match="already registered"):
        M.register_metric(dummy)
    assert M.ALL_METRICS[-1] == "dummy_peak" and M.DEFAULT_METRICS[-1] == "dummy_peak"
    assert [m.name for m in M.metric_specs(default=True)] == list(M.DEFAULT_METRICS)
    assert dummy.heading == "Peak (FS)" and dummy.format(float("nan")) == "–"
    with pytest.raises(ValueError, match="unknown metric"):
        M.get_metric("nope")


def test_dummy_metric_in_evaluate_separation(dummy, voices):
    sources, mixture = voices
    est = sources[::-1] * 0.5
    ev = M.evaluate_separation(est, sources, mixture, SR)
    for i, values in enumerate(ev.per_source):
        assert list(values) == list(M.DEFAULT_METRICS)
        assert values["dummy_peak"] == pytest.approx(np.max(np.abs(est[ev.permutation[i]])))
    assert ev.mean["dummy_peak"] == pytest.approx(np.mean(np.max(np.abs(sources), axis=1)) * 0.5)


def test_dummy_metric_in_the_evaluate_command(dummy, voices, tmp_path, capsys):
    sources, mixture = voices
    paths = {}
    for name, signal in (("mix", mixture), ("s1", sources[0]), ("s2", sources[1])):
        paths[name] = tmp_path / f"{name}.wav"
        sf.write(paths[name], signal, SR, subtype="FLOAT")
    args = [
        "evaluate",
        "--mixture",
        str(paths["mix"]),
        "--refs",
        str(paths["s1"]),
        str(paths["s2"]),
        "--estimates",
        str(paths["s2"]),
        str(paths["s1"]),
    ]
    assert main([*args, "--metrics", "si_sdr,dummy_peak", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["per_source"][0]["dummy_peak"] == pytest.approx(
        np.max(np.abs(sources[0])), rel=1e-6
    )
    assert main([*args, "--metrics", "si_sdr,dummy_peak"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "dummy_peak"
    assert lines[1].split()[-1] == format(np.max(np.abs(sources[0])), ".4f")
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "dummy_peak: peak of the estimate" in " ".join(capsys.readouterr().out.split())


def test_dummy_metric_in_bench_validation_and_model_card(dummy, tmp_path, capsys):
    from separation_core.checkpoints.cards import quality_rows
    from separation_core.data.mixing import build_mixture_set, load_mixture_set
    from separation_core.models import get_model_class
    from separation_core.training.validation import validation_metrics

    speech = tmp_path / "speech"
    speech.mkdir()
    for k in range(9):
        sf.write(speech / f"{200 + k}-1-0000.wav", two_voices(1.0, SR, seed=k)[0][k % 2], SR)
    build_mixture_set([speech], tmp_path / "test", num=1, split="test", seed=0)
    bench = [
        "bench",
        "--models",
        "oracle-irm",
        "--seconds",
        "1",
        "--long-minutes",
        "0",
        "--test-set",
        str(tmp_path / "test"),
    ]
    assert main([*bench, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    value = report["models"]["oracle-irm"]["quality"]["dummy_peak"]
    assert 0 < value < 1
    assert main(bench) == 0
    header, *rows = capsys.readouterr().out.splitlines()[1:]
    assert header.split()[-1] == "Peak"
    irm = next(r for r in rows if r.startswith("oracle-irm"))
    assert irm.split()[-1] == format(value, ".4f")

    items = load_mixture_set(tmp_path / "test")
    oracle = get_model_class("oracle-irm")(sample_rate=SR, n_src=2)
    assert "dummy_peak" in validation_metrics(oracle, items, "cpu")

    table = quality_rows(report, "oracle-irm")
    assert table[0].endswith("| Peak (FS) |") and table[1] == "|---|" + "---|" * 5
    assert table[2].endswith(f"| {value:.4f} |")


def test_dummy_metric_in_the_metrics_view(dummy, qtbot, voices):
    from app.jobs.metrics import evaluate_in_steps
    from app.views.metrics import MetricsView
    from fakes import record

    sources, mixture = voices
    rec = record("ff-mask", sources[::-1] * 0.5, None, None)
    rec.evaluation = evaluate_in_steps(rec.result.waveforms, sources, mixture, SR, lambda *a: None)
    session = SimpleNamespace(results={"ff-mask": rec}, references=sources)
    view = MetricsView()
    qtbot.addWidget(view)
    view.set_session(session)
    headers = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert headers[-1] == "Peak (FS)"
    assert view.table.horizontalHeaderItem(len(headers) - 1).toolTip() == "peak of the estimate"
    last = view.table.columnCount() - 1
    shown = [view.table.item(r, last).text() for r in range(view.table.rowCount())]
    assert shown == [
        format(v, ".4f")
        for v in (
            *np.max(np.abs(sources), axis=1) * 0.5,
            np.mean(np.max(np.abs(sources), axis=1)) * 0.5,
        )
    ]
    assert view.metric_combo.itemData(view.metric_combo.count() - 1) == "dummy_peak"
