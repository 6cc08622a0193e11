"""A model's card (Markdown) from its checkpoint and the output of `cocktail bench --json`.

Every number on the card comes from one of the two files: training facts and validation figures from
the checkpoint's `training` and `metrics`, test-set quality, speed and memory from the benchmark. An
imported file (an Asteroid, SpeechBrain or torchaudio model, or a bundled model converted from its
authors' files) gets a card of what the file says of itself, with no benchmark, and replaces another
card only when told (``force``).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Optional

from separation_core.checkpoints.cards_adapted import adapted_card
from separation_core.checkpoints.cards_training import (
    SPEAKER_WORDS,
    augmentation_lines,
    schedule_text,
    speaker_words,
    speakers_limit,
    train_command,
)
from separation_core.checkpoints.importers.asteroid import imported_card
from separation_core.checkpoints.importers.toolkit_card import toolkit_card
from separation_core.checkpoints.store import load_checkpoint
from separation_core.engine.inference import model_chunk_seconds
from separation_core.errors import CocktailError
from separation_core.evaluation.scoring import metric_specs
from separation_core.io.fileutil import atomic_write, unreadable_reason
from separation_core.models.deep_clustering import SOFT_MASK_SHARPNESS
from separation_core.models.registry import get_model_class


def fmt(value, spec: str = ".2f") -> str:
    """``value`` formatted by ``spec``; a dash for a missing or NaN figure."""
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


def trained_card(path: Path, ckpt: dict, bench: dict) -> str:
    """The card of a Cocktail checkpoint ``ckpt`` read from ``path``; ``bench`` must name the model
    by the file's stem (as `cocktail bench` names bundled models)."""
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
            if cls.takes_num_speakers
            else f"- Always gives {ckpt['n_src']} outputs, whatever the number of speakers."
        ),
        *(
            [
                "- Clustered embeddings give soft masks, a softmax over each bin's squared distances "
                f"to the cluster centres (sharpness {SOFT_MASK_SHARPNESS:g}, chosen on the validation "
                "sets); `--binary-masks` gives one-hot ones, which score lower."
            ]
            if cls.takes_num_speakers
            else []
        ),
        "- Other sample rates are resampled to the model's on the way in and back on the way out.",
        "",
    ]
    return "\n".join(lines)


def read_bench(path: Path, model_id: str) -> dict:
    """The output of `cocktail bench --json` at ``path``, checked to hold ``model_id``."""
    problem = unreadable_reason(path, "a benchmark file")
    if problem:
        raise CocktailError(f"{path}: {problem}")
    try:
        bench = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CocktailError(f"{path}: not JSON ({e})") from None
    if not isinstance(bench, dict) or not isinstance(bench.get("models"), dict):
        raise CocktailError(f"{path}: not the output of `cocktail bench --json` (no 'models')")
    if model_id not in bench["models"]:
        raise CocktailError(
            f"{path}: no model '{model_id}' in it (run `cocktail bench --models {model_id} --json`)"
        )
    return bench


def write_card(
    checkpoint: Path, bench: Optional[Path] = None, out: Optional[Path] = None, force: bool = False
) -> Path:
    """Write the card of ``checkpoint`` to ``out`` (default: beside it, with .md), atomically.

    A Cocktail checkpoint needs ``bench`` (the `cocktail bench --json` output naming it); an
    imported one takes none. The card of a model trained elsewhere is written from its files alone,
    so an existing card that differs from it (one that also holds figures measured apart from the
    file, as the bundled GTCRN's from ``scripts/gtcrn_measure.py``) is replaced only with
    ``force``."""
    checkpoint = Path(checkpoint)
    ckpt = load_checkpoint(checkpoint)
    imported = ckpt.get("imported") or {}
    if imported.get("from") == "asteroid":
        text = imported_card(ckpt, checkpoint)
    elif imported:  # SpeechBrain, torchaudio, a bundled model converted from its authors' files
        text = toolkit_card(ckpt, checkpoint)
    elif ckpt.get("adapted"):  # a model adapted to one recording: its card needs no benchmark
        text = adapted_card(ckpt, checkpoint)
    elif bench is None:
        raise CocktailError(
            f"{checkpoint}: a Cocktail checkpoint's card needs the `cocktail bench --json` output "
            "naming it (BENCH)"
        )
    else:
        text = trained_card(checkpoint, ckpt, read_bench(Path(bench), checkpoint.stem))
    out = Path(out) if out is not None else checkpoint.with_suffix(".md")
    if imported and not force and out.is_file() and out.read_text(encoding="utf-8") != text:
        raise CocktailError(
            f"{out}: holds another card of this model, which was trained elsewhere (it may carry "
            "figures measured apart from its files); give --force to replace it"
        )
    try:
        with atomic_write(out, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise CocktailError(f"{out}: cannot write the card ({e.strerror or e})") from None
    return out
