#!/usr/bin/env python3
"""How long the job timer blocks Blender's main thread while a reconstruction runs (bpy module).

    .venv/bin/python benchmarks/blender_timer_stall.py [--photo PATH] [--texture-size 1024] [--max-faces 60000]

Runs one real job through the extension's asynchronous (UI) path with the real backend
subprocess. Timers never fire in the bpy module, so this script calls the timer callback
(pump.tick) itself, every 0.1 s like Blender would, and times every call. Prints the longest and
typical stall while the job runs (goal: 20 ms or less) and, separately, the call that imported
the result.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="synchuman-bench-"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import bpy  # noqa: E402
import addon_utils  # noqa: E402  (importable once bpy is)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photo", default=os.path.join(ROOT, "backend", "synchuman", "data", "examples", "person.png"))
    p.add_argument("--texture-size", default="1024")
    p.add_argument("--max-faces", type=int, default=60_000)
    p.add_argument("--engine", default="preview")
    args = p.parse_args()

    bpy.ops.wm.read_factory_settings(use_empty=True)
    module = addon_utils.enable("synchuman_blender", default_set=True)
    try:
        session = module.jobs.SESSION
        session.force_blocking = False       # the UI path: worker thread -> queue -> timer
        session.stall_probe = []
        settings = bpy.context.scene.synchuman
        settings.photo_path = args.photo
        settings.engine = args.engine
        settings.texture_size = args.texture_size
        settings.max_faces = args.max_faces
        state = bpy.context.window_manager.synchuman_job

        started = time.perf_counter()
        bpy.ops.synchuman.reconstruct()
        submit_s = time.perf_counter() - started
        while state.status not in ('DONE', 'FAILED', 'CANCELLED'):
            time.sleep(module.jobs.TIMER_INTERVAL_S)
            module.pump.tick()   # the one timer callback, as Blender would call it
        total_s = time.perf_counter() - started
        if state.status != 'DONE':
            print(f"job {state.status}: [{state.error_code}] {state.error_message}")
            return 1
        running = [s for s, imported in session.stall_probe if not imported]
        importing = [s for s, imported in session.stall_probe if imported]
        obj = bpy.data.objects[state.result_object]
        print(f"Blender {bpy.app.version_string}; engine {args.engine}, texture {args.texture_size}, "
              f"face budget {args.max_faces:,}; result {len(obj.data.polygons):,} faces; job {total_s:.1f} s "
              f"(first job, backend start included)")
        print("| main-thread work | value |")
        print("|---|---|")
        print(f"| operator returns (backend spawned, job sent) | {1000 * submit_s:.1f} ms |")
        print(f"| timer calls while the job ran | {len(running)} |")
        print(f"| longest timer call while the job ran | {1000 * max(running):.2f} ms |")
        print(f"| median timer call | {1000 * statistics.median(running):.3f} ms |")
        print(f"| the timer call that imported the result | {1000 * max(importing):.0f} ms |")
        return 0
    finally:
        addon_utils.disable("synchuman_blender", default_set=True)


if __name__ == "__main__":
    sys.exit(main())
