"""Measure conversation mode on sets made by ``cocktail mix --conversation`` (docs/conversations.md).

Per set: whole-file SI-SDRi per person (references matched to stems; a person without a stem scores
0 dB), the share of recordings with the right number of stems, DER (0.25 s collar) against the true
turns, and the same separator with the true speech activity (the bound: the mixture where one
person talks, the output that best matches each person where several do, silence elsewhere).

The separator's whole-recording outputs are cached per recording (``--cache``, one folder per set
name), so the stages after them can be tuned quickly; the speech activity is computed each time.

    python scripts/conversation_eval.py runs/conv-sets/two runs/conv-sets/three --cache runs/conv-cache
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scipy.optimize import linear_sum_assignment  # noqa: E402

from separation_core.checkpoints.catalog import default_model_id, load_model  # noqa: E402
from separation_core.conversation import activity as A  # noqa: E402
from separation_core.conversation import pipeline as P  # noqa: E402
from separation_core.conversation.assembly import MIXTURE, SILENT, Plan, assemble  # noqa: E402
from separation_core.conversation.people import SpeakerCount  # noqa: E402
from separation_core.conversation.speakers import SpeakerEncoder  # noqa: E402
from separation_core.conversation.turns import activity, runs_of, turns_from_activity  # noqa: E402
from separation_core.engine.inference import EngineOptions, separate  # noqa: E402
from separation_core.evaluation.conversation_scores import (  # noqa: E402
    score_conversation,
    summarize_conversations,
)
from separation_core.evaluation.metrics import si_sdr  # noqa: E402
from separation_core.io.rttm import Turn  # noqa: E402


def load_recording(folder: Path, entry: dict):
    mix, sr = sf.read(folder / entry["files"]["mix"], dtype="float32")
    refs = np.stack([sf.read(folder / s, dtype="float32")[0] for s in entry["files"]["sources"]])
    turns = [Turn(int(t["speaker"]), float(t["start"]), float(t["end"])) for t in entry["turns"]]
    return mix, refs, sr, turns


def cached_stages(model, mix16: np.ndarray, path: Path, outputs: bool = True):
    """(speech [frames], outputs [S, T]) of a recording: the speech activity computed as the
    pipeline computes it now (a cached one would outlive a change of the activity stage), the
    separator's whole-recording outputs from ``path`` when cached (None without ``outputs``)."""
    speech = P.speech_frames(mix16)
    if not outputs:
        return speech, None
    if path.is_file():
        return speech, np.load(path)["outputs"]
    options = EngineOptions(keep_masks=False, max_embedding_points=0, speaker_order=False)
    outputs = separate(model, mix16, P.RATE, options).waveforms
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, speech=speech, outputs=outputs.astype(np.float32))
    return speech, outputs


def bound_stems(mix16, outputs, refs16, turns) -> np.ndarray:
    """The true-activity stems: mixture alone, best-matching output in overlaps, silence else."""
    n_frames = int(np.ceil(len(mix16) / (P.HOP * P.RATE)))
    hop = int(P.HOP * P.RATE)
    act = activity(turns, refs16.shape[0], n_frames * hop, P.RATE)[:, ::hop][:, :n_frames]
    source = np.where(act, MIXTURE, SILENT)
    both = act.sum(0) >= 2
    for a, b in runs_of(both):
        who = np.flatnonzero(act[:, a:b].any(1))
        seg = slice(a * hop, b * hop)
        score = np.array(
            [
                [si_sdr(outputs[j, seg], refs16[p, seg]) for j in range(outputs.shape[0])]
                for p in who
            ]
        )
        rows, cols = linear_sum_assignment(-np.nan_to_num(score, nan=-100.0))
        for r, c in zip(rows, cols):
            source[who[r], a:b] = c
    return assemble(mix16, P.RATE, Plan(source, P.HOP), separated=outputs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="+", type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--cache", type=Path, default=Path("runs/conv-cache"))
    ap.add_argument("--speakers", default="auto")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--no-bound", action="store_true")
    ap.add_argument("--cache-only", action="store_true", help="fill the cache, measure nothing")
    ap.add_argument(
        "--true-overlap",
        action="store_true",
        help="diagnosis: the true overlaps in place of the detector's (all else estimated)",
    )
    ap.add_argument(
        "--heard-overlap",
        action="store_true",
        help="diagnosis: the frames where two references are heard (their levels) in place of "
        "the detector's",
    )
    ap.add_argument(
        "--spans",
        action="store_true",
        help="separate each overlap with its context as the pipeline does (not the cached "
        "whole-recording outputs)",
    )
    ap.add_argument(
        "--no-handovers",
        action="store_true",
        help="separate only the detected overlaps, not the handovers between people",
    )
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--encoder", type=Path, help="speaker encoder weights (resemblyzer's layout) to use instead"
    )
    ap.add_argument(
        "--judge",
        type=Path,
        help="weights (resemblyzer's layout) of the encoder that decides which clusters are one "
        "person, instead of the bundled judge",
    )
    ap.add_argument("--detector", type=Path, help="overlap detector weights to use instead")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set-param", action="append", default=[], metavar="MODULE.NAME=VALUE")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    for item in args.set_param:  # e.g. pipeline.OVERLAP_THRESHOLD=0.4
        name, value = item.split("=", 1)
        module, attr = name.rsplit(".", 1)
        mod = {
            "pipeline": P,
            "people": sys.modules["separation_core.conversation.people"],
            "activity": A,
        }[module]
        setattr(mod, attr, type(getattr(mod, attr))(value))
    if args.detector:
        from separation_core.conversation import overlap as overlap_module

        detector = overlap_module.load_detector(args.detector)
        overlap_module.bundled_detector = lambda: detector
    model_id = args.model or default_model_id()
    model = load_model(model_id)
    encoder = SpeakerEncoder.from_file(args.encoder) if args.encoder else SpeakerEncoder.shared()
    judge = SpeakerEncoder.from_file(args.judge) if args.judge else SpeakerEncoder.judge()
    count = SpeakerCount.parse(args.speakers)
    report = {
        "model": model_id,
        "speakers": args.speakers,
        "params": args.set_param,
        "detector": str(args.detector) if args.detector else None,
        "judge": str(args.judge) if args.judge else None,
        "sets": {},
    }
    for folder in args.sets:
        meta = json.loads((folder / "metadata.json").read_text())
        entries = meta["mixtures"][: args.limit or None]
        scores, bounds, rows = [], [], []
        for entry in entries:
            mix, refs, sr, turns = load_recording(folder, entry)
            mix16 = mix if sr == P.RATE else None
            assert mix16 is not None, "the sets are made at 16 kHz"
            t0 = time.perf_counter()
            speech, outputs = cached_stages(
                model,
                mix16,
                args.cache / folder.name / f"{entry['id']}-{model_id}.npz",
                outputs=not (args.spans and args.no_bound) or args.cache_only,
            )
            t1 = time.perf_counter()
            if args.cache_only:
                print(f"{folder.name}/{entry['id']}: cached in {t1 - t0:.1f} s", flush=True)
                continue
            if args.true_overlap:
                act = activity(turns, refs.shape[0], len(speech) * int(P.HOP * P.RATE), P.RATE)
                overlap = (act[:, :: int(P.HOP * P.RATE)].sum(0) >= 2) & speech
            elif args.heard_overlap:
                from train_overlap_detector import energy_counts

                overlap = (energy_counts(refs, len(speech)) >= 2) & speech
            else:
                overlap = P.overlap_frames(mix16, speech)
            found = P.find_people(mix16, speech, overlap, encoder, count, judge)
            runs = [] if args.no_handovers else P.handovers(found.labels, speech, overlap)
            if args.spans:  # as the pipeline runs: the separator on the overlaps alone
                engine = EngineOptions(
                    keep_masks=False, max_embedding_points=0, speaker_order=False
                )
                separated = overlap | P.handover_frames(runs, len(speech))
                outputs, _ = P.separate_overlaps(model, mix16, separated, engine)
            plan, people, overlap = P.plan_people(
                mix16, outputs, speech, overlap, encoder, found, runs
            )
            if args.spans:
                P.add_up_in_spans(mix16, outputs, separated)
            stems = assemble(mix16, P.RATE, plan, separated=outputs)
            t2 = time.perf_counter()
            hyp = turns_from_activity(plan.active(), 1.0 / P.HOP)
            score = score_conversation(stems, refs, mix, sr, turns, hyp)
            scores.append(score)
            row = {
                "id": entry["id"],
                "people": refs.shape[0],
                "stems": int(stems.shape[0]),
                "si_sdri": [round(v, 2) for v in score.si_sdri],
                "der": round(score.diarization["der"], 4) if score.diarization else None,
                "miss_fa_conf": [
                    round(score.diarization[k] / max(score.diarization["total"], 1e-9), 3)
                    for k in ("missed", "false_alarm", "confusion")
                ],
                "overlap_found": round(float(overlap.mean()), 4),
                "seconds_people": round(t2 - t1, 2),
                "seconds_cached_stages": round(t1 - t0, 2),
            }
            if not args.no_bound:
                b = bound_stems(mix16, outputs, refs, turns)
                bscore = score_conversation(b, refs, mix, sr)
                bounds.append(bscore)
                row["bound_si_sdri"] = [round(v, 2) for v in bscore.si_sdri]
            rows.append(row)
            print(json.dumps(row), flush=True)
        if args.cache_only:
            continue
        summary = summarize_conversations(scores)
        out = {
            "recordings": summary.recordings,
            "si_sdri": round(summary.si_sdri, 2),
            "right_count": round(summary.right_count_share, 3),
            "der": None if summary.der is None else round(summary.der, 4),
            "rows": rows,
        }
        if bounds:
            out["bound_si_sdri"] = round(summarize_conversations(bounds).si_sdri, 2)
        report["sets"][folder.name] = out
        print(
            f"== {folder.name}: " + json.dumps({k: v for k, v in out.items() if k != "rows"}),
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
