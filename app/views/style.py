"""Colours and colour maps shared by the views."""

from __future__ import annotations

import pyqtgraph as pg

SPECTROGRAM_CMAP = "inferno"  # dB power: perceptually uniform, dark = quiet
MASK_CMAP = "viridis"  # masks in [0, 1]
DIFF_CMAP = "CET-D1"  # differences in [-1, 1]: diverging, white at 0
SPECTROGRAM_RANGE_DB = 80.0  # dynamic range shown below the loudest bin
AXIS_WIDTH = 46  # left axis width in pixels, the same everywhere so time lines up

SOURCE_COLOURS = [
    "#4e9bff",
    "#ff8a3d",
    "#3ccf7a",
    "#e65adb",
    "#f2d544",
    "#48d6d6",
    "#b98cff",
    "#ff5c6c",
]
MIXTURE_COLOUR = "#c8c8c8"
PLAYHEAD_COLOUR = "#ff3b30"


def source_colour(index: int) -> str:
    return SOURCE_COLOURS[index % len(SOURCE_COLOURS)]


def colormap(name: str) -> pg.ColorMap:
    return pg.colormap.get(name)


def setup_pyqtgraph() -> None:
    """Global pyqtgraph options: images indexed [row = frequency, column = time]."""
    pg.setConfigOptions(
        imageAxisOrder="row-major", antialias=False, background="#1e1f22", foreground="#d0d0d0"
    )
