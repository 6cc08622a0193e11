"""Long-form stitching benchmark: the engine of git HEAD ("before") against the working tree's
("after") on conversation sets made by ``cocktail mix --conversation`` (see docs/long-form.md).

The model runs once per recording: ``cache`` stores every chunk's outputs (keyed by a hash of the
chunk's input) under CACHE; ``eval`` replays them through either engine, so both engines stitch the
very same chunk outputs and only the stitching differs.

    python scripts/longform_eval.py cache runs/longform/clean runs/longform/reverb --cache /tmp/lf-cache
    git show HEAD:separation_core/inference.py > /tmp/old_inference.py
    python scripts/longform_eval.py eval runs/longform/clean runs/longform/reverb --cache /tmp/lf-cache \
        --old /tmp/old_inference.py --json runs/longform/eval.json
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from separation_core.models.result import ChunkOutput


def _key(mixture: torch.Tensor) -> str:
    return hashlib.sha1(mixture.detach().cpu().numpy().astype(np.float32).tobytes()).hexdigest()[
        :20
    ]


class Recorder:
    """The real model, its chunk outputs kept (waveforms only) by the hash of their input."""

    def __init__(self, model):
        self._model, self.outputs = model, {}

    def __getattr__(self, name):
        return getattr(self._model, name)

    def separate_chunk(self, mixture, *, references=None, options=None):
        out = self._model.separate_chunk(mixture, references=references, options=options)
        self.outputs[_key(mixture)] = out.waveforms.detach().float().cpu().numpy()
        return out


class Replay:
    """Stands for the model: returns the recorded outputs of each chunk."""

    def __init__(self, model, outputs: dict):
        self._model, self.outputs = model, outputs

    def __getattr__(self, name):
        return getattr(self._model, name)

    def separate_chunk(self, mixture, *, references=None, options=None):
        return ChunkOutput(waveforms=torch.from_numpy(self.outputs[_key(mixture)]))


def _items(sets):
    from separation_core.data.mixing import load_mixture_set

    for folder in sets:
        for item in load_mixture_set(folder):
            yield Path(folder).name, item


def cache(args) -> None:
    from separation_core.checkpoints.catalog import load_model
    from separation_core.engine.inference import EngineOptions, separate

    model = load_model(None)
    args.cache.mkdir(parents=True, exist_ok=True)
    for name, item in _items(args.sets):
        path = args.cache / f"{name}-{item.id}.npz"
        if path.is_file():
            continue
        t0 = time.perf_counter()
        rec = Recorder(model)
        separate(rec, item.mixture, item.sample_rate, EngineOptions(keep_masks=False))
        np.savez(path, **rec.outputs)
        print(
            f"{name}/{item.id}: {len(rec.outputs)} chunks in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )


def load_engine(path: Path):
    spec = importlib.util.spec_from_file_location("separation_core._head_inference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def score(est, ref, mix, sr) -> dict:
    from separation_core.evaluation.metrics import permutation_consistency

    c = permutation_consistency(est, ref, sr, window_seconds=2.0, mixture=mix, active_db=-20.0)
    return {
        "windows": c.windows,
        "swapped": c.swapped_windows,
        "swapped_share": c.swapped_share,
        "global_si_sdri": c.global_si_sdri,
        "fixed_si_sdri": c.chunk_fixed_si_sdri,
        "best_si_sdri": c.chunk_best_si_sdri,
    }


def evaluate(args) -> None:
    from separation_core.checkpoints.catalog import load_model
    from separation_core.engine import inference as new

    engines = {"after": new}
    if args.old:
        engines = {"before": load_engine(args.old), **engines}
    model = load_model(None)
    rows = []
    for name, item in _items(args.sets):
        if args.only and f"{name}/{item.id}" not in args.only:
            continue
        outputs = dict(np.load(args.cache / f"{name}-{item.id}.npz"))
        row = {"set": name, "id": item.id, "speakers": list(item.speakers)}
        for label, engine in engines.items():
            t0 = time.perf_counter()
            res = engine.separate(
                Replay(model, outputs),
                item.mixture,
                item.sample_rate,
                engine.EngineOptions(keep_masks=False),
            )
            row[label] = score(res.waveforms, item.sources, item.mixture, item.sample_rate)
            row[label]["stitch_seconds"] = round(time.perf_counter() - t0, 2)
            cues = [s["cue"] for s in getattr(res, "stitching", [])]
            if cues:
                row[label]["cues"] = {c: cues.count(c) for c in sorted(set(cues))}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows, list(engines)))


def table(rows, labels) -> str:
    head = (
        "| recording | "
        + " | ".join(
            f"{lab}: swapped share | {lab}: global SI-SDRi | {lab}: fixed-order / best window SI-SDRi"
            for lab in labels
        )
        + " |"
    )
    lines = [head, "|" + "---|" * (1 + 3 * len(labels))]

    def cells(r):
        return " | ".join(
            f"{100 * r[lab]['swapped_share']:.0f}% ({r[lab]['swapped']}/{r[lab]['windows']}) | "
            f"{r[lab]['global_si_sdri']:.2f} | {r[lab]['fixed_si_sdri']:.2f} / {r[lab]['best_si_sdri']:.2f}"
            for lab in labels
        )

    for r in rows:
        lines.append(f"| {r['set']}/{r['id']} | {cells(r)} |")
    for name in sorted({r["set"] for r in rows}) + ["all"]:
        sel = [r for r in rows if name in ("all", r["set"])]
        mean = {
            lab: {
                k: float(np.mean([r[lab][k] for r in sel]))
                for k in (
                    "swapped_share",
                    "global_si_sdri",
                    "fixed_si_sdri",
                    "best_si_sdri",
                    "swapped",
                    "windows",
                )
            }
            for lab in labels
        }
        mean = {
            lab: {
                **v,
                "swapped": int(sum(r[lab]["swapped"] for r in sel)),
                "windows": int(sum(r[lab]["windows"] for r in sel)),
            }
            for lab, v in mean.items()
        }
        lines.append(f"| **mean {name}** ({len(sel)}) | {cells(mean)} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("step", choices=("cache", "eval"))
    p.add_argument("sets", nargs="+", type=Path)
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--old", type=Path, help="an older inference.py to compare (e.g. git HEAD's)")
    p.add_argument("--json", type=Path)
    p.add_argument("--only", nargs="*", help="SET/ID of the recordings to evaluate")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cache(args) if args.step == "cache" else evaluate(args)


if __name__ == "__main__":
    main()
