"""The job runner: results on the GUI thread, throttled progress, cancel, stale results dropped,
errors reported without taking anything down."""

import threading
import time

import pytest

from app.runner import JobHandle, JobRunner, JobSlot
from separation_core.errors import AudioLoadError


class Recorder:
    """Starts jobs in named slots (one slot per name: a new job cancels the slot's previous one) with
    callbacks that record ``(event, slot name, job id, value)``."""

    def __init__(self, runner) -> None:
        self.runner, self.events, self.slots = runner, [], {}

    def start(self, name: str, fn, **extra) -> int:
        slot = self.slots.setdefault(name, JobSlot(self.runner))
        ids = []

        def rec(event):
            return lambda *a: self.events.append((event, name, ids[0], *a[:1]))

        handle = slot.start(
            fn,
            on_done=rec("finished"),
            on_error=rec("failed"),
            on_cancelled=rec("cancelled"),
            on_progress=rec("progress"),
            on_publish=rec("published"),
            **extra,
        )
        ids.append(handle.id)
        return handle.id

    def cancel(self, name: str) -> None:
        self.slots[name].cancel()

    def is_busy(self, name: str) -> bool:
        return self.slots[name].busy


@pytest.fixture
def runner(qtbot):
    r = JobRunner()
    r.rec = Recorder(r)
    r.events = r.rec.events
    yield r
    r.cancel_all()
    r.wait(5000)


def test_result_arrives_on_gui_thread_with_throttled_progress(qtbot, runner):
    threads = []

    def job(ctx):
        for k in range(2000):
            ctx.progress(k / 2000, "working")
        ctx.publish("partial")
        return threading.get_ident()

    gui = threading.get_ident()
    job_id = runner.rec.start("work", job)
    runner.ended.connect(lambda *a: threads.append(threading.get_ident()))
    qtbot.waitUntil(lambda: any(e[0] == "finished" for e in runner.events), timeout=5000)
    done = [e for e in runner.events if e[0] == "finished"][0]
    assert done[2] == job_id and done[3] != gui and threads == [gui]
    progress = [e for e in runner.events if e[0] == "progress"]
    assert 1 <= len(progress) < 50  # 2000 calls, throttled
    assert ("published", "work", job_id, "partial") in runner.events


def test_cancel_stops_quickly_and_reports(qtbot, runner):
    def job(ctx):
        while True:
            ctx.cancel.raise_if_cancelled()
            time.sleep(0.01)

    job_id = runner.rec.start("work", job)
    qtbot.wait(100)
    t0 = time.monotonic()
    runner.rec.cancel("work")
    qtbot.waitUntil(lambda: ("cancelled", "work", job_id) in runner.events, timeout=2000)
    assert time.monotonic() - t0 < 1.0
    assert not runner.rec.is_busy("work")
    assert not any(e[0] == "failed" for e in runner.events)  # a cancellation is no error


def test_new_job_drops_stale_results(qtbot, runner):
    release = threading.Event()

    def slow(ctx):  # ignores its cancel token on purpose
        release.wait(5)
        return "stale"

    first = runner.rec.start("view", slow)
    second = runner.rec.start("view", lambda ctx: "fresh")
    qtbot.waitUntil(lambda: any(e[0] == "finished" for e in runner.events), timeout=5000)
    release.set()
    assert runner.wait(5000)
    qtbot.wait(50)
    finished = [e for e in runner.events if e[0] == "finished"]
    assert finished == [("finished", "view", second, "fresh")]
    assert ("cancelled", "view", first) in runner.events  # the superseded job says it was stopped


def test_errors_are_reported_not_raised(qtbot, runner):
    def bad(ctx):
        raise AudioLoadError("x.wav: not an audio file")

    def bug(ctx):
        return 1 / 0

    a = runner.rec.start("a", bad)
    b = runner.rec.start("b", bug)
    qtbot.waitUntil(lambda: len([e for e in runner.events if e[0] == "failed"]) == 2, timeout=5000)
    failed = {e[2]: e[3] for e in runner.events if e[0] == "failed"}
    assert failed[a] == "x.wav: not an audio file"
    assert failed[b].startswith("ZeroDivisionError")
    c = runner.rec.start("a", lambda ctx: 42)  # the runner still works
    qtbot.waitUntil(lambda: ("finished", "a", c, 42) in runner.events, timeout=5000)


def test_prepare_runs_on_the_pool_thread_before_each_job_and_its_failure_fails_the_job(
    qtbot, runner
):
    calls = []
    runner.prepare = lambda: calls.append(("prepare", threading.get_ident()))
    job_id = runner.rec.start("work", lambda ctx: calls.append(("job", threading.get_ident())) or 1)
    qtbot.waitUntil(lambda: ("finished", "work", job_id, 1) in runner.events, timeout=5000)
    assert [c[0] for c in calls] == ["prepare", "job"] and calls[0][1] == calls[1][
        1
    ] != threading.get_ident()

    def broken():
        raise ImportError("cannot import name 'x'")

    runner.prepare = broken
    job_id = runner.rec.start("work", lambda ctx: calls.append("not run"))
    qtbot.waitUntil(
        lambda: any(e[:3] == ("failed", "work", job_id) for e in runner.events), timeout=5000
    )
    assert "not run" not in calls
    assert any("cannot import name" in e[3] for e in runner.events if e[0] == "failed")


def test_shutdown_cancels_waits_and_silences_every_job(qtbot, runner, capfd):
    """Issue 13, item 10: closing cancels the jobs, waits briefly, and whatever a job still sends
    afterwards goes nowhere, without a word on stderr."""
    release = threading.Event()
    checks = []

    def polite(ctx):
        while True:
            checks.append(1)
            ctx.cancel.raise_if_cancelled()
            ctx.progress(0.5, "working")
            release.wait(0.01)

    def stubborn(ctx):  # ignores its token, then reports
        release.wait(10)
        ctx.progress(1.0, "late")
        ctx.publish("late")
        return "late"

    runner.rec.start("a", polite)
    runner.rec.start("b", stubborn)
    qtbot.waitUntil(lambda: len(checks) > 2, timeout=5000)
    queued = runner.rec.start("c", lambda ctx: checks.append("queued job ran"))
    with qtbot.captureExceptions() as exceptions:
        assert runner.shutdown(200) is False  # the stubborn one is still running
        before = list(runner.events)
        release.set()
        assert runner.wait(5000)
        qtbot.wait(50)
    assert runner.events == before and not any(e[0] == "finished" for e in runner.events)
    assert "queued job ran" not in checks and queued > 0
    assert runner.rec.start("d", lambda ctx: checks.append("after shutdown")) > 0
    assert runner.wait(1000) and "after shutdown" not in checks
    assert exceptions == []
    err = capfd.readouterr().err
    assert "RuntimeError" not in err and "Traceback" not in err


def test_a_worker_outliving_its_signals_object_stays_silent(qtbot, runner, capfd):
    """At exit Qt may delete the signals object while a job still runs: its last emits are dropped."""
    import shiboken6

    release = threading.Event()

    def job(ctx):
        release.wait(10)
        ctx.progress(1.0, "late")
        return "late"

    runner.rec.start("a", job)
    shiboken6.delete(runner.rec.slots["a"].handle.signals)
    with qtbot.captureExceptions() as exceptions:
        release.set()
        assert runner.wait(5000)
        qtbot.wait(50)
    assert exceptions == []
    err = capfd.readouterr().err
    assert "RuntimeError" not in err and "Signal source has been deleted" not in err


def test_a_slot_holds_its_new_job_when_the_runner_announces_it(qtbot, runner):
    """Observers of ``started`` (the status bar) see the slot busy with the job just started, and
    the job it replaced no longer delivers."""
    slot = JobSlot(runner)
    release = threading.Event()
    first = slot.start(lambda ctx: release.wait(5))
    heard = []
    runner.started.connect(lambda h: heard.append((h, slot.owns(h), slot.busy, first.running)))
    second = slot.start(lambda ctx: "second")
    release.set()
    assert heard == [(second, True, True, False)]
    qtbot.waitUntil(lambda: second.ended and first.ended, timeout=5000)


def test_a_handle_made_beforehand_runs_with_its_callbacks(qtbot, runner):
    got = []
    handle = JobHandle(lambda ctx: 6 * 7, on_done=got.append, quiet=True)
    assert runner.submit(handle) is handle and handle.running
    qtbot.waitUntil(lambda: got == [42], timeout=5000)
    assert handle.ended and not handle.running and runner.running() == []


def test_an_unknown_callback_is_refused_before_anything_runs(runner):
    with pytest.raises(TypeError, match="on_finished"):
        runner.start(lambda ctx: 1, on_finished=print)
    assert runner.running() == []
