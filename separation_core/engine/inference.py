"""The inference engine: chunking, continuous-speech-separation stitching, overlap-add, devices.

The whole signal stays on the CPU; only the chunk goes to the device. Each chunk's sources are
reordered to agree with the previous chunk on their overlap (Hungarian assignment on the squared
error), then overlap-added with a trapezoid window and normalised by the summed window. Models see the
mixture scaled to unit standard deviation (as in training); outputs are scaled back.

That overlap cue says nothing after a pause longer than the overlap, and the model may swap its
outputs inside a chunk, so on inputs of ``stitching.MIN_REORDER_SECONDS`` and more the overlap-added
signal is then re-ordered in short blocks (``stitching.BLOCK_SECONDS``) by who each output sounds
like, solved over the whole recording at once (``separation_core.engine.stitching``). Each chunk's decision
is kept in ``SeparationResult.stitching``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from separation_core.cancel import (
    CancelToken,
    ProgressFn,
    cancel_scope,
    check_cancel,
    check_current_cancel,
    report,
)
from separation_core.engine import stitching
from separation_core.engine.overlap_add import Accumulator
from separation_core.engine.result_notes import separation_notes
from separation_core.errors import ModelError, ReferenceMismatchError
from separation_core.io.audio_io import resample
from separation_core.models.base import RunOptions, SeparationModel
from separation_core.models.result import (
    SeparationResult,
)

DEFAULT_CHUNK_SECONDS = 8.0
MIN_CHUNK_SECONDS = 1.0
MAX_MASK_BYTES = 768 * 2**20  # masks of longer inputs are not kept (an hour of 2 sources is ~1 GB)


@dataclass(frozen=True)
class EngineOptions:
    """chunk_seconds None: the model's default; 0 or inf: the whole input in one chunk.
    speaker_order: re-order the outputs block by block by speaker profiles over the whole input
    (see ``separation_core.engine.stitching``); False keeps the overlap cue's order alone."""

    chunk_seconds: Optional[float] = None
    overlap_seconds: Optional[float] = None
    device: str = "auto"
    run: RunOptions = field(default_factory=RunOptions)
    keep_masks: bool = True
    max_embedding_points: int = 20000
    speaker_order: bool = True
    input_notes: bool = True  # notes on the input (too short, no speech, one voice; result_notes)
    # A first stage (``denoise_first``): an enhancement model (outputs [speech, noise]) whose speech
    # replaces the mixture before the model runs; None: none.
    denoiser: Optional[SeparationModel] = None


def resolve_device(name: str = "auto") -> torch.device:
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("device 'cuda' was asked for but no CUDA GPU is available")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ModelError("device 'mps' was asked for but Apple MPS is not available")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise ModelError(f"unknown device '{name}' (use auto, cpu, cuda or mps)")
    return torch.device(name)


def _is_oom(err: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None)
    return (oom is not None and isinstance(err, oom)) or "out of memory" in str(err).lower()


@dataclass
class _Plan:
    chunk: int  # samples per chunk at the model's rate (multiple of hop)
    overlap: int  # samples shared by neighbouring chunks
    hop: int  # STFT hop of the model's mask grid


def model_chunk_seconds(model) -> float:
    """The chunk length a model (instance or class) runs in unless told: its own
    ``default_chunk_seconds``, else ``DEFAULT_CHUNK_SECONDS``."""
    return getattr(model, "default_chunk_seconds", DEFAULT_CHUNK_SECONDS)


def _plan(model: SeparationModel, n: int, options: EngineOptions, chunk_seconds: float) -> _Plan:
    sr = model.sample_rate
    hop = model.stft_params.hop if model.stft_params is not None else 1
    if not chunk_seconds or math.isinf(chunk_seconds) or chunk_seconds * sr >= n:
        return _Plan(chunk=n, overlap=0, hop=hop)
    chunk = max(hop, int(round(chunk_seconds * sr / hop)) * hop)
    ov_s = (
        options.overlap_seconds
        if options.overlap_seconds is not None
        else min(2.0, chunk_seconds / 4)
    )
    overlap = int(round(ov_s * sr / hop)) * hop
    overlap = min(max(overlap, hop), chunk // 2 // hop * hop)
    return _Plan(chunk=chunk, overlap=overlap, hop=hop)


@contextmanager
def cancel_checks(model: torch.nn.Module, cancel: Optional[CancelToken]) -> Iterator[None]:
    """Within the block, ``cancel`` is checked before and after every layer's forward (torch hooks)
    and by the clustering: Stop is honoured within a chunk, the unit of work being one layer, not
    one chunk. The hooks check this thread's token only (see ``cancel_scope``) and are removed on
    exit."""
    if cancel is None:
        yield
        return

    def hook(*_args) -> None:
        check_current_cancel()

    handles = []
    for module in model.modules():
        try:
            handles.append(module.register_forward_pre_hook(hook))
            handles.append(module.register_forward_hook(hook))
        except RuntimeError:  # a scripted module takes no hooks: it is checked around, not within
            pass
    try:
        with cancel_scope(cancel):
            yield
    finally:
        for h in handles:
            h.remove()


def _run_chunks(
    model,
    x: np.ndarray,
    refs: Optional[np.ndarray],
    scale: float,
    plan: _Plan,
    options: EngineOptions,
    device: torch.device,
    progress,
    cancel,
):
    n = len(x)
    step = plan.chunk - plan.overlap
    n_chunks = 1 if plan.chunk >= n else 1 + math.ceil(max(n - plan.chunk, 0) / step)
    n_src_guess = refs.shape[0] if refs is not None else model.n_src
    mask_bytes = (
        4
        * n_src_guess
        * (model.stft_params.n_freq if model.stft_params else 0)
        * (n // plan.hop + 1)
    )
    keep_masks = options.keep_masks and mask_bytes <= MAX_MASK_BYTES
    acc = Accumulator(n, plan, n_chunks, keep_masks, options.max_embedding_points)
    stitch = not model.needs_references
    with torch.inference_mode(), cancel_checks(model, cancel):
        for i in range(n_chunks):
            check_cancel(cancel)
            start = i * step
            seg = x[start : start + plan.chunk] / scale
            if len(seg) < plan.chunk and n_chunks > 1:  # pad the last chunk to the common length
                seg = np.pad(seg, (0, plan.chunk - len(seg)))
            ref_seg = None
            if refs is not None:
                ref_seg = refs[:, start : start + len(seg)] / scale
                if ref_seg.shape[1] < len(seg):
                    ref_seg = np.pad(ref_seg, ((0, 0), (0, len(seg) - ref_seg.shape[1])))
                ref_seg = torch.from_numpy(np.ascontiguousarray(ref_seg)).to(device)
            out = model.separate_chunk(
                torch.from_numpy(np.ascontiguousarray(seg)).to(device),
                references=ref_seg,
                options=options.run,
            )
            acc.add(i, start, out, stitch)
            report(progress, 0.95 * (i + 1) / n_chunks, f"separating: chunk {i + 1}/{n_chunks}")
            del out
    if not keep_masks and options.keep_masks:
        acc.masks = None
    return acc


def separate(
    model: SeparationModel,
    mixture: np.ndarray,
    sample_rate: int,
    options: EngineOptions = EngineOptions(),
    references: Optional[np.ndarray] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> SeparationResult:
    """Separate ``mixture [time]`` (at ``sample_rate``) with ``model``.

    Returns waveforms ``[n_src, time]`` at ``sample_rate`` with exactly the input's length; masks on
    the model's STFT grid (``result.stft``). ``references [n_src, time]`` at ``sample_rate`` feed
    oracle models. Raises Cancelled when ``cancel`` is set (checked between chunks and, within a
    chunk, around every layer of the model and between clustering steps: see ``cancel_checks``).
    """
    t0 = time.perf_counter()
    mixture = np.asarray(mixture, dtype=np.float32)
    if mixture.ndim != 1:
        raise ModelError(f"the mixture must be mono [time], got shape {tuple(mixture.shape)}")
    if model.needs_references and references is None:
        raise ModelError(f"model '{model.name}' needs reference sources (load them first)")
    if options.denoiser is not None:
        stage = _share(progress, 0.0, DENOISE_SHARE)
        mixture = denoise_first(options.denoiser, mixture, sample_rate, options, stage, cancel)
        progress = _share(progress, DENOISE_SHARE, 1.0)
    t_denoised = time.perf_counter()
    n_in = len(mixture)
    report(progress, 0.0, "preparing")
    msr = model.sample_rate
    x = resample(mixture, sample_rate, msr) if sample_rate != msr else mixture
    refs = None
    if references is not None:
        references = np.asarray(references, dtype=np.float32)
        if references.ndim != 2 or abs(references.shape[1] - n_in) > 0:
            raise ReferenceMismatchError(
                f"references of shape {tuple(references.shape)} do not match the mixture's {n_in} samples"
            )
        refs = resample(references, sample_rate, msr) if sample_rate != msr else references
        refs = refs[:, : len(x)]
    # applied chunk by chunk (no full-length copy)
    scale = (float(np.std(x)) or 1.0) if getattr(model, "unit_level_input", True) else 1.0
    t_prep = time.perf_counter()

    chunk_s = options.chunk_seconds
    if chunk_s is None:
        chunk_s = model_chunk_seconds(model)
    device = resolve_device(options.device)
    notes = []
    while True:
        plan = _plan(model, len(x), options, chunk_s)
        moved = False
        try:
            model.to(device)
            moved = True
            acc = _run_chunks(model, x, refs, scale, plan, options, device, progress, cancel)
            break
        except Exception as err:
            if not _is_oom(err) or device.type == "cpu":
                raise
            if device.type == "cuda":
                torch.cuda.empty_cache()
            current = plan.chunk / msr
            if not moved:  # the weights alone do not fit: shorter chunks cannot help
                notes.append(f"out of memory on {device.type} for the model: retried on the CPU")
                device = torch.device("cpu")
            elif current / 2 >= MIN_CHUNK_SECONDS:
                chunk_s = current / 2
                notes.append(f"out of memory on {device.type}: retried with {chunk_s:.1f} s chunks")
            else:
                notes.append(f"out of memory on {device.type}: retried on the CPU")
                device = torch.device("cpu")
            report(progress, 0.0, notes[-1])
    t_sep = time.perf_counter()

    check_cancel(cancel)
    report(progress, 0.96, "finishing")
    wave, masks, emb, bins, labels = acc.result_arrays()
    solution, block = None, 0
    stitched = not model.needs_references
    # speech and noise are no voices to re-order by speaker profiles
    reorder = options.speaker_order and model.outputs_are_voices
    if stitched and reorder and len(x) >= stitching.MIN_REORDER_SECONDS * msr:
        report(progress, 0.97, "ordering speakers")
        with cancel_scope(cancel):  # checked between groups of blocks and between solver rounds
            profiles = stitching.block_profiles(wave, msr)
            solution, block = stitching.solve_orders(profiles), profiles.block
        check_cancel(cancel)
        stitching.apply_orders(wave, solution.orders, block, int(stitching.FADE_SECONDS * msr))
        if masks is not None:
            stitching.apply_orders_frames(masks, solution.orders, block, plan.hop)
        if labels is not None:
            labels = stitching.relabel_points(labels, bins[:, 1], solution.orders, block, plan.hop)
    records = (
        stitching.chunk_records(acc.chunks, solution, block, sample_rate / msr, wave.shape[0], n_in)
        if stitched
        else []
    )
    wave *= scale
    if msr != sample_rate:
        wave = resample(wave, msr, sample_rate)
    wave = fit_length(wave, n_in).astype(np.float32, copy=False)
    if options.input_notes:
        notes += separation_notes(mixture, wave, sample_rate, speakers=model.outputs_are_voices)
    result = SeparationResult(
        waveforms=wave,
        sample_rate=int(sample_rate),
        model_name=model.name,
        masks=masks,
        mask_kind=model.mask_kind if masks is not None else None,
        stft=model.stft_params,
        embeddings=emb,
        embedding_bins=bins,
        embedding_labels=labels,
        notes=notes,
        stitching=records,
        timings={
            **({"denoise": t_denoised - t0} if options.denoiser is not None else {}),
            "prepare": t_prep - t_denoised,
            "separate": t_sep - t_prep,
            "finish": time.perf_counter() - t_sep,
            "total": time.perf_counter() - t0,
            "chunks": acc.n_chunks,
            "chunk_seconds": plan.chunk / msr,
            "overlap_seconds": plan.overlap / msr,
            "device": device.type,
        },
    )
    report(progress, 1.0, "done")
    return result


DENOISE_SHARE = 0.1  # of the progress bar, for the first stage of ``EngineOptions.denoiser``


def _share(progress: Optional[ProgressFn], start: float, stop: float) -> Optional[ProgressFn]:
    """``progress`` with its fractions mapped onto ``[start, stop]``."""
    if progress is None:
        return None
    return lambda fraction, stage: progress(start + (stop - start) * fraction, stage)


def denoise_first(
    denoiser: SeparationModel,
    mixture: np.ndarray,
    sample_rate: int,
    options: EngineOptions = EngineOptions(),
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> np.ndarray:
    """The speech output (``[time]`` at ``sample_rate``) of the enhancement model ``denoiser`` on
    ``mixture [time]``: the first stage of ``EngineOptions.denoiser``, on ``options``' device, in
    the denoiser's own chunks."""
    if denoiser.outputs_are_voices or denoiser.needs_references:
        raise ModelError(
            f"'{denoiser.name}' cannot denoise first: it is not an enhancement model "
            "(outputs speech and noise)"
        )
    stage = EngineOptions(
        device=options.device,
        keep_masks=False,
        max_embedding_points=0,
        speaker_order=False,
        input_notes=False,
    )

    def named(fraction: float, text: str) -> None:
        report(progress, fraction, f"denoising: {text}")

    result = separate(denoiser, mixture, sample_rate, stage, progress=named, cancel=cancel)
    return result.waveforms[0]


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """``x [..., T]`` cut or zero-padded to ``n`` samples."""
    if x.shape[-1] >= n:
        return x[..., :n]
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])])
