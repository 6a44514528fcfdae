"""Handing the memory a job freed back to the system.

glibc's malloc keeps freed blocks for reuse, and once a large array has been freed it serves arrays of
up to 32 MB from its heap as well (its mmap threshold rises). A job's steps free hundreds of MB of such
arrays in pieces the next step cannot always reuse, so the process's resident size climbs: on the
clothed benchmark's watermarked coat the preview engine peaked at 826 MB in its first job and at 961 MB
by its fifth, 87-130 MB of it the dressed volume's arrays on top of what the earlier steps had freed.
`release_free_memory` (malloc_trim) returns what is free; the runner calls it after every job and the
preview engine before it builds the dressed volume. Fixing the mmap threshold instead (every large
array mapped and unmapped) kept the peak at 897 MB but made the preview 65 % slower.
Without glibc (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import sys
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):   # not glibc
        return None


def release_free_memory() -> bool:
    """Return the heap's free memory to the system; whether that could be done here."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
