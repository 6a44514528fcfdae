"""Handing freed memory back to the system (`heap.release_free_memory`): on glibc the process's
resident size falls by what was freed and held back for reuse."""

from __future__ import annotations

import sys

import pytest

from synchuman.heap import release_free_memory

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's (Linux)")


def _resident_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@glibc
def test_freed_heap_blocks_go_back_to_the_system():
    assert release_free_memory()
    before = _resident_mb()
    blocks = [bytearray(64 * 1024) for _ in range(3200)]   # 200 MB of heap blocks (under the mmap threshold)
    last = blocks[-1]                                       # held: the heap's top stays in use
    del blocks
    held = _resident_mb()
    assert held - before > 150                              # glibc keeps the freed blocks for reuse
    assert release_free_memory()
    assert _resident_mb() - before < 50                     # ... until they are handed back
    del last
