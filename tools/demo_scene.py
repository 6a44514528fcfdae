"""The demo's Blender half (run by `build.py demo` with the .venv Python, bpy as a module):
import a result GLB through the extension's importer, render it from the front with the
extension's light rig, and save the .blend with the texture packed.

    python tools/demo_scene.py --glb out/demo/human.glb --blend out/demo/human.blend --render out/demo/render.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--glb", required=True)
    parser.add_argument("--blend", required=True)
    parser.add_argument("--render", required=True)
    parser.add_argument("--photo", help="the source photo (shown in the asset preview)")
    parser.add_argument("--height-m", type=float, default=1.75)
    parser.add_argument("--resolution", type=int, default=768)
    args = parser.parse_args(argv)

    # Keep Blender's user configuration out of the user's home folder.
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="synchuman-demo-"))
    import bpy

    sys.path.insert(0, str(ROOT))
    import synchuman_blender
    from synchuman_blender import importer, render

    bpy.ops.wm.read_factory_settings(use_empty=True)
    synchuman_blender.register()
    try:
        scene = bpy.context.scene
        human = importer.import_human(bpy.context, args.glb, height_m=args.height_m)
        print(f"[demo] imported {human.object.name}: {len(human.object.data.polygons)} faces, "
              f"height {human.object.dimensions.z:.3f} m, in {human.seconds:.2f} s", flush=True)
        render.configure(scene, resolution=args.resolution, samples=24)
        with tempfile.TemporaryDirectory() as tmp:
            [png] = render.render_views(scene, human.object, tmp, "demo", mode="front")
            shutil.copyfile(png, args.render)
        bpy.ops.file.pack_all()
        bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(args.blend), compress=True)
        print(f"[demo] saved {args.blend} and {args.render}", flush=True)
    finally:
        synchuman_blender.unregister()  # a class left registered hangs the bpy process at exit
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
