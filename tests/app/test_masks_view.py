"""Item 4: the masks grid: a row per result (oracle last), a column per source aligned by PIT,
zoom-linked cells, one colour bar, hover readout, difference row."""

import numpy as np
import pyqtgraph as pg
import pytest

from conftest import open_mixture
from fakes import add_records, record


@pytest.fixture
def grid(qtbot, window, audio_files, sources):
    from separation_core.models.transforms import StftParams

    mix, refs = audio_files
    open_mixture(qtbot, window, mix)
    window.session.set_references(sources, refs)  # no oracle job: the rows are hand-made
    st = StftParams(512, 128, 512, 16000)
    frames = st.n_frames(sources.shape[1])
    rng = np.random.default_rng(0)
    masks = {k: rng.random((2, st.n_freq, frames)).astype(np.float32) for k in ("a", "b", "oracle")}
    # "a" outputs the sources swapped; "b" and the oracle in reference order
    a = record("a", sources[::-1] + 0.01, masks["a"], st)
    b = record("b", sources + 0.01, masks["b"], st)
    oracle = record("oracle", sources, masks["oracle"], st, needs_references=True)
    add_records(window, oracle, a, b)
    window.set_view("masks")
    qtbot.wait(50)
    return window, masks, st


def cells_by_key(view):
    out = {}
    for cell in view.cells:
        out.setdefault(cell.key, []).append(cell)
    return out


def test_rows_columns_and_pit_alignment(grid):
    w, masks, st = grid
    cells = cells_by_key(w.masks)
    assert list(cells) == ["a", "b", "oracle"]  # models first, the oracle last
    assert [c.source for c in cells["a"]] == [1, 0]  # swapped output lined up with refs
    assert [c.source for c in cells["b"]] == [0, 1]
    assert [c.source for c in cells["oracle"]] == [0, 1]
    bars = [i for i in w.masks.glw.ci.items if isinstance(i, pg.ColorBarItem)]
    assert len(bars) == 1 and tuple(bars[0].levels()) == (0.0, 1.0)


def test_cells_are_zoom_linked_and_show_the_visible_range(qtbot, grid):
    w, masks, st = grid
    w.axis.set_range(0.5, 1.0)
    qtbot.wait(60)
    for cell in w.masks.cells:
        assert cell.viewbox.viewRange()[0] == pytest.approx([0.5, 1.0])
    layer = w.masks.images[0]  # row "a", column 1 -> a's source 1
    img = layer.last
    f0 = int(np.floor(0.5 * st.sample_rate / st.hop))
    first = int(round(img.t_start * st.sample_rate / st.hop + 0.5))
    assert first <= f0
    np.testing.assert_array_equal(img.data[:, 0], masks["a"][1][:, first])


def test_hover_readout_names_time_frequency_value_model(grid):
    w, masks, st = grid
    cell = next(c for c in w.masks.cells if c.key == "a" and c.column == 0)
    t, f = 0.75, 1000.0
    scene = cell.viewbox.mapViewToScene(pg.Point(t, f))
    w.masks._hover(scene)
    text = w.masks.readout.text()
    expected = masks["a"][1][
        round(f * st.n_fft / st.sample_rate), round(t * st.sample_rate / st.hop)
    ]
    assert f"mask {expected:.3f}" in text
    assert "a · source 1" in text and "t   0.750 s" in text and "f   1000 Hz" in text


def test_difference_row(qtbot, grid):
    w, masks, st = grid
    w.masks.combo_a.setCurrentText("a")
    w.masks.combo_b.setCurrentText("oracle")
    w.masks.diff_box.setChecked(True)
    diff = [c for c in w.masks.cells if c.key == "A-B"]
    assert len(diff) == 2
    bars = [i for i in w.masks.glw.ci.items if isinstance(i, pg.ColorBarItem)]
    assert sorted(tuple(b.levels()) for b in bars) == [(-1.0, 1.0), (0.0, 1.0)]
    t, f = 0.4, 2000.0
    k, j = round(t * st.sample_rate / st.hop), round(f * st.n_fft / st.sample_rate)
    value = w.masks.value_at(diff[0], t, f)
    assert value == pytest.approx(masks["a"][1][j, k] - masks["oracle"][0][j, k], abs=1e-6)
    w.set_view("listen")
    w.axis.set_range(0.2, 0.4)
    w.set_view("masks")
    qtbot.wait(60)
    assert diff[0].viewbox.viewRange()[0] == pytest.approx([0.2, 0.4])
