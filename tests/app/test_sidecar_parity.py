"""One sidecar for the command line and the desktop program's export job (issue 16): the same keys
for the same input, the input hashed once per file, timings under their own names."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import soundfile as sf

from conftest import synthetic_sources
from separation_core.cli import main
from separation_core.io import export

RATE = 22050  # not a model's rate: the sidecar records the input's


def _gui_export(mix, out, keys):
    from app.jobs.export import ExportItem, ExportJob
    from app.jobs.separation import RunSettings
    from separation_core.checkpoints.catalog import load_model, resolve
    from separation_core.engine.inference import separate
    from separation_core.io.audio_io import load_audio

    audio = load_audio(mix)
    items = []
    for key in keys:
        entry = resolve(key)
        result = separate(load_model(entry), audio.samples, audio.sample_rate)
        items.append(
            ExportItem(
                result=result,
                entry=entry,
                input_stem=f"{mix.stem}_{key}",
                options=RunSettings().to_dict(),
                timings=dict(result.timings),
            )
        )
    job = ExportJob(
        items=tuple(items),
        out_dir=out,
        template="{stem}_s{index}",
        subtype="PCM_16",
        extension=".wav",
        input_path=mix,
    )
    published = []
    ctx = SimpleNamespace(
        cancel=SimpleNamespace(raise_if_cancelled=lambda: None),
        progress=lambda *a: None,
        publish=published.append,
    )
    written = job.run(ctx)
    assert published == list(keys)
    return written


def test_cli_and_gui_sidecars_have_the_same_keys(tmp_path, monkeypatch):
    mix = tmp_path / "talk.wav"
    sf.write(mix, synthetic_sources(seconds=1.0, sr=RATE).sum(0), RATE, subtype="FLOAT")
    hashed = []
    real = export.file_sha256
    monkeypatch.setattr(export, "file_sha256", lambda p: hashed.append(p) or real(p))

    assert (
        main(
            ["separate", str(mix), "--model", "ff-mask", "--out", str(tmp_path / "cli"), "--quiet"]
        )
        == 0
    )
    cli = json.loads((tmp_path / "cli" / "talk.json").read_text())
    assert hashed == [mix]

    hashed.clear()
    written = _gui_export(mix, tmp_path / "gui", ["ff-mask", "denoise-wiener"])
    assert hashed == [mix]  # one input, two results: hashed once
    assert sorted(p.name for p in written) == sorted(
        f"talk_{k}{s}"
        for k in ("ff-mask", "denoise-wiener")
        for s in ("_s1.wav", "_s2.wav", ".json")
    )
    gui = json.loads((tmp_path / "gui" / "talk_ff-mask.json").read_text())

    assert set(cli) == set(gui)
    assert set(cli["model"]) == set(gui["model"])
    for key in (
        "input",
        "input_sha256",
        "sample_rate",
        "samples",
        "output_sample_rate",
        "output_subtype",
        "output_gain_db",
        "notes",  # the result's own (SeparationResult.notes)
    ):
        assert cli[key] == gui[key], key
    assert cli["sample_rate"] == RATE and cli["samples"] == RATE
    assert set(gui["options"]) <= set(cli["options"])
    assert {k: cli["options"][k] for k in ("format", "subtype", "residual")} == {
        "format": "wav",
        "subtype": "PCM_16",
        "residual": False,
    }
    assert set(gui["timings"]) <= set(cli["timings"])
    # the engine's resampling is "prepare"; reading the file is "load_input", timed on its own
    assert {"prepare", "load_input", "model_load"} <= set(cli["timings"])
    assert cli["timings"]["load_input"] != cli["timings"]["prepare"]
    assert np.isfinite(cli["timings"]["load_input"]) and cli["timings"]["load_input"] >= 0
