"""Measure adapting the separator to the recording (issue 35) on conversation sets made by
``cocktail mix --conversation`` (docs/conversations.md).

Per recording: whole-file SI-SDRi per person and SI-SDRi on balanced overlaps (true overlaps of at
least 0.25 s where the references are within 15 dB of each other) of the stems re-assembled with
the stock separator and of its adapted copies' stems, from the true turns (the overlaps of the
turns separated again) or from conversation mode's estimate (``separate_conversation`` with the
default model; the adapted copies' stems are conversation mode again with the copy as its
separator, as ``adapt_conversation`` makes them). One fine-tuning per recording
runs for the largest budget; the smaller budgets are the best weights validated by then in the same
run (the learning rate is constant after the warm-up: what a shorter run would have kept).
``--control`` also scores the copy adapted on the next recording of the set.

    nice -n 10 python scripts/adaptation_eval.py runs/conv-sets/two-reverb --limit 4 \
        --model convtasnet-rooms-16k --turns true --budgets 15,45 --json runs/adapt/x.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversation_eval import load_recording  # noqa: E402  (scripts/, beside this one)
from scipy.optimize import linear_sum_assignment  # noqa: E402

from separation_core.adaptation.budget import Budget  # noqa: E402
from separation_core.adaptation.finetune import settings_for  # noqa: E402
from separation_core.adaptation.recording import (  # noqa: E402
    AdaptOptions,
    adapt_model,
    adapted_stems,
)
from separation_core.adaptation.saving import stock_training  # noqa: E402
from separation_core.adaptation.solo import overlap_spans  # noqa: E402
from separation_core.checkpoints.catalog import default_model_id, load_model, resolve  # noqa: E402
from separation_core.conversation import pipeline as P  # noqa: E402
from separation_core.engine.inference import EngineOptions  # noqa: E402
from separation_core.evaluation.metrics import si_sdr  # noqa: E402

BALANCED_DB = 15.0
MIN_OVERLAP_SECONDS = 0.25


def estimated_turns(pipeline_model, mix: np.ndarray, sr: int):
    """Conversation mode's turns, people, separated spans, stems and who talks when as it found
    it (the default pipeline, run with ``pipeline_model``)."""
    result = P.separate_conversation(pipeline_model, mix, sr, P.ConversationOptions())
    return result.turns, result.n_src, result.separated_spans, result.waveforms, result.found_talk


def adapted_result_stems(net, mix, sr, turns, n_people, solo, found) -> np.ndarray:
    """The adapted copy's stems as ``adapt_conversation`` makes them: conversation mode again
    from who talks when it ``found`` (estimated turns), else the overlaps of ``turns``
    separated again (true turns)."""
    if found is None:
        return adapted_stems(net, mix, sr, turns, n_people, solo, "cpu")[0]
    engine = EngineOptions(device="cpu", keep_masks=False)
    options = P.ConversationOptions(engine=engine)
    return P.separate_conversation(net, mix, sr, options, found=found).waveforms


def pairing(stems: np.ndarray, refs: np.ndarray) -> dict:
    """Reference index -> stem index (Hungarian on whole-file SI-SDR)."""
    score = np.array([[si_sdr(s, r) for s in stems] for r in refs])
    rows, cols = linear_sum_assignment(-np.nan_to_num(score, nan=-100.0))
    return dict(zip(rows.tolist(), cols.tolist()))


def scores(stems, refs, mix, sr, true_turns) -> dict:
    """Whole-file SI-SDRi per person (0 dB for a person without a stem) and the mean SI-SDRi on
    balanced true overlaps."""
    pair = pairing(stems, refs)
    whole = []
    for p in range(refs.shape[0]):
        if p not in pair:
            whole.append(0.0)
            continue
        whole.append(si_sdr(stems[pair[p]], refs[p]) - si_sdr(mix, refs[p]))
    over = []
    for a, b in overlap_spans(true_turns, refs.shape[0], len(mix) / sr):
        if b - a < MIN_OVERLAP_SECONDS:
            continue
        seg = slice(int(a * sr), int(b * sr))
        energy = (refs[:, seg] ** 2).sum(1)
        who = np.flatnonzero(energy > 0)
        top = np.sort(energy[who])[-2:]
        if len(who) < 2 or 10 * np.log10(top[1] / max(top[0], 1e-12)) > BALANCED_DB:
            continue
        for p in who:
            if p in pair:
                est = stems[pair[p], seg]
                over.append(si_sdr(est, refs[p, seg]) - si_sdr(mix[seg], refs[p, seg]))
    return {
        "whole": [round(float(v), 2) for v in whole],
        "overlap": round(float(np.mean(over)), 2) if over else None,
        "overlap_n": len(over),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="+", type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--turns", choices=("true", "estimated"), default="true")
    ap.add_argument("--budgets", default="15,45", help="comma-separated, in --unit")
    ap.add_argument(
        "--unit",
        choices=("steps", "seconds"),
        default="steps",
        help="steps (default): the same work on a loaded machine as on an idle one",
    )
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--ids", default="", help="only these recordings (comma-separated ids)")
    ap.add_argument("--control", action="store_true")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    budgets = sorted(float(b) for b in args.budgets.split(","))
    in_steps = args.unit == "steps"
    model_id = args.model or default_model_id()
    entry = resolve(model_id)
    model = load_model(entry)
    pipeline_model = load_model(default_model_id()) if args.turns == "estimated" else None
    stock = stock_training(entry.checkpoint)
    loss_options = stock.get("loss_options") or {}
    lr = {} if args.lr is None else {"lr": args.lr}
    if in_steps:  # validated at every budget asked for (multiples of the smallest)
        settings = settings_for(stock, validations=int(budgets[-1] // budgets[0]), **lr)
        budget = Budget(steps=int(budgets[-1]))
    else:
        settings, budget = settings_for(stock, **lr), Budget(seconds=budgets[-1])
    options = AdaptOptions(budget, settings, device="cpu", loss_options=loss_options)
    out = {
        "model": model_id,
        "turns": args.turns,
        "budgets": budgets,
        "unit": args.unit,
        "lr": settings.lr,
        "rows": [],
    }
    for folder in args.sets:
        meta = json.loads((folder / "metadata.json").read_text())
        entries = meta["mixtures"][: args.limit or None]
        if args.ids:
            entries = [e for e in meta["mixtures"] if e["id"] in args.ids.split(",")]
        adapted_by_id = {}
        for entry_ in entries:
            mix, refs, sr, true_turns = load_recording(folder, entry_)
            row = {"set": folder.name, "id": entry_["id"], "people": int(refs.shape[0])}
            if args.turns == "true":
                turns, n_people, exclude, found = true_turns, refs.shape[0], (), None
            else:
                turns, n_people, exclude, pipeline_stems, found = estimated_turns(
                    pipeline_model, mix, sr
                )
                row["pipeline"] = scores(pipeline_stems, refs, mix, sr, true_turns)
                row["people_found"] = n_people
            t0 = time.perf_counter()
            kept = []  # (step or seconds, state) each time the held-out figure improved

            def keep(rep, net, kept=kept):
                if rep.best_step == rep.history[-1][0]:
                    when = rep.history[-1][0 if in_steps else 1]
                    kept.append((when, copy.deepcopy(net.state_dict())))

            adapted, record, solo = adapt_model(
                model, mix, sr, turns, n_people, options, exclude=exclude, on_validation=keep
            )
            row["adapt_seconds"] = round(time.perf_counter() - t0, 1)
            row["note"] = record.note
            row["solo_seconds"] = [round(s, 1) for s in record.solo_seconds]
            if record.report:
                row["history"] = record.report.history
            if not solo.valid or not any(solo.valid):
                out["rows"].append(row)
                print(json.dumps(row), flush=True)
                continue
            row["stock"] = scores(
                adapted_stems(model, mix, sr, turns, n_people, solo, "cpu")[0],
                refs,
                mix,
                sr,
                true_turns,
            )
            for budget in budgets:
                # the largest budget is the run's own end (a seconds budget's last validation
                # ends just past it), the smaller ones the best copy validated by then
                states = [s for t, s in kept if t <= budget or budget == budgets[-1]]
                if not states or adapted is None:
                    row[f"adapted_{budget:g}"] = row["stock"]
                    continue
                net = copy.deepcopy(model)
                net.load_state_dict(states[-1])
                net.eval()
                stems = adapted_result_stems(net, mix, sr, turns, n_people, solo, found)
                row[f"adapted_{budget:g}"] = scores(stems, refs, mix, sr, true_turns)
                adapted_by_id[entry_["id"]] = (net, turns, n_people, solo, found)
            out["rows"].append(row)
            print(json.dumps(row), flush=True)
        if args.control and len(adapted_by_id) >= 2:
            ids = sorted(adapted_by_id)
            for i, rid in enumerate(ids):  # the copy adapted on the next recording
                other = adapted_by_id[ids[(i + 1) % len(ids)]][0]
                entry_ = next(e for e in entries if e["id"] == rid)
                mix, refs, sr, true_turns = load_recording(folder, entry_)
                _, turns, n_people, solo, found = adapted_by_id[rid]
                stems = adapted_result_stems(other, mix, sr, turns, n_people, solo, found)
                row = {"set": folder.name, "id": rid, "control_from": ids[(i + 1) % len(ids)]}
                row["control"] = scores(stems, refs, mix, sr, true_turns)
                out["rows"].append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
