"""Write a bundled model's card (Markdown) from its checkpoint and `cocktail bench --json` output.

    python scripts/model_card.py resources/models/ID.pt bench.json [--out resources/models/ID.md]
    python scripts/model_card.py downloaded/model.pth [--out model.md]     # an imported model

An imported file (an Asteroid model) gets a card of what the file says of itself, marked as
imported, with no benchmark.

Every number on the card comes from one of the two files: training facts and validation figures from
the checkpoint's `training` and `metrics`, test-set quality, speed and memory from the benchmark.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from separation_core.checkpoints.importers.asteroid import imported_card  # noqa: E402
from separation_core.checkpoints.store import load_checkpoint  # noqa: E402
from separation_core.engine.inference import model_chunk_seconds  # noqa: E402
from separation_core.evaluation.metrics import metric_specs  # noqa: E402
from separation_core.models.base import KIND_CHIMERA, KIND_DEEP_CLUSTERING  # noqa: E402
from separation_core.models.deep_clustering import SOFT_MASK_SHARPNESS  # noqa: E402
from separation_core.models.registry import get_model_class  # noqa: E402


def fmt(value, spec: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


def quality_rows(bench: dict, model_id: str) -> list[str]:
    """The test-set table: one column per headline metric of the registry."""
    metrics = metric_specs(headline=True)
    rows = [
        "| system | " + " | ".join(m.heading for m in metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for name in (model_id, "oracle-ibm", "oracle-irm"):
        q = bench["models"].get(name, {}).get("quality")
        if q:
            label = f"**{name}**" if name == model_id else name
            rows.append(
                f"| {label} | " + " | ".join(fmt(q.get(m.name), m.fmt) for m in metrics) + " |"
            )
    return rows


def quality_by_set_rows(bench: dict, model_id: str) -> list[str]:
    """One row per test set (condition): the model's headline metrics beside the oracles' SI-SDRi."""
    sets = bench["models"].get(model_id, {}).get("quality_by_set") or {}
    if len(sets) < 2:
        return []
    metrics = metric_specs(headline=True)
    rows = [
        "| test set | mixtures | "
        + " | ".join(m.heading for m in metrics)
        + " | oracle IBM SI-SDRi | oracle IRM SI-SDRi |",
        "|---|---|" + "---|" * (len(metrics) + 2),
    ]
    for name, q in sets.items():
        if "skipped" in q:
            continue
        label = f"{name} (K={q['num_speakers']})" if q.get("num_speakers") else name
        oracles = [
            bench["models"].get(o, {}).get("quality_by_set", {}).get(name, {}).get("si_sdri")
            for o in ("oracle-ibm", "oracle-irm")
        ]
        rows.append(
            f"| {label} | {q.get('mixtures', '?')} | "
            + " | ".join(fmt(q.get(m.name), m.fmt) for m in metrics)
            + f" | {fmt(oracles[0])} | {fmt(oracles[1])} |"
        )
    return rows


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
    if t.get("schedule") == "cosine":
        return "warm-up then cosine decay"
    return "halved after 3 validations without a new best"


SPEAKER_WORDS = {2: "two", 3: "three", 4: "four"}


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


def alt_validation_text(m: dict) -> str:
    """The end of the validation sentence: the figure on a set of another speaker count, if any
    (``valid_si_sdri_3spk``: a run with ``--alt-speakers 3``, or a model validated on both)."""
    found = [hit for k in m if (hit := re.fullmatch(r"valid_si_sdri_(\d+)spk", k))]
    if not found:
        return "."
    n = int(found[0].group(1))
    return (
        f"; SI-SDRi {fmt(m[found[0].group(0)])} dB (K={n}) on {m.get(f'valid_mixtures_{n}spk', '?')} "
        f"{SPEAKER_WORDS.get(n, str(n))}-speaker mixtures of other valid-split speakers in the "
        "same conditions."
    )


def train_command(ckpt: dict) -> str:
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


def card(path: Path, bench: dict) -> str:
    ckpt = load_checkpoint(path)
    model_id, t, m = path.stem, ckpt["training"], ckpt.get("metrics") or {}
    row = bench["models"][model_id]
    machine = bench["machine"]
    cls = get_model_class(ckpt["model_name"])
    test = bench.get("test_set", {})
    cpu, long = row.get("cpu", {}), row.get("long", {})
    lines = [
        f"# {model_id}",
        "",
        f"{t.get('description') or cls.description}",
        "",
        "| | |",
        "|---|---|",
        f"| model | `{ckpt['model_name']}`: {cls.description} |",
        f"| arguments | `{json.dumps(ckpt['model_args'], sort_keys=True)}` |",
        f"| parameters | {row['parameters']:,} |",
        f"| sample rate, speakers | {ckpt['sample_rate']} Hz, {ckpt['n_src']} |",
        f"| file | `{path.name}`, {path.stat().st_size / 2**20:.1f} MiB |",
        "",
        "## Training",
        "",
        f"- Data: {', '.join(t.get('speech', []))} from `../shared/data/speech/` (real"
        + (
            " read speech, one utterance per speaker)"
            if t.get("speech") == ["librispeech-train-clean-100"]
            else " speech: read, accented and children's)"
        )
        + f", {t.get('split', 'train split')}: speakers are split train / valid / "
        "test by a hash of their id within each corpus, so validation and test speakers were never "
        "heard in training. "
        f"Dynamic mixing: {speaker_words(t)} random "
        "train speakers per mixture, random crops, relative level "
        "-5..5 dB, fresh every epoch"
        + (
            ", each source played at a random speed factor in {:g}..{:g} (tempo and pitch).".format(
                *t["speed_range"]
            )
            if t.get("speed_range")
            else "."
        ),
        f"- Loss: {t.get('loss')}; {t['steps']:,} steps of batch {t['batch_size']} x "
        f"{t['segment_seconds']:g} s ({t.get('epochs', 0):g} epochs), Adam lr {t['lr']:g} "
        f"({schedule_text(t)}), seed {t.get('seed', 0)}.",
        *augmentation_lines(t),
        *(
            [
                f"- Initialised from `{t['initialised_from']}` (fine-tuned); the figures below count this run only."
            ]
            if t.get("initialised_from")
            else []
        ),
        *(
            [
                f"- The deep clustering half of `{t['extracted_from']}` (a `{t['trained_as']}`): "
                "its trunk and embedding head, without the mask head "
                "(`scripts/dc_from_chimera.py`); every figure below is this model's own, by k-means."
            ]
            if t.get("extracted_from")
            else []
        ),
        f"- Hardware: {t.get('hardware')}, {t.get('hours', 0):.2f} hours of training "
        f"({t.get('world_size', 1)} process(es)).",
        f"- Validation at the kept step ({m.get('step', t['steps'])}): SI-SDRi "
        f"{fmt(m.get('valid_si_sdri'))} dB on {m.get('valid_mixtures', '?')} held-out-speaker mixtures, "
        f"where the oracle IRM reaches {fmt(m.get('valid_oracle_irm_si_sdri'))} dB"
        + alt_validation_text(m),
        *(
            [
                f"- Kept step chosen among the run's checkpoints by SI-SDRi {fmt(m['selection_si_sdri'])} dB on "
                f"{m['selection_set']}."
            ]
            if "selection_si_sdri" in m
            else []
        ),
        "",
        "Reproduce (the run's main options; the kept checkpoint is "
        + ("the one chosen above):" if "selection_si_sdri" in m else "the best validation step):"),
        "",
        "```",
        train_command(ckpt),
        "```",
        "",
        "## Quality on held-out speakers",
        "",
        f"`cocktail bench` on `{Path(test.get('path', '?')).name}`: {test.get('mixtures', '?')} two-speaker "
        "mixtures of the **test** split (speakers in neither training nor validation), 16 kHz, "
        "made with `cocktail mix --split test`; oracle masks computed on the same mixtures.",
        "",
        *quality_rows(bench, model_id),
        "",
        *(
            [
                "By condition (`scripts/make_test_sets.sh`: 100 mixtures each of test-split speakers; "
                "clean-libri: LibriSpeech; accented: speechocean762, adults and children; reverb: "
                "LibriSpeech and speechocean762 in simulated rooms and the measured Surrey room A, "
                "which training never saw; reverb-noisy: the same with real noise at 0..15 dB SNR; "
                "three-libri, for clustering models only: three LibriSpeech speakers, the model "
                "asked for K=3):",
                "",
                *quality_by_set_rows(bench, model_id),
                "",
            ]
            if quality_by_set_rows(bench, model_id)
            else []
        ),
        "## Speed and memory",
        "",
        f"- {fmt(cpu.get('speed_x_realtime'), '.1f')}x faster than real time on the CPU "
        f"({machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('threads')} torch threads; {fmt(cpu.get('seconds'), '.0f')} s input, "
        f"through the chunked engine, {model_chunk_seconds(cls):g} s chunks).",
    ]
    if row.get("gpu"):
        lines.append(
            f"- {fmt(row['gpu'].get('speed_x_realtime'), '.1f')}x real time on {machine.get('gpu')}."
        )
    if long.get("peak_mb"):
        lines.append(
            f"- Peak memory of `cocktail separate` on a {long['minutes']:g}-minute input: "
            f"{long['peak_mb']:.0f} MB."
        )
    lines += [
        "",
        "## Limits",
        "",
        (
            "- Trained on clean read English speech (LibriSpeech train-clean-100 excerpts: 199 train-split "
            "speakers, one utterance each, about 40 minutes)"
            if t.get("speech") == ["librispeech-train-clean-100"]
            else f"- Trained on {', '.join(t.get('speech', []))} only"
        )
        + (
            "; noisy, reverberant or far-field recordings, music and other languages are outside "
            "what it has seen."
            if not (t.get("noise") or (t.get("reverb") or {}).get("prob"))
            else "; real rooms and noise were simulated or measured, not recorded together with the "
            "speech: far-field recordings, music, more than two talkers and other languages than "
            "English are outside what it has seen."
        ),
        (
            speakers_limit(t, ckpt["n_src"])
            if cls.kind in (KIND_DEEP_CLUSTERING, KIND_CHIMERA)
            else f"- Always gives {ckpt['n_src']} outputs, whatever the number of speakers."
        ),
        *(
            [
                "- Clustered embeddings give soft masks, a softmax over each bin's squared distances "
                f"to the cluster centres (sharpness {SOFT_MASK_SHARPNESS:g}, chosen on the validation "
                "sets); `--binary-masks` gives one-hot ones, which score lower."
            ]
            if cls.kind in (KIND_DEEP_CLUSTERING, KIND_CHIMERA)
            else []
        ),
        "- Other sample rates are resampled to the model's on the way in and back on the way out.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument(
        "bench",
        type=Path,
        nargs="?",
        default=None,
        help="output of `cocktail bench --json` naming this model (not for imported models)",
    )
    p.add_argument("--out", type=Path, default=None, help="default: the checkpoint's path with .md")
    a = p.parse_args()
    ckpt = load_checkpoint(a.checkpoint)
    if ckpt.get("imported"):
        text = imported_card(ckpt, a.checkpoint)
    elif a.bench is None:
        p.error("a Cocktail checkpoint's card needs the bench JSON")
    else:
        text = card(a.checkpoint, json.loads(a.bench.read_text()))
    out = a.out or a.checkpoint.with_suffix(".md")
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
