"""GLB test data written with the product's own writer (backend/synchuman/export/glb.py).

Blender's glTF exporter would do, but in the bpy 4.2 module it makes the process crash when it
exits (exit code 139), and the bpy 4.2 test venv does not have the backend installed, so the
writer module (numpy + standard library only) is loaded from its file. The extras here are what
tests need and results never have: a wrapper parent node, a translated mesh node, any metallic.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "synchuman_glb", Path(__file__).resolve().parents[2] / "backend" / "synchuman" / "export" / "glb.py")
glb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(glb)
zup_to_yup = glb.zup_to_yup


def box(centre, size):
    """A flat-shaded box: 24 vertices (4 per face), their normals, UVs and 12 triangles."""
    cx, cy, cz = centre
    sx, sy, sz = (s / 2 for s in size)
    faces = [((1, 0, 0), (0, 1, 0), (0, 0, 1)), ((-1, 0, 0), (0, -1, 0), (0, 0, 1)),
             ((0, 1, 0), (-1, 0, 0), (0, 0, 1)), ((0, -1, 0), (1, 0, 0), (0, 0, 1)),
             ((0, 0, 1), (1, 0, 0), (0, 1, 0)), ((0, 0, -1), (-1, 0, 0), (0, 1, 0))]
    positions, normals, uvs, triangles = [], [], [], []
    for n, u, v in faces:
        n, u, v = np.array(n, float), np.array(u, float), np.array(v, float)
        base = len(positions)
        for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            p = n + a * u + b * v
            positions.append((cx + p[0] * sx, cy + p[1] * sy, cz + p[2] * sz))
            normals.append(n)
            uvs.append(((a + 1) / 2, (b + 1) / 2))
        triangles += [base, base + 1, base + 2, base, base + 2, base + 3]
    return np.array(positions), np.array(normals), np.array(uvs), np.array(triangles)


def write_glb(path, positions, indices, *, normals=None, uvs=None, texture=None, metallic=1.0,
              mesh_translation=(0.0, 0.0, 0.0), wrapper=None) -> str:
    """positions/normals in glTF space; uvs with v up; texture (h, w, 4) uint8; wrapper: a parent node
    dict with "translation" and "scale" (a wrapper empty after import)."""
    builder = glb.GlbBuilder(generator="synchuman tests")
    material = builder.material("skin", base_color=texture, roughness=0.8, metallic=metallic)
    mesh = builder.mesh("body", np.asarray(positions), np.asarray(indices).reshape(-1, 3), material, uv=uvs,
                        normals=normals)
    body = builder.node("body", mesh=mesh, root=wrapper is None, translation=list(mesh_translation))
    if wrapper:
        builder.node("wrapper", children=[body], **wrapper)
    Path(path).write_bytes(builder.to_bytes())
    return str(path)
