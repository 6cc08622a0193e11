"""How long a run will take, and how much memory it will need, before it starts.

From a ``cocktail bench`` report (``docs/bench.json``): per model, the real-time factor on the CPU
(``cpu``: a short input, ``long``: a long one) and the peak memory of a long input (``long.peak_mb``).

- time = the file's length / the real-time factor, the factor interpolated (on a log scale of the
  length) between the short and the long measurement, and clamped to them outside. CPU figures are
  used as measured (on the bench machine, which the report names). On a GPU, a model's ``gpu``
  figure is used when the report has one; otherwise there is no GPU figure, and the estimate says so.
- memory = the long input's peak, plus or minus the audio the engine holds per minute of input
  (the mixture and one output per source, float32, at the model's rate) for the difference in length.
- a model the report does not list is scaled from the benchmarked model of the same kind nearest in
  size, by parameter count and sample rate (rough); without one there is no estimate. Classical and
  oracle models (STFT masks, no network) run at ``DSP_SPEED_X_REALTIME``, measured once.
- the bench runs each model at its default chunk length; another chunk length scales the time by
  ``chunk_factor``: the audio the model computes (chunks overlap, the last one is padded) against
  the same at the default length.
- conversation mode (``estimate_conversation``) runs the whole pipeline: voice activity and the
  overlap detector over the recording, the separator on the overlaps with their context (an
  expected ``CONVERSATION_READ_SHARE`` of the audio), speaker embeddings of the solo stretches
  and the people: the separator's estimate on that share, plus the other stages at their measured
  real-time factors (``CONVERSATION_STAGES_X_REALTIME``, on the CPU whatever the device).
- denoising first (``--denoise``, the run options' tick; ``with_denoiser``) adds the denoiser's own
  estimate on the whole input: it runs once, before the separator or the conversation pipeline.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

LONG_RUN_SECONDS = 600.0  # a run longer than this gets a warning
DEFAULT_CHUNK_SECONDS = 8.0  # inference.DEFAULT_CHUNK_SECONDS (that module imports torch)
MAX_OVERLAP_SECONDS = 2.0  # the engine's overlap: min(2 s, a quarter of the chunk)
# Real-time factors of the models without a network (not in the bench report), measured once on the
# bench machine (2 threads, shared with other work: on the slow side): the engine's ``separate`` on
# 60 s and 10 min two-talker mixtures, default chunks, the best of two runs; per kind the slowest
# model and length (denoise-wiener 10.3x at 60 s, 16.3x at 10 min; oracle-irm and oracle-ibm
# 18.1x-44.0x). STFT, masks and inverse STFT are linear in the length.
DSP_SPEED_X_REALTIME = {"classical": 10.0, "oracle": 18.0}
# Conversation mode: the share of the recording the separator reads (the overlaps and the
# handovers between people with 0.5 s of context each side: 18-47% on the first recording of
# interview, two, three and four, 33% on an hour of two people; with 1 s of context until session
# 23 it was 25-58% and 42%, and 21% before the handovers, session 19), and the real-time factors of
# the stages besides it on the bench machine:
# scripts/conversation_speed.py on two recordings each of runs/conv-sets/three and two
# (docs/conversations.md; 3-minute meetings, 12% overlapped speech), one thread on a loaded
# machine, scaled by the separator's speed there against its bench figure: voice activity and the
# overlap detector ran at 530x, speaker embeddings and the people at 170x, taken about a quarter
# lower, 400x and 150x (the figures vary with the load).
# The separator ran on its spans 1.5x faster a second than on a whole minute: the short input's
# bench figure is on the safe side.
CONVERSATION_READ_SHARE = 0.36
SHORT_INPUT_SECONDS = 60.0  # the bench's short input (``cpu.seconds``)
CONVERSATION_STAGES_X_REALTIME = {"voice activity and overlaps": 400.0, "speaker embeddings": 150.0}


@dataclass(frozen=True)
class RunEstimate:
    model_id: str
    seconds: Optional[float] = None  # None: no estimate
    peak_mb: Optional[float] = None
    basis: str = ""  # "" measured; else e.g. "scaled from X by size"
    note: str = ""  # why there is no figure, e.g. "no GPU figure"
    conversation: bool = False  # the whole conversation pipeline (``estimate_conversation``)
    denoiser: str = ""  # the first stage counted in (``with_denoiser``), e.g. "gtcrn-dns3-16k"

    @property
    def warn(self) -> bool:
        return self.seconds is not None and self.seconds > LONG_RUN_SECONDS

    def text(self) -> str:
        if self.seconds is None:
            what = self.note or "no estimate"
            return f"{what} (for its share of the conversation)" if self.conversation else what
        out = "< 1 s" if self.seconds < 1 else f"≈ {human_duration(self.seconds)}"
        if self.peak_mb is not None:
            out += f", ≈ {human_mb(self.peak_mb)}"
        if self.basis:
            out += f" (rough: {self.basis})"
        if self.conversation:
            out += ", the whole conversation pipeline"
        if self.denoiser:
            out += f", {self.denoiser} first"
        if self.warn:
            out += " — over 10 min"
        return out


def human_duration(seconds: float) -> str:
    if seconds < 1:
        return "< 1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        m, s = divmod(int(round(seconds)), 60)
        return f"{m} min {s:02d} s"
    h, rem = divmod(int(round(seconds)), 3600)
    return f"{h} h {rem // 60:02d} min"


def human_mb(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def bench_candidates() -> list[Path]:
    """Where a bench report is looked for: ``COCKTAIL_BENCH``, the bundled resources, the checkout's
    ``docs/bench.json``."""
    from separation_core.io.paths import resources_dir

    out = [Path(os.environ["COCKTAIL_BENCH"])] if os.environ.get("COCKTAIL_BENCH") else []
    checkout = Path(__file__).resolve().parents[2] / "docs" / "bench.json"
    return out + [resources_dir() / "bench.json", checkout]


def load_bench(path=None) -> dict:
    """The bench report as a dict ({} when there is none or it cannot be read)."""
    for p in [Path(path)] if path else bench_candidates():
        try:
            return json.loads(p.read_text())
        except (OSError, ValueError):
            continue
    return {}


def bench_machine(bench: Mapping) -> str:
    m = bench.get("machine") or {}
    if not m:
        return ""
    threads = m.get("threads") or m.get("cores")
    return f"{m.get('cpu', 'CPU')}" + (f", {threads} threads" if threads else "")


def gpu_present() -> bool:
    """A CUDA GPU torch can use; False while torch is not loaded yet (the window never imports it
    on the GUI thread for this)."""
    torch = sys.modules.get("torch")
    try:
        return bool(torch is not None and torch.cuda.is_available())
    except Exception:
        return False


def uses_gpu(device: str) -> bool:
    return (
        device in ("cuda", "mps")
        or device.startswith("cuda:")
        or (device == "auto" and gpu_present())
    )


def _speed(figures: Mapping, duration: float) -> Optional[float]:
    """Real-time factor for an input of ``duration`` s from the short (``cpu``) and long measurements."""
    points = []
    for key, length_key, scale in (("cpu", "seconds", 1.0), ("long", "minutes", 60.0)):
        f = figures.get(key) or {}
        if f.get("speed_x_realtime") and f.get(length_key):
            points.append((float(f[length_key]) * scale, float(f["speed_x_realtime"])))
    if not points:
        return None
    points.sort()
    if duration <= points[0][0] or len(points) == 1:
        return points[0][1] if duration <= points[0][0] else points[-1][1]
    if duration >= points[-1][0]:
        return points[-1][1]
    (l0, s0), (l1, s1) = points[0], points[-1]
    a = (math.log(duration) - math.log(l0)) / (math.log(l1) - math.log(l0))
    return math.exp((1 - a) * math.log(s0) + a * math.log(s1))


def audio_mb_per_minute(sample_rate: int, n_src: int) -> float:
    """The audio the engine holds per minute of input: the mixture and one output per source,
    float32, at ``sample_rate``."""
    return (1 + n_src) * 4 * sample_rate * 60 / 2**20


def _peak(figures: Mapping, duration: float) -> Optional[float]:
    long = figures.get("long") or {}
    if not long.get("peak_mb") or not long.get("minutes"):
        return None
    per_min = audio_mb_per_minute(
        int(figures.get("sample_rate") or 16000), int(figures.get("n_src") or 2)
    )
    peak = float(long["peak_mb"]) + per_min * (duration / 60.0 - float(long["minutes"]))
    return max(peak, 0.5 * float(long["peak_mb"]))


def _measured(
    model_id: str, figures: Mapping, duration: float, gpu: bool, factor: float
) -> RunEstimate:
    """From the model's own figures; ``factor``: the chunk length's (see ``chunk_factor``)."""
    if gpu:
        g = figures.get("gpu") or figures.get("cuda")
        if g and g.get("speed_x_realtime"):
            seconds = factor * duration / float(g["speed_x_realtime"])
            return RunEstimate(model_id, seconds, _peak(figures, duration))
        speed = _speed(figures, duration)
        cpu = f" (on the CPU ≈ {human_duration(factor * duration / speed)})" if speed else ""
        return RunEstimate(model_id, note="no GPU figure" + cpu)
    speed = _speed(figures, duration)
    if speed is None:
        return RunEstimate(model_id, note="no estimate")
    return RunEstimate(model_id, factor * duration / speed, _peak(figures, duration))


def chunked_seconds(duration: float, chunk_seconds: Optional[float]) -> tuple[float, int]:
    """(seconds of audio the model computes, number of chunks) for ``duration`` s of input cut as
    the engine cuts it (``inference._plan``): chunks overlap by min(2 s, a quarter of a chunk) and
    the last one is padded to full length; one chunk when it covers the input (or is 0 / None)."""
    if not chunk_seconds or math.isinf(chunk_seconds) or chunk_seconds >= duration:
        return duration, 1
    overlap = min(MAX_OVERLAP_SECONDS, chunk_seconds / 4)
    n = 1 + math.ceil((duration - chunk_seconds) / (chunk_seconds - overlap))
    return n * chunk_seconds, n


def chunk_factor(
    duration: float, chunk_seconds: Optional[float], default_chunk_seconds: float
) -> float:
    """How much longer a run in ``chunk_seconds`` chunks takes than one in the model's default
    chunks (what the bench measured): the ratio of the audio the model computes."""
    if chunk_seconds is None or duration <= 0:
        return 1.0
    return (
        chunked_seconds(duration, chunk_seconds)[0]
        / chunked_seconds(duration, default_chunk_seconds)[0]
    )


def _dsp(entry, duration: float, factor: float) -> Optional[RunEstimate]:
    """Classical and oracle models: ``DSP_SPEED_X_REALTIME`` (on any device: they are not networks)."""
    speed = DSP_SPEED_X_REALTIME.get(getattr(entry, "kind", ""))
    if not speed:
        return None
    return RunEstimate(
        entry.id, factor * duration / speed, basis=f"the measured speed of {entry.kind} models"
    )


def estimate_run(
    entry,
    duration: float,
    bench: Mapping,
    *,
    device: str = "cpu",
    known: Optional[Mapping] = None,
    chunk_seconds: Optional[float] = None,
    default_chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
) -> RunEstimate:
    """The estimate for ``entry`` (a catalog ModelEntry: id, kind, model_name, num_parameters,
    sample_rate) on ``duration`` seconds of input on ``device``. ``known`` maps model ids to
    entries, to learn the kind of the benchmarked models (a model the report lists is used as
    measured). ``chunk_seconds``: the run's chunk length (None: the model's default,
    ``default_chunk_seconds``, which the bench measured; 0: the whole input in one chunk)."""
    models = bench.get("models") or {}
    gpu = uses_gpu(device)
    known = known or {}
    factor = chunk_factor(duration, chunk_seconds, default_chunk_seconds)
    figures = models.get(entry.id)
    if figures and (figures.get("cpu") or figures.get("long")):
        return _measured(entry.id, figures, duration, gpu, factor)
    dsp = _dsp(entry, duration, factor)
    if dsp is not None:
        return dsp
    params = int(getattr(entry, "num_parameters", 0) or 0)
    for mid, f in models.items():  # the same network under another name (a copy of a file)
        other = known.get(mid)
        if (
            other is not None
            and getattr(entry, "model_name", None)
            and other.model_name == entry.model_name
            and other.num_parameters == params
            and other.sample_rate == entry.sample_rate
            and (f.get("cpu") or f.get("long"))
        ):
            measured = _measured(entry.id, f, duration, gpu, factor)
            return replace(measured, basis=f"measured on {mid}, the same network")
    # scale from the benchmarked model of the same family nearest in size
    same = [
        (mid, f)
        for mid, f in models.items()
        if mid in known
        and known[mid].kind == entry.kind
        and f.get("parameters")
        and (f.get("cpu") or f.get("long"))
    ]
    if params <= 0 or not same:
        return RunEstimate(entry.id, note="no estimate")
    ref_id, ref = min(same, key=lambda m: abs(math.log(params / float(m[1]["parameters"]))))
    base = _measured(entry.id, ref, duration, gpu, factor)
    if base.seconds is None:
        return base
    rate = float(entry.sample_rate) / float(ref.get("sample_rate") or entry.sample_rate)
    scale = params / float(ref["parameters"]) * rate
    return RunEstimate(
        entry.id, base.seconds * scale, base.peak_mb, basis=f"scaled from {ref_id} by size"
    )


def estimate_conversation(entry, duration: float, bench: Mapping, **options) -> RunEstimate:
    """The whole conversation pipeline on ``duration`` s with separator ``entry`` (``options``
    as ``estimate_run``'s): the separator's estimate on CONVERSATION_READ_SHARE of the audio (at
    the speed of a short input: it runs on one overlap or handover at a time), plus voice
    activity, the overlap detector and speaker embeddings over the whole recording at
    CONVERSATION_STAGES_X_REALTIME; the memory of the separator's outputs over the whole recording
    (the pipeline holds them, zeros where it did not run)."""
    read = duration * CONVERSATION_READ_SHARE
    # one overlap at a time, a few seconds each: the speed of a short input, whatever the total
    unit = min(read, SHORT_INPUT_SECONDS)
    separator = estimate_run(entry, unit, bench, **options)
    if separator.seconds is None:
        return replace(separator, conversation=True)
    stages = sum(duration / speed for speed in CONVERSATION_STAGES_X_REALTIME.values())
    whole = estimate_run(entry, duration, bench, **options)
    seconds = separator.seconds * read / unit + stages
    return replace(separator, seconds=seconds, peak_mb=whole.peak_mb, conversation=True)


def with_denoiser(
    estimate: RunEstimate,
    denoiser,
    duration: float,
    bench: Mapping,
    *,
    device: str = "cpu",
    known: Optional[Mapping] = None,
) -> RunEstimate:
    """``estimate`` (a separator's or the conversation pipeline's) with the first stage of
    ``--denoise`` added: ``denoiser`` (its catalog entry) on the whole ``duration`` in its own
    default chunks, once (conversation mode denoises the recording once too), before the rest;
    the peak memory is the larger of the two. A denoiser without a figure is left out, and the
    basis says so."""
    if estimate.seconds is None:
        return estimate
    first = estimate_run(denoiser, duration, bench, device=device, known=known)
    if first.seconds is None:
        missing = f"{denoiser.id} first not counted: {first.note or 'no estimate'}"
        return replace(estimate, basis="; ".join(b for b in (estimate.basis, missing) if b))
    peaks = [p for p in (estimate.peak_mb, first.peak_mb) if p is not None]
    return replace(
        estimate,
        seconds=estimate.seconds + first.seconds,
        peak_mb=max(peaks) if peaks else None,
        denoiser=denoiser.id,
    )
