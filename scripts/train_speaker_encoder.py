"""Fine-tune resemblyzer's speaker encoder on train-split speakers, in rooms; the best validated
weights go to ``OUT_DIR/best.pt`` in resemblyzer's checkpoint layout (``{"model_state": ...}``), which
``SpeakerEncoder.from_file`` and ``scripts/conversation_eval.py --judge`` read. The bundled judge
(``resources/conversation/speaker-judge-16k.pt``, its card beside it) was trained this way.

Each step draws ``--speakers`` train-split speakers (with probability ``--one-corpus`` all of one
corpus) and ``--windows`` 1.6 s crops of each (crops quieter than a tenth of the speaker's RMS are
drawn again); each crop, independently: into a room
with probability ``--room-prob`` (a simulated room of a seeded bank, or a measured training room;
Surrey room A is kept out: it is the test sets' room), another train speaker beneath it at -25..-10
dB with probability ``--leak-prob``, noise (the train part of each file) at 5..30 dB SNR with
probability ``--noise-prob``; brought to -30 dBFS and then +-4 dB. The GE2E loss
(``encoder_training``), Adam. Every ``--valid-every`` steps the equal error rate of pairs of
valid-split speakers of one corpus (the people of a recording share a corpus), dry and in held-out
simulated rooms, on fixed crops; the weights with the lowest mean are kept. Resumes from ``OUT_DIR/state.pt``.

    python scripts/train_speaker_encoder.py --steps 600 --out-dir runs/spk-enc
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from separation_core.conversation.encoder_training import GE2ELoss, equal_error_rate  # noqa: E402
from separation_core.conversation.speakers import (  # noqa: E402
    PARTIAL_FRAMES,
    SpeakerEncoder,
    mel_spectrogram,
    pretrained_weights_path,
)
from separation_core.data.mixing import noise_files  # noqa: E402
from separation_core.data.mixture_recipe import noise_region, rms  # noqa: E402
from separation_core.data.rooms import measured_rooms, reverberate, simulated_bank  # noqa: E402
from separation_core.data.splits import select_split  # noqa: E402
from separation_core.io.audio_io import load_audio  # noqa: E402
from separation_core.io.fileutil import atomic_write  # noqa: E402

RATE = 16000
CROP = PARTIAL_FRAMES * 160  # 1.6 s
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CORPORA = ("librispeech-train-clean-100", "speechocean762", "commonvoice-en", "vctk-excerpts")
TRAIN_ROOMS = ("bbc-listening-room", "seminar-room-clap")
MIN_CORPUS_SPEAKERS = 8  # a corpus with fewer train speakers makes no batch of its own


def load_speakers(split: str, seconds: float) -> dict[str, np.ndarray]:
    """``{corpus/speaker: float32 audio}``, each speaker's files concatenated up to ``seconds``,
    speakers with under 6 s left out."""
    out = {}
    for corpus in CORPORA:
        for speaker, files in sorted(select_split(DATA / "speech" / corpus, split).items()):
            parts, total = [], 0
            for f in files:
                x = load_audio(f, sample_rate=RATE).samples.astype(np.float32)
                x = x if x.ndim == 1 else x.mean(0)
                parts.append(x)
                total += len(x)
                if total >= seconds * RATE:
                    break
            wav = np.concatenate(parts)[: int(seconds * RATE)]
            if len(wav) >= 6 * RATE:
                out[f"{corpus}/{speaker}"] = wav
    return out


def draw_speakers(
    rng: np.random.Generator, corpora: np.ndarray, n: int, one_corpus: float
) -> np.ndarray:
    """Indices of ``n`` distinct speakers (``corpora [speakers]`` each one's corpus index): from
    all corpora, or with probability ``one_corpus`` all from one corpus (drawn in proportion to
    its speakers, among those with at least MIN_CORPUS_SPEAKERS; fewer than ``n`` when it has
    fewer), as the people of one recording share a corpus."""
    if rng.uniform() >= one_corpus:
        return rng.choice(len(corpora), n, replace=False)
    ids, sizes = np.unique(corpora, return_counts=True)
    ids, sizes = ids[sizes >= MIN_CORPUS_SPEAKERS], sizes[sizes >= MIN_CORPUS_SPEAKERS]
    corpus = rng.choice(ids, p=sizes / sizes.sum())
    members = np.flatnonzero(corpora == corpus)
    return rng.choice(members, min(n, len(members)), replace=False)


def crop(rng: np.random.Generator, wav: np.ndarray) -> np.ndarray:
    """A 1.6 s crop of ``wav`` that is not mostly silence."""
    floor = 0.1 * rms(wav)
    for _ in range(10):
        a = int(rng.integers(0, len(wav) - CROP))
        piece = wav[a : a + CROP]
        if rms(piece) >= floor:
            break
    return piece


def to_level(x: np.ndarray, dbfs: float) -> np.ndarray:
    return x * (10 ** (dbfs / 20) / max(rms(x), 1e-9))


def in_room(rng: np.random.Generator, x: np.ndarray, rooms) -> np.ndarray:
    room = rooms[int(rng.integers(len(rooms)))]
    return reverberate(x[None], room, [int(rng.integers(room.rirs.shape[0]))])[0]


def augmented(rng, wav, others, rooms, noises, args) -> np.ndarray:
    x = crop(rng, wav)
    if rng.uniform() < args.room_prob:
        x = in_room(rng, x, rooms)
    x = to_level(x, 0.0)
    if rng.uniform() < args.leak_prob:
        x = x + to_level(crop(rng, others[int(rng.integers(len(others)))]), rng.uniform(-25, -10))
    if rng.uniform() < args.noise_prob:
        n = noises[int(rng.integers(len(noises)))]
        a = int(rng.integers(0, len(n) - CROP))
        x = x + to_level(n[a : a + CROP], -rng.uniform(5, 30))
    return to_level(x, -30.0 + rng.uniform(-4, 4)).astype(np.float32)


def mels(x: np.ndarray) -> np.ndarray:
    return mel_spectrogram(x)[:PARTIAL_FRAMES]


def valid_batches(valid: dict[str, np.ndarray], rooms, seed: int = 1234):
    """Fixed crops of the valid speakers, dry and in held-out rooms: ``(mels [2, W, F, 40],
    speaker index [W], corpus index [W])``."""
    rng = np.random.default_rng(seed)
    names = sorted(valid)
    dry, wet, spk, corp = [], [], [], []
    for i, name in enumerate(names):
        for _ in range(6):
            x = crop(rng, valid[name])
            dry.append(mels(to_level(x, -30.0)))
            wet.append(mels(to_level(in_room(rng, x, rooms), -30.0)))
            spk.append(i)
            corp.append(CORPORA.index(name.split("/")[0]))
    return np.stack([np.stack(dry), np.stack(wet)]), np.array(spk), np.array(corp)


def validate(encoder, batches) -> dict[str, float]:
    """Equal error rates (%) of same-corpus pairs, dry and in rooms, for LibriSpeech and
    speechocean762 speakers, and their mean."""
    mel, spk, corp = batches
    encoder.eval()
    out = {}
    with torch.inference_mode():
        for c, cond in enumerate(("dry", "room")):
            emb = torch.cat(
                [encoder(torch.from_numpy(mel[c, a : a + 128])) for a in range(0, len(spk), 128)]
            )
            sim = (emb @ emb.T).numpy()
            iu = np.triu_indices(len(spk), 1)
            for k in (0, 1):
                keep = (corp[iu[0]] == k) & (corp[iu[1]] == k)
                same = spk[iu[0]][keep] == spk[iu[1]][keep]
                out[f"{CORPORA[k].split('-')[0]}-{cond}"] = 100 * equal_error_rate(
                    sim[iu][keep], same
                )
    encoder.train()
    out["mean"] = float(np.mean(list(out.values())))
    return out


def write_weights(encoder, path: Path) -> None:
    state = {k: v.detach().clone() for k, v in encoder.state_dict().items()}
    with atomic_write(path, "wb") as f:
        torch.save({"model_state": state}, f)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--speakers", type=int, default=32)
    p.add_argument("--windows", type=int, default=6)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seconds", type=float, default=60.0, help="audio kept per speaker")
    p.add_argument("--room-prob", type=float, default=0.5)
    p.add_argument("--leak-prob", type=float, default=0.2)
    p.add_argument("--noise-prob", type=float, default=0.2)
    p.add_argument(
        "--one-corpus",
        type=float,
        default=0.0,
        help="probability that a step's speakers all come from one corpus",
    )
    p.add_argument("--valid-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", type=Path, default=Path("runs/spk-enc"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train = load_speakers("train", args.seconds)
    valid = load_speakers("valid", 30.0)
    rooms = simulated_bank(48, RATE, seed=11, cache_dir=args.out_dir) + measured_rooms(
        [DATA / "rir" / r for r in TRAIN_ROOMS], RATE
    )
    valid_rooms = simulated_bank(8, RATE, seed=12, cache_dir=args.out_dir)
    noises = [load_audio(f, sample_rate=RATE).samples for f in noise_files(DATA / "noise")]
    noises = [n if n.ndim == 1 else n.mean(0) for n in noises]
    noises = [n[slice(*noise_region(len(n), "train"))].astype(np.float32) for n in noises]
    noises = [n for n in noises if len(n) > CROP + 1]
    batches = valid_batches(valid, valid_rooms)
    names = sorted(train)
    wavs = [train[n] for n in names]
    corpora = np.array([CORPORA.index(n.split("/")[0]) for n in names])
    print(
        f"{len(names)} train speakers, {len(valid)} valid, {len(rooms)} rooms, {len(noises)} "
        f"noises, loaded in {time.time() - t0:.0f} s",
        flush=True,
    )
    encoder = SpeakerEncoder.from_file(pretrained_weights_path()).train()
    loss_fn = GE2ELoss()
    opt = torch.optim.Adam(list(encoder.parameters()) + list(loss_fn.parameters()), lr=args.lr)
    state_path = args.out_dir / "state.pt"
    step, best, history = 0, None, []
    if state_path.is_file():
        s = torch.load(state_path, weights_only=True)
        encoder.load_state_dict(s["encoder"])
        loss_fn.load_state_dict(s["loss"])
        opt.load_state_dict(s["opt"])
        step, best = int(s["step"]), float(s["best"])
        history = [tuple(h) for h in s["history"].tolist()]
        print(f"resumed at step {step}, best mean EER {best:.2f}%", flush=True)
    else:
        v = validate(encoder, batches)
        best = v["mean"]
        history.append((0, float("nan"), v["mean"]))
        print(f"step 0 valid EER % {', '.join(f'{k} {x:.2f}' for k, x in v.items())}", flush=True)
        write_weights(encoder, args.out_dir / "best.pt")
    rng = np.random.default_rng([args.seed, step])
    losses = []
    while step < args.steps:
        pick = draw_speakers(rng, corpora, args.speakers, args.one_corpus)
        batch = np.stack(
            [
                mels(augmented(rng, wavs[i], wavs, rooms, noises, args))
                for i in pick
                for _ in range(args.windows)
            ]
        )
        emb = encoder(torch.from_numpy(batch)).reshape(len(pick), args.windows, -1)
        loss = loss_fn(emb)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 3.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        if step % args.valid_every == 0 or step == args.steps:
            v = validate(encoder, batches)
            history.append((step, float(np.mean(losses)), v["mean"]))
            print(
                f"step {step} loss {np.mean(losses):.3f} w {loss_fn.w.item():.2f} valid EER % "
                f"{', '.join(f'{k} {x:.2f}' for k, x in v.items())} ({time.time() - t0:.0f} s)",
                flush=True,
            )
            losses = []
            if v["mean"] < best:
                best = v["mean"]
                write_weights(encoder, args.out_dir / "best.pt")
            with atomic_write(state_path, "wb") as f:
                torch.save(
                    {
                        "encoder": encoder.state_dict(),
                        "loss": loss_fn.state_dict(),
                        "opt": opt.state_dict(),
                        "step": step,
                        "best": best,
                        "history": torch.tensor(history, dtype=torch.float64),
                    },
                    f,
                )
            rng = np.random.default_rng([args.seed, step])
    print(f"best mean valid EER {best:.2f}%: {args.out_dir / 'best.pt'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
