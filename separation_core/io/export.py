"""Writing separated sources as stems, with a JSON sidecar that records how they were made."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from separation_core import __version__
from separation_core.io.audio_io import file_sha256, resample
from separation_core.io.audio_save import encode_audio, prepare_audio
from separation_core.io.export_plan import (
    DEFAULT_TEMPLATE,
    ExportRequest,
    ExportTarget,
    plan_one,
    refuse_existing,
)
from separation_core.io.filesets import ensure_writable_folder, write_file_set
from separation_core.io.rttm import rttm_text

if TYPE_CHECKING:  # only annotated: io writes results, it does not build them
    from separation_core.models.result import SeparationResult

SUBTYPES = {"PCM_16": "16-bit", "PCM_24": "24-bit", "FLOAT": "32-bit float"}
PCM_PEAK = 10.0 ** (
    -0.1 / 20.0
)  # integer stems that would clip are scaled together to peak here (-0.1 dBFS)


def write_stems(
    result: SeparationResult,
    out_dir,
    input_stem: str,
    *,
    template: str = DEFAULT_TEMPLATE,
    subtype: str = "PCM_16",
    extension: str = ".wav",
    sample_rate: Optional[int] = None,
    residual_of: Optional[np.ndarray] = None,
    overwrite: bool = False,
    sidecar: Optional[dict] = None,
    model_label: str = "",
) -> list[Path]:
    """Plan (``plan_one``) and write one result's stems to ``out_dir`` with ``write_target``;
    returns the stems' paths (the residual's too, not the sidecar's)."""
    request = ExportRequest(input_stem, input_stem, result.n_src, model_label or result.model_name)
    target = plan_one(
        request,
        Path(out_dir).expanduser(),
        template=template,
        extension=extension,
        residual=residual_of is not None,
        sidecar=sidecar is not None,
    )
    write_target(
        result,
        target,
        subtype=subtype,
        sample_rate=sample_rate,
        residual_of=residual_of,
        overwrite=overwrite,
        sidecar=sidecar,
    )
    return list(target.stems)


def write_target(
    result: SeparationResult,
    target: ExportTarget,
    *,
    subtype: str = "PCM_16",
    sample_rate: Optional[int] = None,
    residual_of: Optional[np.ndarray] = None,
    overwrite: bool = False,
    sidecar: Optional[dict] = None,
) -> list[Path]:
    """Write the planned ``target`` (see ``export_plan``): each source (and the residual
    ``mixture - sum(sources)`` when ``residual_of`` is the mixture ``[time]`` at
    ``result.sample_rate``), then the ``sidecar`` JSON, as one unit: on any failure none of the set
    is left and replaced files are restored. The folder is created and proved writable first;
    nothing is written if any target exists and ``overwrite`` is False. Returns every path written.

    Stems of a loud mixture may reach full scale: integer-subtype stems peaking above ``PCM_PEAK``
    are all scaled by one common gain (their balance and sum kept) to peak there instead of
    clipping; the sidecar records it as ``output_gain_db``."""
    n_stems = result.n_src + (residual_of is not None)
    if target.rttm is not None and result.turns is None:
        raise ValueError(f"the plan of {target.source} has an RTTM file but the result no turns")
    if len(target.stems) != n_stems or (sidecar is None) != (target.sidecar is None):
        raise ValueError(
            f"the plan of {target.source} does not match what is written: "
            f"{len(target.stems)} stems planned for {n_stems}, sidecar "
            f"{'planned' if target.sidecar else 'not planned'}"
        )
    ensure_writable_folder(target.paths[0].parent)
    refuse_existing([target], overwrite)
    signals, rate, gain = _stem_signals(result, residual_of, sample_rate, subtype)
    writers = [
        (path, _audio_writer(path, signal, rate, subtype, gain))
        for path, signal in zip(target.stems, signals)
    ]
    if sidecar is not None:
        payload = dict(sidecar)
        payload["output_gain_db"] = round(20.0 * np.log10(gain), 3)
        payload["outputs"] = [p.name for p in target.stems]
        payload["output_sample_rate"] = rate
        payload["output_subtype"] = subtype
        if target.rttm is not None:
            payload["rttm"] = target.rttm.name
        writers.append((target.sidecar, lambda tmp: _write_json(tmp, payload)))
    if target.rttm is not None:
        writers.append((target.rttm, lambda tmp: _write_rttm(tmp, result, target)))
    write_file_set(writers, overwrite=overwrite, clean_stale=True)
    return list(target.paths)


def _stem_signals(
    result: SeparationResult, residual_of, sample_rate, subtype
) -> tuple[list, int, float]:
    """(signals at the output rate, that rate, the common gain that keeps PCM stems from clipping)."""
    signals = list(result.waveforms)
    if residual_of is not None:
        signals.append(np.asarray(residual_of, np.float32) - result.waveforms.sum(axis=0))
    rate = int(sample_rate or result.sample_rate)
    if rate != result.sample_rate:
        signals = [resample(signal, result.sample_rate, rate) for signal in signals]
    peak = max((_peak(signal) for signal in signals if signal.size), default=0.0)
    gain = PCM_PEAK / peak if subtype != "FLOAT" and peak > PCM_PEAK else 1.0
    return signals, rate, gain


def _peak(signal: np.ndarray) -> float:
    """``max |signal|`` without the copy ``np.abs`` makes (230 MB for a person-hour at 16 kHz)."""
    return max(float(np.max(signal)), -float(np.min(signal)))


def _audio_writer(path: Path, signal: np.ndarray, rate: int, subtype: str, gain: float):
    """Checks the stem now; returns the writer that encodes it (scaled by ``gain``) into a temporary."""
    fmt, subtype, x = prepare_audio(path, signal, rate, subtype)

    def write(tmp: Path) -> None:
        encode_audio(tmp, x, rate, subtype, fmt, gain=gain)

    return write


def _write_rttm(path: Path, result: SeparationResult, target: ExportTarget) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(rttm_text(result.turns, target.rttm.stem, result.people))
        f.flush()
        os.fsync(f.fileno())


def _write_json(path: Path, payload: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, default=_json_default)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def library_versions() -> dict:
    versions = {"cocktail": __version__, "python": platform.python_version()}
    for name in ("numpy", "torch", "soundfile", "soxr", "scipy", "sklearn"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "?")
        except ImportError:
            pass
    return versions


@dataclass(frozen=True)
class InputFile:
    """The input of an export as its sidecars record it: made once per file (``describe_input``),
    so a file exported with several results is hashed once."""

    path: Optional[Path]
    sha256: Optional[str]
    sample_rate: Optional[int] = None  # the input's rate and length (the stems' before resampling)
    samples: Optional[int] = None


def describe_input(
    path, sample_rate: Optional[int] = None, samples: Optional[int] = None
) -> InputFile:
    """``path`` (None: an input with no file) and its SHA-256, read once here."""
    path = Path(path) if path else None
    digest = file_sha256(path) if path is not None and path.is_file() else None
    return InputFile(
        path,
        digest,
        None if sample_rate is None else int(sample_rate),
        None if samples is None else int(samples),
    )


def output_options(
    extension: str, subtype: str, template: str = DEFAULT_TEMPLATE, residual: bool = False
) -> dict:
    """The file options every sidecar records beside the run options."""
    return {
        "format": extension.lstrip("."),
        "subtype": subtype,
        "template": template,
        "residual": bool(residual),
    }


def build_sidecar(
    source,
    model_entry,
    options: dict,
    metrics=None,
    timings=None,
    references: Sequence = (),
    notes: Sequence[str] = (),
) -> dict:
    """The record of how stems were made, the same for the command line and the desktop program:
    the input (``source``: an ``InputFile``, or a path hashed here), its hash, rate and length,
    model and checkpoint hash, options, library versions, metrics, timings (seconds) and the
    result's notes (``SeparationResult.notes``: retries, an input too short or not speech, ...)."""
    if not isinstance(source, InputFile):
        source = describe_input(source)
    checkpoint = getattr(model_entry, "checkpoint", None)
    return {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "input": str(source.path) if source.path else None,
        "input_sha256": source.sha256,
        "sample_rate": source.sample_rate,
        "samples": source.samples,
        "references": [str(r) for r in references],
        "model": {
            "id": getattr(model_entry, "id", str(model_entry)),
            "name": getattr(model_entry, "model_name", str(model_entry)),
            "checkpoint": str(checkpoint) if checkpoint else None,
            # a SpeechBrain folder is no one file: its files' hashes are in source_sha256
            "checkpoint_sha256": (
                file_sha256(checkpoint) if checkpoint and not Path(checkpoint).is_dir() else None
            ),
            "imported_from": getattr(model_entry, "imported_from", "") or None,
            "source_format": getattr(model_entry, "source_format", "") or None,
            "source_sha256": dict(getattr(model_entry, "source_sha256", None) or {}) or None,
        },
        "options": dict(options),
        "versions": library_versions(),
        "metrics": metrics,
        "timings": timings,
        "notes": list(notes),
    }
