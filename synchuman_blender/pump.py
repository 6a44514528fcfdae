"""The main-thread side of every backend runner: one `bpy.app.timers` callback steps each
watched runner (the reconstruction session, a weights task), so bpy is only ever touched here,
never on their reader threads.

A step applies what its runner queued and returns when it wants to run again (seconds), or None
when it has nothing left to watch; the timer stops once no runner is watched. Timers never fire
in background runs (`bpy.app.background`): there each runner blocks on its own work instead.
"""

from __future__ import annotations

import traceback
from typing import Callable

import bpy

FIRST_INTERVAL_S = 0.1

_steps: dict[str, Callable[[], float | None]] = {}


def watch(name: str, step: Callable[[], float | None]) -> None:
    """Steps `step` on the main thread until it returns None (replaces a step of the same name)."""
    _steps[name] = step
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=FIRST_INTERVAL_S, persistent=True)


def unwatch(name: str) -> None:
    _steps.pop(name, None)


def watching(name: str) -> bool:
    return name in _steps


def tick() -> float | None:
    """The timer callback; also what tests call in place of the timer, which never fires headless."""
    intervals = []
    for name, step in list(_steps.items()):
        try:
            interval = step()
        except Exception:  # noqa: BLE001 - a timer that raises is dropped by Blender: never let that happen
            traceback.print_exc()
            interval = None
        if interval is None:
            if _steps.get(name) is step:  # the step may have replaced itself
                del _steps[name]
        else:
            intervals.append(interval)
    return min(intervals) if intervals else None


def stop() -> None:
    """Extension disabled or Blender closing: nothing is stepped any more."""
    _steps.clear()
    try:
        if bpy.app.timers.is_registered(tick):
            bpy.app.timers.unregister(tick)
    except (AttributeError, RuntimeError, ValueError):
        pass  # Blender is already tearing down


__all__ = ["watch", "unwatch", "watching", "tick", "stop"]
