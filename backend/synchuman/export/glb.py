"""GLB writing: one textured mesh with a PBR metallic-roughness material.

glTF is y-up with the front along +Z; the networks work z-up facing -Y, so
`zup_to_yup` maps (x, y, z) -> (x, z, -y), which turns "faces -Y" into "faces +Z".
`metallicFactor` is always written: the glTF default of 1.0 makes skin look like metal.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np


def zup_to_yup(vertices: np.ndarray) -> np.ndarray:
    v = np.asarray(vertices, dtype=np.float64)
    return np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)


def write_glb(path: str | Path, vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, texture: np.ndarray,
              *, normal_map: np.ndarray | None = None, vertex_normals: np.ndarray | None = None,
              roughness: float = 0.8, metallic: float = 0.0, name: str = "human",
              extras: dict | None = None) -> Path:
    """Writes a GLB atomically (temporary file, then rename).

    vertices (V,3) in glTF frame (y-up, metres); faces (F,3); uv (V,2) with v up (OpenGL convention:
    row 0 of `texture` is v = 1); texture (H,W,3|4) uint8; normal_map (H,W,3) uint8 tangent-space.
    """
    import trimesh
    from PIL import Image
    from trimesh.visual.material import PBRMaterial
    from trimesh.visual.texture import TextureVisuals

    path = Path(path)
    material = PBRMaterial(
        name=f"{name}_material",
        baseColorTexture=Image.fromarray(np.ascontiguousarray(texture)),
        baseColorFactor=[255, 255, 255, 255],
        metallicFactor=float(metallic),
        roughnessFactor=float(roughness),
        normalTexture=Image.fromarray(np.ascontiguousarray(normal_map)) if normal_map is not None else None,
        doubleSided=False,
    )
    mesh = trimesh.Trimesh(vertices=np.asarray(vertices, dtype=np.float64), faces=np.asarray(faces, dtype=np.int64),
                           visual=TextureVisuals(uv=np.asarray(uv, dtype=np.float64), material=material),
                           process=False)
    if vertex_normals is not None:
        mesh.vertex_normals = np.asarray(vertex_normals, dtype=np.float64)
    scene = trimesh.Scene()
    scene.add_geometry(mesh, node_name=name, geom_name=name)
    if extras:
        scene.metadata.update(extras)
    data = scene.export(file_type="glb", include_normals=vertex_normals is not None)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def read_glb_json(path: str | Path) -> dict:
    """The JSON chunk of a GLB (for checks and tests)."""
    data = Path(path).read_bytes()
    magic, version, _length = struct.unpack_from("<4sII", data, 0)
    if magic != b"glTF" or version != 2:
        raise ValueError(f"{path} is not a glTF 2.0 binary")
    chunk_len, chunk_type = struct.unpack_from("<I4s", data, 12)
    if chunk_type != b"JSON":
        raise ValueError(f"{path}: first chunk is not JSON")
    return json.loads(data[20:20 + chunk_len])
