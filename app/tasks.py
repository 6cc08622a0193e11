"""The work the GUI hands to the job runner, as immutable job values with a ``run(ctx)`` method.
No Qt here: each job drives separation_core and reports through ``ctx`` (see ``app.jobs``).
Torch-heavy modules are imported inside the jobs, so the window shows before torch loads."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from separation_core.errors import Cancelled

MAX_EMBEDDING_POINTS = 60000  # enough for the scatter and for a dense selection mask


def frozen_array(x: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """A read-only view: a job can never change the caller's arrays."""
    if x is None:
        return None
    view = np.asarray(x).view()
    view.setflags(write=False)
    return view


def compact_for_display(result):
    """The result as the GUI keeps it: waveforms stay float32 (heard, scored, exported); masks and
    embeddings, only drawn and read on hover, become float16 (3 significant digits, as shown);
    bin indices int32 and labels int16. Halves what a result holds beyond its waveforms."""
    from dataclasses import replace

    def cast(x, dtype):
        return None if x is None else np.asarray(x).astype(dtype, copy=False)

    return replace(
        result,
        masks=cast(result.masks, np.float16),
        embeddings=cast(result.embeddings, np.float16),
        embedding_bins=cast(result.embedding_bins, np.int32),
        embedding_labels=cast(result.embedding_labels, np.int16),
    )


def leave_core_for_gui() -> None:
    """Let torch use every core but one, so the GUI thread always has one to draw with."""
    import os

    import torch

    wanted = max(1, (os.cpu_count() or 2) - 1)
    if torch.get_num_threads() > wanted:
        torch.set_num_threads(wanted)


@dataclass(frozen=True)
class RunSettings:
    """What the model panel's run options mean (None: the model's default)."""

    num_speakers: Optional[int] = None
    clustering: str = "kmeans"
    binary_masks: bool = False
    chunk_seconds: Optional[float] = None
    device: str = "auto"

    def engine_options(self):
        from separation_core.engine.inference import EngineOptions
        from separation_core.models.base import RunOptions

        return EngineOptions(
            chunk_seconds=self.chunk_seconds,
            device=self.device,
            run=RunOptions(
                num_speakers=self.num_speakers,
                clustering=self.clustering,
                binary_masks=self.binary_masks,
            ),
            max_embedding_points=MAX_EMBEDDING_POINTS,
        )

    def to_dict(self) -> dict:
        return {
            "num_speakers": self.num_speakers,
            "clustering": self.clustering,
            "binary_masks": self.binary_masks,
            "chunk_seconds": self.chunk_seconds,
            "device": self.device,
        }


@dataclass(frozen=True)
class LoadMixtureJob:
    path: Path

    def run(self, ctx) -> Any:
        from separation_core.io.audio_io import load_audio

        ctx.progress(0.0, f"reading {self.path.name}")
        audio = load_audio(self.path)
        ctx.progress(1.0, "loaded")
        return audio


@dataclass(frozen=True)
class LoadedReferences:
    references: np.ndarray  # [n_ref, T] at the mixture's rate and length
    orders: dict  # result key -> its order against them (see app.session.align_sources)


@dataclass(frozen=True)
class LoadReferencesJob:
    """Read the references; solve the speaker order of each of ``results`` against them."""

    paths: tuple
    sample_rate: int
    length: int
    results: tuple = ()  # ((key, waveforms [n_src, T]), ...)

    def run(self, ctx) -> LoadedReferences:
        from app.session import align_sources
        from separation_core.io.audio_io import load_references

        ctx.progress(0.0, "reading references")
        refs = load_references(
            [Path(p) for p in self.paths], sample_rate=self.sample_rate, length=self.length
        )
        orders = {}
        for key, waves in self.results:
            ctx.cancel.raise_if_cancelled()
            orders[key] = tuple(align_sources(waves, refs))
        return LoadedReferences(refs, orders)


@dataclass(frozen=True)
class CatalogJob:
    """Every available model (bundled, user folder, registry) plus ``extra`` checkpoint paths."""

    extra: tuple = ()

    def run(self, ctx) -> tuple[list, list]:
        from separation_core.checkpoints import catalog

        ctx.progress(0.0, "listing models")
        problems: list = []
        entries = catalog.list_models(problems)
        for path in self.extra:
            try:
                entries.append(catalog.entry_from_checkpoint(path, "path"))
            except Exception as e:  # a checkpoint that went away or broke since it was opened
                problems.append(str(e))
        return entries, problems


@dataclass(frozen=True)
class ResolveModelJob:
    spec: str

    def run(self, ctx):
        from separation_core.checkpoints import catalog

        return catalog.resolve(self.spec)


@dataclass(frozen=True)
class ModelDone:
    entry: Any
    result: Any
    settings: RunSettings
    seconds: float
    order: Optional[tuple] = None  # against the job's anchor (see SeparationJob)


@dataclass(frozen=True)
class ModelFailed:
    spec: str
    message: str
    details: str = ""


@dataclass(frozen=True)
class SeparationJob:
    """Run several models one after the other; one that fails is reported and the others go on.
    Publishes a ModelDone or ModelFailed per model; returns the list of those.

    Each ModelDone carries its speaker order solved on the full signals against ``anchor`` (the
    session's references or first result); without one, the first result is the anchor."""

    mixture: np.ndarray
    sample_rate: int
    models: tuple  # ModelEntry or spec strings
    settings: RunSettings = field(default_factory=RunSettings)
    references: Optional[np.ndarray] = None
    anchor: Optional[np.ndarray] = None

    def run(self, ctx) -> list:
        import traceback

        from app.session import align_sources
        from separation_core.checkpoints import catalog
        from separation_core.engine.inference import separate

        leave_core_for_gui()

        outcomes = []
        anchor = self.anchor
        n = len(self.models)
        for i, spec in enumerate(self.models):
            name = getattr(spec, "id", str(spec))
            prefix = f"{name} ({i + 1}/{n})" if n > 1 else name

            def progress(fraction: float, stage: str, i=i, prefix=prefix) -> None:
                ctx.progress((i + fraction) / n, f"{prefix}: {stage}")

            ctx.cancel.raise_if_cancelled()
            progress(0.0, "loading model")
            try:
                entry = catalog.resolve(spec)
                model = catalog.load_model(entry)
                refs = self.references if entry.needs_references else None
                t0 = time.perf_counter()
                result = separate(
                    model,
                    self.mixture,
                    self.sample_rate,
                    self.settings.engine_options(),
                    references=refs,
                    progress=progress,
                    cancel=ctx.cancel,
                )
                del model  # its weights and buffers go before the next model loads
                result = compact_for_display(result)
                seconds = time.perf_counter() - t0
                if anchor is None:
                    anchor, order = result.waveforms, tuple(range(result.n_src))
                else:
                    order = tuple(align_sources(result.waveforms, anchor))
                outcome = ModelDone(entry, result, self.settings, seconds, order)
            except Cancelled:
                raise
            except Exception as e:  # CocktailError, or a bug in one model: the others still run
                outcome = ModelFailed(
                    name, str(e) if str(e) else type(e).__name__, traceback.format_exc()
                )
            outcomes.append(outcome)
            ctx.publish(outcome)
        return outcomes


@dataclass(frozen=True)
class MetricsJob:
    """Score each result against the references; publishes ``(key, Evaluation)`` per result. A
    result's permutation is its speaker order when given (the one the views show), else solved."""

    results: tuple  # ((key, waveforms [n_src, T], permutation [n_ref] or None), ...)
    references: np.ndarray
    mixture: np.ndarray
    sample_rate: int

    def run(self, ctx) -> dict:
        from separation_core.cancel import cancel_scope

        out = {}
        n = len(self.results)
        for i, (key, waves, permutation) in enumerate(self.results):
            ctx.cancel.raise_if_cancelled()

            def progress(fraction: float, metric: str, i=i, key=key) -> None:
                ctx.progress((i + fraction) / n, f"metrics: {key} ({metric})")

            with cancel_scope(ctx.cancel):  # checked between the metrics of each source, too
                evaluation = evaluate_in_steps(
                    waves, self.references, self.mixture, self.sample_rate, progress, permutation
                )
            out[key] = evaluation
            ctx.publish((key, evaluation))
        ctx.progress(1.0, "metrics done")
        return out


def evaluate_in_steps(estimates, references, mixture, sample_rate: int, progress, permutation=None):
    """``evaluate_separation`` one metric at a time, calling ``progress(fraction, metric)`` before
    each, so a progress bar moves while the slow metrics (SDR, PESQ) run. The permutation is solved
    once (unless given), then used by every metric."""
    from separation_core.evaluation.metrics import DEFAULT_METRICS, Evaluation, evaluate_separation

    parts = []
    for k, metric in enumerate(DEFAULT_METRICS):
        progress(k / len(DEFAULT_METRICS), metric)
        parts.append(
            evaluate_separation(
                estimates,
                references,
                mixture,
                sample_rate,
                metrics=(metric,),
                permutation=permutation,
            )
        )
        permutation = parts[0].permutation
    per_source = [
        {m: v for p in parts for m, v in p.per_source[i].items()}
        for i in range(len(parts[0].per_source))
    ]
    mean = {m: v for p in parts for m, v in p.mean.items()}
    return Evaluation(permutation=parts[0].permutation, per_source=per_source, mean=mean)


@dataclass(frozen=True)
class ExportItem:
    """One result to write to its planned files (``target``: an ExportTarget of the core's
    ``export_plan``, named from ``input_stem`` and the template)."""

    result: Any
    entry: Any
    input_stem: str
    options: dict
    metrics: Optional[dict] = None
    timings: Optional[dict] = None
    sample_rate: Optional[int] = None  # None: the result's (the input's) rate
    target: Any = None  # None: planned by the job


@dataclass(frozen=True)
class ExportJob:
    """Write the stems of each item (plus the residual and the JSON sidecar when asked); publishes
    each item's model id once written; returns every path written."""

    items: tuple
    out_dir: Path
    template: str
    subtype: str
    extension: str
    residual_of: Optional[np.ndarray] = None
    overwrite: bool = False
    sidecar: bool = True
    input_path: Optional[Path] = None
    references: tuple = ()

    def run(self, ctx) -> list:
        from separation_core.io import export
        from separation_core.io.export_plan import ExportRequest, plan_exports

        residual = self.residual_of is not None
        targets = [item.target for item in self.items]
        if None in targets:  # not planned by the dialog: plan them all here, collisions refused
            targets = plan_exports(
                [
                    ExportRequest(it.entry.id, it.input_stem, it.result.n_src, it.entry.id)
                    for it in self.items
                ],
                self.out_dir,
                template=self.template,
                extension=self.extension,
                residual=residual,
                sidecar=self.sidecar,
            )
        source = None
        if self.sidecar and self.items:  # one input: hashed once, whatever the number of results
            first = self.items[0].result
            source = export.describe_input(
                self.input_path, first.sample_rate, first.waveforms.shape[-1]
            )
        written = []
        for i, (item, target) in enumerate(zip(self.items, targets)):
            ctx.cancel.raise_if_cancelled()
            ctx.progress(i / len(self.items), f"exporting {item.entry.id}")
            sidecar = None
            if self.sidecar:
                options = dict(
                    item.options,
                    **export.output_options(self.extension, self.subtype, self.template, residual),
                )
                sidecar = export.build_sidecar(
                    source,
                    item.entry,
                    options,
                    metrics=item.metrics,
                    timings=item.timings,
                    references=self.references,
                )
            written += export.write_target(
                item.result,
                target,
                subtype=self.subtype,
                sample_rate=item.sample_rate,
                residual_of=self.residual_of,
                overwrite=self.overwrite,
                sidecar=sidecar,
            )
            ctx.publish(item.entry.id)  # this result is saved
        ctx.progress(1.0, "exported")
        return written


def evaluation_dict(evaluation) -> Optional[dict]:
    """A metrics Evaluation as plain JSON values."""
    if evaluation is None:
        return None
    return {
        "permutation": [int(p) for p in evaluation.permutation],
        "per_source": [dict(d) for d in evaluation.per_source],
        "mean": dict(evaluation.mean),
    }


@dataclass(frozen=True)
class MaskedSignalJob:
    """The mixture through a mask ``[freq, frames]`` on an STFT grid, back at the mixture's rate."""

    mixture: np.ndarray
    sample_rate: int
    mask: np.ndarray
    stft: Any  # separation_core.models.transforms.StftParams

    def run(self, ctx) -> np.ndarray:
        return masked_signal(self.mixture, self.sample_rate, self.mask, self.stft)


def masked_signal(
    mixture: np.ndarray, sample_rate: int, mask: np.ndarray, stft_params
) -> np.ndarray:
    """``mixture [time]`` at ``sample_rate`` -> ``istft(mask * stft(mixture))`` at the same rate and
    length; the STFT runs at the grid's own rate (``stft_params.sample_rate``)."""
    import torch

    from separation_core.io.audio_io import resample
    from separation_core.models.transforms import istft, stft

    grid_rate = int(stft_params.sample_rate)
    x = resample(mixture, sample_rate, grid_rate) if grid_rate != sample_rate else mixture
    spec = stft(torch.from_numpy(np.array(x, dtype=np.float32)), stft_params)  # a writable copy
    frames = min(spec.shape[-1], mask.shape[-1])
    m = torch.zeros(spec.shape, dtype=torch.float32)
    m[:, :frames] = torch.from_numpy(np.array(mask[:, :frames], dtype=np.float32))
    y = istft(spec * m, stft_params, len(x)).numpy()
    if grid_rate != sample_rate:
        y = resample(y, grid_rate, sample_rate)
    n = len(mixture)
    return np.pad(y, (0, max(0, n - len(y))))[:n].astype(np.float32)
