"""Measure the bundled GTCRN denoiser (``gtcrn-dns3-16k``) and write its card.

On each mixture set made by ``cocktail mix`` (OUT/mix, OUT/s1, OUT/s2): the SI-SDR of the speech
(both voices together, ``s1 + s2``) in the mixture and in GTCRN's speech output, and the default
separator's SI-SDRi (speaker order solved per mixture, mean over both voices, against the
mixture) run on the mixture and with ``--denoise``; then the speed of GTCRN and of the default
separator through the engine, x real time at 1 and 2 torch threads. Results go to OUT.json; with
``--card`` the card ``resources/models/gtcrn-dns3-16k.md`` is written from them.

    cocktail mix --speech ../shared/data/speech/librispeech-train-clean-100 \\
        --noise ../shared/data/noise/speech-commands --split test --num 16 --snr-range 0,10 \\
        --seed 33 --out runs/gtcrn/sets/noisy
    cocktail mix --speech ../shared/data/speech/librispeech-train-clean-100 --split test \\
        --num 16 --seed 33 --out runs/gtcrn/sets/clean
    nice -n 10 python scripts/gtcrn_measure.py runs/gtcrn/sets/noisy runs/gtcrn/sets/clean \\
        --out runs/gtcrn/measure.json --card

The "tap" set: the same with one noise, Speech Commands' running tap and dishes (a folder holding a
link to it, so that nothing is copied), 24 mixtures, ``--seed 34``, measured with ``--keep``:

    mkdir -p runs/gtcrn/tap-noise && ln -s "$(realpath \\
        ../shared/data/noise/speech-commands/doing_the_dishes.wav)" runs/gtcrn/tap-noise/
    cocktail mix --speech ../shared/data/speech/librispeech-train-clean-100 \\
        --noise runs/gtcrn/tap-noise --split test --num 24 --snr-range 0,10 --seed 34 \\
        --out runs/gtcrn/sets/tap

A set measured later joins the others with ``--keep``; ``--speed-only`` measures the speed again and
``--from-json`` writes the card from ``--out`` alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from separation_core.checkpoints.catalog import default_model_id, load_model  # noqa: E402
from separation_core.checkpoints.checks import trainable_parameters  # noqa: E402
from separation_core.engine.inference import EngineOptions, separate  # noqa: E402
from separation_core.evaluation.metrics import (  # noqa: E402
    pairwise_si_sdr,
    si_sdr,
    solve_permutation,
)
from separation_core.io.fileutil import atomic_write  # noqa: E402
from separation_core.io.paths import bundled_models_dir  # noqa: E402

NAME = "gtcrn-dns3-16k"
SPEED_SECONDS = 60.0


def separator_si_sdri(estimates: np.ndarray, refs: np.ndarray, mixture: np.ndarray) -> float:
    """Mean SI-SDRi of ``estimates [2, T]`` against ``refs [2, T]``, best speaker order."""
    scores = pairwise_si_sdr(estimates, refs)  # [n_ref, n_est]
    order = solve_permutation(scores)
    base = np.array([si_sdr(mixture, r) for r in refs])
    return float(np.mean([scores[k, order[k]] - base[k] for k in range(len(refs))]))


def measure_set(folder: Path, gtcrn, separator) -> dict:
    rows = []
    for path in sorted((folder / "mix").glob("*.wav")):
        mixture, sr = sf.read(path, dtype="float32")
        refs = np.stack([sf.read(folder / s / path.name, dtype="float32")[0] for s in ("s1", "s2")])
        speech = refs.sum(0)
        enhanced = separate(gtcrn, mixture, sr).waveforms[0]
        plain = separate(separator, mixture, sr).waveforms
        denoised = separate(separator, mixture, sr, EngineOptions(denoiser=gtcrn)).waveforms
        noisy = not np.allclose(mixture, speech, atol=1e-4)
        rows.append(
            {
                "mixture": path.name,
                "speech_si_sdr_in": float(si_sdr(mixture, speech)) if noisy else None,
                "speech_si_sdr_out": float(si_sdr(enhanced, speech)),
                "separator_si_sdri": separator_si_sdri(plain, refs, mixture),
                "separator_si_sdri_denoised": separator_si_sdri(denoised, refs, mixture),
            }
        )
        print(f"{folder.name}/{path.name}: {rows[-1]}", flush=True)

    def mean(key: str):
        values = [r[key] for r in rows if r[key] is not None]
        return float(np.mean(values)) if values else None

    summary = {k: mean(k) for k in rows[0] if k != "mixture"}
    gains = [r["separator_si_sdri_denoised"] - r["separator_si_sdri"] for r in rows]
    summary["denoise_gain_min"], summary["denoise_gain_max"] = float(min(gains)), float(max(gains))
    summary["mixtures"] = len(rows)
    metadata = json.loads((folder / "metadata.json").read_text())
    summary["snr_range"] = metadata.get("snr_range")
    return {"summary": summary, "rows": rows}


def speed(model, threads: int, seconds: float = SPEED_SECONDS) -> dict:
    """x real time of ``model`` through the engine on ``seconds`` of noise-like audio, best of 2:
    from the wall time, and from the process's CPU time shared by ``threads`` (the machine's cores
    are shared with other work, which stretches the wall time but not the CPU time)."""
    torch.set_num_threads(threads)
    x = 0.05 * np.random.default_rng(0).standard_normal(int(seconds * 16000)).astype(np.float32)
    wall, cpu = float("inf"), float("inf")
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        separate(model, x, 16000, EngineOptions(keep_masks=False, max_embedding_points=0))
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return {"wall_x": seconds / wall, "cpu_x": seconds / (cpu / threads)}


def machine() -> str:
    cpu = platform.machine()
    try:
        found = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln]
        cpu = found[0].split(":", 1)[1].strip() if found else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}"


def fmt(value, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def noise_names(folder: Path) -> list[str]:
    """The noise recordings a ``cocktail mix`` set drew from (file stems), from its metadata."""
    metadata = json.loads((folder / "metadata.json").read_text())
    return sorted({Path(m["noise"]["path"]).stem for m in metadata["mixtures"] if m.get("noise")})


def card(report: dict, checkpoint: Path, folders: dict) -> str:
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    imp = ckpt["imported"]
    n_params = trainable_parameters(ckpt, checkpoint)  # not its batch-norm statistics
    sets, sp = report["sets"], report["speed"]
    lines = [
        f"# {NAME}",
        "",
        "GTCRN speech enhancement (Rong et al., *GTCRN: a speech enhancement model requiring "
        "ultralow computational resources*, ICASSP 2024), trained by its authors on the DNS "
        "Challenge 3 data (many speakers, many noises). It splits a recording into **speech** "
        "(every voice in it) and **noise** (the rest: noise = mixture - speech, so the two stems "
        "add up to the input). Use it alone (`cocktail separate --model gtcrn-dns3-16k`) or as a "
        "first stage before any separator (`cocktail separate --denoise`, or *Denoise first "
        "(GTCRN)* in the run options).",
        "",
        "| | |",
        "|---|---|",
        "| model | `gtcrn`: Cocktail's port of the authors' code (`separation_core/models/gtcrn.py`), "
        "checked against it to within 30 dB SI-SDR on real noisy speech |",
        f"| parameters | {n_params:,} (about 33 MMAC per second of audio) |",
        "| sample rate, outputs | 16000 Hz (other rates are resampled on the way in and back), "
        "2: speech, noise |",
        "| masks | its own complex ratio mask M on its STFT (512 / 256, sqrt-Hann): the "
        "magnitude of M for speech, of 1 - M for noise |",
        f"| file | `{checkpoint.name}`, {checkpoint.stat().st_size / 2**20:.2f} MiB |",
        "",
        "## Source and licence",
        "",
        f"- Weights: `{imp['model_name']}` of {imp['repository']}, commit `{imp['commit']}`; "
        f"sha256 of that file `{imp['source_sha256']}`.",
        "- Converted into Cocktail's checkpoint format, weights unchanged, by "
        "`scripts/convert_gtcrn.py`.",
        f"- Licence: {imp['licence']}, copied beside the weights as "
        f"`{checkpoint.with_suffix('.LICENSE').name}` (it covers the code and the checkpoints the "
        "authors ship).",
        "- The authors report DNSMOS-P.808 3.44 on the DNS3 blind test set for these weights.",
        "",
        "## Measured here",
        "",
        "`scripts/gtcrn_measure.py` on mixtures made by `cocktail mix` from LibriSpeech speakers of "
        "the **test** split (two speakers each, relative level -5..5 dB); speech SI-SDR is that of "
        "both voices together; the separator is the bundled default "
        f"(`{report['separator']}`), its SI-SDRi against the mixture, speaker order solved per "
        "mixture.",
        "",
        "| set | mixtures | speech SI-SDR in | speech SI-SDR out | separator SI-SDRi | "
        "with --denoise | change per mixture |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in sets.items():
        s = s["summary"]
        label = (
            f"{name} (real noise from Speech Commands: {', '.join(noise_names(folders[name]))}; "
            f"SNR {s['snr_range'][0]:g}..{s['snr_range'][1]:g} dB)"
            if s.get("snr_range")
            else f"{name} (no noise)"
        )
        lines.append(
            f"| {label} | {s['mixtures']} | {fmt(s['speech_si_sdr_in'])} | "
            f"{fmt(s['speech_si_sdr_out'])} | {fmt(s['separator_si_sdri'])} | "
            f"{fmt(s['separator_si_sdri_denoised'])} | {s['denoise_gain_min']:+.2f}.."
            f"{s['denoise_gain_max']:+.2f} |"
        )
    lines += [
        "",
        f"Speed through the engine on a {SPEED_SECONDS:g} s input ({report['machine']}), best of "
        "two, from the process's CPU time (audio seconds / (CPU seconds / threads)): the machine "
        f"was shared with other work (load average {report['load_average']:.1f}), which stretches "
        "wall times. GTCRN: "
        f"{sp['gtcrn_1']['cpu_x']:.0f}x real time on 1 thread, {sp['gtcrn_2']['cpu_x']:.0f}x on 2; "
        f"the default separator {sp['separator_1']['cpu_x']:.1f}x and "
        f"{sp['separator_2']['cpu_x']:.1f}x (wall: GTCRN {sp['gtcrn_1']['wall_x']:.0f}x and "
        f"{sp['gtcrn_2']['wall_x']:.0f}x, the separator {sp['separator_1']['wall_x']:.1f}x and "
        f"{sp['separator_2']['wall_x']:.1f}x). Its GRUs step through the frames one at a time "
        "(62.5 a second), which costs more than its 33 MMAC suggest.",
        "",
        "## Limits",
        "",
        *report["limits"],
        "- 16 kHz only: audio above 8 kHz is lost when a higher-rate input is resampled to it.",
        "- Causal (it hears no future frames); the level of the input is normalised to "
        "-25 dBFS before the network and restored after.",
        "",
    ]
    return "\n".join(lines)


def limits(report: dict) -> list[str]:
    """What the figures say about when to use it."""
    out = []
    for name, s in report["sets"].items():
        s = s["summary"]
        change = s["separator_si_sdri_denoised"] - s["separator_si_sdri"]
        if s.get("snr_range"):
            out.append(
                f"- On noisy speech ({name}) it raises the speech SI-SDR by "
                f"{s['speech_si_sdr_out'] - s['speech_si_sdr_in']:.1f} dB, and the separator "
                f"after it gains {change:+.2f} dB SI-SDRi."
            )
        else:
            out.append(
                f"- On clean speech ({name}) its speech output is {s['speech_si_sdr_out']:.1f} dB "
                f"SI-SDR from the input, and the separator after it changes by {change:+.2f} dB "
                "SI-SDRi: "
                + (
                    "use --denoise on noisy recordings only."
                    if change < -0.1
                    else "it does no measurable harm there."
                )
            )
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sets", nargs="+", type=Path, metavar="SET")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "gtcrn" / "measure.json")
    p.add_argument("--card", action="store_true", help=f"write resources/models/{NAME}.md")
    p.add_argument("--from-json", action="store_true", help="only write the card from --out")
    p.add_argument("--keep", action="store_true", help="keep the other sets already in --out")
    p.add_argument(
        "--speed-only", action="store_true", help="only measure the speed again, into --out"
    )
    args = p.parse_args()
    checkpoint = bundled_models_dir() / f"{NAME}.pt"
    if not (args.from_json or args.speed_only):
        torch.set_num_threads(1)
        gtcrn, separator = load_model(NAME), load_model(default_model_id())
        kept = json.loads(args.out.read_text())["sets"] if args.keep else {}
        report = {
            "separator": default_model_id(),
            "machine": machine(),
            "sets": {folder.name: measure_set(folder, gtcrn, separator) for folder in args.sets},
        }
        report["sets"].update({k: v for k, v in kept.items() if k not in report["sets"]})
        report["limits"] = limits(report)
        print(json.dumps({k: v["summary"] for k, v in report["sets"].items()}, indent=1))
    else:
        report = json.loads(args.out.read_text())
    if not args.from_json:
        gtcrn, separator = load_model(NAME), load_model(default_model_id())
        loads = [os.getloadavg()[0]]
        report["speed"] = {}
        for n in (1, 2):
            for name, model in (("gtcrn", gtcrn), ("separator", separator)):
                report["speed"][f"{name}_{n}"] = speed(model, n)
                loads.append(os.getloadavg()[0])
        report["load_average"] = float(np.mean(loads))
        print(json.dumps(report["speed"]), f"load average {report['load_average']:.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    if args.card or args.from_json:
        with atomic_write(checkpoint.with_suffix(".md"), "w", encoding="utf-8") as f:
            folders = {name: args.sets[0].parent / name for name in report["sets"]}
            f.write(card(report, checkpoint, folders | {f.name: f for f in args.sets}))
        print(f"wrote {checkpoint.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
