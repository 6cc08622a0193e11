"""scripts/gpu_pack.py and scripts/gpu_train.sh, end to end on the CPU (``DEVICE=cpu``): pack a few
seconds of synthetic audio, train 2 steps from the pack, reassemble the run from the parts it
comes back in, and continue it from there, as a GPU stretch would."""

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import noise, voice
from separation_core.checkpoints.store import load_checkpoint, model_from_checkpoint
from separation_core.data.mixing import noise_region
from separation_core.data.splits import corpus_splits
from separation_core.io.audio_io import load_audio

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
SR = 16000
ROOMS = ("bbc-listening-room", "seminar-room-clap")  # the rooms gpu_train.sh trains with
TINY_CONVTASNET = [
    f"--model-arg={a}"
    for a in (
        "n_filters=16",
        "filter_length=16",
        "bottleneck=8",
        "hidden=16",
        "skip=8",
        "n_blocks=2",
        "n_repeats=1",
    )
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """A ../shared/data in small: 12 LibriSpeech-named speakers of two 1.5 s files, one noise file,
    and the two training rooms of three responses each."""
    data = tmp_path_factory.mktemp("shared") / "data"
    for k in range(12):
        for u in range(2):
            path = data / "speech" / "libri" / f"{1000 + k}-1-{u:04d}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, voice(90 + 25 * k, 1.5, SR, seed=100 * k + u), SR)
    (data / "noise" / "hum").mkdir(parents=True)
    sf.write(data / "noise" / "hum" / "fan.wav", noise(2.0, SR, color="pink"), SR)
    for room in ROOMS:
        (data / "rir" / room).mkdir(parents=True)
        for j in range(3):
            h = np.zeros(1600, np.float32)
            h[20 + j] = 0.9
            h[100:] = 0.01 * np.random.default_rng(j).standard_normal(1500)
            sf.write(data / "rir" / room / f"pos{j}.wav", h, SR)
    return data.parent


def _pack(shared: Path, out: Path, *extra: str) -> Path:
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "gpu_pack.py"), "--shared", str(shared), "--out", str(out)]
        + list(extra),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr  # it fits beside this repository in a device call
    assert proc.stdout.strip().startswith(f"{out}: ") and proc.stdout.strip().endswith(" MiB")
    return out


@pytest.fixture(scope="module")
def pack(shared, tmp_path_factory) -> Path:
    """gpu_pack.py's pack of ``shared``, at work-data/pack of a folder gpu_train.sh runs in."""
    return _pack(shared, tmp_path_factory.mktemp("device") / "work-data" / "pack")


def test_the_pack_keeps_the_speaker_split_and_no_test_noise(shared, pack):
    data = shared / "data"
    splits, files = corpus_splits([pack / "speech" / "libri"])
    assert splits == corpus_splits([data / "speech" / "libri"])[0]
    assert {"train", "valid", "test"} == set(splits.values()) and sum(
        map(len, files.values())
    ) == 24
    original = load_audio(data / "speech" / "libri" / "1003-1-0001.flac").samples
    packed = load_audio(pack / "speech" / "libri" / "1003-1-0001.ogg").samples
    assert len(packed) == len(original)
    assert np.corrcoef(packed, original)[0, 1] > 0.9  # Opus at about 16 kb/s, not the same bytes

    fan = load_audio(data / "noise" / "hum" / "fan.wav").samples
    packed_fan = load_audio(pack / "noise" / "hum" / "fan.ogg", allow_silent=True).samples
    assert len(packed_fan) == len(fan)
    start, stop = noise_region(len(fan), "test")
    test_part, packed_test_part = fan[start:stop], packed_fan[start:stop]
    assert np.std(packed_test_part) < 0.1 * np.std(test_part)  # the codec's ringing at most
    assert abs(np.corrcoef(packed_test_part[800:], test_part[800:])[0, 1]) < 0.1
    for split in ("train", "valid"):
        lo, hi = noise_region(len(fan), split)
        assert np.corrcoef(packed_fan[lo:hi], fan[lo:hi])[0, 1] > 0.8

    for room in ROOMS:
        for j in range(3):
            h, sr = sf.read(data / "rir" / room / f"pos{j}.wav", dtype="float32")
            packed_h, packed_sr = sf.read(pack / "rir" / room / f"pos{j}.flac", dtype="float32")
            assert packed_sr == sr and np.array_equal(packed_h, h)  # lossless


def test_a_pack_of_fewer_seconds_per_speaker_keeps_every_speaker_and_the_split(shared, tmp_path):
    small = _pack(shared, tmp_path / "pack", "--seconds-per-speaker", "1")
    splits, files = corpus_splits([small / "speech" / "libri"])
    assert splits == corpus_splits([shared / "data" / "speech" / "libri"])[0]
    assert sorted(p.name for f in files.values() for p in f) == [
        f"{1000 + k}-1-0000.ogg" for k in range(12)
    ]  # 1.5 s files: the first of each speaker reaches 1 s


def _train(device_root: Path, out: Path, steps: int, *extra: str) -> subprocess.CompletedProcess:
    out.mkdir()
    env = {
        **os.environ,
        "OUT": str(out),
        "DEVICE": "cpu",
        "STEPS": str(steps),
        "WORKERS": "0",
        "SKIP_WHEELS": "1",
        "PYTHON": sys.executable,
        "PART": "30000",  # a tiny run still comes back in several parts
        "TMPDIR": str(device_root),  # the run folder
        "OMP_NUM_THREADS": "1",
    }
    small = ["--rooms", "2", "--valid-num", "2", "--segment-seconds", "1", "--batch-size", "2"]
    return subprocess.run(
        ["sh", str(SCRIPTS / "gpu_train.sh"), "convtasnet", "1", *small, *extra],
        cwd=device_root,
        env=env,
        capture_output=True,
        text=True,
    )


def _reassemble(out: Path, run: Path) -> list[str]:
    """``cat run.tar.part* | tar -x -C run``, as the script's header says; -> the names."""
    parts = sorted(out.glob("run.tar.part*"))
    whole = run.parent / f"{run.name}.tar"
    whole.write_bytes(b"".join(p.read_bytes() for p in parts))
    with tarfile.open(whole) as tar:
        tar.extractall(run, filter="data")
        return sorted(tar.getnames())


@pytest.mark.slow
def test_train_two_steps_from_the_pack_comes_back_in_parts_and_continues(pack, tmp_path):
    device_root = pack.parents[1]
    proc = _train(device_root, tmp_path / "out1", 2, *TINY_CONVTASNET)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    parts = sorted((tmp_path / "out1").iterdir())
    assert len(parts) > 1 and all(p.stat().st_size <= 30000 for p in parts)
    run = tmp_path / "run"
    names = _reassemble(tmp_path / "out1", run)
    assert names == sorted(
        ["best.pt", "last.pt", "train.csv", "valid.csv", "config.json", "train.log"]
    )
    last = load_checkpoint(run / "last.pt")
    assert last["trainer"]["step"] == 2 and last["training"]["precision"] == "bf16"
    assert last["training"]["reverb"]["measured_rooms"] == list(ROOMS)
    best = model_from_checkpoint(run / "best.pt")
    assert best.name == "convtasnet" and best.num_parameters() < 20000

    # to continue: last.pt and the logs travel in work-data/gpu-run, the run resumes to STEPS
    resume = device_root / "work-data" / "gpu-run"
    resume.mkdir()
    for name in ("last.pt", "train.csv", "valid.csv"):
        shutil.copy(run / name, resume / name)
    try:
        proc = _train(device_root, tmp_path / "out2", 4)
    finally:
        shutil.rmtree(resume)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _reassemble(tmp_path / "out2", run)
    assert load_checkpoint(run / "last.pt")["trainer"]["step"] == 4
    steps = [line.split(",")[0] for line in (run / "train.csv").read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3", "4"]


def test_train_refuses_to_start_without_out(pack):
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    proc = subprocess.run(
        ["sh", str(SCRIPTS / "gpu_train.sh"), "convtasnet", "1"],
        cwd=pack.parents[1],
        env={**env, "SKIP_WHEELS": "1"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "OUT" in proc.stderr and "names the folder" in proc.stderr
