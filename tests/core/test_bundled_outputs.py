"""The bundled models give the outputs they gave when data/bundled_outputs.json was recorded (before
issue 16 moved the time-domain blocks and the activation table into models/blocks.py): a refactor of
the model code must load every checkpoint unchanged and reproduce it. A checkpoint that has since
been replaced (retrained) is skipped: record it again with
``PYTHONPATH=tests python tests/core/test_bundled_outputs.py [STEM ...]`` (no stem: all of them).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from helpers import two_voices
from separation_core.io.paths import bundled_models_dir

RECORD = Path(__file__).with_name("data") / "bundled_outputs.json"
CHECKPOINTS = sorted(bundled_models_dir().glob("*.pt"))


def _outputs(stem: str) -> np.ndarray:
    from separation_core.checkpoints.catalog import load_model
    from separation_core.engine.inference import separate

    _, mixture = two_voices(2.0)
    return np.asarray(separate(load_model(stem), mixture, 16000).waveforms, dtype=np.float64)


def _platform() -> str:
    """What float rounding depends on: torch and numpy builds, the CPU and the kernels torch picks
    for it, one thread (tests/conftest.py)."""
    import platform

    import torch

    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in _cpuinfo().splitlines() if "model name" in ln),
        platform.processor(),
    )
    capability = torch.backends.cpu.get_cpu_capability()
    return f"torch {torch.__version__}, numpy {np.__version__}, {cpu}, {capability}"


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def _digest(y: np.ndarray) -> str:
    return hashlib.sha256(y.astype(np.float32).tobytes()).hexdigest()


def _clustered(stem: str) -> bool:
    from separation_core.checkpoints.catalog import resolve
    from separation_core.models import get_model_class
    from separation_core.models.base import KIND_DEEP_CLUSTERING

    return get_model_class(resolve(stem).model_name).kind == KIND_DEEP_CLUSTERING


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("path", CHECKPOINTS, ids=[p.stem for p in CHECKPOINTS])
def test_bundled_model_outputs_are_unchanged(path):
    record = json.loads(RECORD.read_text()).get(path.stem)
    if record is None or record["checkpoint_sha256"] != _sha256(path):
        pytest.skip(f"{path.name} is not the checkpoint recorded in {RECORD.name}")
    y = _outputs(path.stem)
    assert list(y.shape) == record["shape"]
    np.testing.assert_allclose(np.sqrt(np.mean(y**2, axis=1)), record["rms"], rtol=1e-4)
    # k-means on another CPU's float rounding may give a few quiet bins to the other speaker:
    # a clustering model's samples may move by a little of its level, never by the level itself.
    clustered = _clustered(path.stem)
    for out, rms, samples in zip(y[:, record["index"]], record["rms"], record["samples"]):
        atol = 0.02 * rms if clustered else 2e-5
        np.testing.assert_allclose(out, samples, rtol=1e-3, atol=atol)


@pytest.mark.parametrize("path", CHECKPOINTS, ids=[p.stem for p in CHECKPOINTS])
def test_bundled_model_outputs_are_bit_identical_where_they_were_recorded(path):
    """On the platform that recorded them (torch, numpy, CPU), a refactor must give the same
    outputs to the last bit; elsewhere rounding differs and the test above holds."""
    record = json.loads(RECORD.read_text()).get(path.stem)
    if record is None or record["checkpoint_sha256"] != _sha256(path):
        pytest.skip(f"{path.name} is not the checkpoint recorded in {RECORD.name}")
    if record.get("platform") != _platform():
        pytest.skip(f"recorded on another platform ({record.get('platform')})")
    assert _digest(_outputs(path.stem)) == record["float32_sha256"]


def record_outputs(stems: list[str]) -> None:
    """Write data/bundled_outputs.json from the models as they are now: all of them, or only
    ``stems`` (the other records kept; records of checkpoints no longer bundled dropped)."""
    out = json.loads(RECORD.read_text()) if stems and RECORD.exists() else {}
    for path in CHECKPOINTS:
        if stems and path.stem not in stems:
            continue
        y = _outputs(path.stem)
        index = np.linspace(0, y.shape[1] - 1, 48).round().astype(int)
        out[path.stem] = {
            "checkpoint_sha256": _sha256(path),
            "shape": list(y.shape),
            "rms": [float(np.sqrt(np.mean(s**2))) for s in y],
            "index": index.tolist(),
            "samples": [[float(f"{v:.8g}") for v in s[index]] for s in y],
            "platform": _platform(),
            "float32_sha256": _digest(y),
        }
    bundled = {p.stem for p in CHECKPOINTS}
    RECORD.write_text(json.dumps({k: v for k, v in out.items() if k in bundled}, indent=1) + "\n")
    print(f"wrote {RECORD}")


if __name__ == "__main__":
    import sys

    import torch

    torch.set_num_threads(1)  # as the tests run (tests/conftest.py)
    record_outputs(sys.argv[1:])
