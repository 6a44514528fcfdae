"""A minimal glTF 2.0 binary writer for test data (numpy + standard library).

Blender's own glTF exporter would do, but in the bpy 4.2 module it makes the process crash
when it exits (exit code 139, with or without this extension), so the tests write their GLBs
themselves.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np


def png_bytes(rgba: np.ndarray) -> bytes:
    """(h, w, 4) uint8, top row first, as a PNG file."""
    height, width = rgba.shape[:2]
    raw = b"".join(b"\x00" + rgba[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def zup_to_yup(points: np.ndarray) -> np.ndarray:
    """Blender (z-up, front -Y) to glTF (y-up, front +Z): (x, y, z) -> (x, z, -y)."""
    return np.stack([points[:, 0], points[:, 2], -points[:, 1]], axis=1)


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
    """positions/normals in glTF space; texture (h, w, 4) uint8; wrapper: a parent node dict with
    "translation" and "scale" (a wrapper empty after import)."""
    blob = bytearray()
    views, accessors = [], []

    def add(data: bytes, target=None) -> int:
        while len(blob) % 4:
            blob.append(0)
        view = {"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)}
        if target:
            view["target"] = target
        blob.extend(data)
        views.append(view)
        return len(views) - 1

    def accessor(array: np.ndarray, kind: str, component: int, target: int, minmax: bool = False) -> int:
        entry = {"bufferView": add(array.tobytes(), target), "componentType": component,
                 "count": len(array), "type": kind}
        if minmax:
            entry["min"] = array.min(axis=0).tolist()
            entry["max"] = array.max(axis=0).tolist()
        accessors.append(entry)
        return len(accessors) - 1

    attributes = {"POSITION": accessor(np.asarray(positions, np.float32), "VEC3", 5126, 34962, True)}
    if normals is not None:
        attributes["NORMAL"] = accessor(np.asarray(normals, np.float32), "VEC3", 5126, 34962)
    if uvs is not None:
        attributes["TEXCOORD_0"] = accessor(np.asarray(uvs, np.float32), "VEC2", 5126, 34962)
    index = accessor(np.asarray(indices, np.uint32), "SCALAR", 5125, 34963)
    material = {"name": "skin", "pbrMetallicRoughness": {"metallicFactor": metallic, "roughnessFactor": 0.8}}
    doc = {"asset": {"version": "2.0", "generator": "synchuman tests"}, "scene": 0,
           "meshes": [{"name": "body", "primitives": [{"attributes": attributes, "indices": index,
                                                       "material": 0}]}],
           "materials": [material]}
    if texture is not None:
        doc["images"] = [{"bufferView": add(png_bytes(texture)), "mimeType": "image/png"}]
        doc["textures"] = [{"source": 0}]
        material["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    body = {"name": "body", "mesh": 0, "translation": list(mesh_translation)}
    if wrapper:
        doc["nodes"] = [{"name": "wrapper", "children": [1], **wrapper}, body]
    else:
        doc["nodes"] = [body]
    doc["scenes"] = [{"nodes": [0]}]
    doc["accessors"], doc["bufferViews"] = accessors, views
    while len(blob) % 4:
        blob.append(0)
    doc["buffers"] = [{"byteLength": len(blob)}]
    json_chunk = json.dumps(doc, separators=(",", ":")).encode()
    json_chunk += b" " * (-len(json_chunk) % 4)
    total = 12 + 8 + len(json_chunk) + 8 + len(blob)
    with open(path, "wb") as f:
        f.write(struct.pack("<4sII", b"glTF", 2, total))
        f.write(struct.pack("<I4s", len(json_chunk), b"JSON") + json_chunk)
        f.write(struct.pack("<I4s", len(blob), b"BIN\x00") + bytes(blob))
    return str(path)
