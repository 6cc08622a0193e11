"""Contracts checked by tools (configured in pyproject.toml): `ruff check` (lint, import order,
modern syntax), `ruff format --check`, and `lint-imports`: separation_core never imports the app,
Qt, pyqtgraph or sounddevice; its packages are layered (cli > commands > training > checkpoints >
evaluation > engine | data > models > io > cancel > errors, each importing only those below it);
only commands/ and cli.py import argparse; app.session, app.jobs and app.mixer never import Qt or
pyqtgraph. The tools come with the test extra (`pip install -e .[test]`); a test is skipped where its
tool is not installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    """The tool installed beside this Python (a virtual environment's bin/), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.skip(
            f"{name} is not installed (it comes with the test extra: pip install -e .[test])"
        )
    return found


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    proc = _run([_tool("ruff"), "check", "--no-cache", "--output-format", "concise", "."])
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]


def test_code_is_formatted():
    proc = _run([_tool("ruff"), "format", "--check", "--no-cache", "."])
    assert proc.returncode == 0, "run `ruff format .`:\n" + (proc.stdout + proc.stderr)[-6000:]


def test_import_contracts_hold():
    proc = _run([_tool("lint-imports"), "--no-cache"])
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    assert "0 broken" in proc.stdout
