"""Puts tests/ on sys.path so test modules can ``from helpers import ...``; a ``synth`` fixture."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

import helpers  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tests use small tensors, and CI or other jobs share few cores: one torch thread avoids
    oversubscription (with two threads on a busy machine tiny models ran up to 100x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def synth() -> SimpleNamespace:
    """Synthetic signal generators: ``synth.voice(...)``, ``synth.noise(...)``, ``synth.tone(...)``,
    ``synth.two_voices(...)`` (see tests/helpers.py)."""
    return SimpleNamespace(
        voice=helpers.voice, noise=helpers.noise, tone=helpers.tone, two_voices=helpers.two_voices
    )
