"""Helpers shared by the Blender tests (import as `blender_helpers`)."""

from __future__ import annotations

import time
from pathlib import Path

import bpy

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "synchuman_blender"


def pump_until(session, predicate, timeout: float = 120.0, interval: float = 0.02):
    """Plays the part of bpy.app.timers (which never fire headless): calls the timer callback
    on this, the main, thread until `predicate()` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.on_timer()
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not reached within {timeout} s; "
                         f"status={bpy.context.window_manager.synchuman_job.status}")
