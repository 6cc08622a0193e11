"""Conversation mode's stages, timed, for the run estimate (``engine/run_estimate.py``).

Runs ``separate_conversation`` on the first recordings of conversation sets (``cocktail mix
--conversation``, docs/conversations.md) and prints, per recording and in all: the share of the
audio the separator read (the overlaps with their context), and the real-time factors of the
stages besides the separator (voice activity and the overlap detector; speaker embeddings and the
people) and of the separator on the spans, raw and scaled to the bench machine by the separator's
speed on one minute of each recording (as the bench runs it) against its bench figure (the machine
this runs on may be loaded: the scaling cancels that).

    nice -n 10 python scripts/conversation_speed.py runs/conv-sets/three runs/conv-sets/two \
        --count 2 > runs/conversation_speed.log  # the first run includes loading the models
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import soundfile as sf
import torch

from separation_core.checkpoints.catalog import default_model_id, load_model
from separation_core.conversation.pipeline import ConversationOptions, separate_conversation
from separation_core.engine.inference import EngineOptions, separate
from separation_core.engine.run_estimate import _speed, load_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--count", type=int, default=2, help="recordings per set")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model_id = default_model_id()
    model = load_model(model_id)
    figures = load_bench().get("models", {}).get(model_id, {})
    options = ConversationOptions(engine=EngineOptions(keep_masks=True))
    total = {k: 0.0 for k in ("seconds", "read", "activity", "people", "separate", "minute")}
    for folder in args.sets:
        for path in sorted((folder / "mix").glob("*.wav"))[: args.count]:
            x, rate = sf.read(path, dtype="float32")
            result = separate_conversation(model, x, rate, options)
            seconds = len(x) / rate
            read = sum(b - a for a, b in result.separator_reads)
            t = result.timings
            t0 = time.perf_counter()  # the separator on one minute at once, as the bench runs it
            separate(model, x[: 60 * rate], rate, options.engine)
            minute = time.perf_counter() - t0
            row = {"seconds": seconds, "read": read, **{k: t[k] for k in total if k in t}}
            row["minute"] = minute
            print(json.dumps({"file": str(path), **{k: round(v, 2) for k, v in row.items()}}))
            for k in total:
                total[k] += row[k]
    speed = {
        "activity": total["seconds"] / total["activity"],
        "people": total["seconds"] / total["people"],
        "separator": total["read"] / total["separate"],
    }
    n = len(args.sets) * args.count
    minute_speed = 60.0 * n / total["minute"]
    bench_speed = _speed(figures, 60.0)
    scale = bench_speed / minute_speed if bench_speed else 1.0  # this machine's load, cancelled
    print(
        json.dumps(
            {
                "model": model_id,
                "read_share": round(total["read"] / total["seconds"], 3),
                "speed_x_realtime_here": {k: round(v, 1) for k, v in speed.items()},
                "separator_bench_speed": bench_speed and round(bench_speed, 1),
                "separator_one_minute_here": round(minute_speed, 1),
                "separator_spans_slowdown": round(minute_speed / speed["separator"], 2),
                "speed_x_realtime_on_bench_machine": {
                    k: round(v * scale, 1) for k, v in speed.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
