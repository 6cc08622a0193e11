"""The data of a run: a dynamic-mixing training dataset and a fixed validation set for each number
of speakers per mixture (the run's, then ``alt_speakers``), with their rooms and noise."""

from __future__ import annotations

from pathlib import Path

from separation_core.training.config import TrainConfig
from separation_core.training.distributed import Ranks, barrier
from separation_core.training.validation import valid_folder


def run_speakers(cfg: TrainConfig, model) -> int:
    """Speakers per mixture of the run: ``speakers``, else the model's number of sources."""
    return cfg.speakers or model.n_src


def speaker_counts(cfg: TrainConfig, model) -> tuple[int, ...]:
    """Speakers per mixture: the run's, then ``alt_speakers`` (every other batch)."""
    first = run_speakers(cfg, model)
    return (first,) if cfg.alt_speakers is None else (first, cfg.alt_speakers)


def reverb_options(cfg: TrainConfig, run_dir: Path, sample_rate: int, *, fixed_set: bool):
    """The run's rooms: a cached bank of simulated rooms for training; for the validation set a
    fresh simulated room per mixture. Measured rooms are the same for both."""
    from separation_core.data.rooms import ReverbOptions, measured_rooms, simulated_bank

    measured = tuple(measured_rooms(cfg.rir_dirs, sample_rate)) if cfg.rir_dirs else ()
    bank = ()
    if cfg.rooms > 0 and not fixed_set:
        bank = tuple(
            simulated_bank(
                cfg.rooms, sample_rate, cfg.seed, cfg.rt60_range, cache_dir=run_dir / "rooms"
            )
        )
    return ReverbOptions(
        simulated=bank,
        measured=measured,
        prob=cfg.reverb_prob,
        measured_prob=cfg.measured_prob,
        simulate_each=fixed_set and cfg.rooms > 0,
        sample_rate=sample_rate,
        rt60_range=tuple(cfg.rt60_range),
    )


def run_datasets(cfg: TrainConfig, run_dir: Path, model, ranks: Ranks):
    """The training datasets, one per speaker count, and the validation sets as ``(suffix,
    items)``: suffix "" for the run's speakers, "_3spk" for ``alt_speakers=3``. Rank 0 builds the
    validation sets once in ``run_dir`` and alone loads them (the other ranks get empty sets)."""
    rooms = (
        reverb_options(cfg, run_dir, model.sample_rate, fixed_set=False),
        reverb_options(cfg, run_dir, model.sample_rate, fixed_set=True),
    )
    trains, valids = [], []
    for i, speakers in enumerate(speaker_counts(cfg, model)):
        suffix = "" if i == 0 else f"_{speakers}spk"
        trains.append(_training_set(cfg, model, speakers, suffix, rooms[0], ranks))
        valids.append(
            (suffix, _validation_set(cfg, run_dir, model, speakers, suffix, rooms[1], ranks))
        )
    return trains, valids


def _seed_offset(speakers: int, suffix: str) -> int:
    """What the alternate speaker count adds to the seeds: its mixtures draw anew."""
    return 0 if not suffix else 1000 * speakers


def _training_set(cfg: TrainConfig, model, speakers: int, suffix: str, reverb, ranks: Ranks):
    from separation_core.data.dynamic import DynamicMixDataset

    return DynamicMixDataset(
        cfg.speech_dirs,
        split="train",
        speakers=speakers,
        sample_rate=model.sample_rate,
        segment_seconds=cfg.segment_seconds,
        sir_range=cfg.sir_range,
        noise_dirs=cfg.noise_dirs or None,
        snr_range=cfg.snr_range,
        speed_range=cfg.speed_range,
        noise_prob=cfg.noise_prob,
        reverb=reverb,
        epoch_size=cfg.steps_per_epoch * cfg.batch_size * ranks.world,
        seed=cfg.seed + _seed_offset(speakers, suffix),
        rank=ranks.rank,
        world_size=ranks.world,
        rule=cfg.rule,
    )


def _validation_set(
    cfg: TrainConfig, run_dir: Path, model, speakers: int, suffix: str, reverb, ranks: Ranks
) -> list:
    from separation_core.data.mixing import build_mixture_set, load_mixture_set

    folder = valid_folder(run_dir, suffix)
    if ranks.is_main and not (folder / "metadata.json").exists():
        build_mixture_set(
            cfg.speech_dirs,
            folder,
            num=cfg.valid_num,
            speakers=speakers,
            mode="min",
            sir_range=cfg.sir_range,
            snr_range=cfg.snr_range,
            noise_dirs=cfg.noise_dirs or None,
            split="valid",
            seed=1000
            + _seed_offset(speakers, suffix),  # not cfg.seed: runs of any seed validate alike
            sample_rate=model.sample_rate,
            rule=cfg.rule,
            overwrite=True,
            noise_prob=cfg.noise_prob,
            reverb=reverb,
            skip_unreadable=True,
        )
    barrier(ranks.world)
    return load_mixture_set(folder, sample_rate=model.sample_rate) if ranks.is_main else []
