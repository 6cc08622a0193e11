"""Stems from who talks when: the mixture where one person talks, the separated output where two
do, silence elsewhere, crossfaded so the stems add up to the speech of the mixture."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import voice
from separation_core.conversation.assembly import (
    MIXTURE,
    SILENT,
    Plan,
    affected_samples,
    assemble,
    assemble_span,
    consistent_outputs,
)

SR = 8000
HOP = 0.01


def _frames(seconds: float) -> int:
    return int(round(seconds / HOP))


def _conversation():
    """Person 0 talks 0-2 s, both 2-3 s, person 1 alone 3-5 s, nobody 5-6 s: sources ``[2, T]``."""
    t = 6 * SR
    src = np.zeros((2, t), dtype=np.float32)
    src[0, : 3 * SR] = voice(140.0, 3.0, SR, seed=1)
    src[1, 2 * SR : 5 * SR] = voice(230.0, 3.0, SR, seed=2)
    source = np.full((2, _frames(6)), SILENT)
    source[0, : _frames(2)] = MIXTURE
    source[:, _frames(2) : _frames(3)] = [[0], [1]]  # output 0 is person 0's, output 1 person 1's
    source[1, _frames(3) : _frames(5)] = MIXTURE
    return src, Plan(source, HOP)


def test_stems_take_the_mixture_alone_the_separated_outputs_together_and_silence_else():
    src, plan = _conversation()
    mix = src.sum(0)
    stems = assemble(mix, SR, plan, separated=src, fade_seconds=0.02)
    assert stems.shape == src.shape and stems.dtype == np.float32
    margin = int(0.02 * SR)
    stretches = {0: ((0, 2), (2, 3)), 1: ((2, 3), (3, 5))}  # away from each change of signal
    for person, spans in stretches.items():
        for a, b in spans:
            inside = slice(a * SR + margin, b * SR - margin)
            np.testing.assert_allclose(stems[person, inside], src[person, inside], atol=1e-6)
    assert np.all(stems[:, 5 * SR + margin :] == 0)  # nobody talks: silent
    assert np.all(stems[0, 3 * SR + margin :] == 0)  # person 0 is silent after 3 s
    np.testing.assert_allclose(stems.sum(0), mix, atol=1e-5)  # they add up to the mixture


def test_a_handover_without_pause_crossfades_and_still_adds_up():
    t = 2 * SR
    mix = voice(180.0, 2.0, SR, seed=3).astype(np.float32)
    source = np.full((2, _frames(2)), SILENT)
    source[0, : _frames(1)] = MIXTURE
    source[1, _frames(1) :] = MIXTURE
    stems = assemble(mix, SR, Plan(source, HOP), fade_seconds=0.05)
    np.testing.assert_allclose(stems.sum(0), mix, atol=1e-5)
    edge = SR  # the handover at 1 s: both carry part of it, each gain ramps monotonically
    gain0 = stems[0, edge - 400 : edge + 400] / np.where(
        mix[edge - 400 : edge + 400] == 0, 1, mix[edge - 400 : edge + 400]
    )
    near = np.abs(mix[edge - 400 : edge + 400]) > 1e-3
    assert gain0[near][0] == pytest.approx(1.0, abs=1e-4) and gain0[near][-1] == pytest.approx(
        0.0, abs=1e-4
    )
    assert stems.shape == (2, t)


def test_blocks_give_the_same_stems_as_one_pass(monkeypatch):
    from separation_core.conversation import assembly

    src, plan = _conversation()
    whole = assemble(src.sum(0), SR, plan, separated=src)
    monkeypatch.setattr(assembly, "BLOCK_SECONDS", 0.7)
    np.testing.assert_allclose(assemble(src.sum(0), SR, plan, separated=src), whole, atol=1e-6)


def test_a_plan_naming_missing_outputs_is_refused():
    _, plan = _conversation()
    with pytest.raises(ValueError, match="separated outputs"):
        assemble(np.zeros(6 * SR, np.float32), SR, plan, separated=None)


def test_a_span_is_the_same_samples_as_the_whole():
    src, plan = _conversation()
    whole = assemble(src.sum(0), SR, plan, separated=src)
    for start, stop in ((0, 100), (1234, 20000), (2 * SR - 7, 3 * SR + 11), (6 * SR - 50, 6 * SR)):
        span = assemble_span(src.sum(0), SR, plan, src, start, stop)
        assert span.shape == (2, stop - start)
        np.testing.assert_allclose(span, whole[:, start:stop], atol=1e-6)


def test_a_change_of_the_plan_changes_the_stems_only_in_its_affected_samples():
    src, plan = _conversation()
    mix = src.sum(0)
    before = assemble(mix, SR, plan, separated=src)
    frames = (_frames(3.5), _frames(4.0))  # person 1's solo stretch 3.5-4 s becomes nobody's
    source = plan.source.copy()
    source[:, frames[0] : frames[1]] = SILENT
    after = assemble(mix, SR, Plan(source, HOP), separated=src)
    start, stop = affected_samples(frames, HOP, SR, mix.shape[-1])
    assert start < int(3.5 * SR) and stop > int(4.0 * SR) and stop - start < int(0.6 * SR)
    changed = np.flatnonzero(np.abs(after - before).max(0) > 0)
    assert changed.size and changed.min() >= start and changed.max() < stop
    assert np.abs(after[1, int(3.55 * SR) : int(3.95 * SR)]).max() == 0.0


def test_consistent_outputs_add_up_to_the_mixture_and_share_by_power():
    rng = np.random.default_rng(0)
    t = SR  # 100 frames of 10 ms
    a, b = rng.standard_normal(t), rng.standard_normal(t)
    a[t // 2 :] = 0.0  # the second half: only output 1 sounds
    mixture = a + b + 0.3 * rng.standard_normal(t)
    outputs = np.stack([0.8 * a, 0.5 * b]).astype(np.float32)
    out = consistent_outputs(mixture, outputs, SR)
    assert out.shape == outputs.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(0), mixture, atol=1e-4)
    rest = mixture - outputs.sum(0)
    late = slice(t // 2 + 3 * SR // 100, t)  # past the 5-frame smoothing of the first half
    np.testing.assert_allclose(out[0, late], 0.0, atol=1e-6)  # all of it to the one that sounds
    np.testing.assert_allclose(out[1, late], outputs[1, late] + rest[late], atol=1e-4)
    early = slice(0, t // 2 - 3 * SR // 100)  # both sound: each takes part, in proportion
    gained = (out - outputs)[:, early] / rest[early]
    assert np.all((gained > 0.0) & (gained < 1.0))


def test_consistent_outputs_keep_outputs_that_already_add_up_and_split_silence_evenly():
    rng = np.random.default_rng(1)
    outputs = rng.standard_normal((3, 400)).astype(np.float32)
    np.testing.assert_allclose(consistent_outputs(outputs.sum(0), outputs, SR), outputs, atol=1e-5)
    mixture = rng.standard_normal(400)
    even = consistent_outputs(mixture, np.zeros((2, 400), np.float32), SR)
    np.testing.assert_allclose(even, np.stack([mixture, mixture]) / 2, atol=1e-6)
    short = consistent_outputs(mixture[:30], np.zeros((2, 30), np.float32), SR)  # under a frame
    assert short.shape == (2, 30)
    with pytest.raises(ValueError, match="do not match"):
        consistent_outputs(mixture, np.zeros((2, 399), np.float32), SR)
