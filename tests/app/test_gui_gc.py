"""Garbage is collected on the GUI thread only while a GuiThreadCollector runs (app.gui_gc)."""

import gc
import threading
import weakref

from PySide6.QtCore import QObject

from app.gui_gc import GuiThreadCollector


class Cyclic:
    """Garbage only the cyclic collector frees; records the thread that freed it."""

    def __init__(self, freed_on: list) -> None:
        self.me, self.freed_on = self, freed_on
        self.qt = QObject()

    def __del__(self) -> None:
        self.freed_on.append(threading.get_ident())


def test_collection_is_off_while_a_collector_runs_and_back_after(gui_thread_collector):
    assert gui_thread_collector.running and not gc.isenabled()
    inner = GuiThreadCollector()
    inner.stop()
    assert not gc.isenabled()  # the session's collector still runs
    inner.stop()  # twice is harmless
    assert not gc.isenabled()


def test_garbage_made_while_a_job_thread_allocates_is_freed_on_the_gui_thread(qtbot):
    freed_on = []
    ref = weakref.ref(Cyclic(freed_on))
    assert ref() is not None

    kept = []

    def allocate():  # enough live containers to pass the thresholds that start a collection
        kept.append([[i] for i in range(200_000)])

    job = threading.Thread(target=allocate)
    job.start()
    job.join()
    assert ref() is not None and freed_on == []
    qtbot.waitUntil(lambda: ref() is None, timeout=5000)  # the collector's timer, here
    assert freed_on == [threading.get_ident()]


def test_check_collects_the_generation_the_interpreter_would():
    collector = GuiThreadCollector(interval_ms=60_000)
    try:
        collector.threshold = (10**9, 10, 10)
        assert collector.check() == -1
        freed_on = []
        ref = weakref.ref(Cyclic(freed_on))
        collector.threshold = (0, 10**9, 10**9)
        assert collector.check() == 0 and ref() is None
        collector.threshold = (-1, -1, -1)
        assert collector.check() == 2
    finally:
        collector.stop()


def test_the_last_collector_to_stop_gives_automatic_collection_back(gui_thread_collector):
    gui_thread_collector.stop()
    try:
        assert gc.isenabled()
        first, second = GuiThreadCollector(), GuiThreadCollector()
        first.stop()
        assert not gc.isenabled()
        second.stop()
        assert gc.isenabled()
        gc.disable()  # off before: stays off after
        third = GuiThreadCollector()
        third.stop()
        assert not gc.isenabled()
        gc.enable()
    finally:
        gui_thread_collector.start()  # the session's collector runs again
