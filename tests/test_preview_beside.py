"""The preview's side thread (`engines/preview/beside.py`): one thread for every job, and leaving a
step waits for its side work, also when the step fails (nothing it writes outlives the step)."""

from __future__ import annotations

import threading
import time

import pytest

from synchuman.engines.preview.beside import beside


def test_side_work_runs_on_one_other_thread_for_every_step():
    threads = []
    for _ in range(3):
        with beside(lambda: threading.get_ident()) as side:
            threads.append(side.result())
    assert len(set(threads)) == 1 and threads[0] != threading.get_ident()


def test_leaving_a_failed_step_waits_for_its_side_work():
    finished = threading.Event()

    def slow():
        time.sleep(0.3)
        finished.set()

    with pytest.raises(RuntimeError, match="cancelled"):
        with beside(slow):
            raise RuntimeError("cancelled")   # as a cancel raises from a progress call
    assert finished.is_set()


def test_side_work_errors_reach_the_step():
    def broken():
        raise ValueError("bad photo")

    with beside(broken) as side:
        with pytest.raises(ValueError, match="bad photo"):
            side.result()
