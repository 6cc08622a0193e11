"""Train the conversation engine's overlapped-speech detector (separation_core/conversation/overlap.py).

Training data: conversation sets made by ``cocktail mix --conversation`` from train-split speakers
(the recipe is in docs/conversations.md), or with ``--stream`` conversations of 12 s drawn on the fly
from the train split (``separation_core.data.conversation_stream``; a pool of ``--pool`` of them, of
which ``--fresh`` are replaced at every step); validation: sets made the same way from valid-split
speakers. The target of each 10 ms frame is how many people talk there (0, 1, 2 or more):
``--target turns`` counts the turns of each recording's ``metadata.json`` that cover the frame,
``--target energy`` the sources that are heard there (``energy_counts``: a turn also covers the
speaker's pauses between words and sentences, where nobody can hear a second voice). Features are
cached under ``--cache``.

    python scripts/train_overlap_detector.py --train runs/osd-train/* --valid runs/conv-dev/p2 \
        runs/conv-dev/p3 runs/conv-dev/p2-reverb --steps 3000 --out runs/osd/overlap-detector-16k.pt
    python scripts/train_overlap_detector.py --stream ../shared/data/speech/librispeech-train-clean-100 \
        ../shared/data/speech/speechocean762 ... --stream-noise ../shared/data/noise/esc10 ... \
        --stream-rir ../shared/data/rir/bbc-listening-room ... --valid ... --out ...
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from separation_core.conversation.overlap import (
    MARGIN_FRAMES,
    WINDOW_FRAMES,
    OverlapNet,
    load_detector,
    log_mel,
    normalised_windows,
    overlap_probability,
    save_detector,
)
from separation_core.conversation.speakers import HOP, SAMPLE_RATE
from separation_core.conversation.turns import activity
from separation_core.data.conversation_stream import ConversationStream
from separation_core.data.rooms import ReverbOptions, measured_rooms, simulated_bank
from separation_core.io.rttm import Turn

CLASS_WEIGHTS = (1.0, 1.0, 3.0)
VOICED_DB = 30.0  # a source is heard where its level is within this of its own loud level
MASKED_DB = 20.0  # ... and within this of the loudest source at that moment
LEVEL_FRAMES = 5  # levels over 50 ms
SILENCE_DB = -90.0  # below this (dB of full scale) nothing is heard


def recordings(folder: Path) -> list[dict]:
    return json.loads((folder / "metadata.json").read_text())["mixtures"]


def frame_counts(turns: list, n_people: int, n_frames: int) -> np.ndarray:
    """People talking at each frame centre ``f * HOP``: int8 ``[n_frames]``, capped at 2."""
    act = activity(turns, n_people, n_frames * HOP, SAMPLE_RATE)[:, ::HOP]
    return np.minimum(act.sum(0), 2).astype(np.int8)


def energy_counts(sources: np.ndarray, n_frames: int) -> np.ndarray:
    """Sources heard at each frame centre ``f * HOP`` of ``sources [S, T]`` (16 kHz), capped at 2:
    int8 ``[n_frames]``. A source is heard where its power over LEVEL_FRAMES frames is within
    VOICED_DB of its own 95th percentile over its sounding frames, within MASKED_DB of the loudest
    source's and above SILENCE_DB."""
    length = n_frames * HOP
    padded = np.zeros((sources.shape[0], length), dtype=np.float64)
    padded[:, : min(length, sources.shape[1])] = sources[:, :length]
    power = (padded.reshape(len(padded), n_frames, HOP) ** 2).mean(-1)
    kernel = np.ones(LEVEL_FRAMES) / LEVEL_FRAMES
    power = np.stack([np.convolve(p, kernel, mode="same") for p in power])
    level = 10 * np.log10(power + 1e-12)
    loud = np.array(
        [
            [np.percentile(row[row > SILENCE_DB], 95) if (row > SILENCE_DB).any() else SILENCE_DB]
            for row in level
        ]
    )
    heard = (level > np.maximum(loud - VOICED_DB, SILENCE_DB)) & (
        level > level.max(0, keepdims=True) - MASKED_DB
    )
    return np.minimum(heard.sum(0), 2).astype(np.int8)


def cached(folder: Path, entry: dict, cache: Path, target: str = "turns"):
    """(log-mel [frames, mels], counts [frames], mix path) of one recording, cached."""
    suffix = "" if target == "turns" else f"-{target}"
    path = cache / folder.name / f"{entry['id']}{suffix}.npz"
    mix_path = folder / entry["files"]["mix"]
    if path.is_file():
        z = np.load(path)
        return z["feats"], z["counts"], mix_path
    mix, sr = sf.read(mix_path, dtype="float32")
    assert sr == SAMPLE_RATE, f"{mix_path}: made at {sr} Hz, 16 kHz expected"
    feats = log_mel(mix)
    if target == "energy":
        sources = np.stack(
            [sf.read(folder / name, dtype="float32")[0] for name in entry["files"]["sources"]]
        )
        counts = energy_counts(sources, feats.shape[0])
    else:
        turns = [
            Turn(int(t["speaker"]), float(t["start"]), float(t["end"])) for t in entry["turns"]
        ]
        counts = frame_counts(turns, len(entry["files"]["sources"]), feats.shape[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, feats=feats, counts=counts)
    return feats, counts, mix_path


def load_sets(folders: list[Path], cache: Path, limit: int = 0, target: str = "turns"):
    items = []
    for folder in folders:
        for entry in recordings(folder)[: limit or None]:
            items.append(cached(folder, entry, cache, target))
    return items


def stream_of(args) -> ConversationStream:
    """The on-the-fly conversations of ``--stream`` (rooms: a simulated bank and ``--stream-rir``)."""
    rooms = simulated_bank(args.stream_rooms, SAMPLE_RATE, args.seed, cache_dir=args.cache)
    measured = measured_rooms(args.stream_rir, SAMPLE_RATE) if args.stream_rir else []
    reverb = ReverbOptions(
        simulated=tuple(rooms), measured=tuple(measured), prob=args.room_prob, measured_prob=0.4
    )
    return ConversationStream(
        args.stream, noise_dirs=args.stream_noise or None, reverb=reverb, noise_prob=0.3
    )


def streamed_item(stream: ConversationStream, rng: np.random.Generator, target: str):
    """(log-mel [frames, mels], counts [frames], None) of one drawn conversation."""
    c = stream.draw(rng)
    feats = log_mel(c.mixture)
    if target == "energy":
        counts = energy_counts(c.sources, feats.shape[0])
    else:
        counts = frame_counts(c.turns, len(c.sources), feats.shape[0])
    return feats, counts, None


def batch(items, rng: np.random.Generator, size: int):
    """``size`` random crops of WINDOW_FRAMES frames -> (features [B, F, M], targets [B, F])."""
    feats, targets = [], []
    for _ in range(size):
        f, c, _ = items[rng.integers(len(items))]
        a = int(rng.integers(0, f.shape[0] - WINDOW_FRAMES))
        feats.append(f[a : a + WINDOW_FRAMES])
        targets.append(c[a : a + WINDOW_FRAMES])
    x = normalised_windows(torch.from_numpy(np.stack(feats)))
    return x, torch.from_numpy(np.stack(targets).astype(np.int64))


def scores(net: OverlapNet, items, threshold: float = 0.5) -> dict:
    """Frame precision, recall and F1 of 'two or more' over the valid recordings, as the engine
    reads them (whole recordings, windowed)."""
    net.eval()
    tp = fp = fn = 0
    for _, counts, mix_path in items:
        mix, _ = sf.read(mix_path, dtype="float32")
        p = overlap_probability(mix, net)[: len(counts)]
        pred, true = p > threshold, counts[: len(p)] >= 2
        tp += int(np.sum(pred & true))
        fp += int(np.sum(pred & ~true))
        fn += int(np.sum(~pred & true))
    net.train()
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", nargs="+", type=Path, default=[])
    ap.add_argument(
        "--stream", nargs="+", type=Path, default=[], help="speech folders to draw from"
    )
    ap.add_argument("--stream-noise", nargs="+", type=Path, default=[])
    ap.add_argument("--stream-rir", nargs="+", type=Path, default=[], help="measured rooms")
    ap.add_argument("--stream-rooms", type=int, default=48, help="simulated rooms")
    ap.add_argument("--room-prob", type=float, default=0.5)
    ap.add_argument("--pool", type=int, default=512, help="streamed conversations held at once")
    ap.add_argument("--fresh", type=int, default=4, help="streamed conversations replaced a step")
    ap.add_argument("--valid", nargs="+", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path("runs/osd-cache"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--init", type=Path, help="start from this detector's weights")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--valid-every", type=int, default=250)
    ap.add_argument("--valid-limit", type=int, default=0, help="recordings per valid set")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--channels", type=int, default=96, help="a new network's convolution width")
    ap.add_argument("--hidden", type=int, default=64, help="a new network's GRU width")
    ap.add_argument("--target", choices=("turns", "energy"), default="turns")
    args = ap.parse_args(argv)
    if bool(args.train) == bool(args.stream):
        ap.error("give either --train sets or --stream speech folders")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    stream = stream_of(args) if args.stream else None
    if stream is not None:
        train = [streamed_item(stream, rng, args.target) for _ in range(args.pool)]
    else:
        train = load_sets(args.train, args.cache, target=args.target)
    valid = load_sets(args.valid, args.cache, args.valid_limit, args.target)
    hours = sum(f.shape[0] for f, _, _ in train) * HOP / SAMPLE_RATE / 3600
    share = np.mean(np.concatenate([c for _, c, _ in train]) >= 2)
    print(
        f"{len(train)} training recordings ({hours:.2f} h, {share:.1%} frames overlapped"
        f"{'; streamed, ' + str(args.fresh) + ' new a step' if stream else ''}), "
        f"{len(valid)} valid; features in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    net = load_detector(args.init).train() if args.init else OverlapNet(args.channels, args.hidden)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(CLASS_WEIGHTS))
    curve, best = [], None
    if args.init:
        curve.append({"step": 0, **scores(net, valid)})
        print(json.dumps(curve[-1]), flush=True)
    t_train = time.perf_counter()
    running = []
    for step in range(1, args.steps + 1):
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for group in opt.param_groups:
            group["lr"] = lr
        if stream is not None:
            for k in rng.integers(len(train), size=args.fresh):
                train[k] = streamed_item(stream, rng, args.target)
        x, y = batch(train, rng, args.batch)
        logits = net(x)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        running.append(float(loss.detach()))
        if step % args.valid_every == 0 or step == args.steps:
            s = scores(net, valid)
            row = {
                "step": step,
                "loss": round(float(np.mean(running)), 4),
                **s,
                "minutes": round((time.perf_counter() - t_train) / 60, 1),
            }
            running = []
            curve.append(row)
            print(json.dumps(row), flush=True)
            if best is None or s["f1"] > best["f1"]:
                best = row
                info = {
                    "trained_on": [str(p) for p in args.train or args.stream],
                    "streamed": (
                        {
                            "pool": args.pool,
                            "fresh_per_step": args.fresh,
                            "noise": [str(p) for p in args.stream_noise],
                            "measured_rooms": [str(p) for p in args.stream_rir],
                            "simulated_rooms": args.stream_rooms,
                            "room_prob": args.room_prob,
                        }
                        if stream
                        else None
                    ),
                    "started_from": str(args.init) if args.init else None,
                    "target": args.target,
                    "validated_on": [str(p) for p in args.valid],
                    "training_hours": round(hours, 2),
                    "step": step,
                    "steps": args.steps,
                    "batch": args.batch,
                    "window_frames": WINDOW_FRAMES,
                    "margin_frames": MARGIN_FRAMES,
                    "valid_at_0.5": s,
                    "curve": curve,
                }
                save_detector(net, args.out, info)
    print("best: " + json.dumps(best), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
