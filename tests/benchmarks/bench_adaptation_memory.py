"""Adapting to the recording (issue 35; not run by CI): peak resident memory and time of
`cocktail separate --adapt-steps N` over one or more recordings in one process.

    python tests/benchmarks/bench_adaptation_memory.py runs/conv-sets/two-reverb/mix/0000[0-3].wav \
        --steps 100

The peak must not grow with the number of steps nor from one recording to the next (the fine-tuning
hands freed memory back every few steps). The command line runs in a child process, whose own peak
(VmHWM) is reported. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_conversation_memory import _duration, cli_peak  # noqa: E402


def adaptation_peak(recordings: list, steps: int, threads: int) -> dict:
    """Peak resident memory (MB) and wall time of one ``cocktail separate --adapt-steps``."""
    argv = [*map(str, recordings), "--mode", "conversation", "--adapt-steps", str(steps)]
    return cli_peak(argv, threads)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recordings", nargs="+", type=Path, help="conversations of a few minutes")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    report = {
        "recordings": [str(r) for r in args.recordings],
        "seconds": round(sum(_duration(r) for r in args.recordings), 1),
        "steps": args.steps,
        "command_line": adaptation_peak(args.recordings, args.steps, args.threads),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
