"""The preview's second core: one long-lived worker thread for the steps that run beside the main
thread's (the backpack's straps beside the one-thread body fit, the rig beside the texture, the views
beside the export). One thread for every job, not one per step: each new thread may take a malloc
arena of its own, and the process kept ~50 MB more after a few jobs."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Callable, Iterator

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _worker() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(1, thread_name_prefix="preview-beside")
        return _pool


@contextmanager
def beside(fn: Callable, *args) -> Iterator[Future]:
    """Runs fn(*args) on the worker while the with-block runs; yields its future. Leaving the block
    waits for it, also when the block raises, so nothing it writes outlives the step."""
    future = _worker().submit(fn, *args)
    try:
        yield future
    finally:
        wait([future])
