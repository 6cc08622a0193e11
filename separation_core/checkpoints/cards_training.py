"""The words of a card's training facts: augmentation, speaker counts, the learning-rate schedule,
and the `cocktail train` command that reproduces the run, all from the checkpoint's ``training``."""

from __future__ import annotations

from separation_core.models.registry import get_model_class

SPEAKER_WORDS = {2: "two", 3: "three", 4: "four"}


def augmentation_lines(t: dict) -> list[str]:
    """What was done to the training mixtures beyond mixing: noise and rooms (issue 12)."""
    lines = []
    if t.get("noise"):
        snr = t.get("snr_range")
        lines.append(
            f"- Noise: real noise from `../shared/data/{', '.join(t['noise'])}` added to "
            f"{t.get('noise_prob', 1.0):.0%} of the mixtures"
            + (" at an SNR drawn in {:g}..{:g} dB.".format(*snr) if snr else ".")
        )
    reverb = t.get("reverb")
    if reverb and reverb.get("prob"):
        measured = reverb.get("measured_rooms") or []
        lines.append(
            f"- Reverberation on {reverb['prob']:.0%} of the mixtures, each speaker at its own "
            "position: "
            + (
                f"{reverb['simulated_rooms']} shoebox rooms simulated by the image-source method "
                "(pyroomacoustics, RT60 {:g}..{:g} s)".format(*reverb["rt60_range"])
                if reverb.get("simulated_rooms")
                else "no simulated rooms"
            )
            + (
                f" and measured responses of {', '.join(measured)} "
                f"({reverb.get('measured_prob', 0):.0%} of the reverberant mixtures)"
                if measured
                else ""
            )
            + f". Target: the {reverb.get('target', 'reverberant image of each speaker')}, so the "
            "model separates and does not dereverberate."
        )
    return lines


def schedule_text(t: dict) -> str:
    """How the run's learning rate moved, in words."""
    if t.get("schedule") == "cosine":
        return "warm-up then cosine decay"
    return "halved after 3 validations without a new best"


def speaker_words(t: dict) -> str:
    """ "two", or "two (three on every other batch)" for a run with ``alt_speakers``."""
    words = SPEAKER_WORDS.get(t.get("speakers", 2), str(t.get("speakers")))
    if t.get("alt_speakers"):
        alt = SPEAKER_WORDS.get(t["alt_speakers"], str(t["alt_speakers"]))
        words += f" ({alt} on every other batch)"
    return words


def speakers_limit(t: dict, n_src: int) -> str:
    """The card's line on speaker counts of a clustering model. ``speakers_seen`` lists the counts
    of every run the weights went through (a fine-tuned checkpoint's own run may not show them)."""
    seen = set(t.get("speakers_seen") or [t.get("speakers", n_src)])
    if t.get("alt_speakers"):
        seen.add(t["alt_speakers"])
    most = max(seen)
    others = [SPEAKER_WORDS.get(n, str(n)) for n in sorted(seen - {n_src})]
    return (
        f"- Trained on {n_src}-speaker mixtures"
        + (f" and, on part of the batches, {' and '.join(others)}-speaker ones" if others else "")
        + "; the number of speakers K can be asked at run time (k-means) or estimated "
        f"(mean-shift), but more than {SPEAKER_WORDS.get(most, str(most))} were never seen in "
        "training."
    )


def train_command(ckpt: dict) -> str:
    """The `cocktail train` command line of the run's main options (model arguments that differ
    from the registry's defaults), for the card's "Reproduce" block."""
    t, args = ckpt["training"], dict(ckpt["model_args"])
    name = t.get("trained_as", ckpt["model_name"])  # a model extracted from the one trained
    defaults = get_model_class(name)().model_args()
    changed = {k: v for k, v in args.items() if defaults.get(k) != v}
    parts = [
        f"cocktail train --model {name} "
        + " ".join(f"--model-arg {k}={v}" for k, v in sorted(changed.items()))
    ]
    parts += [f"--speech ../shared/data/speech/{d}" for d in t.get("speech", [])]
    if t.get("speakers", ckpt["n_src"]) != ckpt["n_src"]:
        parts += [f"--speakers {t['speakers']}"]
    if t.get("alt_speakers"):
        parts += [f"--alt-speakers {t['alt_speakers']}"]
    if t.get("noise"):
        parts += [
            " ".join(f"--noise ../shared/data/{d}" for d in t["noise"])
            + f" --noise-prob {t.get('noise_prob', 1.0):g}"
            + (" --snr-range {:g},{:g}".format(*t["snr_range"]) if t.get("snr_range") else "")
        ]
    reverb = t.get("reverb") or {}
    if reverb.get("prob"):
        parts += [
            f"--rooms {reverb.get('simulated_rooms', 0)} "
            + " ".join(f"--rir ../shared/data/rir/{r}" for r in reverb.get("measured_rooms", []))
            + f" --reverb-prob {reverb['prob']:g}"
        ]
    options = t.get("loss_options") or {}  # cocktail train's loss options, e.g. mask_loss
    if options:
        value = {k: f"{v:g}" if isinstance(v, (int, float)) else v for k, v in options.items()}
        parts += [" ".join(f"--{k.replace('_', '-')} {v}" for k, v in value.items())]
    if t.get("initialised_from"):
        init = t["initialised_from"]
        parts += [f"--init {init if '/' in init else 'resources/models/' + init}"]
    parts += [
        f"--steps {t['steps']} --batch-size {t['batch_size']} --segment-seconds "
        f"{t['segment_seconds']:g} --lr {t['lr']:g} --seed {t.get('seed', 0)}"
        + (" --precision bf16" if t.get("precision") == "bf16" else "")
        + (" --speed-range {:g},{:g}".format(*t["speed_range"]) if t.get("speed_range") else "")
        + (f" --ema-decay {t['ema_decay']:g}" if t.get("ema_decay") else "")
        + " --out RUN_DIR"
    ]
    command = " \\\n    ".join(parts)
    if t.get("extracted_from"):
        command += "\npython scripts/dc_from_chimera.py RUN_DIR/best.pt RUN_DIR OUT.pt"
    return command
