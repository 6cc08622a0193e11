"""Conversation mode on a long recording (issue 31; not run by CI): peak resident memory and speed of
`cocktail separate --mode conversation`, and where the memory goes stage by stage.

    python tests/benchmarks/bench_conversation_memory.py runs/hour.wav [--stages] [--keep-masks]

Targets (issue 31): at least 10x real time on 2 cores, at most 1.5 GB for a one-hour recording.
The command line runs in a child process, whose own peak (VmHWM) is reported; with ``--stages`` a
second child runs ``separate_conversation`` and reports, at each stage's end, the memory resident
and the stage's own peak (Linux: the peak is reset between stages through
``/proc/self/clear_refs``). ``--keep-masks`` profiles the studio's path (masks and the plan kept).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from separation_core.evaluation.benchmark import _PEAK_WRAPPER  # noqa: E402

STAGES_CHILD = r"""
import json, sys, time
def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return [int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")]
rows, last, t0 = [], [None], time.perf_counter()
def mark(stage):
    rss, peak = status()
    rows.append({"stage": stage, "end_s": round(time.perf_counter() - t0, 1),
                 "resident_mb": round(rss), "stage_peak_mb": round(peak)})
    open("/proc/self/clear_refs", "w").write("5")  # the next stage's peak starts here
from separation_core.checkpoints.catalog import default_model_id, load_model
from separation_core.conversation.pipeline import ConversationOptions, separate_conversation
from separation_core.engine.inference import EngineOptions
from separation_core.io.audio_io import load_audio
mark("import")
audio = load_audio(sys.argv[1])
mark("read")
model = load_model(default_model_id())
mark("model")
def progress(fraction, stage):
    stage = stage.split(":")[0]
    if stage != last[0]:
        if last[0] is not None:
            mark(last[0])
        last[0] = stage
options = ConversationOptions(engine=EngineOptions(keep_masks=sys.argv[2] == "keep"))
result = separate_conversation(model, audio.samples, audio.sample_rate, options, progress=progress)
print("STAGES", json.dumps(rows), file=sys.stderr)
"""


def command_line_peak(recording: Path, threads: int) -> dict:
    """Peak resident memory (MB) and speed of ``cocktail separate --mode conversation``."""
    run = cli_peak([str(recording), "--mode", "conversation"], threads)
    return {**run, "speed_x_realtime": round(_duration(recording) / run["wall_s"], 1)}


def cli_peak(separate_args: list, threads: int) -> dict:
    """Peak resident memory (MB) and wall time of ``cocktail separate ARGS --out TMP --quiet`` in
    a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["separate", *separate_args, "--out", tmp, "--quiet"]
        t0 = time.perf_counter()
        proc = _child(_PEAK_WRAPPER, argv, threads)
        wall = time.perf_counter() - t0
    peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_KB ")]
    if proc.returncode != 0 or not peak:
        raise SystemExit(f"cocktail separate failed: {proc.stderr[-2000:]}")
    return {"peak_mb": round(int(peak[-1].split()[1]) / 1024), "wall_s": round(wall, 1)}


def stage_profile(recording: Path, keep_masks: bool, threads: int) -> list:
    """Per stage of ``separate_conversation``: the memory resident at its end and its own peak."""
    proc = _child(STAGES_CHILD, [str(recording), "keep" if keep_masks else "none"], threads)
    rows = [line for line in proc.stderr.splitlines() if line.startswith("STAGES ")]
    if proc.returncode != 0 or not rows:
        raise SystemExit(f"the stage profile failed: {proc.stderr[-2000:]}")
    return json.loads(rows[-1].split(" ", 1)[1])


def _child(code: str, argv: list, threads: int) -> subprocess.CompletedProcess:
    env_threads = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=ROOT,
        env={**os.environ, **env_threads},
        capture_output=True,
        text=True,
    )


def _duration(recording: Path) -> float:
    import soundfile as sf

    info = sf.info(str(recording))
    return info.frames / info.samplerate


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recording", type=Path, help="a long conversation (e.g. runs/hour.wav)")
    p.add_argument("--stages", action="store_true", help="also profile the stages")
    p.add_argument("--keep-masks", action="store_true", help="the stage profile keeps masks")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    report = {
        "recording": str(args.recording),
        "seconds": _duration(args.recording),
        "command_line": command_line_peak(args.recording, args.threads),
    }
    if args.stages:
        report["stages"] = stage_profile(args.recording, args.keep_masks, args.threads)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
