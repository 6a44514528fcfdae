"""Elbow and knee bends in real Blender, on rigged people the tests have not seen (issue 16's bend check).

For each clothed person (benchmarks/clothed_people.py, held-out seed 7 by default) two rigged GLBs are
made in a backend process: the synchuman engine's rigging step on the person's true dressed mesh with
its photo (as if generated, like benchmarks/rig.py), and the preview engine's whole result of the
photo. Each is imported by the extension's importer (bpy), and every elbow and knee is flexed 90° the
way it bends (toward the parent bone; for a straight limb the hand forward, the foot back). Printed per joint: the shortest and longest edge of
the limb near the joint (within 8 cm, both ends on the limb), relative to its rest length, with the
importer's Preserve Volume skinning (what Blender shows) and with linear blending (what glTF viewers
use). The issue asks 0.5x-2x.

    .venv/bin/python benchmarks/rig_bends.py [--case NAME ...] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = ("standing_studio", "turned30_skirt_studio", "walking_coat_street", "crossed_arms_hair_rocket",
         "arms_out_brick", "kneeling_hood_garden", "seated_trousers_box")
# (child bone, parent, the child's child, does flexion move it forward?)
HINGES = (("forearm.L", "upper_arm.L", "hand.L", True), ("forearm.R", "upper_arm.R", "hand.R", True),
          ("shin.L", "thigh.L", "foot.L", False), ("shin.R", "thigh.R", "foot.R", False))


def make_glbs(folder: Path, cases: list[str], seed: int) -> None:
    """Backend side (torch): per case, photo.png, step.glb (rigging step) and preview.glb."""
    sys.path.insert(0, str(HERE))
    from PIL import Image

    import clothed_people as cp
    from rig import STEP, rig_case, write_case_glb

    for name in cases:
        out = folder / name
        out.mkdir(parents=True, exist_ok=True)
        spec = next(c for c in cp.CASES if c[0] == name)
        Image.fromarray(cp.render_case(spec, size=768, step=STEP, seed=seed)["photo"]).save(out / "photo.png")
        _, rig, _, faces = rig_case(name, 768, seed=seed)
        write_case_glb(rig, faces, out / "step.glb")
        done = subprocess.run([sys.executable, "-m", "synchuman", "reconstruct", str(out / "photo.png"), "-o",
                               str(out / "preview"), "--engine", "preview", "--json"], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"preview engine failed on {name}: {done.stderr[-2000:]}")
        (out / "preview.glb").write_bytes(next((out / "preview").glob("*/human.glb")).read_bytes())
        print(f"  made {name}", flush=True)


# -- Blender side (bpy) -------------------------------------------------------------------------------

def deformed(obj) -> np.ndarray:
    """The mesh's evaluated vertices in world space."""
    import bpy

    bpy.context.view_layer.update()
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    co = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", co)
    evaluated.to_mesh_clear()
    world = np.array(obj.matrix_world)
    return co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]


def turn(armature, bone: str | None, degrees: float = 0.0) -> None:
    """Rotates `bone` about its own x axis (None: every bone back to rest)."""
    for pose_bone in armature.pose.bones:
        if bone is None or pose_bone.name == bone:
            pose_bone.rotation_mode = 'XYZ'
            pose_bone.rotation_euler = (math.radians(degrees), 0.0, 0.0)


def bone_weights(obj, names: list[str]) -> np.ndarray:
    """(V, len(names)) weights from the mesh's vertex groups, columns in `names` order."""
    column = {g.index: names.index(g.name) for g in obj.vertex_groups if g.name in names}
    weights = np.zeros((len(obj.data.vertices), len(names)))
    for v in obj.data.vertices:
        for g in v.groups:
            if g.group in column:
                weights[v.index, column[g.group]] += g.weight
    return weights


def flex_ratios(obj, armature, names: list[str], name: dict[str, str], bone: str, parent: str, child: str,
                forward: bool) -> np.ndarray:
    """Edge length ratios (bent / rest) of the limb near `bone`'s head after a 90-degree flexion:
    `forward` says whether flexing moves `child` toward the front (-Y in Blender: a person faces it).
    `names` are the armature's bone names, `name` maps native names to them."""
    dominant = bone_weights(obj, names).argmax(1)
    part = {n: dominant == names.index(name[n]) for n in (bone, parent, child)}
    edges = np.empty(len(obj.data.edges) * 2, dtype=np.int64)
    obj.data.edges.foreach_get("vertices", edges)
    edges = edges.reshape(-1, 2)
    turn(armature, None)
    rest = deformed(obj)
    joint = np.array(armature.matrix_world @ armature.data.bones[name[bone]].head_local)
    limb = part[bone] | part[parent] | part[child]
    length = np.linalg.norm(rest[edges[:, 0]] - rest[edges[:, 1]], axis=1)
    # Sliver edges (under a quarter of the typical edge) are left out: their ratio is noise.
    near = ((np.linalg.norm(rest[edges].mean(1) - joint, axis=1) < 0.08) & limb[edges].all(1)
            & (length > 0.25 * np.median(length)))
    # Flexion brings the child toward the parent's head; for a limb straight at rest (both ways alike)
    # it is the way that moves the child forward (elbow) or back (knee).
    shoulder = np.array(armature.matrix_world @ armature.data.bones[name[parent]].head_local)
    tried = {}
    for degrees in (90, -90):
        turn(armature, name[bone], degrees)
        bent = deformed(obj)
        moved = (bent - rest)[part[child]].mean(0)
        tried[degrees] = (bent, np.linalg.norm(bent[part[child]].mean(0) - shoulder), (moved[1] < 0) == forward)
    turn(armature, None)
    (bent_a, reach_a, way_a), (bent_b, reach_b, _) = tried[90], tried[-90]
    if abs(reach_a - reach_b) > 0.02:
        bent = bent_a if reach_a < reach_b else bent_b
    else:
        bent = bent_a if way_a else bent_b
    return np.linalg.norm(bent[edges[near, 0]] - bent[edges[near, 1]], axis=1) / length[near]


def measure(folder: Path, cases: list[str]) -> list[dict]:
    import bpy

    sys.path.insert(0, str(ROOT))
    from synchuman_blender import importer

    rows = []
    for case in cases:
        for source in ("step", "preview"):
            bpy.ops.wm.read_factory_settings(use_empty=True)
            imported = importer.import_human(bpy.context, str(folder / case / f"{source}.glb"), height_m=None)
            obj, armature = imported.object, imported.armature
            names = [b.name for b in armature.data.bones]
            native = {n: n for n in names}
            for bone, parent, child, forward in HINGES:
                row = {"case": case, "mesh": source, "joint": bone}
                for skinning, preserve in (("preserve volume", True), ("linear", False)):
                    obj.modifiers[0].use_deform_preserve_volume = preserve
                    ratio = flex_ratios(obj, armature, names, native, bone, parent, child, forward)
                    row[skinning] = ((float(ratio.min()), float(ratio.max()), len(ratio)) if len(ratio)
                                     else (math.nan, math.nan, 0))
                rows.append(row)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", action="append", help="a clothed_people case (repeatable)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--glbs", metavar="FOLDER", help="keep the GLBs here (made if missing) instead of a temporary folder")
    p.add_argument("--make", metavar="FOLDER", help=argparse.SUPPRESS)  # the backend-side half
    args = p.parse_args(argv)
    cases = args.case or list(CASES)
    if args.make:
        make_glbs(Path(args.make), cases, args.seed)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.glbs or tmp)
        missing = [c for c in cases if not (folder / c / "preview.glb").is_file()]
        if missing:   # torch and bpy stay in separate processes
            subprocess.run([sys.executable, __file__, "--make", str(folder), "--seed", str(args.seed),
                            *[a for c in missing for a in ("--case", c)]], check=True)
        rows = measure(folder, cases)
    print(f"\nseed {args.seed}: edge length after a 90-degree flexion / at rest, min..max (edges near the joint)\n")
    print("| case | mesh | joint | preserve volume (Blender) | linear blend (glTF) |")
    print("|---|---|---|---|---|")
    for r in rows:
        pv, lin = r["preserve volume"], r["linear"]
        print(f"| {r['case']} | {r['mesh']} | {r['joint']} | {pv[0]:.2f}..{pv[1]:.2f} | {lin[0]:.2f}..{lin[1]:.2f} |")
    measured = [r for r in rows if r["preserve volume"][2]]
    within = [r for r in measured if 0.5 <= r["preserve volume"][0] and r["preserve volume"][1] <= 2.0]
    print(f"\nwithin 0.5x-2x with preserve volume: {len(within)}/{len(measured)} joints "
          f"({len(rows) - len(measured)} without limb edges near the joint); "
          f"worst min {min(r['preserve volume'][0] for r in measured):.2f}, "
          f"worst max {max(r['preserve volume'][1] for r in measured):.2f}")
    print(json.dumps({"seed": args.seed, "rows": rows}), file=sys.stderr)


if __name__ == "__main__":
    main()
