"""bfloat16 autocast only where the device has the kernels, float32 otherwise, never a crash.

CPU bf16 autocast needs oneDNN bf16 primitives: without AVX512-BF16/AMX (an AMD Zen 3, an older Xeon)
an LSTM under autocast fails with "could not create a primitive descriptor for the LSTM forward
propagation primitive". ``bf16_supported`` probes it once per device type with a tiny LSTM, conv,
norm, linear and transposed conv forward and backward; ``effective_precision`` turns a "bf16"
request into "fp32" where it is missing, with one warning line naming why; ``mark_bf16_unsupported``
records a failure met later (a real model's forward) the same way.
"""

from __future__ import annotations

import logging
import threading

import torch
from torch import nn

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_SUPPORT: dict[str, bool] = {}  # device type -> bf16 autocast works there
_WARNED: set[str] = set()  # device types whose fallback was already announced


def one_line_reason(err: BaseException) -> str:
    """The first sentence of an error, on one line (oneDNN appends a paragraph of advice)."""
    text = " ".join(str(err).split()) or type(err).__name__
    text = text.split(". ")[0].rstrip(".")
    return text if len(text) <= 160 else text[:157] + "..."


def _probe(device_type: str) -> tuple[bool, str]:
    """Run tiny layers forward and backward under bf16 autocast on ``device_type``: an LSTM fed
    float32 features (the case oneDNN refuses without AVX512-BF16; fed bf16 it passes) and a conv,
    norm, linear and transposed conv chain. ``(True, "")``, or ``(False, the error's first words)``."""
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.manual_seed(0)
            net = nn.ModuleDict(
                {
                    "lstm": nn.LSTM(8, 8, batch_first=True, bidirectional=True),
                    "conv": nn.Conv1d(1, 8, 4, stride=2),
                    "norm": nn.GroupNorm(1, 8),
                    "linear": nn.Linear(8, 8),
                    "deconv": nn.ConvTranspose1d(8, 1, 4, stride=2),
                }
            )
            net = net.to(device_type)
            x = torch.linspace(-1, 1, 128, device=device_type).reshape(2, 1, 64)
            with torch.autocast(device_type, dtype=torch.bfloat16):
                h, _ = net["lstm"](x.reshape(2, 8, 8))
                c = net["linear"](net["norm"](net["conv"](x)).transpose(1, 2))
                y = net["deconv"](c.transpose(1, 2))
            (h.float().pow(2).mean() + y.float().pow(2).mean()).backward()
        return True, ""
    except Exception as err:  # noqa: BLE001 - whatever fails here, bf16 is not usable on the device
        return False, one_line_reason(err)


def bf16_supported(device_type: str = "cpu") -> bool:
    """Whether bfloat16 autocast runs on ``device_type`` (probed once, then cached; a failure is
    announced once, as ``mark_bf16_unsupported`` does)."""
    with _lock:
        known = _SUPPORT.get(device_type)
    if known is None:
        ok, reason = _probe(device_type)
        if ok:
            with _lock:
                _SUPPORT.setdefault(device_type, True)
        else:
            mark_bf16_unsupported(device_type, reason)
        with _lock:
            known = _SUPPORT[device_type]
    return known


def mark_bf16_unsupported(device_type: str, reason: str) -> None:
    """Remember that bf16 fails on ``device_type`` and say so once, in one line."""
    with _lock:
        _SUPPORT[device_type] = False
        first = device_type not in _WARNED
        _WARNED.add(device_type)
    if first:
        _log.warning(
            "bf16 is not supported on this %s (%s); training in float32 instead",
            device_type.upper(),
            reason,
        )


def effective_precision(precision: str, device_type: str = "cpu") -> str:
    """``precision`` as it will run on ``device_type``: "bf16" only where ``bf16_supported``."""
    if precision == "bf16" and not bf16_supported(device_type):
        return "fp32"
    return precision
