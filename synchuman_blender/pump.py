"""The main-thread side of every backend runner: one `bpy.app.timers` callback steps each
watched runner (the reconstruction session, a weights task), so bpy is only ever touched here,
never on their reader threads.

A step applies what its runner queued and returns when it wants to run again (seconds), or None
when it has nothing left to watch; the timer stops once no runner is watched. Timers never fire
in background runs (`bpy.app.background`): there each runner blocks on its own work instead.
"""

from __future__ import annotations

import queue
import traceback
from typing import Callable

import bpy

from .runner import CommandTask

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


class TaskSlot:
    """At most one CommandTask of a kind (a weights download, a backend install), like a Future
    with cancel: `apply(event)` gets each of its messages on the main thread, the closing
    `task.finished` included; `on_bad_event(event, exc)` one that `apply` could not take.
    `blocking()` says whether to wait for the task right away (timers never fire headless)."""

    def __init__(self, name: str, apply: Callable[[dict], None], on_bad_event: Callable[[dict, Exception], None],
                 blocking: Callable[[], bool], interval_s: float = 0.2, grace_s: float = 5.0):
        self.name, self.apply, self.on_bad_event, self.blocking = name, apply, on_bad_event, blocking
        self.interval_s, self.grace_s = interval_s, grace_s
        self.task: CommandTask | None = None

    def start(self, argv: list[str], task_name: str) -> None:
        self.task = CommandTask(argv, name=task_name)
        if self.blocking():
            self._finish_blocking()
        else:
            watch(self.name, self.step)

    def step(self) -> float | None:
        """Applies what the task said; None (stop stepping) once it has finished."""
        task = self.task
        if task is None:
            return None
        while True:
            try:
                event = task.events.get_nowait()
            except queue.Empty:
                return self.interval_s
            try:
                self.apply(event)
            except (TypeError, ValueError, AttributeError, KeyError) as exc:  # never stall on a bad message
                self.on_bad_event(event, exc)
            if event.get("type") == "task.finished":
                self.task = None
                return None

    def _finish_blocking(self) -> None:
        if self.task is not None:
            self.task.wait()
        while self.step() is not None:
            pass

    def cancel(self) -> None:
        """Ends the running task; its end is applied like any other (headless: right here)."""
        if self.task is not None:
            self.task.cancel(self.grace_s)
            if self.blocking():
                self._finish_blocking()

    def cancellable(self) -> bool:
        return self.task is not None and not self.task.cancelled

    def stop(self) -> None:
        """Unregistering: end the task without touching the state (it is being removed)."""
        if self.task is not None:
            self.task.cancel(self.grace_s)
            self.task = None
        unwatch(self.name)


class CancelTaskOperator:
    """poll and execute of a Cancel button for the TaskSlot `slot` (mixed into a bpy Operator)."""

    slot: TaskSlot
    nothing_running = "Nothing is running"

    @classmethod
    def poll(cls, context):
        if not cls.slot.cancellable():
            cls.poll_message_set(cls.nothing_running)
            return False
        return True

    def execute(self, context):
        self.slot.cancel()
        return {'FINISHED'}


__all__ = ["watch", "unwatch", "watching", "tick", "stop", "TaskSlot", "CancelTaskOperator"]
