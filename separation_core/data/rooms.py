"""Reverberation for training and test mixtures: simulated shoebox rooms (image-source method, by
pyroomacoustics) and measured room impulse responses read from folders.

A *room* here is a set of impulse responses ``[P, L]`` from P source positions to one microphone;
a reverberant mixture takes S different positions of one room, one per speaker, and each speaker's
target is its reverberant image (the dry source convolved with its response): the models separate,
they do not dereverberate, so the targets still add up to the mixture.

Responses are trimmed to start 2 ms before their direct-path peak (no pure delay between a source and
its image) and scaled to a unit-energy direct path; ``compose`` levels the images afterwards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from separation_core.data.speakers import PathLike, find_audio
from separation_core.errors import AudioLoadError, CocktailError
from separation_core.io.fileutil import atomic_write

DEFAULT_RT60_RANGE = (0.1, 0.8)
PRE_DELAY_SECONDS = 0.002
MAX_RIR_SECONDS = 1.0
MAX_IMAGE_ORDER = 60  # caps the simulation time of large, live rooms (about 1 s per room)
POSITIONS_PER_ROOM = 3  # enough for three-speaker mixtures
WALL_MARGIN = 0.5  # metres between any source or microphone and the nearest wall


@dataclass(frozen=True)
class Room:
    """Impulse responses ``rirs [P, L]`` (float32) of one room; ``info`` says where they came from."""

    rirs: np.ndarray
    info: dict


def trim_rir(h: np.ndarray, sample_rate: int) -> np.ndarray:
    """``h`` cut to start ``PRE_DELAY_SECONDS`` before its peak, at most ``MAX_RIR_SECONDS`` long,
    scaled so that the 2.5 ms around the peak (the direct path) has unit energy."""
    h = np.asarray(h, dtype=np.float64)
    peak = int(np.argmax(np.abs(h)))
    start = max(peak - int(round(PRE_DELAY_SECONDS * sample_rate)), 0)
    h = h[start : start + int(MAX_RIR_SECONDS * sample_rate)]
    direct = h[: int(round(2 * PRE_DELAY_SECONDS * sample_rate)) + int(0.0005 * sample_rate)]
    energy = float(np.sqrt(np.sum(direct**2)))
    return (h / energy if energy > 0 else h).astype(np.float32)


def simulate_room(
    rng: np.random.Generator,
    sample_rate: int,
    rt60_range: Sequence[float] = DEFAULT_RT60_RANGE,
    positions: int = POSITIONS_PER_ROOM,
) -> Room:
    """A random shoebox room (3-10 x 3-8 x 2.4-4 m) with a drawn RT60, ``positions`` random source
    positions and one random microphone, by the image-source method."""
    import pyroomacoustics as pra

    dims = np.array([rng.uniform(3, 10), rng.uniform(3, 8), rng.uniform(2.4, 4.0)])
    rt60 = float(rng.uniform(*rt60_range))
    try:
        absorption, order = pra.inverse_sabine(rt60, dims)
    except ValueError:  # the room is too small for this RT60: the most reverberant it can be
        absorption, order = 0.02, MAX_IMAGE_ORDER
    room = pra.ShoeBox(
        dims,
        fs=sample_rate,
        materials=pra.Material(float(absorption)),
        max_order=int(min(order, MAX_IMAGE_ORDER)),
    )

    def point(height=(1.0, 2.0)) -> list[float]:
        return [
            rng.uniform(WALL_MARGIN, dims[0] - WALL_MARGIN),
            rng.uniform(WALL_MARGIN, dims[1] - WALL_MARGIN),
            rng.uniform(*height),
        ]

    mic = point((0.7, 1.6))
    sources = [point() for _ in range(positions)]
    for s in sources:
        room.add_source(s)
    room.add_microphone(mic)
    room.compute_rir()
    rirs = [trim_rir(room.rir[0][k], sample_rate) for k in range(positions)]
    length = max(len(h) for h in rirs)
    bank = np.zeros((positions, length), dtype=np.float32)
    for k, h in enumerate(rirs):
        bank[k, : len(h)] = h
    distances = [float(np.linalg.norm(np.subtract(s, mic))) for s in sources]
    return Room(
        bank,
        {
            "kind": "simulated",
            "dims": [round(float(d), 3) for d in dims],
            "rt60": round(rt60, 3),
            "distances": [round(d, 2) for d in distances],
        },
    )


def measured_rooms(dirs: PathLike | Iterable[PathLike], sample_rate: int) -> list[Room]:
    """Measured responses: every folder of ``dirs`` that directly holds audio files is one room
    (each file one position; several channels are taken as several positions)."""
    from separation_core.io.audio_io import load_audio, read_info

    by_folder: dict[Path, list[Path]] = {}
    for _, path in find_audio(dirs):
        by_folder.setdefault(path.parent, []).append(path)
    rooms = []
    for folder in sorted(by_folder):
        responses = []
        for path in sorted(by_folder[folder]):
            try:
                channels = read_info(path).channels
                for ch in range(channels):
                    audio = load_audio(
                        path,
                        sample_rate=sample_rate,
                        channel=ch if channels > 1 else None,
                        min_seconds=0.0,
                    )
                    responses.append(trim_rir(audio.samples, sample_rate))
            except AudioLoadError as err:
                raise CocktailError(f"cannot use it as a room response: {err}") from None
        length = max(len(h) for h in responses)
        bank = np.zeros((len(responses), length), dtype=np.float32)
        for k, h in enumerate(responses):
            bank[k, : len(h)] = h
        rooms.append(
            Room(bank, {"kind": "measured", "room": folder.name, "responses": len(responses)})
        )
    if not rooms:
        raise CocktailError(
            f"{', '.join(str(d) for d in _as_list(dirs))}: no room impulse response found"
        )
    return rooms


def _as_list(dirs) -> list:
    return [dirs] if isinstance(dirs, (str, Path)) else list(dirs)


def simulated_bank(
    count: int,
    sample_rate: int,
    seed: int,
    rt60_range: Sequence[float] = DEFAULT_RT60_RANGE,
    cache_dir: Optional[PathLike] = None,
) -> list[Room]:
    """``count`` simulated rooms drawn from ``seed`` (room k from ``default_rng([seed, k])``),
    cached in ``cache_dir`` as one .npz (about 1 s of simulation per room on one core)."""
    key = hashlib.sha1(
        json.dumps(
            [
                count,
                sample_rate,
                seed,
                list(map(float, rt60_range)),
                MAX_IMAGE_ORDER,
                POSITIONS_PER_ROOM,
            ]
        ).encode()
    ).hexdigest()[:12]
    path = Path(cache_dir) / f"rooms-{key}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        data = np.load(path, allow_pickle=False)
        infos = json.loads(str(data["infos"]))
        return [Room(data[f"r{k}"], infos[k]) for k in range(count)]
    rooms = [
        simulate_room(np.random.default_rng([int(seed), k]), sample_rate, rt60_range)
        for k in range(count)
    ]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"r{k}": r.rirs for k, r in enumerate(rooms)}
        with atomic_write(path, "wb") as f:
            np.savez(f, infos=np.array(json.dumps([r.info for r in rooms])), **arrays)
    return rooms


def reverberate(placed: np.ndarray, room: Room, positions: Sequence[int]) -> np.ndarray:
    """Each source of ``placed [S, T]`` convolved with the response of its position, cut to T.
    -> float32 ``[S, T]``, the reverberant images."""
    from scipy.signal import fftconvolve

    rirs = room.rirs[list(positions)]  # [S, L]
    wet = fftconvolve(placed.astype(np.float64), rirs.astype(np.float64), axes=-1)
    return wet[:, : placed.shape[-1]].astype(np.float32)


@dataclass(frozen=True)
class ReverbOptions:
    """How mixtures are made reverberant: with probability ``prob`` a mixture takes one room, a
    measured one (of ``measured``) with probability ``measured_prob`` when there are both kinds, else
    a simulated one: drawn from the bank ``simulated``, or, with ``simulate_each`` (fixed sets), a
    fresh room simulated from the mixture's own random generator."""

    simulated: tuple = ()
    measured: tuple = ()
    prob: float = 1.0
    measured_prob: float = 0.3
    simulate_each: bool = False
    sample_rate: int = 16000
    rt60_range: tuple = DEFAULT_RT60_RANGE

    @property
    def enabled(self) -> bool:
        return bool(self.simulated or self.measured or self.simulate_each)

    def describe(self) -> Optional[dict]:
        """The options as plain values (for checkpoints, cards and set metadata), None when off."""
        if not self.enabled:
            return None
        return {
            "prob": self.prob,
            "simulated_rooms": "one per mixture" if self.simulate_each else len(self.simulated),
            "rt60_range": list(self.rt60_range) if (self.simulated or self.simulate_each) else None,
            "measured_rooms": sorted({r.info.get("room", "?") for r in self.measured}),
            "measured_prob": self.measured_prob if self.measured else None,
            "target": "reverberant image of each speaker",
        }

    def draw(self, rng: np.random.Generator, n_src: int) -> tuple[Optional[Room], list[int]]:
        """``(room, positions)`` for one mixture, or ``(None, [])`` for a dry one. Draws nothing from
        ``rng`` when reverberation is off."""
        if not self.enabled or rng.uniform() >= self.prob:
            return None, []
        has_simulated = bool(self.simulated) or self.simulate_each
        use_measured = bool(self.measured) and (
            not has_simulated or rng.uniform() < self.measured_prob
        )
        if use_measured:
            room = self.measured[int(rng.integers(len(self.measured)))]
        elif self.simulate_each:
            room = simulate_room(
                rng, self.sample_rate, self.rt60_range, max(n_src, POSITIONS_PER_ROOM)
            )
        else:
            room = self.simulated[int(rng.integers(len(self.simulated)))]
        count = room.rirs.shape[0]
        positions = (
            rng.choice(count, n_src, replace=False)
            if count >= n_src
            else rng.integers(count, size=n_src)
        )
        return room, [int(p) for p in positions]


def check_probability(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise CocktailError(f"{name} must be a probability between 0 and 1, got {value}")
    return value
